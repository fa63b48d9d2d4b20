/*
 * serial.c - the library's binary file images (visitor fields, little-endian
 * encoding, FNV-1a checksum, verification) and atomic file replacement
 * (serial.h). Used by checkpoint.c, stream.c and npy.c.
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "io/serial.h"

#include <stdarg.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- encoding ------------------------------------------------------------------ */

void nc__put_u64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t nc__get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t nc__fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- fields -------------------------------------------------------------------- */

void nc__ser_fail(nc__ser *s, nc_status status, const char *what)
{
    if (s->status == NC_SUCCESS) {
        s->status = status;
        nc__fail(s->msg, status, "%s: %s", s->name, what);
    }
}

uint64_t nc__ser_raw(nc__ser *s, uint64_t v)
{
    if (s->status != NC_SUCCESS) return v;
    if (s->mode == NC_SER_SIZE) {
        s->pos += 8;
        return v;
    }
    if (s->cap - s->pos < 8) {
        nc__ser_fail(s, NC_ERR_TRUNCATED, "payload ends early");
        return v;
    }
    if (s->mode == NC_SER_WRITE)
        nc__put_u64(s->buf + s->pos, v);
    else
        v = nc__get_u64(s->buf + s->pos);
    s->pos += 8;
    return v;
}

void nc__ser_expect(nc__ser *s, uint64_t v, const char *what)
{
    const uint64_t r = nc__ser_raw(s, v);
    if ((s->mode == NC_SER_CHECK || s->mode == NC_SER_READ) && s->status == NC_SUCCESS && r != v) {
        char text[NC_MSG_SIZE];
        snprintf(text, sizeof text, "%s (%llu in the file, %llu here)", what, (unsigned long long)r,
                 (unsigned long long)v);
        nc__ser_fail(s, NC_ERR_MISMATCH, text);
    }
}

void nc__ser_size(nc__ser *s, size_t *p)
{
    const uint64_t r = nc__ser_raw(s, (uint64_t)*p);
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) {
        if (r > (uint64_t)SIZE_MAX)
            nc__ser_fail(s, NC_ERR_FORMAT, "a count does not fit this machine's size_t");
        else
            *p = (size_t)r;
    }
}

void nc__ser_sizes(nc__ser *s, size_t *x, size_t n)
{
    size_t i;
    for (i = 0; i < n && s->status == NC_SUCCESS; i++) nc__ser_size(s, x + i);
}

void nc__ser_int(nc__ser *s, int *p)
{
    const uint64_t r = nc__ser_raw(s, (uint64_t)(int64_t)*p);
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) *p = (int)(int64_t)r;
}

void nc__ser_double(nc__ser *s, double *p)
{
    uint64_t u;
    memcpy(&u, p, 8);
    u = nc__ser_raw(s, u);
    if (s->mode == NC_SER_READ && s->status == NC_SUCCESS) memcpy(p, &u, 8);
}

void nc__ser_enum(nc__ser *s, int *p, int max, const char *what)
{
    const uint64_t r = nc__ser_raw(s, (uint64_t)*p);
    if (s->mode == NC_SER_SIZE || s->mode == NC_SER_WRITE || s->status != NC_SUCCESS) return;
    if (r > (uint64_t)max)
        nc__ser_fail(s, NC_ERR_FORMAT, what);
    else if (s->mode == NC_SER_READ)
        *p = (int)r;
}

int nc__ser_flag(nc__ser *s, int v) { return nc__ser_enum_value(s, v != 0, 1, "a flag is not 0 or 1"); }

double nc__ser_double_value(nc__ser *s, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    u = nc__ser_raw(s, u);
    if (s->mode == NC_SER_CHECK || s->mode == NC_SER_READ) memcpy(&v, &u, 8);
    return v;
}

size_t nc__ser_size_value(nc__ser *s, size_t v)
{
    const uint64_t r = nc__ser_raw(s, (uint64_t)v);
    if (s->mode != NC_SER_CHECK && s->mode != NC_SER_READ) return v;
    if (r > (uint64_t)SIZE_MAX) {
        nc__ser_fail(s, NC_ERR_FORMAT, "a count does not fit this machine's size_t");
        return v;
    }
    return (size_t)r;
}

