/* models.c - the apps' models, laid out as the equivalent PyTorch
 * nn.Sequential so that checkpoint names match its state_dict.
 *  gan:     G z(64) -> 256 -> 256 -> 784 (ReLU, Tanh); D 784 -> 256 -> 256 -> 1 (LeakyReLU 0.2)
 *  dcgan:   28x28; G ConvTranspose 64->256 k3 s2, 256->128 k4 s1, 128->64 k3 s2, 64->1 k4 s2;
 *           D Conv 1->16 k3 s2, 16->32 k5 s2, 32->64 k5 s2, Linear 64->1
 *  dcgan64: the DCGAN paper's 64x64 models as in the PyTorch DCGAN example (z 100, 64 features) */
#include "models.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static const model_spec specs[] = {
    {"gan", "fully connected GAN, 28x28", 64, 2, 28},
    {"dcgan", "DCGAN, 28x28", 64, 4, 28},
    {"dcgan64", "DCGAN of the paper, 64x64", 100, 4, 64},
};

const model_spec *model_find(const char *name)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (name && strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

const char *model_names(void) { return "gan, dcgan, dcgan64"; }

/* Layers are appended through a small builder that stops at the first error. */
typedef struct builder {
    gan_context *ctx;
    gan_model *model;
    gan_status status;
} builder;

static void add(builder *b, gan_status created, gan_layer *layer)
{
    if (b->status != GAN_OK) {
        gan_layer_free(layer);
        return;
    }
    b->status = created != GAN_OK ? created : gan_model_add(b->model, layer);
}

static void conv(builder *b, bool transposed, int in, int out, int k, int s, int p, bool bias)
{
    gan_conv2d_params prm = gan_conv2d_default_params(in, out, k);
    prm.stride_h = prm.stride_w = s;
    prm.pad_h = prm.pad_w = p;
    prm.bias = bias;
    gan_layer *l = NULL;
    gan_status st = b->status == GAN_OK ? (transposed ? gan_conv_transpose2d_create(b->ctx, &prm, &l)
                                                      : gan_conv2d_create(b->ctx, &prm, &l))
                                        : b->status;
    add(b, st, l);
}

static void linear(builder *b, int in, int out)
{
    gan_layer *l = NULL;
    gan_status st = b->status == GAN_OK ? gan_linear_create(b->ctx, in, out, 1, &l) : b->status;
    add(b, st, l);
}

static void batchnorm2d(builder *b, int c)
{
    gan_layer *l = NULL;
    gan_status st = b->status == GAN_OK ? gan_batchnorm2d_create(b->ctx, c, 1e-5f, 0.1f, &l) : b->status;
    add(b, st, l);
}

static void activation(builder *b, gan_layer_type type)
{
    gan_layer *l = NULL;
    gan_status st = b->status;
    if (st == GAN_OK) {
        switch (type) {
        case GAN_LAYER_RELU: st = gan_relu_create(b->ctx, &l); break;
        case GAN_LAYER_LEAKY_RELU: st = gan_leaky_relu_create(b->ctx, 0.2f, &l); break;
        case GAN_LAYER_TANH: st = gan_tanh_create(b->ctx, &l); break;
        default: st = gan_flatten_create(b->ctx, &l); break;
        }
    }
    add(b, st, l);
}

static void image_view(builder *b, int size)
{
    gan_layer *l = NULL;
    const int shape[3] = {1, size, size};
    gan_status st = b->status == GAN_OK ? gan_reshape_create(b->ctx, 3, shape, &l) : b->status;
    add(b, st, l);
}

static void build_gan(builder *g, builder *d)
{
    linear(g, 64, 256), activation(g, GAN_LAYER_RELU);
    linear(g, 256, 256), activation(g, GAN_LAYER_RELU);
    linear(g, 256, 784), activation(g, GAN_LAYER_TANH);
    image_view(g, 28);

    activation(d, GAN_LAYER_FLATTEN);
    linear(d, 784, 256), activation(d, GAN_LAYER_LEAKY_RELU);
    linear(d, 256, 256), activation(d, GAN_LAYER_LEAKY_RELU);
    linear(d, 256, 1);
}

static void build_dcgan(builder *g, builder *d)
{
    conv(g, true, 64, 256, 3, 2, 0, true), batchnorm2d(g, 256), activation(g, GAN_LAYER_RELU); /* 3x3 */
    conv(g, true, 256, 128, 4, 1, 0, true), batchnorm2d(g, 128), activation(g, GAN_LAYER_RELU); /* 6x6 */
    conv(g, true, 128, 64, 3, 2, 0, true), batchnorm2d(g, 64), activation(g, GAN_LAYER_RELU); /* 13x13 */
    conv(g, true, 64, 1, 4, 2, 0, true), activation(g, GAN_LAYER_TANH);                      /* 28x28 */

    conv(d, false, 1, 16, 3, 2, 0, true), batchnorm2d(d, 16), activation(d, GAN_LAYER_LEAKY_RELU);  /* 13 */
    conv(d, false, 16, 32, 5, 2, 0, true), batchnorm2d(d, 32), activation(d, GAN_LAYER_LEAKY_RELU); /* 5 */
    conv(d, false, 32, 64, 5, 2, 0, true), batchnorm2d(d, 64), activation(d, GAN_LAYER_LEAKY_RELU); /* 1 */
    activation(d, GAN_LAYER_FLATTEN);
    linear(d, 64, 1);
}

static void build_dcgan64(builder *g, builder *d)
{
    const int f = 64;
    conv(g, true, 100, f * 8, 4, 1, 0, false), batchnorm2d(g, f * 8), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 8, f * 4, 4, 2, 1, false), batchnorm2d(g, f * 4), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 4, f * 2, 4, 2, 1, false), batchnorm2d(g, f * 2), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 2, f, 4, 2, 1, false), batchnorm2d(g, f), activation(g, GAN_LAYER_RELU);
    conv(g, true, f, 1, 4, 2, 1, false), activation(g, GAN_LAYER_TANH);

    conv(d, false, 1, f, 4, 2, 1, false), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f, f * 2, 4, 2, 1, false), batchnorm2d(d, f * 2), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 2, f * 4, 4, 2, 1, false), batchnorm2d(d, f * 4), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 4, f * 8, 4, 2, 1, false), batchnorm2d(d, f * 8), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 8, 1, 4, 1, 0, false); /* logits; the example's Sigmoid lives in the loss */
    activation(d, GAN_LAYER_FLATTEN);
}

gan_status model_build(gan_context *ctx, const model_spec *spec, gan_model **generator,
                       gan_model **discriminator)
{
    builder g = {ctx, NULL, GAN_OK}, d = {ctx, NULL, GAN_OK};
    g.status = gan_model_create(ctx, &g.model);
    d.status = gan_model_create(ctx, &d.model);
    if (strcmp(spec->name, "gan") == 0)
        build_gan(&g, &d);
    else if (strcmp(spec->name, "dcgan") == 0)
        build_dcgan(&g, &d);
    else
        build_dcgan64(&g, &d);
    gan_status st = g.status != GAN_OK ? g.status : d.status;
    if (st == GAN_OK)
        st = gan_model_init_dcgan(g.model, 0.02f);
    if (st == GAN_OK)
        st = gan_model_init_dcgan(d.model, 0.02f);
    if (st != GAN_OK) {
        gan_model_free(g.model);
        gan_model_free(d.model);
        g.model = d.model = NULL;
    }
    *generator = g.model;
    *discriminator = d.model;
    return st;
}
