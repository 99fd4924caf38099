/* gan_bench.c - CPU benchmark: GEMM GFLOP/s on the shapes the GAN and DCGAN
 * models produce, for every micro-kernel this CPU runs, and per-layer
 * forward/backward times of those layers at the training batch size. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_gemm.h"
#include "gan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct layer_shape {
    const char *model;
    char kind; /* 'L' linear, 'C' conv, 'T' transposed conv */
    int in_c, out_c, in_h, in_w, k, s, p;
} layer_shape;

/* The parametric layers of the three models the apps train (apps/models.c;
 * 28x28 images, DCGAN-64 at 64x64): their GEMMs are what training time is
 * made of. */
static const layer_shape shapes[] = {
    {"gan", 'L', 64, 256, 1, 1, 0, 0, 0},     {"gan", 'L', 256, 256, 1, 1, 0, 0, 0},
    {"gan", 'L', 256, 784, 1, 1, 0, 0, 0},    {"gan", 'L', 784, 256, 1, 1, 0, 0, 0},
    {"gan", 'L', 256, 1, 1, 1, 0, 0, 0},
    {"dcgan", 'C', 1, 16, 28, 28, 3, 2, 0},   {"dcgan", 'C', 16, 32, 13, 13, 5, 2, 0},
    {"dcgan", 'C', 32, 64, 5, 5, 5, 2, 0},    {"dcgan", 'T', 64, 256, 1, 1, 3, 2, 0},
    {"dcgan", 'T', 256, 128, 3, 3, 4, 1, 0},  {"dcgan", 'T', 128, 64, 6, 6, 3, 2, 0},
    {"dcgan", 'T', 64, 1, 13, 13, 4, 2, 0},
    {"dcgan64", 'C', 3, 64, 64, 64, 4, 2, 1}, {"dcgan64", 'C', 64, 128, 32, 32, 4, 2, 1},
    {"dcgan64", 'C', 128, 256, 16, 16, 4, 2, 1}, {"dcgan64", 'C', 256, 512, 8, 8, 4, 2, 1},
    {"dcgan64", 'T', 100, 512, 1, 1, 4, 1, 0}, {"dcgan64", 'T', 512, 256, 4, 4, 4, 2, 1},
    {"dcgan64", 'T', 256, 128, 8, 8, 4, 2, 1}, {"dcgan64", 'T', 128, 64, 16, 16, 4, 2, 1},
    {"dcgan64", 'T', 64, 3, 32, 32, 4, 2, 1},
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int out_size(const layer_shape *l, int in)
{
    return l->kind == 'T' ? (in - 1) * l->s - 2 * l->p + l->k : (in + 2 * l->p - l->k) / l->s + 1;
}

/* The forward GEMM of a layer: M x N x K of the product the CPU backend runs. */
static void forward_gemm(const layer_shape *l, int batch, int *m, int *n, int *k)
{
    const int oh = out_size(l, l->in_h), ow = out_size(l, l->in_w);
    switch (l->kind) {
    case 'L': *m = batch, *n = l->out_c, *k = l->in_c; break;
    case 'C': *m = l->out_c, *n = batch * oh * ow, *k = l->in_c * l->k * l->k; break;
    default: /* transposed: W^T [out_c*k*k, in_c] times the input columns */
        *m = l->out_c * l->k * l->k, *n = batch * l->in_h * l->in_w, *k = l->in_c;
        break;
    }
}

static const char *model_filter = NULL;

static bool selected(const layer_shape *l) { return !model_filter || strcmp(model_filter, l->model) == 0; }

static void bench_gemm(int threads, int batch, int repeat)
{
    const gan_ukernel *kernels[4];
    const int n_kernels = gan_cpu_ukernels(kernels, 4);
    printf("GEMM GFLOP/s, forward products at batch %d, %d thread(s)\n", batch, threads);
    printf("%-8s %-4s %6s %7s %6s", "model", "op", "M", "N", "K");
    for (int i = 0; i < n_kernels; i++)
        printf(" %13s", kernels[i]->name);
    printf("\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (!selected(&shapes[s]))
            continue;
        int m, n, k;
        forward_gemm(&shapes[s], batch, &m, &n, &k);
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
        printf("%-8s %-4c %6d %7d %6d", shapes[s].model, shapes[s].kind, m, n, k);
        for (int ki = 0; ki < n_kernels; ki++) {
            gan_gemm_plan plan = {kernels[ki], threads,
                                  aligned_alloc(64, sizeof(float) * GAN_GEMM_MC * GAN_GEMM_KC),
                                  aligned_alloc(64, sizeof(float) * GAN_GEMM_KC * GAN_GEMM_NC)};
            gan_cpu_gemm(&plan, false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
            double best = 1e30;
            for (int r = 0; r < repeat; r++) {
                double t0 = now_seconds();
                gan_cpu_gemm(&plan, false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
                double t = now_seconds() - t0;
                best = t < best ? t : best;
            }
            printf(" %13.1f", 2.0 * m * n * k / best * 1e-9);
            free(plan.pack_a), free(plan.pack_b);
        }
        printf("\n");
        free(a), free(b), free(c);
    }
}

static gan_layer *make_layer(gan_context *ctx, const layer_shape *l)
{
    gan_layer *layer = NULL;
    gan_status st;
    if (l->kind == 'L') {
        st = gan_linear_create(ctx, l->in_c, l->out_c, 1, &layer);
    } else {
        gan_conv2d_params p = gan_conv2d_default_params(l->in_c, l->out_c, l->k);
        p.stride_h = p.stride_w = l->s;
        p.pad_h = p.pad_w = l->p;
        p.bias = 0;
        st = l->kind == 'C' ? gan_conv2d_create(ctx, &p, &layer) : gan_conv_transpose2d_create(ctx, &p, &layer);
    }
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
    gan_context_params cp = gan_context_default_params();
    cp.num_threads = threads;
    gan_context *ctx;
    CHECKED(NULL, gan_context_create(&cp, &ctx, NULL, 0));
    printf("\nLayer times in ms at batch %d, %d thread(s) (backward: input and weight gradients)\n",
           batch, threads);
    printf("%-8s %-62s %9s %9s %9s\n", "model", "layer", "forward", "backward", "GFLOP/s");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const layer_shape *l = &shapes[s];
        if (!selected(l))
            continue;
        gan_model *m;
        CHECKED(ctx, gan_model_create(ctx, &m));
        gan_layer *layer = make_layer(ctx, l);
        char desc[128];
        gan_layer_describe(layer, desc, sizeof desc);
        CHECKED(ctx, gan_model_add(m, layer));
        const int in4[4] = {batch, l->in_c, l->in_h, l->in_w}, in2[2] = {batch, l->in_c};
        gan_tensor *x, *dy;
        CHECKED(ctx, gan_tensor_create(ctx, l->kind == 'L' ? 2 : 4, l->kind == 'L' ? in2 : in4, &x));
        CHECKED(ctx, gan_tensor_fill_uniform(x, -1.0f, 1.0f));
        const gan_tensor *y, *dx;
        CHECKED(ctx, gan_model_forward(m, x, &y));
        int out_shape[4];
        for (int i = 0; i < gan_tensor_ndim(y); i++)
            out_shape[i] = gan_tensor_dim(y, i);
        CHECKED(ctx, gan_tensor_create(ctx, gan_tensor_ndim(y), out_shape, &dy));
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
        int gm, gn, gk;
        forward_gemm(l, batch, &gm, &gn, &gk);
        const double flops = 3.0 * 2.0 * gm * gn * gk; /* forward + two backward products */
        printf("%-8s %-62.62s %9.3f %9.3f %9.1f\n", l->model, desc, best_f * 1e3, best_b * 1e3,
               flops / (best_f + best_b) * 1e-9);
        gan_tensor_free(x), gan_tensor_free(dy);
        gan_model_free(m);
    }
    gan_context_free(ctx);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gan_bench [options]\n"
            "  --threads N   CPU threads (default: all cores)\n"
            "  --batch N     batch size (default 128)\n"
            "  --repeat N    timed repetitions, best is shown (default 5)\n"
            "  --model NAME  only the layers of gan, dcgan or dcgan64\n"
            "  --gemm-only   only the GEMM table\n"
            "  --layers-only only the layer table\n"
            "  --help        this text\n");
}

static int parse_int(const char *flag, const char *value, int min)
{
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || *end || v < min || v > 1000000) {
        fprintf(stderr, "gan_bench: %s needs an integer >= %d, got '%s'\n", flag, min,
                value ? value : "");
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    int threads = 0, batch = 128, repeat = 5;
    bool gemm = true, layers = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads")) threads = parse_int(a, v, 0), i++;
        else if (!strcmp(a, "--batch")) batch = parse_int(a, v, 2), i++;
        else if (!strcmp(a, "--repeat")) repeat = parse_int(a, v, 1), i++;
        else if (!strcmp(a, "--model")) {
            if (!v || (strcmp(v, "gan") && strcmp(v, "dcgan") && strcmp(v, "dcgan64"))) {
                fprintf(stderr, "gan_bench: --model takes gan, dcgan or dcgan64\n");
                return 2;
            }
            model_filter = v, i++;
        } else if (!strcmp(a, "--gemm-only")) layers = false;
        else if (!strcmp(a, "--layers-only")) gemm = false;
        else if (!strcmp(a, "--help")) { usage(stdout); return 0; }
        else {
            fprintf(stderr, "gan_bench: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    gan_context_params cp = gan_context_default_params();
    cp.num_threads = threads;
    gan_context *ctx;
    if (gan_context_create(&cp, &ctx, NULL, 0) != GAN_OK) {
        fprintf(stderr, "gan_bench: cannot create a CPU context\n");
        return 1;
    }
    threads = gan_context_num_threads(ctx);
    gan_context_free(ctx);
    if (gemm)
        bench_gemm(threads, batch, repeat);
    if (layers)
        bench_layers(threads, batch, repeat);
    return 0;
}
