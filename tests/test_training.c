/* test_training.c - optimizers against steps computed by hand, the random
 * generator's statistics, gradient accumulation, model entries and
 * initialization, determinism across runs and thread counts, and a model
 * that learns. */
#include "test_util.h"

#include <string.h>

#ifdef GAN_TEST_COUNT_ALLOCATIONS
extern size_t test_alloc_count; /* alloc_counter.c */
#endif

static gan_entry entry(gan_context *ctx, const gan_model *m, size_t i)
{
    gan_entry e;
    REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
    return e;
}

/* A model with one 4-element parameter (Linear 4 -> 1, no bias). */
static gan_model *one_param_model(gan_context *ctx, const float *w)
{
    gan_layer *l;
    REQUIRE_OK(ctx, gan_linear_create(ctx, 4, 1, 0, &l));
    gan_model *m = test_single_layer_model(ctx, l);
    REQUIRE_OK(ctx, gan_tensor_write(entry(ctx, m, 0).value, w, 4));
    return m;
}

static const float grads[3][4] = {{0.5f, -1.0f, 2.0f, 0.0f}, {0.1f, 0.3f, -0.2f, 1.0f}, {-0.7f, 0.0f, 0.4f, 0.2f}};

static void test_adam(gan_context *ctx)
{
    const float w0[4] = {1.0f, -2.0f, 0.5f, 0.0f};
    gan_model *m = one_param_model(ctx, w0);
    gan_adam_params p = {2e-2f, 0.5f, 0.999f, 1e-8f, 0.01f};
    gan_optimizer *opt;
    REQUIRE_OK(ctx, gan_optimizer_adam_create(m, &p, &opt));
    double w[4], mo[4] = {0}, v[4] = {0};
    for (int i = 0; i < 4; i++)
        w[i] = w0[i];
    for (int t = 1; t <= 3; t++) {
        const double lr = t < 3 ? 2e-2 : 5e-3; /* a schedule: the last step at a quarter */
        if (t == 3)
            REQUIRE_OK(ctx, gan_optimizer_set_lr(opt, 5e-3f));
        CHECK(gan_optimizer_get_lr(opt) == (float)lr);
        REQUIRE_OK(ctx, gan_tensor_write(entry(ctx, m, 0).grad, grads[t - 1], 4));
        REQUIRE_OK(ctx, gan_optimizer_step(opt));
        for (int i = 0; i < 4; i++) { /* the textbook form, with L2 weight decay */
            double g = grads[t - 1][i] + 0.01 * w[i];
            mo[i] = 0.5 * mo[i] + 0.5 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            double mhat = mo[i] / (1 - pow(0.5, t)), vhat = v[i] / (1 - pow(0.999, t));
            w[i] -= lr * mhat / (sqrt(vhat) + 1e-8);
        }
    }
    float *got = test_read(entry(ctx, m, 0).value);
    test_expect_close("adam 3 steps, the last at another learning rate", got, w, 4, 1e-6, 1e-5);
    EXPECT_ERR(ctx, gan_optimizer_set_lr(opt, 0.0f), GAN_ERR_INVALID_ARGUMENT, "not in (0, 1]");
    EXPECT_ERR(ctx, gan_optimizer_set_lr(opt, 1.5f), GAN_ERR_INVALID_ARGUMENT, "not in (0, 1]");
    CHECK(gan_optimizer_get_lr(opt) == 5e-3f);
    free(got);
    gan_entry e;
    REQUIRE_OK(ctx, gan_optimizer_entry(opt, 0, &e));
    CHECK(strcmp(e.name, "0.weight.exp_avg") == 0 && e.kind == GAN_ENTRY_BUFFER);
    float *ea = test_read(e.value);
    test_expect_close("adam exp_avg", ea, mo, 4, 1e-6, 1e-5);
    free(ea);
    REQUIRE_OK(ctx, gan_optimizer_entry(opt, 2, &e));
    CHECK(strcmp(e.name, "step") == 0 && *e.counter == 3);
    CHECK(gan_optimizer_entry_count(opt) == 3);
    gan_optimizer_free(opt);
    gan_model_free(m);
}

