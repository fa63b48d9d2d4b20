/*
 * npy.c - NumPy .npy files: a reader that parses the header once and reads
 * row ranges into caller buffers, and a writer that streams rows into a
 * temporary file and renames it into place ("Data" in ncollapse.h).
 *
 * Format (numpy.lib.format): the magic "\x93NUMPY", major and minor version
 * bytes, the header length (2 bytes little-endian for 1.0, 4 bytes for 2.0
 * and 3.0), then the header: a Python dict literal with exactly the keys
 * 'descr', 'fortran_order' and 'shape', padded with spaces and ending in a
 * newline. The data follows, shape[0] * shape[1] elements in C or Fortran
 * order.
 *
 * Choices this file makes:
 *  - Strict parsing: the three keys exactly once each, no other key, a
 *    shape tuple of non-negative decimal integers (a 1-tuple needs its
 *    comma, as in Python), only spaces and newlines after the closing brace.
 *    Python 2's long suffix ('3L') is accepted, since old NumPy wrote it.
 *  - The file must be a regular file whose size is exactly the header plus
 *    the data: shorter is NC_ERR_TRUNCATED, longer NC_ERR_FILE_SIZE.
 *  - I/O goes through pread/pwrite on a descriptor with 64-bit offsets and
 *    a conversion buffer allocated with the handle; reading a row range
 *    allocates nothing.
 *  - Writes go to "<path>.<pid>.<handle>.<n>.tmp" in the target directory
 *    (created with O_EXCL, mode 0666 less the umask), which is fsynced,
 *    renamed over the target, and the directory fsynced (nc__atomic_file,
 *    serial.c). Any failure removes the temporary file and leaves an
 *    existing target untouched.
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "io/npy.h"
#include "io/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Conversion buffer: a multiple of every item size. */
#define NPY_BUF_BYTES ((size_t)1 << 16)

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---- data types ----------------------------------------------------------------- */

typedef struct dtype_info {
    char kind;       /* 'f', 'i' or 'u' */
    size_t size;     /* bytes */
    const char *name;
} dtype_info;

/* Indexed by nc_npy_dtype. */
static const dtype_info dtypes[] = {
    {'f', 4, "float32"}, {'f', 8, "float64"}, {'i', 1, "int8"},   {'i', 2, "int16"},
    {'i', 4, "int32"},   {'i', 8, "int64"},   {'u', 1, "uint8"},  {'u', 2, "uint16"},
    {'u', 4, "uint32"},  {'u', 8, "uint64"},
};
#define NUM_DTYPES (sizeof dtypes / sizeof dtypes[0])

static int valid_dtype(nc_npy_dtype t) { return (int)t >= 0 && (size_t)t < NUM_DTYPES; }

static int host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 0;
}

/* Copy one item of isz bytes, reversing its bytes if swap. */
static void item_copy(unsigned char *dst, const unsigned char *src, size_t isz, int swap)
{
    size_t i;
    if (!swap) {
        memcpy(dst, src, isz);
        return;
    }
    for (i = 0; i < isz; i++) dst[i] = src[isz - 1 - i];
}

/* Item in native byte order -> double (float types). */
static double item_to_double(const unsigned char *p, nc_npy_dtype t)
{
    if (t == NC_NPY_FLOAT32) {
        float f;
        memcpy(&f, p, sizeof f);
        return (double)f;
    } else {
        double v;
        memcpy(&v, p, sizeof v);
        return v;
    }
}

/* Item in native byte order -> integer (integer types): *neg set for
 * negative values, whose magnitude goes into *mag. */
static void item_to_int(const unsigned char *p, nc_npy_dtype t, int *neg, uint64_t *mag)
{
    int64_t s = 0;
    uint64_t u = 0;
    int is_signed = 1;
    switch (t) {
    case NC_NPY_INT8: { int8_t v; memcpy(&v, p, 1); s = v; break; }
    case NC_NPY_INT16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case NC_NPY_INT32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case NC_NPY_INT64: { int64_t v; memcpy(&v, p, 8); s = v; break; }
    case NC_NPY_UINT8: { uint8_t v; memcpy(&v, p, 1); u = v; is_signed = 0; break; }
    case NC_NPY_UINT16: { uint16_t v; memcpy(&v, p, 2); u = v; is_signed = 0; break; }
    case NC_NPY_UINT32: { uint32_t v; memcpy(&v, p, 4); u = v; is_signed = 0; break; }
    default: { uint64_t v; memcpy(&v, p, 8); u = v; is_signed = 0; break; }
    }
    if (is_signed) {
        *neg = s < 0;
        /* -(s + 1) + 1 avoids negating INT64_MIN. */
        *mag = s < 0 ? (uint64_t)(-(s + 1)) + 1u : (uint64_t)s;
    } else {
        *neg = 0;
        *mag = u;
    }
}

/* ---- header parsing ---------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept_char(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out (size cap); 0 if malformed. */
static int parse_string(cursor *c, char *out, size_t cap)
{
    char q;
    size_t n = 0;
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int accept_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        /* The word must end here. */
        if ((size_t)(c->end - c->p) > n) {
            const char nx = c->p[n];
            if ((nx >= 'a' && nx <= 'z') || (nx >= 'A' && nx <= 'Z') || (nx >= '0' && nx <= '9') ||
                nx == '_')
                return 0;
        }
        c->p += n;
        return 1;
    }
    return 0;
}

/* A non-negative decimal integer (optional Python 2 'L'); 0 if malformed,
 * -1 if it does not fit size_t. */
static int parse_size(cursor *c, size_t *out)
{
    size_t v = 0;
    const char *start;
    skip_ws(c);
    start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        const size_t dgt = (size_t)(*c->p - '0');
        if (v > (SIZE_MAX - dgt) / 10) return -1;
        v = v * 10 + dgt;
        c->p++;
    }
    if (c->p == start) return 0;
    if (c->p - start > 1 && *start == '0') return 0; /* no leading zeros, as in Python 3 */
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
    *out = v;
    return 1;
}

