/*
 * files.h - small file helpers shared by the tests of the library's files
 * (.npy, checkpoints, stream files): a fresh temporary directory, whole
 * files as bytes, and the count of temporary files an atomic write may have
 * left in a directory. Header-only; include it after defining
 * _POSIX_C_SOURCE 200809L (it uses <dirent.h> and mkdtemp).
 */
#ifndef NC_TEST_FILES_H
#define NC_TEST_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Create a fresh directory $TMPDIR/<prefix>.XXXXXX (/tmp when TMPDIR is unset
 * or empty) and write its path to dir; 0 on success, -1 with a message on
 * stderr otherwise. */
static inline int nc_test_make_temp_dir(char *dir, size_t cap, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    const int len = snprintf(dir, cap, "%s/%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp", prefix);
    if (len < 0 || (size_t)len >= cap || mkdtemp(dir) == NULL) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return -1;
    }
    return 0;
}

/* The bytes of a file, malloc'd (NULL, *n = 0 if it cannot be read). */
static inline unsigned char *nc_test_read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long len;
    *n = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        p = (unsigned char *)malloc(len > 0 ? (size_t)len : 1);
        if (p && fread(p, 1, (size_t)len, f) == (size_t)len) {
            *n = (size_t)len;
        } else {
            free(p);
            p = NULL;
        }
    }
    fclose(f);
    return p;
}

/* Write n bytes to path (replacing it); 0 on success. */
static inline int nc_test_write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int rc;
    if (!f) return -1;
    rc = n > 0 && fwrite(p, 1, n, f) != n ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* 1 if both files can be read and hold the same bytes. */
static inline int nc_test_same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *pa = nc_test_read_bytes(a, &na), *pb = nc_test_read_bytes(b, &nb);
    const int same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Entries of dir whose name contains ".tmp" (-1 if it cannot be read). */
static inline int nc_test_count_temps(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!dp) return -1;
    while ((e = readdir(dp)) != NULL)
        if (strstr(e->d_name, ".tmp") != NULL) n++;
    closedir(dp);
    return n;
}

#endif
