/* test_trainer.c - the library's GAN: the model zoo's shapes, the trainer
 * against the step written out op by op, checkpoints (exact resume, every
 * header bit covered, values out of range refused), the batch sampler
 * against a naive resampler, data-parallel training (processes played by
 * threads) against one process, and sampling. */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"
#include "layer.h"
#include "test_util.h"

#include <pthread.h>
#include <unistd.h>

/* Every parameter and buffer of a model (or, with grads, every parameter's
 * gradient), concatenated (caller frees). */
static float *model_floats(gan_context *ctx, const gan_model *m, bool grads, size_t *count)
{
    size_t total = 0, at = 0;
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        const gan_tensor *t = grads ? e.grad : e.value;
        total += t ? gan_tensor_numel(t) : 0;
    }
    float *all = malloc((total ? total : 1) * sizeof(float));
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        const gan_tensor *t = grads ? e.grad : e.value;
        if (!t)
            continue;
        REQUIRE_OK(ctx, gan_tensor_read(t, all + at, gan_tensor_numel(t)));
        at += gan_tensor_numel(t);
    }
    *count = total;
    return all;
}

static float *model_values(gan_context *ctx, const gan_model *m, size_t *count)
{
    return model_floats(ctx, m, false, count);
}

static bool same_models(gan_context *ca, const gan_model *a, gan_context *cb, const gan_model *b)
{
    size_t na, nb;
    float *x = model_values(ca, a, &na), *y = model_values(cb, b, &nb);
    const bool same = na == nb && memcmp(x, y, na * sizeof(float)) == 0;
    free(x), free(y);
    return same;
}

/* ------------------------------------------------------------------ zoo */

static size_t weight_numel(gan_context *ctx, const gan_model *m, const char *name, int *dim0, int *dim1)
{
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        if (strcmp(e.name, name) == 0) {
            *dim0 = gan_tensor_dim(e.value, 0);
            *dim1 = gan_tensor_dim(e.value, 1);
            return gan_tensor_numel(e.value);
        }
    }
    return 0;
}

static void test_zoo(gan_context *ctx)
{
    gan_models_info info;
    REQUIRE_OK(ctx, gan_models_describe("dcgan64", NULL, &info));
    CHECK(info.z_dim == 100 && info.z_ndim == 4 && info.image_size == 64 && info.channels == 1);
    REQUIRE_OK(ctx, gan_models_describe("gan", NULL, &info));
    CHECK(info.z_dim == 64 && info.z_ndim == 2 && info.image_size == 28);

    /* the paper's colour DCGAN: 3 channels in and out, PyTorch's shapes */
    gan_model *g, *d;
    const gan_models_params rgb = {0, 0, 3};
    REQUIRE_OK(ctx, gan_models_create(ctx, "dcgan64", &rgb, &g, &d));
    int a, b;
    CHECK(weight_numel(ctx, g, "12.weight", &a, &b) == 64 * 3 * 16 && a == 64 && b == 3); /* ConvTranspose [in, out] */
    CHECK(weight_numel(ctx, d, "0.weight", &a, &b) == 64 * 3 * 16 && a == 64 && b == 3);  /* Conv [out, in] */
    CHECK(gan_model_parameter_count(g) == 3576704 && gan_model_parameter_count(d) == 2765568);
    int out_ndim, out[GAN_MAX_DIMS];
    REQUIRE_OK(ctx, gan_model_layer_output_shape(g, gan_model_layer_count(g) - 1, 4, (int[]){2, 100, 1, 1}, &out_ndim, out));
    CHECK(out_ndim == 4 && out[1] == 3 && out[2] == 64 && out[3] == 64);
    gan_model_free(g), gan_model_free(d);

    /* the fully connected model at another size and latent */
    const gan_models_params small = {16, 12, 2};
    REQUIRE_OK(ctx, gan_models_create(ctx, "gan", &small, &g, &d));
    CHECK(weight_numel(ctx, g, "0.weight", &a, &b) == 256 * 16 && weight_numel(ctx, d, "1.weight", &a, &b) == 256 * 288);
    gan_model_free(g), gan_model_free(d);

    EXPECT_ERR(ctx, gan_models_create(ctx, "dcgan", &(gan_models_params){0, 32, 0}, &g, &d), GAN_ERR_INVALID_ARGUMENT,
               "model 'dcgan' is built for 28x28 images only");
    CHECK(g == NULL && d == NULL);
    EXPECT_ERR(ctx, gan_models_create(ctx, "big", NULL, &g, &d), GAN_ERR_INVALID_ARGUMENT, "not a model of the zoo");
    EXPECT_ERR(ctx, gan_models_create(ctx, "gan", &(gan_models_params){0, 0, 5}, &g, &d), GAN_ERR_INVALID_ARGUMENT,
               "1 to 4 channels");
    CHECK(gan_models_describe("gan", &(gan_models_params){-1, 0, 0}, &info) == GAN_ERR_INVALID_ARGUMENT);
}

/* -------------------------------------------------------------- trainer */

/* The tutorial's step written out op by op, as the reference; with
 * mode_seeking, G's gradient gets the mode-seeking term. figures: loss_d,
 * loss_g, d_x, d_g_z1, d_g_z2. */
static void reference_step(gan_context *ctx, gan_model *g, gan_model *d, gan_optimizer *og, gan_optimizer *od,
                           const gan_tensor *real, const gan_tensor *z, float mode_seeking, float figures[5])
{
    const int n = gan_tensor_dim(real, 0);
    gan_tensor *ones = test_tensor(ctx, 2, (int[]){n, 1}, NULL), *zeros = test_tensor(ctx, 2, (int[]){n, 1}, NULL);
    gan_tensor *dl = test_tensor(ctx, 2, (int[]){n, 1}, NULL);
    REQUIRE_OK(ctx, gan_tensor_fill(ones, 1.0f));
    const gan_tensor *logits, *fake, *dfake;
    float lr, lf;
    gan_model_set_requires_grad(d, 1);
    REQUIRE_OK(ctx, gan_model_zero_grad(d));
    REQUIRE_OK(ctx, gan_model_forward(d, real, &logits));
    REQUIRE_OK(ctx, gan_bce_with_logits(ctx, logits, ones, dl, &lr, &figures[2]));
    REQUIRE_OK(ctx, gan_model_backward(d, dl, NULL));
    REQUIRE_OK(ctx, gan_model_forward(g, z, &fake));
    REQUIRE_OK(ctx, gan_model_forward(d, fake, &logits));
    REQUIRE_OK(ctx, gan_bce_with_logits(ctx, logits, zeros, dl, &lf, &figures[3]));
    REQUIRE_OK(ctx, gan_model_backward(d, dl, NULL));
    REQUIRE_OK(ctx, gan_optimizer_step(od));
    gan_model_set_requires_grad(d, 0);
    REQUIRE_OK(ctx, gan_model_zero_grad(g));
    REQUIRE_OK(ctx, gan_model_forward(d, fake, &logits));
    REQUIRE_OK(ctx, gan_bce_with_logits(ctx, logits, ones, dl, &figures[1], &figures[4]));
    REQUIRE_OK(ctx, gan_model_backward(d, dl, &dfake));
    if (mode_seeking > 0.0f)
        REQUIRE_OK(ctx, gan_mode_seeking(ctx, fake, z, mode_seeking, (gan_tensor *)dfake, NULL, NULL));
    REQUIRE_OK(ctx, gan_model_backward(g, dfake, NULL));
    REQUIRE_OK(ctx, gan_optimizer_step(og));
    gan_model_set_requires_grad(d, 1);
    figures[0] = lr + lf;
    gan_tensor_free(ones), gan_tensor_free(zeros), gan_tensor_free(dl);
}

static float largest_difference(const float *a, const float *b, size_t n)
{
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++)
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
    return worst;
}

/* The largest difference between two models' values (their sizes alike) */
static float models_apart(gan_context *ca, const gan_model *a, gan_context *cb, const gan_model *b)
{
    size_t na, nb;
    float *x = model_values(ca, a, &na), *y = model_values(cb, b, &nb);
    const float worst = na == nb ? largest_difference(x, y, na) : INFINITY;
    free(x), free(y);
    return worst;
}

/* The gradients of two models' parameters, compared: the same to the bit,
 * or (rtol > 0) as whole vectors within rtol: one gradient near zero may
 * differ by more than its rounding (it steers a weight's Adam update by up
 * to lr), not the whole (found 1e-7 apart) */
static void compare_grads(const char *what, gan_context *ca, const gan_model *a, gan_context *cb, const gan_model *b,
                          double rtol)
{
    size_t na, nb;
    float *x = model_floats(ca, a, true, &na), *y = model_floats(cb, b, true, &nb);
    CHECK(na == nb && na > 0);
    if (rtol > 0.0 && na == nb) {
        double *want = malloc(sizeof(double) * (nb ? nb : 1));
        for (size_t i = 0; i < nb; i++)
            want[i] = y[i];
        test_expect_norm_close(what, x, want, na, 0.0, rtol);
        free(want);
    } else {
        CHECK(na == nb && memcmp(x, y, na * sizeof(float)) == 0);
    }
    free(x), free(y);
}

/* Calls of one op since the profile's last reset */
static uint64_t op_calls(const gan_context *ctx, const char *op)
{
    gan_op_profile prof[64];
    const int n = gan_context_profile(ctx, prof, 64);
    for (int i = 0; i < n && i < 64; i++)
        if (strcmp(prof[i].op, op) == 0)
            return prof[i].calls;
    return 0;
}

/* The trainer's steps against the reference's. With batch norm in D
 * (dcgan) the trainer runs the reference's ops in its order: the same to
 * the bit. Without (gan), D takes the real and the generated batch in one
 * pass, put side by side by six copies a step: the same sums in another
 * order, so the same within rounding. */
