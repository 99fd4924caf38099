/* test_conv_bits.c - the CPU backend's convolution ops that read their
 * input in place (the forward pass and the weight gradient of an unpadded
 * convolution) or make the input gradient without its columns (col2im
 * with the product that makes them, or tile by tile of dX) against the
 * plain products with an im2col operand that they replace (and col2im),
 * made here with the same micro-kernel and added up in the same order:
 * the results must be the same to the bit, as the library's docs say and
 * as training runs that compare checkpoints across versions rely on. */
#include "cpu_gemm.h"
#include "gan_internal.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static unsigned seed = 11;

/* The im2col table of a convolution: entry r * P + p is the offset in a
 * sample of tap r at output position p, -1 in the padding */
static int32_t *im2col_table(const gan_conv_geom *g)
{
    const int kk = g->kernel_h * g->kernel_w, K = g->in_c * kk, P = g->out_h * g->out_w;
    int32_t *index = malloc((size_t)K * P * sizeof *index);
    for (int r = 0; r < K; r++)
        for (int p = 0; p < P; p++) {
            const int ci = r / kk, kh = r % kk / g->kernel_w, kw = r % g->kernel_w;
            const int h = p / g->out_w * g->stride_h - g->pad_h + kh, w = p % g->out_w * g->stride_w - g->pad_w + kw;
            index[(size_t)r * P + p] =
                h >= 0 && h < g->in_h && w >= 0 && w < g->in_w ? (ci * g->in_h + h) * g->in_w + w : -1;
        }
    return index;
}

static float *random_floats(size_t n)
{
    float *x = malloc(n * sizeof *x);
    test_fill(x, n, -1.0f, 1.0f, &seed);
    return x;
}

static void expect_same_bits(const char *what, const gan_conv_geom *g, gan_tensor *t, const float *want, size_t n)
{
    float *got = test_read(t);
    const bool same = memcmp(got, want, n * sizeof *got) == 0;
    printf("  %s, %d samples %d->%d channels %dx%d k%d s%d p%d: %s\n", what, g->n, g->in_c, g->out_c, g->in_h,
           g->in_w, g->kernel_h, g->stride_h, g->pad_h, same ? "the same bits" : "DIFFERENT");
    CHECK(same);
    free(got);
}

