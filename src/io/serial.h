/*
 * io/serial.h - private helpers for the library's binary files (checkpoints,
 * stream files) and for replacing any file atomically (also .npy writes).
 * Never installed; nothing public depends on it.
 *
 * A file image is: magic (8 bytes), format version (u32), flags (u32),
 * payload length (u64), payload, FNV-1a 64 checksum of everything before it
 * (u64). Integers and doubles are little-endian whatever the host, so files
 * move between machines.
 *
 * The payload is produced and consumed by one visitor per object that walks
 * its fields in a fixed order, whatever the mode:
 *   SIZE   count the bytes;
 *   WRITE  serialise;
 *   CHECK  read the fields that must match the target (sizes, labels, kind)
 *          and compare them, changing nothing;
 *   READ   restore.
 * Save and load therefore cannot drift apart. A loader makes failure leave
 * its target untouched either by a CHECK visit before the READ visit, or by
 * READing into a scratch object that replaces the target only once valid.
 */
#ifndef NC_SERIAL_H
#define NC_SERIAL_H

#include "common/common.h"

/* Bytes before the payload: magic 8, version 4, flags 4, payload length 8. */
#define NC_SER_HEADER 24u

/* One file format. */
typedef struct nc__ser_format {
    const char *magic;    /* 8 bytes, not necessarily NUL-terminated */
    uint32_t version;     /* the only version read and written */
    uint32_t known_flags; /* flag bits this version defines (others: NC_ERR_FORMAT) */
    const char *name;     /* for messages: "checkpoint", "stream file" */
} nc__ser_format;

typedef enum nc__ser_mode { NC_SER_SIZE, NC_SER_WRITE, NC_SER_CHECK, NC_SER_READ } nc__ser_mode;

/* The state of one visit. After a failure every field call is a no-op. */
typedef struct nc__ser {
    nc__ser_mode mode;
    unsigned char *buf; /* the payload (WRITE, CHECK, READ) */
    size_t pos, cap;
    nc_status status;   /* first failure */
    char *msg;          /* NC_MSG_SIZE: "<name>: <what>" of the first failure */
    const char *name;
} nc__ser;

/* A visitor over one object (checkpoint.c, stream.c). */
typedef void (*nc__ser_visitor)(nc__ser *s, void *object);

void nc__put_u64(unsigned char *p, uint64_t v); /* little-endian */
uint64_t nc__get_u64(const unsigned char *p);
uint64_t nc__fnv1a(const unsigned char *p, size_t n); /* FNV-1a, 64 bit */

/* Record the first failure of a visit. */
void nc__ser_fail(nc__ser *s, nc_status status, const char *what);

/* ---- fields (each 8 bytes, or 8 per array element) ---------------------------
 * In WRITE mode the value is written; in CHECK mode it is read and, where
 * stated, compared or validated; in READ mode it is assigned. */

/* A raw u64: WRITE writes v and returns it; CHECK and READ return the stored
 * value (NC_ERR_TRUNCATED past the payload) and assign nothing. */
uint64_t nc__ser_raw(nc__ser *s, uint64_t v);
/* A field that must equal the target's value (NC_ERR_MISMATCH, with both
 * values in the message); never assigned. */
void nc__ser_expect(nc__ser *s, uint64_t v, const char *what);
/* State fields, assigned in READ mode only. */
void nc__ser_size(nc__ser *s, size_t *p);
void nc__ser_sizes(nc__ser *s, size_t *x, size_t n);
void nc__ser_int(nc__ser *s, int *p);
void nc__ser_double(nc__ser *s, double *p);
/* An enum or flag in [0, max]: NC_ERR_FORMAT otherwise (CHECK and READ). */
void nc__ser_enum(nc__ser *s, int *p, int max, const char *what);
/* A flag that decides what follows: v in WRITE mode, the stored value
 * (1 or 0; NC_ERR_FORMAT for any other) in the others; never assigned. */
int nc__ser_flag(nc__ser *s, int v);
/* n doubles at x: written, skipped (CHECK) or restored (READ). */
void nc__ser_f64s(nc__ser *s, double *x, size_t n);

/* Fields read into the caller's hands, so that a loader can validate a
 * value in CHECK mode, before anything changes: each writes v in WRITE mode
 * and returns v (SIZE, WRITE) or the stored value (CHECK, READ); none
 * assigns. */
double nc__ser_double_value(nc__ser *s, double v);
/* NC_ERR_FORMAT if the stored value does not fit a size_t. */
size_t nc__ser_size_value(nc__ser *s, size_t v);
/* An enum or flag in [0, max]: NC_ERR_FORMAT with what otherwise. */
int nc__ser_enum_value(nc__ser *s, int v, int max, const char *what);
/* 1 in CHECK and READ mode while the visit has not failed: the values
 * returned above are the file's, to be validated. */
int nc__ser_loading(const nc__ser *s);
/* Record a validation's refusal (st != NC_SUCCESS, what its message). */
void nc__ser_refuse(nc__ser *s, nc_status st, const char *what);

