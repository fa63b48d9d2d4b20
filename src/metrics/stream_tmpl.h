/*
 * metrics/stream_tmpl.h - the batch functions of the stream accumulators
 * for one feature type, included by stream.c with NC_STREAM_TYPE (double or
 * float) and NC_STREAM_SUFFIX (f64 or f32) defined. Every value is widened
 * to double as it is read (a float batch is never copied to doubles as a
 * whole); every sum is in double.
 *
 * The work of a batch is cut into parts that do not depend on the number of
 * threads, or that compute every value in the same order whatever their
 * number (see "Threads" in stream.c), so the accumulator holds the same bits
 * for any thread count.
 */
#define NC_ST_CAT2(a, b) a##_##b
#define NC_ST_CAT(a, b) NC_ST_CAT2(a, b)
#define NC_ST(name) NC_ST_CAT(name, NC_STREAM_SUFFIX)

typedef struct NC_ST(job) {
    nc_stream *s;
    size_t n, ldh;
    const NC_STREAM_TYPE *H;
    const int32_t *labels;
    double sc;     /* pass 1: the new scale of the means */
    double factor; /* pass 1: what brings the running means to it */
} NC_ST(job);

/* Validate a batch's labels; on success s->bcounts holds its class counts. */
static nc_status NC_ST(check_labels)(nc_stream *s, size_t n, const NC_STREAM_TYPE *H, size_t ldh,
                                     const int32_t *labels)
{
    size_t i, k, ext = s->d;
    if (H == NULL || labels == NULL)
        return nc__fail(s->msg, NC_ERR_NULL_ARGUMENT, "%s is NULL", H == NULL ? "H" : "labels");
    if (ldh < s->d)
        return nc__fail(s->msg, NC_ERR_SIZE_MISMATCH, "ldh = %lu is smaller than d = %lu",
                        (unsigned long)ldh, (unsigned long)s->d);
    if (!nc__fits_int(ldh) || nc__size_mad(&ext, n - 1, ldh))
        return nc__fail(s->msg, NC_ERR_INVALID_SIZE, "the batch is too large to index");
    for (k = 0; k < s->K; k++) s->bcounts[k] = 0;
    for (i = 0; i < n; i++) {
        const int32_t y = labels[i];
        if (y < 0 || (size_t)y >= s->K)
            return nc__fail(s->msg, NC_ERR_LABEL_OUT_OF_RANGE,
                            "label %ld of batch sample %lu is outside [0, %lu)", (long)y,
                            (unsigned long)i, (unsigned long)s->K);
        s->bcounts[y]++;
    }
    return NC_SUCCESS;
}

/*
 * The largest magnitude of the n features at h, as its bit pattern. For IEEE
 * numbers of one sign the order of the bit patterns is the order of the
 * values, and every non-finite magnitude (Inf, NaN) lies above the largest
 * finite one: one integer maximum gives both the largest |h| and whether all
 * are finite, and GCC vectorises it (a maximum of doubles that may be NaN it
 * does not).
 */
static NC_CLONES NC_ST_BITS NC_ST(row_max_bits)(const NC_STREAM_TYPE *h, size_t n)
{
    NC_ST_BITS m = 0;
    size_t t;
    for (t = 0; t < n; t++) {
        NC_ST_BITS b;
        memcpy(&b, h + t, sizeof b);
        b &= NC_ST_MAGNITUDE;
        m = b > m ? b : m;
    }
    return m;
}

/* Part `part`: largest |h| and finiteness over its coordinates (rows after
 * a non-finite one are not read). */
static void NC_ST(check_part)(void *ctx, size_t part)
{
    const NC_ST(job) *j = (const NC_ST(job) *)ctx;
    nc_stream *s = j->s;
    nc__stream_part *p = &s->part[part];
    size_t i, t0, t1;
    NC_ST_BITS m = 0;
    NC_STREAM_TYPE a;
    stream_range(s->d, s->threads, part, &t0, &t1);
    if (t0 < t1)
        for (i = 0; i < j->n && m < NC_ST_INF_BITS; i++) {
            const NC_ST_BITS r = NC_ST(row_max_bits)(j->H + i * j->ldh + t0, t1 - t0);
            if (r > m) m = r;
        }
    p->bad = m >= NC_ST_INF_BITS;
    memcpy(&a, &m, sizeof a);
    p->amax = p->bad ? 0.0 : (double)a;
}

/* Validate a batch; on success s->bcounts holds its class counts and *amax
 * its largest |h|. */
