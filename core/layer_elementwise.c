/* layer_elementwise.c - layers that keep the number of elements:
 * activations (ReLU, LeakyReLU, Tanh, Sigmoid) and views (Flatten, Reshape). */
#include "layer.h"

#include <math.h>
#include <string.h>

/* ----------------------------------------------------------- activations */

typedef struct activation_layer {
    gan_layer base;
    gan_activation act;
    float slope;
} activation_layer;

static int activation_describe(const gan_layer *l, char *buf, size_t size)
{
    const activation_layer *a = (const activation_layer *)l;
    switch (a->act) {
    case GAN_ACT_RELU: return gan_describe(buf, size, "ReLU()");
    case GAN_ACT_LEAKY_RELU: return gan_describe(buf, size, "LeakyReLU(negative_slope=%g)", a->slope);
    case GAN_ACT_TANH: return gan_describe(buf, size, "Tanh()");
    case GAN_ACT_SIGMOID: return gan_describe(buf, size, "Sigmoid()");
    }
    return 0;
}

static gan_status same_shape(gan_layer *l, int ndim, const int *in, int *out_ndim,
                             int out[GAN_MAX_DIMS])
{
    (void)l;
    *out_ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out[i] = in[i];
    return GAN_OK;
}

static gan_status activation_forward(gan_layer *l, bool training)
{
    (void)training;
    const activation_layer *a = (const activation_layer *)l;
    return GAN_RUN(l->ctx, activation_forward, a->act, a->slope, l->input, l->output);
}

static gan_status activation_backward(gan_layer *l, const gan_tensor *dy, bool need_dx,
                                      bool param_grads)
{
    (void)param_grads;
    if (!need_dx)
        return GAN_OK;
    const activation_layer *a = (const activation_layer *)l;
    return GAN_RUN(l->ctx, activation_backward, a->act, a->slope, l->input, l->output, dy, l->grad_input);
}

#define ACTIVATION_IFACE(var, layer_type)      \
    static const gan_layer_iface var = {       \
        .type = layer_type,                    \
        .output_shape = same_shape,            \
        .forward = activation_forward,         \
        .backward = activation_backward,       \
        .describe = activation_describe,       \
    }
ACTIVATION_IFACE(relu_iface, GAN_LAYER_RELU);
ACTIVATION_IFACE(leaky_relu_iface, GAN_LAYER_LEAKY_RELU);
ACTIVATION_IFACE(tanh_iface, GAN_LAYER_TANH);
ACTIVATION_IFACE(sigmoid_iface, GAN_LAYER_SIGMOID);

static gan_status activation_create(gan_context *ctx, const gan_layer_iface *iface,
                                    gan_activation act, float slope, gan_layer **out)
{
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "activation create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = gan_layer_new(ctx, iface, sizeof(activation_layer), out);
    if (st != GAN_OK)
        return st;
    activation_layer *a = (activation_layer *)*out;
    a->act = act;
    a->slope = slope;
    return GAN_OK;
}

bool gan_activation_params(const gan_layer *l, gan_activation *act, float *slope)
{
    if (l->iface != &relu_iface && l->iface != &leaky_relu_iface)
        return false;
    const activation_layer *a = (const activation_layer *)l;
    *act = a->act;
    *slope = a->slope;
    return true;
}

gan_status gan_relu_create(gan_context *ctx, gan_layer **out)
{
    gan_clear_error(ctx);
    return activation_create(ctx, &relu_iface, GAN_ACT_RELU, 0.0f, out);
}

gan_status gan_leaky_relu_create(gan_context *ctx, float negative_slope, gan_layer **out)
{
    gan_clear_error(ctx);
    if (!isfinite(negative_slope))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "LeakyReLU: negative_slope %g is not finite",
                        negative_slope);
    return activation_create(ctx, &leaky_relu_iface, GAN_ACT_LEAKY_RELU, negative_slope, out);
}