/* A check of columns col0 .. col0 + cols - 1 of a stored rows x cols
 * column-major array (decoded, the first at x, ld rows): NC_SUCCESS, or a
 * status and what is wrong in what (NC_MSG_SIZE). */
typedef nc_status (*nc__ser_cols_check)(const double *x, size_t rows, size_t col0, size_t cols,
                                        const void *ctx, char *what);
/* nc__ser_f64s of rows x cols doubles that CHECK mode also validates: the
 * stored values are decoded a few columns at a time and passed to check
 * (NC_ERR_OUT_OF_MEMORY if no scratch space). */
void nc__ser_f64s_checked(nc__ser *s, double *x, size_t rows, size_t cols, nc__ser_cols_check check,
                          const void *ctx);

/* ---- file images -------------------------------------------------------------- */

/* Serialise object (SIZE, then WRITE) into an image of format f with flags,
 * and replace path with it atomically (nc__atomic_write). NC_ERR_OUT_OF_MEMORY,
 * NC_ERR_IO; msg (NC_MSG_SIZE) gets the details. */
nc_status nc__ser_save(const char *path, const nc__ser_format *f, uint32_t flags,
                       nc__ser_visitor visit, void *object, char *msg);
/* Read path whole and verify it as an image of format f. On NC_SUCCESS,
 * *image (free it) holds the file, *payload the payload's length (it starts
 * at *image + NC_SER_HEADER) and *flags the flags. Refusals: NC_ERR_IO,
 * NC_ERR_OUT_OF_MEMORY, NC_ERR_FORMAT (magic, version, unknown flags),
 * NC_ERR_TRUNCATED, NC_ERR_FILE_SIZE, NC_ERR_CHECKSUM. */
nc_status nc__ser_open(const char *path, const nc__ser_format *f, unsigned char **image,
                       size_t *payload, uint32_t *flags, char *msg);
/* Start a CHECK or READ visit of the payload of a verified image. */
void nc__ser_begin(nc__ser *s, nc__ser_mode mode, unsigned char *image, size_t payload,
                   const nc__ser_format *f, char *msg);

/* ---- files --------------------------------------------------------------------- */

/* Read or write exactly n bytes at offset off (pread/pwrite, EINTR retried):
 * 0, or -1 with errno (a read that meets the end of the file sets errno 0). */
int nc__read_full(int fd, unsigned char *p, size_t n, uint64_t off);
int nc__write_full(int fd, const unsigned char *p, size_t n, uint64_t off);

/* "a directory", "a FIFO", ... for the st_mode of a file (messages). */
const char *nc__file_kind(unsigned mode);

/* Read a regular file whole into *data (free it; never NULL on success) of
 * *n bytes. NC_ERR_IO, NC_ERR_OUT_OF_MEMORY; msg gets "<who>: ..." (who may
 * be NULL). */
nc_status nc__read_file(const char *path, unsigned char **data, size_t *n, char *msg,
                        const char *who);

/*
 * A file written beside its target and renamed over it, so that the target
 * is either the old file or the complete new one, never a mixture: the
 * temporary file "<path>.<pid>.<tag>.<n>.tmp" is created in the target's
 * directory with O_EXCL (mode 0666 less the umask); commit fsyncs, closes,
 * renames it over the target and fsyncs the directory; any failure before
 * the rename removes it, and nothing after the rename is a failure (the new
 * file is complete and in place). Begin also removes the temporary files of
 * the same target left by processes that no longer exist (an interrupted
 * save: killed, or a power loss). Messages go to msg prefixed by "<who>: "
 * (who may be NULL).
 */
typedef struct nc__atomic_file {
    int fd;     /* the temporary file, -1 when none is open */
    char *path; /* the target */
    char *tmp;  /* the temporary file's name, NULL when none was created */
} nc__atomic_file;

/* An idle handle (fd -1, no names). */
void nc__atomic_init(nc__atomic_file *a);
/* Create the temporary file for path; tag (a handle's address) tells apart
 * the writers of one process. NC_ERR_OUT_OF_MEMORY, NC_ERR_IO. */
nc_status nc__atomic_begin(nc__atomic_file *a, const char *path, const void *tag, char *msg,
                           const char *who);
/* Put the written file in place. Whatever the outcome the handle is idle
 * afterwards; NC_ERR_IO if the fsync, close or rename failed (temporary
 * file removed, target untouched); NC_SUCCESS once the rename is done, even
 * if the directory's fsync then fails. */
nc_status nc__atomic_commit(nc__atomic_file *a, char *msg, const char *who);
/* Abandon: close and remove the temporary file; the handle becomes idle.
 * Accepts an idle handle. */
void nc__atomic_abort(nc__atomic_file *a);
/* Replace path by the n bytes at data, atomically. */
nc_status nc__atomic_write(const char *path, const unsigned char *data, size_t n,
                           const void *tag, char *msg, const char *who);

#endif /* NC_SERIAL_H */
