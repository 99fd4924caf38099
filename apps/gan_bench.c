/* gan_bench.c - benchmarks. train: training steps of the apps' models on
 * random data, with images/s, GFLOP/s against the measured FMA peak, per-op
 * time shares and peak memory. gemm: GEMM GFLOP/s of every micro-kernel on
 * the models' shapes. layers: forward and backward time of each layer. */
#define _POSIX_C_SOURCE 200809L
#include "backend_select.h"
#include "cpu_gemm.h"
#include "gan.h"
#include "options.h"

#include <sys/resource.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A parametric layer of one of the apps' models (apps/models.c), with its
 * input and output shapes at the benchmark's batch: their GEMMs are what
 * training time is made of. */
typedef struct layer_shape {
    const char *model;
    gan_layer_type type;   /* linear, conv or transposed conv */
    gan_conv2d_params conv; /* conv layers */
    int in_features, out_features, bias; /* linear layers */
    int ndim, in[4], out[4];
} layer_shape;

enum { MAX_LAYERS = 64 };

/* Appends model m's parametric layers for a model input of shape in */
static int add_layers(gan_context *ctx, gan_model *m, const char *name, int ndim, const int *in, layer_shape *list, int count)
{
    int layer_ndim = ndim, layer_in[GAN_MAX_DIMS] = {0}; /* layer i's input: layer i-1's output */
    memcpy(layer_in, in, sizeof(int) * (size_t)ndim);
    for (size_t i = 0; i < gan_model_layer_count(m); i++) {
        const gan_layer *layer = gan_model_layer(m, i);
        layer_shape l = {.model = name, .type = gan_layer_get_type(layer), .ndim = layer_ndim};
        int out_ndim, out[GAN_MAX_DIMS];
        if (gan_model_layer_output_shape(m, i, ndim, in, &out_ndim, out) != GAN_OK || count == MAX_LAYERS) {
            fprintf(stderr, "gan_bench: %s layer %zu: %s\n", name, i,
                    count == MAX_LAYERS ? "too many layers" : gan_context_error(ctx));
            exit(1);
        }
        memcpy(l.in, layer_in, sizeof l.in);
        memcpy(l.out, out, sizeof l.out);
        layer_ndim = out_ndim;
        memcpy(layer_in, out, sizeof layer_in);
        if (l.type == GAN_LAYER_LINEAR)
            gan_linear_get_features(layer, &l.in_features, &l.out_features, &l.bias);
        else if (l.type == GAN_LAYER_CONV2D || l.type == GAN_LAYER_CONV_TRANSPOSE2D)
            gan_conv2d_get_params(layer, &l.conv);
        else
            continue;
        list[count++] = l;
    }
    return count;
}

static const char *model_filter = "all";
static const char *const model_list[3] = {"gan", "dcgan", "dcgan64"};

static bool selected(const char *model) { return !strcmp(model_filter, "all") || !strcmp(model_filter, model); }

