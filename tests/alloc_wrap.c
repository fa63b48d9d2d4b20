/*
 * alloc_wrap.c - malloc, calloc and realloc wrapped at link time, for the
 * tests that fail every allocation in turn outside tests/alloc_failures.c:
 * the ncollapse program, the Python package (through a test-only shared
 * library) and the MPI library. Linked into a test build with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so that every reference
 * to those functions in the objects of that link (the library's and, for
 * the program, the program's own) goes through the wrappers below; the
 * C library's and other shared libraries' allocations do not.
 *
 * The trigger:
 *  - nc_test_fail_alloc(k): from now on count the allocations; the k-th
 *    (1-based) fails (returns NULL), the others succeed. k = 0: count
 *    only; k < 0: neither count nor fail (the state at start).
 *  - nc_test_alloc_count(): the allocations counted since the last call of
 *    nc_test_fail_alloc.
 *  - nc_test_alloc_failed(): 1 if the k-th allocation was reached (and
 *    failed) since then.
 * Built with -DNC_ALLOC_WRAP_ENV (the program), the environment sets the
 * trigger at the first allocation: NC_FAIL_ALLOC=k as above; with k = 0
 * the count is printed at exit on stderr as "alloc_wrap: N allocations".
 * NC_FAIL_ALLOC_TRACE=1 also prints the stack of the failed allocation on
 * stderr (AddressSanitizer's, or glibc's backtrace), to find the code that
 * handled it.
 * A child process (fork) counts on from its parent's count at the fork, so
 * the k-th allocation may be its parent's or its own; the count printed
 * is the largest index any of them reached (kept in a shared page), so
 * that k = 1 .. N reaches every allocation of the parent and of each
 * child.
 *
 * These functions exist only in test builds; they are not part of the
 * library (the normal libncollapse.so exports only nc_ symbols of its own).
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#ifdef NC_ALLOC_WRAP_ENV
#include <sys/mman.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define STACK_TRACE() __sanitizer_print_stack_trace()
#elif defined(__GLIBC__)
#include <execinfo.h>
#define STACK_TRACE()                          \
    do {                                       \
        void *frames_[32];                     \
        const int n_ = backtrace(frames_, 32); \
        backtrace_symbols_fd(frames_, n_, 2);  \
    } while (0)
#endif
static int trace_;

#if defined(__GNUC__)
#define NC_TEST_EXPORT __attribute__((visibility("default")))
#define NC_TEST_LOCAL __attribute__((visibility("hidden")))
#else
#define NC_TEST_EXPORT
#define NC_TEST_LOCAL
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
NC_TEST_LOCAL void *__wrap_malloc(size_t n);
NC_TEST_LOCAL void *__wrap_calloc(size_t n, size_t size);
NC_TEST_LOCAL void *__wrap_realloc(void *p, size_t n);

NC_TEST_EXPORT void nc_test_fail_alloc(long k);
NC_TEST_EXPORT long nc_test_alloc_count(void);
NC_TEST_EXPORT int nc_test_alloc_failed(void);

/* Updated atomically: the library's worker threads may allocate too. */
static long fail_at_ = -1; /* the allocation to fail; 0 none; < 0 off */
static long count_;
static int failed_;

#ifdef NC_ALLOC_WRAP_ENV
static int env_read_;
static long *shared_max_; /* the largest index reached by any process */

static void print_count(void)
{
    long n = __atomic_load_n(&count_, __ATOMIC_SEQ_CST);
    if (shared_max_ != NULL && *shared_max_ > n) n = *shared_max_;
    fprintf(stderr, "alloc_wrap: %ld allocations\n", n);
}

static void read_env(void)
{
    const char *v;
    if (__atomic_exchange_n(&env_read_, 1, __ATOMIC_SEQ_CST)) return;
    v = getenv("NC_FAIL_ALLOC");
    if (v == NULL || *v == '\0') return;
    nc_test_fail_alloc(strtol(v, NULL, 10));
    if (fail_at_ == 0) {
        void *p = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) shared_max_ = (long *)p;
        atexit(print_count);
    }
}
#endif

void nc_test_fail_alloc(long k)
{
    trace_ = getenv("NC_FAIL_ALLOC_TRACE") != NULL;
    __atomic_store_n(&count_, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&failed_, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fail_at_, k, __ATOMIC_SEQ_CST);
}

long nc_test_alloc_count(void) { return __atomic_load_n(&count_, __ATOMIC_SEQ_CST); }

int nc_test_alloc_failed(void) { return __atomic_load_n(&failed_, __ATOMIC_SEQ_CST); }

static int should_fail(void)
{
    long at, n;
#ifdef NC_ALLOC_WRAP_ENV
    read_env();
#endif
    at = __atomic_load_n(&fail_at_, __ATOMIC_SEQ_CST);
    if (at < 0) return 0;
    n = __atomic_add_fetch(&count_, 1, __ATOMIC_SEQ_CST);
#ifdef NC_ALLOC_WRAP_ENV
    if (shared_max_ != NULL) {
        long m = __atomic_load_n(shared_max_, __ATOMIC_SEQ_CST);
        while (n > m && !__atomic_compare_exchange_n(shared_max_, &m, n, 0, __ATOMIC_SEQ_CST,
                                                     __ATOMIC_SEQ_CST))
            continue;
    }
#endif
    if (n == at) {
        __atomic_store_n(&failed_, 1, __ATOMIC_SEQ_CST);
#ifdef STACK_TRACE
        if (trace_) STACK_TRACE();
#endif
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
