/* test_errors.c - bad arguments return the documented codes with a message
 * that names the problem, and leave everything usable; every backend fills
 * every entry of the op table. */
#include "gan_internal.h"
#include "test_util.h"

#include <string.h>

static void test_context_errors(void)
{
    gan_context *ctx = (gan_context *)1;
    gan_context_params p = gan_context_default_params();
    p.num_threads = -1;
    char msg[512];
    CHECK(gan_context_create(&p, &ctx, msg, sizeof msg) == GAN_ERR_INVALID_ARGUMENT && ctx == NULL);
    CHECK(strstr(msg, "num_threads and device must be >= 0") != NULL);
    CHECK(gan_context_create(NULL, &ctx, NULL, 0) == GAN_ERR_INVALID_ARGUMENT);
    CHECK(gan_context_create(&p, NULL, NULL, 0) == GAN_ERR_INVALID_ARGUMENT);
    p = gan_context_default_params();
    p.backend = (gan_backend_kind)42;
    CHECK(gan_context_create(&p, &ctx, msg, sizeof msg) == GAN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(msg, "unknown backend 42") != NULL);

    /* OpenCL: no driver or no such device is a clear UNAVAILABLE, never a crash */
    int count = 0;
    gan_device_info info[4];
    char list_msg[512];
    gan_status listed = gan_opencl_devices(info, 4, &count, list_msg, sizeof list_msg);
    p.backend = GAN_BACKEND_OPENCL;
    p.device = listed == GAN_OK ? count : 0;
    CHECK(gan_context_create(&p, &ctx, msg, sizeof msg) == GAN_ERR_UNAVAILABLE && ctx == NULL);
    if (listed == GAN_OK) {
        CHECK(count > 0 && info[0].name[0] && info[0].compute_units > 0 && info[0].global_memory > 0);
        CHECK(strstr(msg, "does not exist") != NULL);
    } else {
        CHECK(count == 0 && strstr(list_msg, "OpenCL") != NULL);
        CHECK(strstr(msg, "OpenCL") != NULL);
    }
    printf("OpenCL: %s\n", listed == GAN_OK ? info[0].name : list_msg);
    gan_context_free(NULL);
    gan_tensor_free(NULL);
    gan_model_free(NULL);
    gan_layer_free(NULL);
    gan_optimizer_free(NULL);
}

static void test_strerror(void)
{
#define CHECK_TEXT_(name, value, text) CHECK(strcmp(gan_strerror(GAN_##name), text) == 0);
    GAN_STATUS_MAP(CHECK_TEXT_)
#undef CHECK_TEXT_
    CHECK(strcmp(gan_strerror((gan_status)-999), "unknown status") == 0);
}

