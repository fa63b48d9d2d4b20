/*
 * bench_iteration.c - seconds per gradient-descent iteration of the UFM,
 * beside limits measured in the same run, for 1 and 2 threads (measured again
 * right before each group of rows: on shared or virtual machines the rates
 * drift during a run, e.g. when two vCPUs start or stop sharing a core):
 *   bandwidth bound = bytes one fused step must move (H read and written
 *                     once; with momentum also its velocity) / triad rate
 *                     (counted as STREAM does: 24 bytes per element, while
 *                     the write-allocate of a moves 32)
 *   in-place bound  = the same bytes / the rate of an in-place update
 *                     x = 0.5 x + 1 (16 bytes per element, all of which
 *                     move): the step's own access pattern, the tighter
 *                     physical limit
 *   GEMM bound      = flops of the three products (6 K d N) / DGEMM rate
 *                     on a 2000^3 product (OpenBLAS at the same thread count)
 *   FMA peak bound  = the same flops / the rate of independent FMAs of the
 *                     widest vector unit this program was compiled for
 * Ratios > 1 are slower than the bound. Also: the fused kernels against the
 * BLAS-3 path over K (the crossover the library uses).
 * Usage: bench_iteration                  the full table (docs/performance.md)
 *        bench_iteration K d N [threads]  one case
 * The library never changes OpenBLAS's thread count; this program does
 * (openblas_set_num_threads, if linked against OpenBLAS): 1 during the runs,
 * T while measuring the DGEMM rate for T threads.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "ncollapse.h"
#include "model/model.h" /* kernel names and the BLAS-3 switch */

