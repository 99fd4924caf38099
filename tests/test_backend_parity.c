/* test_backend_parity.c - every op on the OpenCL backend against the CPU
 * backend, forward and backward, on odd shapes and on the models' shapes;
 * then one full training step of each model (gan, dcgan, dcgan64) on both
 * backends from the same weights and batch. Tolerance: |a - b| <=
 * 1e-4 + 1e-3 |b| for values, looser where stated. Exits 77 (skip) only
 * when no OpenCL device exists. Ops without a public call of their own
 * (the moving average's update) run through the dispatch (GAN_RUN). */
#include "gan_internal.h"
#include "test_util.h"

#include <string.h>

static gan_context *cpu, *ocl;
static unsigned seed = 4242;

static gan_context *make(gan_backend_kind kind)
{
    gan_context_params p = gan_context_default_params();
    p.backend = kind;
    p.seed = 99;
    p.num_threads = 2;
    gan_context *ctx = NULL;
    char err[4096];
    if (gan_context_create(&p, &ctx, err, sizeof err) != GAN_OK) {
        fprintf(stderr, "cannot create a context: %s\n", err);
        exit(1);
    }
    return ctx;
}

/* host copy of a tensor as doubles, the reference side of a comparison */
static double *as_double(const gan_tensor *t)
{
    float *f = test_read(t);
    size_t n = gan_tensor_numel(t);
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    free(f);
    return d;
}

static void compare(const char *what, const gan_tensor *on_ocl, const gan_tensor *on_cpu, double atol, double rtol)
{
    CHECK(gan_tensor_numel(on_ocl) == gan_tensor_numel(on_cpu));
    float *got = test_read(on_ocl);
    double *want = as_double(on_cpu);
    test_expect_close(what, got, want, gan_tensor_numel(on_cpu), atol, rtol);
    free(got), free(want);
}

static void copy_tensor(const gan_tensor *from, gan_tensor *to)
{
    float *v = test_read(from);
    REQUIRE_OK(ocl, gan_tensor_write(to, v, gan_tensor_numel(from)));
    free(v);
}

/* the OpenCL model gets the CPU model's parameters, buffers and counters */
static void copy_model(const gan_model *from, gan_model *to)
{
    CHECK(gan_model_entry_count(from) == gan_model_entry_count(to));
    for (size_t i = 0; i < gan_model_entry_count(from); i++) {
        gan_entry a, b;
        REQUIRE_OK(cpu, gan_model_entry(from, i, &a));
        REQUIRE_OK(ocl, gan_model_entry(to, i, &b));
        if (a.kind == GAN_ENTRY_COUNTER)
            *b.counter = *a.counter;
        else
            copy_tensor(a.value, b.value);
    }
}

/* Gradients and buffers element by element, or the gradients as a whole
 * (test_expect_norm_close) after a training step */
static void compare_grads(const char *what, const gan_model *on_ocl, const gan_model *on_cpu, double atol, double rtol,
                          bool normwise)
{
    for (size_t i = 0; i < gan_model_entry_count(on_cpu); i++) {
        gan_entry a, b;
        REQUIRE_OK(cpu, gan_model_entry(on_cpu, i, &a));
        REQUIRE_OK(ocl, gan_model_entry(on_ocl, i, &b));
        char name[160];
        if (a.kind == GAN_ENTRY_PARAMETER) {
            snprintf(name, sizeof name, "%s: grad of %s", what, a.name);
            if (normwise) {
                float *got = test_read(b.grad);
                double *want = as_double(a.grad);
                test_expect_norm_close(name, got, want, gan_tensor_numel(a.grad), atol, rtol);
                free(got), free(want);
            } else {
                compare(name, b.grad, a.grad, atol, rtol);
            }
        } else if (a.kind == GAN_ENTRY_BUFFER) {
            snprintf(name, sizeof name, "%s: %s", what, a.name);
            compare(name, b.value, a.value, atol, rtol);
        } else {
            CHECK(*a.counter == *b.counter);
        }
    }
}

