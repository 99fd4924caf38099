/* progress_gif_main.c - writes a run's progress.gif from its sample grids
 * on demand (train_mnist and train_fashion write it when a run ends). */
#include "options.h"
#include "progress_gif.h"

#include <gan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *program = "progress_gif";

int main(int argc, char **argv)
{
    const char *run_dir = NULL, *out = NULL;
    float delay = 0.5f;
    option opts[] = {
        {"--run", OPT_STRING, &run_dir, 0, 800, "the run folder (holding checkpoint.safetensors and samples/)", false},
        {"--out", OPT_STRING, &out, 0, 800, "the GIF to write (none: RUN/progress.gif)", false},
        {"--gif-delay", OPT_FLOAT, &delay, 0.01, 60, "seconds each grid shows", false},
    };
    switch (options_parse(opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, program,
                          "Writes the animated GIF of a training run's sample grids, every one from the start.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (!run_dir) {
        fprintf(stderr, "%s: --run is required (--help lists the options)\n", program);
        return 2;
    }
    /* the checkpoint says how many steps an epoch has, to place the epochs' grids */
    gan_context *ctx;
    gan_context_params p = gan_context_default_params();
    if (gan_context_create(&p, &ctx, NULL, 0) != GAN_OK)
        return 1;
    char path[900], gif[900], err[2048];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run_dir);
    snprintf(gif, sizeof gif, "%s", out ? out : "");
    if (!out)
        snprintf(gif, sizeof gif, "%s/progress.gif", run_dir);
    gan_checkpoint *ckpt;
    int status = 1;
    if (gan_checkpoint_open(ctx, path, &ckpt) != GAN_OK) {
        fprintf(stderr, "%s: %s\n", program, gan_context_error(ctx));
        gan_context_free(ctx);
        return 1;
    }
    const char *images = gan_checkpoint_meta(ckpt, "dataset_images"), *batch = gan_checkpoint_meta(ckpt, "batch");
    const long n = images ? strtol(images, NULL, 10) : 0, b = batch ? strtol(batch, NULL, 10) : 0;
    int frames;
    if (n < 1 || b < 1 || n / b < 1 || n / b > 1000000000L)
        fprintf(stderr, "%s: %s holds no data set size and batch of a training program's run\n", program, path);
    else if (!progress_gif_write(run_dir, (int)(n / b), delay, gif, &frames, err, sizeof err))
        fprintf(stderr, "%s: %s\n", program, err);
    else if (!frames)
        fprintf(stderr, "%s: %s/samples holds no sample grid\n", program, run_dir);
    else {
        printf("%s: %s: %d frame(s), %.2f s each\n", program, gif, frames, delay);
        status = 0;
    }
    gan_checkpoint_close(ckpt);
    gan_context_free(ctx);
    return status;
}