/* y = W * columns(x); dW += dY * columns(x)^T; dX = col2im(W^T * dY) */
static void check_geometry(gan_context *ctx, const gan_gemm_plan *plan, gan_conv_geom g)
{
    const int K = g.in_c * g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
    const size_t nx = (size_t)g.n * g.in_c * g.in_h * g.in_w, ny = (size_t)g.n * g.out_c * P;
    const size_t nw = (size_t)g.out_c * K, sample = (size_t)g.in_c * g.in_h * g.in_w;
    int32_t *index = im2col_table(&g);
    float *x = random_floats(nx), *dy = random_floats(ny), *w = random_floats(nw), *dw0 = random_floats(nw);
    gan_tensor *xt = test_tensor(ctx, 4, (int[]){g.n, g.in_c, g.in_h, g.in_w}, x);
    gan_tensor *dyt = test_tensor(ctx, 4, (int[]){g.n, g.out_c, g.out_h, g.out_w}, dy);
    gan_tensor *wt = test_tensor(ctx, 4, (int[]){g.out_c, g.in_c, g.kernel_h, g.kernel_w}, w);
    gan_tensor *yt = test_tensor(ctx, 4, (int[]){g.n, g.out_c, g.out_h, g.out_w}, NULL);
    gan_tensor *dwt = test_tensor(ctx, 4, (int[]){g.out_c, g.in_c, g.kernel_h, g.kernel_w}, dw0);
    gan_tensor *dxt = test_tensor(ctx, 4, (int[]){g.n, g.in_c, g.in_h, g.in_w}, NULL);

    float *want = malloc((nx > ny ? nx : ny) * sizeof *want);
    REQUIRE_OK(ctx, GAN_RUN(ctx, conv_transpose2d_backward, &g, NULL, xt, wt, yt, NULL));
    gan_cpu_gemm_matrices(plan, g.out_c, g.n * P, K, 1.0f, gan_plain(w, K, false),
                          gan_im2col(x, (ptrdiff_t)sample, index, P, false), 0.0f, gan_nchw(want, g.out_c, P));
    expect_same_bits("forward", &g, yt, want, ny);

    REQUIRE_OK(ctx, GAN_RUN(ctx, conv2d_backward, &g, xt, dyt, wt, NULL, dwt));
    memcpy(want, dw0, nw * sizeof *want);
    gan_cpu_gemm_matrices(plan, g.out_c, K, g.n * P, 1.0f, gan_nchw(dy, g.out_c, P),
                          gan_im2col(x, (ptrdiff_t)sample, index, P, true), 1.0f, gan_plain(want, K, false));
    expect_same_bits("weight gradient added to one there", &g, dwt, want, nw);

    REQUIRE_OK(ctx, GAN_RUN(ctx, conv2d_backward, &g, NULL, dyt, wt, dxt, NULL));
    float *col = malloc((size_t)K * g.n * P * sizeof *col);
    gan_cpu_gemm_matrices(plan, K, g.n * P, g.out_c, 1.0f, gan_plain(w, K, true), gan_nchw(dy, g.out_c, P), 0.0f,
                          gan_plain(col, (ptrdiff_t)g.n * P, false));
    memset(want, 0, nx * sizeof *want);
    for (int s = 0; s < g.n; s++) /* each element's terms in the order of the taps */
        for (int r = 0; r < K; r++)
            for (int p = 0; p < P; p++)
                if (index[(size_t)r * P + p] >= 0)
                    want[s * sample + index[(size_t)r * P + p]] += col[(size_t)r * g.n * P + (size_t)s * P + p];
    expect_same_bits("input gradient", &g, dxt, want, nx);

    free(col), free(want), free(index), free(x), free(dy), free(w), free(dw0);
    gan_tensor_free(xt), gan_tensor_free(dyt), gan_tensor_free(wt), gan_tensor_free(yt), gan_tensor_free(dwt);
    gan_tensor_free(dxt);
}

/* An input gradient whose every term underflows to -0: col2im adds the
 * columns to a block that starts at +0, so every element must be +0 */
static void check_signed_zeros(gan_context *ctx, gan_conv_geom g)
{
    const size_t nx = (size_t)g.n * g.in_c * g.in_h * g.in_w, ny = (size_t)g.n * g.out_c * g.out_h * g.out_w;
    const size_t nw = (size_t)g.out_c * g.in_c * g.kernel_h * g.kernel_w;
    float *dy = malloc(ny * sizeof *dy), *w = malloc(nw * sizeof *w);
    for (size_t i = 0; i < ny; i++)
        dy[i] = -1e-30f;
    for (size_t i = 0; i < nw; i++)
        w[i] = 1e-30f;
    gan_tensor *dyt = test_tensor(ctx, 4, (int[]){g.n, g.out_c, g.out_h, g.out_w}, dy);
    gan_tensor *wt = test_tensor(ctx, 4, (int[]){g.out_c, g.in_c, g.kernel_h, g.kernel_w}, w);
    gan_tensor *dxt = test_tensor(ctx, 4, (int[]){g.n, g.in_c, g.in_h, g.in_w}, NULL);
    REQUIRE_OK(ctx, GAN_RUN(ctx, conv2d_backward, &g, NULL, dyt, wt, dxt, NULL));
    float *got = test_read(dxt), *want = calloc(nx, sizeof *want);
    const bool same = memcmp(got, want, nx * sizeof *got) == 0;
    printf("  input gradient of -0 terms, %d samples %d->%d channels: %s\n", g.n, g.in_c, g.out_c,
           same ? "+0 throughout" : "DIFFERENT");
    CHECK(same);
    free(got), free(want), free(dy), free(w);
    gan_tensor_free(dyt), gan_tensor_free(wt), gan_tensor_free(dxt);
}