static void test_trainer_step(const char *model, float mode_seeking)
{
    gan_context *ca = test_context(2, 5), *cb = test_context(2, 5);
    gan_trainer *t;
    gan_model *g, *d;
    gan_trainer_params tp = gan_trainer_default_params();
    tp.mode_seeking = mode_seeking;
    REQUIRE_OK(ca, gan_trainer_create_zoo(ca, model, NULL, &tp, &t));
    REQUIRE_OK(cb, gan_models_create(cb, model, NULL, &g, &d)); /* the same seed: the same weights */
    CHECK(same_models(ca, gan_trainer_generator(t), cb, g) && same_models(ca, gan_trainer_discriminator(t), cb, d));
    gan_models_info spec;
    REQUIRE_OK(ca, gan_trainer_models_info(t, &spec));
    const bool joint = strcmp(model, "gan") == 0;
    gan_adam_params ap = gan_adam_default_params();
    ap.lr = 2e-4f;
    ap.beta1 = 0.5f;
    gan_optimizer *og, *od;
    REQUIRE_OK(cb, gan_optimizer_adam_create(g, &ap, &og));
    REQUIRE_OK(cb, gan_optimizer_adam_create(d, &ap, &od));
    enum { B = 16 };
    const int img[4] = {B, spec.channels, spec.image_size, spec.image_size}, zs[4] = {B, spec.z_dim, 1, 1};
    const size_t pixels = (size_t)B * spec.channels * spec.image_size * spec.image_size;
    float *host_real = malloc(sizeof(float) * pixels), *host_z = malloc(sizeof(float) * B * spec.z_dim);
    unsigned state = 17;
    gan_context_set_profiling(ca, 1);
    for (int step = 0; step < 3; step++) {
        test_fill(host_real, pixels, -1.0f, 1.0f, &state);
        test_fill(host_z, (size_t)B * spec.z_dim, -2.0f, 2.0f, &state);
        gan_tensor *ra = test_tensor(ca, 4, img, host_real), *za = test_tensor(ca, spec.z_ndim, zs, host_z);
        gan_tensor *rb = test_tensor(cb, 4, img, host_real), *zb = test_tensor(cb, spec.z_ndim, zs, host_z);
        gan_step_stats s;
        float want[5];
        gan_context_reset_profile(ca);
        REQUIRE_OK(ca, gan_trainer_step(t, ra, za, &s));
        CHECK(op_calls(ca, "copy") == (joint ? 6 : 0));
        reference_step(cb, g, d, og, od, rb, zb, mode_seeking, want);
        const float got[5] = {s.loss_d, s.loss_g, s.d_x, s.d_g_z1, s.d_g_z2};
        if (joint)
            test_expect_close("joint D pass: losses and mean probabilities", got,
                              (const double[]){want[0], want[1], want[2], want[3], want[4]}, 5, 1e-6, 1e-5);
        else
            CHECK(memcmp(got, want, sizeof got) == 0);
        CHECK(s.d_x > 0 && s.d_x < 1 && s.d_g_z1 > 0 && s.d_g_z1 < 1 && s.d_g_z2 > 0 && s.d_g_z2 < 1);
        /* the step's gradients (D's from its own step: G's pass leaves them) */
        compare_grads("trainer step: G's gradients", ca, gan_trainer_generator(t), cb, g, joint ? 1e-5 : 0.0);
        compare_grads("trainer step: D's gradients", ca, gan_trainer_discriminator(t), cb, d, joint ? 1e-5 : 0.0);
        gan_tensor_free(ra), gan_tensor_free(za), gan_tensor_free(rb), gan_tensor_free(zb);
    }
    CHECK(gan_trainer_steps(t) == 3);
    if (joint) { /* Adam moves a weight about lr (2e-4) a step: far more than rounding can */
        const float apart_g = models_apart(ca, gan_trainer_generator(t), cb, g);
        const float apart_d = models_apart(ca, gan_trainer_discriminator(t), cb, d);
        printf("joint D pass: after 3 steps the weights are within %.2g (G) and %.2g (D) of two passes'\n", apart_g,
               apart_d);
        CHECK(apart_g <= 1e-6 && apart_d <= 1e-6);
    } else { /* to the bit, running statistics included */
        CHECK(same_models(ca, gan_trainer_generator(t), cb, g));
        CHECK(same_models(ca, gan_trainer_discriminator(t), cb, d));
    }
    CHECK(gan_model_is_training(gan_trainer_generator(t)));
    free(host_real), free(host_z);
    gan_optimizer_free(og), gan_optimizer_free(od);
    gan_model_free(g), gan_model_free(d);
    gan_trainer_free(t);
    gan_context_free(ca), gan_context_free(cb);
}

/* A backward pass that replaces the gradients gives, to the bit, what
 * zeroing them and then adding to them gives, through D and G: for Linear
 * layers (which replace their weight gradient in the product itself) with
 * and without bias, folded activation and input gradient, and for
 * convolutions and batch norm (zeroed first by the model); after gradients
 * of an earlier pass were left in place, and for a frozen model (its
 * gradients left at zero). */
static void test_backward_replacing(const char *model)
{
    gan_context *ca = test_context(2, 9), *cb = test_context(2, 9);
    gan_model *g[2], *d[2];
    REQUIRE_OK(ca, gan_models_create(ca, model, NULL, &g[0], &d[0]));
    REQUIRE_OK(cb, gan_models_create(cb, model, NULL, &g[1], &d[1]));
    gan_models_info spec;
    REQUIRE_OK(ca, gan_models_describe(model, NULL, &spec));
    enum { B = 6 };
    const int img[4] = {B, spec.channels, spec.image_size, spec.image_size}, zs[4] = {B, spec.z_dim, 1, 1};
    const size_t pixels = (size_t)B * spec.channels * spec.image_size * spec.image_size;
    /* D from images to logits, its input gradient asked for; G from noise
     * to images, its first layer's input gradient not needed */
    for (int which = 0; which < 2; which++) {
        gan_model **m = which ? g : d;
        const int in_ndim = which ? spec.z_ndim : 4, *in_shape = which ? zs : img;
        const int out_ndim = which ? 4 : 2, *out_shape = which ? img : (const int[]){B, 1};
        const size_t in_n = which ? (size_t)B * spec.z_dim : pixels, out_n = which ? pixels : B;
        float *x = malloc(sizeof(float) * in_n), *dy = malloc(sizeof(float) * out_n);
        unsigned state = 3;
        for (int frozen = 0; frozen < 2; frozen++) {
            for (int pass = 0; pass < 2; pass++) { /* the second pass finds the first's gradients */
                test_fill(x, in_n, -1.0f, 1.0f, &state);
                test_fill(dy, out_n, -1.0f, 1.0f, &state);
                for (int k = 0; k < 2; k++) {
                    gan_context *c = k ? cb : ca;
                    gan_tensor *xt = test_tensor(c, in_ndim, in_shape, x), *dyt = test_tensor(c, out_ndim, out_shape, dy);
                    const gan_tensor *y, *dx;
                    gan_model_set_requires_grad(m[k], !frozen || !pass);
                    REQUIRE_OK(c, gan_model_forward(m[k], xt, &y));
                    if (k == 0) {
                        REQUIRE_OK(c, gan_model_zero_grad(m[k]));
                        REQUIRE_OK(c, gan_model_backward(m[k], dyt, which ? NULL : &dx));
                    } else {
                        REQUIRE_OK(c, gan_model_backward_replacing(m[k], dyt, which ? NULL : &dx));
                    }
                    gan_tensor_free(xt), gan_tensor_free(dyt);
                }
                size_t na, nb;
                float *ga = model_floats(ca, m[0], true, &na), *gb = model_floats(cb, m[1], true, &nb);
                CHECK(na == nb && na > 0 && memcmp(ga, gb, na * sizeof(float)) == 0);
                bool all_zero = true;
                for (size_t i = 0; i < na; i++)
                    all_zero = all_zero && ga[i] == 0.0f;
                CHECK(all_zero == (frozen && pass)); /* a frozen model's are zero, as zero_grad left them */
                free(ga), free(gb);
            }
        }
        free(x), free(dy);
    }
    for (int k = 0; k < 2; k++)
        gan_model_free(g[k]), gan_model_free(d[k]);
    gan_context_free(ca), gan_context_free(cb);
}

/* A backward pass goes no lower than it has to: through the zoo's gan D
 * (Flatten, then three Linear layers), without the input gradient asked
 * for, the first Linear makes its weight gradient but not its input
 * gradient (five products, not six), with the same gradients to the bit as
 * when it is asked for; a frozen D makes only what is asked for: the three
 * input gradients, or nothing. */
static void test_backward_floor(void)
{
    gan_context *ctx = test_context(2, 4);
    gan_model *g, *d;
    REQUIRE_OK(ctx, gan_models_create(ctx, "gan", NULL, &g, &d));
    gan_models_info spec;
    REQUIRE_OK(ctx, gan_models_describe("gan", NULL, &spec));
    enum { B = 6 };
    const int img[4] = {B, spec.channels, spec.image_size, spec.image_size}, out[2] = {B, 1};
    const size_t pixels = (size_t)B * spec.channels * spec.image_size * spec.image_size;
    float *x = malloc(sizeof(float) * pixels), dy[B];
    unsigned state = 11;
    test_fill(x, pixels, -1.0f, 1.0f, &state);
    test_fill(dy, B, -1.0f, 1.0f, &state);
    gan_tensor *xt = test_tensor(ctx, 4, img, x), *dyt = test_tensor(ctx, 2, out, dy);
    float *grads[2];
    size_t counts[2];
    const gan_tensor *y, *dx = NULL;
    gan_context_set_profiling(ctx, 1);
    for (int frozen = 0; frozen < 2; frozen++) {
        gan_model_set_requires_grad(d, !frozen);
        for (int want_dx = 0; want_dx < 2; want_dx++) {
            REQUIRE_OK(ctx, gan_model_forward(d, xt, &y));
            REQUIRE_OK(ctx, gan_model_zero_grad(d));
            gan_context_reset_profile(ctx);
            REQUIRE_OK(ctx, gan_model_backward(d, dyt, want_dx ? &dx : NULL));
            const uint64_t products = op_calls(ctx, "gemm");
            if (frozen) {
                CHECK(products == (want_dx ? 3u : 0u));
                continue;
            }
            CHECK(products == (want_dx ? 6u : 5u));
            grads[want_dx] = model_floats(ctx, d, true, &counts[want_dx]);
        }
    }
    CHECK(dx && gan_tensor_ndim(dx) == 4 && gan_tensor_numel(dx) == pixels);
    CHECK(counts[0] == counts[1] && counts[0] > 0 && memcmp(grads[0], grads[1], counts[0] * sizeof(float)) == 0);
    free(grads[0]), free(grads[1]), free(x);
    gan_tensor_free(xt), gan_tensor_free(dyt);
    gan_model_free(g), gan_model_free(d);
    gan_context_free(ctx);
}

