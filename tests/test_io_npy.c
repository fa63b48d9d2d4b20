/*
 * test_io_npy.c - .npy reader and writer: round trips over every dtype, order,
 * format version and byte order; chunked reads and writes; the malformed-file
 * matrix; atomicity of writes; and files written and read by NumPy itself
 * when /usr/bin/python3 has numpy (skipped with a note otherwise, and then
 * not counted).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "harness.h"
#include "ncollapse.h"

static char dir[256];

static void path_of(char *out, size_t cap, const char *name)
{
    const size_t n = strlen(dir);
    if (n + 1 + strlen(name) >= cap) {
        out[0] = '\0';
        return;
    }
    memcpy(out, dir, n);
    out[n] = '/';
    memcpy(out + n + 1, name, strlen(name) + 1);
}

static void expect(nc_status got, nc_status want, const char *what)
{
    char desc[300];
    snprintf(desc, sizeof desc, "%s: %s (got %s)", what, nc_status_name(want), nc_status_name(got));
    nc_test_int(got, want, desc);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static long read_file(const char *p, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(p, "rb");
    size_t n;
    if (!f) return -1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static int is_float(nc_npy_dtype t) { return t == NC_NPY_FLOAT32 || t == NC_NPY_FLOAT64; }

/* Value (r, c) of the test arrays: representable in every dtype. */
static double fval(nc_npy_dtype t, size_t r, size_t c)
{
    double v = (double)(r * 7 + c * 3) * 0.37 - 5.0;
    if (t == NC_NPY_FLOAT32) return (double)(float)v;
    return v + 1e-9 * (double)r; /* needs all of float64's bits */
}
static int32_t ival(nc_npy_dtype t, size_t r)
{
    const int sgn = t == NC_NPY_INT8 || t == NC_NPY_INT16 || t == NC_NPY_INT32 || t == NC_NPY_INT64;
    const int big = t == NC_NPY_INT32 || t == NC_NPY_INT64 || t == NC_NPY_UINT32 || t == NC_NPY_UINT64;
    int32_t v = (int32_t)((r * 37) % 100);
    if (big) v += (int32_t)(r * 1000003 % 2000000000);
    if (sgn && r % 3 == 1) v += 27; /* up to 127: the top of int8 */
    return v;
}

/* ---- round trips ------------------------------------------------------------ */

static void round_trip(nc_npy_dtype t, unsigned version, nc_npy_byte_order bo, int fortran,
                       size_t ndim, size_t rows, size_t cols)
{
    nc_npy_writer *w = NULL;
    nc_npy_reader *r = NULL;
    char p[300], tag[200];
    const size_t ld = cols + 2;
    double *x = (double *)calloc(rows * ld + 1, sizeof(double));
    double *got = (double *)calloc(rows * ld + 1, sizeof(double));
    int32_t *y = (int32_t *)calloc(rows + 1, sizeof(int32_t));
    int32_t *gy = (int32_t *)calloc(rows + 1, sizeof(int32_t));
    size_t i, c, row0;
    int ok;
    nc_npy_dtype gt;
    size_t gnd, grows, gcols;
    unsigned gv;
    nc_npy_byte_order gbo;
    int gf;

    snprintf(tag, sizeof tag, "round trip %s v%u %s %s ndim %zu (%zu, %zu)", nc_npy_dtype_name(t),
             version, bo == NC_NPY_BIG_ENDIAN ? "big" : "little", fortran ? "F" : "C", ndim, rows,
             cols);
    path_of(p, sizeof p, "rt.npy");
    for (i = 0; i < rows; i++) {
        for (c = 0; c < cols; c++) x[i * ld + c] = fval(t, i, c);
        y[i] = ival(t, i);
    }
    nc_npy_writer_create(&w);
    nc_npy_reader_create(&r);
    expect(nc_npy_writer_set_format(w, version, bo, fortran), NC_SUCCESS, tag);
    expect(nc_npy_writer_begin(w, p, t, ndim, rows, cols), NC_SUCCESS, tag);
    /* write in three uneven pieces */
    for (row0 = 0; row0 < rows;) {
        size_t n = row0 == 0 ? rows / 3 + 1 : rows - row0 > 5 ? 5 : rows - row0;
        if (n > rows - row0) n = rows - row0;
        if (is_float(t))
            ok = nc_npy_writer_write_rows(w, x + row0 * ld, n, ld) == NC_SUCCESS;
        else
            ok = nc_npy_writer_write_labels(w, y + row0, n) == NC_SUCCESS;
        if (!ok) {
            nc_test_true(0, nc_npy_writer_last_error(w));
            break;
        }
        row0 += n;
    }
    expect(nc_npy_writer_finish(w), NC_SUCCESS, tag);
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, tag);
    nc_npy_reader_info(r, &gt, &gnd, &grows, &gcols);
    nc_npy_reader_format(r, &gv, &gbo, &gf);
    nc_test_true(gt == t && gnd == ndim && grows == rows && gcols == cols, tag);
    nc_test_true(gv == (version ? version : 1u) && gf == fortran &&
                     gbo == (t == NC_NPY_INT8 || t == NC_NPY_UINT8 ? NC_NPY_LITTLE_ENDIAN : bo),
                 tag);
    /* read back in chunks of 4 rows, and the middle rows alone */
    ok = 1;
    for (row0 = 0; row0 < rows; row0 += 4) {
        const size_t n = rows - row0 < 4 ? rows - row0 : 4;
        if (is_float(t))
            ok &= nc_npy_reader_read_rows(r, row0, n, got + row0 * ld, ld) == NC_SUCCESS;
        else
            ok &= nc_npy_reader_read_labels(r, row0, n, gy + row0, 0) == NC_SUCCESS;
    }
    nc_test_true(ok, tag);
    ok = 1;
    for (i = 0; i < rows; i++) {
        if (is_float(t)) {
            for (c = 0; c < cols; c++) ok &= got[i * ld + c] == x[i * ld + c];
        } else {
            ok &= gy[i] == y[i];
        }
    }
    nc_test_true(ok, tag);
    /* float32 files read into floats (the same values; with ld == cols and
     * the machine's byte order, straight into the output), in chunks of 4
     * rows, at ld = cols and ld = cols + 2; other dtypes refused */
    {
        float *gf32 = (float *)calloc(rows * ld + 1, sizeof(float));
        size_t pass;
        char tf[260];
        for (pass = 0; pass < 2 && gf32 != NULL; pass++) {
            const size_t lf = pass == 0 ? cols : ld;
            nc_status st = nc_npy_reader_read_rows_float(r, 0, 0, gf32, lf); /* dtype checked */
            ok = 1;
            for (row0 = 0; row0 < rows; row0 += 4) {
                const size_t n = rows - row0 < 4 ? rows - row0 : 4;
                st = nc_npy_reader_read_rows_float(r, row0, n, gf32 + row0 * lf, lf);
                if (st != NC_SUCCESS) break;
            }
            snprintf(tf, sizeof tf, "%s: read_rows_float at ld %zu", tag, lf);
            if (t == NC_NPY_FLOAT32) {
                nc_test_int(st, NC_SUCCESS, tf);
                for (i = 0; i < rows; i++)
                    for (c = 0; c < cols; c++) ok &= (double)gf32[i * lf + c] == x[i * ld + c];
                nc_test_true(ok, tf);
            } else {
                nc_test_int(st, NC_ERR_DTYPE, tf);
            }
        }
        free(gf32);
    }
    nc_npy_reader_close(r);
    nc_npy_reader_destroy(r);
    nc_npy_writer_destroy(w);
    free(x);
    free(got);
    free(y);
    free(gy);
}

