/* generate.c - samples a trained generator: N images from a checkpoint, as
 * an IDX file of unsigned bytes or, for a .png name, an image grid. */
#define _POSIX_C_SOURCE 200809L
#include "backend_select.h"
#include "images.h"
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *program = "generate";

enum { PATH_MAX_LEN = 800 };

static int fail(gan_context *ctx, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", program, what, gan_context_error(ctx));
    return 1;
}

/* G in eval mode on the noise of a file: count vectors of z_dim floats. */
static bool from_noise(gan_context *ctx, gan_model *g, const gan_models_info *spec, const char *path, int count,
                       float *images)
{
    const size_t n = (size_t)count * spec->z_dim;
    float *z_host = malloc(sizeof *z_host * n);
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    bool ok = z_host && f && size == (long)(n * sizeof *z_host) && fseek(f, 0, SEEK_SET) == 0 &&
              fread(z_host, sizeof *z_host, n, f) == n;
    if (!ok)
        fprintf(stderr, "%s: %s: %s\n", program, path,
                !f ? strerror(errno)
                   : size != (long)(n * sizeof *z_host) ? "not --count vectors of the model's latent size in float32"
                                                        : "cannot read");
    if (f)
        fclose(f);
    gan_tensor *z = NULL;
    const int shape[4] = {count, spec->z_dim, 1, 1};
    if (ok && (gan_tensor_create(ctx, spec->z_ndim, shape, &z) != GAN_OK || gan_tensor_write(z, z_host, n) != GAN_OK ||
               gan_model_sample(g, z, images, (size_t)count * spec->channels * spec->image_size * spec->image_size) != GAN_OK)) {
        fail(ctx, "generating");
        ok = false;
    }
    gan_tensor_free(z);
    free(z_host);
    return ok;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int main(int argc, char **argv)
{
    const char *checkpoint = NULL, *out = NULL, *backend = "cpu", *noise = NULL;
    int count = 64, threads = 0, columns = 0, device = 0;
    bool list_devices = false;
    int64_t seed = 0;
    option opts[] = {
        {"--checkpoint", OPT_STRING, &checkpoint, 0, PATH_MAX_LEN, "checkpoint file, or the run folder holding it", false},
        {"--count", OPT_INT, &count, 1, 1000000, "number of images", false},
        {"--out", OPT_STRING, &out, 0, PATH_MAX_LEN, "output: FILE.png for a grid, any other name for IDX", false},
        {"--seed", OPT_INT64, &seed, 0, 9e15, "seed of the noise", false},
        {"--noise", OPT_STRING, &noise, 0, PATH_MAX_LEN, "the noise itself: --count vectors of float32, little-endian, raw (instead of --seed)", false},
        {"--columns", OPT_INT, &columns, 0, 1000, "grid columns (0: square-ish)", false},
        {"--threads", OPT_INT, &threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &backend, 0, 64, "cpu or opencl", false},
        {"--device", OPT_INT, &device, 0, 1024, "device index for --backend opencl", false},
        {"--list-devices", OPT_FLAG, &list_devices, 0, 0, "list the OpenCL platforms and devices, then exit", false},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    switch (options_parse(opts, n_opts, argc, argv, program,
                          "Writes images from the generator of a train_mnist, train_fashion or train_images checkpoint.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (list_devices)
        return backend_list_devices(program);
    if (!checkpoint || !out) {
        fprintf(stderr, "%s: --checkpoint and --out are required (--help lists the options)\n", program);
        return 2;
    }
    char path[PATH_MAX_LEN + 32];
    struct stat sb;
    if (stat(checkpoint, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", checkpoint);
    else
        snprintf(path, sizeof path, "%s", checkpoint);

    gan_context *ctx = backend_context(program, backend, device, threads, (uint64_t)seed);
    if (!ctx)
        return 1;
    int status = 1;
    gan_checkpoint *ckpt = NULL;
    gan_model *g = NULL, *d = NULL;
    float *images = NULL;
    uint8_t *bytes = NULL;
    gan_checkpoint_info info;
    if (gan_checkpoint_open(ctx, path, &ckpt) != GAN_OK || gan_checkpoint_get_info(ckpt, &info) != GAN_OK) {
        status = fail(ctx, "cannot read the checkpoint");
        goto done;
    }
    const gan_models_info *spec = &info.model;
    if (!info.has_model) {
        fprintf(stderr, "%s: %s names no model of the zoo\n", program, path);
        goto done;
    }
    if (gan_models_create(ctx, spec->name, &info.model_params, &g, &d) != GAN_OK ||
        gan_checkpoint_load_generator(ckpt, g) != GAN_OK) {
        status = fail(ctx, "cannot load the generator");
        goto done;
    }
    gan_random_seed(ctx, (uint64_t)seed); /* the images depend on --seed only */
    const int size = spec->image_size;
    const size_t pixels = (size_t)spec->channels * size * size;
    images = malloc(sizeof(float) * pixels * (size_t)count);
    if (!images) {
        fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    if (noise ? !from_noise(ctx, g, spec, noise, count, images)
              : gan_generate(g, spec->z_ndim, spec->z_dim, count, images) != GAN_OK) {
        status = noise ? 1 : fail(ctx, "generating");
        goto done;
    }
    char err[PATH_MAX_LEN + 256];
    if (ends_with(out, ".png")) {
        int cols = columns;
        while (!cols || (cols * cols < count && !columns))
            cols++;
        if (!images_write_grid(out, images, count, size, spec->channels, cols, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", program, err);
            goto done;
        }
    } else {
        bytes = malloc(pixels * (size_t)count);
        if (!bytes) {
            fprintf(stderr, "%s: out of memory\n", program);
            goto done;
        }
        images_to_interleaved(images, count, size, spec->channels, bytes);
        const int dims[4] = {count, size, size, spec->channels}; /* grey: 3 dimensions, as MNIST */
        if (gan_idx_write(ctx, out, spec->channels > 1 ? 4 : 3, dims, bytes) != GAN_OK) {
            status = fail(ctx, "writing");
            goto done;
        }
    }
    printf("%s: %d %dx%d images%s from %s (%s) in %s\n", program, count, size, size,
           spec->channels == 3 ? " in colour" : "", path, spec->name, out);
    status = 0;
done:
    free(images);
    free(bytes);
    gan_model_free(g);
    gan_model_free(d);
    gan_checkpoint_close(ckpt);
    gan_context_free(ctx);
    return status;
}