static void test_sgd(gan_context *ctx, float momentum, float dampening, int nesterov)
{
    const float w0[4] = {1.0f, -2.0f, 0.5f, 0.0f};
    gan_model *m = one_param_model(ctx, w0);
    gan_sgd_params p = {0.1f, momentum, dampening, 0.05f, nesterov};
    gan_optimizer *opt;
    REQUIRE_OK(ctx, gan_optimizer_sgd_create(m, &p, &opt));
    double w[4], buf[4] = {0};
    for (int i = 0; i < 4; i++)
        w[i] = w0[i];
    for (int t = 0; t < 3; t++) {
        REQUIRE_OK(ctx, gan_tensor_write(entry(ctx, m, 0).grad, grads[t], 4));
        REQUIRE_OK(ctx, gan_optimizer_step(opt));
        for (int i = 0; i < 4; i++) {
            double g = grads[t][i] + 0.05 * w[i];
            if (momentum > 0) {
                buf[i] = t == 0 ? g : momentum * buf[i] + (1 - dampening) * g;
                g = nesterov ? g + momentum * buf[i] : buf[i];
            }
            w[i] -= 0.1 * g;
        }
    }
    float *got = test_read(entry(ctx, m, 0).value);
    char what[64];
    snprintf(what, sizeof what, "sgd momentum=%g dampening=%g nesterov=%d", momentum, dampening, nesterov);
    test_expect_close(what, got, w, 4, 1e-6, 1e-5);
    CHECK(gan_optimizer_entry_count(opt) == (momentum > 0 ? 2u : 1u));
    free(got);
    gan_optimizer_free(opt);
    gan_model_free(m);
}