/* Every dtype, version, byte order and order, 1-D and 2-D. (Negative
 * integers are never valid labels: test_read_errors covers them.) */
static void test_round_trips(void)
{
    static const unsigned versions[4] = {0, 1, 2, 3};
    int t, vi, bo, f;
    for (t = 0; t <= (int)NC_NPY_UINT64; t++)
        for (vi = 0; vi < 4; vi++)
            for (bo = 0; bo < 2; bo++)
                for (f = 0; f < 2; f++) {
                    if (is_float((nc_npy_dtype)t)) {
                        round_trip((nc_npy_dtype)t, versions[vi], (nc_npy_byte_order)bo, f, 2, 11, 3);
                        round_trip((nc_npy_dtype)t, versions[vi], (nc_npy_byte_order)bo, f, 1, 9, 1);
                    } else {
                        round_trip((nc_npy_dtype)t, versions[vi], (nc_npy_byte_order)bo, f, 1, 13, 1);
                        round_trip((nc_npy_dtype)t, versions[vi], (nc_npy_byte_order)bo, f, 2, 6, 1);
                    }
                }
    /* zero-sized arrays */
    round_trip(NC_NPY_FLOAT64, 0, NC_NPY_LITTLE_ENDIAN, 0, 2, 0, 5);
    round_trip(NC_NPY_FLOAT32, 0, NC_NPY_LITTLE_ENDIAN, 1, 2, 4, 0);
    round_trip(NC_NPY_INT64, 0, NC_NPY_LITTLE_ENDIAN, 0, 1, 0, 1);
}

/* Signed label values, exact integer bytes, and the header NumPy writes. */
static void test_values_and_header(void)
{
    nc_npy_writer *w = NULL;
    nc_npy_reader *r = NULL;
    char p[300];
    unsigned char buf[256];
    static const int32_t lab[5] = {0, 1, 2, 127, 5};
    int32_t got[5];
    long n;
    static const char want_hdr[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    double x[6] = {1, 2, 3, 4, 5, 6}, g[6];
    size_t i;

    nc_npy_writer_create(&w);
    nc_npy_reader_create(&r);
    path_of(p, sizeof p, "hdr.npy");
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3), NC_SUCCESS, "begin (2, 3) f8");
    expect(nc_npy_writer_write_rows(w, x, 2, 3), NC_SUCCESS, "write (2, 3)");
    expect(nc_npy_writer_finish(w), NC_SUCCESS, "finish (2, 3)");
    n = read_file(p, buf, sizeof buf);
    nc_test_int(n, 128 + 48, "file size: 128-byte header + 48 bytes");
    nc_test_true(memcmp(buf, "\x93NUMPY\x01\x00\x76\x00", 10) == 0, "magic, version 1.0, length 118");
    nc_test_true(memcmp(buf + 10, want_hdr, sizeof want_hdr - 1) == 0, "header text as NumPy's");
    nc_test_true(buf[127] == '\n' && buf[126] == ' ', "header padded with spaces, newline");
    {
        double back[6];
        memcpy(back, buf + 128, 48);
        nc_test_true(back[0] == 1 && back[1] == 2 && back[5] == 6, "data in C order");
    }
    /* Fortran order (2, 3): column-major bytes */
    nc_npy_writer_set_format(w, 0, NC_NPY_LITTLE_ENDIAN, 1);
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 1, 3);
    nc_npy_writer_write_rows(w, x + 3, 1, 3);
    expect(nc_npy_writer_finish(w), NC_SUCCESS, "finish Fortran");
    n = read_file(p, buf, sizeof buf);
    {
        double colmaj[6];
        memcpy(colmaj, buf + 128, 48);
        nc_test_true(colmaj[0] == 1 && colmaj[1] == 4 && colmaj[2] == 2 && colmaj[3] == 5 &&
                         colmaj[4] == 3 && colmaj[5] == 6,
                     "Fortran order stores columns");
    }
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open Fortran");
    expect(nc_npy_reader_read_rows(r, 1, 1, g, 3), NC_SUCCESS, "read row 1 of Fortran");
    nc_test_true(g[0] == 4 && g[1] == 5 && g[2] == 6, "Fortran row 1 transposed on read");
    /* int8 labels */
    nc_npy_writer_set_format(w, 0, NC_NPY_BIG_ENDIAN, 0);
    nc_npy_writer_begin(w, p, NC_NPY_INT8, 1, 5, 1);
    nc_npy_writer_write_labels(w, lab, 5);
    expect(nc_npy_writer_finish(w), NC_SUCCESS, "finish int8");
    n = read_file(p, buf, sizeof buf);
    nc_test_true(n == 128 + 5 && memcmp(buf + 10, "{'descr': '|i1'", 15) == 0, "int8 header '|i1'");
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open int8");
    expect(nc_npy_reader_read_labels(r, 0, 5, got, 128), NC_SUCCESS, "read int8 labels, K = 128");
    for (i = 0; i < 5; i++) nc_test_int(got[i], lab[i], "int8 label value");
    expect(nc_npy_reader_read_labels(r, 0, 5, got, 127), NC_ERR_LABEL_OUT_OF_RANGE,
           "label 127 with K = 127");
    nc_test_true(strstr(nc_npy_reader_last_error(r), "row 3") != NULL, "message names the row");
    /* big-endian int64 bytes */
    {
        static const int32_t big[2] = {1, 258};
        nc_npy_writer_begin(w, p, NC_NPY_INT64, 1, 2, 1);
        nc_npy_writer_write_labels(w, big, 2);
        nc_npy_writer_finish(w);
        n = read_file(p, buf, sizeof buf);
        nc_test_true(memcmp(buf + 128, "\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\x01\x02", 16) == 0,
                     "big-endian int64 bytes");
    }
    nc_npy_reader_destroy(r);
    nc_npy_writer_destroy(w);
}

