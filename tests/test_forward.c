/* test_forward.c - every layer's forward pass against a naive loop in
 * double precision, on odd sizes, strides and paddings, and on the shapes
 * the GAN and DCGAN models use. */
#include "test_util.h"

#include <string.h>

static unsigned seed = 2024;

/* Sets every parameter of the model to random values; returns them in a
 * host copy per entry (weights first, bias second when present). */
static void randomize_params(gan_context *ctx, gan_model *m, float *host[2])
{
    size_t k = 0;
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        if (e.kind != GAN_ENTRY_PARAMETER)
            continue;
        size_t n = gan_tensor_numel(e.value);
        host[k] = malloc(n * sizeof(float));
        test_fill(host[k], n, -0.5f, 0.5f, &seed);
        REQUIRE_OK(ctx, gan_tensor_write(e.value, host[k], n));
        k++;
    }
}

static const float *run_forward(gan_context *ctx, gan_model *m, int ndim, const int *shape,
                                float **x_host, gan_tensor **x)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    *x_host = malloc(n * sizeof(float));
    test_fill(*x_host, n, -1.0f, 1.0f, &seed);
    *x = test_tensor(ctx, ndim, shape, *x_host);
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_model_forward(m, *x, &y));
    return test_read(y);
}

static void test_linear(gan_context *ctx, int n, int in, int out, int bias)
{
    gan_layer *l;
    REQUIRE_OK(ctx, gan_linear_create(ctx, in, out, bias, &l));
    int got_in = 0, got_out = 0, got_bias = -1;
    REQUIRE_OK(ctx, gan_linear_get_features(l, &got_in, &got_out, &got_bias));
    CHECK(got_in == in && got_out == out && got_bias == (bias != 0));
    gan_model *m = test_single_layer_model(ctx, l);
    float *p[2] = {0}, *x;
    gan_tensor *xt;
    randomize_params(ctx, m, p);
    const int shape[2] = {n, in};
    const float *y = run_forward(ctx, m, 2, shape, &x, &xt);
    double *want = malloc(sizeof(double) * n * out);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = bias ? p[1][o] : 0.0;
            for (int k = 0; k < in; k++)
                s += (double)x[i * in + k] * p[0][o * in + k];
            want[i * out + o] = s;
        }
    char what[96];
    snprintf(what, sizeof what, "linear n=%d in=%d out=%d bias=%d", n, in, out, bias);
    test_expect_close(what, y, want, (size_t)n * out, 1e-5, 1e-4);
    free(want), free((void *)y), free(x), free(p[0]), free(p[1]);
    gan_tensor_free(xt);
    gan_model_free(m);
}

typedef struct conv_case {
    int n, ci, h, w, co, k, s, p, op;
} conv_case;