int nc__ser_enum_value(nc__ser *s, int v, int max, const char *what)
{
    const uint64_t r = nc__ser_raw(s, (uint64_t)v);
    if (s->mode == NC_SER_SIZE || s->mode == NC_SER_WRITE || s->status != NC_SUCCESS) return v;
    if (r > (uint64_t)max) {
        nc__ser_fail(s, NC_ERR_FORMAT, what);
        return v;
    }
    return (int)r;
}

int nc__ser_loading(const nc__ser *s)
{
    return (s->mode == NC_SER_CHECK || s->mode == NC_SER_READ) && s->status == NC_SUCCESS;
}

void nc__ser_refuse(nc__ser *s, nc_status st, const char *what)
{
    if (st != NC_SUCCESS) nc__ser_fail(s, st, what);
}

void nc__ser_f64s_checked(nc__ser *s, double *x, size_t rows, size_t cols, nc__ser_cols_check check,
                          const void *ctx)
{
    const size_t n = rows * cols; /* the size of an array the target holds */
    size_t chunk, col0, i;
    double *buf;
    char what[NC_MSG_SIZE];
    if (s->mode != NC_SER_CHECK || s->status != NC_SUCCESS || n == 0) {
        nc__ser_f64s(s, x, n);
        return;
    }
    if ((s->cap - s->pos) / 8 < n) {
        nc__ser_fail(s, NC_ERR_TRUNCATED, "payload ends early");
        return;
    }
    chunk = rows >= 4096 ? 1 : 4096 / rows;
    if (chunk > cols) chunk = cols;
    buf = (double *)malloc(rows * chunk * sizeof(double));
    if (buf == NULL) {
        nc__ser_fail(s, NC_ERR_OUT_OF_MEMORY, "no memory to check the stored values");
        return;
    }
    for (col0 = 0; col0 < cols && s->status == NC_SUCCESS; col0 += chunk) {
        const size_t c = cols - col0 < chunk ? cols - col0 : chunk;
        const unsigned char *p = s->buf + s->pos + 8 * rows * col0;
        nc_status st;
        for (i = 0; i < rows * c; i++) {
            const uint64_t u = nc__get_u64(p + 8 * i);
            memcpy(buf + i, &u, 8);
        }
        st = check(buf, rows, col0, c, ctx, what);
        if (st != NC_SUCCESS) nc__ser_fail(s, st, what);
    }
    free(buf);
    if (s->status == NC_SUCCESS) s->pos += 8 * n;
}

void nc__ser_f64s(nc__ser *s, double *x, size_t n)
{
    size_t i;
    if (s->status != NC_SUCCESS) return;
    if (s->mode == NC_SER_SIZE) {
        s->pos += 8 * n;
        return;
    }
    if ((s->cap - s->pos) / 8 < n) {
        nc__ser_fail(s, NC_ERR_TRUNCATED, "payload ends early");
        return;
    }
    if (s->mode == NC_SER_CHECK) {
        s->pos += 8 * n;
        return;
    }
    for (i = 0; i < n; i++) nc__ser_double(s, x + i);
}

/* ---- file images ------------------------------------------------------------------ */