/* ---- malformed files ------------------------------------------------------------ */

/* A file: magic, version, a header text padded to a 64-byte boundary, then
 * ndata bytes of data (0x3f). */
static size_t craft(unsigned char *buf, unsigned major, unsigned minor, const char *text,
                    size_t ndata)
{
    const size_t prefix = major == 1 ? 10 : 12;
    const size_t len = strlen(text);
    size_t total = (prefix + len + 1 + 63) / 64 * 64, hlen = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = (unsigned char)minor;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (prefix == 12) {
        buf[10] = (unsigned char)(hlen >> 16);
        buf[11] = (unsigned char)(hlen >> 24);
    }
    memset(buf + prefix, ' ', hlen);
    memcpy(buf + prefix, text, len);
    buf[total - 1] = '\n';
    memset(buf + total, 0x3f, ndata);
    return total + ndata;
}

static void expect_open(nc_npy_reader *r, const void *bytes, size_t n, nc_status want,
                        const char *what)
{
    char p[300];
    nc_status st;
    path_of(p, sizeof p, "bad.npy");
    nc_test_write_bytes(p, bytes, n);
    st = nc_npy_reader_open(r, p);
    expect(st, want, what);
    if (want != NC_SUCCESS) {
        char desc[300];
        snprintf(desc, sizeof desc, "%s: message set", what);
        nc_test_true(nc_npy_reader_last_error(r)[0] != '\0', desc);
        nc_test_int(nc_npy_reader_info(r, NULL, NULL, NULL, NULL), NC_ERR_UNAVAILABLE,
                    "nothing open after a failed open");
    }
}

