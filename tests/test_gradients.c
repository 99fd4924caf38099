/* test_gradients.c - every layer's and loss's backward against central
 * finite differences of a scalar function of its output. */
#include "test_util.h"

#include <string.h>

static unsigned seed = 77;

/* L = sum(y * r) in double, for the model's output on x */
static double objective(gan_context *ctx, gan_model *m, const gan_tensor *x, const float *r)
{
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
    float *yh = test_read(y);
    double s = 0.0;
    for (size_t i = 0; i < gan_tensor_numel(y); i++)
        s += (double)yh[i] * r[i];
    free(yh);
    return s;
}

/* Compares an analytic gradient with finite differences of L with respect
 * to up to `samples` elements of t (spread over the tensor). */
static void compare_fd(gan_context *ctx, const char *what, gan_model *m, const gan_tensor *x,
                       gan_tensor *t, const float *analytic, const float *r, float h,
                       bool avoid_kinks)
{
    const size_t n = gan_tensor_numel(t), samples = 24;
    const size_t step = n > samples ? n / samples : 1;
    float *v = test_read(t);
    float got[64];
    double want[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i += step, k++) {
        const float orig = v[i];
        /* keep ReLU-like kinks out of the differencing interval */
        if (avoid_kinks && fabsf(orig) < 2 * h)
            v[i] = orig < 0 ? -3 * h : 3 * h;
        const float base = v[i];
        v[i] = base + h;
        REQUIRE_OK(ctx, gan_tensor_write(t, v, n));
        double lp = objective(ctx, m, x, r);
        v[i] = base - h;
        REQUIRE_OK(ctx, gan_tensor_write(t, v, n));
        double lm = objective(ctx, m, x, r);
        v[i] = orig;
        REQUIRE_OK(ctx, gan_tensor_write(t, v, n));
        want[k] = (lp - lm) / (2.0 * (double)h);
        got[k] = analytic[i];
        if (base != orig) /* analytic value at the moved point: recompute below */
            got[k] = NAN;
    }
    /* drop moved points (never for smooth layers) */
    size_t kept = 0;
    for (size_t i = 0; i < k; i++)
        if (!isnan(got[i])) {
            got[kept] = got[i];
            want[kept++] = want[i];
        }
    test_expect_close(what, got, want, kept, 2e-3, 2e-2);
    free(v);
}

/* Gradient check of a model: input gradient and every parameter's. */
static void check_model(gan_context *ctx, const char *name, gan_model *m, int ndim, const int *shape,
                        bool avoid_kinks)
{
    size_t nx = 1;
    for (int i = 0; i < ndim; i++)
        nx *= (size_t)shape[i];
    float *xh = malloc(nx * sizeof(float));
    test_fill(xh, nx, -1.0f, 1.0f, &seed);
    if (avoid_kinks) /* inputs away from 0 so +-h never crosses a kink */
        for (size_t i = 0; i < nx; i++)
            xh[i] += xh[i] < 0 ? -0.05f : 0.05f;
    gan_tensor *x = test_tensor(ctx, ndim, shape, xh);
    const gan_tensor *y, *dx;
    REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
    const size_t ny = gan_tensor_numel(y);
    float *r = malloc(ny * sizeof(float));
    test_fill(r, ny, -1.0f, 1.0f, &seed);
    gan_tensor *dy = test_tensor(ctx, gan_tensor_ndim(y), (int[]){gan_tensor_dim(y, 0),
                                 gan_tensor_dim(y, 1), gan_tensor_dim(y, 2), gan_tensor_dim(y, 3)}, r);
    REQUIRE_OK(ctx, gan_model_zero_grad(m));
    REQUIRE_OK(ctx, gan_model_backward(m, dy, &dx));
    float *dxh = test_read(dx);
    char what[128];
    snprintf(what, sizeof what, "%s: d/dx", name);
    compare_fd(ctx, what, m, x, x, dxh, r, 1e-2f, false);
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        if (e.kind != GAN_ENTRY_PARAMETER)
            continue;
        float *g = test_read(e.grad);
        snprintf(what, sizeof what, "%s: d/d%s", name, e.name);
        compare_fd(ctx, what, m, x, e.value, g, r, 1e-2f, avoid_kinks);
        free(g);
    }
    free(dxh), free(r), free(xh);
    gan_tensor_free(dy);
    gan_tensor_free(x);
}

static void check_layer(gan_context *ctx, const char *name, gan_layer *l, int ndim, const int *shape,
                        bool avoid_kinks)
{
    gan_model *m = test_single_layer_model(ctx, l);
    check_model(ctx, name, m, ndim, shape, avoid_kinks);
    gan_model_free(m);
}

static gan_layer *conv(gan_context *ctx, bool transposed, int ci, int co, int k, int s, int p, int op)
{
    gan_conv2d_params prm = gan_conv2d_default_params(ci, co, k);
    prm.stride_h = prm.stride_w = s;
    prm.pad_h = prm.pad_w = p;
    prm.output_pad_h = prm.output_pad_w = op;
    gan_layer *l;
    REQUIRE_OK(ctx, transposed ? gan_conv_transpose2d_create(ctx, &prm, &l) : gan_conv2d_create(ctx, &prm, &l));
    return l;
}

/* A second backward without zero_grad doubles the weight gradient: the
 * backend adds to it, whichever way it computes it */
