/* layer_conv.c - Conv2d and ConvTranspose2d. A transposed convolution is
 * the adjoint of a convolution, so both run on the same three backend ops
 * with the roles of forward and backward-data swapped. */
#include "layer.h"

#include <math.h>

typedef struct conv_layer {
    gan_layer base;
    gan_conv2d_params p;
    gan_tensor *weight, *bias;
    gan_conv_geom geom; /* of the convolution (the adjoint one when transposed) */
} conv_layer;

static conv_layer *as_conv(gan_layer *l) { return (conv_layer *)l; }
static bool is_transposed(const gan_layer *l) { return l->iface->type == GAN_LAYER_CONV_TRANSPOSE2D; }

static int conv_describe(const gan_layer *l, char *buf, size_t size)
{
    const gan_conv2d_params *p = &((const conv_layer *)l)->p;
    char extra[64] = "";
    if (is_transposed(l) && (p->output_pad_h || p->output_pad_w))
        gan_describe(extra, sizeof extra, ", output_padding=(%d, %d)", p->output_pad_h, p->output_pad_w);
    return gan_describe(buf, size,
                        "%s(%d, %d, kernel_size=(%d, %d), stride=(%d, %d), padding=(%d, %d)%s%s)",
                        is_transposed(l) ? "ConvTranspose2d" : "Conv2d", p->in_channels,
                        p->out_channels, p->kernel_h, p->kernel_w, p->stride_h, p->stride_w,
                        p->pad_h, p->pad_w, extra, p->bias ? "" : ", bias=False");
}

static gan_status conv_output_shape(gan_layer *l, int ndim, const int *in, int *out_ndim,
                                    int out[GAN_MAX_DIMS])
{
    const gan_conv2d_params *p = &as_conv(l)->p;
    char label[160], shape[64];
    if (ndim != 4 || in[1] != p->in_channels)
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s, expected [N, %d, H, W]",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape), p->in_channels);
    int oh, ow;
    if (is_transposed(l)) {
        oh = (in[2] - 1) * p->stride_h - 2 * p->pad_h + p->kernel_h + p->output_pad_h;
        ow = (in[3] - 1) * p->stride_w - 2 * p->pad_w + p->kernel_w + p->output_pad_w;
    } else {
        const int eh = in[2] + 2 * p->pad_h - p->kernel_h, ew = in[3] + 2 * p->pad_w - p->kernel_w;
        oh = eh < 0 ? 0 : eh / p->stride_h + 1;
        ow = ew < 0 ? 0 : ew / p->stride_w + 1;
    }
    if (oh < 1 || ow < 1)
        return gan_fail(l->ctx, GAN_ERR_SHAPE, "%s: input %s gives an empty %dx%d output",
                        gan_layer_label(l, label, sizeof label),
                        gan_shape_str(ndim, in, shape, sizeof shape), oh, ow);
    *out_ndim = 4;
    out[0] = in[0];
    out[1] = p->out_channels;
    out[2] = oh;
    out[3] = ow;
    return GAN_OK;
}

/* The geometry of the (adjoint) convolution for the current input/output. */
static const gan_conv_geom *update_geom(conv_layer *cl)
{
    const gan_tensor *x = cl->base.input, *y = cl->base.output;
    const gan_tensor *ci = is_transposed(&cl->base) ? y : x, *co = is_transposed(&cl->base) ? x : y;
    gan_conv_geom *g = &cl->geom;
    g->n = x->shape[0];
    g->in_c = ci->shape[1];
    g->in_h = ci->shape[2];
    g->in_w = ci->shape[3];
    g->out_c = co->shape[1];
    g->out_h = co->shape[2];
    g->out_w = co->shape[3];
    g->kernel_h = cl->p.kernel_h;
    g->kernel_w = cl->p.kernel_w;
    g->stride_h = cl->p.stride_h;
    g->stride_w = cl->p.stride_w;
    g->pad_h = cl->p.pad_h;
    g->pad_w = cl->p.pad_w;
    return g;
}

static gan_status conv_forward(gan_layer *l, bool training)
{
    (void)training;
    conv_layer *cl = as_conv(l);
    const gan_conv_geom *g = update_geom(cl);
    /* a convolution's output is the input gradient of the transposed one
     * and the other way round: the backward ops without weight gradients */
    gan_status st = is_transposed(l)
                        ? GAN_RUN(l->ctx, conv2d_backward, g, NULL, l->input, cl->weight, l->output, NULL)
                        : GAN_RUN(l->ctx, conv_transpose2d_backward, g, NULL, l->input, cl->weight, l->output, NULL);
    const gan_tensor *y = l->output;
    if (st == GAN_OK && cl->bias)
        st = GAN_RUN(l->ctx, bias_add, l->output, cl->bias, y->shape[0], y->shape[1], y->shape[2] * y->shape[3]);
    return st;
}

static gan_status conv_backward(gan_layer *l, const gan_tensor *dy, bool need_dx, bool param_grads)
{
    conv_layer *cl = as_conv(l);
    const gan_conv_geom *g = &cl->geom;
    const bool tr = is_transposed(l);
    gan_tensor *dx = need_dx ? l->grad_input : NULL, *dw = param_grads ? gan_layer_grad(l, "weight") : NULL;
    gan_status st = GAN_OK;
    if (dx || dw)
        st = tr ? GAN_RUN(l->ctx, conv_transpose2d_backward, g, l->input, dy, cl->weight, dx, dw)
                : GAN_RUN(l->ctx, conv2d_backward, g, l->input, dy, cl->weight, dx, dw);
    if (st == GAN_OK && param_grads) {
        if (cl->bias)
            st = GAN_RUN(l->ctx, bias_grad, dy, gan_layer_grad(l, "bias"), dy->shape[0], dy->shape[1],
                         dy->shape[2] * dy->shape[3]);
    }
    return st;
}