static void test_tensor_errors(gan_context *ctx)
{
    gan_tensor *t = NULL;
    EXPECT_ERR(ctx, gan_tensor_create(ctx, 0, (int[]){1}, &t), GAN_ERR_SHAPE, "dimensions");
    EXPECT_ERR(ctx, gan_tensor_create(ctx, 5, (int[]){1, 1, 1, 1, 1}, &t), GAN_ERR_SHAPE, "dimensions");
    EXPECT_ERR(ctx, gan_tensor_create(ctx, 2, (int[]){3, 0}, &t), GAN_ERR_SHAPE, "dimension 1 is 0");
    EXPECT_ERR(ctx, gan_tensor_create(ctx, 2, NULL, &t), GAN_ERR_INVALID_ARGUMENT, "NULL");
    CHECK(t == NULL);
    REQUIRE_OK(ctx, gan_tensor_create(ctx, 2, (int[]){2, 3}, &t));
    float buf[6] = {0};
    EXPECT_ERR(ctx, gan_tensor_write(t, buf, 5), GAN_ERR_SHAPE, "5 floats given, tensor holds 6");
    EXPECT_ERR(ctx, gan_tensor_read(t, buf, 7), GAN_ERR_SHAPE, "7 floats");
    EXPECT_ERR(ctx, gan_tensor_write(t, NULL, 6), GAN_ERR_INVALID_ARGUMENT, "NULL");
    EXPECT_ERR(ctx, gan_tensor_fill_normal(t, 0.0f, -1.0f), GAN_ERR_INVALID_ARGUMENT, "std");
    EXPECT_ERR(ctx, gan_tensor_fill_uniform(t, 1.0f, 0.0f), GAN_ERR_INVALID_ARGUMENT, "range");
    CHECK(gan_tensor_dim(t, 5) == 0 && gan_tensor_dim(t, 1) == 3 && gan_tensor_numel(t) == 6);
    gan_tensor *u;
    REQUIRE_OK(ctx, gan_tensor_create(ctx, 1, (int[]){4}, &u));
    EXPECT_ERR(ctx, gan_tensor_copy(t, 0, NULL, 0, 1), GAN_ERR_INVALID_ARGUMENT, "src is NULL");
    CHECK(gan_tensor_copy(NULL, 0, u, 0, 1) == GAN_ERR_INVALID_ARGUMENT);
    EXPECT_ERR(ctx, gan_tensor_copy(t, 3, u, 0, 4), GAN_ERR_SHAPE, "4 floats from 0 of 4 into 3 of 6 run past");
    EXPECT_ERR(ctx, gan_tensor_copy(t, 0, u, 1, 4), GAN_ERR_SHAPE, "run past a tensor's end");
    EXPECT_ERR(ctx, gan_tensor_copy(t, 0, u, SIZE_MAX, 2), GAN_ERR_SHAPE, "run past"); /* no wrap-around */
    EXPECT_ERR(ctx, gan_tensor_copy(t, 1, t, 0, 2), GAN_ERR_INVALID_ARGUMENT, "floats 0 to 2 and 1 to 3 of one tensor overlap");
    EXPECT_ERR(ctx, gan_tensor_copy(t, 0, t, 1, 2), GAN_ERR_INVALID_ARGUMENT, "overlap");
    gan_context *other = test_context(1, 1);
    gan_tensor *elsewhere;
    REQUIRE_OK(other, gan_tensor_create(other, 1, (int[]){4}, &elsewhere));
    EXPECT_ERR(ctx, gan_tensor_copy(t, 0, elsewhere, 0, 1), GAN_ERR_INVALID_ARGUMENT, "different contexts");
    gan_tensor_free(elsewhere);
    gan_context_free(other);
    gan_tensor_free(u);
    EXPECT_ERR(ctx, gan_random_set_state(ctx, (uint64_t[4]){0, 0, 0, 0}), GAN_ERR_INVALID_ARGUMENT, "all-zero");
    /* each call clears the message of the one before */
    REQUIRE_OK(ctx, gan_tensor_fill(t, 1.0f));
    CHECK(gan_context_error(ctx)[0] == '\0');
    EXPECT_ERR(ctx, gan_tensor_read(t, buf, 7), GAN_ERR_SHAPE, "7 floats");
    CHECK(strstr(gan_context_error(ctx), "all-zero") == NULL);
    gan_tensor_free(t);
}

static void test_layer_errors(gan_context *ctx)
{
    gan_layer *l = (gan_layer *)1;
    EXPECT_ERR(ctx, gan_linear_create(ctx, 0, 3, 1, &l), GAN_ERR_INVALID_ARGUMENT, "in_features 0");
    CHECK(l == NULL);
    gan_conv2d_params p = gan_conv2d_default_params(1, 4, 3);
    p.stride_h = 0;
    EXPECT_ERR(ctx, gan_conv2d_create(ctx, &p, &l), GAN_ERR_INVALID_ARGUMENT, "stride");
    p = gan_conv2d_default_params(1, 4, 3);
    p.pad_w = -1;
    EXPECT_ERR(ctx, gan_conv2d_create(ctx, &p, &l), GAN_ERR_INVALID_ARGUMENT, "padding");
    p = gan_conv2d_default_params(1, 4, 3);
    p.stride_h = p.stride_w = 2;
    p.output_pad_h = 2;
    EXPECT_ERR(ctx, gan_conv_transpose2d_create(ctx, &p, &l), GAN_ERR_INVALID_ARGUMENT, "smaller than the stride");
    p.output_pad_h = 1;
    EXPECT_ERR(ctx, gan_conv2d_create(ctx, &p, &l), GAN_ERR_INVALID_ARGUMENT, "output padding");
    EXPECT_ERR(ctx, gan_conv2d_create(ctx, NULL, &l), GAN_ERR_INVALID_ARGUMENT, "params");
    EXPECT_ERR(ctx, gan_batchnorm2d_create(ctx, 4, 0.0f, 0.1f, &l), GAN_ERR_INVALID_ARGUMENT, "eps");
    EXPECT_ERR(ctx, gan_batchnorm2d_create(ctx, 4, 1e-5f, 1.5f, &l), GAN_ERR_INVALID_ARGUMENT, "momentum");
    EXPECT_ERR(ctx, gan_reshape_create(ctx, 4, (int[]){1, 1, 1, 1}, &l), GAN_ERR_INVALID_ARGUMENT, "target dimensions");
    EXPECT_ERR(ctx, gan_leaky_relu_create(ctx, NAN, &l), GAN_ERR_INVALID_ARGUMENT, "negative_slope");
}