static gan_tensor *random_pair(int ndim, const int *shape, gan_tensor **on_ocl, float lo, float hi)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    float *h = malloc(n * sizeof *h);
    test_fill(h, n, lo, hi, &seed);
    gan_tensor *c = test_tensor(cpu, ndim, shape, h);
    *on_ocl = test_tensor(ocl, ndim, shape, h);
    free(h);
    return c;
}

typedef gan_status (*layer_maker)(gan_context *ctx, const void *cfg, gan_layer **out);

/* Runs one layer forward and backward on both backends and compares. */
static void check_layer(const char *name, layer_maker make_layer, const void *cfg, int ndim, const int *shape,
                        bool training)
{
    gan_layer *lc, *lo;
    REQUIRE_OK(cpu, make_layer(cpu, cfg, &lc));
    REQUIRE_OK(ocl, make_layer(ocl, cfg, &lo));
    gan_model *mc = test_single_layer_model(cpu, lc), *mo = test_single_layer_model(ocl, lo);
    for (size_t i = 0; i < gan_model_entry_count(mc); i++) { /* random parameters and statistics */
        gan_entry e;
        REQUIRE_OK(cpu, gan_model_entry(mc, i, &e));
        if (e.value)
            REQUIRE_OK(cpu, strstr(e.name, "running_var") ? gan_tensor_fill_uniform(e.value, 0.5f, 2.0f)
                                                          : gan_tensor_fill_uniform(e.value, -0.5f, 0.5f));
    }
    copy_model(mc, mo);
    gan_model_set_training(mc, training);
    gan_model_set_training(mo, training);
    gan_tensor *xo, *xc = random_pair(ndim, shape, &xo, -1.0f, 1.0f);
    const gan_tensor *yc, *yo, *dxc, *dxo;
    REQUIRE_OK(cpu, gan_model_forward(mc, xc, &yc));
    REQUIRE_OK(ocl, gan_model_forward(mo, xo, &yo));
    char what[200];
    snprintf(what, sizeof what, "%s forward", name);
    compare(what, yo, yc, 1e-4, 1e-3);
    int yshape[4];
    for (int i = 0; i < gan_tensor_ndim(yc); i++)
        yshape[i] = gan_tensor_dim(yc, i);
    gan_tensor *dyo, *dyc = random_pair(gan_tensor_ndim(yc), yshape, &dyo, -1.0f, 1.0f);
    REQUIRE_OK(cpu, gan_model_zero_grad(mc));
    REQUIRE_OK(ocl, gan_model_zero_grad(mo));
    REQUIRE_OK(cpu, gan_model_backward(mc, dyc, &dxc));
    REQUIRE_OK(ocl, gan_model_backward(mo, dyo, &dxo));
    snprintf(what, sizeof what, "%s backward", name);
    compare(what, dxo, dxc, 1e-4, 1e-3);
    compare_grads(what, mo, mc, 1e-4, 1e-3, false);
    gan_tensor_free(xc), gan_tensor_free(xo), gan_tensor_free(dyc), gan_tensor_free(dyo);
    gan_model_free(mc), gan_model_free(mo);
}

typedef struct linear_cfg { int in, out, bias; } linear_cfg;
static gan_status make_linear(gan_context *ctx, const void *cfg, gan_layer **out)
{
    const linear_cfg *c = cfg;
    return gan_linear_create(ctx, c->in, c->out, c->bias, out);
}

typedef struct conv_cfg { bool transposed; gan_conv2d_params p; } conv_cfg;
static gan_status make_conv(gan_context *ctx, const void *cfg, gan_layer **out)
{
    const conv_cfg *c = cfg;
    return c->transposed ? gan_conv_transpose2d_create(ctx, &c->p, out) : gan_conv2d_create(ctx, &c->p, out);
}

static conv_cfg conv(bool transposed, int in, int out, int k, int s, int p, int op)
{
    conv_cfg c = {transposed, gan_conv2d_default_params(in, out, k)};
    c.p.stride_h = c.p.stride_w = s;
    c.p.pad_h = c.p.pad_w = p;
    c.p.output_pad_h = c.p.output_pad_w = op;
    return c;
}