static void check_weight_grad_accumulates(gan_context *ctx, const char *name, gan_layer *l, const int shape[4])
{
    gan_model *m = test_single_layer_model(ctx, l);
    gan_tensor *x = test_tensor(ctx, 4, shape, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(x, -1, 1));
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
    gan_tensor *dy = test_tensor(ctx, 4, (int[]){gan_tensor_dim(y, 0), gan_tensor_dim(y, 1), gan_tensor_dim(y, 2),
                                                 gan_tensor_dim(y, 3)}, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(dy, -1, 1));
    gan_entry w;
    REQUIRE_OK(ctx, gan_model_entry(m, 0, &w));
    REQUIRE_OK(ctx, gan_model_zero_grad(m));
    REQUIRE_OK(ctx, gan_model_backward(m, dy, NULL));
    float *once = test_read(w.grad);
    REQUIRE_OK(ctx, gan_model_backward(m, dy, NULL));
    float *twice = test_read(w.grad);
    const size_t n = gan_tensor_numel(w.grad);
    double *want = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        want[i] = 2.0 * once[i];
    char what[128];
    snprintf(what, sizeof what, "%s: weight gradient accumulates", name);
    test_expect_close(what, twice, want, n, 1e-5, 1e-5);
    free(want), free(once), free(twice);
    gan_tensor_free(dy);
    gan_tensor_free(x);
    gan_model_free(m);
}

/* Element [b][c][i][j] of a [.][channels][h][w] array */
static size_t at4(int channels, int h, int w, int b, int c, int i, int j)
{
    return (((size_t)b * channels + c) * h + i) * w + j;
}

/* A convolution's weight gradient against the double loop, added to a
 * gradient already there: shape is the input's, [n, ci, h, w]; unpadded, as
 * the CPU backend's in-place weight gradient takes them */
static void check_conv_weight_grad(gan_context *ctx, bool transposed, int co, int k, int s, const int shape[4])
{
    const int n = shape[0], ci = shape[1], h = shape[2], w = shape[3];
    gan_model *m = test_single_layer_model(ctx, conv(ctx, transposed, ci, co, k, s, 0, 0));
    gan_tensor *x = test_tensor(ctx, 4, shape, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(x, -1, 1));
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
    const int oh = gan_tensor_dim(y, 2), ow = gan_tensor_dim(y, 3);
    gan_tensor *dy = test_tensor(ctx, 4, (int[]){n, co, oh, ow}, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(dy, -1, 1));
    gan_entry wt;
    REQUIRE_OK(ctx, gan_model_entry(m, 0, &wt));
    const size_t nw = gan_tensor_numel(wt.grad);
    float *before = malloc(nw * sizeof *before);
    test_fill(before, nw, -1.0f, 1.0f, &seed);
    REQUIRE_OK(ctx, gan_tensor_write(wt.grad, before, nw));
    REQUIRE_OK(ctx, gan_model_backward(m, dy, NULL));
    float *got = test_read(wt.grad), *xh = test_read(x), *dyh = test_read(dy);
    double *want = malloc(nw * sizeof *want);
    for (size_t i = 0; i < nw; i++)
        want[i] = before[i];
    /* conv2d: dW[co][ci][kh][kw] += dy[n][co][yh][yw] x[n][ci][yh*s+kh][yw*s+kw];
     * transposed: dW[ci][co][kh][kw] += x[n][ci][ih][iw] dy[n][co][ih*s+kh][iw*s+kw] */
    for (int b = 0; b < n; b++)
        for (int c = 0; c < ci; c++)
            for (int o = 0; o < co; o++)
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        double sum = 0;
                        for (int i = 0; i < (transposed ? h : oh); i++)
                            for (int j = 0; j < (transposed ? w : ow); j++)
                                sum += transposed ? (double)xh[at4(ci, h, w, b, c, i, j)] *
                                                        dyh[at4(co, oh, ow, b, o, i * s + kh, j * s + kw)]
                                                  : (double)dyh[at4(co, oh, ow, b, o, i, j)] *
                                                        xh[at4(ci, h, w, b, c, i * s + kh, j * s + kw)];
                        want[transposed ? at4(co, k, k, c, o, kh, kw) : at4(ci, k, k, o, c, kh, kw)] += sum;
                    }
    char what[128];
    snprintf(what, sizeof what, "%s %d->%d k%d s%d on [%d, %d, %d, %d]: weight gradient against the loop",
             transposed ? "conv_transpose2d" : "conv2d", ci, co, k, s, n, ci, h, w);
    test_expect_close(what, got, want, nw, 1e-4, 1e-5); /* sums of up to 2,500 float products */
    free(before), free(got), free(xh), free(dyh), free(want);
    gan_tensor_free(dy);
    gan_tensor_free(x);
    gan_model_free(m);
}