static nc_status NC_ST(check_batch)(nc_stream *s, size_t n, const NC_STREAM_TYPE *H, size_t ldh,
                                    const int32_t *labels, double *amax)
{
    NC_ST(job) job;
    size_t p;
    double a = 0.0;
    nc_status st = NC_ST(check_labels)(s, n, H, ldh, labels);
    if (st != NC_SUCCESS) return st;
    memset(&job, 0, sizeof job);
    job.s = s;
    job.n = n;
    job.H = H;
    job.ldh = ldh;
    job.labels = labels;
    nc__pool_run(s->pool, NC_ST(check_part), &job);
    for (p = 0; p < s->threads; p++) {
        if (s->part[p].bad) return nc__fail(s->msg, NC_ERR_NON_FINITE, "H contains NaN or Inf");
        if (s->part[p].amax > a) a = s->part[p].amax;
    }
    *amax = a;
    return NC_SUCCESS;
}

/* Pass 1's loops over a row, written to vectorise (NC_CLONES, restrict):
 * every element sees the same operations as in the plain loop, so the bits
 * do not change. */
/* m = 0 + sc h */
static NC_CLONES void NC_ST(set_scaled)(double *restrict m, const NC_STREAM_TYPE *restrict h,
                                        double sc, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) m[t] = 0.0 + sc * (double)h[t];
}

/* m += ((0 + sc h) - m) w */
static NC_CLONES void NC_ST(merge_sample)(double *restrict m, const NC_STREAM_TYPE *restrict h,
                                          double sc, double w, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) m[t] += ((0.0 + sc * (double)h[t]) - m[t]) * w;
}

/* m += sc h */
static NC_CLONES void NC_ST(add_scaled)(double *restrict m, const NC_STREAM_TYPE *restrict h,
                                        double sc, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) m[t] += sc * (double)h[t];
}

/* r += sc h - mu */
static NC_CLONES void NC_ST(add_resid)(double *restrict r, const NC_STREAM_TYPE *restrict h,
                                       const double *restrict mu, double sc, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) r[t] += sc * (double)h[t] - mu[t];
}

/*
 * Pass 1 in two runs of the threads. First, by classes (k % threads ==
 * part): the running means brought to the new scale, and the classes with
 * one sample in the batch (most of them when K is large against the batch)
 * updated straight from the sample: their two-pass mean is exactly 0 + sc h
 * (a sum of one term, a division by 1, a residual of +0), so the update
 * has the same bits without touching K x d scratch rows per sample. Whole
 * rows per thread: split by coordinates, both threads pulled every row's
 * cache lines in and two threads were slower than one.
 */
static void NC_ST(single_part)(void *ctx, size_t part)
{
    const NC_ST(job) *j = (const NC_ST(job) *)ctx;
    nc_stream *s = j->s;
    const size_t d = s->d, K = s->K, n = j->n, ldh = j->ldh, P = s->threads;
    const double sc = j->sc;
    size_t i, k;
    if (j->factor != 1.0)
        for (k = part; k < K; k += P) scale_means(s->mu + k * d, d, j->factor);
    for (i = 0; i < n; i++) {
        const size_t y = (size_t)j->labels[i];
        const NC_STREAM_TYPE *h = j->H + i * ldh;
        double *m = s->mu + y * d;
        if (y % P != part || s->bcounts[y] != 1) continue;
        if (s->counts[y] == 0) {
            NC_ST(set_scaled)(m, h, sc, d);
        } else {
            const double w = 1.0 / ((double)s->counts[y] + 1.0); /* merge_means_range's */
            NC_ST(merge_sample)(m, h, sc, w, d);
        }
    }
}

/*
 * Then, on the part's coordinates t0 <= t < t1 (a class with many samples
 * is shared by the threads): the batch's class means of the classes with
 * two or more samples (scaled by sc) into s->bmu in two passes as
 * nc__class_means (the same operations on those classes, without touching
 * the others), and Chan's update of the running means.
 */
static void NC_ST(means_part)(void *ctx, size_t part)
{
    const NC_ST(job) *j = (const NC_ST(job) *)ctx;
    nc_stream *s = j->s;
    const size_t d = s->d, K = s->K, n = j->n, ldh = j->ldh;
    const double sc = j->sc;
    double *mu = s->bmu, *resid = s->bres;
    size_t i, k, t0, t1;
    stream_range(d, s->threads, part, &t0, &t1);
    if (t0 >= t1) return;
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 1) {
            memset(mu + k * d + t0, 0, (t1 - t0) * sizeof(double));
            memset(resid + k * d + t0, 0, (t1 - t0) * sizeof(double));
        }
    for (i = 0; i < n; i++) {
        const size_t y = (size_t)j->labels[i];
        if (s->bcounts[y] < 2) continue;
        NC_ST(add_scaled)(mu + y * d + t0, j->H + i * ldh + t0, sc, t1 - t0);
    }
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 1) divide_row(mu + k * d + t0, (double)s->bcounts[k], t1 - t0);
    for (i = 0; i < n; i++) {
        const size_t y = (size_t)j->labels[i];
        if (s->bcounts[y] < 2) continue;
        NC_ST(add_resid)(resid + y * d + t0, j->H + i * ldh + t0, mu + y * d + t0, sc, t1 - t0);
    }
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 1)
            add_divided(mu + k * d + t0, resid + k * d + t0, (double)s->bcounts[k], t1 - t0);
    merge_means_range(d, K, s->mu, s->counts, s->bmu, s->bcounts, t0, t1);
}

