/* test_winograd.c - the Winograd convolutions (stride 2 and stride 1)
 * against naive double-precision loops: the output, the input gradient and
 * the weight gradient, on maps
 * whose tiles run past the edges, channel counts that leave partial lanes,
 * and a batch split into several chunks; plus determinism across thread
 * counts. */
#include "cpu_winograd.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct naive {
    double *out, *in_grad, *dw;
} naive;

/* every term x[n, ci, h, w] * w[co, ci, kh, kw] -> out[n, co, oh, ow] of the convolution */
static naive naive_conv(const gan_conv_geom *g, const float *x, const float *w, const float *dy, const float *dw0)
{
    const size_t in_n = (size_t)g->n * g->in_c * g->in_h * g->in_w;
    const size_t out_n = (size_t)g->n * g->out_c * g->out_h * g->out_w, w_n = (size_t)g->out_c * g->in_c * 16;
    naive r = {calloc(out_n, sizeof(double)), calloc(in_n, sizeof(double)), calloc(w_n, sizeof(double))};
    for (size_t i = 0; i < w_n; i++)
        r.dw[i] = dw0[i];
    for (int n = 0; n < g->n; n++)
        for (int co = 0; co < g->out_c; co++)
            for (int ci = 0; ci < g->in_c; ci++)
                for (int kh = 0; kh < 4; kh++)
                    for (int kw = 0; kw < 4; kw++) {
                        const size_t wi = (((size_t)co * g->in_c + ci) * 4 + kh) * 4 + kw;
                        for (int oh = 0; oh < g->out_h; oh++)
                            for (int ow = 0; ow < g->out_w; ow++) {
                                const int h = oh * g->stride_h - g->pad_h + kh, v = ow * g->stride_w - g->pad_w + kw;
                                if (h < 0 || h >= g->in_h || v < 0 || v >= g->in_w)
                                    continue;
                                const size_t xi = (((size_t)n * g->in_c + ci) * g->in_h + h) * g->in_w + v;
                                const size_t yi = (((size_t)n * g->out_c + co) * g->out_h + oh) * g->out_w + ow;
                                r.out[yi] += (double)w[wi] * x[xi];
                                r.in_grad[xi] += (double)w[wi] * dy[yi];
                                r.dw[wi] += (double)dy[yi] * x[xi];
                            }
                    }
    return r;
}

static float *run(const gan_gemm_plan *plan, const gan_conv_geom *g, const gan_winograd_args *a, int threads)
{
    float *ws = aligned_alloc(64, (gan_winograd_workspace(plan, g, a) * sizeof(float) + 63) & ~(size_t)63);
    gan_winograd_run(plan, g, a, ws, threads);
    return ws;
}

static void check_geometry(const gan_gemm_plan *plan, int n, int in_c, int in_h, int in_w, int out_c, int stride,
                           int pad, unsigned *seed)
{
    const gan_conv_geom g = {n,      in_c,   in_h,   in_w, out_c, (in_h + 2 * pad - 4) / stride + 1,
                             (in_w + 2 * pad - 4) / stride + 1, 4, 4, stride, stride, pad, pad};
    CHECK(gan_winograd_suits(&g));
    const size_t in_n = (size_t)n * in_c * in_h * in_w, out_n = (size_t)n * out_c * g.out_h * g.out_w;
    const size_t w_n = (size_t)out_c * in_c * 16;
    float *x = malloc(in_n * sizeof(float)), *w = malloc(w_n * sizeof(float)), *dy = malloc(out_n * sizeof(float));
    float *dw0 = malloc(w_n * sizeof(float)), *y = malloc(out_n * sizeof(float)), *dx = malloc(in_n * sizeof(float));
    float *dw = malloc(w_n * sizeof(float)), *y2 = malloc(out_n * sizeof(float)), *dx2 = malloc(in_n * sizeof(float));
    test_fill(x, in_n, -1, 1, seed);
    test_fill(w, w_n, -0.1f, 0.1f, seed);
    test_fill(dy, out_n, -1, 1, seed);
    test_fill(dw0, w_n, -1, 1, seed);
    naive want = naive_conv(&g, x, w, dy, dw0);
    for (size_t i = 0; i < in_n; i++) /* every element must be written */
        dx[i] = dx2[i] = NAN;
    for (size_t i = 0; i < out_n; i++)
        y[i] = y2[i] = NAN;
    memcpy(dw, dw0, w_n * sizeof(float));

    /* the calls the backend makes: the output or the input gradient alone,
     * or either with the weight gradient; on two threads and on one */
    free(run(plan, &g, &(gan_winograd_args){.w = w, .in = x, .out_grad = dy, .out = y, .dw = dw}, 2));
    free(run(plan, &g, &(gan_winograd_args){.w = w, .in = x, .out_grad = dy, .in_grad = dx, .dw = dw}, 2));
    free(run(plan, &g, &(gan_winograd_args){.w = w, .in = x, .out = y2}, 1));
    free(run(plan, &g, &(gan_winograd_args){.w = w, .out_grad = dy, .in_grad = dx2}, 1));
    for (size_t i = 0; i < w_n; i++) /* dw has had the gradient added twice */
        want.dw[i] = 2.0 * want.dw[i] - dw0[i];
    char what[160];
    snprintf(what, sizeof what, "winograd n=%d %d->%d %dx%d s%d p%d", n, in_c, out_c, in_h, in_w, stride, pad);
    const double tol = 1e-5 * (in_c + out_c);
    test_expect_close(what, y, want.out, out_n, tol, 1e-4);
    test_expect_close(what, dx, want.in_grad, in_n, tol, 1e-4);
    test_expect_close(what, dw, want.dw, w_n, 1e-5 * n * g.out_h * g.out_w, 1e-4);
    free(run(plan, &g, &(gan_winograd_args){.w = w}, 2)); /* nothing asked: nothing done */
    CHECK(memcmp(y, y2, out_n * sizeof(float)) == 0);
    CHECK(memcmp(dx, dx2, in_n * sizeof(float)) == 0);
    free(want.out), free(want.in_grad), free(want.dw);
    free(x), free(w), free(dy), free(dw0), free(y), free(dx), free(dw), free(y2), free(dx2);
}