static void test_malformed(void)
{
    static unsigned char buf[1 << 12], big[(1 << 20) + 256];
    static const char ok2[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    static const struct {
        const char *text;
        nc_status want;
        const char *what;
    } headers[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", NC_SUCCESS, "no trailing comma"},
        {"{\"shape\": (2,3), \"descr\": \">f8\", \"fortran_order\": True}", NC_SUCCESS, "other key order, quotes"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }", NC_SUCCESS, "Python 2 longs"},
        {"{'descr': '<f8', 'fortran_order': False}", NC_ERR_FORMAT, "missing shape"},
        {"{'descr': '<f8', 'shape': (2, 3), }", NC_ERR_FORMAT, "missing fortran_order"},
        {"{'fortran_order': False, 'shape': (2, 3), }", NC_ERR_FORMAT, "missing descr"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", NC_ERR_FORMAT, "extra key"},
        {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_FORMAT, "duplicate key"},
        {"{'descr': '<f8', 'fortran_order': false, 'shape': (2, 3)}", NC_ERR_FORMAT, "lower-case false"},
        {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2, 3)}", NC_ERR_FORMAT, "Falsey"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3]}", NC_ERR_FORMAT, "shape as a list"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6)}", NC_ERR_FORMAT, "1-tuple without comma"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-6,)}", NC_ERR_FORMAT, "negative dimension"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (06,)}", NC_ERR_FORMAT, "leading zero"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } x", NC_ERR_FORMAT, "junk after the dict"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", NC_ERR_FORMAT, "unclosed dict"},
        {"['descr', '<f8']", NC_ERR_FORMAT, "not a dict"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_FORMAT, "missing colon"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'descr}", NC_ERR_FORMAT, "unterminated key"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3,, )}", NC_ERR_FORMAT, "double comma"},
        {"{'descr': '<c16', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "complex dtype"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "float16"},
        {"{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "bool"},
        {"{'descr': '|f8', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "'|' on a multi-byte type"},
        {"{'descr': 'f8', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "no byte order"},
        {"{'descr': '<U8', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "unicode dtype"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "object dtype"},
        {"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 3)}", NC_ERR_DTYPE, "structured dtype"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3)}", NC_ERR_UNSUPPORTED, "3-D"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': ()}", NC_ERR_UNSUPPORTED, "0-D"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 16)}", NC_ERR_INVALID_SIZE, "byte count overflows"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976,)}", NC_ERR_INVALID_SIZE, "2^60 doubles overflow an offset"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}", NC_ERR_INVALID_SIZE, "dimension overflows size_t"},
    };
    nc_npy_reader *r = NULL;
    size_t n, i, cut;
    char what[200];

    nc_npy_reader_create(&r);
    /* a valid base file */
    n = craft(buf, 1, 0, ok2, 48);
    expect_open(r, buf, n, NC_SUCCESS, "valid base file");
    /* truncation at every length inside the prefix and header, and in the data */
    for (cut = 0; cut < n; cut += cut < 16 ? 1 : 13) {
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cut, n);
        expect_open(r, buf, cut, NC_ERR_TRUNCATED, what);
    }
    expect_open(r, buf, n - 1, NC_ERR_TRUNCATED, "one data byte missing");
    n = craft(buf, 1, 0, ok2, 49);
    expect_open(r, buf, n, NC_ERR_FILE_SIZE, "one byte too many");
    n = craft(buf, 1, 0, ok2, 96);
    expect_open(r, buf, n, NC_ERR_FILE_SIZE, "twice the declared data");
    /* magic and version */
    n = craft(buf, 1, 0, ok2, 48);
    buf[1] = 'n';
    expect_open(r, buf, n, NC_ERR_FORMAT, "bad magic");
    expect_open(r, "\x93NUM", 4, NC_ERR_TRUNCATED, "file of a partial magic");
    expect_open(r, "PK\x03\x04", 4, NC_ERR_FORMAT, "zip file (an .npz)");
    n = craft(buf, 1, 0, ok2, 48);
    buf[6] = 4;
    expect_open(r, buf, n, NC_ERR_FORMAT, "version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    expect_open(r, buf, n, NC_ERR_FORMAT, "version 1.1");
    buf[6] = 0;
    buf[7] = 0;
    expect_open(r, buf, n, NC_ERR_FORMAT, "version 0.0");
    /* header length beyond the file, and beyond the limit */
    n = craft(buf, 1, 0, ok2, 48);
    buf[9] = 0x40; /* 16384 + ... bytes */
    expect_open(r, buf, n, NC_ERR_TRUNCATED, "header length beyond the file");
    n = craft(buf, 2, 0, ok2, 48);
    buf[10] = 0x20; /* 2 MiB */
    expect_open(r, buf, n, NC_ERR_FORMAT, "header length beyond the 1 MiB limit");
    /* versions 2.0 and 3.0 of the base file */
    n = craft(buf, 2, 0, ok2, 48);
    expect_open(r, buf, n, NC_SUCCESS, "version 2.0");
    n = craft(buf, 3, 0, ok2, 48);
    expect_open(r, buf, n, NC_SUCCESS, "version 3.0");
    /* a long header (more than the 64 KiB reader buffer), padded with spaces */
    {
        const size_t hl = 100000;
        memcpy(big, "\x93NUMPY\x02\x00", 8);
        big[8] = (unsigned char)(hl & 0xff);
        big[9] = (unsigned char)(hl >> 8 & 0xff);
        big[10] = (unsigned char)(hl >> 16 & 0xff);
        big[11] = 0;
        memset(big + 12, ' ', hl);
        memcpy(big + 12, ok2, strlen(ok2));
        big[12 + hl - 1] = '\n';
        memset(big + 12 + hl, 0, 48);
        expect_open(r, big, 12 + hl + 48, NC_SUCCESS, "100000-byte header");
    }
    /* the header matrix */
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        n = craft(buf, 1, 0, headers[i].text, headers[i].want == NC_SUCCESS ? 48 : 0);
        expect_open(r, buf, n, headers[i].want, headers[i].what);
    }
    /* not a file */
    expect(nc_npy_reader_open(r, dir), NC_ERR_IO, "open a directory");
    {
        char p[300];
        path_of(p, sizeof p, "does-not-exist.npy");
        expect(nc_npy_reader_open(r, p), NC_ERR_IO, "open a missing file");
        nc_test_true(strstr(nc_npy_reader_last_error(r), "does-not-exist") != NULL,
                     "message names the file");
    }
    expect(nc_npy_reader_open(r, NULL), NC_ERR_NULL_ARGUMENT, "open NULL path");
    expect(nc_npy_reader_open(NULL, "x"), NC_ERR_NULL_ARGUMENT, "open with NULL reader");
    nc_npy_reader_destroy(r);
}