static void check_losses(gan_context *ctx)
{
    const int shape[2] = {7, 3};
    float z[21], t[21], p[21];
    test_fill(z, 21, -4.0f, 4.0f, &seed);
    test_fill(p, 21, 0.05f, 0.95f, &seed);
    for (int i = 0; i < 21; i++)
        t[i] = (float)(i % 3) * 0.5f; /* 0, 0.5, 1: soft labels too */
    gan_tensor *zt = test_tensor(ctx, 2, shape, z), *pt = test_tensor(ctx, 2, shape, p);
    gan_tensor *tt = test_tensor(ctx, 2, shape, t), *g = test_tensor(ctx, 2, shape, NULL);
    for (int which = 0; which < 2; which++) {
        float *in = which ? p : z;
        gan_tensor *it = which ? pt : zt;
        float loss, lp, lm, mean_prob = 0;
        REQUIRE_OK(ctx, which ? gan_bce(ctx, it, tt, g, &loss) : gan_bce_with_logits(ctx, it, tt, g, &loss, &mean_prob));
        float *gh = test_read(g);
        double want[21];
        double reference = 0.0, prob = 0.0;
        for (int i = 0; i < 21; i++) {
            double q = which ? in[i] : 1.0 / (1.0 + exp(-(double)in[i]));
            reference -= t[i] * log(q) + (1 - t[i]) * log(1 - q);
            prob += q;
            const float h = 1e-3f, orig = in[i];
            in[i] = orig + h;
            REQUIRE_OK(ctx, gan_tensor_write(it, in, 21));
            REQUIRE_OK(ctx, which ? gan_bce(ctx, it, tt, NULL, &lp) : gan_bce_with_logits(ctx, it, tt, NULL, &lp, NULL));
            in[i] = orig - h;
            REQUIRE_OK(ctx, gan_tensor_write(it, in, 21));
            REQUIRE_OK(ctx, which ? gan_bce(ctx, it, tt, NULL, &lm) : gan_bce_with_logits(ctx, it, tt, NULL, &lm, NULL));
            in[i] = orig;
            REQUIRE_OK(ctx, gan_tensor_write(it, in, 21));
            want[i] = ((double)lp - lm) / (2.0 * h);
        }
        double lw = reference / 21;
        test_expect_close(which ? "bce loss" : "bce_with_logits loss", &loss, &lw, 1, 1e-6, 1e-5);
        test_expect_close(which ? "bce grad" : "bce_with_logits grad", gh, want, 21, 2e-4, 2e-2);
        if (!which) {
            double pw = prob / 21;
            test_expect_close("bce_with_logits mean_prob", &mean_prob, &pw, 1, 1e-6, 1e-5);
        }
        free(gh);
    }
    /* softmax cross-entropy: 7 rows of 3 classes, one-hot and soft targets,
     * against a double-precision reference and central differences */
    float st[21];
    for (int r = 0; r < 7; r++)
        for (int c = 0; c < 3; c++)
            st[r * 3 + c] = r < 4 ? (float)(c == r % 3) : (c == 0 ? 0.5f : 0.25f);
    gan_tensor *stt = test_tensor(ctx, 2, shape, st);
    float xent, xp, xm;
    int correct;
    REQUIRE_OK(ctx, gan_softmax_cross_entropy(ctx, zt, stt, g, &xent, &correct));
    float *xg = test_read(g);
    double xwant[21], xref = 0.0;
    int right = 0;
    for (int r = 0; r < 7; r++) {
        const float *zr = z + r * 3;
        const int zmax = zr[1] > zr[0] ? (zr[2] > zr[1] ? 2 : 1) : (zr[2] > zr[0] ? 2 : 0);
        const int tmax = st[r * 3 + 1] > st[r * 3] ? (st[r * 3 + 2] > st[r * 3 + 1] ? 2 : 1) : (st[r * 3 + 2] > st[r * 3] ? 2 : 0);
        right += zmax == tmax;
        const double log_sum = log(exp((double)zr[0]) + exp((double)zr[1]) + exp((double)zr[2]));
        for (int c = 0; c < 3; c++)
            xref -= st[r * 3 + c] * (zr[c] - log_sum);
    }
    for (int i = 0; i < 21; i++) {
        const float h = 1e-3f, orig = z[i];
        z[i] = orig + h;
        REQUIRE_OK(ctx, gan_tensor_write(zt, z, 21));
        REQUIRE_OK(ctx, gan_softmax_cross_entropy(ctx, zt, stt, NULL, &xp, NULL));
        z[i] = orig - h;
        REQUIRE_OK(ctx, gan_tensor_write(zt, z, 21));
        REQUIRE_OK(ctx, gan_softmax_cross_entropy(ctx, zt, stt, NULL, &xm, NULL));
        z[i] = orig;
        REQUIRE_OK(ctx, gan_tensor_write(zt, z, 21));
        xwant[i] = ((double)xp - xm) / (2.0 * h);
    }
    const double xw = xref / 7;
    test_expect_close("softmax_cross_entropy loss", &xent, &xw, 1, 1e-6, 1e-5);
    test_expect_close("softmax_cross_entropy grad", xg, xwant, 21, 2e-4, 2e-2);
    CHECK(correct == right);
    free(xg);
    gan_tensor_free(stt);
    /* no inf or NaN from logits far apart */
    const float far[4] = {1000.0f, -1000.0f, -1000.0f, 1000.0f}, onehot[4] = {0.0f, 1.0f, 0.0f, 1.0f};
    gan_tensor *fz = test_tensor(ctx, 2, (int[]){2, 2}, far), *ft = test_tensor(ctx, 2, (int[]){2, 2}, onehot);
    REQUIRE_OK(ctx, gan_softmax_cross_entropy(ctx, fz, ft, NULL, &xent, &correct));
    CHECK(fabsf(xent - 1000.0f) < 1e-2f && correct == 1);
    gan_tensor_free(fz), gan_tensor_free(ft);
    /* stable for extreme logits: no inf or NaN */
    const float big[2] = {100.0f, -100.0f}, tgt[2] = {0.0f, 1.0f};
    gan_tensor *bz = test_tensor(ctx, 1, (int[]){2}, big), *bt = test_tensor(ctx, 1, (int[]){2}, tgt);
    float loss;
    REQUIRE_OK(ctx, gan_bce_with_logits(ctx, bz, bt, NULL, &loss, NULL));
    CHECK(fabsf(loss - 100.0f) < 1e-3f);
    gan_tensor_free(bz), gan_tensor_free(bt);
    gan_tensor_free(zt), gan_tensor_free(pt), gan_tensor_free(tt), gan_tensor_free(g);
}