typedef struct simple_cfg { gan_layer_type type; int features; } simple_cfg;
static gan_status make_simple(gan_context *ctx, const void *cfg, gan_layer **out)
{
    const simple_cfg *c = cfg;
    switch (c->type) {
    case GAN_LAYER_BATCHNORM1D: return gan_batchnorm1d_create(ctx, c->features, 1e-5f, 0.1f, out);
    case GAN_LAYER_BATCHNORM2D: return gan_batchnorm2d_create(ctx, c->features, 1e-5f, 0.1f, out);
    case GAN_LAYER_RELU: return gan_relu_create(ctx, out);
    case GAN_LAYER_LEAKY_RELU: return gan_leaky_relu_create(ctx, 0.2f, out);
    case GAN_LAYER_TANH: return gan_tanh_create(ctx, out);
    case GAN_LAYER_SIGMOID: return gan_sigmoid_create(ctx, out);
    default: return gan_flatten_create(ctx, out);
    }
}

static void check_layers(void)
{
    const linear_cfg lin[] = {{1, 1, 1}, {7, 17, 1}, {3, 5, 0}, {64, 256, 1}, {784, 256, 1}, {256, 1, 1}};
    const int lin_batch[] = {1, 3, 17, 128, 64, 128};
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "linear %d->%d", lin[i].in, lin[i].out);
        check_layer(name, make_linear, &lin[i], 2, (int[]){lin_batch[i], lin[i].in}, true);
    }
    const struct { conv_cfg c; int shape[4]; } convs[] = {
        {conv(false, 3, 4, 3, 2, 1, 0), {2, 3, 7, 5}},      {conv(false, 2, 5, 5, 3, 2, 0), {3, 2, 17, 17}},
        {conv(false, 1, 16, 3, 2, 0, 0), {16, 1, 28, 28}},  {conv(false, 16, 32, 5, 2, 0, 0), {16, 16, 13, 13}},
        {conv(false, 32, 64, 5, 2, 0, 0), {16, 32, 5, 5}},  {conv(false, 64, 128, 4, 2, 1, 0), {4, 64, 16, 16}},
        {conv(true, 3, 5, 3, 2, 1, 1), {2, 3, 4, 5}},       {conv(true, 2, 3, 5, 3, 2, 2), {3, 2, 7, 3}},
        {conv(true, 64, 256, 3, 2, 0, 0), {16, 64, 1, 1}},  {conv(true, 256, 128, 4, 1, 0, 0), {8, 256, 3, 3}},
        {conv(true, 128, 64, 3, 2, 0, 0), {8, 128, 6, 6}},  {conv(true, 64, 1, 4, 2, 0, 0), {8, 64, 13, 13}},
        {conv(true, 100, 64, 4, 1, 0, 0), {4, 100, 1, 1}},  {conv(true, 64, 32, 4, 2, 1, 0), {4, 64, 8, 8}},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const gan_conv2d_params *p = &convs[i].c.p;
        char name[96];
        snprintf(name, sizeof name, "%s %d->%d k%d s%d p%d op%d on %dx%d", convs[i].c.transposed ? "conv_t" : "conv",
                 p->in_channels, p->out_channels, p->kernel_h, p->stride_h, p->pad_h, p->output_pad_h,
                 convs[i].shape[2], convs[i].shape[3]);
        check_layer(name, make_conv, &convs[i].c, 4, convs[i].shape, true);
    }
    const simple_cfg bn2 = {GAN_LAYER_BATCHNORM2D, 5}, bn1 = {GAN_LAYER_BATCHNORM1D, 7}, bn_d = {GAN_LAYER_BATCHNORM2D, 32};
    check_layer("batchnorm2d train", make_simple, &bn2, 4, (int[]){3, 5, 7, 3}, true);
    check_layer("batchnorm2d eval", make_simple, &bn2, 4, (int[]){3, 5, 7, 3}, false);
    check_layer("batchnorm1d train", make_simple, &bn1, 2, (int[]){17, 7}, true);
    check_layer("batchnorm1d eval", make_simple, &bn1, 3, (int[]){4, 7, 5}, false);
    check_layer("batchnorm2d train, DCGAN shape", make_simple, &bn_d, 4, (int[]){128, 32, 5, 5}, true);
    const gan_layer_type acts[] = {GAN_LAYER_RELU, GAN_LAYER_LEAKY_RELU, GAN_LAYER_TANH, GAN_LAYER_SIGMOID, GAN_LAYER_FLATTEN};
    const char *act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid", "flatten"};
    for (int i = 0; i < 5; i++) {
        const simple_cfg a = {acts[i], 0};
        check_layer(act_names[i], make_simple, &a, 4, (int[]){3, 4, 5, 7}, true);
    }
}