/* descr string -> dtype, item size, byte order; NC_ERR_DTYPE if unsupported. */
static nc_status parse_descr(const char *s, nc__npy_header *h, char *msg)
{
    char order = s[0];
    const char *t = s + 1;
    size_t i, size = 0;
    if (order != '<' && order != '>' && order != '|')
        return nc__fail(msg, NC_ERR_DTYPE, "dtype '%.40s' has no explicit byte order", s);
    if (t[0] == '\0' || t[1] < '1' || t[1] > '9' || t[2] != '\0')
        return nc__fail(msg, NC_ERR_DTYPE, "unsupported dtype '%.40s'", s);
    size = (size_t)(t[1] - '0');
    for (i = 0; i < NUM_DTYPES; i++)
        if (dtypes[i].kind == t[0] && dtypes[i].size == size) break;
    if (i == NUM_DTYPES)
        return nc__fail(msg, NC_ERR_DTYPE,
                        "unsupported dtype '%.40s' (float32/64 and 8- to 64-bit integers only)", s);
    if (order == '|' && size != 1)
        return nc__fail(msg, NC_ERR_DTYPE, "dtype '%.40s': '|' byte order on a multi-byte type",
                        s);
    h->dtype = (nc_npy_dtype)i;
    h->itemsize = size;
    h->big_endian = size > 1 && order == '>';
    return NC_SUCCESS;
}

/* What a file that is not .npy looks like, from its first bytes, and the
 * one-line fix: the message of a bad magic string. */