static void test_conv(gan_context *ctx, conv_case c, bool transposed)
{
    gan_conv2d_params prm = gan_conv2d_default_params(c.ci, c.co, c.k);
    prm.stride_h = prm.stride_w = c.s;
    prm.pad_h = prm.pad_w = c.p;
    prm.output_pad_h = prm.output_pad_w = c.op;
    gan_layer *l;
    REQUIRE_OK(ctx, transposed ? gan_conv_transpose2d_create(ctx, &prm, &l)
                               : gan_conv2d_create(ctx, &prm, &l));
    gan_conv2d_params got;
    REQUIRE_OK(ctx, gan_conv2d_get_params(l, &got));
    CHECK(memcmp(&got, &prm, sizeof got) == 0);
    gan_model *m = test_single_layer_model(ctx, l);
    float *p[2] = {0}, *x;
    gan_tensor *xt;
    randomize_params(ctx, m, p);
    const int shape[4] = {c.n, c.ci, c.h, c.w};
    const float *y = run_forward(ctx, m, 4, shape, &x, &xt);
    const int oh = transposed ? (c.h - 1) * c.s - 2 * c.p + c.k + c.op : (c.h + 2 * c.p - c.k) / c.s + 1;
    const int ow = transposed ? (c.w - 1) * c.s - 2 * c.p + c.k + c.op : (c.w + 2 * c.p - c.k) / c.s + 1;
    size_t ny = (size_t)c.n * c.co * oh * ow;
    double *want = calloc(ny, sizeof(double));
    for (int n = 0; n < c.n; n++)
        for (int co = 0; co < c.co; co++)
            for (int i = 0; i < oh * ow; i++)
                want[((size_t)n * c.co + co) * oh * ow + i] = p[1][co];
    /* both as scatters from each input pixel: independent of the gather
     * formulation the library uses */
    for (int n = 0; n < c.n; n++)
        for (int ci = 0; ci < c.ci; ci++)
            for (int co = 0; co < c.co; co++)
                for (int kh = 0; kh < c.k; kh++)
                    for (int kw = 0; kw < c.k; kw++) {
                        const double wv = transposed ? p[0][((ci * c.co + co) * c.k + kh) * c.k + kw]
                                                     : p[0][((co * c.ci + ci) * c.k + kh) * c.k + kw];
                        if (transposed) {
                            for (int ih = 0; ih < c.h; ih++)
                                for (int iw = 0; iw < c.w; iw++) {
                                    const int yh = ih * c.s - c.p + kh, yw = iw * c.s - c.p + kw;
                                    if (yh < 0 || yh >= oh || yw < 0 || yw >= ow)
                                        continue;
                                    want[(((size_t)n * c.co + co) * oh + yh) * ow + yw] +=
                                        wv * x[(((size_t)n * c.ci + ci) * c.h + ih) * c.w + iw];
                                }
                        } else {
                            for (int yh = 0; yh < oh; yh++)
                                for (int yw = 0; yw < ow; yw++) {
                                    const int ih = yh * c.s - c.p + kh, iw = yw * c.s - c.p + kw;
                                    if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w)
                                        continue;
                                    want[(((size_t)n * c.co + co) * oh + yh) * ow + yw] +=
                                        wv * x[(((size_t)n * c.ci + ci) * c.h + ih) * c.w + iw];
                                }
                        }
                    }
    char what[128];
    snprintf(what, sizeof what, "%s n=%d %d->%d %dx%d k=%d s=%d p=%d op=%d",
             transposed ? "conv_transpose2d" : "conv2d", c.n, c.ci, c.co, c.h, c.w, c.k, c.s, c.p, c.op);
    test_expect_close(what, y, want, ny, 1e-5, 1e-4);
    free(want), free((void *)y), free(x), free(p[0]), free(p[1]);
    gan_tensor_free(xt);
    gan_model_free(m);
}

/* train: batch statistics; eval: given running statistics */
static void test_batchnorm(gan_context *ctx, int ndim, const int *shape)
{
    const int c = shape[1];
    int hw = 1;
    for (int i = 2; i < ndim; i++)
        hw *= shape[i];
    gan_layer *l;
    REQUIRE_OK(ctx, ndim == 4 ? gan_batchnorm2d_create(ctx, c, 1e-5f, 0.1f, &l)
                              : gan_batchnorm1d_create(ctx, c, 1e-5f, 0.1f, &l));
    gan_model *m = test_single_layer_model(ctx, l);
    float *p[2] = {0}, *x;
    gan_tensor *xt;
    randomize_params(ctx, m, p);
    const float *y = run_forward(ctx, m, ndim, shape, &x, &xt);
    const int n = shape[0];
    const size_t total = (size_t)n * c * hw;
    double *want = malloc(total * sizeof(double)), *mean = calloc(c, sizeof(double)),
           *var = calloc(c, sizeof(double));
    for (int ch = 0; ch < c; ch++) {
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++)
                mean[ch] += x[((size_t)i * c + ch) * hw + q];
        mean[ch] /= (double)n * hw;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                double d = x[((size_t)i * c + ch) * hw + q] - mean[ch];
                var[ch] += d * d;
            }
        var[ch] /= (double)n * hw;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                size_t at = ((size_t)i * c + ch) * hw + q;
                want[at] = (x[at] - mean[ch]) / sqrt(var[ch] + 1e-5) * p[0][ch] + p[1][ch];
            }
    }
    char what[96];
    snprintf(what, sizeof what, "batchnorm%dd train c=%d hw=%d", ndim == 4 ? 2 : 1, c, hw);
    test_expect_close(what, y, want, total, 1e-5, 1e-4);

    /* running statistics after one step: 0.9 * (0, 1) + 0.1 * (mean, unbiased var) */
    gan_entry e_mean, e_var, e_count;
    REQUIRE_OK(ctx, gan_model_entry(m, 2, &e_mean));
    REQUIRE_OK(ctx, gan_model_entry(m, 3, &e_var));
    REQUIRE_OK(ctx, gan_model_entry(m, 4, &e_count));
    CHECK(strcmp(e_mean.name, "0.running_mean") == 0 && strcmp(e_var.name, "0.running_var") == 0);
    CHECK(strcmp(e_count.name, "0.num_batches_tracked") == 0 && *e_count.counter == 1);
    float *rm = test_read(e_mean.value), *rv = test_read(e_var.value);
    double *want_rm = malloc(c * sizeof(double)), *want_rv = malloc(c * sizeof(double));
    const double count = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        want_rm[ch] = 0.1 * mean[ch];
        want_rv[ch] = 0.9 + 0.1 * var[ch] * count / (count - 1.0);
    }
    test_expect_close("batchnorm running_mean", rm, want_rm, c, 1e-6, 1e-4);
    test_expect_close("batchnorm running_var", rv, want_rv, c, 1e-6, 1e-4);

    /* eval mode normalizes with the running statistics */
    gan_model_set_training(m, 0);
    const gan_tensor *yt;
    REQUIRE_OK(ctx, gan_model_forward(m, xt, &yt));
    float *ye = test_read(yt);
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < n; i++)
            for (int q = 0; q < hw; q++) {
                size_t at = ((size_t)i * c + ch) * hw + q;
                want[at] = (x[at] - rm[ch]) / sqrt(rv[ch] + 1e-5) * p[0][ch] + p[1][ch];
            }
    snprintf(what, sizeof what, "batchnorm%dd eval c=%d hw=%d", ndim == 4 ? 2 : 1, c, hw);
    test_expect_close(what, ye, want, total, 1e-5, 1e-4);
    CHECK(*e_count.counter == 1); /* eval does not count batches */

    free(ye), free(rm), free(rv), free(want_rm), free(want_rv);
    free(want), free(mean), free(var), free((void *)y), free(x), free(p[0]), free(p[1]);
    gan_tensor_free(xt);
    gan_model_free(m);
}