static void test_random(void)
{
    gan_context *ctx = test_context(2, 42); /* normal values: the pairs' transforms split between threads */
    enum { N = 200000 };
    float *x = malloc(N * sizeof(float));
    REQUIRE_OK(ctx, gan_random_normal(ctx, x, N, 0.0f, 1.0f));
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++)
        mean += x[i];
    mean /= N;
    for (int i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= N - 1;
    printf("normal(0, 1): mean %.4f var %.4f\n", mean, var);
    CHECK(fabs(mean) < 0.01 && fabs(var - 1.0) < 0.02);
    REQUIRE_OK(ctx, gan_random_uniform(ctx, x, N, -1.0f, 3.0f));
    mean = 0, var = 0;
    float lo = 10, hi = -10;
    for (int i = 0; i < N; i++) {
        mean += x[i];
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    mean /= N;
    for (int i = 0; i < N; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= N - 1;
    printf("uniform[-1, 3): mean %.4f var %.4f (want 1, 1.3333)\n", mean, var);
    CHECK(fabs(mean - 1.0) < 0.02 && fabs(var - 16.0 / 12.0) < 0.02 && lo >= -1.0f && hi < 3.0f);
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++)
        counts[gan_random_below(ctx, 10)]++;
    for (int i = 0; i < 10; i++)
        CHECK(abs(counts[i] - 10000) < 500);

    /* same seed, same numbers; saved state replays */
    uint64_t state[4];
    gan_random_seed(ctx, 7);
    gan_random_get_state(ctx, state);
    uint64_t a = gan_random_u64(ctx), b = gan_random_u64(ctx);
    REQUIRE_OK(ctx, gan_random_set_state(ctx, state));
    CHECK(gan_random_u64(ctx) == a && gan_random_u64(ctx) == b);
    gan_random_seed(ctx, 8);
    CHECK(gan_random_u64(ctx) != a);

    /* xoshiro256**: the reference implementation's first outputs from the
     * state {1, 2, 3, 4} (as rand_xoshiro's tests list them) */
    const uint64_t reference_state[4] = {1, 2, 3, 4};
    const uint64_t reference[4] = {11520u, 0u, 1509978240u, 1215971899390074240u};
    REQUIRE_OK(ctx, gan_random_set_state(ctx, reference_state));
    for (int i = 0; i < 4; i++)
        CHECK(gan_random_u64(ctx) == reference[i]);

    /* the fills draw from the same stream, one number a uniform value and
     * two a pair of normal ones (Box-Muller; enough pairs for the threads
     * to share, in two chunks of draws), and leave the state where as many
     * single draws would */
    enum { FILL = 70001 };
    uint64_t *draws = malloc((FILL + 1) * sizeof *draws), after_draws[4], after_fill[4];
    gan_random_seed(ctx, 9);
    gan_random_get_state(ctx, state);
    for (int i = 0; i < FILL + 1; i++)
        draws[i] = gan_random_u64(ctx);
    gan_random_get_state(ctx, after_draws);
    REQUIRE_OK(ctx, gan_random_set_state(ctx, state));
    REQUIRE_OK(ctx, gan_random_uniform(ctx, x, FILL, -1.0f, 3.0f));
    gan_random_get_state(ctx, after_fill);
    int same = 0;
    for (int i = 0; i < FILL; i++)
        same += x[i] == -1.0f + 4.0f * ((float)(draws[i] >> 40) * (1.0f / 16777216.0f));
    CHECK(same == FILL);
    CHECK(memcmp(after_fill, state, sizeof state) != 0 && gan_random_u64(ctx) == draws[FILL]);
    REQUIRE_OK(ctx, gan_random_set_state(ctx, state));
    REQUIRE_OK(ctx, gan_random_normal(ctx, x, FILL, 2.0f, 0.5f));
    gan_random_get_state(ctx, after_fill);
    CHECK(memcmp(after_fill, after_draws, sizeof state) == 0); /* 35,001 pairs: 70,002 draws */
    same = 0;
    for (int i = 0; i < FILL; i += 2) {
        const double u1 = ((double)(draws[i] >> 11) + 1.0) / 9007199254740992.0;
        const double u2 = (double)(draws[i + 1] >> 11) / 9007199254740992.0;
        const double r = sqrt(-2.0 * log(u1)), angle = 6.283185307179586 * u2;
        same += x[i] == (float)(2.0 + 0.5 * r * cos(angle));
        same += i + 1 < FILL && x[i + 1] == (float)(2.0 + 0.5 * r * sin(angle));
    }
    CHECK(same == FILL);
    free(x), free(draws);
    gan_context_free(ctx);
}

static gan_layer *conv(gan_context *ctx, bool transposed, int ci, int co, int k, int s, int p)
{
    gan_conv2d_params prm = gan_conv2d_default_params(ci, co, k);
    prm.stride_h = prm.stride_w = s;
    prm.pad_h = prm.pad_w = p;
    gan_layer *l;
    REQUIRE_OK(ctx, transposed ? gan_conv_transpose2d_create(ctx, &prm, &l) : gan_conv2d_create(ctx, &prm, &l));
    return l;
}

static void add(gan_context *ctx, gan_model *m, gan_layer *l) { REQUIRE_OK(ctx, gan_model_add(m, l)); }

/* A small DCGAN pair on 8x8 images. */
static void build_pair(gan_context *ctx, gan_model **g, gan_model **d)
{
    gan_layer *l;
    REQUIRE_OK(ctx, gan_model_create(ctx, g));
    REQUIRE_OK(ctx, gan_reshape_create(ctx, 3, (int[]){8, 1, 1}, &l));
    add(ctx, *g, l);
    add(ctx, *g, conv(ctx, true, 8, 16, 4, 1, 0)); /* 4x4 */
    REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 16, 1e-5f, 0.1f, &l));
    add(ctx, *g, l);
    REQUIRE_OK(ctx, gan_relu_create(ctx, &l));
    add(ctx, *g, l);
    add(ctx, *g, conv(ctx, true, 16, 1, 4, 2, 1)); /* 8x8 */
    REQUIRE_OK(ctx, gan_tanh_create(ctx, &l));
    add(ctx, *g, l);

    REQUIRE_OK(ctx, gan_model_create(ctx, d));
    add(ctx, *d, conv(ctx, false, 1, 16, 4, 2, 1)); /* 4x4 */
    REQUIRE_OK(ctx, gan_batchnorm2d_create(ctx, 16, 1e-5f, 0.1f, &l));
    add(ctx, *d, l);
    REQUIRE_OK(ctx, gan_leaky_relu_create(ctx, 0.2f, &l));
    add(ctx, *d, l);
    REQUIRE_OK(ctx, gan_flatten_create(ctx, &l));
    add(ctx, *d, l);
    REQUIRE_OK(ctx, gan_linear_create(ctx, 256, 1, 1, &l));
    add(ctx, *d, l);
    REQUIRE_OK(ctx, gan_model_init_dcgan(*g, 0.02f));
    REQUIRE_OK(ctx, gan_model_init_dcgan(*d, 0.02f));
}

