/* layer_batchnorm.c - BatchNorm1d/2d with PyTorch's semantics: batch
 * statistics and running-statistic updates in training, running statistics
 * in eval. */
#include "layer.h"

#include <math.h>

typedef struct batchnorm_layer {
    gan_layer base;
    int features;
    float eps, momentum;
    int64_t num_batches_tracked;
    bool trained_last; /* the last forward used batch statistics */
    bool activate;     /* applies the activation of the layer after it, folded in */
    gan_activation act;
    float slope;
    gan_tensor *gamma, *beta, *running_mean, *running_var;
    gan_tensor *save_mean, *save_invstd; /* batch statistics of the last forward */
    gan_tensor *eval_invstd;             /* 1/std of the running variance */
} batchnorm_layer;

static batchnorm_layer *as_bn(gan_layer *l) { return (batchnorm_layer *)l; }
static bool is_2d(const gan_layer *l) { return l->iface->type == GAN_LAYER_BATCHNORM2D; }

static int bn_describe(const gan_layer *l, char *buf, size_t size)
{
    const batchnorm_layer *b = (const batchnorm_layer *)l;
    return gan_describe(buf, size, "BatchNorm%s(%d, eps=%g, momentum=%g)", is_2d(l) ? "2d" : "1d",
                        b->features, b->eps, b->momentum);
}

static gan_status bn_output_shape(gan_layer *l, int ndim, const int *in, int *out_ndim,
                                  int out[GAN_MAX_DIMS])
{
    batchnorm_layer *b = as_bn(l);
    const bool ok_rank = is_2d(l) ? ndim == 4 : (ndim == 2 || ndim == 3);
    if (!ok_rank || in[1] != b->features) {
        char label[128], shape[64];
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s, expected %s",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape),
                        is_2d(l) ? "[N, C, H, W]" : "[N, C] or [N, C, L]");
    }
    *out_ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out[i] = in[i];
    return GAN_OK;
}

static gan_batchnorm_args bn_args(const batchnorm_layer *b)
{
    const gan_tensor *x = b->base.input;
    gan_batchnorm_args a;
    a.n = x->shape[0];
    a.c = x->shape[1];
    a.hw = (int)(x->numel / ((size_t)a.n * a.c));
    a.eps = b->eps;
    a.momentum = b->momentum;
    a.activate = b->activate;
    a.act = b->act;
    a.slope = b->slope;
    return a;
}

void gan_batchnorm_fold(gan_layer *bn, gan_activation act, float slope)
{
    batchnorm_layer *b = as_bn(bn);
    b->activate = true;
    b->act = act;
    b->slope = slope;
}

float gan_batchnorm_exchange_momentum(gan_layer *bn, float momentum)
{
    batchnorm_layer *b = as_bn(bn);
    const float old = b->momentum;
    b->momentum = momentum;
    return old;
}

static gan_status bn_forward(gan_layer *l, bool training)
{
    batchnorm_layer *b = as_bn(l);
    const gan_batchnorm_args a = bn_args(b);
    b->trained_last = training;
    if (!training)
        return GAN_RUN(l->ctx, batchnorm_forward_eval, &a, l->input, b->gamma, b->beta,
                       b->running_mean, b->running_var, l->output);
    if ((size_t)a.n * a.hw < 2) {
        char label[128];
        return gan_fail(l->ctx, GAN_ERR_SHAPE,
                        "%s: training needs more than one value per channel (batch %d)",
                        gan_layer_label(l, label, sizeof label), a.n);
    }
    b->num_batches_tracked++;
    return GAN_RUN(l->ctx, batchnorm_forward_train, &a, l->input, b->gamma, b->beta, l->output,
                   b->save_mean, b->save_invstd, b->running_mean, b->running_var);
}

