/* cpu_backend.c - the CPU backend: every op of gan_backend_iface with
 * OpenMP threads and the packed GEMM of cpu_gemm.c. It is the reference the
 * other backends are tested against. Reductions run in a fixed order per
 * output, so results do not depend on the thread count. */
#include "cpu_gemm.h"
#include "gan_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_backend {
    gan_backend base;
    gan_gemm_plan gemm;
    float *workspace; /* im2col columns and reordered gradients; grows, never shrinks */
    size_t workspace_len;
} cpu_backend;

#define F(t) ((float *)(t)->data)
#define CF(t) ((const float *)(t)->data)

static cpu_backend *cpu(gan_backend *be) { return (cpu_backend *)be; }
static int threads_of(gan_backend *be) { return be->ctx->num_threads; }

static void *alloc_aligned(size_t n_floats)
{
    size_t bytes = (n_floats * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* ---------------------------------------------------------------- memory */

static gan_status cpu_alloc(gan_backend *be, size_t n, void **data)
{
    (void)be;
    *data = alloc_aligned(n);
    return *data ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
}

static void cpu_release(gan_backend *be, void *data)
{
    (void)be;
    free(data);
}

static gan_status cpu_write(gan_backend *be, gan_tensor *t, const float *src, size_t n)
{
    (void)be;
    memcpy(t->data, src, n * sizeof(float));
    return GAN_OK;
}

static gan_status cpu_read(gan_backend *be, const gan_tensor *t, float *dst, size_t n)
{
    (void)be;
    memcpy(dst, t->data, n * sizeof(float));
    return GAN_OK;
}

static gan_status cpu_fill(gan_backend *be, gan_tensor *t, float value)
{
    float *p = F(t);
    const ptrdiff_t n = (ptrdiff_t)t->numel;
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 65536)
    for (ptrdiff_t i = 0; i < n; i++)
        p[i] = value;
    return GAN_OK;
}

static float *workspace(cpu_backend *cb, size_t n)
{
    if (n > cb->workspace_len) {
        free(cb->workspace);
        gan_track_memory(cb->base.ctx, -(ptrdiff_t)(cb->workspace_len * sizeof(float)));
        cb->workspace = alloc_aligned(n);
        cb->workspace_len = cb->workspace ? n : 0;
        gan_track_memory(cb->base.ctx, (ptrdiff_t)(cb->workspace_len * sizeof(float)));
    }
    return cb->workspace;
}

/* ------------------------------------------------------------------ gemm */

static gan_status cpu_gemm_op(gan_backend *be, bool ta, bool tb, int m, int n, int k, float alpha,
                              const gan_tensor *a, const gan_tensor *b, float beta, gan_tensor *c)
{
    gan_cpu_gemm(&cpu(be)->gemm, ta, tb, m, n, k, alpha, CF(a), ta ? m : k, CF(b), tb ? k : n,
                 beta, F(c), n);
    return GAN_OK;
}

static gan_status cpu_bias_add(gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c,
                               int hw)
{
    float *py = F(y);
    const float *pb = CF(bias);
#pragma omp parallel for collapse(2) num_threads(threads_of(be))
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *row = py + ((ptrdiff_t)i * c + ch) * hw;
            const float v = pb[ch];
            for (int p = 0; p < hw; p++)
                row[p] += v;
        }
    return GAN_OK;
}

static gan_status cpu_bias_grad(gan_backend *be, const gan_tensor *dy, gan_tensor *dbias, int n,
                                int c, int hw)
{
    const float *pdy = CF(dy);
    float *pdb = F(dbias);
#pragma omp parallel for num_threads(threads_of(be))
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *row = pdy + ((ptrdiff_t)i * c + ch) * hw;
            for (int p = 0; p < hw; p++)
                sum += row[p];
        }
        pdb[ch] += (float)sum;
    }
    return GAN_OK;
}

/* ----------------------------------------------------------- convolution */

/* Convolutions run over chunks of samples: the chunk's im2col columns
 * [K = in_c*kh*kw, chunk*P] (P = out_h*out_w) make one large GEMM with the
 * [out_c, K] weights. The chunk is sized to keep the workspace bounded. */
enum { CONV_WORKSPACE_FLOATS = 8 << 20 };