/* Reads that the open file does not allow. */
static void test_read_errors(void)
{
    nc_npy_reader *r = NULL;
    nc_npy_writer *w = NULL;
    char p[300];
    double x[12] = {0}, out[12];
    int32_t y[6] = {0, 1, 2, 0, 1, 2}, gy[6];
    nc_npy_reader_create(&r);
    nc_npy_writer_create(&w);
    path_of(p, sizeof p, "f.npy");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT32, 2, 4, 3);
    nc_npy_writer_write_rows(w, x, 4, 3);
    nc_npy_writer_finish(w);
    expect(nc_npy_reader_read_rows(r, 0, 1, out, 3), NC_ERR_UNAVAILABLE, "read with nothing open");
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open float32");
    expect(nc_npy_reader_read_rows(r, 0, 5, out, 3), NC_ERR_INVALID_SIZE, "rows beyond the end");
    expect(nc_npy_reader_read_rows(r, 5, 0, out, 3), NC_ERR_INVALID_SIZE, "start beyond the end");
    expect(nc_npy_reader_read_rows(r, 4, 0, out, 3), NC_SUCCESS, "empty range at the end");
    {
        float fo[12];
        expect(nc_npy_reader_read_rows_float(r, 0, 5, fo, 3), NC_ERR_INVALID_SIZE,
               "float: rows beyond the end");
        expect(nc_npy_reader_read_rows_float(r, 0, 2, fo, 2), NC_ERR_SIZE_MISMATCH,
               "float: ld < cols");
        expect(nc_npy_reader_read_rows_float(r, 0, 2, NULL, 3), NC_ERR_NULL_ARGUMENT,
               "float: NULL output");
        expect(nc_npy_reader_read_rows_float(NULL, 0, 2, fo, 3), NC_ERR_NULL_ARGUMENT,
               "float: NULL reader");
        expect(nc_npy_reader_read_rows_float(r, 0, 4, fo, 3), NC_SUCCESS, "float: all rows");
    }
    expect(nc_npy_reader_read_rows(r, (size_t)-1, 2, out, 3), NC_ERR_INVALID_SIZE,
           "row0 + nrows wraps");
    expect(nc_npy_reader_read_rows(r, 0, 2, out, 2), NC_ERR_SIZE_MISMATCH, "ld < cols");
    expect(nc_npy_reader_read_rows(r, 0, 2, NULL, 3), NC_ERR_NULL_ARGUMENT, "NULL output");
    expect(nc_npy_reader_read_labels(r, 0, 2, gy, 3), NC_ERR_DTYPE, "float file read as labels");
    nc_npy_writer_begin(w, p, NC_NPY_INT64, 1, 6, 1);
    nc_npy_writer_write_labels(w, y, 6);
    nc_npy_writer_finish(w);
    /* the reader still holds the old file open (replaced by rename) */
    expect(nc_npy_reader_read_rows(r, 0, 4, out, 3), NC_SUCCESS, "old file still readable");
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open int64");
    expect(nc_npy_reader_read_rows(r, 0, 2, out, 1), NC_ERR_DTYPE, "labels read as features");
    expect(nc_npy_reader_read_labels(r, 0, 6, gy, 3), NC_SUCCESS, "labels in [0, 3)");
    expect(nc_npy_reader_read_labels(r, 0, 6, gy, 2), NC_ERR_LABEL_OUT_OF_RANGE, "labels >= K = 2");
    expect(nc_npy_reader_read_labels(r, 0, 2, gy, 2), NC_SUCCESS, "a range without the 2");
    /* values beyond int32 and negative ones */
    {
        unsigned char buf[256];
        size_t n = craft(buf, 1, 0, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16);
        int64_t v[2] = {3, (int64_t)1 << 40};
        uint64_t u[2] = {1, UINT64_MAX};
        memcpy(buf + n - 16, v, 16);
        nc_test_write_bytes(p, buf, n);
        expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open big int64");
        expect(nc_npy_reader_read_labels(r, 0, 2, gy, 0), NC_ERR_LABEL_OUT_OF_RANGE,
               "2^40 beyond int32 (K = 0)");
        v[1] = INT64_MIN;
        memcpy(buf + n - 16, v, 16);
        nc_test_write_bytes(p, buf, n);
        nc_npy_reader_open(r, p);
        expect(nc_npy_reader_read_labels(r, 0, 2, gy, 0), NC_ERR_LABEL_OUT_OF_RANGE, "INT64_MIN");
        nc_test_true(strstr(nc_npy_reader_last_error(r), "-9223372036854775808") != NULL,
                     "message shows INT64_MIN");
        n = craft(buf, 1, 0, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", 16);
        memcpy(buf + n - 16, u, 16);
        nc_test_write_bytes(p, buf, n);
        nc_npy_reader_open(r, p);
        expect(nc_npy_reader_read_labels(r, 0, 2, gy, 0), NC_ERR_LABEL_OUT_OF_RANGE, "UINT64_MAX");
        expect(nc_npy_reader_read_labels(r, 0, 1, gy, 0), NC_SUCCESS, "first uint64 label");
    }
    /* 2-D labels with two columns */
    nc_npy_writer_begin(w, p, NC_NPY_INT32, 2, 3, 2);
    expect(nc_npy_writer_write_labels(w, y, 3), NC_ERR_SIZE_MISMATCH, "write labels to (3, 2)");
    {
        unsigned char buf[256];
        size_t n = craft(buf, 1, 0, "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }", 24);
        nc_test_write_bytes(p, buf, n);
        nc_npy_reader_open(r, p);
        expect(nc_npy_reader_read_labels(r, 0, 3, gy, 0), NC_ERR_SIZE_MISMATCH, "labels of (3, 2)");
    }
    /* a file truncated after it was opened */
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 100, 1);
    {
        double z[100] = {0};
        nc_npy_writer_write_rows(w, z, 100, 1);
    }
    nc_npy_writer_finish(w);
    expect(nc_npy_reader_open(r, p), NC_SUCCESS, "open before truncation");
    nc_test_int(truncate(p, 200), 0, "truncate the file");
    expect(nc_npy_reader_read_rows(r, 0, 100, out, 1) == NC_ERR_TRUNCATED ? NC_ERR_TRUNCATED : NC_ERR_IO,
           NC_ERR_TRUNCATED, "read after the file shrank");
    nc_npy_reader_close(r);
    nc_npy_reader_close(r);
    nc_npy_reader_close(NULL);
    nc_npy_reader_destroy(NULL);
    nc_npy_writer_destroy(w);
    nc_npy_reader_destroy(r);
}

/* ---- atomic writes ------------------------------------------------------------------ */