static void check_losses_and_optimizers(void)
{
    const int shape[2] = {37, 1};
    gan_tensor *zo, *zc = random_pair(2, shape, &zo, -6.0f, 6.0f);
    gan_tensor *po, *pc = random_pair(2, shape, &po, 0.01f, 0.99f);
    gan_tensor *to, *tc = random_pair(2, shape, &to, 0.0f, 1.0f);
    gan_tensor *go = test_tensor(ocl, 2, shape, NULL), *gc = test_tensor(cpu, 2, shape, NULL);
    float lc, lo, mc, mo;
    REQUIRE_OK(cpu, gan_bce_with_logits(cpu, zc, tc, gc, &lc, &mc));
    REQUIRE_OK(ocl, gan_bce_with_logits(ocl, zo, to, go, &lo, &mo));
    CHECK(fabsf(lc - lo) <= 1e-5f + 1e-4f * fabsf(lc) && fabsf(mc - mo) <= 1e-5f);
    compare("bce_with_logits grad", go, gc, 1e-6, 1e-4);
    REQUIRE_OK(cpu, gan_bce(cpu, pc, tc, gc, &lc));
    REQUIRE_OK(ocl, gan_bce(ocl, po, to, go, &lo));
    CHECK(fabsf(lc - lo) <= 1e-5f + 1e-4f * fabsf(lc));
    compare("bce grad", go, gc, 1e-5, 1e-3);
    /* a moving average's update */
    gan_tensor *avg_o, *avg_c = random_pair(2, shape, &avg_o, -1.0f, 1.0f);
    gan_tensor *val_o, *val_c = random_pair(2, shape, &val_o, -1.0f, 1.0f);
    REQUIRE_OK(cpu, GAN_RUN(cpu, ema_update, avg_c, val_c, 0.9f));
    REQUIRE_OK(ocl, GAN_RUN(ocl, ema_update, avg_o, val_o, 0.9f));
    compare("ema_update", avg_o, avg_c, 1e-7, 1e-6);
    gan_tensor_free(avg_o), gan_tensor_free(avg_c), gan_tensor_free(val_o), gan_tensor_free(val_c);
    /* copies between tensors and within one, at odd offsets: the same floats */
    gan_tensor *from_o, *from_c = random_pair(2, (int[]){97, 31}, &from_o, -1.0f, 1.0f);
    gan_tensor *into_o, *into_c = random_pair(1, (int[]){5003}, &into_o, -1.0f, 1.0f);
    REQUIRE_OK(cpu, gan_tensor_copy(into_c, 11, from_c, 7, 2999));
    REQUIRE_OK(ocl, gan_tensor_copy(into_o, 11, from_o, 7, 2999));
    REQUIRE_OK(cpu, gan_tensor_copy(into_c, 3100, into_c, 13, 1901));
    REQUIRE_OK(ocl, gan_tensor_copy(into_o, 3100, into_o, 13, 1901));
    compare("copy", into_o, into_c, 0, 0);
    gan_tensor_free(from_o), gan_tensor_free(from_c), gan_tensor_free(into_o), gan_tensor_free(into_c);
    /* softmax cross-entropy over 37 rows of 10 classes, one-hot targets */
    const int classes_shape[2] = {37, 10};
    float onehot[370] = {0};
    for (int r = 0; r < 37; r++)
        onehot[r * 10 + (r * 7) % 10] = 1.0f;
    gan_tensor *lo_, *lc_ = random_pair(2, classes_shape, &lo_, -8.0f, 8.0f);
    gan_tensor *ho = test_tensor(ocl, 2, classes_shape, onehot), *hc = test_tensor(cpu, 2, classes_shape, onehot);
    gan_tensor *xo = test_tensor(ocl, 2, classes_shape, NULL), *xc = test_tensor(cpu, 2, classes_shape, NULL);
    int rc_, ro_;
    REQUIRE_OK(cpu, gan_softmax_cross_entropy(cpu, lc_, hc, xc, &lc, &rc_));
    REQUIRE_OK(ocl, gan_softmax_cross_entropy(ocl, lo_, ho, xo, &lo, &ro_));
    CHECK(fabsf(lc - lo) <= 1e-5f + 1e-4f * fabsf(lc) && rc_ == ro_);
    compare("softmax_cross_entropy grad", xo, xc, 1e-6, 1e-4);
    gan_tensor_free(lo_), gan_tensor_free(lc_), gan_tensor_free(ho), gan_tensor_free(hc);
    gan_tensor_free(xo), gan_tensor_free(xc);
    gan_tensor_free(zo), gan_tensor_free(zc), gan_tensor_free(po), gan_tensor_free(pc);
    gan_tensor_free(to), gan_tensor_free(tc), gan_tensor_free(go), gan_tensor_free(gc);

    /* three optimizer steps from the same parameters and gradients */
    for (int kind = 0; kind < 3; kind++) {
        const linear_cfg cfg = {33, 9, 1};
        gan_layer *a, *b;
        REQUIRE_OK(cpu, make_linear(cpu, &cfg, &a));
        REQUIRE_OK(ocl, make_linear(ocl, &cfg, &b));
        gan_model *mcpu = test_single_layer_model(cpu, a), *mocl = test_single_layer_model(ocl, b);
        copy_model(mcpu, mocl);
        gan_optimizer *oc, *oo;
        gan_adam_params ap = {1e-2f, 0.5f, 0.999f, 1e-8f, 0.01f};
        gan_sgd_params sp = {0.1f, 0.9f, 0.0f, 0.01f, kind == 2};
        REQUIRE_OK(cpu, kind ? gan_optimizer_sgd_create(mcpu, &sp, &oc) : gan_optimizer_adam_create(mcpu, &ap, &oc));
        REQUIRE_OK(ocl, kind ? gan_optimizer_sgd_create(mocl, &sp, &oo) : gan_optimizer_adam_create(mocl, &ap, &oo));
        for (int step = 0; step < 3; step++)
            for (size_t i = 0; i < 2; i++) {
                gan_entry ec, eo;
                REQUIRE_OK(cpu, gan_model_entry(mcpu, i, &ec));
                REQUIRE_OK(ocl, gan_model_entry(mocl, i, &eo));
                REQUIRE_OK(cpu, gan_tensor_fill_uniform(ec.grad, -1.0f, 1.0f));
                copy_tensor(ec.grad, eo.grad);
                if (i == 1) {
                    REQUIRE_OK(cpu, gan_optimizer_step(oc));
                    REQUIRE_OK(ocl, gan_optimizer_step(oo));
                }
            }
        for (size_t i = 0; i < 2; i++) {
            gan_entry ec, eo;
            REQUIRE_OK(cpu, gan_model_entry(mcpu, i, &ec));
            REQUIRE_OK(ocl, gan_model_entry(mocl, i, &eo));
            compare(kind == 0 ? "adam steps" : kind == 1 ? "sgd momentum steps" : "sgd nesterov steps", eo.value,
                    ec.value, 1e-6, 1e-5);
        }
        gan_optimizer_free(oc), gan_optimizer_free(oo);
        gan_model_free(mcpu), gan_model_free(mocl);
    }
}