/* The mode-seeking term against a double-precision loop over the pairs,
 * its gradient against central differences (added to what grad held), an
 * odd last sample left out, equal noise, a batch large enough for the CPU
 * backend's threads, and the argument checks. */
static double mode_seeking_reference(const float *x, int n, int per, const float *z, int z_per, double weight,
                                     double *ratio)
{
    const int half = n / 2;
    double dx = 0.0, dz = 0.0;
    for (int i = 0; i < half; i++) {
        for (int p = 0; p < per; p++)
            dx += fabs((double)x[i * per + p] - x[(i + half) * per + p]);
        for (int p = 0; p < z_per; p++)
            dz += fabs((double)z[i * z_per + p] - z[(i + half) * z_per + p]);
    }
    *ratio = (dx / (half * per)) / (dz / (half * z_per));
    return weight / (*ratio + 1e-5);
}

static void check_mode_seeking(gan_context *ctx)
{
    enum { N = 5, C = 2, HW = 3, PER = C * HW, Z = 4, COUNT = N * PER };
    const int shape[3] = {N, C, HW}, z_shape[2] = {N, Z};
    float x[COUNT], z[N * Z], before[COUNT], step[COUNT];
    test_fill(x, COUNT, -1.0f, 1.0f, &seed);
    test_fill(step, COUNT, 0.05f, 0.5f, &seed);
    /* partners at least 0.05 apart, on either side, so that no difference crosses zero */
    for (int i = 0; i < 2 * PER; i++)
        x[i + 2 * PER] = x[i] + (i % 3 ? step[i] : -step[i]);
    test_fill(z, N * Z, -2.0f, 2.0f, &seed);
    test_fill(before, COUNT, -0.1f, 0.1f, &seed);
    gan_tensor *xt = test_tensor(ctx, 3, shape, x), *zt = test_tensor(ctx, 2, z_shape, z);
    gan_tensor *g = test_tensor(ctx, 3, shape, before);
    const float weight = 1.5f;
    float loss, ratio;
    REQUIRE_OK(ctx, gan_mode_seeking(ctx, xt, zt, weight, g, &loss, &ratio));
    float *got = test_read(g);
    double want_ratio, want[COUNT];
    const double want_loss = mode_seeking_reference(x, N, PER, z, Z, weight, &want_ratio);
    for (int i = 0; i < COUNT; i++) {
        const float h = 1e-3f, orig = x[i];
        double ignored, plus, minus;
        x[i] = orig + h;
        plus = mode_seeking_reference(x, N, PER, z, Z, weight, &ignored);
        x[i] = orig - h;
        minus = mode_seeking_reference(x, N, PER, z, Z, weight, &ignored);
        x[i] = orig;
        want[i] = before[i] + (plus - minus) / (2.0 * h);
    }
    test_expect_close("mode_seeking loss", &loss, &want_loss, 1, 1e-6, 1e-5);
    test_expect_close("mode_seeking ratio", &ratio, &want_ratio, 1, 1e-6, 1e-5);
    test_expect_close("mode_seeking grad", got, want, COUNT, 1e-5, 1e-3);
    CHECK(memcmp(got + 4 * PER, before + 4 * PER, sizeof(float) * PER) == 0); /* the odd sample: untouched */
    free(got);

    /* the loss alone, then noise whose pairs are equal: no term, no gradient */
    float alone;
    REQUIRE_OK(ctx, gan_mode_seeking(ctx, xt, zt, weight, NULL, &alone, NULL));
    CHECK(alone == loss);
    float same[N * Z];
    for (int i = 0; i < N * Z; i++)
        same[i] = z[i % (2 * Z)];
    REQUIRE_OK(ctx, gan_tensor_write(zt, same, N * Z));
    REQUIRE_OK(ctx, gan_tensor_write(g, before, COUNT));
    REQUIRE_OK(ctx, gan_mode_seeking(ctx, xt, zt, weight, g, &loss, &ratio));
    got = test_read(g);
    CHECK(loss == 0.0f && isinf(ratio) && memcmp(got, before, sizeof before) == 0);
    free(got);

    /* 2 x 10,000 pairs of elements: the CPU backend's threads share them */
    {
        enum { BIG_N = 4, BIG_PER = 10000 };
        const int big_shape[2] = {BIG_N, BIG_PER};
        float *bx = malloc(sizeof(float) * BIG_N * BIG_PER), *bz = malloc(sizeof(float) * BIG_N * Z);
        double *bwant = malloc(sizeof(double) * BIG_N * BIG_PER), big_ratio;
        test_fill(bx, (size_t)BIG_N * BIG_PER, -1.0f, 1.0f, &seed);
        test_fill(bz, (size_t)BIG_N * Z, -2.0f, 2.0f, &seed);
        gan_tensor *bxt = test_tensor(ctx, 2, big_shape, bx), *bzt = test_tensor(ctx, 2, (int[]){BIG_N, Z}, bz);
        gan_tensor *bg = test_tensor(ctx, 2, big_shape, NULL);
        REQUIRE_OK(ctx, gan_tensor_fill(bg, 0.0f));
        REQUIRE_OK(ctx, gan_mode_seeking(ctx, bxt, bzt, 1.0f, bg, &loss, &ratio));
        const double big_loss = mode_seeking_reference(bx, BIG_N, BIG_PER, bz, Z, 1.0, &big_ratio);
        /* d loss / d x = -loss / (ratio + eps) * sign(difference) / (mean |dz| * elements of the pairs) */
        double dz = 0.0;
        for (int i = 0; i < 2 * Z; i++)
            dz += fabs((double)bz[i] - bz[i + 2 * Z]);
        const double coef = -big_loss / (big_ratio + 1e-5) / (dz / (2 * Z) * 2.0 * BIG_PER);
        for (int i = 0; i < 2 * BIG_PER; i++) {
            const double d = (double)bx[i] - bx[i + 2 * BIG_PER], sign = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
            bwant[i] = coef * sign;
            bwant[i + 2 * BIG_PER] = -coef * sign;
        }
        float *bgot = test_read(bg);
        test_expect_close("mode_seeking loss, 20,000 pairs", &loss, &big_loss, 1, 1e-6, 1e-5);
        test_expect_close("mode_seeking grad, 20,000 pairs", bgot, bwant, (size_t)BIG_N * BIG_PER, 1e-12, 1e-5);
        free(bx), free(bz), free(bwant), free(bgot);
        gan_tensor_free(bxt), gan_tensor_free(bzt), gan_tensor_free(bg);
    }

    EXPECT_ERR(ctx, gan_mode_seeking(ctx, xt, zt, -1.0f, g, &loss, NULL), GAN_ERR_INVALID_ARGUMENT, "weight");
    EXPECT_ERR(ctx, gan_mode_seeking(ctx, xt, NULL, 1.0f, g, &loss, NULL), GAN_ERR_INVALID_ARGUMENT, "NULL");
    gan_tensor *one = test_tensor(ctx, 2, (int[]){1, Z}, z), *short_z = test_tensor(ctx, 2, (int[]){N - 1, Z}, z);
    gan_tensor *one_image = test_tensor(ctx, 3, (int[]){1, C, HW}, x), *wrong = test_tensor(ctx, 2, (int[]){N, PER}, x);
    EXPECT_ERR(ctx, gan_mode_seeking(ctx, xt, short_z, 1.0f, g, &loss, NULL), GAN_ERR_SHAPE, "noise vectors");
    EXPECT_ERR(ctx, gan_mode_seeking(ctx, one_image, one, 1.0f, NULL, &loss, NULL), GAN_ERR_SHAPE, "2 or more");
    EXPECT_ERR(ctx, gan_mode_seeking(ctx, xt, zt, 1.0f, wrong, &loss, NULL), GAN_ERR_SHAPE, "does not match");
    gan_tensor_free(one), gan_tensor_free(short_z), gan_tensor_free(one_image), gan_tensor_free(wrong);
    gan_tensor_free(xt), gan_tensor_free(zt), gan_tensor_free(g);
}