static void test_atomic(void)
{
    nc_npy_writer *w = NULL;
    char p[300], q[300], sub[300];
    unsigned char before[512], after[512];
    long nb, na;
    double x[6] = {1, 2, 3, 4, 5, 6};
    const int32_t y[3] = {1, 300, 2};
    nc_npy_writer_create(&w);
    path_of(p, sizeof p, "keep.npy");
    /* an existing file */
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 2, 3);
    expect(nc_npy_writer_finish(w), NC_SUCCESS, "write the existing file");
    nb = read_file(p, before, sizeof before);

    /* 1. a value that does not fit float32, mid-file */
    x[4] = 1e300;
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT32, 2, 2, 3), NC_SUCCESS, "begin over it");
    expect(nc_npy_writer_write_rows(w, x, 1, 3), NC_SUCCESS, "first row");
    nc_test_int(nc_test_count_temps(dir), 1, "a temporary file while writing");
    expect(nc_npy_writer_write_rows(w, x + 3, 1, 3), NC_ERR_INVALID_VALUE, "1e300 into float32");
    nc_test_int(nc_test_count_temps(dir), 0, "failed write leaves no temporary file");
    na = read_file(p, after, sizeof after);
    nc_test_true(na == nb && memcmp(before, after, (size_t)nb) == 0, "existing file untouched (1)");
    expect(nc_npy_writer_write_rows(w, x, 1, 3), NC_ERR_UNAVAILABLE, "writer dead after failure");
    expect(nc_npy_writer_finish(w), NC_ERR_UNAVAILABLE, "finish after failure");
    x[4] = 5;

    /* 2. too few rows */
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 3, 3);
    nc_npy_writer_write_rows(w, x, 2, 3);
    expect(nc_npy_writer_finish(w), NC_ERR_SIZE_MISMATCH, "finish with a row missing");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file (2)");
    na = read_file(p, after, sizeof after);
    nc_test_true(na == nb && memcmp(before, after, (size_t)nb) == 0, "existing file untouched (2)");

    /* 3. too many rows */
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 1, 3);
    expect(nc_npy_writer_write_rows(w, x, 2, 3), NC_ERR_SIZE_MISMATCH, "more rows than declared");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file (3)");

    /* 4. a label that does not fit uint8 */
    nc_npy_writer_begin(w, p, NC_NPY_UINT8, 1, 3, 1);
    expect(nc_npy_writer_write_labels(w, y, 3), NC_ERR_INVALID_VALUE, "300 into uint8");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file (4)");
    {
        const int32_t neg[1] = {-1};
        nc_npy_writer_begin(w, p, NC_NPY_UINT64, 1, 1, 1);
        expect(nc_npy_writer_write_labels(w, neg, 1), NC_ERR_INVALID_VALUE, "-1 into uint64");
        nc_npy_writer_begin(w, p, NC_NPY_INT8, 1, 1, 1);
        expect(nc_npy_writer_write_labels(w, y + 1, 1), NC_ERR_INVALID_VALUE, "300 into int8");
    }

    /* 5. wrong kind of data */
    nc_npy_writer_begin(w, p, NC_NPY_INT32, 1, 3, 1);
    expect(nc_npy_writer_write_rows(w, x, 3, 1), NC_ERR_DTYPE, "doubles into int32");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 1, 3, 1);
    expect(nc_npy_writer_write_labels(w, y, 3), NC_ERR_DTYPE, "labels into float64");

    /* 6. abort and destroy without finishing */
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 2, 3);
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3), NC_ERR_INVALID_VALUE,
           "begin while writing");
    nc_npy_writer_abort(w);
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file after abort");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 1, 3);
    nc_npy_writer_destroy(w);
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file after destroy");
    na = read_file(p, after, sizeof after);
    nc_test_true(na == nb && memcmp(before, after, (size_t)nb) == 0, "existing file untouched (6)");

    /* 7. the rename fails: the target is a directory */
    nc_npy_writer_create(&w);
    path_of(sub, sizeof sub, "adir");
    mkdir(sub, 0700);
    nc_npy_writer_begin(w, sub, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 2, 3);
    expect(nc_npy_writer_finish(w), NC_ERR_IO, "rename over a directory");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file after a failed rename");
    {
        struct stat sb;
        nc_test_true(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory is untouched");
    }
    rmdir(sub);

    /* 8. a directory that does not exist */
    path_of(q, sizeof q, "nodir/x.npy");
    expect(nc_npy_writer_begin(w, q, NC_NPY_FLOAT64, 2, 2, 3), NC_ERR_IO, "missing directory");
    nc_test_true(!file_exists(q), "nothing created");

    /* 9. argument errors */
    expect(nc_npy_writer_begin(w, p, (nc_npy_dtype)17, 2, 2, 3), NC_ERR_DTYPE, "unknown dtype");
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 3, 2, 3), NC_ERR_UNSUPPORTED, "ndim 3");
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 1, 2, 3), NC_ERR_SIZE_MISMATCH, "1-D, cols 3");
    expect(nc_npy_writer_begin(w, NULL, NC_NPY_FLOAT64, 1, 2, 1), NC_ERR_NULL_ARGUMENT, "NULL path");
    expect(nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, (size_t)1 << 62, 16), NC_ERR_INVALID_SIZE,
           "byte count overflow");
    expect(nc_npy_writer_set_format(w, 4, NC_NPY_LITTLE_ENDIAN, 0), NC_ERR_INVALID_VALUE, "version 4");
    expect(nc_npy_writer_set_format(w, 1, (nc_npy_byte_order)2, 0), NC_ERR_INVALID_VALUE, "byte order 2");
    expect(nc_npy_writer_write_rows(w, x, 1, 3), NC_ERR_UNAVAILABLE, "write with no file");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    expect(nc_npy_writer_write_rows(w, x, 1, 2), NC_ERR_SIZE_MISMATCH, "ld < cols");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    expect(nc_npy_writer_write_rows(w, NULL, 1, 3), NC_ERR_NULL_ARGUMENT, "NULL rows");
    nc_test_int(nc_test_count_temps(dir), 0, "no temporary file after argument errors");
    na = read_file(p, after, sizeof after);
    nc_test_true(na == nb && memcmp(before, after, (size_t)nb) == 0, "existing file untouched (9)");
    expect(nc_npy_writer_begin(NULL, p, NC_NPY_FLOAT64, 1, 1, 1), NC_ERR_NULL_ARGUMENT, "NULL writer");
    nc_test_true(strcmp(nc_npy_writer_last_error(NULL), "") == 0, "message of NULL");
    nc_npy_writer_abort(NULL);
    nc_npy_writer_destroy(NULL);

    /* 10. a successful overwrite replaces the file */
    x[0] = 42;
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 2, 3);
    nc_npy_writer_write_rows(w, x, 2, 3);
    expect(nc_npy_writer_finish(w), NC_SUCCESS, "overwrite");
    na = read_file(p, after, sizeof after);
    nc_test_true(na == nb && memcmp(before, after, (size_t)nb) != 0, "file replaced");
    nc_npy_writer_destroy(w);
}

