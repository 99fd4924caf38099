/* make_seeds.c - writes the fuzzers' seed corpora: small valid IDX files
 * (raw and gzip) and a small valid training checkpoint.
 * usage: make_seeds IDX_DIR CHECKPOINT_DIR */
#include <gan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void require(gan_context *ctx, gan_status st)
{
    if (st != GAN_OK) {
        fprintf(stderr, "make_seeds: %s\n", gan_context_error(ctx));
        exit(1);
    }
}

/* A two-layer model: Linear(in, out) and LeakyReLU. */
static gan_model *tiny(gan_context *ctx, int in, int out)
{
    gan_model *m;
    gan_layer *l;
    require(ctx, gan_model_create(ctx, &m));
    require(ctx, gan_linear_create(ctx, in, out, 1, &l));
    require(ctx, gan_model_add(m, l));
    require(ctx, gan_batchnorm1d_create(ctx, out, 1e-5f, 0.1f, &l));
    require(ctx, gan_model_add(m, l));
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    gan_context *ctx;
    gan_context_params p = gan_context_default_params();
    p.num_threads = 1;
    if (gan_context_create(&p, &ctx, NULL, 0) != GAN_OK)
        return 1;
    char path[1024];
    const uint8_t images[2 * 3 * 3] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 255};
    snprintf(path, sizeof path, "%s/images3d", argv[1]);
    require(ctx, gan_idx_write(ctx, path, 3, (const int[]){2, 3, 3}, images));
    snprintf(path, sizeof path, "%s/labels1d", argv[1]);
    require(ctx, gan_idx_write(ctx, path, 1, (const int[]){4}, images));
    snprintf(path, sizeof path, "%s/images.gz", argv[1]); /* the raw file's bytes, compressed */
    uint8_t raw[16 + sizeof images] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3};
    memcpy(raw + 16, images, sizeof images);
    gzFile gz = gzopen(path, "wb");
    if (!gz || gzwrite(gz, raw, sizeof raw) != (int)sizeof raw || gzclose(gz) != Z_OK)
        return 1;

    gan_model *g = tiny(ctx, 2, 3), *d = tiny(ctx, 3, 1);
    gan_trainer *t;
    require(ctx, gan_trainer_create(g, d, NULL, &t));
    const char *meta[][2] = {{"dataset", "mnist"}, {"batch", "4"}};
    snprintf(path, sizeof path, "%s/checkpoint", argv[2]);
    require(ctx, gan_checkpoint_save(t, path, &(gan_checkpoint_position){1, 2}, meta, 2));
    gan_trainer_free(t);
    gan_model_free(g);
    gan_model_free(d);
    gan_context_free(ctx);
    return 0;
}