/* [BatchNorm2d, activation], or with a view layer between them */
static gan_model *bn_then(gan_context *ctx, gan_layer *act, bool apart)
{
    gan_model *m;
    gan_layer *l;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 3, 1e-5f, 0.1f, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    if (apart) {
        REQUIRE_OK(ctx, gan_reshape_create(ctx, 3, (int[]){3, 4, 5}, &l));
        REQUIRE_OK(ctx, gan_model_add(m, l));
    }
    REQUIRE_OK(ctx, gan_model_add(m, act));
    REQUIRE_OK(ctx, gan_model_init_dcgan(m, 0.5f)); /* gamma N(1, 0.5): some channels flip sign */
    return m;
}

/* A ReLU or LeakyReLU (slope >= 0) right after a batch norm is folded into
 * it: the output, the input gradient and gamma's and beta's are the same
 * bits as with the two layers kept apart by a view layer, in training and
 * in eval. A negative slope is never folded (its output's sign no longer
 * tells the input's) and must match too. */
static void check_folded_activation(gan_context *ctx)
{
    const float slopes[] = {0.0f, 0.2f, -0.5f}; /* 0: ReLU */
    const int shape[4] = {6, 3, 4, 5};
    float xh[6 * 3 * 4 * 5], rh[6 * 3 * 4 * 5];
    for (int si = 0; si < 3; si++)
        for (int training = 1; training >= 0; training--) {
            gan_model *m[2];
            float *out[2][4];
            for (int apart = 0; apart < 2; apart++) {
                gan_layer *act;
                REQUIRE_OK(ctx, slopes[si] == 0.0f ? gan_relu_create(ctx, &act)
                                                   : gan_leaky_relu_create(ctx, slopes[si], &act));
                gan_random_seed(ctx, 9);
                m[apart] = bn_then(ctx, act, apart);
                gan_entry rv;
                REQUIRE_OK(ctx, gan_model_entry(m[apart], 3, &rv));
                REQUIRE_OK(ctx, gan_tensor_write(rv.value, (float[]){0.5f, 2.0f, 1.5f}, 3));
                gan_model_set_training(m[apart], training);
                unsigned local = 4242;
                test_fill(xh, sizeof xh / sizeof xh[0], -2.0f, 2.0f, &local);
                test_fill(rh, sizeof rh / sizeof rh[0], -1.0f, 1.0f, &local);
                gan_tensor *x = test_tensor(ctx, 4, shape, xh), *dy = test_tensor(ctx, 4, shape, rh);
                const gan_tensor *y, *dx;
                REQUIRE_OK(ctx, gan_model_forward(m[apart], x, &y));
                REQUIRE_OK(ctx, gan_model_zero_grad(m[apart]));
                REQUIRE_OK(ctx, gan_model_backward(m[apart], dy, &dx));
                gan_entry gamma, beta;
                REQUIRE_OK(ctx, gan_model_entry(m[apart], 0, &gamma));
                REQUIRE_OK(ctx, gan_model_entry(m[apart], 1, &beta));
                out[apart][0] = test_read(y);
                out[apart][1] = test_read(dx);
                out[apart][2] = test_read(gamma.grad);
                out[apart][3] = test_read(beta.grad);
                gan_tensor_free(x), gan_tensor_free(dy);
            }
            const size_t sizes[4] = {sizeof xh / sizeof xh[0], sizeof xh / sizeof xh[0], 3, 3};
            const char *names[4] = {"output", "input gradient", "gamma gradient", "beta gradient"};
            for (int k = 0; k < 4; k++) {
                if (memcmp(out[0][k], out[1][k], sizes[k] * sizeof(float)) != 0) {
                    fprintf(stderr, "  batch norm + activation (slope %g, %s): %s differs when folded\n",
                            slopes[si], training ? "training" : "eval", names[k]);
                    test_failures++;
                }
                free(out[0][k]), free(out[1][k]);
            }
            gan_model_free(m[0]), gan_model_free(m[1]);
        }
}