/* Runs GAN training steps through the library's trainer and returns every
 * parameter of G and D, concatenated (caller frees): build_pair's models
 * (D with batch norm), or the zoo's model `zoo` (the fully connected gan:
 * D without, its real and generated batches taken as one). */
static float *train_gan(const char *zoo, int threads, uint64_t seed, int steps, size_t *count, float *last_losses)
{
    gan_context *ctx = test_context(threads, seed);
    gan_model *g, *d;
    gan_trainer *trainer;
    enum { B = 16 };
    int z_shape[4] = {B, 8, 1, 1}, z_ndim = 2, image[4] = {B, 1, 8, 8};
    if (zoo) {
        REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, zoo, NULL, NULL, &trainer));
        g = gan_trainer_generator(trainer), d = gan_trainer_discriminator(trainer);
        gan_models_info spec;
        REQUIRE_OK(ctx, gan_trainer_models_info(trainer, &spec));
        z_shape[1] = spec.z_dim, z_ndim = spec.z_ndim;
        image[1] = spec.channels, image[2] = image[3] = spec.image_size;
    } else {
        build_pair(ctx, &g, &d);
        REQUIRE_OK(ctx, gan_trainer_create(g, d, NULL, &trainer));
    }
    gan_tensor *z = test_tensor(ctx, z_ndim, z_shape, NULL), *real = test_tensor(ctx, 4, image, NULL);
    gan_step_stats stats = {0};
#ifdef GAN_TEST_COUNT_ALLOCATIONS
    size_t allocations_after_first_step = 0;
#endif
    for (int s = 0; s < steps; s++) {
#ifdef GAN_TEST_COUNT_ALLOCATIONS
        if (s == 1)
            allocations_after_first_step = test_alloc_count;
#endif
        REQUIRE_OK(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_trainer_step(trainer, real, z, &stats));
    }
#ifdef GAN_TEST_COUNT_ALLOCATIONS
    /* the steady state reuses every output, gradient and workspace */
    CHECK(steps < 2 || test_alloc_count == allocations_after_first_step);
#endif
    last_losses[0] = stats.loss_d;
    last_losses[1] = stats.loss_g;
    size_t total = gan_model_parameter_count(g) + gan_model_parameter_count(d), at = 0;
    float *all = malloc(total * sizeof(float));
    gan_model *models[2] = {g, d};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < gan_model_entry_count(models[k]); i++) {
            gan_entry e = entry(ctx, models[k], i);
            if (e.kind != GAN_ENTRY_PARAMETER)
                continue;
            REQUIRE_OK(ctx, gan_tensor_read(e.value, all + at, gan_tensor_numel(e.value)));
            at += gan_tensor_numel(e.value);
        }
    *count = total;
    gan_tensor_free(z), gan_tensor_free(real);
    gan_trainer_free(trainer);
    if (!zoo)
        gan_model_free(g), gan_model_free(d);
    gan_context_free(ctx);
    return all;
}

static void test_determinism(const char *zoo)
{
    size_t n1, n2, n3, n4;
    float l1[2], l2[2], l3[2], l4[2];
    float *a = train_gan(zoo, 2, 11, 3, &n1, l1), *b = train_gan(zoo, 2, 11, 3, &n2, l2);
    float *c = train_gan(zoo, 1, 11, 3, &n3, l3), *e = train_gan(zoo, 2, 12, 3, &n4, l4);
    CHECK(n1 == n2 && n1 == n3 && n1 == n4);
    CHECK(memcmp(a, b, n1 * sizeof(float)) == 0); /* same seed: same bits */
    CHECK(memcmp(a, c, n1 * sizeof(float)) == 0); /* thread count does not matter */
    CHECK(memcmp(a, e, n1 * sizeof(float)) != 0); /* another seed differs */
    CHECK(isfinite(l1[0]) && isfinite(l1[1]) && l1[0] > 0 && l1[1] > 0);
    printf("GAN step losses (%s): D %.4f G %.4f\n", zoo ? zoo : "batch-norm D", l1[0], l1[1]);
    free(a), free(b), free(c), free(e);
}