/*
 * n coordinates of one sample of pass 2: xh = sc h (unless xh is NULL: only
 * NC4 reads it), xx = xh - mu (unless xx is NULL: only a scatter reads
 * it), and ||xh - mu||^2 added to eight plain chains s
 * (element t to chain t % 8, so a row cut into segments of multiples of 8
 * gives the chains of the whole row), which the caller adds in a fixed
 * tree. The terms are >= 0, so no compensation is needed: a chain of m
 * terms errs by less than (m - 1) u relative (d = 768: 1.1e-14); the
 * class's sum over its samples stays compensated. The chains keep the loop
 * at the vector units' rate (a single compensated chain waited on each
 * addition's latency).
 */
static NC_CLONES void NC_ST(resid_seg)(const NC_STREAM_TYPE *h, const double *mu, double sc,
                                       size_t n, double *xh, double *xx, double s[8])
{
    size_t t = 0, l;
#if NC_VEC4
    {
        nc__v4d s0, s1;
        memcpy(&s0, s, sizeof s0);
        memcpy(&s1, s + 4, sizeof s1);
        for (; t + 8 <= n; t += 8) {
            nc__v4d a0, a1, m0, m1;
            NC_ST_LOAD4(a0, h + t);
            NC_ST_LOAD4(a1, h + t + 4);
            memcpy(&m0, mu + t, sizeof m0);
            memcpy(&m1, mu + t + 4, sizeof m1);
            a0 = sc * a0;
            a1 = sc * a1;
            if (xh != NULL) {
                memcpy(xh + t, &a0, sizeof a0);
                memcpy(xh + t + 4, &a1, sizeof a1);
            }
            a0 = a0 - m0;
            a1 = a1 - m1;
            if (xx != NULL) {
                memcpy(xx + t, &a0, sizeof a0);
                memcpy(xx + t + 4, &a1, sizeof a1);
            }
            s0 += a0 * a0;
            s1 += a1 * a1;
        }
        memcpy(s, &s0, sizeof s0);
        memcpy(s + 4, &s1, sizeof s1);
    }
#endif
    for (l = t % 8; t < n; t++, l = (l + 1) % 8) {
        const double x = sc * (double)h[t], r = x - mu[t];
        if (xh != NULL) xh[t] = x;
        if (xx != NULL) xx[t] = r;
        s[l] += r * r;
    }
}

/* Pass 2, part `part`: the scaled columns and their residuals of the classes
 * y with y % threads == part (each class's sum of ||x||^2 in sample order).
 * For the d x d scatter the residuals go to the panels of stream_panel. */
static void NC_ST(resid_part)(void *ctx, size_t part)
{
    const NC_ST(job) *jb = (const NC_ST(job) *)ctx;
    nc_stream *s = jb->s;
    const size_t d = s->d, P = s->threads, T = s->tile;
    const size_t seg = s->raw_scatter ? T : d;
    size_t j, t0;
    for (j = 0; j < jb->n; j++) {
        const size_t y = (size_t)jb->labels[j];
        const NC_STREAM_TYPE *h;
        const double *mu;
        double *xh;
        double c[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        nc__sum v;
        if (y % P != part) continue;
        h = jb->H + j * jb->ldh;
        mu = s->mu + y * d;
        xh = s->has_W ? s->tmpH + j * d : NULL;
        for (t0 = 0; t0 < d; t0 += seg) {
            const size_t w = d - t0 < seg ? d - t0 : seg;
            double *xx = s->no_nc1        ? NULL /* no scatter: only the norms */
                         : s->raw_scatter ? stream_panel(s, t0 / T, jb->n) + j * w
                                          : s->tmpX + j * d;
            NC_ST(resid_seg)(h + t0, mu + t0, s->scale, w, xh != NULL ? xh + t0 : NULL, xx, c);
        }
        v.s = s->vs[y];
        v.c = s->vc[y];
        nc__sum_add(&v, ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7])));
        s->vs[y] = v.s;
        s->vc[y] = v.c;
    }
}

/* Pass 2, part `part`: NC4 and accuracy of the blocks of s->block columns
 * numbered part, part + threads, ... into the part's own counts. */
