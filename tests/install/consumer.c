/* consumer.c - a program outside the tree, built against an installed
 * libgan (find_package or pkg-config): trains a few GAN steps through the
 * trainer API on bytes it makes itself. */
#include <gan.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    enum { COUNT = 64, SIZE = 28, BATCH = 16 };
    gan_context *ctx;
    gan_context_params params = gan_context_default_params();
    char error[512];
    if (gan_context_create(&params, &ctx, error, sizeof error) != GAN_OK) {
        fprintf(stderr, "consumer: %s\n", error);
        return 1;
    }
    static unsigned char images[COUNT * SIZE * SIZE];
    for (int i = 0; i < COUNT * SIZE * SIZE; i++)
        images[i] = (unsigned char)(i * 131 % 251);
    gan_trainer *trainer = NULL;
    gan_sampler *sampler = NULL;
    gan_tensor *real = NULL, *z = NULL;
    gan_sampler_params sp = {.batch = BATCH, .image_size = SIZE, .seed = 7};
    gan_status st = gan_trainer_create_zoo(ctx, "gan", NULL, NULL, &trainer);
    if (st == GAN_OK)
        st = gan_sampler_create(ctx, images, COUNT, SIZE, SIZE, 1, &sp, &sampler);
    if (st == GAN_OK)
        st = gan_tensor_create(ctx, 4, (int[]){BATCH, 1, SIZE, SIZE}, &real);
    if (st == GAN_OK)
        st = gan_tensor_create(ctx, 2, (int[]){BATCH, 64}, &z);
    for (int step = 0; step < 3 && st == GAN_OK; step++) {
        gan_step_stats s;
        st = gan_sampler_batch(sampler, 0, step, real);
        if (st == GAN_OK)
            st = gan_tensor_fill_normal(z, 0.0f, 1.0f);
        if (st == GAN_OK)
            st = gan_trainer_step(trainer, real, z, &s);
        if (st == GAN_OK)
            printf("consumer: libgan %d.%d.%d step %d loss_D %.4f loss_G %.4f\n", GAN_VERSION_MAJOR, GAN_VERSION_MINOR,
                   GAN_VERSION_PATCH, step + 1, s.loss_d, s.loss_g);
    }
    if (st != GAN_OK)
        fprintf(stderr, "consumer: %s: %s\n", gan_strerror(st), gan_context_error(ctx));
    gan_tensor_free(real);
    gan_tensor_free(z);
    gan_sampler_free(sampler);
    gan_trainer_free(trainer);
    gan_context_free(ctx);
    return st == GAN_OK ? 0 : 1;
}