/* Wrong inputs and settings are refused, naming the problem */
static void test_trainer_refusals(void)
{
    gan_context *ca = test_context(2, 5);
    gan_trainer *t;
    REQUIRE_OK(ca, gan_trainer_create_zoo(ca, "dcgan", NULL, NULL, &t));
    gan_tensor *real = test_tensor(ca, 4, (int[]){8, 1, 28, 28}, NULL), *z = test_tensor(ca, 4, (int[]){4, 64, 1, 1}, NULL);
    EXPECT_ERR(ca, gan_trainer_step(t, real, z, NULL), GAN_ERR_SHAPE, "8 real images but 4 noise vectors");
    gan_tensor *big = test_tensor(ca, 4, (int[]){4, 1, 32, 32}, NULL);
    EXPECT_ERR(ca, gan_trainer_step(t, big, z, NULL), GAN_ERR_SHAPE, "");
    gan_tensor_free(real), gan_tensor_free(z), gan_tensor_free(big);
    gan_trainer_params p = gan_trainer_default_params();
    p.lr_d = 1e-45f; /* subnormal: as good as zero */
    gan_trainer *bad;
    EXPECT_ERR(ca, gan_trainer_create(gan_trainer_generator(t), gan_trainer_discriminator(t), &p, &bad),
               GAN_ERR_INVALID_ARGUMENT, "learning rates must be in (0, 1]");
    p = gan_trainer_default_params();
    p.mode_seeking = -1.0f;
    EXPECT_ERR(ca, gan_trainer_create(gan_trainer_generator(t), gan_trainer_discriminator(t), &p, &bad),
               GAN_ERR_INVALID_ARGUMENT, "mode_seeking must be a finite value >= 0");
    p.mode_seeking = INFINITY;
    EXPECT_ERR(ca, gan_trainer_create(gan_trainer_generator(t), gan_trainer_discriminator(t), &p, &bad),
               GAN_ERR_INVALID_ARGUMENT, "mode_seeking");
    gan_trainer_free(t);
    /* a D without batch norm takes both batches in one pass, after G's: the
     * shapes are compared first */
    REQUIRE_OK(ca, gan_trainer_create_zoo(ca, "gan", NULL, NULL, &t));
    real = test_tensor(ca, 4, (int[]){4, 1, 32, 32}, NULL), z = test_tensor(ca, 2, (int[]){4, 64}, NULL);
    EXPECT_ERR(ca, gan_trainer_step(t, real, z, NULL), GAN_ERR_SHAPE,
               "G makes [4, 1, 28, 28] images, the real batch is [4, 1, 32, 32]");
    gan_tensor_free(real), gan_tensor_free(z);
    gan_trainer_free(t);
    gan_context_free(ca);
}

/* ---------------------------------------------------------- checkpoints */

/* n steps of the zoo's "gan" at batch 8 on noise-driven data from the
 * context's generator (so a resumed run must also restore the generator). */