static nc_status not_npy(const unsigned char *buf, size_t len, char *msg)
{
    size_t i, n = len < 64 ? len : 64, text = 0;
    if (len >= 4 && memcmp(buf, "PK\003\004", 4) == 0)
        return nc__fail(msg, NC_ERR_FORMAT, "not a .npy file: a zip archive, as .npz files "
                        "(np.savez) and torch.save files are; save each array with "
                        "np.save('x.npy', array) (a tensor: t.detach().cpu().numpy())");
    if (len >= 2 && buf[0] == 0x80 && buf[1] >= 2 && buf[1] <= 5)
        return nc__fail(msg, NC_ERR_FORMAT, "not a .npy file: a Python pickle (pickle.dump, or "
                        "torch.save in its legacy format); save each array with "
                        "np.save('x.npy', array)");
    if (len >= 8 && memcmp(buf, "\211HDF\r\n\032\n", 8) == 0)
        return nc__fail(msg, NC_ERR_FORMAT, "not a .npy file: an HDF5 file; save each dataset "
                        "with np.save('x.npy', f['name'][()])");
    for (i = 0; i < n; i++)
        if (buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r' || (buf[i] >= 32 && buf[i] < 127))
            text++;
    if (n > 0 && text == n)
        return nc__fail(msg, NC_ERR_FORMAT, "not a .npy file: text (CSV or whitespace-separated "
                        "numbers?); convert it with np.save('x.npy', np.loadtxt('x.csv', "
                        "delimiter=','))");
    return nc__fail(msg, NC_ERR_FORMAT, "not a .npy file (bad magic string); write arrays with "
                    "np.save('x.npy', array)");
}

nc_status nc__npy_parse_header(const unsigned char *buf, size_t len, nc__npy_header *h,
                               size_t *needed, char *msg)
{
    size_t prefix, hlen, ndim = 0, shape[3] = {0, 0, 0};
    int have_descr = 0, have_order = 0, have_shape = 0;
    cursor c;
    nc_status st;
    uint64_t items, bytes;

    *needed = 0;
    memset(h, 0, sizeof *h);
    if (len < 8) {
        if (len > 0 && memcmp(buf, npy_magic, len < 6 ? len : 6) != 0) return not_npy(buf, len, msg);
        return nc__fail(msg, NC_ERR_TRUNCATED, "file of %lu bytes ends inside the magic string",
                        (unsigned long)len);
    }
    if (memcmp(buf, npy_magic, 6) != 0) return not_npy(buf, len, msg);
    if (buf[6] < 1 || buf[6] > 3 || buf[7] != 0)
        return nc__fail(msg, NC_ERR_FORMAT, "unsupported .npy format version %u.%u",
                        (unsigned)buf[6], (unsigned)buf[7]);
    h->version = buf[6];
    prefix = h->version == 1 ? 10 : 12;
    if (len < prefix)
        return nc__fail(msg, NC_ERR_TRUNCATED, "file ends inside the header length");
    if (h->version == 1)
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    else
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
               (size_t)buf[11] << 24;
    if (hlen > NC_NPY_MAX_HEADER)
        return nc__fail(msg, NC_ERR_FORMAT, "header of %lu bytes exceeds the limit of %lu",
                        (unsigned long)hlen, (unsigned long)NC_NPY_MAX_HEADER);
    if (len < prefix + hlen) {
        *needed = prefix + hlen;
        return nc__fail(msg, NC_ERR_TRUNCATED, "file ends inside the %lu-byte header",
                        (unsigned long)hlen);
    }
    h->data_offset = prefix + hlen;

    c.p = (const char *)buf + prefix;
    c.end = c.p + hlen;
    if (!accept_char(&c, '{')) return nc__fail(msg, NC_ERR_FORMAT, "header is not a dict");
    for (;;) {
        char key[32];
        if (accept_char(&c, '}')) break;
        if (!parse_string(&c, key, sizeof key) || !accept_char(&c, ':'))
            return nc__fail(msg, NC_ERR_FORMAT, "malformed header dict");
        if (strcmp(key, "descr") == 0) {
            char descr[64];
            if (have_descr++) return nc__fail(msg, NC_ERR_FORMAT, "duplicate key 'descr'");
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return nc__fail(msg, NC_ERR_DTYPE, "structured dtypes are not supported");
            if (!parse_string(&c, descr, sizeof descr))
                return nc__fail(msg, NC_ERR_FORMAT, "malformed 'descr' value");
            st = parse_descr(descr, h, msg);
            if (st != NC_SUCCESS) return st;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order++) return nc__fail(msg, NC_ERR_FORMAT, "duplicate key 'fortran_order'");
            if (accept_word(&c, "True"))
                h->fortran_order = 1;
            else if (accept_word(&c, "False"))
                h->fortran_order = 0;
            else
                return nc__fail(msg, NC_ERR_FORMAT, "'fortran_order' is not True or False");
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return nc__fail(msg, NC_ERR_FORMAT, "duplicate key 'shape'");
            if (!accept_char(&c, '('))
                return nc__fail(msg, NC_ERR_FORMAT, "'shape' is not a tuple");
            for (;;) {
                size_t v;
                int r;
                if (accept_char(&c, ')')) break;
                r = parse_size(&c, &v);
                if (r == 0) return nc__fail(msg, NC_ERR_FORMAT, "malformed 'shape' tuple");
                if (r < 0)
                    return nc__fail(msg, NC_ERR_INVALID_SIZE, "a dimension of 'shape' overflows");
                if (ndim < 3) shape[ndim] = v;
                ndim++;
                if (accept_char(&c, ',')) continue;
                if (accept_char(&c, ')')) {
                    if (ndim == 1)
                        return nc__fail(msg, NC_ERR_FORMAT, "a 1-tuple 'shape' needs its comma");
                    break;
                }
                return nc__fail(msg, NC_ERR_FORMAT, "malformed 'shape' tuple");
            }
        } else {
            return nc__fail(msg, NC_ERR_FORMAT, "unexpected header key '%s'", key);
        }
        if (accept_char(&c, ',')) continue;
        if (accept_char(&c, '}')) break;
        return nc__fail(msg, NC_ERR_FORMAT, "malformed header dict");
    }
    skip_ws(&c);
    if (c.p != c.end) return nc__fail(msg, NC_ERR_FORMAT, "junk after the header dict");
    if (!have_descr || !have_order || !have_shape)
        return nc__fail(msg, NC_ERR_FORMAT, "header lacks the key '%s'",
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    if (ndim < 1 || ndim > 2) {
        if (ndim == 0)
            return nc__fail(msg, NC_ERR_UNSUPPORTED, "the array has 0 dimensions (a scalar, shape "
                            "()); only 1 or 2 are supported: save np.atleast_1d(x)");
        return nc__fail(msg, NC_ERR_UNSUPPORTED, "the array has %lu dimensions (shape (%lu, %lu, "
                        "%lu%s)); only 1 or 2 are supported: save x.reshape(len(x), -1), one row "
                        "per sample", (unsigned long)ndim, (unsigned long)shape[0],
                        (unsigned long)shape[1], (unsigned long)shape[2], ndim > 3 ? ", ..." : "");
    }
    h->ndim = ndim;
    h->rows = shape[0];
    h->cols = ndim == 2 ? shape[1] : 1;
    /* Byte counts must fit in a signed 64-bit file offset with the header. */
    if (nc__mul_size(h->rows, h->cols, &shape[2]) ||
        (uint64_t)shape[2] > ((uint64_t)INT64_MAX - h->data_offset) / h->itemsize)
        return nc__fail(msg, NC_ERR_INVALID_SIZE, "shape (%lu, %lu) of %s: the byte count "
                        "overflows", (unsigned long)h->rows, (unsigned long)h->cols,
                        dtypes[h->dtype].name);
    items = (uint64_t)shape[2];
    bytes = items * h->itemsize;
    h->data_bytes = bytes;
    return NC_SUCCESS;
}

/* ---- reader ---------------------------------------------------------------------------- */

struct nc_npy_reader {
    int fd; /* -1 when no file is open */
    nc__npy_header h;
    int swap; /* data byte order differs from the host's */
    unsigned char *buf;
    char msg[NC_MSG_SIZE];
};

NC_API nc_status nc_npy_reader_create(nc_npy_reader **reader)
{
    nc_npy_reader *r;
    nc__create_clear();
    if (reader == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_npy_reader_create: reader is NULL");
    *reader = NULL;
    r = (nc_npy_reader *)calloc(1, sizeof *r);
    if (r == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_npy_reader_create: no memory");
    r->buf = (unsigned char *)malloc(NPY_BUF_BYTES);
    if (r->buf == NULL) {
        free(r);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_npy_reader_create: no memory for its "
                               "buffer");
    }
    r->fd = -1;
    r->msg[0] = '\0';
    *reader = r;
    return NC_SUCCESS;
}

NC_API void nc_npy_reader_close(nc_npy_reader *reader)
{
    if (reader == NULL) return;
    if (reader->fd >= 0) close(reader->fd);
    reader->fd = -1;
    memset(&reader->h, 0, sizeof reader->h);
}

NC_API void nc_npy_reader_destroy(nc_npy_reader *reader)
{
    if (reader == NULL) return;
    nc_npy_reader_close(reader);
    free(reader->buf);
    free(reader);
}

NC_API nc_status nc_npy_reader_open(nc_npy_reader *reader, const char *path)
{
    struct stat sb;
    size_t have, needed = 0;
    uint64_t fsize;
    unsigned char *hdr = NULL;
    nc_status st;
    int fd;

    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    nc_npy_reader_close(reader);
    reader->msg[0] = '\0';
    if (path == NULL) return nc__fail(reader->msg, NC_ERR_NULL_ARGUMENT, "path is NULL");
    /* O_NONBLOCK: opening a FIFO without a writer would block forever */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return nc__fail(reader->msg, NC_ERR_IO, "cannot open '%.150s': %s", path,
                        strerror(errno));
    if (fstat(fd, &sb) != 0) {
        const int err = errno;
        close(fd);
        return nc__fail(reader->msg, NC_ERR_IO, "cannot read '%.150s': %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return nc__fail(reader->msg, NC_ERR_IO, "'%.150s' is %s, not a regular file", path,
                        nc__file_kind(sb.st_mode));
    }
    fsize = (uint64_t)sb.st_size;

    /* The fixed prefix and, usually, the whole header fit in the buffer. */
    have = fsize < NPY_BUF_BYTES ? (size_t)fsize : NPY_BUF_BYTES;
    if (nc__read_full(fd, reader->buf, have, 0) != 0) {
        close(fd);
        return nc__fail(reader->msg, errno ? NC_ERR_IO : NC_ERR_TRUNCATED,
                        "cannot read the header of '%.150s'", path);
    }
    st = nc__npy_parse_header(reader->buf, have, &reader->h, &needed, reader->msg);
    if (st == NC_ERR_TRUNCATED && needed > have && needed <= fsize) {
        /* A header longer than the buffer (at most NC_NPY_MAX_HEADER). */
        hdr = (unsigned char *)malloc(needed);
        if (hdr == NULL) {
            close(fd);
            return nc__fail(reader->msg, NC_ERR_OUT_OF_MEMORY, "cannot hold a header of %lu "
                            "bytes", (unsigned long)needed);
        }
        if (nc__read_full(fd, hdr, needed, 0) != 0)
            st = nc__fail(reader->msg, errno ? NC_ERR_IO : NC_ERR_TRUNCATED,
                          "cannot read the header of '%.150s'", path);
        else
            st = nc__npy_parse_header(hdr, needed, &reader->h, &needed, reader->msg);
        free(hdr);
    }
    if (st == NC_SUCCESS) {
        const uint64_t want = (uint64_t)reader->h.data_offset + reader->h.data_bytes;
        if (fsize < want)
            st = nc__fail(reader->msg, NC_ERR_TRUNCATED,
                          "'%.120s' has %llu bytes but its header declares %llu", path,
                          (unsigned long long)fsize, (unsigned long long)want);
        else if (fsize > want)
            st = nc__fail(reader->msg, NC_ERR_FILE_SIZE,
                          "'%.120s' has %llu bytes but its header declares %llu", path,
                          (unsigned long long)fsize, (unsigned long long)want);
    }
    if (st != NC_SUCCESS) {
        close(fd);
        memset(&reader->h, 0, sizeof reader->h);
        return st;
    }
    reader->fd = fd;
    reader->swap = reader->h.itemsize > 1 && reader->h.big_endian != host_big_endian();
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_reader_info(const nc_npy_reader *reader, nc_npy_dtype *dtype,
                                    size_t *ndim, size_t *rows, size_t *cols)
{
    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    if (reader->fd < 0) return NC_ERR_UNAVAILABLE;
    if (dtype) *dtype = reader->h.dtype;
    if (ndim) *ndim = reader->h.ndim;
    if (rows) *rows = reader->h.rows;
    if (cols) *cols = reader->h.cols;
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_reader_format(const nc_npy_reader *reader, unsigned *version,
                                      nc_npy_byte_order *byte_order, int *fortran_order)
{
    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    if (reader->fd < 0) return NC_ERR_UNAVAILABLE;
    if (version) *version = reader->h.version;
    if (byte_order) *byte_order = reader->h.big_endian ? NC_NPY_BIG_ENDIAN : NC_NPY_LITTLE_ENDIAN;
    if (fortran_order) *fortran_order = reader->h.fortran_order;
    return NC_SUCCESS;
}

/* Common checks of a row-range read. */
static nc_status check_range(nc_npy_reader *r, size_t row0, size_t nrows, const void *out,
                             int want_float)
{
    if (r->fd < 0) return nc__fail(r->msg, NC_ERR_UNAVAILABLE, "no file is open");
    if (want_float && dtypes[r->h.dtype].kind != 'f')
        return nc__fail(r->msg, NC_ERR_DTYPE, "the file holds %s, not float32/float64",
                        dtypes[r->h.dtype].name);
    if (!want_float && dtypes[r->h.dtype].kind == 'f')
        return nc__fail(r->msg, NC_ERR_DTYPE, "the file holds %s, not integer labels",
                        dtypes[r->h.dtype].name);
    if (row0 > r->h.rows || nrows > r->h.rows - row0)
        return nc__fail(r->msg, NC_ERR_INVALID_SIZE, "rows [%lu, %lu + %lu) exceed the %lu rows "
                        "of the file", (unsigned long)row0, (unsigned long)row0,
                        (unsigned long)nrows, (unsigned long)r->h.rows);
    if (out == NULL && nrows > 0 && r->h.cols > 0)
        return nc__fail(r->msg, NC_ERR_NULL_ARGUMENT, "the output buffer is NULL");
    return NC_SUCCESS;
}

static nc_status read_error(nc_npy_reader *r)
{
    if (errno == 0)
        return nc__fail(r->msg, NC_ERR_TRUNCATED, "the file became shorter than its header "
                        "declares");
    return nc__fail(r->msg, NC_ERR_IO, "read failed: %s", strerror(errno));
}

/* Read n items starting at item index first (of the data), converting to
 * double: item j goes to out[(j / per_row) * ld + j % per_row]. */
static nc_status read_doubles(nc_npy_reader *r, uint64_t first, size_t n, double *out,
                              size_t per_row, size_t ld)
{
    const size_t isz = r->h.itemsize, chunk = NPY_BUF_BYTES / isz;
    size_t done = 0, row = 0, col = 0;
    while (done < n) {
        const size_t m = n - done < chunk ? n - done : chunk;
        size_t j;
        if (nc__read_full(r->fd, r->buf, m * isz, r->h.data_offset + (first + done) * isz) != 0)
            return read_error(r);
        for (j = 0; j < m; j++) {
            unsigned char item[8];
            item_copy(item, r->buf + j * isz, isz, r->swap);
            out[row * ld + col] = item_to_double(item, r->h.dtype);
            if (++col == per_row) {
                col = 0;
                row++;
            }
        }
        done += m;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_reader_read_rows(nc_npy_reader *reader, size_t row0, size_t nrows,
                                         double *out, size_t ld)
{
    nc_status st;
    size_t items, c;
    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_range(reader, row0, nrows, out, 1);
    if (st != NC_SUCCESS) return st;
    if (nrows == 0 || reader->h.cols == 0) return NC_SUCCESS;
    if (ld < reader->h.cols)
        return nc__fail(reader->msg, NC_ERR_SIZE_MISMATCH, "ld = %lu is smaller than the %lu "
                        "columns", (unsigned long)ld, (unsigned long)reader->h.cols);
    if (nc__mul_size(nrows - 1, ld, &items) || items > SIZE_MAX - reader->h.cols)
        return nc__fail(reader->msg, NC_ERR_INVALID_SIZE, "the output is too large to index");
    if (!reader->h.fortran_order || reader->h.cols == 1)
        /* Rows are contiguous in the file. */
        return read_doubles(reader, (uint64_t)row0 * reader->h.cols, nrows * reader->h.cols,
                            out, reader->h.cols, ld);
    /* Fortran order: column c of the array holds element (i, c) at c*rows + i;
     * the rows [row0, row0 + nrows) of column c are contiguous. */
    for (c = 0; c < reader->h.cols; c++) {
        st = read_doubles(reader, (uint64_t)c * reader->h.rows + row0, nrows, out + c, 1, ld);
        if (st != NC_SUCCESS) return st;
    }
    return NC_SUCCESS;
}

/* Read n float32 items starting at item index first: item j goes to
 * out[(j / per_row) * ld + j % per_row]. Contiguous items of the machine's
 * byte order are read straight into out; others through the buffer. */
static nc_status read_floats(nc_npy_reader *r, uint64_t first, size_t n, float *out,
                             size_t per_row, size_t ld)
{
    const size_t chunk = NPY_BUF_BYTES / 4;
    size_t done = 0, row = 0, col = 0;
    if (!r->swap && per_row == ld) {
        if (nc__read_full(r->fd, (unsigned char *)out, n * 4, r->h.data_offset + first * 4) != 0)
            return read_error(r);
        return NC_SUCCESS;
    }
    while (done < n) {
        const size_t m = n - done < chunk ? n - done : chunk;
        size_t j;
        if (nc__read_full(r->fd, r->buf, m * 4, r->h.data_offset + (first + done) * 4) != 0)
            return read_error(r);
        for (j = 0; j < m; j++) {
            unsigned char item[4];
            item_copy(item, r->buf + j * 4, 4, r->swap);
            memcpy(&out[row * ld + col], item, 4);
            if (++col == per_row) {
                col = 0;
                row++;
            }
        }
        done += m;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_reader_read_rows_float(nc_npy_reader *reader, size_t row0, size_t nrows,
                                               float *out, size_t ld)
{
    nc_status st;
    size_t items, c;
    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_range(reader, row0, nrows, out, 1);
    if (st != NC_SUCCESS) return st;
    if (dtypes[reader->h.dtype].size != 4)
        return nc__fail(reader->msg, NC_ERR_DTYPE, "the file holds %s, not float32 (read it "
                        "as doubles with nc_npy_reader_read_rows)", dtypes[reader->h.dtype].name);
    if (nrows == 0 || reader->h.cols == 0) return NC_SUCCESS;
    if (ld < reader->h.cols)
        return nc__fail(reader->msg, NC_ERR_SIZE_MISMATCH, "ld = %lu is smaller than the %lu "
                        "columns", (unsigned long)ld, (unsigned long)reader->h.cols);
    if (nc__mul_size(nrows - 1, ld, &items) || items > SIZE_MAX - reader->h.cols ||
        items + reader->h.cols > SIZE_MAX / 4)
        return nc__fail(reader->msg, NC_ERR_INVALID_SIZE, "the output is too large to index");
    if (!reader->h.fortran_order || reader->h.cols == 1)
        return read_floats(reader, (uint64_t)row0 * reader->h.cols, nrows * reader->h.cols, out,
                           reader->h.cols, ld);
    for (c = 0; c < reader->h.cols; c++) {
        st = read_floats(reader, (uint64_t)c * reader->h.rows + row0, nrows, out + c, 1, ld);
        if (st != NC_SUCCESS) return st;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_reader_read_labels(nc_npy_reader *reader, size_t row0, size_t nrows,
                                           int32_t *labels, size_t K)
{
    nc_status st;
    size_t isz, chunk, done = 0;
    uint64_t limit;
    if (reader == NULL) return NC_ERR_NULL_ARGUMENT;
    st = check_range(reader, row0, nrows, labels, 0);
    if (st != NC_SUCCESS) return st;
    if (reader->h.cols != 1)
        return nc__fail(reader->msg, NC_ERR_SIZE_MISMATCH, "labels must have shape (N,) or "
                        "(N, 1), not (%lu, %lu)", (unsigned long)reader->h.rows,
                        (unsigned long)reader->h.cols);
    limit = K == 0 || K > (size_t)INT32_MAX ? (uint64_t)INT32_MAX + 1u : (uint64_t)K;
    isz = reader->h.itemsize;
    chunk = NPY_BUF_BYTES / isz;
    while (done < nrows) {
        const size_t m = nrows - done < chunk ? nrows - done : chunk;
        size_t j;
        if (nc__read_full(reader->fd, reader->buf, m * isz,
                          reader->h.data_offset + ((uint64_t)row0 + done) * isz) != 0)
            return read_error(reader);
        for (j = 0; j < m; j++) {
            unsigned char item[8];
            int neg;
            uint64_t mag;
            item_copy(item, reader->buf + j * isz, isz, reader->swap);
            item_to_int(item, reader->h.dtype, &neg, &mag);
            if (neg || mag >= limit)
                return nc__fail(reader->msg, NC_ERR_LABEL_OUT_OF_RANGE,
                                "label %s%llu at row %lu is outside [0, %llu)", neg ? "-" : "",
                                (unsigned long long)mag, (unsigned long)(row0 + done + j),
                                (unsigned long long)limit);
            labels[done + j] = (int32_t)mag;
        }
        done += m;
    }
    return NC_SUCCESS;
}

NC_API const char *nc_npy_reader_last_error(const nc_npy_reader *reader)
{
    return reader != NULL ? reader->msg : "";
}

NC_API const char *nc_npy_dtype_name(nc_npy_dtype dtype)
{
    return valid_dtype(dtype) ? dtypes[dtype].name : "unknown";
}

/* ---- writer ---------------------------------------------------------------------------- */

struct nc_npy_writer {
    /* Options, kept across files. */
    unsigned version; /* 0: the smallest that holds the header */
    int big_endian;
    int fortran_order;

    /* The file being written (file.fd >= 0 between begin and finish/abort). */
    nc__atomic_file file;
    nc__npy_header h;
    int swap;
    size_t rows_done;

    unsigned char *buf;
    char msg[NC_MSG_SIZE];
};

NC_API nc_status nc_npy_writer_create(nc_npy_writer **writer)
{
    nc_npy_writer *w;
    nc__create_clear();
    if (writer == NULL)
        return nc__create_fail(NC_ERR_NULL_ARGUMENT, "nc_npy_writer_create: writer is NULL");
    *writer = NULL;
    w = (nc_npy_writer *)calloc(1, sizeof *w);
    if (w == NULL) return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_npy_writer_create: no memory");
    w->buf = (unsigned char *)malloc(NPY_BUF_BYTES);
    if (w->buf == NULL) {
        free(w);
        return nc__create_fail(NC_ERR_OUT_OF_MEMORY, "nc_npy_writer_create: no memory for its "
                               "buffer");
    }
    nc__atomic_init(&w->file);
    *writer = w;
    return NC_SUCCESS;
}

NC_API void nc_npy_writer_abort(nc_npy_writer *writer)
{
    if (writer == NULL) return;
    nc__atomic_abort(&writer->file);
    writer->rows_done = 0;
}

NC_API void nc_npy_writer_destroy(nc_npy_writer *writer)
{
    if (writer == NULL) return;
    nc_npy_writer_abort(writer);
    free(writer->buf);
    free(writer);
}

NC_API nc_status nc_npy_writer_set_format(nc_npy_writer *writer, unsigned version,
                                          nc_npy_byte_order byte_order, int fortran_order)
{
    if (writer == NULL) return NC_ERR_NULL_ARGUMENT;
    if (version > 3)
        return nc__fail(writer->msg, NC_ERR_INVALID_VALUE, "format version %u is not 0 "
                        "(automatic), 1, 2 or 3", version);
    if (byte_order != NC_NPY_LITTLE_ENDIAN && byte_order != NC_NPY_BIG_ENDIAN)
        return nc__fail(writer->msg, NC_ERR_INVALID_VALUE, "unknown byte order %d",
                        (int)byte_order);
    writer->version = version;
    writer->big_endian = byte_order == NC_NPY_BIG_ENDIAN;
    writer->fortran_order = fortran_order != 0;
    return NC_SUCCESS;
}

/* Abort the current file and return status (message already set). */
static nc_status writer_fail(nc_npy_writer *w, nc_status st)
{
    nc_npy_writer_abort(w);
    return st;
}

NC_API nc_status nc_npy_writer_begin(nc_npy_writer *writer, const char *path, nc_npy_dtype dtype,
                                     size_t ndim, size_t rows, size_t cols)
{
    char text[192];
    int len;
    size_t hlen, prefix, total;
    unsigned version;
    uint64_t items;
    unsigned char pre[12];
    nc_npy_writer *w = writer;
    nc_status st;

    if (w == NULL) return NC_ERR_NULL_ARGUMENT;
    w->msg[0] = '\0';
    if (w->file.fd >= 0)
        return nc__fail(w->msg, NC_ERR_INVALID_VALUE, "a file is being written: finish or abort "
                        "it first");
    if (path == NULL) return nc__fail(w->msg, NC_ERR_NULL_ARGUMENT, "path is NULL");
    if (!valid_dtype(dtype))
        return nc__fail(w->msg, NC_ERR_DTYPE, "unknown dtype %d", (int)dtype);
    if (ndim != 1 && ndim != 2)
        return nc__fail(w->msg, NC_ERR_UNSUPPORTED, "ndim must be 1 or 2 (got %lu)",
                        (unsigned long)ndim);
    if (ndim == 1 && cols != 1)
        return nc__fail(w->msg, NC_ERR_SIZE_MISMATCH, "a 1-D array has cols == 1 (got %lu)",
                        (unsigned long)cols);

    memset(&w->h, 0, sizeof w->h);
    w->h.dtype = dtype;
    w->h.itemsize = dtypes[dtype].size;
    w->h.big_endian = w->big_endian && w->h.itemsize > 1;
    w->h.fortran_order = w->fortran_order;
    w->h.ndim = ndim;
    w->h.rows = rows;
    w->h.cols = cols;
    if (ndim == 1)
        len = snprintf(text, sizeof text, "{'descr': '%c%c%lu', 'fortran_order': %s, "
                       "'shape': (%lu,), }", w->h.itemsize == 1 ? '|' : w->h.big_endian ? '>' : '<',
                       dtypes[dtype].kind, (unsigned long)w->h.itemsize,
                       w->h.fortran_order ? "True" : "False", (unsigned long)rows);
    else
        len = snprintf(text, sizeof text, "{'descr': '%c%c%lu', 'fortran_order': %s, "
                       "'shape': (%lu, %lu), }",
                       w->h.itemsize == 1 ? '|' : w->h.big_endian ? '>' : '<', dtypes[dtype].kind,
                       (unsigned long)w->h.itemsize, w->h.fortran_order ? "True" : "False",
                       (unsigned long)rows, (unsigned long)cols);
    if (len < 0 || (size_t)len >= sizeof text)
        return nc__fail(w->msg, NC_ERR_INVALID_SIZE, "header does not fit");
    /* Pad with spaces and a newline so that the data starts on a multiple
     * of 64 bytes, as NumPy does. */
    version = w->version != 0 ? w->version : 1;
    prefix = version == 1 ? 10 : 12;
    total = prefix + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    hlen = total - prefix;
    if (nc__mul_size(rows, cols, &items) ||
        (uint64_t)items > ((uint64_t)INT64_MAX - total) / w->h.itemsize)
        return nc__fail(w->msg, NC_ERR_INVALID_SIZE, "shape (%lu, %lu): the byte count overflows",
                        (unsigned long)rows, (unsigned long)cols);
    w->h.version = version;
    w->h.data_offset = total;
    w->h.data_bytes = (uint64_t)items * w->h.itemsize;
    w->swap = w->h.itemsize > 1 && w->h.big_endian != host_big_endian();

    st = nc__atomic_begin(&w->file, path, w, w->msg, NULL);
    if (st != NC_SUCCESS) return writer_fail(w, st);

    memcpy(pre, npy_magic, 6);
    pre[6] = (unsigned char)version;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8 & 0xff);
    pre[10] = (unsigned char)(hlen >> 16 & 0xff);
    pre[11] = (unsigned char)(hlen >> 24 & 0xff);
    if (version == 1 && hlen > 65535) {
        nc__fail(w->msg, NC_ERR_INVALID_SIZE, "header too long for format 1.0");
        return writer_fail(w, NC_ERR_INVALID_SIZE);
    }
    memset(w->buf, ' ', hlen);
    memcpy(w->buf, text, (size_t)len);
    w->buf[hlen - 1] = '\n';
    if (nc__write_full(w->file.fd, pre, prefix, 0) != 0 ||
        nc__write_full(w->file.fd, w->buf, hlen, prefix) != 0) {
        nc__fail(w->msg, NC_ERR_IO, "cannot write '%.150s': %s", w->file.tmp, strerror(errno));
        return writer_fail(w, NC_ERR_IO);
    }
    w->rows_done = 0;
    return NC_SUCCESS;
}

static nc_status writer_ready(nc_npy_writer *w, size_t nrows, const void *x, int want_float)
{
    if (w->file.fd < 0) return nc__fail(w->msg, NC_ERR_UNAVAILABLE, "no file is being written");
    if (want_float != (dtypes[w->h.dtype].kind == 'f')) {
        nc__fail(w->msg, NC_ERR_DTYPE, "the file is %s: write it with %s", dtypes[w->h.dtype].name,
                 want_float ? "nc_npy_writer_write_labels" : "nc_npy_writer_write_rows");
        return writer_fail(w, NC_ERR_DTYPE);
    }
    if (nrows > w->h.rows - w->rows_done) {
        nc__fail(w->msg, NC_ERR_SIZE_MISMATCH, "%lu more rows exceed the %lu declared",
                 (unsigned long)nrows, (unsigned long)w->h.rows);
        return writer_fail(w, NC_ERR_SIZE_MISMATCH);
    }
    if (x == NULL && nrows > 0 && w->h.cols > 0) {
        nc__fail(w->msg, NC_ERR_NULL_ARGUMENT, "the input is NULL");
        return writer_fail(w, NC_ERR_NULL_ARGUMENT);
    }
    return NC_SUCCESS;
}

/* Write n values (item j from x[(j / per_row) * ld + j % per_row]) as items
 * starting at item index first. */
static nc_status write_doubles(nc_npy_writer *w, uint64_t first, size_t n, const double *x,
                               size_t per_row, size_t ld)
{
    const size_t isz = w->h.itemsize, chunk = NPY_BUF_BYTES / isz;
    size_t done = 0, row = 0, col = 0;
    while (done < n) {
        const size_t m = n - done < chunk ? n - done : chunk;
        size_t j;
        for (j = 0; j < m; j++) {
            const double v = x[row * ld + col];
            unsigned char item[8];
            if (w->h.dtype == NC_NPY_FLOAT32) {
                const float f = (float)v;
                if (f - f != 0.0f && v - v == 0.0) {
                    nc__fail(w->msg, NC_ERR_INVALID_VALUE, "value %g overflows float32", v);
                    return writer_fail(w, NC_ERR_INVALID_VALUE);
                }
                memcpy(item, &f, 4);
            } else {
                memcpy(item, &v, 8);
            }
            item_copy(w->buf + j * isz, item, isz, w->swap);
            if (++col == per_row) {
                col = 0;
                row++;
            }
        }
        if (nc__write_full(w->file.fd, w->buf, m * isz, w->h.data_offset + (first + done) * isz) != 0) {
            nc__fail(w->msg, NC_ERR_IO, "write failed: %s", strerror(errno));
            return writer_fail(w, NC_ERR_IO);
        }
        done += m;
    }
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_writer_write_rows(nc_npy_writer *writer, const double *x, size_t nrows,
                                          size_t ld)
{
    nc_status st;
    size_t c, ext;
    nc_npy_writer *w = writer;
    if (w == NULL) return NC_ERR_NULL_ARGUMENT;
    st = writer_ready(w, nrows, x, 1);
    if (st != NC_SUCCESS) return st;
    if (nrows == 0 || w->h.cols == 0) {
        w->rows_done += nrows;
        return NC_SUCCESS;
    }
    if (ld < w->h.cols) {
        nc__fail(w->msg, NC_ERR_SIZE_MISMATCH, "ld = %lu is smaller than the %lu columns",
                 (unsigned long)ld, (unsigned long)w->h.cols);
        return writer_fail(w, NC_ERR_SIZE_MISMATCH);
    }
    if (nc__mul_size(nrows - 1, ld, &ext) || ext > SIZE_MAX - w->h.cols) {
        nc__fail(w->msg, NC_ERR_INVALID_SIZE, "the input is too large to index");
        return writer_fail(w, NC_ERR_INVALID_SIZE);
    }
    if (!w->h.fortran_order || w->h.cols == 1) {
        st = write_doubles(w, (uint64_t)w->rows_done * w->h.cols, nrows * w->h.cols, x,
                           w->h.cols, ld);
    } else {
        for (c = 0, st = NC_SUCCESS; c < w->h.cols && st == NC_SUCCESS; c++)
            st = write_doubles(w, (uint64_t)c * w->h.rows + w->rows_done, nrows, x + c, 1, ld);
    }
    if (st == NC_SUCCESS) w->rows_done += nrows;
    return st;
}

NC_API nc_status nc_npy_writer_write_labels(nc_npy_writer *writer, const int32_t *labels,
                                            size_t n)
{
    nc_status st;
    size_t isz, chunk, done = 0;
    int64_t lo, hi;
    nc_npy_writer *w = writer;
    if (w == NULL) return NC_ERR_NULL_ARGUMENT;
    st = writer_ready(w, n, labels, 0);
    if (st != NC_SUCCESS) return st;
    if (w->h.cols != 1) {
        nc__fail(w->msg, NC_ERR_SIZE_MISMATCH, "labels are written to (N,) or (N, 1) arrays");
        return writer_fail(w, NC_ERR_SIZE_MISMATCH);
    }
    isz = w->h.itemsize;
    chunk = NPY_BUF_BYTES / isz;
    if (dtypes[w->h.dtype].kind == 'u') {
        lo = 0;
        hi = isz >= 4 ? INT32_MAX : (int64_t)((1u << (8 * isz)) - 1);
    } else {
        lo = isz >= 4 ? INT32_MIN : -((int64_t)1 << (8 * isz - 1));
        hi = isz >= 4 ? INT32_MAX : ((int64_t)1 << (8 * isz - 1)) - 1;
    }
    while (done < n) {
        const size_t m = n - done < chunk ? n - done : chunk;
        size_t j;
        for (j = 0; j < m; j++) {
            const int32_t v = labels[done + j];
            unsigned char item[8];
            if (v < lo || v > hi) {
                nc__fail(w->msg, NC_ERR_INVALID_VALUE, "label %ld does not fit %s", (long)v,
                         dtypes[w->h.dtype].name);
                return writer_fail(w, NC_ERR_INVALID_VALUE);
            }
            switch (w->h.dtype) {
            case NC_NPY_INT8: { int8_t t = (int8_t)v; memcpy(item, &t, 1); break; }
            case NC_NPY_INT16: { int16_t t = (int16_t)v; memcpy(item, &t, 2); break; }
            case NC_NPY_INT32: { int32_t t = v; memcpy(item, &t, 4); break; }
            case NC_NPY_INT64: { int64_t t = v; memcpy(item, &t, 8); break; }
            case NC_NPY_UINT8: { uint8_t t = (uint8_t)v; memcpy(item, &t, 1); break; }
            case NC_NPY_UINT16: { uint16_t t = (uint16_t)v; memcpy(item, &t, 2); break; }
            case NC_NPY_UINT32: { uint32_t t = (uint32_t)v; memcpy(item, &t, 4); break; }
            default: { uint64_t t = (uint64_t)v; memcpy(item, &t, 8); break; }
            }
            item_copy(w->buf + j * isz, item, isz, w->swap);
        }
        if (nc__write_full(w->file.fd, w->buf, m * isz,
                       w->h.data_offset + ((uint64_t)w->rows_done + done) * isz) != 0) {
            nc__fail(w->msg, NC_ERR_IO, "write failed: %s", strerror(errno));
            return writer_fail(w, NC_ERR_IO);
        }
        done += m;
    }
    w->rows_done += n;
    return NC_SUCCESS;
}

NC_API nc_status nc_npy_writer_finish(nc_npy_writer *writer)
{
    nc_npy_writer *w = writer;
    nc_status st;
    if (w == NULL) return NC_ERR_NULL_ARGUMENT;
    if (w->file.fd < 0) return nc__fail(w->msg, NC_ERR_UNAVAILABLE, "no file is being written");
    if (w->rows_done != w->h.rows) {
        nc__fail(w->msg, NC_ERR_SIZE_MISMATCH, "only %lu of the %lu declared rows were written",
                 (unsigned long)w->rows_done, (unsigned long)w->h.rows);
        return writer_fail(w, NC_ERR_SIZE_MISMATCH);
    }
    if (ftruncate(w->file.fd, (off_t)(w->h.data_offset + w->h.data_bytes)) != 0) {
        nc__fail(w->msg, NC_ERR_IO, "truncate of '%.150s' failed: %s", w->file.path,
                 strerror(errno));
        return writer_fail(w, NC_ERR_IO);
    }
    st = nc__atomic_commit(&w->file, w->msg, NULL); /* fsync, rename, fsync the directory */
    nc_npy_writer_abort(w);                          /* the file is idle: resets the rows */
    return st;
}

NC_API const char *nc_npy_writer_last_error(const nc_npy_writer *writer)
{
    return writer != NULL ? writer->msg : "";
}
