/* zoo.c - the tutorials' generator and discriminator pairs, laid out as the
 * equivalent PyTorch nn.Sequential so that their entries match its
 * state_dict (see gan_models_create in gan.h for the shapes). */
#include "gan_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct zoo_entry {
    const char *name, *description;
    int z_dim, z_ndim, image_size;
    bool any_size; /* fully connected: any image size */
} zoo_entry;

static const zoo_entry zoo[] = {
    {"gan", "fully connected GAN", 64, 2, 28, true},
    {"dcgan", "DCGAN, 28x28", 64, 4, 28, false},
    {"dcgan64", "DCGAN of the paper, 64x64", 100, 4, 64, false},
};

enum { MAX_Z_DIM = 65536, MAX_CHANNELS = 4, MAX_FC_IMAGE_SIZE = 512 };

const char *gan_models_names(void) { return "gan, dcgan, dcgan64"; }

/* Fills out; on failure returns a static reason, or NULL on success. */
static const char *describe(const char *name, const gan_models_params *params, gan_models_info *out)
{
    const zoo_entry *e = NULL;
    for (size_t i = 0; i < sizeof zoo / sizeof zoo[0] && name && !e; i++)
        if (strcmp(zoo[i].name, name) == 0)
            e = &zoo[i];
    if (!e)
        return "is not a model of the zoo (gan, dcgan, dcgan64)";
    const gan_models_params p = params ? *params : (gan_models_params){0};
    *out = (gan_models_info){e->name, e->description, p.z_dim ? p.z_dim : e->z_dim, e->z_ndim,
                             p.image_size ? p.image_size : e->image_size, p.channels ? p.channels : 1};
    if (out->z_dim < 1 || out->z_dim > MAX_Z_DIM)
        return "takes a latent size (z_dim) from 1 to 65536";
    if (out->channels < 1 || out->channels > MAX_CHANNELS)
        return "takes 1 to 4 channels";
    if (e->any_size ? out->image_size < 2 || out->image_size > MAX_FC_IMAGE_SIZE
                    : out->image_size != e->image_size)
        return e->any_size ? "takes an image size from 2 to 512"
                           : (e->image_size == 28 ? "is built for 28x28 images only"
                                                  : "is built for 64x64 images only");
    return NULL;
}

gan_status gan_models_describe(const char *name, const gan_models_params *params, gan_models_info *out)
{
    if (!out)
        return GAN_ERR_INVALID_ARGUMENT;
    return describe(name, params, out) ? GAN_ERR_INVALID_ARGUMENT : GAN_OK;
}

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

static void image_view(builder *b, int channels, int size)
{
    gan_layer *l = NULL;
    const int shape[3] = {channels, size, size};
    gan_status st = b->status == GAN_OK ? gan_reshape_create(b->ctx, 3, shape, &l) : b->status;
    add(b, st, l);
}

static void build_gan(builder *g, builder *d, const gan_models_info *m)
{
    const int pixels = m->channels * m->image_size * m->image_size;
    linear(g, m->z_dim, 256), activation(g, GAN_LAYER_RELU);
    linear(g, 256, 256), activation(g, GAN_LAYER_RELU);
    linear(g, 256, pixels), activation(g, GAN_LAYER_TANH);
    image_view(g, m->channels, m->image_size);

    activation(d, GAN_LAYER_FLATTEN);
    linear(d, pixels, 256), activation(d, GAN_LAYER_LEAKY_RELU);
    linear(d, 256, 256), activation(d, GAN_LAYER_LEAKY_RELU);
    linear(d, 256, 1);
}

static void build_dcgan(builder *g, builder *d, const gan_models_info *m)
{
    const int z = m->z_dim, c = m->channels;
    conv(g, true, z, 256, 3, 2, 0, true), batchnorm2d(g, 256), activation(g, GAN_LAYER_RELU); /* 3x3 */
    conv(g, true, 256, 128, 4, 1, 0, true), batchnorm2d(g, 128), activation(g, GAN_LAYER_RELU); /* 6x6 */
    conv(g, true, 128, 64, 3, 2, 0, true), batchnorm2d(g, 64), activation(g, GAN_LAYER_RELU); /* 13x13 */
    conv(g, true, 64, c, 4, 2, 0, true), activation(g, GAN_LAYER_TANH);                      /* 28x28 */

    conv(d, false, c, 16, 3, 2, 0, true), batchnorm2d(d, 16), activation(d, GAN_LAYER_LEAKY_RELU);  /* 13 */
    conv(d, false, 16, 32, 5, 2, 0, true), batchnorm2d(d, 32), activation(d, GAN_LAYER_LEAKY_RELU); /* 5 */
    conv(d, false, 32, 64, 5, 2, 0, true), batchnorm2d(d, 64), activation(d, GAN_LAYER_LEAKY_RELU); /* 1 */
    activation(d, GAN_LAYER_FLATTEN);
    linear(d, 64, 1);
}

static void build_dcgan64(builder *g, builder *d, const gan_models_info *m)
{
    const int f = 64, z = m->z_dim, c = m->channels;
    conv(g, true, z, f * 8, 4, 1, 0, false), batchnorm2d(g, f * 8), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 8, f * 4, 4, 2, 1, false), batchnorm2d(g, f * 4), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 4, f * 2, 4, 2, 1, false), batchnorm2d(g, f * 2), activation(g, GAN_LAYER_RELU);
    conv(g, true, f * 2, f, 4, 2, 1, false), batchnorm2d(g, f), activation(g, GAN_LAYER_RELU);
    conv(g, true, f, c, 4, 2, 1, false), activation(g, GAN_LAYER_TANH);

    conv(d, false, c, f, 4, 2, 1, false), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f, f * 2, 4, 2, 1, false), batchnorm2d(d, f * 2), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 2, f * 4, 4, 2, 1, false), batchnorm2d(d, f * 4), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 4, f * 8, 4, 2, 1, false), batchnorm2d(d, f * 8), activation(d, GAN_LAYER_LEAKY_RELU);
    conv(d, false, f * 8, 1, 4, 1, 0, false); /* logits; the example's Sigmoid lives in the loss */
    activation(d, GAN_LAYER_FLATTEN);
}

gan_status gan_models_create(gan_context *ctx, const char *name, const gan_models_params *params,
                             gan_model **generator, gan_model **discriminator)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!generator || !discriminator)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_models_create: generator or discriminator is NULL");
    *generator = *discriminator = NULL;
    gan_models_info m;
    const char *why = describe(name, params, &m);
    if (why)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "model '%s' %s", name ? name : "(null)", why);
    builder g = {ctx, NULL, GAN_OK}, d = {ctx, NULL, GAN_OK};
    g.status = gan_model_create(ctx, &g.model);
    d.status = gan_model_create(ctx, &d.model);
    if (strcmp(m.name, "gan") == 0)
        build_gan(&g, &d, &m);
    else if (strcmp(m.name, "dcgan") == 0)
        build_dcgan(&g, &d, &m);
    else
        build_dcgan64(&g, &d, &m);
    gan_status st = g.status != GAN_OK ? g.status : d.status;
    if (st == GAN_OK)
        st = gan_model_init_dcgan(g.model, 0.02f);
    if (st == GAN_OK)
        st = gan_model_init_dcgan(d.model, 0.02f);
    if (st != GAN_OK) {
        gan_model_free(g.model);
        gan_model_free(d.model);
        return st;
    }
    *generator = g.model;
    *discriminator = d.model;
    return GAN_OK;
}
