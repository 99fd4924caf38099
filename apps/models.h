/* models.h - the generator and discriminator pairs the apps train. */
#ifndef GAN_APPS_MODELS_H
#define GAN_APPS_MODELS_H

#include "gan.h"

typedef struct model_spec {
    const char *name;
    const char *description;
    int z_dim;
    int z_ndim;     /* 2: z is [N, z_dim]; 4: [N, z_dim, 1, 1] */
    int image_size; /* square images, one channel */
} model_spec;

/* The spec named name ("gan", "dcgan", "dcgan64"), or NULL. */
const model_spec *model_find(const char *name);
/* Comma-separated list of the model names, for help texts. */
const char *model_names(void);

/* Builds G and D of the spec, DCGAN-initialized from the context's
 * generator. On failure both are NULL and the context says why. */
gan_status model_build(gan_context *ctx, const model_spec *spec, gan_model **generator,
                       gan_model **discriminator);

#endif