/* OpenBLAS's setter, if the BLAS is OpenBLAS. */
extern void openblas_set_num_threads(int) __attribute__((weak));
static void blas_threads(int n)
{
    if (openblas_set_num_threads) openblas_set_num_threads(n);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- limits of this machine, measured now ------------------------------------ */

/* A thread's share [lo, hi) of the streaming loops below. */
typedef struct { double *a, *b, *c; size_t lo, hi; } stream_part;
static void *triad_run(void *p)
{
    stream_part *t = (stream_part *)p;
    size_t i;
    for (i = t->lo; i < t->hi; i++) t->a[i] = t->b[i] + 0.5 * t->c[i];
    return NULL;
}
static void *inplace_run(void *p)
{
    stream_part *t = (stream_part *)p;
    size_t i;
    for (i = t->lo; i < t->hi; i++) t->a[i] = 0.5 * t->a[i] + 1.0;
    return NULL;
}

/* Best time of 5 passes of run over n elements of a, b, c, on T threads. */
static double best_pass(void *(*run)(void *), double *a, double *b, double *c, size_t n, int T)
{
    double best = 1e30;
    int r, t;
    for (r = 0; r < 5; r++) {
        pthread_t tid[8];
        stream_part part[8];
        double t0 = now();
        for (t = 0; t < T; t++) {
            part[t].a = a; part[t].b = b; part[t].c = c;
            part[t].lo = n * (size_t)t / (size_t)T;
            part[t].hi = n * (size_t)(t + 1) / (size_t)T;
            if (t > 0) pthread_create(&tid[t], NULL, run, &part[t]);
        }
        run(&part[0]);
        for (t = 1; t < T; t++) pthread_join(tid[t], NULL);
        t0 = now() - t0;
        if (t0 < best) best = t0;
    }
    return best;
}

/* Triad a = b + s c over arrays of n doubles, T threads; bytes counted as
 * STREAM does (3 per element, no write-allocate). */
static double triad_bandwidth(size_t n, int T)
{
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c), t;
    size_t i;
    for (i = 0; i < n; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
    t = best_pass(triad_run, a, b, c, n, T);
    if (a[n / 2] != 2.0) fprintf(stderr, "triad check failed\n");
    free(a); free(b); free(c);
    return 3.0 * (double)n * sizeof(double) / t;
}

/* In place x = 0.5 x + 1 over n doubles, T threads: read and written once,
 * as the fused step does with H (16 bytes per element). */
static double inplace_bandwidth(size_t n, int T)
{
    double *x = malloc(n * sizeof *x), t;
    size_t i;
    for (i = 0; i < n; i++) x[i] = 2.0;
    t = best_pass(inplace_run, x, NULL, NULL, n, T);
    if (x[n / 2] != 2.0) fprintf(stderr, "in-place check failed\n");
    free(x);
    return 16.0 * (double)n / t;
}

/* Best DGEMM rate on an n x n product with T OpenBLAS threads. */
static double dgemm_rate(int n, int T)
{
    double *A = malloc((size_t)n * n * sizeof *A), *B = malloc((size_t)n * n * sizeof *B),
           *C = malloc((size_t)n * n * sizeof *C), best = 1e30;
    size_t i;
    int r;
    blas_threads(T);
    for (i = 0; i < (size_t)n * n; i++) { A[i] = 1e-3 * (double)(i % 7); B[i] = 1e-3 * (double)(i % 5); C[i] = 0; }
    for (r = 0; r < 4; r++) {
        double t = now();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
        t = now() - t;
        if (t < best) best = t;
    }
    blas_threads(1);
    free(A); free(B); free(C);
    return 2.0 * (double)n * n * n / best;
}

/* Independent multiply-adds in registers: the arithmetic peak. */
#define FMA_ITERS 30000000L
#if defined(__AVX512F__)
#define FMA_NAME "AVX-512 FMA"
#define FMA_FLOPS_PER_ITER (12.0 * 8 * 2)
static void *fma_run(void *out)
{
    __m512d a[12], x = _mm512_set1_pd(0.999999), y = _mm512_set1_pd(1e-9);
    long k;
    int i;
    for (i = 0; i < 12; i++) a[i] = _mm512_set1_pd(i);
    for (k = 0; k < FMA_ITERS; k++)
        for (i = 0; i < 12; i++) a[i] = _mm512_fmadd_pd(a[i], x, y);
    for (i = 1; i < 12; i++) a[0] = _mm512_add_pd(a[0], a[i]);
    *(double *)out = _mm512_reduce_add_pd(a[0]);
    return NULL;
}
#elif defined(__AVX2__) && defined(__FMA__)
#define FMA_NAME "AVX2 FMA"
#define FMA_FLOPS_PER_ITER (12.0 * 4 * 2)
static void *fma_run(void *out)
{
    __m256d a[12], x = _mm256_set1_pd(0.999999), y = _mm256_set1_pd(1e-9);
    double o[4];
    long k;
    int i;
    for (i = 0; i < 12; i++) a[i] = _mm256_set1_pd(i);
    for (k = 0; k < FMA_ITERS; k++)
        for (i = 0; i < 12; i++) a[i] = _mm256_fmadd_pd(a[i], x, y);
    for (i = 1; i < 12; i++) a[0] = _mm256_add_pd(a[0], a[i]);
    _mm256_storeu_pd(o, a[0]);
    *(double *)out = o[0];
    return NULL;
}
#else
#define FMA_NAME "scalar multiply-add"
#define FMA_FLOPS_PER_ITER (12.0 * 2)
static void *fma_run(void *out)
{
    double a[12];
    long k;
    int i;
    for (i = 0; i < 12; i++) a[i] = i;
    for (k = 0; k < FMA_ITERS; k++)
        for (i = 0; i < 12; i++) a[i] = a[i] * 0.999999 + 1e-9;
    for (i = 1; i < 12; i++) a[0] += a[i];
    *(double *)out = a[0];
    return NULL;
}
#endif

static double fma_rate(int T)
{
    pthread_t tid[8];
    double out[8], t = now();
    int i;
    for (i = 1; i < T; i++) pthread_create(&tid[i], NULL, fma_run, &out[i]);
    fma_run(&out[0]);
    for (i = 1; i < T; i++) pthread_join(tid[i], NULL);
    t = now() - t;
    if (out[0] == 12345.0) printf(" ");
    return FMA_FLOPS_PER_ITER * (double)FMA_ITERS * T / t;
}

typedef struct { double bw, rmw, gemm, fma; } limits;
static limits lim[3]; /* by thread count 1, 2: the latest measurement */

static void measure(int T)
{
    lim[T].bw = triad_bandwidth((size_t)1 << 24, T);
    lim[T].rmw = inplace_bandwidth((size_t)1 << 25, T);
    lim[T].gemm = dgemm_rate(2000, T);
    lim[T].fma = fma_rate(T);
}

static void print_limits(int T)
{
    printf("  -- measured now, %d thread%s: triad %.1f GB/s, in-place %.1f GB/s, DGEMM 2000^3 %.1f GFLOP/s, "
           "%s peak %.1f GFLOP/s\n",
           T, T > 1 ? "s" : "", lim[T].bw * 1e-9, lim[T].rmw * 1e-9, lim[T].gemm * 1e-9, FMA_NAME,
           lim[T].fma * 1e-9);
}

/* ---- one case ----------------------------------------------------------------- */

typedef struct {
    double per;       /* median seconds per iteration */
    const char *path; /* fused kernel ISA or "blas3" */
} result;

/* Median time per iteration of GD steps; kernel: NC__KERNEL_AUTO (the
 * library's choice), _FUSED or _BLAS (forced); isa < 0: the CPU's best. */
static result run_case_isa(size_t K, size_t d, size_t N, nc_loss loss, int T, double momentum,
                           int kernel, int isa, double budget)
{
    size_t *counts = malloc(K * sizeof *counts), k;
    nc_model *m = NULL;
    nc_optimizer *o = NULL;
    result res;
    double t, per_step, times[64];
    size_t batch, nbatch, b, s;
    for (k = 0; k < K; k++) counts[k] = N / K + (k < N % K);
    if (nc_model_create_counts(&m, d, K, counts) != NC_SUCCESS) {
        fprintf(stderr, "cannot create the model (%zu, %zu, %zu)\n", K, d, N);
        exit(1);
    }
    free(counts);
    nc_model_set_loss(m, loss);
    nc_model_set_weight_decay(m, 5e-4, 5e-4, 0);
    nc_model_init_gaussian(m, 0.1, 1);
    nc_model_set_threads(m, (size_t)T);
    if (kernel != NC__KERNEL_AUTO || isa >= 0)
        nc__model_set_kernel(m, kernel, isa >= 0 ? (nc__isa)isa : m->isa);
    res.path = nc__model_path(m) == NC__KERNEL_BLAS ? "blas3" : nc__model_path(m) == NC__KERNEL_SMALL ? "small-d" : nc__isa_name(m->isa);
    nc_optimizer_create(&o, m, NC_OPT_GD);
    nc_optimizer_set_learning_rate(o, 0.05);
    if (momentum > 0) nc_optimizer_set_momentum(o, momentum);
    /* warm-up: first touch of the workspace and buffers, and a time estimate */
    t = now();
    nc_optimizer_step(o);
    per_step = now() - t;
    batch = per_step > 0.02 ? 1 : (size_t)(0.02 / (per_step > 1e-7 ? per_step : 1e-7)) + 1;
    nbatch = (size_t)(budget / (per_step * (double)batch)) + 1;
    if (nbatch < 3) nbatch = per_step > 2.0 ? 2 : 3;
    if (nbatch > 64) nbatch = 64;
    for (b = 0; b < nbatch; b++) {
        t = now();
        for (s = 0; s < batch; s++) nc_optimizer_step(o);
        times[b] = (now() - t) / (double)batch;
    }
    qsort(times, nbatch, sizeof times[0], cmp_double);
    res.per = times[nbatch / 2];
    nc_optimizer_destroy(o);
    nc_model_destroy(m);
    return res;
}

static result run_case(size_t K, size_t d, size_t N, nc_loss loss, int T, double momentum,
                       int kernel, double budget)
{
    return run_case_isa(K, d, N, loss, T, momentum, kernel, -1, budget);
}

/* The same step with H (and the momentum buffer) in L2, extrapolated to N
 * columns: steps over n and n/2 columns, where each thread's columns take at
 * most 512 KB, give the cost per column (their difference: the per-step work
 * on W, b and the sums cancels) and the fixed cost. That is the step's own
 * arithmetic with memory out of the way; the measured time over it is what
 * the traffic of H costs beyond what the arithmetic hides. 0 where the
 * problem already fits or has too few columns per class, and for more than
 * one thread (steps this small run their parts on the calling thread). */
static double in_l2(size_t K, size_t d, size_t N, nc_loss loss, int T, double momentum)
{
    const size_t per_thread = (512u * 1024u) / (d * sizeof(double) * (momentum > 0 ? 2u : 1u));
    const size_t n = per_thread * (size_t)T, h = n / 2;
    double t_n, t_h;
    if (T != 1 || n >= N / 2 || h < 2 * K) return 0.0; /* 2 threads: small steps run on one */
    t_n = run_case(K, d, n, loss, T, momentum, NC__KERNEL_AUTO, 0.3).per;
    t_h = run_case(K, d, h, loss, T, momentum, NC__KERNEL_AUTO, 0.3).per;
    return t_n + (t_n - t_h) / (double)(n - h) * (double)(N - n);
}

static void print_row(size_t K, size_t d, size_t N, const char *what, int T, result r,
                      double momentum)
{
    const double bytes = (double)d * (double)N * sizeof(double) * (momentum > 0 ? 4.0 : 2.0);
    const double flops = 6.0 * (double)K * (double)d * (double)N;
    const limits *L = &lim[T];
    const double l2 = in_l2(K, d, N, strcmp(what, "MSE") == 0 ? NC_LOSS_MSE : NC_LOSS_CE, T, momentum);
    printf("%5zu %5zu %7zu  %-7s %2d  %-9s %10.3e  %9.3e %6.2f  %9.3e %6.2f  %9.3e %6.2f  %9.3e %6.2f  "
           "%6.1f %5.0f%%",
           K, d, N, what, T, r.path, r.per, bytes / L->bw, r.per / (bytes / L->bw), bytes / L->rmw,
           r.per / (bytes / L->rmw), flops / L->gemm,
           r.per / (flops / L->gemm), flops / L->fma, r.per / (flops / L->fma), flops / r.per * 1e-9,
           100.0 * flops / r.per / L->gemm);
    if (l2 > 0.0)
        printf("  %9.3e %6.2f %6.2f\n", l2, r.per / l2, l2 / (bytes / L->bw));
    else
        printf("          —      —      —\n");
    fflush(stdout);
}

static void header(void)
{
    printf("    K     d       N  loss    T  kernel      s/iter   bandwidth  ratio   in-place  ratio       "
           "GEMM  ratio   FMA peak  ratio  GF/s  %%DGEMM      in-L2  ratio  in-L2/bandwidth\n");
}

static int fits_in_memory(size_t d, size_t N, int copies)
{
    const double need = (double)d * (double)N * sizeof(double) * copies;
    const long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages <= 0 || need < 0.6 * (double)pages * (double)psize;
}

int main(int argc, char **argv)
{
    static const size_t cases[][3] = {
        {4, 8, 400}, {10, 64, 5000}, {10, 512, 50000}, {100, 512, 50000}, {1000, 1024, 100000}};
    const size_t ncases = sizeof cases / sizeof cases[0];
    int T, li;
    size_t c;
    blas_threads(1);
    printf("bench_iteration: seconds per GD iteration (median), double precision\n");
    printf("  bounds: bandwidth = 16 d N bytes (32 d N with momentum) / triad (STREAM's count, 24 bytes per\n"
           "  element); in-place = the same bytes / the rate of x = 0.5 x + 1 (the step's access pattern);\n"
           "  GEMM = 6 K d N flops / DGEMM;\n"
           "  FMA peak = 6 K d N / FMA rate; ratio = s/iter / bound; %%DGEMM = achieved GF/s / DGEMM rate;\n"
           "  in-L2 = the same step with each thread's H (and momentum) in 512 KB, extrapolated to N columns\n"
           "  from two such sizes (1 thread): the step's arithmetic alone; ratio = s/iter / in-L2; in-L2 / bandwidth\n");

    if (argc >= 4) {
        const size_t K = strtoul(argv[1], 0, 10), d = strtoul(argv[2], 0, 10), N = strtoul(argv[3], 0, 10);
        const int Tn = argc >= 5 ? atoi(argv[4]) : 1;
        measure(Tn > 2 ? 2 : Tn);
        print_limits(Tn > 2 ? 2 : Tn);
        header();
        for (li = 0; li < 2; li++) {
            result r = run_case(K, d, N, li ? NC_LOSS_MSE : NC_LOSS_CE, Tn, 0.0, NC__KERNEL_AUTO, 1.0);
            print_row(K, d, N, li ? "MSE" : "CE", Tn, r, 0.0);
        }
        {   /* the PyTorch comparison's step: heavy-ball momentum */
            result r = run_case(K, d, N, NC_LOSS_CE, Tn, 0.9, NC__KERNEL_AUTO, 1.0);
            print_row(K, d, N, "CE+mom", Tn, r, 0.9);
        }
        return 0;
    }

    printf("\nThe table (GD, lambda_W = lambda_H = 5e-4):\n");
    header();
    for (c = 0; c < ncases; c++) {
        const size_t K = cases[c][0], d = cases[c][1], N = cases[c][2];
        const double budget = K * d * N > 100000000 ? 0.1 : 1.0;
        if (!fits_in_memory(d, N, 2)) {
            printf("%5zu %5zu %7zu  skipped: H needs %.1f GB, more than this machine allows\n", K, d, N,
                   (double)d * N * 8e-9);
            continue;
        }
        for (T = 1; T <= 2; T++) {
            measure(T);
            print_limits(T);
            for (li = 0; li < 2; li++) {
                result r = run_case(K, d, N, li ? NC_LOSS_MSE : NC_LOSS_CE, T, 0.0, NC__KERNEL_AUTO, budget);
                print_row(K, d, N, li ? "MSE" : "CE", T, r, 0.0);
            }
            if (K == 10 && d == 512) {
                result r = run_case(K, d, N, NC_LOSS_CE, T, 0.9, NC__KERNEL_AUTO, budget);
                print_row(K, d, N, "CE+mom", T, r, 0.9);
            }
        }
    }

    printf("\nFused kernels against the BLAS-3 path (CE, 1 thread, d = 512, N = 20000; the AVX2\n"
           "kernels forced on this CPU for the crossover of CPUs without AVX-512):\n");
    printf("    K  kernel      s/iter   blas3 s/iter  blas3/fused   avx2 s/iter  blas3/avx2\n");
    {
        static const size_t Ks[] = {4, 10, 16, 24, 32, 48, 64, 100, 200, 400, 1000};
        size_t q;
        for (q = 0; q < sizeof Ks / sizeof Ks[0]; q++) {
            const result f = run_case(Ks[q], 512, 20000, NC_LOSS_CE, 1, 0.0, NC__KERNEL_FUSED, 0.5);
            const result b = run_case(Ks[q], 512, 20000, NC_LOSS_CE, 1, 0.0, NC__KERNEL_BLAS, 0.5);
            printf("%5zu  %-9s %10.3e  %12.3e  %11.2f", Ks[q], f.path, f.per, b.per, b.per / f.per);
            if (nc__isa_supported(NC__ISA_AVX2) && nc__isa_detect() != NC__ISA_AVX2) {
                const result a = run_case_isa(Ks[q], 512, 20000, NC_LOSS_CE, 1, 0.0, NC__KERNEL_FUSED,
                                              NC__ISA_AVX2, 0.5);
                printf("  %12.3e  %10.2f", a.per, b.per / a.per);
            }
            printf("\n");
            fflush(stdout);
        }
    }
    return 0;
}