nc_status nc__ser_save(const char *path, const nc__ser_format *f, uint32_t flags,
                       nc__ser_visitor visit, void *object, char *msg)
{
    nc__ser s;
    unsigned char *image;
    size_t payload, total;
    nc_status st;
    memset(&s, 0, sizeof s);
    s.mode = NC_SER_SIZE;
    s.msg = msg;
    s.name = f->name;
    visit(&s, object);
    payload = s.pos;
    if (payload > SIZE_MAX - NC_SER_HEADER - 8)
        return nc__fail(msg, NC_ERR_OUT_OF_MEMORY, "%s: the payload's size overflows", f->name);
    total = NC_SER_HEADER + payload + 8;
    image = (unsigned char *)malloc(total);
    if (image == NULL) return nc__fail(msg, NC_ERR_OUT_OF_MEMORY, "%s: %zu bytes", f->name, total);
    memcpy(image, f->magic, 8);
    nc__put_u64(image + 8, (uint64_t)f->version | (uint64_t)flags << 32);
    nc__put_u64(image + 16, payload);
    s.mode = NC_SER_WRITE;
    s.buf = image + NC_SER_HEADER;
    s.pos = 0;
    s.cap = payload;
    visit(&s, object);
    if (s.status != NC_SUCCESS || s.pos != payload) { /* SIZE and WRITE walked differently */
        free(image);
        return nc__fail(msg, NC_ERR_INVALID_VALUE, "%s: the object changed while it was saved",
                        f->name);
    }
    nc__put_u64(image + NC_SER_HEADER + payload, nc__fnv1a(image, NC_SER_HEADER + payload));
    st = nc__atomic_write(path, image, total, object, msg, f->name);
    free(image);
    return st;
}

nc_status nc__ser_open(const char *path, const nc__ser_format *f, unsigned char **image,
                       size_t *payload, uint32_t *flags, char *msg)
{
    unsigned char *buf;
    size_t len;
    uint64_t head, plen;
    nc_status st;
    *image = NULL;
    st = nc__read_file(path, &buf, &len, msg, f->name);
    if (st != NC_SUCCESS) return st;
#define OPEN_FAIL(code, ...)                               \
    do {                                                   \
        free(buf);                                         \
        return nc__fail(msg, code, __VA_ARGS__);           \
    } while (0)
    if (len < NC_SER_HEADER + 8) {
        /* A cut-off image keeps its magic: truncated; anything else is not one. */
        const int magic = len >= 8 && memcmp(buf, f->magic, 8) == 0;
        OPEN_FAIL(magic ? NC_ERR_TRUNCATED : NC_ERR_FORMAT,
                  "%s: %.150s is too short (%zu bytes) to be a %s", f->name, path, len, f->name);
    }
    if (memcmp(buf, f->magic, 8) != 0)
        OPEN_FAIL(NC_ERR_FORMAT, "%s: %.150s has no %s magic", f->name, path, f->name);
    head = nc__get_u64(buf + 8);
    if ((head & 0xffffffffu) != f->version)
        OPEN_FAIL(NC_ERR_FORMAT, "%s: format version %lu is not %lu", f->name,
                  (unsigned long)(head & 0xffffffffu), (unsigned long)f->version);
    if ((head >> 32) & ~(uint64_t)f->known_flags)
        OPEN_FAIL(NC_ERR_FORMAT, "%s: unknown flags 0x%lx in format version %lu", f->name,
                  (unsigned long)(head >> 32), (unsigned long)f->version);
    plen = nc__get_u64(buf + 16);
    if (plen > (uint64_t)len - NC_SER_HEADER - 8)
        OPEN_FAIL(NC_ERR_TRUNCATED, "%s: %.150s ends before its declared payload", f->name, path);
    if (plen < (uint64_t)len - NC_SER_HEADER - 8)
        OPEN_FAIL(NC_ERR_FILE_SIZE, "%s: %.150s has bytes after its checksum", f->name, path);
    if (nc__fnv1a(buf, NC_SER_HEADER + (size_t)plen) != nc__get_u64(buf + NC_SER_HEADER + plen))
        OPEN_FAIL(NC_ERR_CHECKSUM, "%s: %.150s is corrupted (checksum)", f->name, path);
#undef OPEN_FAIL
    *image = buf;
    *payload = (size_t)plen;
    *flags = (uint32_t)(head >> 32);
    return NC_SUCCESS;
}

void nc__ser_begin(nc__ser *s, nc__ser_mode mode, unsigned char *image, size_t payload,
                   const nc__ser_format *f, char *msg)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->buf = image + NC_SER_HEADER;
    s->cap = payload;
    s->msg = msg;
    s->name = f->name;
}