typedef struct job {
    gan_context *ctx;
    const gan_gemm_plan *plan;
} job;

/* in a gathering, as a training step runs its ops */
static gan_status run_all(void *arg)
{
    const job *j = arg;
    /* dcgan's third generator layer as a convolution, at 64 samples: 72 taps, 64 channels, 36 positions
     * (2,304 of them: two chunks of the weight gradient; col2im in tasks of one group of 16 samples) */
    check_geometry(j->ctx, j->plan, (gan_conv_geom){64, 8, 13, 13, 64, 6, 6, 3, 3, 2, 2, 0, 0});
    /* 25 positions: col2im in tasks of two groups, the last of them short (130 samples); 400 taps, 32
     * channels, as dcgan's second discriminator layer */
    check_geometry(j->ctx, j->plan, (gan_conv_geom){130, 16, 13, 13, 32, 5, 5, 5, 5, 2, 2, 0, 0});
    /* 16 channels, whose weight gradient takes a narrower kernel than the plan's where there is one (AVX2's
     * panels of 16 beside AVX-512's of 32): dcgan's first discriminator layer */
    check_geometry(j->ctx, j->plan, (gan_conv_geom){130, 1, 28, 28, 16, 13, 13, 3, 3, 2, 2, 0, 0});
    /* 9 positions (col2im in tasks of two groups where the AVX-512 kernel is not the plan's), 2,048 taps, 256
     * channels: a 4x4 kernel with stride 2 and no padding, which the Winograd schemes leave to these paths
     * (dcgan's second generator layer, the same with stride 1 from 6x6, goes to Winograd's F(3x3, 4x4)) */
    check_geometry(j->ctx, j->plan, (gan_conv_geom){130, 128, 8, 8, 256, 3, 3, 4, 4, 2, 2, 0, 0});
    /* input gradients made tile by tile of dX without columns, where the AVX-512 kernel is the plan's (128
     * channels of dY or more; the geometry above too): dcgan's third generator layer as a convolution, at 130
     * samples (a last tile of 2); padding, and a last panel of dX's channels short (40: 8 of 32); a stride
     * past the kernel, which leaves positions of dX that no tap reaches; 5 samples (one tile, short) of 24
     * channels (one panel, short) with a 3x2 kernel, strides 2 and 1, padding 1 and 0 */
    check_geometry(j->ctx, j->plan, (gan_conv_geom){130, 64, 13, 13, 128, 6, 6, 3, 3, 2, 2, 0, 0});
    check_geometry(j->ctx, j->plan, (gan_conv_geom){67, 40, 9, 9, 128, 5, 5, 3, 3, 2, 2, 1, 1});
    check_geometry(j->ctx, j->plan, (gan_conv_geom){67, 32, 9, 9, 128, 5, 5, 1, 1, 2, 2, 0, 0});
    check_geometry(j->ctx, j->plan, (gan_conv_geom){5, 24, 9, 8, 128, 5, 7, 3, 2, 2, 1, 1, 0});
    check_signed_zeros(j->ctx, (gan_conv_geom){130, 64, 13, 13, 128, 6, 6, 3, 3, 2, 2, 0, 0});
    return GAN_OK;
}

int main(void)
{
    gan_context *ctx = test_context(2, 3);
    gan_gemm_plan plan;
    if (!gan_gemm_plan_init(&plan, gan_cpu_fastest_ukernel(), 1)) {
        fprintf(stderr, "test_conv_bits: out of memory\n");
        return 1;
    }
    printf("micro-kernel: %s\n", plan.kernel->name);
    const job j = {ctx, &plan};
    REQUIRE_OK(ctx, gan_context_gather(ctx, run_all, (void *)&j));
    gan_gemm_plan_free(&plan);
    gan_context_free(ctx);
    return test_finish("test_conv_bits");
}