static void test_accumulation_and_freezing(gan_context *ctx)
{
    gan_model *g, *d;
    build_pair(ctx, &g, &d);
    gan_tensor *x = test_tensor(ctx, 4, (int[]){4, 1, 8, 8}, NULL), *dy = test_tensor(ctx, 2, (int[]){4, 1}, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(x, -1, 1));
    REQUIRE_OK(ctx, gan_tensor_fill_uniform(dy, -1, 1));
    const gan_tensor *y, *dx;
    REQUIRE_OK(ctx, gan_model_zero_grad(d));
    REQUIRE_OK(ctx, gan_model_forward(d, x, &y));
    REQUIRE_OK(ctx, gan_model_backward(d, dy, NULL));
    gan_entry w = entry(ctx, d, 0), bnw = entry(ctx, d, 2), lb = entry(ctx, d, 8);
    CHECK(strcmp(w.name, "0.weight") == 0 && strcmp(bnw.name, "1.weight") == 0 && strcmp(lb.name, "4.bias") == 0);
    float *g1 = test_read(w.grad), *b1 = test_read(bnw.grad), *c1 = test_read(lb.grad);
    REQUIRE_OK(ctx, gan_model_forward(d, x, &y));
    REQUIRE_OK(ctx, gan_model_backward(d, dy, NULL));
    float *g2 = test_read(w.grad), *b2 = test_read(bnw.grad), *c2 = test_read(lb.grad);
    double *twice = malloc(gan_tensor_numel(w.grad) * sizeof(double));
    for (size_t i = 0; i < gan_tensor_numel(w.grad); i++)
        twice[i] = 2.0 * g1[i];
    test_expect_close("conv weight grads accumulate", g2, twice, gan_tensor_numel(w.grad), 1e-6, 1e-5);
    for (size_t i = 0; i < gan_tensor_numel(bnw.grad); i++)
        twice[i] = 2.0 * b1[i];
    test_expect_close("batchnorm grads accumulate", b2, twice, gan_tensor_numel(bnw.grad), 1e-6, 1e-5);
    twice[0] = 2.0 * c1[0];
    test_expect_close("linear bias grads accumulate", c2, twice, 1, 1e-6, 1e-5);

    /* frozen: input gradient still flows, parameter gradients stay put */
    REQUIRE_OK(ctx, gan_model_zero_grad(d));
    gan_model_set_requires_grad(d, 0);
    REQUIRE_OK(ctx, gan_model_forward(d, x, &y));
    REQUIRE_OK(ctx, gan_model_backward(d, dy, &dx));
    float *gz = test_read(w.grad), *dxh = test_read(dx);
    double nonzero = 0, grad_sum = 0;
    for (size_t i = 0; i < gan_tensor_numel(dx); i++)
        nonzero += fabs(dxh[i]);
    for (size_t i = 0; i < gan_tensor_numel(w.grad); i++)
        grad_sum += fabs(gz[i]);
    CHECK(nonzero > 0 && grad_sum == 0);

    CHECK(gan_model_parameter_count(d) == (16 * 16 + 16) + 32 + (256 + 1));
    char desc[160];
    gan_layer_describe(gan_model_layer(d, 0), desc, sizeof desc);
    CHECK(strcmp(desc, "Conv2d(1, 16, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))") == 0);
    gan_layer_describe(gan_model_layer(g, 1), desc, sizeof desc);
    CHECK(strcmp(desc, "ConvTranspose2d(8, 16, kernel_size=(4, 4), stride=(1, 1), padding=(0, 0))") == 0);
    gan_entry gw = entry(ctx, g, 0);
    CHECK(strcmp(gw.name, "1.weight") == 0 && gan_tensor_dim(gw.value, 0) == 8 && gan_tensor_dim(gw.value, 1) == 16);

    free(g1), free(g2), free(b1), free(b2), free(c1), free(c2), free(twice), free(gz), free(dxh);
    gan_tensor_free(x), gan_tensor_free(dy);
    gan_model_free(g), gan_model_free(d);
}