static void NC_ST(nc4_part)(void *ctx, size_t part)
{
    const NC_ST(job) *jb = (const NC_ST(job) *)ctx;
    nc_stream *s = jb->s;
    nc__stream_part *p = &s->part[part];
    const size_t d = s->d, nb = jb->n, ldh = jb->ldh;
    size_t j0;
    for (j0 = part * s->block; j0 < nb && p->logits_ok; j0 += s->threads * s->block) {
        const size_t m = nb - j0 < s->block ? nb - j0 : s->block;
        if (sizeof(NC_STREAM_TYPE) == sizeof(double))
            p->logits_ok = nc__nc4_block(d, s->K, m,
                                         (const double *)(const void *)(jb->H + j0 * ldh), ldh,
                                         jb->labels + j0, s->tmpH + j0 * d, s->mu, s->munrm,
                                         s->Wp, s->bp, s->zalpha, p->Z, p->IP, &p->mismatches,
                                         &p->correct, p->cmis, p->ccor);
        else
            p->logits_ok = nc__nc4_block(d, s->K, m, NULL, 0, jb->labels + j0, s->tmpH + j0 * d,
                                         s->mu, s->munrm, s->Wp, s->bp, s->zalpha / s->scale,
                                         p->Z, p->IP, &p->mismatches, &p->correct, p->cmis,
                                         p->ccor);
    }
}

static void NC_ST(pass2_block)(nc_stream *s, size_t nb, const NC_STREAM_TYPE *H, size_t ldh,
                               const int32_t *labels)
{
    NC_ST(job) job;
    memset(&job, 0, sizeof job);
    job.s = s;
    job.n = nb;
    job.H = H;
    job.ldh = ldh;
    job.labels = labels;
    nc__pool_run(s->pool, NC_ST(resid_part), &job);
    scatter_block(s, nb);
    if (s->has_W) nc__pool_run(s->pool, NC_ST(nc4_part), &job);
}

static nc_status NC_ST(add)(nc_stream *stream, size_t n, const NC_STREAM_TYPE *H, size_t ldh,
                            const int32_t *labels)
{
    nc_stream *s = stream;
    nc_status st;
    double bmax = 0.0;
    size_t k, i0;
    if (s == NULL) return NC_ERR_NULL_ARGUMENT;
    s->msg[0] = '\0';
    if (n == 0) return NC_SUCCESS;
    st = NC_ST(check_batch)(s, n, H, ldh, labels, &bmax);
    if (st != NC_SUCCESS) return st;
    if (s->pass == 1) {
        const double newmax = bmax > s->amax ? bmax : s->amax;
        const double snew = nc__pow2_scale(newmax);
        NC_ST(job) job;
        if (n > SIZE_MAX - s->n1)
            return nc__fail(s->msg, NC_ERR_INVALID_SIZE, "sample count overflows");
        memset(&job, 0, sizeof job);
        job.s = s;
        job.n = n;
        job.H = H;
        job.ldh = ldh;
        job.labels = labels;
        job.sc = snew;
        /* Bring the running means to the new units (a power of two <= 1). */
        job.factor = s->n1 > 0 ? snew / s->scale : 1.0;
        nc__pool_run(s->pool, NC_ST(single_part), &job);
        nc__pool_run(s->pool, NC_ST(means_part), &job);
        for (k = 0; k < s->K; k++) s->counts[k] += s->bcounts[k];
        s->scale = snew;
        s->amax = newmax;
        s->n1 += n;
        return NC_SUCCESS;
    }
    /* Pass 2: the same samples as pass 1. */
    if (bmax > s->amax)
        return nc__fail(s->msg, NC_ERR_INVALID_VALUE, "pass 2 sees |h| = %g, larger than any "
                        "value of pass 1 (%g): not the same data", bmax, s->amax);
    for (k = 0; k < s->K; k++)
        if (s->bcounts[k] > s->counts[k] - s->counts2[k])
            return nc__fail(s->msg, NC_ERR_SIZE_MISMATCH, "pass 2 has seen more samples of "
                            "class %lu than pass 1 (%lu)", (unsigned long)k,
                            (unsigned long)s->counts[k]);
    if (s->has_W) parts_clear(s);
    for (i0 = 0; i0 < n; i0 += s->sblock) {
        const size_t nb = n - i0 < s->sblock ? n - i0 : s->sblock;
        NC_ST(pass2_block)(s, nb, H + i0 * ldh, ldh, labels + i0);
    }
    if (s->has_W) parts_merge(s);
    for (k = 0; k < s->K; k++) s->counts2[k] += s->bcounts[k];
    s->n2 += n;
    return NC_SUCCESS;
}

#undef NC_ST
#undef NC_ST_CAT
#undef NC_ST_CAT2