/* The mode-seeking term: 37 images of 3 x 28 x 28 (the last sits out),
 * added to a gradient. After the training steps, whose inputs come from
 * the same random stream. */
static void check_mode_seeking(void)
{
    const int image_shape[4] = {37, 3, 28, 28}, noise_shape[2] = {37, 100};
    gan_tensor *io, *ic = random_pair(4, image_shape, &io, -1.0f, 1.0f);
    gan_tensor *no, *nc = random_pair(2, noise_shape, &no, -2.0f, 2.0f);
    gan_tensor *dio, *dic = random_pair(4, image_shape, &dio, -0.01f, 0.01f);
    float lc, lo, rc, ro;
    REQUIRE_OK(cpu, gan_mode_seeking(cpu, ic, nc, 1.0f, dic, &lc, &rc));
    REQUIRE_OK(ocl, gan_mode_seeking(ocl, io, no, 1.0f, dio, &lo, &ro));
    CHECK(fabsf(lc - lo) <= 1e-5f * fabsf(lc) && fabsf(rc - ro) <= 1e-5f * fabsf(rc));
    compare("mode_seeking grad", dio, dic, 1e-9, 1e-4);
    gan_tensor_free(io), gan_tensor_free(ic), gan_tensor_free(no), gan_tensor_free(nc);
    gan_tensor_free(dio), gan_tensor_free(dic);
}