static int conv_chunk(const gan_conv_geom *g, size_t per_sample)
{
    size_t chunk = CONV_WORKSPACE_FLOATS / per_sample;
    if (chunk < 1)
        chunk = 1;
    return chunk > (size_t)g->n ? g->n : (int)chunk;
}

/* The output columns [lo, hi) whose input column ow*stride - pad + k falls
 * inside [0, in): the rest read (or write) padding. */
static void valid_range(int out, int in, int stride, int pad, int k, int *lo, int *hi)
{
    const int first = pad - k, last = in - 1 + pad - k; /* ow*stride must lie in [first, last] */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = last < 0 ? 0 : last / stride + 1;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

static void im2col(const gan_conv_geom *g, const float *x, int n0, int cn, float *col, int threads)
{
    const int kk = g->kernel_h * g->kernel_w, rows = g->in_c * kk;
    const int P = g->out_h * g->out_w;
    const ptrdiff_t ld = (ptrdiff_t)cn * P;
#pragma omp parallel for collapse(2) num_threads(threads)
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < cn; s++) {
            const int ci = r / kk, kh = (r % kk) / g->kernel_w, kw = r % g->kernel_w;
            const float *plane = x + ((ptrdiff_t)(n0 + s) * g->in_c + ci) * g->in_h * g->in_w;
            float *dst = col + r * ld + (ptrdiff_t)s * P;
            int lo, hi;
            valid_range(g->out_w, g->in_w, g->stride_w, g->pad_w, kw, &lo, &hi);
            for (int oh = 0; oh < g->out_h; oh++) {
                const int h = oh * g->stride_h - g->pad_h + kh;
                float *d = dst + oh * g->out_w;
                if (h < 0 || h >= g->in_h) {
                    memset(d, 0, (size_t)g->out_w * sizeof *d);
                    continue;
                }
                const float *src = plane + (ptrdiff_t)h * g->in_w;
                const int off = kw - g->pad_w; /* input column of ow is ow*stride + off */
                for (int ow = 0; ow < lo; ow++)
                    d[ow] = 0.0f;
                if (g->stride_w == 1)
                    memcpy(d + lo, src + lo + off, (size_t)(hi - lo) * sizeof *d);
                else
                    for (int ow = lo; ow < hi; ow++)
                        d[ow] = src[ow * g->stride_w + off];
                for (int ow = hi; ow < g->out_w; ow++)
                    d[ow] = 0.0f;
            }
        }
}

/* Each thread owns whole (sample, channel) planes and adds the columns'
 * contributions kernel tap by kernel tap: no write conflicts, and every
 * element sums its terms in the same order whatever the thread count. */
static void col2im(const gan_conv_geom *g, const float *col, int n0, int cn, float *x, int threads)
{
    const int P = g->out_h * g->out_w;
    const ptrdiff_t ld = (ptrdiff_t)cn * P;
#pragma omp parallel for collapse(2) num_threads(threads)
    for (int s = 0; s < cn; s++)
        for (int ci = 0; ci < g->in_c; ci++) {
            float *plane = x + ((ptrdiff_t)(n0 + s) * g->in_c + ci) * g->in_h * g->in_w;
            memset(plane, 0, (size_t)g->in_h * g->in_w * sizeof *plane);
            for (int kh = 0; kh < g->kernel_h; kh++)
                for (int kw = 0; kw < g->kernel_w; kw++) {
                    const int r = (ci * g->kernel_h + kh) * g->kernel_w + kw;
                    const float *src = col + r * ld + (ptrdiff_t)s * P;
                    int lo, hi;
                    valid_range(g->out_w, g->in_w, g->stride_w, g->pad_w, kw, &lo, &hi);
                    for (int oh = 0; oh < g->out_h; oh++) {
                        const int h = oh * g->stride_h - g->pad_h + kh;
                        if (h < 0 || h >= g->in_h)
                            continue;
                        float *row = plane + (ptrdiff_t)h * g->in_w;
                        const float *c = src + oh * g->out_w;
                        const int off = kw - g->pad_w;
                        for (int ow = lo; ow < hi; ow++)
                            row[ow * g->stride_w + off] += c[ow];
                    }
                }
        }
}