/* A file larger than one reader buffer, read in chunks that straddle it. */
static void test_chunks(void)
{
    const size_t rows = 20000, cols = 7;
    double *x = (double *)malloc(rows * cols * sizeof(double));
    double out[64 * 9];
    nc_npy_writer *w = NULL;
    nc_npy_reader *r = NULL;
    char p[300];
    size_t i, c, row0;
    int f, ok = 1;
    for (i = 0; i < rows * cols; i++) x[i] = (double)i * 0.5;
    nc_npy_writer_create(&w);
    nc_npy_reader_create(&r);
    path_of(p, sizeof p, "chunks.npy");
    for (f = 0; f < 2; f++) {
        nc_npy_writer_set_format(w, 2, f ? NC_NPY_BIG_ENDIAN : NC_NPY_LITTLE_ENDIAN, f);
        nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, rows, cols);
        for (row0 = 0; row0 < rows; row0 += 3001)
            nc_npy_writer_write_rows(w, x + row0 * cols, rows - row0 < 3001 ? rows - row0 : 3001,
                                     cols);
        expect(nc_npy_writer_finish(w), NC_SUCCESS, "write 20000 x 7 in chunks");
        nc_npy_reader_open(r, p);
        for (row0 = 0; row0 < rows; row0 += 64) {
            const size_t n = rows - row0 < 64 ? rows - row0 : 64;
            ok &= nc_npy_reader_read_rows(r, row0, n, out, 9) == NC_SUCCESS;
            for (i = 0; i < n; i++)
                for (c = 0; c < cols; c++) ok &= out[i * 9 + c] == x[(row0 + i) * cols + c];
        }
        nc_test_true(ok, f ? "chunked reads, Fortran big-endian" : "chunked reads, C order");
        {
            /* the last row read alone, and its sum */
            double tot = 0.0, want = 0.0;
            nc_npy_reader_read_rows(r, rows - 1, 1, out, cols);
            for (c = 0; c < cols; c++) {
                tot += out[c];
                want += (double)((rows - 1) * cols + c) * 0.5;
            }
            nc_test_rel(tot, want, 0.0, "last row");
            nc_test_abs(out[cols - 1], x[rows * cols - 1], 0.0, "last value");
        }
    }
    nc_npy_reader_destroy(r);
    nc_npy_writer_destroy(w);
    free(x);
}

/* ---- NumPy itself ------------------------------------------------------------------- */

static const char *py_write =
    "import numpy as np, sys, os\n"
    "from numpy.lib import format as F\n"
    "d = sys.argv[1]\n"
    "x = (np.arange(15, dtype=np.float64).reshape(5, 3) * 0.37 - 2.0)\n"
    "x[1, 2] = 1.0 / 3.0\n"
    "for t in ['<f4', '>f4', '<f8', '>f8']:\n"
    "    for order in ['C', 'F']:\n"
    "        for v in [(1, 0), (2, 0), (3, 0)]:\n"
    "            a = np.array(x.astype(t), order=order)\n"
    "            with open(os.path.join(d, 'np_%s_%s_%d.npy' % (t[1:] + ('b' if t[0] == '>' else 'l'), order, v[0])), 'wb') as f:\n"
    "                F.write_array(f, a, version=v)\n"
    "y = np.array([0, 3, 1, 2, 2, 0, 1])\n"
    "for t in ['|i1', '|u1', '<i2', '>u2', '<i4', '>i4', '<u4', '<i8', '>i8', '<u8']:\n"
    "    np.save(os.path.join(d, 'lab_%s.npy' % (t[1:] + ('b' if t[0] == '>' else 'l'))), y.astype(t))\n"
    "np.save(os.path.join(d, 'lab_default.npy'), y)\n"
    "np.save(os.path.join(d, 'feat_default.npy'), x)\n";

static const char *py_check =
    "import numpy as np, sys, os\n"
    "d = sys.argv[1]\n"
    "x = (np.arange(15, dtype=np.float64).reshape(5, 3) * 0.37 - 2.0)\n"
    "x[1, 2] = 1.0 / 3.0\n"
    "for name, t, fo in [('c_f8.npy', '<f8', False), ('f_f4b.npy', '>f4', True)]:\n"
    "    a = np.load(os.path.join(d, name))\n"
    "    assert a.dtype == np.dtype(t), (name, a.dtype)\n"
    "    assert a.flags.f_contiguous == fo or a.shape[0] == 1, name\n"
    "    assert np.array_equal(a, x.astype(t)), name\n"
    "b = np.load(os.path.join(d, 'c_u2b.npy'))\n"
    "assert b.dtype == np.dtype('>u2') and list(b) == [0, 3, 1, 2, 2, 0, 1]\n"
    "print('ok')\n";

static int run_python(const char *script, const char *arg)
{
    char cmd[700], sp[300];
    FILE *f;
    path_of(sp, sizeof sp, "script.py");
    f = fopen(sp, "w");
    if (!f) return -1;
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' >/dev/null 2>&1", sp, arg);
    return system(cmd);
}

