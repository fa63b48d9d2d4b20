/* status.c - status codes, messages and version queries. */
#include "common/common.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct status_entry {
    nc_status code;
    const char *name;
    const char *message;
} status_entry;

/* The table comes from the same X-macro list as the enum, so the two cannot drift. */
static const status_entry status_table[] = {
#define NC_STATUS_TABLE_ENTRY(name, value, message) {name, #name, message},
    NC_STATUS_LIST(NC_STATUS_TABLE_ENTRY)
#undef NC_STATUS_TABLE_ENTRY
};

static const status_entry *find_status(nc_status status)
{
    size_t i;
    for (i = 0; i < sizeof status_table / sizeof status_table[0]; i++)
        if (status_table[i].code == status) return &status_table[i];
    return NULL;
}

NC_API const char *nc_strerror(nc_status status)
{
    const status_entry *e = find_status(status);
    return e ? e->message : "unknown status code";
}

NC_API const char *nc_status_name(nc_status status)
{
    const status_entry *e = find_status(status);
    return e ? e->name : "NC_UNKNOWN_STATUS";
}

/* ---- the reason of a failed create ---------------------------------------------
 * A create that fails has no handle to hold its message, so the reason goes
 * to storage of the calling thread: threads never see each other's reasons
 * and no lock is needed. C99 has no thread-local storage class; C11's
 * _Thread_local or GCC's and Clang's __thread (the compilers the library
 * builds with, which it needs for its POSIX threads anyway) provide it. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_THREADS__)
#define NC__THREAD_LOCAL _Thread_local
#elif defined(__GNUC__)
#define NC__THREAD_LOCAL __thread
#else
#error "libncollapse needs thread-local storage (C11 _Thread_local or __thread)"
#endif

static NC__THREAD_LOCAL char create_msg[NC_MSG_SIZE];

void nc__create_clear(void) { create_msg[0] = '\0'; }

nc_status nc__create_fail(nc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(create_msg, NC_MSG_SIZE, fmt, ap);
    va_end(ap);
    return status;
}

NC_API const char *nc_create_last_error(void) { return create_msg; }

NC_API const char *nc_version_string(void) { return NC_VERSION_STRING; }
NC_API unsigned nc_version_number(void) { return NC_VERSION_NUMBER; }

nc_status nc__fail(char *buf, nc_status status, const char *fmt, ...)
{
    if (buf) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, NC_MSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return status;
}