/* [n][c][P] of samples n0.. <-> [c][chunk*P] */
static void nchw_to_chunk(const float *src, int n0, int cn, int c, int P, float *dst, int threads)
{
#pragma omp parallel for collapse(2) num_threads(threads)
    for (int ch = 0; ch < c; ch++)
        for (int s = 0; s < cn; s++)
            memcpy(dst + ((ptrdiff_t)ch * cn + s) * P, src + ((ptrdiff_t)(n0 + s) * c + ch) * P,
                   (size_t)P * sizeof *dst);
}

static void chunk_to_nchw(const float *src, int n0, int cn, int c, int P, float *dst, int threads)
{
#pragma omp parallel for collapse(2) num_threads(threads)
    for (int s = 0; s < cn; s++)
        for (int ch = 0; ch < c; ch++)
            memcpy(dst + ((ptrdiff_t)(n0 + s) * c + ch) * P, src + ((ptrdiff_t)ch * cn + s) * P,
                   (size_t)P * sizeof *dst);
}

static gan_status cpu_conv2d_forward(gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                     const gan_tensor *w, gan_tensor *y)
{
    cpu_backend *cb = cpu(be);
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w;
    const int chunk = conv_chunk(g, (size_t)(K + g->out_c) * P);
    float *col = workspace(cb, (size_t)(K + g->out_c) * chunk * P);
    if (!col)
        return GAN_ERR_OUT_OF_MEMORY;
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        const int cn = g->n - n0 < chunk ? g->n - n0 : chunk;
        float *out = col + (ptrdiff_t)K * cn * P;
        im2col(g, CF(x), n0, cn, col, threads_of(be));
        gan_cpu_gemm(&cb->gemm, false, false, g->out_c, cn * P, K, 1.0f, CF(w), K, col,
                     (ptrdiff_t)cn * P, 0.0f, out, (ptrdiff_t)cn * P);
        chunk_to_nchw(out, n0, cn, g->out_c, P, F(y), threads_of(be));
    }
    return GAN_OK;
}

static gan_status cpu_conv2d_backward_data(gan_backend *be, const gan_conv_geom *g,
                                           const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx)
{
    cpu_backend *cb = cpu(be);
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w;
    const int chunk = conv_chunk(g, (size_t)(K + g->out_c) * P);
    float *dcol = workspace(cb, (size_t)(K + g->out_c) * chunk * P);
    if (!dcol)
        return GAN_ERR_OUT_OF_MEMORY;
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        const int cn = g->n - n0 < chunk ? g->n - n0 : chunk;
        float *dyc = dcol + (ptrdiff_t)K * cn * P;
        nchw_to_chunk(CF(dy), n0, cn, g->out_c, P, dyc, threads_of(be));
        gan_cpu_gemm(&cb->gemm, true, false, K, cn * P, g->out_c, 1.0f, CF(w), K, dyc,
                     (ptrdiff_t)cn * P, 0.0f, dcol, (ptrdiff_t)cn * P);
        col2im(g, dcol, n0, cn, F(dx), threads_of(be));
    }
    return GAN_OK;
}

static gan_status cpu_conv2d_backward_weight(gan_backend *be, const gan_conv_geom *g,
                                             const gan_tensor *x, const gan_tensor *dy,
                                             gan_tensor *dw)
{
    cpu_backend *cb = cpu(be);
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w;
    const int chunk = conv_chunk(g, (size_t)(K + g->out_c) * P);
    float *col = workspace(cb, (size_t)(K + g->out_c) * chunk * P);
    if (!col)
        return GAN_ERR_OUT_OF_MEMORY;
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        const int cn = g->n - n0 < chunk ? g->n - n0 : chunk;
        float *dyc = col + (ptrdiff_t)K * cn * P;
        im2col(g, CF(x), n0, cn, col, threads_of(be));
        nchw_to_chunk(CF(dy), n0, cn, g->out_c, P, dyc, threads_of(be));
        gan_cpu_gemm(&cb->gemm, false, true, g->out_c, K, cn * P, 1.0f, dyc, (ptrdiff_t)cn * P, col,
                     (ptrdiff_t)cn * P, 1.0f, F(dw), K);
    }
    return GAN_OK;
}

/* ----------------------------------------------------------- activations */