static const gan_layer_iface conv2d_iface = {
    .type = GAN_LAYER_CONV2D,
    .output_shape = conv_output_shape,
    .forward = conv_forward,
    .backward = conv_backward,
    .describe = conv_describe,
};

static const gan_layer_iface conv_transpose2d_iface = {
    .type = GAN_LAYER_CONV_TRANSPOSE2D,
    .output_shape = conv_output_shape,
    .forward = conv_forward,
    .backward = conv_backward,
    .describe = conv_describe,
};

gan_conv2d_params gan_conv2d_default_params(int in_channels, int out_channels, int kernel)
{
    gan_conv2d_params p = {0};
    p.in_channels = in_channels;
    p.out_channels = out_channels;
    p.kernel_h = p.kernel_w = kernel;
    p.stride_h = p.stride_w = 1;
    p.bias = 1;
    return p;
}

static gan_status check_params(gan_context *ctx, const gan_conv2d_params *p, bool transposed)
{
    const char *name = transposed ? "ConvTranspose2d" : "Conv2d";
    if (p->in_channels < 1 || p->out_channels < 1)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: channels %d -> %d must be >= 1", name,
                        p->in_channels, p->out_channels);
    if (p->kernel_h < 1 || p->kernel_w < 1)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: kernel %dx%d must be >= 1", name,
                        p->kernel_h, p->kernel_w);
    if (p->stride_h < 1 || p->stride_w < 1)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: stride %dx%d must be >= 1", name,
                        p->stride_h, p->stride_w);
    if (p->pad_h < 0 || p->pad_w < 0)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: padding %dx%d must be >= 0", name,
                        p->pad_h, p->pad_w);
    if (!transposed && (p->output_pad_h || p->output_pad_w))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "Conv2d: output padding is for ConvTranspose2d");
    if (p->output_pad_h < 0 || p->output_pad_w < 0 || p->output_pad_h >= p->stride_h ||
        p->output_pad_w >= p->stride_w)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "%s: output padding %dx%d must be >= 0 and smaller than the stride %dx%d",
                        name, p->output_pad_h, p->output_pad_w, p->stride_h, p->stride_w);
    return GAN_OK;
}

static gan_status conv_create(gan_context *ctx, const gan_conv2d_params *p, bool transposed,
                              gan_layer **out)
{
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "conv create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!p)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "conv create: params is NULL");
    gan_status st = check_params(ctx, p, transposed);
    if (st != GAN_OK)
        return st;
    gan_layer *l;
    st = gan_layer_new(ctx, transposed ? &conv_transpose2d_iface : &conv2d_iface,
                       sizeof(conv_layer), &l);
    if (st != GAN_OK)
        return st;
    conv_layer *cl = as_conv(l);
    cl->p = *p;
    cl->p.bias = p->bias != 0;
    /* PyTorch's weight layouts: [out, in, kh, kw], transposed [in, out, kh, kw];
     * its default init bounds by 1/sqrt(size(1) * kh * kw) */
    const int wshape[4] = {transposed ? p->in_channels : p->out_channels,
                           transposed ? p->out_channels : p->in_channels, p->kernel_h, p->kernel_w};
    const float bound = 1.0f / sqrtf((float)wshape[1] * p->kernel_h * p->kernel_w);
    st = gan_layer_add_parameter(l, "weight", 4, wshape, &cl->weight);
    if (st == GAN_OK)
        st = gan_tensor_fill_uniform(cl->weight, -bound, bound);
    if (st == GAN_OK && p->bias) {
        st = gan_layer_add_parameter(l, "bias", 1, &p->out_channels, &cl->bias);
        if (st == GAN_OK)
            st = gan_tensor_fill_uniform(cl->bias, -bound, bound);
    }
    if (st != GAN_OK) {
        gan_layer_free(l);
        return st;
    }
    *out = l;
    return GAN_OK;
}

gan_status gan_conv2d_create(gan_context *ctx, const gan_conv2d_params *params, gan_layer **out)
{
    gan_clear_error(ctx);
    return conv_create(ctx, params, false, out);
}

gan_status gan_conv_transpose2d_create(gan_context *ctx, const gan_conv2d_params *params,
                                       gan_layer **out)
{
    gan_clear_error(ctx);
    return conv_create(ctx, params, true, out);
}

gan_status gan_conv2d_get_params(const gan_layer *layer, gan_conv2d_params *params)
{
    gan_clear_error(layer ? layer->ctx : NULL);
    if (!layer)
        return GAN_ERR_INVALID_ARGUMENT;
    const gan_layer_type t = gan_layer_get_type(layer);
    if (!params || (t != GAN_LAYER_CONV2D && t != GAN_LAYER_CONV_TRANSPOSE2D))
        return gan_fail(layer->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_conv2d_get_params: %s", params ? "not a Conv2d or ConvTranspose2d layer"
                                                            : "params is NULL");
    *params = ((const conv_layer *)layer)->p;
    return GAN_OK;
}