static double reference_activation(gan_layer_type t, double x)
{
    switch (t) {
    case GAN_LAYER_RELU: return x > 0 ? x : 0;
    case GAN_LAYER_LEAKY_RELU: return x > 0 ? x : 0.2 * x;
    case GAN_LAYER_TANH: return tanh(x);
    default: return 1.0 / (1.0 + exp(-x));
    }
}

static void test_activations(gan_context *ctx)
{
    const gan_layer_type types[4] = {GAN_LAYER_RELU, GAN_LAYER_LEAKY_RELU, GAN_LAYER_TANH,
                                     GAN_LAYER_SIGMOID};
    const int shape[4] = {3, 5, 7, 1};
    for (int t = 0; t < 4; t++) {
        gan_layer *l;
        switch (types[t]) {
        case GAN_LAYER_RELU: REQUIRE_OK(ctx, gan_relu_create(ctx, &l)); break;
        case GAN_LAYER_LEAKY_RELU: REQUIRE_OK(ctx, gan_leaky_relu_create(ctx, 0.2f, &l)); break;
        case GAN_LAYER_TANH: REQUIRE_OK(ctx, gan_tanh_create(ctx, &l)); break;
        default: REQUIRE_OK(ctx, gan_sigmoid_create(ctx, &l)); break;
        }
        CHECK(gan_layer_get_type(l) == types[t]);
        gan_conv2d_params prm;
        EXPECT_ERR(ctx, gan_conv2d_get_params(l, &prm), GAN_ERR_INVALID_ARGUMENT, "not a Conv2d");
        EXPECT_ERR(ctx, gan_linear_get_features(l, NULL, NULL, NULL), GAN_ERR_INVALID_ARGUMENT, "not a Linear");
        gan_model *m = test_single_layer_model(ctx, l);
        float *x;
        gan_tensor *xt;
        const float *y = run_forward(ctx, m, 4, shape, &x, &xt);
        double want[105];
        for (int i = 0; i < 105; i++)
            want[i] = reference_activation(types[t], x[i]);
        test_expect_close("activation", y, want, 105, 1e-6, 1e-5);
        free((void *)y), free(x);
        gan_tensor_free(xt);
        gan_model_free(m);
    }
}

/* The CPU backend's own tanh and sigmoid against libm in double, densely
 * over the whole range, with infinities and NaN. */
