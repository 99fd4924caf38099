/* embed_example.c - the README's example: a C program that embeds libgan
 * and trains a whole DCGAN (G and D) on images it holds in memory, saves a
 * checkpoint, resumes from it and samples the generator. */
#include <gan.h>
#include <stdio.h>
#include <stdlib.h>

#define TRY(call) do { gan_status s_ = (call); if (s_ != GAN_OK) { \
    fprintf(stderr, "%s: %s\n", gan_strerror(s_), gan_context_error(ctx)); exit(1); } } while (0)

enum { COUNT = 256, SIZE = 28, BATCH = 32, STEPS = 4 };

int main(void)
{
    gan_context *ctx = NULL;
    gan_context_params params = gan_context_default_params(); /* CPU, all cores */
    params.seed = 42;
    if (gan_context_create(&params, &ctx, NULL, 0) != GAN_OK)
        return 1;

    /* the training images, 8-bit grey: here, discs of random sizes */
    static unsigned char images[COUNT][SIZE][SIZE];
    for (int i = 0; i < COUNT; i++) {
        const int r = 4 + (int)gan_random_below(ctx, 9);
        for (int y = 0; y < SIZE; y++)
            for (int x = 0; x < SIZE; x++)
                images[i][y][x] = (y - 14) * (y - 14) + (x - 14) * (x - 14) < r * r ? 255 : 0;
    }

    /* the tutorial's DCGAN and training recipe: Adam lr 2e-4, betas (0.5, 0.999) */
    gan_trainer *trainer;
    gan_models_info model;
    TRY(gan_trainer_create_zoo(ctx, "dcgan", NULL, NULL, &trainer));
    TRY(gan_trainer_models_info(trainer, &model));
    gan_sampler *sampler; /* shuffles each epoch, scales pixels to [-1, 1] */
    gan_sampler_params sp = {.batch = BATCH, .image_size = SIZE, .max_rotation = 10.0f, .seed = 1};
    TRY(gan_sampler_create(ctx, &images[0][0][0], COUNT, SIZE, SIZE, 1, &sp, &sampler));

    gan_tensor *real, *z;                               /* live in the backend */
    TRY(gan_tensor_create(ctx, 4, (int[]){BATCH, 1, SIZE, SIZE}, &real));
    TRY(gan_tensor_create(ctx, 4, (int[]){BATCH, model.z_dim, 1, 1}, &z));
    for (int step = 0; step < STEPS; step++) {
        gan_step_stats s;
        TRY(gan_sampler_batch(sampler, 0, step, real));
        TRY(gan_tensor_fill_normal(z, 0.0f, 1.0f));
        TRY(gan_trainer_step(trainer, real, z, &s));
        printf("step %d: loss_D %.4f loss_G %.4f D(x) %.3f D(G(z)) %.3f\n", step + 1, s.loss_d, s.loss_g,
               s.d_x, s.d_g_z1);
    }

    /* a checkpoint holds G, D, both optimizers and the random generator */
    const char *meta[][2] = {{"data", "discs"}};
    gan_checkpoint_position at = {.epoch = 0, .step_in_epoch = STEPS};
    TRY(gan_checkpoint_save(trainer, "embed_example.safetensors", &at, meta, 1));
    gan_trainer_free(trainer);

    gan_checkpoint *ckpt;
    gan_checkpoint_info info;
    TRY(gan_checkpoint_open(ctx, "embed_example.safetensors", &ckpt));
    TRY(gan_checkpoint_get_info(ckpt, &info));
    TRY(gan_trainer_create_zoo(ctx, info.model.name, &info.model_params, &info.params, &trainer));
    TRY(gan_checkpoint_restore(ckpt, trainer));
    gan_checkpoint_close(ckpt);
    printf("resumed %s at step %lld\n", info.model.name, (long long)gan_trainer_steps(trainer));

    float *samples = malloc(sizeof(float) * 16 * SIZE * SIZE); /* G in eval mode */
    TRY(gan_generate(gan_trainer_generator(trainer), model.z_ndim, model.z_dim, 16, samples));
    printf("16 samples, first pixel %.3f\n", samples[0]);

    free(samples);
    gan_tensor_free(real);
    gan_tensor_free(z);
    gan_sampler_free(sampler);
    gan_trainer_free(trainer);
    gan_context_free(ctx);
    remove("embed_example.safetensors");
    return 0;
}