static gan_status cpu_activation_forward(gan_backend *be, gan_activation act, float slope,
                                         const gan_tensor *x, gan_tensor *y)
{
    const float *px = CF(x);
    float *py = F(y);
    const ptrdiff_t n = (ptrdiff_t)x->numel;
    switch (act) {
    case GAN_ACT_RELU:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            py[i] = px[i] > 0.0f ? px[i] : 0.0f;
        break;
    case GAN_ACT_LEAKY_RELU:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            py[i] = px[i] > 0.0f ? px[i] : slope * px[i];
        break;
    case GAN_ACT_TANH:
#pragma omp parallel for num_threads(threads_of(be)) if (n > 4096)
        for (ptrdiff_t i = 0; i < n; i++)
            py[i] = tanhf(px[i]);
        break;
    case GAN_ACT_SIGMOID:
#pragma omp parallel for num_threads(threads_of(be)) if (n > 4096)
        for (ptrdiff_t i = 0; i < n; i++)
            py[i] = 1.0f / (1.0f + expf(-px[i]));
        break;
    }
    return GAN_OK;
}

static gan_status cpu_activation_backward(gan_backend *be, gan_activation act, float slope,
                                          const gan_tensor *x, const gan_tensor *y,
                                          const gan_tensor *dy, gan_tensor *dx)
{
    const float *px = CF(x), *py = CF(y), *pdy = CF(dy);
    float *pdx = F(dx);
    const ptrdiff_t n = (ptrdiff_t)x->numel;
    switch (act) {
    case GAN_ACT_RELU:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            pdx[i] = px[i] > 0.0f ? pdy[i] : 0.0f;
        break;
    case GAN_ACT_LEAKY_RELU:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            pdx[i] = px[i] > 0.0f ? pdy[i] : slope * pdy[i];
        break;
    case GAN_ACT_TANH:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            pdx[i] = pdy[i] * (1.0f - py[i] * py[i]);
        break;
    case GAN_ACT_SIGMOID:
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 16384)
        for (ptrdiff_t i = 0; i < n; i++)
            pdx[i] = pdy[i] * py[i] * (1.0f - py[i]);
        break;
    }
    return GAN_OK;
}

/* ------------------------------------------------------------- batchnorm */

static gan_status cpu_batchnorm_forward_train(gan_backend *be, const gan_batchnorm_args *a,
                                              const gan_tensor *x, const gan_tensor *gamma,
                                              const gan_tensor *beta, gan_tensor *y,
                                              gan_tensor *save_mean, gan_tensor *save_invstd,
                                              gan_tensor *running_mean, gan_tensor *running_var)
{
    const float *px = CF(x), *pg = CF(gamma), *pb = CF(beta);
    float *py = F(y), *sm = F(save_mean), *si = F(save_invstd);
    float *rm = F(running_mean), *rv = F(running_var);
    const double count = (double)a->n * a->hw;
#pragma omp parallel for num_threads(threads_of(be))
    for (int c = 0; c < a->c; c++) {
        double sum = 0.0;
        for (int i = 0; i < a->n; i++) {
            const float *row = px + ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++)
                sum += row[p];
        }
        const double mean = sum / count;
        double ss = 0.0;
        for (int i = 0; i < a->n; i++) {
            const float *row = px + ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++) {
                const double d = row[p] - mean;
                ss += d * d;
            }
        }
        const double var = ss / count;
        const float invstd = (float)(1.0 / sqrt(var + a->eps));
        const float scale = pg[c] * invstd, shift = pb[c] - (float)mean * scale;
        for (int i = 0; i < a->n; i++) {
            const ptrdiff_t off = ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++)
                py[off + p] = px[off + p] * scale + shift;
        }
        sm[c] = (float)mean;
        si[c] = invstd;
        rm[c] = (1.0f - a->momentum) * rm[c] + a->momentum * (float)mean;
        rv[c] = (1.0f - a->momentum) * rv[c] + a->momentum * (float)(ss / (count - 1.0));
    }
    return GAN_OK;
}

static gan_status cpu_batchnorm_forward_eval(gan_backend *be, const gan_batchnorm_args *a,
                                             const gan_tensor *x, const gan_tensor *gamma,
                                             const gan_tensor *beta, const gan_tensor *running_mean,
                                             const gan_tensor *running_var, gan_tensor *y)
{
    const float *px = CF(x), *pg = CF(gamma), *pb = CF(beta);
    const float *rm = CF(running_mean), *rv = CF(running_var);
    float *py = F(y);
#pragma omp parallel for collapse(2) num_threads(threads_of(be))
    for (int i = 0; i < a->n; i++)
        for (int c = 0; c < a->c; c++) {
            const float scale = pg[c] / sqrtf(rv[c] + a->eps), shift = pb[c] - rm[c] * scale;
            const ptrdiff_t off = ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++)
                py[off + p] = px[off + p] * scale + shift;
        }
    return GAN_OK;
}

