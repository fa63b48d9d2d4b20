/*
 * fuzz_npy.c - libFuzzer target for the .npy header parser and reader.
 *
 * Each input is parsed from memory by the header parser, then written to a
 * file and opened with nc_npy_reader, whose every row and label is read in
 * chunks. Invariants checked beyond the sanitizers: a header accepted from
 * memory is accepted from the file unless the size disagrees; the data
 * offset lies inside the input; the shape's byte count matches the file.
 *
 *   make fuzz                   build and run for FUZZ_SECONDS (default 25)
 *   tests/fuzz/bin/fuzz_npy DIR run on a corpus directory
 * Seed corpus: tests/fuzz/corpus (regenerate with tests/fuzz/make_corpus.py).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/npy.h"

static char dir_[256], path_[300];
static double rows_[4096];
static float frows_[4096];
static int32_t labels_[4096];

static void cleanup(void)
{
    if (path_[0]) unlink(path_);
    if (dir_[0]) rmdir(dir_);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");
    (void)argc;
    (void)argv;
    snprintf(dir_, sizeof dir_, "%s/nc_fuzz.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir_) == NULL) abort();
    snprintf(path_, sizeof path_, "%s/in.npy", dir_);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nc__npy_header h;
    size_t needed = 0;
    char msg[NC_MSG_SIZE];
    nc_status mem_st, st;
    nc_npy_reader *r = NULL;
    FILE *f;

    mem_st = nc__npy_parse_header(data, size, &h, &needed, msg);
    if (mem_st == NC_SUCCESS) {
        if (h.data_offset > size || h.itemsize == 0 || h.itemsize > 8 || h.ndim < 1 || h.ndim > 2)
            abort();
        if (h.ndim == 1 && h.cols != 1) abort();
    } else if (mem_st == NC_ERR_TRUNCATED && needed != 0 && needed <= size) {
        abort(); /* claims more bytes are needed than it was given */
    }
    if (memchr(msg, '\0', sizeof msg) == NULL) abort();

    f = fopen(path_, "wb");
    if (f == NULL) return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    if (nc_npy_reader_create(&r) != NC_SUCCESS) abort();
    st = nc_npy_reader_open(r, path_);
    if (mem_st == NC_SUCCESS && st != NC_SUCCESS && st != NC_ERR_FILE_SIZE && st != NC_ERR_TRUNCATED)
        abort();
    if (mem_st != NC_SUCCESS && st == NC_SUCCESS) abort();
    if (st == NC_SUCCESS) {
        nc_npy_dtype t;
        size_t nd, rows, cols, row0;
        if (nc_npy_reader_info(r, &t, &nd, &rows, &cols) != NC_SUCCESS) abort();
        if ((uint64_t)h.data_offset + (uint64_t)rows * cols * h.itemsize != (uint64_t)size)
            abort();
        if (rows > 0 && cols > 0 && cols <= 4096) {
            const size_t chunk = 4096 / cols;
            for (row0 = 0; row0 < rows; row0 += chunk) {
                const size_t n = rows - row0 < chunk ? rows - row0 : chunk;
                st = nc_npy_reader_read_rows(r, row0, n, rows_, cols);
                if (st != NC_SUCCESS && st != NC_ERR_DTYPE) abort();
                /* float32 files also as floats: the same values (widening is exact,
                 * NaN compared by being NaN), every other dtype refused */
                {
                    const nc_status fs = nc_npy_reader_read_rows_float(r, row0, n, frows_, cols);
                    size_t e;
                    if (t != NC_NPY_FLOAT32 ? fs != NC_ERR_DTYPE : fs != st) abort();
                    if (fs == NC_SUCCESS)
                        for (e = 0; e < n * cols; e++)
                            if ((double)frows_[e] != rows_[e] &&
                                !(frows_[e] != frows_[e] && rows_[e] != rows_[e]))
                                abort();
                }
            }
        }
        if (cols == 1)
            for (row0 = 0; row0 < rows; row0 += 4096) {
                const size_t n = rows - row0 < 4096 ? rows - row0 : 4096;
                st = nc_npy_reader_read_labels(r, row0, n, labels_, row0 % 2 ? 5 : 0);
                if (st != NC_SUCCESS && st != NC_ERR_DTYPE && st != NC_ERR_LABEL_OUT_OF_RANGE)
                    abort();
            }
        /* out-of-range requests must fail cleanly */
        if (nc_npy_reader_read_rows(r, rows, 1, rows_, cols) == NC_SUCCESS) abort();
    }
    nc_npy_reader_destroy(r);
    return 0;
}