static void run_steps(gan_context *ctx, gan_trainer *t, int n)
{
    gan_tensor *real = test_tensor(ctx, 4, (int[]){8, 1, 28, 28}, NULL), *z = test_tensor(ctx, 2, (int[]){8, 64}, NULL);
    for (int i = 0; i < n; i++) {
        REQUIRE_OK(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
    }
    gan_tensor_free(real), gan_tensor_free(z);
}

/* Two steps of a zoo "gan" of 2x2 images, batch 4. */
static void run_small_steps(gan_context *ctx, gan_trainer *t)
{
    gan_tensor *real = test_tensor(ctx, 4, (int[]){4, 1, 2, 2}, NULL), *z = test_tensor(ctx, 2, (int[]){4, 1}, NULL);
    for (int i = 0; i < 2; i++) {
        REQUIRE_OK(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
    }
    gan_tensor_free(real), gan_tensor_free(z);
}

/* A checkpoint file made with the generic writer: the trainer's entries
 * and the given metadata, with a valid whole-file checksum. */
static void forge(gan_context *ctx, gan_trainer *t, const char *path, const char *const (*meta)[2], size_t n_meta)
{
    size_t n = 0;
    gan_entry *all = NULL;
    const char *const prefixes[4] = {"generator.", "discriminator.", "optimizer_g.", "optimizer_d."};
    for (int k = 0; k < 4; k++) {
        const bool model = k < 2;
        const void *owner = k == 0 ? (const void *)gan_trainer_generator(t) : k == 1 ? (const void *)gan_trainer_discriminator(t)
                                                                                : (const void *)gan_trainer_optimizer(t, k == 2);
        const size_t count = model ? gan_model_entry_count(owner) : gan_optimizer_entry_count(owner);
        all = realloc(all, (n + count) * sizeof *all);
        for (size_t i = 0; i < count; i++, n++) {
            gan_entry e;
            REQUIRE_OK(ctx, model ? gan_model_entry(owner, i, &e) : gan_optimizer_entry(owner, i, &e));
            all[n] = e;
            snprintf(all[n].name, sizeof all[n].name, "%s%s", prefixes[k], e.name);
        }
    }
    REQUIRE_OK(ctx, gan_safetensors_save(ctx, path, all, n, meta, n_meta));
    free(all);
}

static void test_checkpoints(void)
{
    /* run A: 5 steps straight; run B: 2 steps, save, a new process's
     * worth of state (another context, other weights), restore, 3 steps */
    gan_context *ca = test_context(2, 77), *cb = test_context(1, 77), *cc = test_context(2, 1234);
    gan_trainer_params p = gan_trainer_default_params();
    p.lr_d = 1e-4f;
    p.real_label = 0.9f;
    p.mode_seeking = 0.5f;
    gan_trainer *ta, *tb, *tc;
    REQUIRE_OK(ca, gan_trainer_create_zoo(ca, "gan", NULL, &p, &ta));
    REQUIRE_OK(cb, gan_trainer_create_zoo(cb, "gan", NULL, &p, &tb));
    run_steps(ca, ta, 5);
    run_steps(cb, tb, 2);
    const char *meta[][2] = {{"dataset", "test"}, {"note", "a \"quoted\" value"}};
    const char *path = test_path("run.safetensors");
    REQUIRE_OK(cb, gan_checkpoint_save(tb, path, &(gan_checkpoint_position){1, 0}, meta, 2));
    gan_checkpoint *c;
    REQUIRE_OK(cc, gan_checkpoint_open(cc, path, &c));
    gan_checkpoint_info info;
    REQUIRE_OK(cc, gan_checkpoint_get_info(c, &info));
    CHECK(info.has_model && strcmp(info.model.name, "gan") == 0 && info.model.z_dim == 64);
    CHECK(info.steps == 2 && info.position.epoch == 1 && info.position.step_in_epoch == 0);
    CHECK(info.params.lr_d == 1e-4f && info.params.lr_g == 2e-4f && info.params.real_label == 0.9f);
    CHECK(info.params.mode_seeking == 0.5f);
    CHECK(strcmp(gan_checkpoint_meta(c, "note"), "a \"quoted\" value") == 0);
    REQUIRE_OK(cc, gan_trainer_create_zoo(cc, "gan", &info.model_params, &info.params, &tc));
    REQUIRE_OK(cc, gan_checkpoint_restore(c, tc));
    gan_checkpoint_close(c);
    CHECK(gan_trainer_steps(tc) == 2);
    run_steps(cc, tc, 3);
    CHECK(same_models(ca, gan_trainer_generator(ta), cc, gan_trainer_generator(tc)));
    CHECK(same_models(ca, gan_trainer_discriminator(ta), cc, gan_trainer_discriminator(tc)));
    REQUIRE_OK(ca, gan_checkpoint_save(ta, test_path("a.safetensors"), &(gan_checkpoint_position){2, 1}, meta, 2));
    REQUIRE_OK(cc, gan_checkpoint_save(tc, test_path("c.safetensors"), &(gan_checkpoint_position){2, 1}, meta, 2));
    size_t na, nc;
    uint8_t *fa = test_read_file(test_path("a.safetensors"), &na), *fc = test_read_file(test_path("c.safetensors"), &nc);
    CHECK(na == nc && memcmp(fa, fc, na) == 0); /* the resumed run's checkpoint, byte for byte */
    free(fc);

    /* the generator alone loads into a bare model */
    gan_model *g, *d;
    REQUIRE_OK(cb, gan_models_create(cb, "gan", NULL, &g, &d));
    REQUIRE_OK(cb, gan_checkpoint_open(cb, test_path("a.safetensors"), &c));
    REQUIRE_OK(cb, gan_checkpoint_load_generator(c, g));
    CHECK(same_models(ca, gan_trainer_generator(ta), cb, g));
    gan_checkpoint_close(c);
    gan_model_free(g), gan_model_free(d);

    /* one bit changed anywhere, metadata included, is refused: a bit of
     * every byte of the metadata, of every 13th byte of the rest of the header, and some
     * of the data, in the checkpoint of a small zoo model */
    gan_trainer *tiny;
    REQUIRE_OK(cb, gan_trainer_create_zoo(cb, "gan", &(gan_models_params){1, 2, 1}, NULL, &tiny));
    run_small_steps(cb, tiny);
    REQUIRE_OK(cb, gan_checkpoint_save(tiny, test_path("tiny.safetensors"), &(gan_checkpoint_position){0, 1}, meta, 2));
    size_t nt;
    uint8_t *ft = test_read_file(test_path("tiny.safetensors"), &nt), *bad = malloc(nt);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)ft[i] << (8 * i);
    const char *md = strstr((const char *)ft + 8, "\"__metadata__\":{");
    const size_t md_begin = md ? (size_t)(md - (const char *)ft) : 0;
    const size_t md_end = md ? (size_t)(strchr(md, '}') - (const char *)ft) + 1 : 0;
    CHECK(md != NULL && md_end < 8 + header_len);
    int refused = 0, tried = 0;
    for (size_t i = 0; i < nt; i++) {
        const bool in_md = i >= md_begin && i < md_end;
        if (!in_md && i % (i < 8 + header_len ? 13 : 4099) != 0)
            continue;
        memcpy(bad, ft, nt);
        bad[i] ^= (uint8_t)(1u << (i % 8));
        test_write_file(test_path("bit.safetensors"), bad, nt);
        refused += gan_checkpoint_open(cb, test_path("bit.safetensors"), &c) == GAN_ERR_FORMAT;
        CHECK(c == NULL);
        tried++;
    }
    printf("checkpoint: %d of %d one-bit changes refused (each of the metadata's %zu bytes)\n", refused, tried,
           md_end - md_begin);
    CHECK(refused == tried);
    free(ft), free(bad);
    gan_trainer_free(tiny);
    /* "batch":"32" to "22" in a caller's value, as the example */
    const char *b32[][2] = {{"batch", "32"}};
    REQUIRE_OK(ca, gan_checkpoint_save(ta, test_path("b.safetensors"), &(gan_checkpoint_position){0, 0}, b32, 1));
    size_t nb;
    uint8_t *fb = test_read_file(test_path("b.safetensors"), &nb);
    char *at = NULL;
    for (size_t i = 0; i + 12 <= nb && !at; i++)
        if (memcmp(fb + i, "\"batch\":\"32\"", 12) == 0)
            at = (char *)fb + i;
    CHECK(at != NULL);
    if (at)
        at[9] = '2';
    test_write_file(test_path("b.safetensors"), fb, nb);
    EXPECT_ERR(cb, gan_checkpoint_open(cb, test_path("b.safetensors"), &c), GAN_ERR_FORMAT, "the file is damaged");
    free(fb), free(fa);

    /* well-formed files whose values are out of range or missing */
    const char *fmt[2] = {"format", "libgan-training-checkpoint-2"};
    struct { const char *key, *value, *message; } cases[] = {
        {"lr_g", "0", "learning rates must be in (0, 1]"},
        {"lr_d", "nan", "learning rates must be in (0, 1]"},
        {"beta1", "1", "betas must be in [0, 1)"},
        {"global_step", "-3", "'global_step' is '-3', not a count"},
        {"epoch", "1e3", "'epoch' is '1e3', not a count"},
        {"rng_state", "0000000000000000:0000000000000000:0000000000000000:0000000000000000", "not a valid generator state"},
        {"rng_state", "12", "not a valid generator state"},
        {"model", "huge", "is not one of the zoo's"},
        {"z_dim", "0", "is not one of the zoo's"},
        {"eps", NULL, "lacks 'eps'"},
    };
    const char *good[][2] = {
        {"lr_g", "0.0002"}, {"lr_d", "0.0002"}, {"beta1", "0.5"}, {"beta2", "0.999"}, {"eps", "1e-08"},
        {"real_label", "1"}, {"fake_label", "0"}, {"generator_label", "1"}, {"epoch", "0"}, {"step_in_epoch", "0"},
        {"global_step", "5"}, {"rng_state", "0000000000000001:0000000000000002:0000000000000003:0000000000000004"},
        {"model", "gan"}, {"z_dim", "64"}, {"image_size", "28"}, {"channels", "1"},
    };
    enum { N_GOOD = sizeof good / sizeof good[0] };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *m[N_GOOD + 1][2];
        size_t n = 0;
        m[n][0] = fmt[0], m[n][1] = fmt[1], n++;
        for (size_t i = 0; i < N_GOOD; i++) {
            if (strcmp(good[i][0], cases[k].key) == 0 && !cases[k].value)
                continue;
            m[n][0] = good[i][0];
            m[n][1] = strcmp(good[i][0], cases[k].key) == 0 ? cases[k].value : good[i][1];
            n++;
        }
        forge(ca, ta, test_path("forged.safetensors"), (const char *const(*)[2])m, n);
        EXPECT_ERR(ca, gan_checkpoint_open(ca, test_path("forged.safetensors"), &c), GAN_ERR_FORMAT, cases[k].message);
    }
    /* the optimizers' step counters must agree with the checkpoint's step */
    const char *m[N_GOOD + 1][2];
    m[0][0] = fmt[0], m[0][1] = fmt[1];
    memcpy(m + 1, good, sizeof good);
    m[11][1] = "4";
    forge(ca, ta, test_path("forged.safetensors"), (const char *const(*)[2])m, N_GOOD + 1);
    REQUIRE_OK(ca, gan_checkpoint_open(ca, test_path("forged.safetensors"), &c));
    EXPECT_ERR(ca, gan_checkpoint_restore(c, ta), GAN_ERR_FORMAT, "'optimizer_g.step' is 5, but its step is 4");
    CHECK(gan_trainer_steps(ta) == 5);
    gan_checkpoint_close(c);
    /* a checkpoint of libgan 0.1 and a file with no whole-file checksum */
    m[0][1] = "libgan-training-checkpoint-1";
    forge(ca, ta, test_path("old.safetensors"), (const char *const(*)[2])m, N_GOOD + 1);
    EXPECT_ERR(ca, gan_checkpoint_open(ca, test_path("old.safetensors"), &c), GAN_ERR_FORMAT, "written by libgan 0.1");
    const char plain[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t other[8 + sizeof plain + 4] = {sizeof plain - 1};
    memcpy(other + 8, plain, sizeof plain - 1);
    test_write_file(test_path("other.safetensors"), other, 8 + sizeof plain - 1 + 4);
    EXPECT_ERR(ca, gan_checkpoint_open(ca, test_path("other.safetensors"), &c), GAN_ERR_FORMAT, "no whole-file checksum");
    EXPECT_ERR(ca, gan_checkpoint_open(ca, test_path("missing.safetensors"), &c), GAN_ERR_IO, "cannot open");
    /* a checkpoint of another model is refused before anything changes */
    gan_trainer *other_model;
    REQUIRE_OK(ca, gan_trainer_create_zoo(ca, "gan", &(gan_models_params){32, 0, 0}, NULL, &other_model));
    REQUIRE_OK(ca, gan_checkpoint_open(ca, test_path("a.safetensors"), &c));
    size_t n_before;
    float *before = model_values(ca, gan_trainer_generator(other_model), &n_before);
    EXPECT_ERR(ca, gan_checkpoint_restore(c, other_model), GAN_ERR_FORMAT, "'generator.0.weight' is stored as F32");
    float *after = model_values(ca, gan_trainer_generator(other_model), &n_before);
    CHECK(memcmp(before, after, n_before * sizeof(float)) == 0);
    free(before), free(after);
    gan_checkpoint_close(c);
    gan_trainer_free(other_model);
    /* the caller may not overwrite the library's keys */
    const char *clash[][2] = {{"global_step", "9"}};
    EXPECT_ERR(ca, gan_checkpoint_save(ta, path, &(gan_checkpoint_position){0, 0}, clash, 1), GAN_ERR_INVALID_ARGUMENT,
               "the key 'global_step' is the library's own");

    gan_trainer_free(ta), gan_trainer_free(tb), gan_trainer_free(tc);
    gan_context_free(ca), gan_context_free(cb), gan_context_free(cc);
}

/* -------------------------------------------------------------- sampler */

/* The sampler's transform in double precision, written from its contract:
 * output pixel centres rotated back by the angle about the centre, scaled
 * to the source grid, bilinear with zero outside. */
static double reference_pixel(const uint8_t *img, int h, int w, int ch, int c, int size, double angle, int oy, int ox)
{
    const double a = angle * 3.14159265358979 / 180.0, centre = 0.5 * size;
    const double dx = ox + 0.5 - centre, dy = oy + 0.5 - centre;
    const double rx = cos(a) * dx + sin(a) * dy + centre, ry = -sin(a) * dx + cos(a) * dy + centre;
    const double y = ry * h / size - 0.5, x = rx * w / size - 0.5;
    const int y0 = (int)floor(y), x0 = (int)floor(x);
    double v = 0;
    for (int yy = y0; yy <= y0 + 1; yy++)
        for (int xx = x0; xx <= x0 + 1; xx++)
            if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                v += (1 - fabs(y - yy)) * (1 - fabs(x - xx)) * img[((size_t)yy * w + xx) * ch + c];
    return v / 127.5 - 1.0;
}

/* The largest difference between one image of a batch (ch x size x size)
 * and the reference's for img rotated by angle */
static double reference_error(const float *got, const uint8_t *img, int h, int w, int ch, int size, double angle)
{
    double err = 0;
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                err = fmax(err, fabs(got[(c * size + y) * size + x] - reference_pixel(img, h, w, ch, c, size, angle, y, x)));
    return err;
}

static void test_sampler(void)
{
    enum { N = 10, H = 6, W = 6, C = 3, B = 4, S = 9 };
    uint8_t images[N * H * W * C];
    for (int i = 0; i < N * H * W * C; i++)
        images[i] = (uint8_t)(i * 37 + i / 7);
    gan_context *ctx = test_context(1, 3), *twin = test_context(1, 3);
    gan_sampler *s;
    gan_sampler_params p = {.batch = B, .image_size = S, .max_rotation = 30.0f, .seed = 11};
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, H, W, C, &p, &s));
    CHECK(gan_sampler_batches_per_epoch(s) == 2); /* the last partial batch is dropped */
    gan_tensor *out = test_tensor(ctx, 4, (int[]){B, C, S, S}, NULL);
    /* the order of an epoch is a permutation, the same on every call */
    int seen[N] = {0}, first_epoch[2 * B];
    double worst = 0;
    for (int epoch = 0; epoch < 2; epoch++)
        for (int batch = 0; batch < 2; batch++) {
            REQUIRE_OK(ctx, gan_sampler_batch(s, epoch, batch, out));
            float *got = test_read(out);
            for (int b = 0; b < B; b++) {
                float angle;
                REQUIRE_OK(twin, gan_random_uniform(twin, &angle, 1, -30.0f, 30.0f));
                /* which image: the one whose reference matches */
                int match = -1;
                for (int i = 0; i < N && match < 0; i++) {
                    const double err = reference_error(got + (size_t)b * C * S * S, images + (size_t)i * H * W * C, H,
                                                       W, C, S, angle);
                    if (err < 1e-3) {
                        match = i;
                        worst = fmax(worst, err);
                    }
                }
                CHECK(match >= 0);
                if (match >= 0 && epoch == 0) {
                    seen[match]++;
                    first_epoch[batch * B + b] = match;
                }
            }
            free(got);
        }
    printf("sampler: rotated and resized batches within %.2g of the double-precision reference\n", worst);
    for (int i = 0; i < N; i++)
        CHECK(seen[i] <= 1);
    /* going back to epoch 0 gives its order again */
    REQUIRE_OK(ctx, gan_sampler_batch(s, 0, 1, out));
    gan_sampler_free(s);

    /* no rotation, own size: the bytes scaled exactly */
    p = (gan_sampler_params){.batch = B, .seed = 11};
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, H, W, C, &p, &s));
    gan_tensor *plain = test_tensor(ctx, 4, (int[]){B, C, H, W}, NULL);
    REQUIRE_OK(ctx, gan_sampler_batch(s, 0, 1, plain));
    float *got = test_read(plain);
    bool exact = true;
    for (int b = 0; b < B; b++) {
        const uint8_t *img = images + (size_t)first_epoch[B + b] * H * W * C;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++)
                exact = exact && got[(b * C + c) * H * W + i] == (float)img[i * C + c] / 127.5f - 1.0f;
    }
    CHECK(exact);
    free(got);
    /* one channel (rows read as they lie) as exactly: the same bytes as N * C gray images */
    gan_sampler *gray;
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N * C, H, W, 1, &p, &gray));
    gan_tensor *gray_batch = test_tensor(ctx, 4, (int[]){B, 1, H, W}, NULL);
    int gray_images[B];
    REQUIRE_OK(ctx, gan_sampler_batch(gray, 0, 1, gray_batch));
    REQUIRE_OK(ctx, gan_sampler_batch_indices(gray, 0, 1, gray_images));
    got = test_read(gray_batch);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H * W; i++)
            exact = exact && got[b * H * W + i] == (float)images[(size_t)gray_images[b] * H * W + i] / 127.5f - 1.0f;
    CHECK(exact);
    free(got);
    gan_tensor_free(gray_batch);
    gan_sampler_free(gray);
    /* and mirrored where the drawn coin says so, as exactly */
    gan_sampler *mirroring;
    const gan_sampler_params flip = {.batch = B, .seed = 11, .flip = 1};
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, H, W, C, &flip, &mirroring));
    int coins[2] = {0, 0};
    for (int batch = 0; batch < 2; batch++) {
        uint64_t state[4];
        gan_random_get_state(ctx, state);
        REQUIRE_OK(twin, gan_random_set_state(twin, state));
        REQUIRE_OK(ctx, gan_sampler_batch(mirroring, 0, batch, plain));
        got = test_read(plain);
        for (int b = 0; b < B; b++) {
            const int coin = (int)gan_random_below(twin, 2);
            const uint8_t *img = images + (size_t)first_epoch[batch * B + b] * H * W * C;
            coins[coin]++;
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++)
                        exact = exact && got[((b * C + c) * H + y) * W + x] ==
                                             (float)img[(y * W + (coin ? W - 1 - x : x)) * C + c] / 127.5f - 1.0f;
        }
        free(got);
    }
    CHECK(exact && coins[0] > 0 && coins[1] > 0);
    gan_sampler_free(mirroring);
    EXPECT_ERR(ctx, gan_sampler_batch(s, 0, 2, plain), GAN_ERR_INVALID_ARGUMENT, "an epoch has 2");
    EXPECT_ERR(ctx, gan_sampler_batch(s, 0, 0, out), GAN_ERR_SHAPE, "expected [4, 3, 6, 6]");
    gan_sampler_free(s);
    p.batch = 11;
    EXPECT_ERR(ctx, gan_sampler_create(ctx, images, N, H, W, C, &p, &s), GAN_ERR_INVALID_ARGUMENT, "10 images make no batch of 11");
    p = (gan_sampler_params){.batch = B};
    EXPECT_ERR(ctx, gan_sampler_create(ctx, images, N, H, W - 1, C, &p, &s), GAN_ERR_INVALID_ARGUMENT, "not square");
    gan_tensor_free(out), gan_tensor_free(plain);
    gan_context_free(ctx), gan_context_free(twin);
}