static gan_status cpu_batchnorm_backward(gan_backend *be, const gan_batchnorm_args *a,
                                         bool batch_stats, const gan_tensor *x,
                                         const gan_tensor *dy, const gan_tensor *gamma,
                                         const gan_tensor *mean, const gan_tensor *invstd,
                                         gan_tensor *dx, gan_tensor *dgamma, gan_tensor *dbeta)
{
    const float *px = CF(x), *pdy = CF(dy), *pg = CF(gamma), *pm = CF(mean), *pi = CF(invstd);
    float *pdx = dx ? F(dx) : NULL;
    float *pdg = dgamma ? F(dgamma) : NULL, *pdb = dbeta ? F(dbeta) : NULL;
    const double count = (double)a->n * a->hw;
#pragma omp parallel for num_threads(threads_of(be))
    for (int c = 0; c < a->c; c++) {
        const float m = pm[c], is = pi[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int i = 0; i < a->n; i++) {
            const ptrdiff_t off = ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++) {
                sum_dy += pdy[off + p];
                sum_dy_xhat += (double)pdy[off + p] * ((px[off + p] - m) * is);
            }
        }
        if (pdg)
            pdg[c] += (float)sum_dy_xhat;
        if (pdb)
            pdb[c] += (float)sum_dy;
        if (!pdx)
            continue;
        const float k = pg[c] * is;
        const float mean_dy = batch_stats ? (float)(sum_dy / count) : 0.0f;
        const float mean_dy_xhat = batch_stats ? (float)(sum_dy_xhat / count) : 0.0f;
        for (int i = 0; i < a->n; i++) {
            const ptrdiff_t off = ((ptrdiff_t)i * a->c + c) * a->hw;
            for (int p = 0; p < a->hw; p++) {
                const float xhat = (px[off + p] - m) * is;
                pdx[off + p] = k * (pdy[off + p] - mean_dy - xhat * mean_dy_xhat);
            }
        }
    }
    return GAN_OK;
}

static gan_status cpu_inverse_std(gan_backend *be, const gan_tensor *var, float eps,
                                  gan_tensor *invstd)
{
    (void)be;
    for (size_t c = 0; c < var->numel; c++)
        F(invstd)[c] = 1.0f / sqrtf(CF(var)[c] + eps);
    return GAN_OK;
}

/* ---------------------------------------------------------------- losses */

static gan_status cpu_bce_logits(gan_backend *be, const gan_tensor *z, const gan_tensor *t,
                                 gan_tensor *grad, float *loss, float *mean_prob)
{
    (void)be;
    const float *pz = CF(z), *pt = CF(t);
    float *pg = grad ? F(grad) : NULL;
    const size_t n = z->numel;
    double sum = 0.0, prob = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double zi = pz[i], ti = pt[i];
        sum += (zi > 0 ? zi : 0) - zi * ti + log1p(exp(-fabs(zi)));
        const double s = zi >= 0 ? 1.0 / (1.0 + exp(-zi)) : exp(zi) / (1.0 + exp(zi));
        prob += s;
        if (pg)
            pg[i] = (float)((s - ti) / (double)n);
    }
    *loss = (float)(sum / (double)n);
    if (mean_prob)
        *mean_prob = (float)(prob / (double)n);
    return GAN_OK;
}

static gan_status cpu_bce_probs(gan_backend *be, const gan_tensor *p, const gan_tensor *t,
                                gan_tensor *grad, float *loss)
{
    (void)be;
    const float *pp = CF(p), *pt = CF(t);
    float *pg = grad ? F(grad) : NULL;
    const size_t n = p->numel;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double pi = pp[i], ti = pt[i];
        const double log_p = fmax(log(pi), -100.0), log_1mp = fmax(log(1.0 - pi), -100.0);
        sum -= ti * log_p + (1.0 - ti) * log_1mp;
        if (pg)
            pg[i] = (float)((pi - ti) / fmax((1.0 - pi) * pi, 1e-12) / (double)n);
    }
    *loss = (float)(sum / (double)n);
    return GAN_OK;
}

