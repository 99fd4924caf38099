/* trainer_reference.c - the libgan side of the step-by-step comparison with
 * PyTorch (pytorch_step.py): builds a zoo model, saves its initial
 * checkpoint, then runs three trainer steps on batches and noise it writes
 * out as raw float32 files, saving a checkpoint after steps 1 and 3 and the
 * step statistics as text.
 * usage: trainer_reference cpu|opencl MODEL BATCH DIR */
#include <gan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gan_context *ctx;

static void require(gan_status st, const char *what)
{
    if (st != GAN_OK) {
        fprintf(stderr, "trainer_reference: %s: %s\n", what, gan_context_error(ctx));
        exit(1);
    }
}

static void save_raw(const char *dir, const char *name, int step, const float *x, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_%d.f32", dir, name, step);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof *x, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "trainer_reference: cannot write %s\n", path);
        exit(1);
    }
}

static void checkpoint(gan_trainer *t, const char *dir, int step)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/step%d.safetensors", dir, step);
    require(gan_checkpoint_save(t, path, &(gan_checkpoint_position){0, step}, NULL, 0), "saving");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: trainer_reference cpu|opencl MODEL BATCH DIR\n");
        return 2;
    }
    const char *dir = argv[4];
    const int batch = atoi(argv[3]);
    gan_context_params p = gan_context_default_params();
    p.backend = strcmp(argv[1], "opencl") == 0 ? GAN_BACKEND_OPENCL : GAN_BACKEND_CPU;
    p.seed = 2024;
    char err[4096];
    if (gan_context_create(&p, &ctx, err, sizeof err) != GAN_OK) {
        fprintf(stderr, "trainer_reference: %s\n", err);
        return 1;
    }
    gan_trainer *t;
    gan_models_info m;
    require(gan_trainer_create_zoo(ctx, argv[2], NULL, NULL, &t), "building");
    require(gan_trainer_models_info(t, &m), "model");
    checkpoint(t, dir, 0);
    const int img[4] = {batch, m.channels, m.image_size, m.image_size}, zs[4] = {batch, m.z_dim, 1, 1};
    const size_t n_img = (size_t)batch * m.channels * m.image_size * m.image_size, n_z = (size_t)batch * m.z_dim;
    float *host_img = malloc(n_img * sizeof(float)), *host_z = malloc(n_z * sizeof(float));
    gan_tensor *real, *z;
    require(gan_tensor_create(ctx, 4, img, &real), "tensor");
    require(gan_tensor_create(ctx, m.z_ndim, zs, &z), "tensor");
    char path[1024];
    snprintf(path, sizeof path, "%s/stats.txt", dir);
    FILE *stats = fopen(path, "w");
    if (!stats || !host_img || !host_z)
        return 1;
    for (int step = 1; step <= 3; step++) {
        require(gan_random_uniform(ctx, host_img, n_img, -1.0f, 1.0f), "batch");
        require(gan_random_normal(ctx, host_z, n_z, 0.0f, 1.0f), "noise");
        save_raw(dir, "real", step, host_img, n_img);
        save_raw(dir, "z", step, host_z, n_z);
        require(gan_tensor_write(real, host_img, n_img), "upload");
        require(gan_tensor_write(z, host_z, n_z), "upload");
        gan_step_stats s;
        require(gan_trainer_step(t, real, z, &s), "step");
        fprintf(stats, "%.9g %.9g %.9g %.9g %.9g\n", s.loss_d, s.loss_g, s.d_x, s.d_g_z1, s.d_g_z2);
        if (step == 1 || step == 3)
            checkpoint(t, dir, step);
    }
    fclose(stats);
    free(host_img), free(host_z);
    gan_tensor_free(real), gan_tensor_free(z);
    gan_trainer_free(t);
    gan_context_free(ctx);
    return 0;
}