/* Images of side h to batches of side size, c channels, rotated up to 40
 * degrees and mirrored where the drawn coin says so, against the
 * double-precision reference: 20x20 to 6x6 (read byte by byte, not as
 * floats: too large for the output), 40x40 to 70x70 (rows made in chunks
 * of 64 pixels) */
static void test_sampler_geometry(int h, int size, int c)
{
    enum { N = 3, B = 3 };
    const size_t image_bytes = (size_t)h * h * c, image_floats = (size_t)c * size * size;
    uint8_t *images = malloc(N * image_bytes);
    for (size_t i = 0; i < N * image_bytes; i++)
        images[i] = (uint8_t)(i * 41 + i / 3);
    gan_context *ctx = test_context(1, 8), *twin = test_context(1, 8);
    gan_sampler *s;
    const gan_sampler_params p = {.batch = B, .image_size = size, .max_rotation = 40.0f, .seed = 2, .flip = 1};
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, h, h, c, &p, &s));
    gan_tensor *out = test_tensor(ctx, 4, (int[]){B, c, size, size}, NULL);
    int which[B];
    REQUIRE_OK(ctx, gan_sampler_batch(s, 0, 0, out));
    REQUIRE_OK(ctx, gan_sampler_batch_indices(s, 0, 0, which));
    float *got = test_read(out), *unmirrored = malloc(sizeof(float) * image_floats);
    double worst = 0;
    int coins[2] = {0, 0};
    for (int b = 0; b < B; b++) {
        float angle;
        REQUIRE_OK(twin, gan_random_uniform(twin, &angle, 1, -40.0f, 40.0f));
        const int coin = (int)gan_random_below(twin, 2);
        coins[coin]++;
        for (size_t row = 0; row < (size_t)c * size; row++)
            for (int x = 0; x < size; x++)
                unmirrored[row * size + x] = got[b * image_floats + row * size + (coin ? size - 1 - x : x)];
        worst = fmax(worst, reference_error(unmirrored, images + (size_t)which[b] * image_bytes, h, h, c, size, angle));
    }
    printf("sampler: %dx%d images to %dx%d in %d channel(s), rotated (%d mirrored), within %.2g of the "
           "double-precision reference\n", h, h, size, size, c, coins[1], worst);
    /* float coordinates up to the larger side carry a few roundings of
     * 2^-24 relative, and a value moves by up to 2 (255 / 127.5) a pixel */
    CHECK(worst < 2e-7 * (h > size ? h : size) + 1e-6);
    free(got), free(unmirrored), free(images);
    gan_tensor_free(out);
    gan_sampler_free(s);
    gan_context_free(ctx), gan_context_free(twin);
}

/* A batch large enough to be made on several threads (64 images of 28x28,
 * rotated and mirrored) is the same on 1, 2 and 3 threads, to the bit */
static void test_sampler_threads(void)
{
    enum { N = 70, H = 28, W = 28, B = 64 };
    uint8_t *images = malloc((size_t)N * H * W);
    for (int i = 0; i < N * H * W; i++)
        images[i] = (uint8_t)(i * 29 + i / 11);
    const gan_sampler_params p = {.batch = B, .max_rotation = 15.0f, .seed = 6, .flip = 1};
    float *batches[3];
    for (int threads = 1; threads <= 3; threads++) {
        gan_context *ctx = test_context(threads, 5);
        gan_sampler *s;
        REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, H, W, 1, &p, &s));
        gan_tensor *batch = test_tensor(ctx, 4, (int[]){B, 1, H, W}, NULL);
        REQUIRE_OK(ctx, gan_sampler_batch(s, 1, 0, batch));
        batches[threads - 1] = test_read(batch);
        gan_tensor_free(batch);
        gan_sampler_free(s);
        gan_context_free(ctx);
    }
    CHECK(memcmp(batches[0], batches[1], sizeof(float) * B * H * W) == 0);
    CHECK(memcmp(batches[0], batches[2], sizeof(float) * B * H * W) == 0);
    for (int i = 0; i < 3; i++)
        free(batches[i]);
    free(images);
}

/* Flips, the shares of data-parallel processes, and batches given by the
 * caller, each against a reference or the batches of one process. */