static gan_status bn_backward(gan_layer *l, const gan_tensor *dy, bool need_dx, bool param_grads)
{
    batchnorm_layer *b = as_bn(l);
    const gan_batchnorm_args a = bn_args(b);
    const gan_tensor *mean = b->save_mean, *invstd = b->save_invstd;
    if (!b->trained_last) {
        gan_status st = GAN_RUN(l->ctx, inverse_std, b->running_var, b->eps, b->eval_invstd);
        if (st != GAN_OK)
            return st;
        mean = b->running_mean;
        invstd = b->eval_invstd;
    }
    return GAN_RUN(l->ctx, batchnorm_backward, &a, b->trained_last, l->input, l->output, dy, b->gamma, mean,
                   invstd, need_dx ? l->grad_input : NULL, param_grads ? gan_layer_grad(l, "weight") : NULL,
                   param_grads ? gan_layer_grad(l, "bias") : NULL);
}

static void bn_destroy(gan_layer *l)
{
    batchnorm_layer *b = as_bn(l);
    gan_tensor_free(b->save_mean);
    gan_tensor_free(b->save_invstd);
    gan_tensor_free(b->eval_invstd);
}

static const gan_layer_iface bn1d_iface = {
    .type = GAN_LAYER_BATCHNORM1D,
    .output_shape = bn_output_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .describe = bn_describe,
    .destroy = bn_destroy,
};

static const gan_layer_iface bn2d_iface = {
    .type = GAN_LAYER_BATCHNORM2D,
    .output_shape = bn_output_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .describe = bn_describe,
    .destroy = bn_destroy,
};

static gan_status bn_create(gan_context *ctx, const gan_layer_iface *iface, int features, float eps,
                            float momentum, gan_layer **out)
{
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "batchnorm create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (features < 1)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "BatchNorm: num_features %d must be >= 1",
                        features);
    if (!(eps > 0.0f) || !isfinite(eps))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "BatchNorm: eps %g must be > 0", eps);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "BatchNorm: momentum %g must be in [0, 1]",
                        momentum);
    gan_layer *l;
    gan_status st = gan_layer_new(ctx, iface, sizeof(batchnorm_layer), &l);
    if (st != GAN_OK)
        return st;
    batchnorm_layer *b = as_bn(l);
    b->features = features;
    b->eps = eps;
    b->momentum = momentum;
    const int shape[1] = {features};
    if ((st = gan_layer_add_parameter(l, "weight", 1, shape, &b->gamma)) == GAN_OK &&
        (st = gan_tensor_fill(b->gamma, 1.0f)) == GAN_OK &&
        (st = gan_layer_add_parameter(l, "bias", 1, shape, &b->beta)) == GAN_OK &&
        (st = gan_layer_add_buffer(l, "running_mean", 1, shape, &b->running_mean)) == GAN_OK &&
        (st = gan_layer_add_buffer(l, "running_var", 1, shape, &b->running_var)) == GAN_OK &&
        (st = gan_tensor_fill(b->running_var, 1.0f)) == GAN_OK &&
        (st = gan_tensor_create(ctx, 1, shape, &b->save_mean)) == GAN_OK &&
        (st = gan_tensor_create(ctx, 1, shape, &b->save_invstd)) == GAN_OK)
        st = gan_tensor_create(ctx, 1, shape, &b->eval_invstd);
    gan_layer_add_counter(l, "num_batches_tracked", &b->num_batches_tracked);
    if (st != GAN_OK) {
        gan_layer_free(l);
        return st;
    }
    *out = l;
    return GAN_OK;
}

gan_status gan_batchnorm1d_create(gan_context *ctx, int num_features, float eps, float momentum,
                                  gan_layer **out)
{
    gan_clear_error(ctx);
    return bn_create(ctx, &bn1d_iface, num_features, eps, momentum, out);
}

gan_status gan_batchnorm2d_create(gan_context *ctx, int num_features, float eps, float momentum,
                                  gan_layer **out)
{
    gan_clear_error(ctx);
    return bn_create(ctx, &bn2d_iface, num_features, eps, momentum, out);
}