static void test_numpy(void)
{
    static const char *ft[4] = {"f4l", "f4b", "f8l", "f8b"};
    static const char *lt[11] = {"i1l", "u1l", "i2l", "u2b", "i4l", "i4b", "u4l", "i8l", "i8b", "u8l", "default"};
    static const int32_t ywant[7] = {0, 3, 1, 2, 2, 0, 1};
    double xwant[15], out[15];
    nc_npy_reader *r = NULL;
    nc_npy_writer *w = NULL;
    char p[300], tag[200];
    int i, o, v;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("test_io_npy: NOTE: NumPy check skipped (/usr/bin/python3 has no numpy); not counted\n");
        return;
    }
    nc_test_int(run_python(py_write, dir), 0, "NumPy writes the test files");
    for (i = 0; i < 15; i++) xwant[i] = (double)i * 0.37 - 2.0;
    xwant[5] = 1.0 / 3.0;
    nc_npy_reader_create(&r);
    for (i = 0; i < 4; i++)
        for (o = 0; o < 2; o++)
            for (v = 1; v <= 3; v++) {
                int k, ok = 1;
                char name[64];
                snprintf(name, sizeof name, "np_%s_%c_%d.npy", ft[i], o ? 'F' : 'C', v);
                path_of(p, sizeof p, name);
                snprintf(tag, sizeof tag, "NumPy file %s", name);
                expect(nc_npy_reader_open(r, p), NC_SUCCESS, tag);
                ok &= nc_npy_reader_read_rows(r, 0, 5, out, 3) == NC_SUCCESS;
                for (k = 0; k < 15; k++)
                    ok &= out[k] == (ft[i][1] == '4' ? (double)(float)xwant[k] : xwant[k]);
                nc_test_true(ok, tag);
            }
    for (i = 0; i < 11; i++) {
        int32_t y[7];
        int k, ok = 1;
        char name[64];
        snprintf(name, sizeof name, "lab_%s.npy", lt[i]);
        path_of(p, sizeof p, name);
        snprintf(tag, sizeof tag, "NumPy labels %s", name);
        expect(nc_npy_reader_open(r, p), NC_SUCCESS, tag);
        ok &= nc_npy_reader_read_labels(r, 0, 7, y, 4) == NC_SUCCESS;
        for (k = 0; k < 7; k++) ok &= y[k] == ywant[k];
        nc_test_true(ok, tag);
    }
    /* and NumPy reads ours */
    nc_npy_writer_create(&w);
    path_of(p, sizeof p, "c_f8.npy");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT64, 2, 5, 3);
    nc_npy_writer_write_rows(w, xwant, 5, 3);
    nc_npy_writer_finish(w);
    nc_npy_writer_set_format(w, 3, NC_NPY_BIG_ENDIAN, 1);
    path_of(p, sizeof p, "f_f4b.npy");
    nc_npy_writer_begin(w, p, NC_NPY_FLOAT32, 2, 5, 3);
    nc_npy_writer_write_rows(w, xwant, 5, 3);
    nc_npy_writer_finish(w);
    nc_npy_writer_set_format(w, 2, NC_NPY_BIG_ENDIAN, 0);
    path_of(p, sizeof p, "c_u2b.npy");
    nc_npy_writer_begin(w, p, NC_NPY_UINT16, 1, 7, 1);
    nc_npy_writer_write_labels(w, ywant, 7);
    nc_npy_writer_finish(w);
    nc_test_int(run_python(py_check, dir), 0, "NumPy reads files written by the library");
    nc_npy_writer_destroy(w);
    nc_npy_reader_destroy(r);
}

static void test_misc(void)
{
    nc_npy_reader *r = NULL;
    nc_test_true(strcmp(nc_npy_dtype_name(NC_NPY_UINT16), "uint16") == 0, "dtype name");
    nc_test_true(strcmp(nc_npy_dtype_name((nc_npy_dtype)99), "unknown") == 0, "unknown dtype name");
    expect(nc_npy_reader_create(NULL), NC_ERR_NULL_ARGUMENT, "reader create NULL");
    expect(nc_npy_writer_create(NULL), NC_ERR_NULL_ARGUMENT, "writer create NULL");
    nc_npy_reader_create(&r);
    expect(nc_npy_reader_format(r, NULL, NULL, NULL), NC_ERR_UNAVAILABLE, "format with no file");
    expect(nc_npy_reader_info(NULL, NULL, NULL, NULL, NULL), NC_ERR_NULL_ARGUMENT, "info NULL");
    expect(nc_npy_reader_read_labels(NULL, 0, 0, NULL, 0), NC_ERR_NULL_ARGUMENT, "labels NULL");
    nc_test_true(strcmp(nc_npy_reader_last_error(NULL), "") == 0, "reader message of NULL");
    nc_npy_reader_destroy(r);
    nc_test_true(strcmp(nc_status_name(NC_ERR_TRUNCATED), "NC_ERR_TRUNCATED") == 0 &&
                     strlen(nc_strerror(NC_ERR_FILE_SIZE)) > 0 && strlen(nc_strerror(NC_ERR_DTYPE)) > 0 &&
                     strlen(nc_strerror(NC_ERR_IO)) > 0 && strlen(nc_strerror(NC_ERR_FORMAT)) > 0,
                 "new status codes have names and messages");
}

static void remove_dir(void)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char p[600];
    if (!dp) return;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    closedir(dp);
    rmdir(dir);
}

int main(void)
{
    if (nc_test_make_temp_dir(dir, sizeof dir, "nc_test_io_npy") != 0) return 1;
    test_misc();
    test_round_trips();
    test_values_and_header();
    test_malformed();
    test_read_errors();
    test_atomic();
    test_chunks();
    test_numpy();
    remove_dir();
    return nc_test_summary("test_io_npy");
}