static void test_sampler_shares(void)
{
    enum { N = 13, H = 5, W = 5, C = 2, B = 5, S = 7, RANKS = 3 };
    uint8_t images[N * H * W * C];
    for (int i = 0; i < N * H * W * C; i++)
        images[i] = (uint8_t)(i * 53 + i / 5);
    const size_t image_floats = (size_t)C * S * S;
    gan_context *ctx = test_context(1, 9), *twin = test_context(1, 9);
    gan_sampler *whole;
    const gan_sampler_params p = {.batch = B, .image_size = S, .max_rotation = 20.0f, .seed = 4, .flip = 1};
    REQUIRE_OK(ctx, gan_sampler_create(ctx, images, N, H, W, C, &p, &whole));
    CHECK(gan_sampler_share(whole) == B);
    gan_tensor *batch = test_tensor(ctx, 4, (int[]){B, C, S, S}, NULL);
    float *expected[2][2];
    int coins[2] = {0, 0};
    bool all_match = true;
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < 2; i++) {
            REQUIRE_OK(ctx, gan_sampler_batch(whole, e, i, batch));
            float *got = expected[e][i] = test_read(batch);
            /* each image is one of the images, rotated by the drawn angle
             * and mirrored when the drawn coin says so */
            for (int b = 0; b < B; b++) {
                float angle;
                REQUIRE_OK(twin, gan_random_uniform(twin, &angle, 1, -20.0f, 20.0f));
                const int coin = (int)gan_random_below(twin, 2);
                coins[coin]++;
                bool match = false;
                for (int k = 0; k < N && !match; k++) {
                    double err = 0;
                    for (int c = 0; c < C; c++)
                        for (int y = 0; y < S; y++)
                            for (int x = 0; x < S; x++)
                                err = fmax(err, fabs(got[((b * C + c) * S + y) * S + x] -
                                                     reference_pixel(images + (size_t)k * H * W * C, H, W, C, c, S,
                                                                     angle, y, coin ? S - 1 - x : x)));
                    match = err < 1e-3;
                }
                all_match = all_match && match;
            }
        }
    CHECK(all_match);
    CHECK(coins[0] > 0 && coins[1] > 0);
    printf("sampler: %d flipped and %d unflipped images match the reference\n", coins[1], coins[0]);
    uint64_t whole_state[4];
    gan_random_get_state(ctx, whole_state);

    /* three processes' shares (2, 2 and 1 images) put together are the
     * batches of one, and their generators end where its does */
    int first = 0;
    bool shares_match = true, in_step = true, indices_match = true;
    for (int rank = 0; rank < RANKS; rank++) {
        gan_context *rc = test_context(1, 9);
        gan_sampler *part, *streamed;
        gan_sampler_params q = p;
        q.rank = rank, q.ranks = RANKS;
        REQUIRE_OK(rc, gan_sampler_create(rc, images, N, H, W, C, &q, &part));
        REQUIRE_OK(rc, gan_sampler_create(rc, NULL, N, H, W, C, &q, &streamed));
        const int share = gan_sampler_share(part);
        CHECK(share == (rank < 2 ? 2 : 1) && gan_sampler_share_start(part) == first);
        gan_tensor *out = test_tensor(rc, 4, (int[]){share, C, S, S}, NULL);
        for (int e = 0; e < 2; e++)
            for (int i = 0; i < 2; i++) {
                REQUIRE_OK(rc, gan_sampler_batch(part, e, i, out));
                float *got = test_read(out);
                shares_match = shares_match && memcmp(got, expected[e][i] + (size_t)first * image_floats,
                                                      sizeof(float) * share * image_floats) == 0;
                free(got);
            }
        uint64_t state[4];
        gan_random_get_state(rc, state);
        in_step = in_step && memcmp(state, whole_state, sizeof state) == 0;

        /* the same share from images the caller gathers by index */
        REQUIRE_OK(rc, gan_random_set_state(rc, (const uint64_t[4]){1, 2, 3, 4}));
        REQUIRE_OK(rc, gan_sampler_batch(part, 1, 1, out));
        float *from_array = test_read(out);
        int indices[2];
        uint8_t gathered[2 * H * W * C];
        REQUIRE_OK(rc, gan_sampler_batch_indices(streamed, 1, 1, indices));
        for (int b = 0; b < share; b++)
            memcpy(gathered + (size_t)b * H * W * C, images + (size_t)indices[b] * H * W * C, (size_t)H * W * C);
        REQUIRE_OK(rc, gan_random_set_state(rc, (const uint64_t[4]){1, 2, 3, 4}));
        REQUIRE_OK(rc, gan_sampler_batch_from(streamed, 1, 1, gathered, out));
        float *from_caller = test_read(out);
        indices_match = indices_match && memcmp(from_array, from_caller, sizeof(float) * share * image_floats) == 0;
        free(from_array), free(from_caller);
        EXPECT_ERR(rc, gan_sampler_batch(streamed, 0, 0, out), GAN_ERR_STATE, "gan_sampler_batch_from");
        EXPECT_ERR(rc, gan_sampler_batch_indices(streamed, 0, 2, indices), GAN_ERR_INVALID_ARGUMENT, "an epoch has 2");
        first += share;
        gan_tensor_free(out);
        gan_sampler_free(part), gan_sampler_free(streamed);
        gan_context_free(rc);
    }
    CHECK(shares_match && in_step && indices_match);
    printf("sampler: the shares of %d processes make the batches of one; generators in step; caller's images alike\n",
           RANKS);
    gan_sampler_free(whole);
    gan_sampler_params q = p;
    q.rank = 3, q.ranks = 3;
    EXPECT_ERR(ctx, gan_sampler_create(ctx, images, N, H, W, C, &q, &whole), GAN_ERR_INVALID_ARGUMENT, "process 3 of 3");
    q.rank = 0, q.ranks = B + 1;
    EXPECT_ERR(ctx, gan_sampler_create(ctx, images, N, H, W, C, &q, &whole), GAN_ERR_INVALID_ARGUMENT, "ranks <= batch");
    for (int e = 0; e < 2; e++)
        free(expected[e][0]), free(expected[e][1]);
    gan_tensor_free(batch);
    gan_context_free(ctx), gan_context_free(twin);
}

/* -------------------------------------------------------------- sampling */

static void test_generate(void)
{
    gan_context *ctx = test_context(2, 8), *twin = test_context(2, 8);
    gan_model *g, *d;
    REQUIRE_OK(ctx, gan_models_create(ctx, "dcgan", NULL, &g, &d));
    /* a batch of training first, so eval mode (running statistics) differs */
    gan_tensor *z = test_tensor(ctx, 4, (int[]){130, 64, 1, 1}, NULL);
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
    REQUIRE_OK(ctx, gan_model_forward(g, z, &y));
    float *train_mode = test_read(y);
    REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
    REQUIRE_OK(ctx, gan_model_forward(g, z, &y));
    free(test_read(y)); /* a second batch of running statistics */

    /* 130 images come in batches of 128 and 2, from noise in that order */
    uint64_t state[4];
    gan_random_get_state(ctx, state);
    REQUIRE_OK(twin, gan_random_set_state(twin, state));
    float *images = malloc(sizeof(float) * 130 * 784), *noise = malloc(sizeof(float) * 130 * 64);
    REQUIRE_OK(ctx, gan_generate(g, 4, 64, 130, images));
    CHECK(gan_model_is_training(g));
    REQUIRE_OK(twin, gan_random_normal(twin, noise, 128 * 64, 0.0f, 1.0f));
    REQUIRE_OK(twin, gan_random_normal(twin, noise + 128 * 64, 2 * 64, 0.0f, 1.0f));
    REQUIRE_OK(ctx, gan_tensor_write(z, noise, 130 * 64));
    gan_model_set_training(g, 0);
    REQUIRE_OK(ctx, gan_model_forward(g, z, &y));
    float *eval = test_read(y);
    gan_model_set_training(g, 1);
    double worst = 0, from_train = 0;
    for (int i = 0; i < 130 * 784; i++) {
        worst = fmax(worst, fabs(images[i] - eval[i]));
        from_train = fmax(from_train, fabs(images[i] - train_mode[i]));
    }
    printf("generate: within %.2g of an eval-mode forward of the same noise (%.2g from train mode)\n", worst, from_train);
    CHECK(worst < 1e-5 && from_train > 1e-3);
    float one[784];
    EXPECT_ERR(ctx, gan_model_sample(g, z, one, 784), GAN_ERR_SHAPE, "the images are 101920 floats, dst holds 784");
    CHECK(gan_model_is_training(g));
    free(train_mode), free(images), free(noise), free(eval);
    gan_tensor_free(z);
    gan_model_free(g), gan_model_free(d);
    gan_context_free(ctx), gan_context_free(twin);
}

/* ------------------------------------------------- profiling and memory */

static const gan_op_profile *find_op(const gan_op_profile *ops, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ops[i].op, name) == 0)
            return &ops[i];
    return NULL;
}

/* The profile counts the ops a step runs, and the memory accounting the
 * tensors that exist, and gives them back when they are freed. */