static void test_activation_accuracy(gan_context *ctx)
{
    enum { N = 120004 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N - 4; i++)
        x[i] = -30.0f + 60.0f * (float)i / (float)(N - 5);
    x[N - 4] = INFINITY, x[N - 3] = -INFINITY, x[N - 2] = 1e-30f, x[N - 1] = NAN;
    double *want = malloc(N * sizeof(double));
    for (int which = 0; which < 2; which++) {
        gan_layer *l;
        REQUIRE_OK(ctx, which ? gan_sigmoid_create(ctx, &l) : gan_tanh_create(ctx, &l));
        gan_model *m = test_single_layer_model(ctx, l);
        gan_tensor *xt = test_tensor(ctx, 2, (int[]){N, 1}, x);
        const gan_tensor *yt;
        REQUIRE_OK(ctx, gan_model_forward(m, xt, &yt));
        float *y = test_read(yt);
        CHECK(isnan(y[N - 1]));
        for (int i = 0; i < N - 1; i++)
            want[i] = which ? 1.0 / (1.0 + exp(-(double)x[i])) : tanh((double)x[i]);
        /* a few ulp near 1, relative 1e-6 near 0 */
        test_expect_close(which ? "sigmoid over [-30, 30]" : "tanh over [-30, 30]", y, want, N - 1, 2.5e-7, 1e-6);
        free(y);
        gan_tensor_free(xt);
        gan_model_free(m);
    }
    free(x), free(want);
}

