/*
 * metrics/stream_tmpl.h - the batch functions of the stream accumulators
 * for one feature type, included by stream.c with NC_STREAM_TYPE (double or
 * float) and NC_STREAM_SUFFIX (f64 or f32) defined. Every value is widened
 * to double as it is read; every sum is in double.
 */
#define NC_ST_CAT2(a, b) a##_##b
#define NC_ST_CAT(a, b) NC_ST_CAT2(a, b)
#define NC_ST(name) NC_ST_CAT(name, NC_STREAM_SUFFIX)

/* Validate a batch; on success s->bcounts holds its class counts and *amax
 * its largest |h|. */
static nc_status NC_ST(check_batch)(nc_stream *s, size_t n, const NC_STREAM_TYPE *H, size_t ldh,
                                    const int32_t *labels, double *amax)
{
    size_t i, k, t, ext = s->d;
    double a = 0.0;
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
    for (i = 0; i < n; i++) {
        const NC_STREAM_TYPE *h = H + i * ldh;
        for (t = 0; t < s->d; t++) {
            const double v = fabs((double)h[t]);
            if (!NC_ST(finite)(h[t]))
                return nc__fail(s->msg, NC_ERR_NON_FINITE, "H contains NaN or Inf");
            if (v > a) a = v;
        }
    }
    *amax = a;
    return NC_SUCCESS;
}

/* The batch's class means (scaled by sc) into s->bmu for the classes present
 * (s->bcounts), in two passes as nc__class_means: the same operations on
 * those classes, without touching the absent ones. */
static void NC_ST(batch_means)(nc_stream *s, size_t n, const NC_STREAM_TYPE *H, size_t ldh,
                               const int32_t *labels, double sc)
{
    const size_t d = s->d, K = s->K;
    double *mu = s->bmu, *resid = s->bres;
    size_t i, k, t;
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 0) {
            memset(mu + k * d, 0, d * sizeof(double));
            memset(resid + k * d, 0, d * sizeof(double));
        }
    for (i = 0; i < n; i++) {
        const NC_STREAM_TYPE *h = H + i * ldh;
        double *muk = mu + (size_t)labels[i] * d;
        for (t = 0; t < d; t++) muk[t] += sc * (double)h[t];
    }
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 0) {
            const double c = (double)s->bcounts[k];
            for (t = 0; t < d; t++) mu[k * d + t] /= c;
        }
    for (i = 0; i < n; i++) {
        const NC_STREAM_TYPE *h = H + i * ldh;
        const size_t y = (size_t)labels[i];
        const double *muk = mu + y * d;
        double *r = resid + y * d;
        for (t = 0; t < d; t++) r[t] += sc * (double)h[t] - muk[t];
    }
    for (k = 0; k < K; k++)
        if (s->bcounts[k] > 0) {
            const double c = (double)s->bcounts[k];
            for (t = 0; t < d; t++) mu[k * d + t] += resid[k * d + t] / c;
        }
}

static void NC_ST(pass2_block)(nc_stream *s, size_t nb, const NC_STREAM_TYPE *H, size_t ldh,
                               const int32_t *labels)
{
    const size_t d = s->d, q = s->q;
    size_t j, t, j0;
    for (j = 0; j < nb; j++) {
        const NC_STREAM_TYPE *h = H + j * ldh;
        const size_t y = (size_t)labels[j];
        const double *mu = s->mu + y * d;
        double *xh = s->tmpH + j * d;
        double *xx = s->tmpX + j * d;
        nc__sum v;
        v.s = s->vs[y];
        v.c = s->vc[y];
        for (t = 0; t < d; t++) {
            xh[t] = s->scale * (double)h[t];
            xx[t] = xh[t] - mu[t];
            nc__sum_add(&v, xx[t] * xx[t]);
        }
        s->vs[y] = v.s;
        s->vc[y] = v.c;
    }
    if (s->raw_scatter) {
        /* K >= d: the d x d scatter itself (half the work of projecting). */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)d, (int)nb, 1.0, s->tmpX,
                    (int)d, 0.0, s->Sb, (int)d);
    } else {
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)q, (int)nb, (int)d, 1.0, s->Q,
                    (int)d, s->tmpX, (int)d, 0.0, s->P, (int)q);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)q, (int)q, (int)nb, 1.0, s->P,
                    (int)q, s->P, (int)q, 0.0, s->Sb, (int)q);
    }
    add_scatter(s, s->Sb, NULL);
    if (s->has_W)
        for (j0 = 0; j0 < nb && s->logits_ok; j0 += s->block) {
            const size_t m = nb - j0 < s->block ? nb - j0 : s->block;
            if (sizeof(NC_STREAM_TYPE) == sizeof(double))
                s->logits_ok = nc__nc4_block(d, s->K, m, (const double *)(const void *)(H + j0 * ldh),
                                             ldh, labels + j0, s->tmpH + j0 * d, s->mu, s->munrm,
                                             s->Wp, s->bp, s->zalpha, s->Z, s->IP, &s->mismatches,
                                             &s->correct, s->cmis, s->ccor);
            else
                s->logits_ok = nc__nc4_block(d, s->K, m, NULL, 0, labels + j0, s->tmpH + j0 * d,
                                             s->mu, s->munrm, s->Wp, s->bp, s->zalpha / s->scale,
                                             s->Z, s->IP, &s->mismatches, &s->correct, s->cmis,
                                             s->ccor);
        }
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
        if (n > SIZE_MAX - s->n1)
            return nc__fail(s->msg, NC_ERR_INVALID_SIZE, "sample count overflows");
        /* Bring the running means to the new units (a power of two <= 1). */
        if (s->n1 > 0) scale_means(s->mu, s->d * s->K, snew / s->scale);
        s->scale = snew;
        s->amax = newmax;
        NC_ST(batch_means)(s, n, H, ldh, labels, snew);
        merge_means(s->d, s->K, s->mu, s->counts, s->bmu, s->bcounts);
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
    for (i0 = 0; i0 < n; i0 += s->sblock) {
        const size_t nb = n - i0 < s->sblock ? n - i0 : s->sblock;
        NC_ST(pass2_block)(s, nb, H + i0 * ldh, ldh, labels + i0);
    }
    for (k = 0; k < s->K; k++) s->counts2[k] += s->bcounts[k];
    s->n2 += n;
    return NC_SUCCESS;
}

#undef NC_ST
#undef NC_ST_CAT
#undef NC_ST_CAT2