static void test_accounting(void)
{
    gan_context *ctx = test_context(1, 4);
    size_t base, peak;
    gan_context_memory(ctx, &base, &peak);
    gan_trainer *t;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", NULL, NULL, &t));
    gan_tensor *real = test_tensor(ctx, 4, (int[]){8, 1, 28, 28}, NULL), *z = test_tensor(ctx, 2, (int[]){8, 64}, NULL);
    REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
    gan_context_set_profiling(ctx, 1);
    REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
    gan_op_profile ops[GAN_OP_COUNT];
    const int n = gan_context_profile(ctx, ops, GAN_OP_COUNT);
    const gan_op_profile *adam = find_op(ops, n, "adam_step"), *bce = find_op(ops, n, "bce_logits"),
                         *gemm = find_op(ops, n, "gemm"), *conv = find_op(ops, n, "conv2d_backward");
    /* gan: 3 Linear layers in each network, a weight and a bias each; 3 losses; no convolution */
    CHECK(adam && adam->calls == 12 && bce && bce->calls == 3 && gemm && gemm->calls > 0 && !conv);
    for (int i = 0; i < n; i++)
        CHECK(ops[i].calls > 0 && ops[i].seconds >= 0 && (i == 0 || ops[i].seconds <= ops[i - 1].seconds));
    gan_context_reset_profile(ctx);
    CHECK(gan_context_profile(ctx, ops, GAN_OP_COUNT) == 0);
    gan_context_set_profiling(ctx, 0);

    size_t in_use;
    gan_context_memory(ctx, &in_use, &peak);
    const size_t params = gan_model_parameter_count(gan_trainer_generator(t)) +
                          gan_model_parameter_count(gan_trainer_discriminator(t));
    printf("memory: %zu bytes in use for %zu parameters, peak %zu\n", in_use - base, params, peak);
    CHECK(in_use - base >= 4 * sizeof(float) * params && peak >= in_use); /* value, grad, two Adam moments */
    gan_tensor_free(real), gan_tensor_free(z);
    gan_trainer_free(t);
    size_t after;
    gan_context_memory(ctx, &after, &peak);
    printf("memory: %zu bytes in use after freeing them (the backend's workspaces)\n", after - base);
    CHECK(after + 4 * sizeof(float) * params <= in_use); /* their tensors were given back */
    gan_context_free(ctx);
}

/* One named tensor entry of a model, read to the host (malloc'd). */
static float *entry_values(gan_context *ctx, const gan_model *m, const char *name, size_t *count)
{
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        if (strcmp(e.name, name) != 0 || !e.value)
            continue;
        *count = gan_tensor_numel(e.value);
        float *v = malloc(*count * sizeof *v);
        REQUIRE_OK(ctx, gan_tensor_read(e.value, v, *count));
        return v;
    }
    fprintf(stderr, "no entry %s\n", name);
    exit(1);
}

static int64_t counter_sum(gan_context *ctx, const gan_model *m)
{
    int64_t sum = 0;
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e));
        sum += e.counter ? *e.counter : 0;
    }
    return sum;
}

/* The average of a generator with batch norms samples with its own running
 * statistics. dcgan's first layer maps z ~ N(0, I) linearly to 3x3 maps,
 * so its batch norm's statistics have a closed form: channel c's mean is
 * the bias b[c], its variance the mean over the 9 positions of the sum over
 * inputs of W[k][c][i][j]^2. The estimate (2,048 noise vectors) must lie
 * within its sampling error of them, where G's own running statistics
 * (a few steps of momentum 0.1 from 0 and 1) lie far off. */
static void test_ema_statistics(void)
{
    gan_context *ctx = test_context(1, 22);
    gan_trainer_params p = gan_trainer_default_params();
    p.ema_decay = 0.9f;
    gan_trainer *t;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "dcgan", NULL, &p, &t));
    gan_model *g = gan_trainer_generator(t);
    gan_tensor *real = test_tensor(ctx, 4, (int[]){8, 1, 28, 28}, NULL), *z = test_tensor(ctx, 4, (int[]){8, 64, 1, 1}, NULL);
    for (int step = 0; step < 3; step++) {
        REQUIRE_OK(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
    }
    size_t n, channels;
    float *live = model_values(ctx, g, &n);
    const int64_t live_counters = counter_sum(ctx, g);
    uint64_t rng[4], after[4];
    gan_random_get_state(ctx, rng);
    REQUIRE_OK(ctx, gan_trainer_swap_ema(t));
    gan_random_get_state(ctx, after);
    CHECK(memcmp(rng, after, sizeof rng) == 0);
    size_t nw, nb;
    float *w = entry_values(ctx, g, "0.weight", &nw), *b = entry_values(ctx, g, "0.bias", &nb);
    float *mean = entry_values(ctx, g, "1.running_mean", &channels), *var = entry_values(ctx, g, "1.running_var", &channels);
    float *own_var = NULL;
    CHECK(channels == 256 && nb == 256 && nw == (size_t)64 * 256 * 9);
    int off = 0;
    double worst_mean = 0, worst_var = 0;
    for (size_t c = 0; c < channels; c++) {
        double expected = 0;
        for (int k = 0; k < 64; k++)
            for (int ij = 0; ij < 9; ij++)
                expected += (double)w[((size_t)k * 256 + c) * 9 + ij] * w[((size_t)k * 256 + c) * 9 + ij];
        expected /= 9.0;
        const double mean_err = fabs(mean[c] - b[c]) / sqrt(expected / 2048.0), var_err = fabs(var[c] / expected - 1.0);
        worst_mean = mean_err > worst_mean ? mean_err : worst_mean;
        worst_var = var_err > worst_var ? var_err : worst_var;
        off += mean_err > 6.0 || var_err > 0.2;
    }
    printf("ema statistics: the average's first batch norm within %.2f standard errors of its mean and %.1f%% of its "
           "variance (closed form)\n", worst_mean, 100.0 * worst_var);
    CHECK(off == 0);
    /* swapped back: G's own, to the bit; a checkpoint's generator gets the
     * average's, to the bit */
    const char *path = test_path("ema_statistics.safetensors");
    REQUIRE_OK(ctx, gan_trainer_swap_ema(t));
    float *back = model_values(ctx, g, &n);
    CHECK(memcmp(back, live, n * sizeof *live) == 0 && counter_sum(ctx, g) == live_counters);
    own_var = entry_values(ctx, g, "1.running_var", &channels);
    double far = 0;
    for (size_t c = 0; c < channels; c++)
        far = fmax(far, fabs(own_var[c] / var[c] - 1.0));
    CHECK(far > 1.0); /* G's own statistics are not the average's */
    REQUIRE_OK(ctx, gan_checkpoint_save(t, path, &(gan_checkpoint_position){0, 3}, NULL, 0));
    gan_checkpoint *ckpt;
    gan_model *loaded, *d;
    REQUIRE_OK(ctx, gan_checkpoint_open(ctx, path, &ckpt));
    REQUIRE_OK(ctx, gan_models_create(ctx, "dcgan", NULL, &loaded, &d));
    REQUIRE_OK(ctx, gan_checkpoint_load_generator(ckpt, loaded));
    size_t n_loaded;
    float *loaded_var = entry_values(ctx, loaded, "1.running_var", &n_loaded);
    CHECK(n_loaded == channels && memcmp(loaded_var, var, channels * sizeof *var) == 0);
    printf("ema statistics: G's own back to the bit after the swap; a checkpoint's generator gets the average's\n");
    gan_checkpoint_close(ckpt);
    gan_model_free(loaded), gan_model_free(d);
    free(live), free(back), free(w), free(b), free(mean), free(var), free(own_var), free(loaded_var);
    gan_tensor_free(real), gan_tensor_free(z);
    gan_trainer_free(t);
    gan_context_free(ctx);
}

/* A moving average of G: its values against one kept on the host, swapped
 * in and out, and carried by checkpoints into trainers and generators. */