int main(void)
{
    const gan_ukernel *kernels[4];
    const int n_kernels = gan_cpu_ukernels(kernels, 4);
    unsigned seed = 777;
    for (int ki = 0; ki < n_kernels; ki++) { /* each packs the transformed weights its own way */
        gan_gemm_plan plan;
        CHECK(gan_gemm_plan_init(&plan, kernels[ki], 2));
        printf("kernel %s\n", kernels[ki]->name);
        /* F(4x4, 2x2): stride 2, padding 1 */
        check_geometry(&plan, 2, 8, 8, 8, 8, 2, 1, &seed);     /* one tile a sample */
        check_geometry(&plan, 3, 9, 7, 11, 10, 2, 1, &seed);   /* odd maps: tiles past the edges, partial lanes */
        check_geometry(&plan, 5, 16, 16, 16, 24, 2, 1, &seed); /* several tiles a row */
        check_geometry(&plan, 2, 12, 9, 6, 8, 2, 1, &seed);    /* odd rows, even columns */
        check_geometry(&plan, 2, 72, 8, 8, 66, 2, 1, &seed);   /* products deeper than a KC block */
        /* F(3x3, 4x4): stride 1 */
        check_geometry(&plan, 3, 8, 6, 6, 8, 1, 0, &seed);      /* one tile a sample, as dcgan's 3x3 to 6x6 */
        check_geometry(&plan, 20, 40, 6, 6, 264, 1, 0, &seed);  /* 20 tiles: two blocks of lanes, the second short;
                                                                  * the input gradient's products 264 deep, past a
                                                                  * KC block */
        check_geometry(&plan, 2, 9, 10, 8, 10, 1, 0, &seed);    /* 7x5 outputs: tiles past the edges */
        check_geometry(&plan, 3, 10, 5, 7, 9, 1, 2, &seed);     /* padding 2: 6x8 outputs */
        check_geometry(&plan, 2, 300, 6, 6, 16, 1, 0, &seed);   /* products deeper than a KC block */
        if (ki == 0) {
            check_geometry(&plan, 40, 8, 64, 64, 64, 2, 1, &seed); /* chunks of the batch */
            check_geometry(&plan, 24, 8, 99, 99, 96, 1, 0, &seed);
            /* two chunks (for the output and weight gradient 728 samples of 4 tiles, then 73, whose last
             * block of lanes holds 4 tiles, the tables' other lanes pointing past the batch), whose products
             * fit a thread's packing space: each made whole by one thread, the second chunk's weight
             * gradient added to the first's */
            check_geometry(&plan, 801, 64, 9, 9, 8, 1, 0, &seed);
        }
        gan_gemm_plan_free(&plan);
    }

    /* geometries it does not take */
    gan_conv_geom g = {1, 8, 8, 8, 8, 4, 4, 4, 4, 2, 2, 1, 1};
    g.in_c = 3;
    CHECK(!gan_winograd_suits(&g));
    g.in_c = 8, g.stride_w = 1;
    CHECK(!gan_winograd_suits(&g));
    g.stride_w = 2, g.pad_h = g.pad_w = 0; /* stride 2 without padding */
    CHECK(!gan_winograd_suits(&g));
    g = (gan_conv_geom){1, 8, 4, 5, 8, 1, 2, 4, 4, 1, 1, 0, 0}; /* stride 1, an output smaller than a tile */
    CHECK(!gan_winograd_suits(&g));
    g = (gan_conv_geom){1, 8, 3, 3, 8, 6, 6, 4, 4, 1, 1, 4, 4}; /* padding a whole kernel */
    CHECK(!gan_winograd_suits(&g));
    return test_finish("test_winograd");
}