static void test_model_errors(gan_context *ctx)
{
    gan_model *m;
    gan_layer *l;
    const gan_tensor *y;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    gan_tensor *x = test_tensor(ctx, 2, (int[]){3, 5}, NULL);
    EXPECT_ERR(ctx, gan_model_forward(m, x, &y), GAN_ERR_STATE, "no layers");
    REQUIRE_OK(ctx, gan_linear_create(ctx, 4, 2, 1, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    EXPECT_ERR(ctx, gan_model_forward(m, x, &y), GAN_ERR_SHAPE, "Linear(in_features=4, out_features=2, bias=True): input [3, 5], expected [N, 4]");
    gan_tensor *dy = test_tensor(ctx, 2, (int[]){3, 2}, NULL);
    EXPECT_ERR(ctx, gan_model_backward(m, dy, NULL), GAN_ERR_STATE, "no forward");
    gan_tensor *x4 = test_tensor(ctx, 2, (int[]){3, 4}, NULL), *bad = test_tensor(ctx, 2, (int[]){3, 3}, NULL);
    REQUIRE_OK(ctx, gan_model_forward(m, x4, &y));
    EXPECT_ERR(ctx, gan_model_backward(m, bad, NULL), GAN_ERR_SHAPE, "dy is [3, 3], the output is [3, 2]");
    REQUIRE_OK(ctx, gan_model_backward(m, dy, NULL)); /* still usable after errors */
    CHECK(gan_context_error(ctx)[0] == '\0');            /* and says nothing of them */
    EXPECT_ERR(ctx, gan_model_forward(m, NULL, &y), GAN_ERR_INVALID_ARGUMENT, "NULL");
    gan_entry e;
    EXPECT_ERR(ctx, gan_model_entry(m, 2, &e), GAN_ERR_INVALID_ARGUMENT, "index 2 of 2");

    /* a layer of another context is refused and freed */
    gan_context *other = test_context(1, 0);
    REQUIRE_OK(other, gan_relu_create(other, &l));
    EXPECT_ERR(ctx, gan_model_add(m, l), GAN_ERR_INVALID_ARGUMENT, "another context");
    gan_context_free(other);
    gan_model_free(m);

    /* convolution shape problems */
    gan_conv2d_params p = gan_conv2d_default_params(3, 4, 5);
    REQUIRE_OK(ctx, gan_conv2d_create(ctx, &p, &l));
    m = test_single_layer_model(ctx, l);
    gan_tensor *img = test_tensor(ctx, 4, (int[]){2, 1, 8, 8}, NULL), *small = test_tensor(ctx, 4, (int[]){2, 3, 4, 4}, NULL);
    EXPECT_ERR(ctx, gan_model_forward(m, img, &y), GAN_ERR_SHAPE, "expected [N, 3, H, W]");
    EXPECT_ERR(ctx, gan_model_forward(m, small, &y), GAN_ERR_SHAPE, "empty");
    gan_model_free(m);

    /* batchnorm cannot train on one value per channel */
    REQUIRE_OK(ctx, gan_batchnorm1d_create(ctx, 5, 1e-5f, 0.1f, &l));
    m = test_single_layer_model(ctx, l);
    gan_tensor *one = test_tensor(ctx, 2, (int[]){1, 5}, NULL);
    EXPECT_ERR(ctx, gan_model_forward(m, one, &y), GAN_ERR_SHAPE, "more than one value per channel");
    gan_model_set_training(m, 0);
    REQUIRE_OK(ctx, gan_model_forward(m, one, &y)); /* eval mode is fine */
    EXPECT_ERR(ctx, gan_model_forward(m, img, &y), GAN_ERR_SHAPE, "expected [N, C] or [N, C, L]");

    /* optimizer hyperparameters */
    gan_optimizer *opt = (gan_optimizer *)1;
    gan_adam_params ap = gan_adam_default_params();
    ap.beta1 = 1.0f;
    EXPECT_ERR(ctx, gan_optimizer_adam_create(m, &ap, &opt), GAN_ERR_INVALID_ARGUMENT, "betas");
    CHECK(opt == NULL);
    ap = gan_adam_default_params();
    ap.lr = -1.0f;
    EXPECT_ERR(ctx, gan_optimizer_adam_create(m, &ap, &opt), GAN_ERR_INVALID_ARGUMENT, "learning rate");
    gan_sgd_params sp = gan_sgd_default_params();
    sp.nesterov = 1;
    EXPECT_ERR(ctx, gan_optimizer_sgd_create(m, &sp, &opt), GAN_ERR_INVALID_ARGUMENT, "Nesterov");
    CHECK(gan_model_init_dcgan(m, -1.0f) == GAN_ERR_INVALID_ARGUMENT);
    gan_model_free(m);

    /* losses */
    float loss;
    gan_tensor *t = test_tensor(ctx, 2, (int[]){3, 1}, NULL);
    EXPECT_ERR(ctx, gan_bce_with_logits(ctx, x, t, NULL, &loss, NULL), GAN_ERR_SHAPE, "target [3, 1] does not match input [3, 5]");
    EXPECT_ERR(ctx, gan_bce(ctx, t, t, x, &loss), GAN_ERR_SHAPE, "grad [3, 5]");
    EXPECT_ERR(ctx, gan_bce(ctx, t, t, NULL, NULL), GAN_ERR_INVALID_ARGUMENT, "NULL");
    EXPECT_ERR(ctx, gan_softmax_cross_entropy(ctx, x, t, NULL, &loss, NULL), GAN_ERR_SHAPE, "target [3, 1]");
    gan_tensor *flat = test_tensor(ctx, 1, (int[]){3}, NULL);
    EXPECT_ERR(ctx, gan_softmax_cross_entropy(ctx, flat, flat, NULL, &loss, NULL), GAN_ERR_SHAPE,
               "logits [3] are not [rows, classes]");
    gan_tensor_free(flat);

    gan_tensor_free(x), gan_tensor_free(x4), gan_tensor_free(dy), gan_tensor_free(bad);
    gan_tensor_free(img), gan_tensor_free(small), gan_tensor_free(one), gan_tensor_free(t);
}

/* The registry knows the backend; when it is built in, each op of the list
 * and the memory entries are set in its table, and the context dispatches
 * through that table. */
static void check_backend_table(gan_backend_kind kind)
{
    const gan_backend_entry *entry = gan_backend_find(kind);
    CHECK(entry && entry->kind == kind && entry->name);
    if (!entry)
        return;
    CHECK(entry->create || (entry->missing && strstr(entry->missing, "rebuild")));
    gan_context_params p = gan_context_default_params();
    p.backend = kind;
    gan_context *ctx = NULL;
    if (gan_context_create(&p, &ctx, NULL, 0) != GAN_OK) {
        printf("backend table: %s not available here, not checked\n", entry->name);
        return;
    }
    const gan_backend_iface *t = ctx->backend->iface;
    CHECK(strcmp(t->name, entry->name) == 0);
    CHECK(ctx->ops == &t->ops);
    int missing = 0, ops = 0;
#define CHECK_OP_(op, params, args)                                                         \
    ops++;                                                                                  \
    if (!t->ops.op) {                                                                       \
        fprintf(stderr, "%s backend: no entry for op %s\n", t->name, #op);                   \
        missing++;                                                                          \
    }
    GAN_BACKEND_OPS(CHECK_OP_)
#undef CHECK_OP_
    missing += !t->name + !t->destroy + !t->alloc + !t->release;
    printf("backend table: %s fills all %d ops\n", t->name, ops);
    CHECK(missing == 0);
    gan_context_free(ctx);
}

int main(void)
{
    check_backend_table(GAN_BACKEND_CPU);
    check_backend_table(GAN_BACKEND_OPENCL);
    CHECK(gan_backend_find((gan_backend_kind)7) == NULL);
    test_context_errors();
    test_strerror();
    gan_context *ctx = test_context(1, 0);
    test_tensor_errors(ctx);
    test_layer_errors(ctx);
    test_model_errors(ctx);
    gan_context_free(ctx);
    return test_finish("test_errors");
}