/* The parametric layers of the selected models, G's then D's */
static int model_layers(int batch, layer_shape *list)
{
    gan_context *ctx = backend_context("gan_bench", "cpu", 0, 1, 0);
    if (!ctx)
        exit(1);
    int count = 0;
    for (int i = 0; i < 3; i++) {
        gan_models_info spec;
        if (!selected(model_list[i]) || gan_models_describe(model_list[i], NULL, &spec) != GAN_OK)
            continue;
        gan_model *g, *d;
        if (gan_models_create(ctx, spec.name, NULL, &g, &d) != GAN_OK) {
            fprintf(stderr, "gan_bench: %s\n", gan_context_error(ctx));
            exit(1);
        }
        const int z[4] = {batch, spec.z_dim, 1, 1}, img[4] = {batch, spec.channels, spec.image_size, spec.image_size};
        count = add_layers(ctx, g, spec.name, spec.z_ndim, z, list, count);
        count = add_layers(ctx, d, spec.name, 4, img, list, count);
        gan_model_free(g), gan_model_free(d);
    }
    gan_context_free(ctx);
    return count;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The forward GEMM of a layer: M x N x K of the product the CPU backend runs. */
static void forward_gemm(const layer_shape *l, int *m, int *n, int *k)
{
    const gan_conv2d_params *c = &l->conv;
    switch (l->type) {
    case GAN_LAYER_LINEAR: *m = l->in[0], *n = l->out_features, *k = l->in_features; break;
    case GAN_LAYER_CONV2D:
        *m = c->out_channels, *n = l->out[0] * l->out[2] * l->out[3], *k = c->in_channels * c->kernel_h * c->kernel_w;
        break;
    default: /* transposed: W^T [out_c*k*k, in_c] times the input columns */
        *m = c->out_channels * c->kernel_h * c->kernel_w, *n = l->in[0] * l->in[2] * l->in[3], *k = c->in_channels;
        break;
    }
}

static double forward_flops(const layer_shape *l)
{
    int m, n, k;
    forward_gemm(l, &m, &n, &k);
    return 2.0 * m * n * k;
}

static char kind_of(const layer_shape *l)
{
    return l->type == GAN_LAYER_LINEAR ? 'L' : l->type == GAN_LAYER_CONV2D ? 'C' : 'T';
}

static void bench_gemm(int threads, int batch, int repeat)
{
    const gan_ukernel *kernels[4];
    const int n_kernels = gan_cpu_ukernels(kernels, 4);
    printf("GEMM GFLOP/s, forward products at batch %d, %d thread(s)\n", batch, threads);
    printf("%-8s %-4s %6s %7s %6s", "model", "op", "M", "N", "K");
    for (int i = 0; i < n_kernels; i++)
        printf(" %13s", kernels[i]->name);
    printf("\n");
    layer_shape layers[MAX_LAYERS];
    const int count = model_layers(batch, layers);
    for (int s = 0; s < count; s++) {
        int m, n, k;
        forward_gemm(&layers[s], &m, &n, &k);
        float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
        float *c = malloc(sizeof(float) * (size_t)m * n);
        if (!a || !b || !c) {
            fprintf(stderr, "gan_bench: out of memory\n");
            exit(1);
        }
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)k * n; i++)
            b[i] = (float)(i % 5) * 0.1f;
        printf("%-8s %-4c %6d %7d %6d", layers[s].model, kind_of(&layers[s]), m, n, k);
        for (int ki = 0; ki < n_kernels; ki++) {
            gan_gemm_plan plan;
            if (!gan_gemm_plan_init(&plan, kernels[ki], threads)) {
                fprintf(stderr, "gan_bench: out of memory\n");
                exit(1);
            }
            gan_cpu_gemm(&plan, false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            double best = 1e30;
            for (int r = 0; r < repeat; r++) {
                double t0 = now_seconds();
                gan_cpu_gemm(&plan, false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
                double t = now_seconds() - t0;
                best = t < best ? t : best;
            }
            printf(" %13.1f", 2.0 * m * n * k / best * 1e-9);
            gan_gemm_plan_free(&plan);
        }
        printf("\n");
        free(a), free(b), free(c);
    }
}

static gan_layer *make_layer(gan_context *ctx, const layer_shape *l)
{
    gan_layer *layer = NULL;
    gan_status st = l->type == GAN_LAYER_LINEAR ? gan_linear_create(ctx, l->in_features, l->out_features, l->bias, &layer)
                    : l->type == GAN_LAYER_CONV2D ? gan_conv2d_create(ctx, &l->conv, &layer)
                                                  : gan_conv_transpose2d_create(ctx, &l->conv, &layer);
    if (st != GAN_OK) {
        fprintf(stderr, "gan_bench: %s\n", gan_context_error(ctx));
        exit(1);
    }
    return layer;
}

#define CHECKED(ctx, call)                                                            \
    do {                                                                              \
        gan_status st_ = (call);                                                      \
        if (st_ != GAN_OK) {                                                          \
            fprintf(stderr, "gan_bench: %s: %s\n", #call, gan_context_error(ctx));    \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static void bench_layers(int threads, int batch, int repeat)
{
    gan_context *ctx = backend_context("gan_bench", "cpu", 0, threads, 0);
    if (!ctx)
        exit(1);
    printf("\nLayer times in ms at batch %d, %d thread(s) (backward: input and weight gradients)\n",
           batch, threads);
    printf("%-8s %-62s %9s %9s %9s\n", "model", "layer", "forward", "backward", "GFLOP/s");
    layer_shape layers[MAX_LAYERS];
    const int count = model_layers(batch, layers);
    for (int s = 0; s < count; s++) {
        const layer_shape *l = &layers[s];
        gan_model *m;
        CHECKED(ctx, gan_model_create(ctx, &m));
        gan_layer *layer = make_layer(ctx, l);
        char desc[128];
        gan_layer_describe(layer, desc, sizeof desc);
        CHECKED(ctx, gan_model_add(m, layer));
        gan_tensor *x, *dy;
        CHECKED(ctx, gan_tensor_create(ctx, l->ndim, l->in, &x));
        CHECKED(ctx, gan_tensor_fill_uniform(x, -1.0f, 1.0f));
        const gan_tensor *y, *dx;
        CHECKED(ctx, gan_model_forward(m, x, &y));
        CHECKED(ctx, gan_tensor_create(ctx, l->ndim, l->out, &dy));
        CHECKED(ctx, gan_tensor_fill_uniform(dy, -1.0f, 1.0f));
        CHECKED(ctx, gan_model_backward(m, dy, &dx));
        double best_f = 1e30, best_b = 1e30;
        for (int r = 0; r < repeat; r++) {
            double t0 = now_seconds();
            CHECKED(ctx, gan_model_forward(m, x, &y));
            double t1 = now_seconds();
            CHECKED(ctx, gan_model_backward(m, dy, &dx));
            double t2 = now_seconds();
            best_f = t1 - t0 < best_f ? t1 - t0 : best_f;
            best_b = t2 - t1 < best_b ? t2 - t1 : best_b;
        }
        const double flops = 3.0 * forward_flops(l); /* forward + two backward products */
        printf("%-8s %-62.62s %9.3f %9.3f %9.1f\n", l->model, desc, best_f * 1e3, best_b * 1e3,
               flops / (best_f + best_b) * 1e-9);
        gan_tensor_free(x), gan_tensor_free(dy);
        gan_model_free(m);
    }
    gan_context_free(ctx);
}

/* ---------------------------------------------------------------- train */

/* GEMM flops of a model's forward pass and of its first parametric layer's,
 * for an input of shape in; the backward passes for the input and for the
 * weights cost the same each. */
static void model_flops(gan_context *ctx, gan_model *m, const char *name, int ndim, const int *in, double *total,
                        double *first)
{
    layer_shape layers[MAX_LAYERS];
    const int count = add_layers(ctx, m, name, ndim, in, layers, 0);
    *total = *first = 0.0;
    for (int i = 0; i < count; i++) {
        *total += forward_flops(&layers[i]);
        if (i == 0)
            *first = *total;
    }
}

/* The GEMM flops of one training step as gan_trainer_step makes it: D runs
 * forward three times, computes weight gradients twice and input gradients
 * three times (the first layer's only once); G runs forward and backward
 * once, without its first layer's input gradient. */
static double step_flops(gan_context *ctx, gan_model *g, gan_model *d, const gan_models_info *spec, int batch)
{
    const int zs[4] = {batch, spec->z_dim, 1, 1};
    const int img[4] = {batch, spec->channels, spec->image_size, spec->image_size};
    double fg, fd, fg_first, fd_first;
    model_flops(ctx, g, spec->name, spec->z_ndim, zs, &fg, &fg_first);
    model_flops(ctx, d, spec->name, 4, img, &fd, &fd_first);
    return (3 * fd + 2 * fd + 3 * fd - 2 * fd_first) + (3 * fg - fg_first);
}

/* Batches of random images a training benchmark takes turns with */
enum { BENCH_BATCHES = 4 };

typedef struct bench_batches {
    gan_context *ctx;
    gan_trainer *trainer;
    gan_tensor *real, *z;
    const float *images; /* BENCH_BATCHES batches */
    size_t batch_floats;
} bench_batches;

/* Step i: its batch of images uploaded, its noise drawn, then a step */
static void bench_step(const bench_batches *b, int i)
{
    gan_context *ctx = b->ctx;
    gan_step_stats st;
    CHECKED(ctx, gan_tensor_write(b->real, b->images + b->batch_floats * (i % BENCH_BATCHES), b->batch_floats));
    CHECKED(ctx, gan_tensor_fill_normal(b->z, 0.0f, 1.0f));
    CHECKED(ctx, gan_trainer_step(b->trainer, b->real, b->z, &st));
}

typedef struct train_options {
    const char *backend;
    int device, threads, batch, steps, warmup;
    bool no_profile;
} train_options;

static int bench_train(const char *model, const train_options *o, double peak, const char *isa)
{
    gan_context *ctx = backend_context("gan_bench", o->backend, o->device, o->threads, 1);
    if (!ctx)
        return 1;
    gan_models_info spec;
    gan_trainer *trainer;
    gan_tensor *real, *z;
    CHECKED(ctx, gan_trainer_create_zoo(ctx, model, NULL, NULL, &trainer));
    CHECKED(ctx, gan_trainer_models_info(trainer, &spec));
    const int b = o->batch, s = spec.image_size;
    const int zs[4] = {b, spec.z_dim, 1, 1}, img[4] = {b, spec.channels, s, s};
    CHECKED(ctx, gan_tensor_create(ctx, 4, img, &real));
    CHECKED(ctx, gan_tensor_create(ctx, spec.z_ndim, zs, &z));
    /* random batches of images, made before the clock starts, one uploaded
     * each step, as the training programs upload the images their loader
     * made; the noise drawn each step, as they draw it */
    const size_t batch_floats = gan_tensor_numel(real);
    float *host_images = malloc(sizeof(float) * batch_floats * BENCH_BATCHES);
    if (!host_images) {
        fprintf(stderr, "gan_bench: out of memory for %d batches\n", BENCH_BATCHES);
        exit(1);
    }
    for (int k = 0; k < BENCH_BATCHES; k++) {
        CHECKED(ctx, gan_tensor_fill_uniform(real, -1.0f, 1.0f));
        CHECKED(ctx, gan_tensor_read(real, host_images + batch_floats * k, batch_floats));
    }
    const bench_batches batches = {ctx, trainer, real, z, host_images, batch_floats};
    for (int i = 0; i < o->warmup; i++)
        bench_step(&batches, i);
    gan_context_reset_transfers(ctx);
    const double start = now_seconds();
    for (int i = 0; i < o->steps; i++)
        bench_step(&batches, i);
    const double took = now_seconds() - start;
    const gan_transfer_stats tr = gan_context_transfers(ctx);
    const double flops = step_flops(ctx, gan_trainer_generator(trainer), gan_trainer_discriminator(trainer), &spec, b);
    const double images = (double)b * o->steps / took;
    const double gflops = flops * o->steps / took * 1e-9;
    size_t in_use, peak_bytes;
    gan_context_memory(ctx, &in_use, &peak_bytes);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s on %s (%d thread(s)), batch %d: %d steps in %.2f s\n", spec.name, gan_context_backend_name(ctx),
           gan_context_num_threads(ctx), b, o->steps, took);
    printf("  images/s      %.1f\n", images);
    printf("  GFLOP/s       %.1f (a step is %.2f GFLOP of direct matrix products; Winograd's convolutions\n"
           "                do fewer, so this is their direct-equivalent rate)",
           gflops, flops * 1e-9);
    if (peak > 0 && strcmp(o->backend, "cpu") == 0)
        printf(", %.1f%% of the measured %.0f GFLOP/s %s peak", 100.0 * gflops / peak, peak, isa);
    printf("\n  memory        %.1f MiB peak in the backend (tensors and workspaces), %.1f MiB peak resident\n",
           (double)peak_bytes / 1048576.0, (double)ru.ru_maxrss / 1024.0);
    if (strcmp(o->backend, "cpu") != 0)
        printf("  host<->device %.1f uploads and %.1f downloads a step (%.1f KiB up, %.3f KiB down)\n",
               (double)tr.uploads / o->steps, (double)tr.downloads / o->steps,
               (double)tr.bytes_up / o->steps / 1024.0, (double)tr.bytes_down / o->steps / 1024.0);
    if (!o->no_profile) {
        gan_context_set_profiling(ctx, 1);
        const int steps = o->steps < 5 ? o->steps : 5;
        for (int i = 0; i < steps; i++)
            bench_step(&batches, i);
        gan_op_profile prof[32];
        const int n = gan_context_profile(ctx, prof, 32);
        double total = 0.0;
        for (int i = 0; i < n; i++)
            total += prof[i].seconds;
        printf("  time by op   ");
        for (int i = 0; i < n && i < 32; i++)
            if (prof[i].seconds >= 0.005 * total)
                printf(" %s %.1f%%%s", prof[i].op, 100.0 * prof[i].seconds / total, i + 1 < n ? "," : "");
        printf("\n");
        gan_context_set_profiling(ctx, 0);
    }
    printf("RESULT model=%s backend=%s threads=%d batch=%d images_per_s=%.2f gflops=%.2f peak_mib=%.1f\n",
           spec.name, gan_context_backend_name(ctx), gan_context_num_threads(ctx), b, images, gflops,
           (double)peak_bytes / 1048576.0);
    fflush(stdout);
    free(host_images);
    gan_tensor_free(real), gan_tensor_free(z);
    gan_trainer_free(trainer);
    gan_context_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 && argv[1][0] != '-' ? argv[1] : "train";
    if (strcmp(mode, "train") && strcmp(mode, "gemm") && strcmp(mode, "layers")) {
        fprintf(stderr, "gan_bench: unknown mode '%s': train, gemm or layers\n", mode);
        return 2;
    }
    train_options o = {"cpu", 0, 0, 128, 20, 3, false};
    int repeat = 5;
    option opts[] = {
        {"--model", OPT_STRING, &model_filter, 0, 0, "gan, dcgan, dcgan64 or all", false},
        {"--backend", OPT_STRING, &o.backend, 0, 0, "train: cpu or opencl", false},
        {"--device", OPT_INT, &o.device, 0, 1024, "train: OpenCL device", false},
        {"--threads", OPT_INT, &o.threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--batch", OPT_INT, &o.batch, 2, 65536, "batch size", false},
        {"--steps", OPT_INT, &o.steps, 1, 1000000, "train: timed steps", false},
        {"--warmup", OPT_INT, &o.warmup, 0, 1000000, "train: untimed steps first", false},
        {"--no-profile", OPT_FLAG, &o.no_profile, 0, 0, "train: skip the per-op time shares", false},
        {"--repeat", OPT_INT, &repeat, 1, 1000000, "gemm, layers: repetitions, the best is shown", false},
    };
    const int first = strcmp(argv[argc > 1 ? 1 : 0], mode) == 0 ? 1 : 0;
    switch (options_parse(opts, (int)(sizeof opts / sizeof opts[0]), argc - first, argv + first, "gan_bench",
                          "gan_bench [train|gemm|layers] [options]: training speed (default), GEMM kernels, layers.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    gan_models_info info;
    if (strcmp(model_filter, "all") != 0 && gan_models_describe(model_filter, NULL, &info) != GAN_OK) {
        fprintf(stderr, "gan_bench: --model takes %s or all\n", gan_models_names());
        return 2;
    }
    gan_context *ctx = backend_context("gan_bench", "cpu", 0, o.threads, 0);
    if (!ctx)
        return 1;
    const int threads = gan_context_num_threads(ctx);
    gan_context_free(ctx);
    if (strcmp(mode, "gemm") == 0) {
        bench_gemm(threads, o.batch, repeat);
        return 0;
    }
    if (strcmp(mode, "layers") == 0) {
        bench_layers(threads, o.batch, repeat);
        return 0;
    }
    const char *isa;
    const double peak = gan_cpu_fma_peak_gflops(threads, &isa);
    if (peak > 0)
        printf("measured FMA peak: %.0f GFLOP/s (%s, %d thread(s))\n", peak, isa, threads);
    printf("CPU GEMM micro-kernel: %s (the fastest here)\n", gan_cpu_fastest_ukernel()->name);
    for (int i = 0; i < 3; i++)
        if (selected(model_list[i]) && bench_train(model_list[i], &o, peak, isa) != 0)
            return 1;
    return 0;
}