/* ------------------------------------------------------------ optimizers */

static gan_status cpu_adam_step(gan_backend *be, const gan_adam_step_args *a, gan_tensor *param,
                                const gan_tensor *grad, gan_tensor *exp_avg, gan_tensor *exp_avg_sq)
{
    float *p = F(param), *m = F(exp_avg), *v = F(exp_avg_sq);
    const float *g = CF(grad);
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(a->lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float b1c = 1.0f - a->beta1, b2 = a->beta2, b2c = 1.0f - a->beta2;
    const float eps = a->eps, wd = a->weight_decay;
    const ptrdiff_t n = (ptrdiff_t)param->numel;
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 65536)
    for (ptrdiff_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * p[i];
        m[i] += b1c * (gi - m[i]); /* PyTorch's lerp form */
        v[i] = b2 * v[i] + b2c * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
    return GAN_OK;
}

static gan_status cpu_sgd_step(gan_backend *be, const gan_sgd_step_args *a, gan_tensor *param,
                               const gan_tensor *grad, gan_tensor *momentum_buf)
{
    float *p = F(param), *buf = momentum_buf ? F(momentum_buf) : NULL;
    const float *g = CF(grad);
    const ptrdiff_t n = (ptrdiff_t)param->numel;
#pragma omp parallel for simd num_threads(threads_of(be)) if (n > 65536)
    for (ptrdiff_t i = 0; i < n; i++) {
        float d = g[i] + a->weight_decay * p[i];
        if (buf) {
            buf[i] = a->first ? d : a->momentum * buf[i] + (1.0f - a->dampening) * d;
            d = a->nesterov ? d + a->momentum * buf[i] : buf[i];
        }
        p[i] -= a->lr * d;
    }
    return GAN_OK;
}

/* ---------------------------------------------------------------- create */

static void cpu_destroy(gan_backend *be)
{
    cpu_backend *cb = cpu(be);
    free(cb->gemm.pack_a);
    free(cb->gemm.pack_b);
    free(cb->workspace);
    free(cb);
}

static const gan_backend_iface cpu_iface = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .write = cpu_write,
    .read = cpu_read,
    .fill = cpu_fill,
    .gemm = cpu_gemm_op,
    .bias_add = cpu_bias_add,
    .bias_grad = cpu_bias_grad,
    .conv2d_forward = cpu_conv2d_forward,
    .conv2d_backward_data = cpu_conv2d_backward_data,
    .conv2d_backward_weight = cpu_conv2d_backward_weight,
    .activation_forward = cpu_activation_forward,
    .activation_backward = cpu_activation_backward,
    .batchnorm_forward_train = cpu_batchnorm_forward_train,
    .batchnorm_forward_eval = cpu_batchnorm_forward_eval,
    .batchnorm_backward = cpu_batchnorm_backward,
    .inverse_std = cpu_inverse_std,
    .bce_logits = cpu_bce_logits,
    .bce_probs = cpu_bce_probs,
    .adam_step = cpu_adam_step,
    .sgd_step = cpu_sgd_step,
};

gan_status gan_cpu_backend_create(gan_context *ctx, gan_backend **out)
{
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "cpu backend: out of memory");
    cb->base.iface = &cpu_iface;
    cb->base.ctx = ctx;
    const gan_ukernel *kernels[3];
    gan_cpu_ukernels(kernels, 3);
    cb->gemm.kernel = kernels[0];
    cb->gemm.num_threads = ctx->num_threads;
    cb->gemm.pack_a = alloc_aligned((size_t)GAN_GEMM_MC * GAN_GEMM_KC);
    cb->gemm.pack_b = alloc_aligned((size_t)GAN_GEMM_KC * GAN_GEMM_NC);
    if (!cb->gemm.pack_a || !cb->gemm.pack_b) {
        cpu_destroy(&cb->base);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "cpu backend: cannot allocate GEMM buffers");
    }
    gan_track_memory(ctx, (ptrdiff_t)(((size_t)GAN_GEMM_MC + GAN_GEMM_NC) * GAN_GEMM_KC * sizeof(float)));
    *out = &cb->base;
    return GAN_OK;
}