static void test_dcgan_init(gan_context *ctx)
{
    gan_layer *l;
    gan_model *m;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_linear_create(ctx, 300, 200, 1, &l));
    add(ctx, m, l);
    REQUIRE_OK(ctx, gan_batchnorm1d_create(ctx, 2000, 1e-5f, 0.1f, &l));
    add(ctx, m, l);
    REQUIRE_OK(ctx, gan_model_init_dcgan(m, 0.02f));
    const double want_mean[3] = {0.0, 0.0, 1.0};
    const size_t which[3] = {0, 1, 2}; /* weight, bias, bn weight */
    for (int k = 0; k < 3; k++) {
        gan_entry e = entry(ctx, m, which[k]);
        float *v = test_read(e.value);
        size_t n = gan_tensor_numel(e.value);
        double mean = 0, var = 0;
        for (size_t i = 0; i < n; i++)
            mean += v[i];
        mean /= n;
        for (size_t i = 0; i < n; i++)
            var += (v[i] - mean) * (v[i] - mean);
        double sd = sqrt(var / n);
        CHECK(fabs(mean - want_mean[k]) < 0.002);
        CHECK(k == 1 ? sd == 0.0 : fabs(sd - 0.02) < 0.001);
        free(v);
    }
    gan_model_free(m);
}

/* Linear -> ReLU -> Linear learns XOR with BCE on logits and Adam. */
static void test_learns(gan_context *ctx)
{
    gan_layer *l;
    gan_model *m;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_linear_create(ctx, 2, 16, 1, &l));
    add(ctx, m, l);
    REQUIRE_OK(ctx, gan_relu_create(ctx, &l));
    add(ctx, m, l);
    REQUIRE_OK(ctx, gan_linear_create(ctx, 16, 1, 1, &l));
    add(ctx, m, l);
    const float xs[8] = {-1, -1, -1, 1, 1, -1, 1, 1}, ts[4] = {0, 1, 1, 0};
    gan_tensor *x = test_tensor(ctx, 2, (int[]){4, 2}, xs), *t = test_tensor(ctx, 2, (int[]){4, 1}, ts);
    gan_tensor *g = test_tensor(ctx, 2, (int[]){4, 1}, NULL);
    gan_adam_params ap = gan_adam_default_params();
    ap.lr = 0.05f;
    gan_optimizer *opt;
    REQUIRE_OK(ctx, gan_optimizer_adam_create(m, &ap, &opt));
    float loss = 0, first = 0;
    const gan_tensor *y;
    for (int s = 0; s < 300; s++) {
        REQUIRE_OK(ctx, gan_model_zero_grad(m));
        REQUIRE_OK(ctx, gan_model_forward(m, x, &y));
        REQUIRE_OK(ctx, gan_bce_with_logits(ctx, y, t, g, &loss, NULL));
        if (s == 0)
            first = loss;
        REQUIRE_OK(ctx, gan_model_backward(m, g, NULL));
        REQUIRE_OK(ctx, gan_optimizer_step(opt));
    }
    printf("XOR: loss %.4f -> %.4f\n", first, loss);
    CHECK(first > 0.5f && loss < 0.05f);
    gan_optimizer_free(opt);
    gan_tensor_free(x), gan_tensor_free(t), gan_tensor_free(g);
    gan_model_free(m);
}

int main(void)
{
    gan_context *ctx = test_context(2, 3);
    test_adam(ctx);
    test_sgd(ctx, 0.0f, 0.0f, 0);
    test_sgd(ctx, 0.9f, 0.0f, 0);
    test_sgd(ctx, 0.9f, 0.3f, 0);
    test_sgd(ctx, 0.9f, 0.0f, 1);
    test_random();
    test_accumulation_and_freezing(ctx);
    test_dcgan_init(ctx);
    test_learns(ctx);
    test_determinism(NULL);
    test_determinism("gan");
    gan_context_free(ctx);
    return test_finish("test_training");
}
