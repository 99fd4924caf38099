/* layer_linear.c - Linear: y = x W^T + b through the backend's GEMM. */
#include "layer.h"

#include <math.h>

typedef struct linear_layer {
    gan_layer base;
    int in_features, out_features;
    gan_tensor *weight, *bias; /* bias NULL when disabled */
    bool activate;             /* applies the activation of the layer after it, folded in */
    gan_activation act;
    float slope;
    gan_tensor *dz;            /* owned, when activate: the gradient before the activation */
} linear_layer;

static linear_layer *as_linear(gan_layer *l) { return (linear_layer *)l; }

static int linear_describe(const gan_layer *l, char *buf, size_t size)
{
    const linear_layer *ll = (const linear_layer *)l;
    return gan_describe(buf, size, "Linear(in_features=%d, out_features=%d, bias=%s)",
                        ll->in_features, ll->out_features, ll->bias ? "True" : "False");
}

static gan_status linear_output_shape(gan_layer *l, int ndim, const int *in, int *out_ndim,
                                      int out[GAN_MAX_DIMS])
{
    linear_layer *ll = as_linear(l);
    if (ndim != 2 || in[1] != ll->in_features) {
        char label[128], shape[64];
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s, expected [N, %d]",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape), ll->in_features);
    }
    *out_ndim = 2;
    out[0] = in[0];
    out[1] = ll->out_features;
    return GAN_OK;
}

static gan_status linear_forward(gan_layer *l, bool training)
{
    (void)training;
    linear_layer *ll = as_linear(l);
    const int n = l->input->shape[0];
    gan_status st = GAN_RUN(l->ctx, gemm, false, true, n, ll->out_features, ll->in_features, 1.0f,
                            l->input, ll->weight, 0.0f, l->output);
    if (st == GAN_OK && ll->activate)
        st = GAN_RUN(l->ctx, bias_activation, l->output, ll->bias, n, ll->out_features, 1, ll->act, ll->slope);
    else if (st == GAN_OK && ll->bias)
        st = GAN_RUN(l->ctx, bias_add, l->output, ll->bias, n, ll->out_features, 1);
    return st;
}

static gan_status linear_backward(gan_layer *l, const gan_tensor *dy, bool need_dx, bool param_grads)
{
    linear_layer *ll = as_linear(l);
    const int n = l->input->shape[0];
    gan_status st = GAN_OK;
    if (param_grads && ll->bias && l->replace_grads) /* the bias gradient, a sum, starts at zero */
        st = gan_tensor_fill(gan_layer_grad(l, "bias"), 0.0f);
    if (st == GAN_OK && ll->activate) { /* dy is the activation's: through it first, the bias gradient in the same pass */
        st = gan_tensor_ensure(l->ctx, &ll->dz, dy->ndim, dy->shape);
        gan_tensor *dbias = param_grads && ll->bias ? gan_layer_grad(l, "bias") : NULL;
        if (st == GAN_OK)
            st = GAN_RUN(l->ctx, activation_bias_grad, ll->act, ll->slope, l->output, dy, ll->dz, dbias, n,
                         ll->out_features, 1);
        dy = ll->dz;
    }
    if (st == GAN_OK && need_dx)
        st = GAN_RUN(l->ctx, gemm, false, false, n, ll->in_features, ll->out_features, 1.0f, dy,
                     ll->weight, 0.0f, l->grad_input);
    if (st == GAN_OK && param_grads) {
        st = GAN_RUN(l->ctx, gemm, true, false, ll->out_features, ll->in_features, n, 1.0f, dy,
                     l->input, l->replace_grads ? 0.0f : 1.0f, gan_layer_grad(l, "weight"));
        if (st == GAN_OK && ll->bias && !ll->activate)
            st = GAN_RUN(l->ctx, bias_grad, dy, gan_layer_grad(l, "bias"), n, ll->out_features, 1);
    }
    return st;
}

static void linear_destroy(gan_layer *l) { gan_tensor_free(as_linear(l)->dz); }

static const gan_layer_iface linear_iface = {
    .type = GAN_LAYER_LINEAR,
    .output_shape = linear_output_shape,
    .forward = linear_forward,
    .backward = linear_backward,
    .replaces_grads = true,
    .describe = linear_describe,
    .destroy = linear_destroy,
};

void gan_linear_fold(gan_layer *linear, gan_activation act, float slope)
{
    linear_layer *ll = as_linear(linear);
    ll->activate = true;
    ll->act = act;
    ll->slope = slope;
}

gan_status gan_linear_create(gan_context *ctx, int in_features, int out_features, int bias,
                             gan_layer **out)
{
    gan_clear_error(ctx);
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_linear_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (in_features < 1 || out_features < 1)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "Linear: in_features %d and out_features %d must be >= 1", in_features,
                        out_features);
    gan_layer *l;
    gan_status st = gan_layer_new(ctx, &linear_iface, sizeof(linear_layer), &l);
    if (st != GAN_OK)
        return st;
    linear_layer *ll = as_linear(l);
    ll->in_features = in_features;
    ll->out_features = out_features;
    const int wshape[2] = {out_features, in_features};
    const float bound = 1.0f / sqrtf((float)in_features); /* PyTorch's default */
    st = gan_layer_add_parameter(l, "weight", 2, wshape, &ll->weight);
    if (st == GAN_OK)
        st = gan_tensor_fill_uniform(ll->weight, -bound, bound);
    if (st == GAN_OK && bias) {
        st = gan_layer_add_parameter(l, "bias", 1, &out_features, &ll->bias);
        if (st == GAN_OK)
            st = gan_tensor_fill_uniform(ll->bias, -bound, bound);
    }
    if (st != GAN_OK) {
        gan_layer_free(l);
        return st;
    }
    *out = l;
    return GAN_OK;
}

gan_status gan_linear_get_features(const gan_layer *layer, int *in_features, int *out_features, int *bias)
{
    gan_clear_error(layer ? layer->ctx : NULL);
    if (!layer)
        return GAN_ERR_INVALID_ARGUMENT;
    if (gan_layer_get_type(layer) != GAN_LAYER_LINEAR)
        return gan_fail(layer->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_linear_get_features: not a Linear layer");
    const linear_layer *ll = (const linear_layer *)layer;
    if (in_features)
        *in_features = ll->in_features;
    if (out_features)
        *out_features = ll->out_features;
    if (bias)
        *bias = ll->bias != NULL;
    return GAN_OK;
}