/* ---- files ------------------------------------------------------------------------ */

/* A message "<who>: <text>" (or just the text when who is NULL). */
static nc_status io_fail(char *msg, nc_status status, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static nc_status io_fail(char *msg, nc_status status, const char *who, const char *fmt, ...)
{
    char text[NC_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return nc__fail(msg, status, "%s%s%s", who ? who : "", who ? ": " : "", text);
}

int nc__read_full(int fd, unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int nc__write_full(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

const char *nc__file_kind(unsigned mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISREG(mode)) return "a regular file";
    return "of an unknown type";
}

nc_status nc__read_file(const char *path, unsigned char **data, size_t *n, char *msg,
                        const char *who)
{
    struct stat sb;
    unsigned char *buf;
    size_t len;
    /* O_NONBLOCK: opening a FIFO without a writer would block forever; a
     * regular file reads the same either way */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    *data = NULL;
    *n = 0;
    if (fd < 0)
        return io_fail(msg, NC_ERR_IO, who, "cannot open %.150s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        const int err = errno;
        close(fd);
        return io_fail(msg, NC_ERR_IO, who, "cannot read %.150s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return io_fail(msg, NC_ERR_IO, who, "cannot read %.150s: it is %s, not a regular file",
                       path, nc__file_kind(sb.st_mode));
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return io_fail(msg, NC_ERR_OUT_OF_MEMORY, who, "%.150s is too large", path);
    }
    len = (size_t)sb.st_size;
    buf = (unsigned char *)malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        close(fd);
        return io_fail(msg, NC_ERR_OUT_OF_MEMORY, who, "%zu bytes", len);
    }
    if (nc__read_full(fd, buf, len, 0) != 0) {
        const int err = errno;
        close(fd);
        free(buf);
        return io_fail(msg, NC_ERR_IO, who, "cannot read %.150s: %s", path,
                       err != 0 ? strerror(err) : "it shrank while it was read");
    }
    close(fd);
    *data = buf;
    *n = len;
    return NC_SUCCESS;
}

static char *dup_string(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *p = (char *)malloc(n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

/* fsync the directory holding path, so that the rename is durable. */
/* The directory of path ("." for a bare name), malloc'd; NULL without memory. */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t n;
    if (slash == NULL) return dup_string(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    dir = (char *)malloc(n + 1);
    if (dir != NULL) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

static int sync_parent_dir(const char *path)
{
    char *dir = parent_dir(path);
    int fd, rc;
    if (dir == NULL) return -1;
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    rc = fsync(fd);
    /* Some file systems refuse fsync on directories; the data is safe. */
    if (rc != 0 && (errno == EINVAL || errno == EBADF)) rc = 0;
    close(fd);
    return rc;
}

/* Skip the decimal (hex: 16) digits at *p; 0 if there are none. */
static int skip_digits(const char **p, int hex)
{
    const char *q = *p;
    while ((*q >= '0' && *q <= '9') || (hex && ((*q >= 'a' && *q <= 'f'))) ) q++;
    if (q == *p) return 0;
    *p = q;
    return 1;
}

/*
 * Remove the temporary files of path that an interrupted save left: the
 * regular files of its directory named "<name>.<pid>.<tag>.<n>.tmp" (the
 * library's own naming, name the target's) whose process no longer exists
 * (kill(pid, 0) fails with ESRCH). Files of this process and of live
 * processes are left alone: they may be saves in progress. Best effort:
 * any failure leaves the files where they are.
 */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t blen = strlen(base);
    char *dir = parent_dir(path), *full;
    DIR *dp;
    struct dirent *e;
    if (dir == NULL || blen == 0) {
        free(dir);
        return;
    }
    dp = opendir(dir);
    while (dp != NULL && (e = readdir(dp)) != NULL) {
        const char *q = e->d_name, *pid_at;
        long pid;
        struct stat st;
        if (strncmp(q, base, blen) != 0 || q[blen] != '.') continue;
        q += blen + 1;
        pid_at = q;
        if (!skip_digits(&q, 0) || *q++ != '.' || !skip_digits(&q, 1) || *q++ != '.' ||
            !skip_digits(&q, 0) || strcmp(q, ".tmp") != 0)
            continue;
        pid = strtol(pid_at, NULL, 10);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        full = (char *)malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (full == NULL) break;
        sprintf(full, "%s/%s", dir, e->d_name);
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) unlink(full);
        free(full);
    }
    if (dp != NULL) closedir(dp);
    free(dir);
}

void nc__atomic_init(nc__atomic_file *a)
{
    a->fd = -1;
    a->path = a->tmp = NULL;
}

void nc__atomic_abort(nc__atomic_file *a)
{
    if (a->fd >= 0) close(a->fd);
    if (a->tmp != NULL) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    nc__atomic_init(a);
}

nc_status nc__atomic_begin(nc__atomic_file *a, const char *path, const void *tag, char *msg,
                           const char *who)
{
    size_t attempt, cap;
    nc__atomic_init(a);
    a->path = dup_string(path);
    cap = strlen(path) + 80;
    a->tmp = (char *)malloc(cap);
    if (a->path == NULL || a->tmp == NULL) {
        free(a->tmp); /* nothing was created */
        a->tmp = NULL;
        nc__atomic_abort(a);
        return io_fail(msg, NC_ERR_OUT_OF_MEMORY, who, "cannot copy the path");
    }
    for (attempt = 0; attempt < 100; attempt++) {
        snprintf(a->tmp, cap, "%s.%ld.%lx.%lu.tmp", path, (long)getpid(),
                 (unsigned long)((uintptr_t)tag & 0xffffffffu), (unsigned long)attempt);
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (a->fd >= 0 || errno != EEXIST) break;
    }
    if (a->fd >= 0) remove_stale_temps(path);
    if (a->fd < 0) {
        io_fail(msg, NC_ERR_IO, who, "cannot create a temporary file beside '%.150s': %s", path,
                strerror(errno));
        free(a->tmp); /* nothing was created: do not unlink another's file */
        a->tmp = NULL;
        nc__atomic_abort(a);
        return NC_ERR_IO;
    }
    return NC_SUCCESS;
}

nc_status nc__atomic_commit(nc__atomic_file *a, char *msg, const char *who)
{
    const char *what = NULL;
    nc_status st = NC_SUCCESS;
    if (fsync(a->fd) != 0) {
        what = "fsync";
    } else {
        const int rc = close(a->fd);
        a->fd = -1; /* closed even on failure: never close it twice */
        if (rc != 0)
            what = "close";
        else if (rename(a->tmp, a->path) != 0)
            what = "rename";
    }
    if (what != NULL) {
        io_fail(msg, NC_ERR_IO, who, "%s of '%.150s' failed: %s", what, a->path, strerror(errno));
        nc__atomic_abort(a);
        return NC_ERR_IO;
    }
    /* The new file is complete and in place: the save has succeeded, and
     * nothing after this point makes it a failure. Syncing the directory
     * only makes the rename durable across a power loss; if it fails (or
     * cannot even allocate the directory's name) the file stays and the
     * save is reported as done. */
    free(a->tmp);
    a->tmp = NULL;
    (void)sync_parent_dir(a->path);
    nc__atomic_abort(a); /* frees the path; nothing left to remove */
    return st;
}

nc_status nc__atomic_write(const char *path, const unsigned char *data, size_t n,
                           const void *tag, char *msg, const char *who)
{
    nc__atomic_file a;
    const nc_status st = nc__atomic_begin(&a, path, tag, msg, who);
    if (st != NC_SUCCESS) return st;
    if (nc__write_full(a.fd, data, n, 0) != 0) {
        io_fail(msg, NC_ERR_IO, who, "write of '%.150s' failed: %s", path, strerror(errno));
        nc__atomic_abort(&a);
        return NC_ERR_IO;
    }
    return nc__atomic_commit(&a, msg, who);
}