gan_status gan_tanh_create(gan_context *ctx, gan_layer **out)
{
    gan_clear_error(ctx);
    return activation_create(ctx, &tanh_iface, GAN_ACT_TANH, 0.0f, out);
}

gan_status gan_sigmoid_create(gan_context *ctx, gan_layer **out)
{
    gan_clear_error(ctx);
    return activation_create(ctx, &sigmoid_iface, GAN_ACT_SIGMOID, 0.0f, out);
}

/* ----------------------------------------------------------------- views */

typedef struct view_layer {
    gan_layer base;
    int ndim;       /* of the target shape after the batch; 0 for Flatten */
    int shape[GAN_MAX_DIMS - 1];
} view_layer;

static int view_describe(const gan_layer *l, char *buf, size_t size)
{
    const view_layer *v = (const view_layer *)l;
    if (v->ndim == 0)
        return gan_describe(buf, size, "Flatten(start_dim=1, end_dim=-1)");
    char shape[64];
    gan_shape_str(v->ndim, v->shape, shape, sizeof shape);
    shape[0] = '(';
    shape[strlen(shape) - 1] = v->ndim == 1 ? ',' : ')';
    return gan_describe(buf, size, "Unflatten(dim=1, unflattened_size=%s%s)", shape,
                        v->ndim == 1 ? ")" : "");
}

static gan_status view_output_shape(gan_layer *l, int ndim, const int *in, int *out_ndim,
                                    int out[GAN_MAX_DIMS])
{
    const view_layer *v = (const view_layer *)l;
    size_t rest = 1, want = 1;
    for (int i = 1; i < ndim; i++)
        rest *= (size_t)in[i];
    char label[128], shape[64];
    if (ndim < 2)
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s needs a batch and a feature dimension",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape));
    out[0] = in[0];
    if (v->ndim == 0) {
        *out_ndim = 2;
        out[1] = (int)rest;
        return GAN_OK;
    }
    for (int i = 0; i < v->ndim; i++) {
        want *= (size_t)v->shape[i];
        out[i + 1] = v->shape[i];
    }
    if (want != rest)
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s has %zu features per sample, not %zu",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape), rest, want);
    *out_ndim = v->ndim + 1;
    return GAN_OK;
}

static gan_status view_forward(gan_layer *l, bool training)
{
    (void)l;
    (void)training;
    return GAN_OK; /* the model points the output view at the input */
}

static gan_status view_backward(gan_layer *l, const gan_tensor *dy, bool need_dx, bool param_grads)
{
    (void)l;
    (void)dy;
    (void)need_dx;
    (void)param_grads;
    return GAN_OK; /* the model points the input gradient view at dy */
}

#define VIEW_IFACE(var, layer_type)            \
    static const gan_layer_iface var = {       \
        .type = layer_type,                    \
        .is_view = true,                       \
        .output_shape = view_output_shape,     \
        .forward = view_forward,               \
        .backward = view_backward,             \
        .describe = view_describe,             \
    }
VIEW_IFACE(flatten_iface, GAN_LAYER_FLATTEN);
VIEW_IFACE(reshape_iface, GAN_LAYER_RESHAPE);

gan_status gan_flatten_create(gan_context *ctx, gan_layer **out)
{
    gan_clear_error(ctx);
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_flatten_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    return gan_layer_new(ctx, &flatten_iface, sizeof(view_layer), out);
}

gan_status gan_reshape_create(gan_context *ctx, int ndim, const int *shape, gan_layer **out)
{
    gan_clear_error(ctx);
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_reshape_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (ndim < 1 || ndim > GAN_MAX_DIMS - 1 || !shape)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "Reshape: %d target dimensions, expected 1 to %d", ndim, GAN_MAX_DIMS - 1);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "Reshape: dimension %d is %d, must be >= 1",
                            i, shape[i]);
    gan_status st = gan_layer_new(ctx, &reshape_iface, sizeof(view_layer), out);
    if (st != GAN_OK)
        return st;
    view_layer *v = (view_layer *)*out;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        v->shape[i] = shape[i];
    return GAN_OK;
}