/* The same for a Linear layer (with and without bias): output, input
 * gradient and the weight's and bias's gradients, the same bits folded as
 * apart (where each layer has its gradient check above), with parameter
 * gradients and without (D's pass for G's step), on a batch small enough
 * for one thread and one large enough for all. */
static void check_folded_linear(gan_context *ctx)
{
    const float slopes[] = {0.0f, 0.2f, -0.5f};
    const int batches[] = {6, 70}, in = 9, out = 256;
    for (int si = 0; si < 3; si++)
        for (int bias = 0; bias < 2; bias++)
            for (int bi = 0; bi < 2; bi++)
                for (int param_grads = 0; param_grads < 2; param_grads++) {
                    const int n = batches[bi], shape[2] = {n, in};
                    float *xh = malloc(sizeof(float) * (size_t)n * in), *rh = malloc(sizeof(float) * (size_t)n * out);
                    float *got[2][4] = {{NULL}};
                    for (int apart = 0; apart < 2; apart++) {
                        gan_model *m;
                        gan_layer *l;
                        gan_random_seed(ctx, 11);
                        REQUIRE_OK(ctx, gan_model_create(ctx, &m));
                        REQUIRE_OK(ctx, gan_linear_create(ctx, in, out, bias, &l));
                        REQUIRE_OK(ctx, gan_model_add(m, l));
                        if (apart) {
                            REQUIRE_OK(ctx, gan_reshape_create(ctx, 1, (int[]){out}, &l));
                            REQUIRE_OK(ctx, gan_model_add(m, l));
                        }
                        REQUIRE_OK(ctx, slopes[si] == 0.0f ? gan_relu_create(ctx, &l)
                                                           : gan_leaky_relu_create(ctx, slopes[si], &l));
                        REQUIRE_OK(ctx, gan_model_add(m, l));
                        gan_model_set_requires_grad(m, param_grads);
                        unsigned local = 77;
                        test_fill(xh, (size_t)n * in, -2.0f, 2.0f, &local);
                        test_fill(rh, (size_t)n * out, -1.0f, 1.0f, &local);
                        gan_tensor *x = test_tensor(ctx, 2, shape, xh), *dy = test_tensor(ctx, 2, (int[]){n, out}, rh);
                        const gan_tensor *y, *dx;
                        REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
                        REQUIRE_OK(ctx, gan_model_zero_grad(m));
                        REQUIRE_OK(ctx, gan_model_backward(m, dy, &dx));
                        got[apart][0] = test_read(y);
                        got[apart][1] = test_read(dx);
                        for (int e = 0; e < 1 + bias; e++) {
                            gan_entry entry;
                            REQUIRE_OK(ctx, gan_model_entry(m, (size_t)e, &entry));
                            got[apart][2 + e] = test_read(entry.grad);
                        }
                        gan_tensor_free(x), gan_tensor_free(dy);
                        gan_model_free(m);
                    }
                    const size_t sizes[4] = {(size_t)n * out, (size_t)n * in, (size_t)out * in, (size_t)out};
                    const char *names[4] = {"output", "input gradient", "weight gradient", "bias gradient"};
                    for (int k = 0; k < 2 + 1 + bias; k++) {
                        if (memcmp(got[0][k], got[1][k], sizes[k] * sizeof(float)) != 0) {
                            fprintf(stderr, "  linear + activation (slope %g, bias %d, batch %d, parameter gradients %d): "
                                            "%s differs when folded\n", slopes[si], bias, n, param_grads, names[k]);
                            test_failures++;
                        }
                        free(got[0][k]), free(got[1][k]);
                    }
                    free(xh), free(rh);
                }
}