/* One training step of a whole model pair on both backends. Adam's first
 * step moves every weight by about lr * sign(gradient), so the weights'
 * updates are compared where the two gradients agree on the sign;
 * gradients and losses more tightly. The gradients
 * are compared as whole tensors: the CPU backend runs dcgan64's
 * convolutions with Winograd's algorithm, whose rounding differs from the
 * direct products by about 1e-5, and that is enough to flip the side of a
 * few LeakyReLU inputs, which moves single gradient elements by up to
 * their full size (the direct products on the CPU, given inputs changed
 * by 1e-5, differ from themselves as much). */
static void check_training_step(const char *model, int batch)
{
    gan_trainer *tc, *to;
    REQUIRE_OK(cpu, gan_trainer_create_zoo(cpu, model, NULL, NULL, &tc));
    REQUIRE_OK(ocl, gan_trainer_create_zoo(ocl, model, NULL, NULL, &to));
    gan_model *gc = gan_trainer_generator(tc), *dc = gan_trainer_discriminator(tc);
    gan_model *go = gan_trainer_generator(to), *dn = gan_trainer_discriminator(to);
    copy_model(gc, go);
    copy_model(dc, dn);
    gan_models_info spec;
    REQUIRE_OK(cpu, gan_trainer_models_info(tc, &spec));
    const int s = spec.image_size, img[4] = {batch, spec.channels, s, s}, zs[4] = {batch, spec.z_dim, 1, 1};
    gan_tensor *real_o, *real_c = random_pair(4, img, &real_o, -1.0f, 1.0f);
    gan_tensor *z_o, *z_c = random_pair(spec.z_ndim, zs, &z_o, -2.0f, 2.0f);
    float **before[2]; /* the parameters before the step, G's then D's */
    for (int m = 0; m < 2; m++) {
        const gan_model *a = m ? dc : gc;
        before[m] = calloc(gan_model_entry_count(a) + 1, sizeof *before[m]);
        for (size_t i = 0, k = 0; i < gan_model_entry_count(a); i++) {
            gan_entry e;
            REQUIRE_OK(cpu, gan_model_entry(a, i, &e));
            if (e.kind == GAN_ENTRY_PARAMETER)
                before[m][k++] = test_read(e.value);
        }
    }
    gan_step_stats sc, so;
    gan_context_reset_transfers(ocl);
    REQUIRE_OK(cpu, gan_trainer_step(tc, real_c, z_c, &sc));
    REQUIRE_OK(ocl, gan_trainer_step(to, real_o, z_o, &so));
    const gan_transfer_stats t = gan_context_transfers(ocl);
    printf("%s step: CPU loss_D %.5f loss_G %.5f, OpenCL loss_D %.5f loss_G %.5f; %llu downloads, %llu uploads\n",
           model, sc.loss_d, sc.loss_g, so.loss_d, so.loss_g, (unsigned long long)t.downloads,
           (unsigned long long)t.uploads);
    CHECK(t.uploads == 0 && t.downloads == 3); /* only the three loss readings leave the device */
    const float got[5] = {so.loss_d, so.loss_g, so.d_x, so.d_g_z1, so.d_g_z2};
    const double want[5] = {sc.loss_d, sc.loss_g, sc.d_x, sc.d_g_z1, sc.d_g_z2};
    char what[128];
    snprintf(what, sizeof what, "%s step losses", model);
    test_expect_close(what, got, want, 5, 1e-4, 1e-3);
    snprintf(what, sizeof what, "%s step, generator", model);
    compare_grads(what, go, gc, 1e-4, 2e-2, true);
    snprintf(what, sizeof what, "%s step, discriminator", model);
    compare_grads(what, dn, dc, 1e-4, 2e-2, true);
    /* Adam's first step moves each weight by lr g / (|g| + eps), about lr
     * against its gradient's sign: every weight whose gradient is well
     * above eps must have moved so on the CPU, and the OpenCL step must
     * have moved it the same way wherever the two gradients also agree
     * with room to spare (the update is steep in g only near eps) */
    const double lr = 2e-4, eps = 1e-8;
    size_t unmoved = 0;
    size_t stable = 0, total = 0;
    for (int m = 0; m < 2; m++) {
        const gan_model *a = m ? dc : gc, *b = m ? dn : go;
        for (size_t i = 0, k = 0; i < gan_model_entry_count(a); i++) {
            gan_entry ea, eb;
            REQUIRE_OK(cpu, gan_model_entry(a, i, &ea));
            REQUIRE_OK(ocl, gan_model_entry(b, i, &eb));
            if (ea.kind != GAN_ENTRY_PARAMETER)
                continue;
            const size_t n = gan_tensor_numel(ea.value);
            float *wc = test_read(ea.value), *wo = test_read(eb.value), *gc_ = test_read(ea.grad), *go_ = test_read(eb.grad);
            const float *w0 = before[m][k++];
            double worst = 0.0;
            size_t unmoved_here = 0;
            for (size_t j = 0; j < n; j++) {
                if (!(fabs(gc_[j]) > 100.0 * eps))
                    continue;
                const double dc_ = (double)wc[j] - w0[j], do_ = (double)wo[j] - w0[j];
                unmoved_here += !(-dc_ * (gc_[j] > 0 ? 1 : -1) > 0.9 * lr);
                if (fabs(gc_[j]) > 4.0 * fabs(go_[j] - gc_[j])) {
                    worst = fmax(worst, fabs(do_ - dc_));
                    stable++;
                }
            }
            total += n;
            unmoved += unmoved_here;
            snprintf(what, sizeof what, "%s step, %s %s", model, m ? "D" : "G", ea.name);
            if (unmoved_here || !(worst <= 0.01 * lr)) {
                fprintf(stderr, "  %s: %zu weight(s) not moved by lr against the gradient on the CPU; OpenCL's update "
                                "off by up to %.3g where the gradients agree\n", what, unmoved_here, worst);
                test_failures++;
            }
            free(wc), free(wo), free(gc_), free(go_);
        }
    }
    printf("%s step: Adam's updates compared on %.1f%% of the parameters\n", model, 100.0 * (double)stable / (double)total);
    CHECK(stable >= total * 8 / 10 && unmoved == 0); /* dead ReLUs give some weights no gradient */
    for (int m = 0; m < 2; m++) {
        for (size_t k = 0; before[m][k]; k++)
            free(before[m][k]);
        free(before[m]);
    }
    gan_tensor_free(real_o), gan_tensor_free(real_c), gan_tensor_free(z_o), gan_tensor_free(z_c);
    gan_trainer_free(tc), gan_trainer_free(to);
}

int main(void)
{
    int count = 0;
    char why[512];
    if (gan_opencl_devices(NULL, 0, &count, why, sizeof why) != GAN_OK || count == 0) {
        printf("test_backend_parity: skipped: no OpenCL device: %s\n", why);
        return 77;
    }
    cpu = make(GAN_BACKEND_CPU);
    ocl = make(GAN_BACKEND_OPENCL);
    check_layers();
    check_losses_and_optimizers();
    check_training_step("gan", 64);
    check_training_step("dcgan", 64);
    check_training_step("dcgan64", 8);
    check_mode_seeking();
    gan_context_free(cpu);
    gan_context_free(ocl);
    return test_finish("test_backend_parity");
}