static void test_views(gan_context *ctx)
{
    gan_model *m;
    gan_layer *l;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    const int target[3] = {2, 3, 4};
    REQUIRE_OK(ctx, gan_flatten_create(ctx, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    REQUIRE_OK(ctx, gan_reshape_create(ctx, 3, target, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    const int shape[4] = {5, 4, 3, 2};
    float *x;
    gan_tensor *xt;
    const float *y = run_forward(ctx, m, 4, shape, &x, &xt);
    double want[120];
    for (int i = 0; i < 120; i++)
        want[i] = x[i];
    test_expect_close("flatten+reshape keeps the values", y, want, 120, 0, 0);
    int nd, out[4];
    REQUIRE_OK(ctx, gan_model_layer_output_shape(m, 0, 4, shape, &nd, out));
    CHECK(nd == 2 && out[0] == 5 && out[1] == 24);
    REQUIRE_OK(ctx, gan_model_layer_output_shape(m, 1, 4, shape, &nd, out));
    CHECK(nd == 4 && out[0] == 5 && out[1] == 2 && out[2] == 3 && out[3] == 4);
    char desc[128];
    gan_layer_describe(gan_model_layer(m, 1), desc, sizeof desc);
    CHECK(strcmp(desc, "Unflatten(dim=1, unflattened_size=(2, 3, 4))") == 0);
    free((void *)y), free(x);
    gan_tensor_free(xt);
    gan_model_free(m);
}

/* gan_tensor_copy against a copy on the host: across tensors of other
 * shapes at odd offsets (large enough to split between threads), within
 * one tensor, and into a view of one */
static void test_copy(gan_context *ctx)
{
    enum { N = 40000, M = 50021, COUNT = 33333, FROM = 4321, TO = 9876 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * M);
    unsigned state = 7;
    test_fill(x, N, -1.0f, 1.0f, &state);
    test_fill(y, M, -1.0f, 1.0f, &state);
    gan_tensor *xt = test_tensor(ctx, 2, (int[]){N / 100, 100}, x), *yt = test_tensor(ctx, 1, (int[]){M}, y);
    REQUIRE_OK(ctx, gan_tensor_copy(yt, TO, xt, FROM, COUNT));
    memcpy(y + TO, x + FROM, sizeof(float) * COUNT);
    float *got = test_read(yt);
    CHECK(memcmp(got, y, sizeof(float) * M) == 0);
    free(got);
    REQUIRE_OK(ctx, gan_tensor_copy(yt, 1, yt, M / 2 + 3, M / 2 - 3)); /* the two halves of one tensor */
    memcpy(y + 1, y + M / 2 + 3, sizeof(float) * (M / 2 - 3));
    got = test_read(yt);
    CHECK(memcmp(got, y, sizeof(float) * M) == 0);
    free(got);
    REQUIRE_OK(ctx, gan_tensor_copy(xt, 0, yt, 0, 0)); /* nothing to copy */
    got = test_read(xt);
    CHECK(memcmp(got, x, sizeof(float) * N) == 0);
    free(got);
    gan_model *m;
    gan_layer *l;
    const gan_tensor *flat;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_flatten_create(ctx, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    REQUIRE_OK(ctx, gan_model_forward(m, xt, &flat)); /* a view of xt */
    REQUIRE_OK(ctx, gan_tensor_copy((gan_tensor *)flat, 5, yt, 17, 100));
    memcpy(x + 5, y + 17, sizeof(float) * 100);
    got = test_read(xt);
    CHECK(memcmp(got, x, sizeof(float) * N) == 0);
    free(got);
    gan_model_free(m);
    gan_tensor_free(xt), gan_tensor_free(yt);
    free(x), free(y);
}

int main(void)
{
    gan_context *ctx = test_context(2, 1);
    test_copy(ctx);
    test_linear(ctx, 1, 1, 1, 1);
    test_linear(ctx, 3, 7, 17, 1);
    test_linear(ctx, 17, 3, 1, 0);
    test_linear(ctx, 128, 64, 256, 1); /* GAN G first layer */
    test_linear(ctx, 33, 784, 256, 1); /* GAN D first layer */

    const conv_case convs[] = {
        {1, 1, 1, 1, 1, 1, 1, 0, 0},    {2, 3, 7, 5, 4, 3, 2, 1, 0},
        {3, 2, 17, 17, 5, 5, 3, 2, 0},  {1, 7, 3, 3, 3, 3, 1, 1, 0},
        {2, 1, 28, 28, 16, 3, 2, 1, 0}, /* DCGAN D layers */
        {2, 16, 14, 14, 32, 5, 2, 2, 0}, {2, 32, 7, 7, 64, 5, 2, 2, 0},
        {1, 3, 64, 64, 8, 4, 2, 1, 0},  /* DCGAN-64 D first layer (fewer channels) */
        {3, 32, 5, 5, 24, 5, 2, 0, 0},  /* the kernel covers the input: a dense layer (DCGAN D last conv) */
        /* DCGAN D, unpadded: the first (9 taps) by the product, the second (400) read in place */
        {3, 16, 13, 13, 32, 5, 2, 0, 0}, {2, 1, 28, 28, 16, 3, 2, 0, 0},
        /* read in place, in panels of NR channels and blocks of 16 tiles of MR positions: 72 taps,
         * 96 channels, 180 positions (a short last tile and block); 288 taps (two KC blocks), 64 */
        {5, 8, 13, 13, 96, 3, 2, 0, 0}, {3, 32, 7, 7, 64, 3, 1, 0, 0},
        {1, 3, 9, 7, 32, 3, 1, 0, 0},   /* 35 positions: the last tile of six holds five */
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        test_conv(ctx, convs[i], false);
    const conv_case tconvs[] = {
        {1, 1, 1, 1, 1, 1, 1, 0, 0},     {2, 3, 4, 5, 5, 3, 2, 1, 1},
        {3, 2, 7, 3, 3, 5, 3, 2, 2},     {1, 4, 3, 3, 2, 3, 1, 1, 0},
        {2, 64, 1, 1, 32, 3, 2, 0, 0},   /* DCGAN G layers (narrower) */
        {2, 32, 3, 3, 16, 4, 1, 0, 0},   {2, 16, 6, 6, 8, 3, 2, 0, 0},
        {2, 8, 13, 13, 1, 4, 2, 0, 0},   {2, 10, 1, 1, 16, 4, 1, 0, 0}, /* DCGAN-64 G */
        {2, 16, 4, 4, 8, 4, 2, 1, 0},
        /* col2im adds 16 samples at a time: whole groups and a short one, exactly one group, and a
         * batch split in chunks of whole groups (45 samples of 196,608 floats of columns: 32 and 13) */
        {37, 24, 3, 3, 12, 4, 1, 0, 0},  {16, 8, 6, 6, 5, 3, 2, 0, 0},   {45, 4, 16, 16, 48, 4, 1, 0, 0},
        /* col2im made with its product a group or two at a time (batches of four tasks or more): groups
         * of 36 positions; groups of 9 in pairs, the last pair two samples, the 128 rows in two chunks
         * (with AVX-512) */
        {64, 8, 6, 6, 4, 3, 2, 0, 0},    {130, 16, 3, 3, 8, 4, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof tconvs / sizeof tconvs[0]; i++)
        test_conv(ctx, tconvs[i], true);

    const int bn2[4] = {3, 5, 7, 3}, bn1[2] = {17, 3}, bn1l[3] = {4, 3, 5}, bn_dcgan[4] = {16, 16, 14, 14};
    test_batchnorm(ctx, 4, bn2);
    test_batchnorm(ctx, 2, bn1);
    test_batchnorm(ctx, 3, bn1l);
    test_batchnorm(ctx, 4, bn_dcgan);
    test_activations(ctx);
    test_activation_accuracy(ctx);
    test_views(ctx);
    gan_context_free(ctx);
    return test_finish("test_forward");
}
