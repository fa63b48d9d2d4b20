/*
 * io/npy.h - the .npy header parser (npy.c), shared with the fuzz target.
 * Never installed; nothing public depends on it.
 */
#ifndef NC_NPY_H
#define NC_NPY_H

#include "common/common.h"

/* ---- .npy header ------------------------------------------------------------ */

/* Largest header text accepted (NumPy itself refuses more than 10000 bytes
 * by default; version 2.0 allows up to 4 GiB, which no real file needs). */
#define NC_NPY_MAX_HEADER ((size_t)1 << 20)

typedef struct nc__npy_header {
    unsigned version;       /* format major version: 1, 2 or 3 */
    size_t data_offset;     /* bytes before the data: magic, version, length, text */
    nc_npy_dtype dtype;
    size_t itemsize;        /* bytes per element */
    int big_endian;         /* byte order of the data (0 for 1-byte types) */
    int fortran_order;
    size_t ndim;            /* 1 or 2 */
    size_t rows, cols;      /* shape[0], and shape[1] (1 when ndim == 1) */
    uint64_t data_bytes;    /* rows * cols * itemsize, checked for overflow */
} nc__npy_header;

/*
 * Parse the start of a .npy file held in buf[0 .. len). On NC_SUCCESS, *h
 * describes the array. If buf is too short to hold the whole header,
 * returns NC_ERR_TRUNCATED and sets *needed to the number of bytes the
 * header needs (0 if even the fixed prefix is incomplete: then 12 bytes
 * suffice to learn it). Other failures: NC_ERR_FORMAT (magic, version,
 * header syntax, keys), NC_ERR_DTYPE, NC_ERR_UNSUPPORTED (ndim other than
 * 1 or 2), NC_ERR_INVALID_SIZE (byte count overflows). msg (NC_MSG_SIZE)
 * receives the details; it may be NULL. Never reads past buf[len - 1].
 */
nc_status nc__npy_parse_header(const unsigned char *buf, size_t len, nc__npy_header *h,
                               size_t *needed, char *msg);

#endif /* NC_NPY_H */