int main(void)
{
    gan_context *ctx = test_context(2, 5);
    gan_layer *l;

    REQUIRE_OK(ctx, gan_linear_create(ctx, 7, 5, 1, &l));
    check_layer(ctx, "linear", l, 2, (int[]){3, 7}, false);
    REQUIRE_OK(ctx, gan_linear_create(ctx, 3, 1, 0, &l));
    check_layer(ctx, "linear no bias", l, 2, (int[]){1, 3}, false);

    check_layer(ctx, "conv2d k3 s2 p1", conv(ctx, false, 2, 3, 3, 2, 1, 0), 4, (int[]){2, 2, 7, 7}, false);
    check_layer(ctx, "conv2d k5 s2 p2", conv(ctx, false, 3, 4, 5, 2, 2, 0), 4, (int[]){2, 3, 9, 8}, false);
    check_layer(ctx, "conv2d k1 s1", conv(ctx, false, 3, 2, 1, 1, 0, 0), 4, (int[]){1, 3, 3, 5}, false);
    check_layer(ctx, "conv2d k3 covering its input", conv(ctx, false, 3, 4, 3, 2, 0, 0), 4, (int[]){3, 3, 3, 3}, false);
    /* kernels smaller than the stride: some input positions meet no tap */
    check_layer(ctx, "conv2d k1 s2", conv(ctx, false, 2, 3, 1, 2, 0, 0), 4, (int[]){2, 2, 5, 6}, false);
    check_layer(ctx, "conv_transpose2d k2 s3 p1", conv(ctx, true, 3, 2, 2, 3, 1, 0), 4, (int[]){2, 3, 3, 2}, false);
    check_layer(ctx, "conv_transpose2d k3 s2", conv(ctx, true, 4, 3, 3, 2, 0, 0), 4, (int[]){2, 4, 1, 1}, false);
    check_layer(ctx, "conv_transpose2d k4 s2 p1", conv(ctx, true, 3, 2, 4, 2, 1, 0), 4, (int[]){2, 3, 3, 4}, false);
    check_layer(ctx, "conv_transpose2d k3 s2 p1 op1", conv(ctx, true, 2, 3, 3, 2, 1, 1), 4, (int[]){1, 2, 4, 3}, false);
    check_layer(ctx, "conv_transpose2d k4 s1", conv(ctx, true, 3, 2, 4, 1, 0, 0), 4, (int[]){2, 3, 2, 2}, false);
    /* the input gradient's col2im adds whole groups of 16 samples, then a short one */
    check_layer(ctx, "conv2d k5 s2, 19 samples", conv(ctx, false, 3, 4, 5, 2, 0, 0), 4, (int[]){19, 3, 9, 9}, false);
    /* unpadded convolutions of 72 taps, which the CPU backend computes
     * reading the input in place (16 channels: with AVX2; 64: with AVX2 or
     * AVX-512), and of 18 taps, which it leaves to the product */
    check_layer(ctx, "conv2d 16 channels out", conv(ctx, false, 8, 16, 3, 2, 0, 0), 4, (int[]){2, 8, 7, 6}, false);
    check_layer(ctx, "conv2d 18 taps", conv(ctx, false, 2, 16, 3, 2, 0, 0), 4, (int[]){2, 2, 7, 6}, false);
    check_layer(ctx, "conv_transpose2d 16 channels in", conv(ctx, true, 16, 8, 3, 2, 0, 0), 4, (int[]){1, 16, 2, 3},
                false);
    check_layer(ctx, "conv_transpose2d 64 channels in", conv(ctx, true, 64, 8, 3, 2, 0, 0), 4, (int[]){2, 64, 3, 3},
                false);
    /* 32 channels, whose forward pass AVX-512 CPUs compute reading the input
     * in place; K = 300 taps and 300 output positions, each past one KC
     * block of 256; and the weight gradient added to, not overwritten */
    check_layer(ctx, "conv2d 32 channels out", conv(ctx, false, 12, 32, 5, 2, 0, 0), 4, (int[]){3, 12, 23, 23},
                false);
    check_weight_grad_accumulates(ctx, "conv2d 32 channels out", conv(ctx, false, 12, 32, 5, 2, 0, 0),
                                  (int[]){3, 12, 23, 23});
    check_weight_grad_accumulates(ctx, "conv2d 16 channels out", conv(ctx, false, 2, 16, 3, 2, 0, 0),
                                  (int[]){2, 2, 7, 6});
    /* weight gradients the CPU backend computes reading the input in place:
     * 75 taps (a short last tile of MR) for 40 channels (a short last panel
     * of NR) over 2,500 positions (two chunks of 2,048, the second short);
     * 576 taps, 64 channels (items of 16 tiles); and a transposed
     * convolution, whose columns are those of its output gradient */
    check_conv_weight_grad(ctx, false, 40, 5, 2, (int[]){25, 3, 23, 23});
    check_conv_weight_grad(ctx, false, 64, 3, 1, (int[]){2, 64, 7, 7});
    check_conv_weight_grad(ctx, true, 8, 3, 2, (int[]){3, 16, 5, 5});
    /* the CPU backend's Winograd schemes, for 4x4 kernels and 8+ channels: stride 2, padding 1; stride 1 with
     * outputs of 3x3 or more, for a convolution's forward pass and a transposed one's backward pass: one tile
     * (a transposed convolution from 3x3 to 6x6, as dcgan's) or several with padding */
    check_layer(ctx, "conv2d k4 s2 p1 winograd", conv(ctx, false, 8, 9, 4, 2, 1, 0), 4, (int[]){2, 8, 6, 5}, false);
    check_layer(ctx, "conv_transpose2d k4 s2 p1 winograd", conv(ctx, true, 9, 8, 4, 2, 1, 0), 4, (int[]){2, 9, 3, 2},
                false);
    check_layer(ctx, "conv_transpose2d k4 s1 p0 winograd", conv(ctx, true, 9, 8, 4, 1, 0, 0), 4, (int[]){2, 9, 3, 3},
                false);
    check_layer(ctx, "conv2d k4 s1 p1 winograd", conv(ctx, false, 8, 10, 4, 1, 1, 0), 4, (int[]){2, 8, 7, 5},
                false);

    REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 3, 1e-5f, 0.1f, &l));
    check_layer(ctx, "batchnorm2d train", l, 4, (int[]){4, 3, 3, 2}, false);
    REQUIRE_OK(ctx, gan_batchnorm1d_create(ctx, 5, 1e-5f, 0.1f, &l));
    check_layer(ctx, "batchnorm1d train", l, 2, (int[]){6, 5}, false);
    {
        gan_model *m;
        REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 3, 1e-5f, 0.1f, &l));
        m = test_single_layer_model(ctx, l);
        gan_entry rv;
        REQUIRE_OK(ctx, gan_model_entry(m, 3, &rv));
        REQUIRE_OK(ctx, gan_tensor_write(rv.value, (float[]){0.5f, 2.0f, 1.5f}, 3));
        gan_model_set_training(m, 0);
        check_model(ctx, "batchnorm2d eval", m, 4, (int[]){2, 3, 2, 2}, false);
        gan_model_free(m);
    }

    REQUIRE_OK(ctx, gan_relu_create(ctx, &l));
    check_layer(ctx, "relu", l, 2, (int[]){4, 9}, true);
    REQUIRE_OK(ctx, gan_leaky_relu_create(ctx, 0.2f, &l));
    check_layer(ctx, "leaky_relu", l, 3, (int[]){2, 3, 5}, true);
    REQUIRE_OK(ctx, gan_tanh_create(ctx, &l));
    check_layer(ctx, "tanh", l, 2, (int[]){4, 9}, false);
    REQUIRE_OK(ctx, gan_sigmoid_create(ctx, &l));
    check_layer(ctx, "sigmoid", l, 2, (int[]){4, 9}, false);

    /* a small DCGAN-style discriminator and generator, end to end */
    {
        gan_model *d;
        REQUIRE_OK(ctx, gan_model_create(ctx, &d));
        REQUIRE_OK(ctx, gan_model_add(d, conv(ctx, false, 1, 4, 3, 2, 1, 0)));
        REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 4, 1e-5f, 0.1f, &l));
        REQUIRE_OK(ctx, gan_model_add(d, l));
        REQUIRE_OK(ctx, gan_tanh_create(ctx, &l)); /* smooth, so differences are exact */
        REQUIRE_OK(ctx, gan_model_add(d, l));
        REQUIRE_OK(ctx, gan_flatten_create(ctx, &l));
        REQUIRE_OK(ctx, gan_model_add(d, l));
        REQUIRE_OK(ctx, gan_linear_create(ctx, 4 * 3 * 3, 1, 1, &l));
        REQUIRE_OK(ctx, gan_model_add(d, l));
        check_model(ctx, "discriminator stack", d, 4, (int[]){3, 1, 5, 5}, false);
        gan_model_free(d);

        gan_model *g;
        REQUIRE_OK(ctx, gan_model_create(ctx, &g));
        REQUIRE_OK(ctx, gan_reshape_create(ctx, 3, (int[]){6, 1, 1}, &l));
        REQUIRE_OK(ctx, gan_model_add(g, l));
        REQUIRE_OK(ctx, gan_model_add(g, conv(ctx, true, 6, 4, 3, 2, 0, 0)));
        REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 4, 1e-5f, 0.1f, &l));
        REQUIRE_OK(ctx, gan_model_add(g, l));
        REQUIRE_OK(ctx, gan_sigmoid_create(ctx, &l));
        REQUIRE_OK(ctx, gan_model_add(g, l));
        REQUIRE_OK(ctx, gan_model_add(g, conv(ctx, true, 4, 1, 4, 2, 1, 0)));
        REQUIRE_OK(ctx, gan_tanh_create(ctx, &l));
        REQUIRE_OK(ctx, gan_model_add(g, l));
        check_model(ctx, "generator stack", g, 2, (int[]){3, 6}, false);
        gan_model_free(g);
    }
    check_folded_activation(ctx);
    check_folded_linear(ctx);
    check_losses(ctx);
    check_mode_seeking(ctx);
    gan_context_free(ctx);
    return test_finish("test_gradients");
}