static void test_ema(void)
{
    gan_context *ctx = test_context(1, 21);
    gan_trainer_params p = gan_trainer_default_params();
    p.ema_decay = 0.9f;
    const gan_models_params mp = {.image_size = 8};
    gan_trainer *t;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", &mp, &p, &t));
    size_t n;
    float *live = model_values(ctx, gan_trainer_generator(t), &n);
    double *average = malloc(sizeof *average * n);
    for (size_t i = 0; i < n; i++)
        average[i] = live[i];
    free(live);
    gan_tensor *real = test_tensor(ctx, 4, (int[]){4, 1, 8, 8}, NULL), *z = test_tensor(ctx, 2, (int[]){4, 64}, NULL);
    enum { STEPS = 90 }; /* the decay ramps up to its cap of 0.9 at step 80 */
    for (int step = 0; step < STEPS; step++) {
        REQUIRE_OK(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_fill_normal(z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_trainer_step(t, real, z, NULL));
        live = model_values(ctx, gan_trainer_generator(t), &n);
        const double decay = fmin(0.9, (1.0 + step) / (10.0 + step)); /* the warm-up: 0.1, 0.18, 0.25, ... */
        for (size_t i = 0; i < n; i++)
            average[i] = decay * average[i] + (1.0 - decay) * live[i];
        free(live);
    }
    live = model_values(ctx, gan_trainer_generator(t), &n);
    REQUIRE_OK(ctx, gan_trainer_swap_ema(t));
    float *swapped = model_values(ctx, gan_trainer_generator(t), &n);
    test_expect_close("ema after 90 steps", swapped, average, n, 1e-7, 1e-5);
    REQUIRE_OK(ctx, gan_trainer_swap_ema(t));
    float *back = model_values(ctx, gan_trainer_generator(t), &n);
    CHECK(memcmp(back, live, n * sizeof *live) == 0);
    printf("ema: G's average after 90 steps (decay ramped up to 0.9) as the host's; swapped in and back out to the bit\n");

    /* a checkpoint keeps it: a trainer restored from it, and a generator
     * loaded from it, sample with the same average */
    const char *path = test_path("ema.safetensors");
    REQUIRE_OK(ctx, gan_checkpoint_save(t, path, &(gan_checkpoint_position){0, STEPS}, NULL, 0));
    gan_trainer *again;
    gan_checkpoint *ckpt;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", &mp, &p, &again));
    REQUIRE_OK(ctx, gan_checkpoint_open(ctx, path, &ckpt));
    REQUIRE_OK(ctx, gan_checkpoint_restore(ckpt, again));
    REQUIRE_OK(ctx, gan_trainer_swap_ema(again));
    float *restored = model_values(ctx, gan_trainer_generator(again), &n);
    CHECK(memcmp(restored, swapped, n * sizeof *swapped) == 0);
    gan_model *g, *d;
    REQUIRE_OK(ctx, gan_models_create(ctx, "gan", &mp, &g, &d));
    REQUIRE_OK(ctx, gan_checkpoint_load_generator(ckpt, g));
    float *loaded = model_values(ctx, g, &n);
    CHECK(memcmp(loaded, swapped, n * sizeof *swapped) == 0);
    /* a trainer without an average takes no checkpoint with one */
    gan_trainer *plain;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", &mp, NULL, &plain));
    EXPECT_ERR(ctx, gan_checkpoint_restore(ckpt, plain), GAN_ERR_FORMAT, "keeps a moving average of G");
    EXPECT_ERR(ctx, gan_trainer_swap_ema(plain), GAN_ERR_STATE, "keeps no average");
    p.ema_decay = 1.0f;
    gan_trainer *bad;
    EXPECT_ERR(ctx, gan_trainer_create_zoo(ctx, "gan", &mp, &p, &bad), GAN_ERR_INVALID_ARGUMENT, "ema_decay");
    printf("ema: restored with the trainer and loaded into a generator from a checkpoint\n");
    gan_checkpoint_close(ckpt);
    gan_model_free(g), gan_model_free(d);
    gan_trainer_free(t), gan_trainer_free(again), gan_trainer_free(plain);
    gan_tensor_free(real), gan_tensor_free(z);
    free(average), free(live), free(swapped), free(back), free(restored), free(loaded);
    gan_context_free(ctx);
}

/* ------------------------------------------ data parallel, in threads */

enum { DP_RANKS = 2, DP_BATCH = 5, DP_IMAGES = 20, DP_SIDE = 8, DP_STEPS = 3, DP_Z = 64 };

/* A collective over threads: each operation meets at a barrier, and every
 * thread sums the slots in the same order, so all get the same bits. */
typedef struct thread_group {
    pthread_barrier_t barrier;
    float *slots[DP_RANKS];
    void *root;
    int calls;
} thread_group;

typedef struct member {
    thread_group *group;
    int rank;
    uint64_t seed;
    const uint8_t *images;
    float *g, *d; /* the weights after the steps */
    size_t g_count, d_count;
    gan_step_stats last;
} member;

static int group_allreduce(float *data, size_t count, void *user)
{
    member *m = user;
    thread_group *g = m->group;
    g->slots[m->rank] = data;
    pthread_barrier_wait(&g->barrier);
    float *sum = calloc(count, sizeof *sum);
    for (int r = 0; r < DP_RANKS; r++)
        for (size_t i = 0; i < count; i++)
            sum[i] += g->slots[r][i];
    pthread_barrier_wait(&g->barrier); /* everyone has read the slots */
    memcpy(data, sum, count * sizeof *sum);
    free(sum);
    if (m->rank == 0)
        g->calls++;
    return 0;
}

static int group_broadcast(void *data, size_t bytes, void *user)
{
    member *m = user;
    thread_group *g = m->group;
    if (m->rank == 0)
        g->root = data;
    pthread_barrier_wait(&g->barrier);
    if (m->rank != 0)
        memcpy(data, g->root, bytes);
    pthread_barrier_wait(&g->barrier); /* everyone has copied */
    return 0;
}

/* DP_STEPS steps of the fully connected model on DP_BATCH images, as
 * process m->rank of `ranks` (1: alone, without a collective). Every
 * process draws the whole batch's noise and takes its share of it. */
static void train_share(member *m, int ranks)
{
    gan_context *ctx = test_context(1, m->seed);
    const gan_models_params mp = {.image_size = DP_SIDE};
    gan_trainer *t;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", &mp, NULL, &t));
    if (ranks > 1) {
        const gan_collective c = {group_allreduce, group_broadcast, m, m->rank, ranks};
        REQUIRE_OK(ctx, gan_trainer_set_collective(t, &c));
        REQUIRE_OK(ctx, gan_trainer_broadcast(t)); /* rank 1's other seed gave other weights: now rank 0's */
    }
    const gan_sampler_params sp = {.batch = DP_BATCH, .max_rotation = 15.0f, .seed = 3, .flip = 1,
                                   .rank = ranks > 1 ? m->rank : 0, .ranks = ranks};
    gan_sampler *s;
    REQUIRE_OK(ctx, gan_sampler_create(ctx, m->images, DP_IMAGES, DP_SIDE, DP_SIDE, 1, &sp, &s));
    const int share = gan_sampler_share(s), first = m->rank * (DP_BATCH / ranks) + (m->rank < DP_BATCH % ranks ? m->rank : DP_BATCH % ranks);
    gan_tensor *real = test_tensor(ctx, 4, (int[]){share, 1, DP_SIDE, DP_SIDE}, NULL);
    gan_tensor *z = test_tensor(ctx, 2, (int[]){share, DP_Z}, NULL);
    float noise[DP_BATCH * DP_Z];
    for (int step = 0; step < DP_STEPS; step++) {
        REQUIRE_OK(ctx, gan_sampler_batch(s, 0, step, real));
        REQUIRE_OK(ctx, gan_random_normal(ctx, noise, DP_BATCH * DP_Z, 0.0f, 1.0f));
        REQUIRE_OK(ctx, gan_tensor_write(z, noise + (size_t)first * DP_Z, (size_t)share * DP_Z));
        REQUIRE_OK(ctx, gan_trainer_step(t, real, z, &m->last));
    }
    CHECK(gan_trainer_steps(t) == DP_STEPS);
    m->g = model_values(ctx, gan_trainer_generator(t), &m->g_count);
    m->d = model_values(ctx, gan_trainer_discriminator(t), &m->d_count);
    gan_tensor_free(real), gan_tensor_free(z);
    gan_sampler_free(s);
    gan_trainer_free(t);
    gan_context_free(ctx);
}

static void *run_member(void *arg)
{
    train_share(arg, DP_RANKS);
    return NULL;
}

/* Two processes (threads, one with another seed) on shares of 3 and 2
 * images take the steps one process takes on the whole batch. */
static void test_data_parallel(void)
{
    uint8_t images[DP_IMAGES * DP_SIDE * DP_SIDE];
    for (size_t i = 0; i < sizeof images; i++)
        images[i] = (uint8_t)(i * 29 + i / 3);
    member alone = {.rank = 0, .seed = 5, .images = images};
    train_share(&alone, 1);
    thread_group group = {.calls = 0};
    pthread_barrier_init(&group.barrier, NULL, DP_RANKS);
    member members[DP_RANKS];
    pthread_t threads[DP_RANKS];
    for (int r = 0; r < DP_RANKS; r++) {
        members[r] = (member){.group = &group, .rank = r, .seed = r ? 99 : 5, .images = images};
        pthread_create(&threads[r], NULL, run_member, &members[r]);
    }
    for (int r = 0; r < DP_RANKS; r++)
        pthread_join(threads[r], NULL);
    pthread_barrier_destroy(&group.barrier);
    const member *a = &members[0], *b = &members[1];
    CHECK(group.calls == 2 * DP_STEPS);
    CHECK(a->g_count == alone.g_count && a->d_count == alone.d_count);
    /* the processes agree to the bit, and with one process to rounding */
    CHECK(memcmp(a->g, b->g, a->g_count * sizeof(float)) == 0 && memcmp(a->d, b->d, a->d_count * sizeof(float)) == 0);
    CHECK(memcmp(&a->last, &b->last, sizeof a->last) == 0);
    const float dg = largest_difference(a->g, alone.g, a->g_count), dd = largest_difference(a->d, alone.d, a->d_count);
    const float dl = fmaxf(fabsf(a->last.loss_d - alone.last.loss_d), fabsf(a->last.loss_g - alone.last.loss_g));
    printf("data parallel: 2 processes (shares 3 and 2) after %d steps: weights within %.2g (G) and %.2g (D) of one "
           "process's, losses within %.2g\n", DP_STEPS, dg, dd, dl);
    CHECK(dg < 1e-5f && dd < 1e-5f && dl < 1e-5f);
    CHECK(fabsf(a->last.d_x - alone.last.d_x) < 1e-5f && fabsf(a->last.d_g_z2 - alone.last.d_g_z2) < 1e-5f);
    /* their weights moved: the comparison is of trained models */
    member untrained = {.rank = 0, .seed = 5, .images = images};
    gan_context *ctx = test_context(1, 5);
    gan_trainer *t;
    REQUIRE_OK(ctx, gan_trainer_create_zoo(ctx, "gan", &(gan_models_params){.image_size = DP_SIDE}, NULL, &t));
    untrained.g = model_values(ctx, gan_trainer_generator(t), &untrained.g_count);
    CHECK(largest_difference(untrained.g, alone.g, alone.g_count) > 1e-4f);
    EXPECT_ERR(ctx, gan_trainer_broadcast(t), GAN_ERR_STATE, "no collective");
    EXPECT_ERR(ctx, gan_trainer_set_collective(t, &(gan_collective){group_allreduce, group_broadcast, NULL, 2, 2}),
               GAN_ERR_INVALID_ARGUMENT, "rank (2) < size (2)");
    gan_trainer_free(t);
    gan_context_free(ctx);
    free(untrained.g);
    for (int r = 0; r < DP_RANKS; r++)
        free(members[r].g), free(members[r].d);
    free(alone.g), free(alone.d);
}

int main(void)
{
    test_temp_dir_create("gan_test_trainer");
    gan_context *ctx = test_context(2, 1);
    test_zoo(ctx);
    gan_context_free(ctx);
    test_trainer_step("dcgan", 0.0f);
    test_trainer_step("dcgan", 1.0f);
    test_trainer_step("gan", 0.0f);
    test_trainer_step("gan", 1.0f);
    test_trainer_refusals();
    test_backward_replacing("gan");
    test_backward_replacing("dcgan");
    test_backward_floor();
    test_checkpoints();
    test_sampler();
    test_sampler_threads();
    test_sampler_geometry(20, 6, 2);
    test_sampler_geometry(40, 70, 1);
    test_sampler_shares();
    test_data_parallel();
    test_ema();
    test_ema_statistics();
    test_generate();
    test_accounting();
    test_temp_dir_remove();
    return test_finish("test_trainer");
}
