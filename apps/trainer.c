/* trainer.c - GAN training as the PyTorch DCGAN tutorials do it: per batch,
 * one discriminator step on real and fake images, then one generator step;
 * BCE on logits, Adam. Writes sample grids, metrics.csv and a checkpoint
 * that resumes exactly. */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include "backend_select.h"
#include "checkpoint.h"
#include "dataset.h"
#include "images.h"
#include "models.h"
#include "options.h"
#include "train_step.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { SAMPLE_COUNT = 64, SAMPLE_COLUMNS = 8 };

typedef struct config {
    const char *model, *data_dir, *out_dir, *resume_dir, *backend;
    int device, epochs, batch, threads, log_every;
    int64_t max_steps, sample_every, seed;
    float lr, beta1, beta2, rotate;
    bool no_verify, list_devices;
} config;

typedef struct run {
    config cfg;
    const char *program;
    const dataset_source *source;
    const model_spec *spec;
    gan_context *ctx;
    dataset data;
    gan_model *g, *d;
    gan_optimizer *og, *od;
    gan_tensor *real, *z, *fixed_z, *ones, *zeros, *dlogits;
    float *host_batch, *host_samples;
    uint32_t *order;
    int64_t epoch, step_in_epoch, global_step;
    int steps_per_epoch;
    char out_dir[900];
    FILE *csv;
    bool tty;
    double started, last_draw;
} run;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prints the library's message for a failed call and says so. */
static bool ok(run *r, gan_status st, const char *what)
{
    if (st == GAN_OK)
        return true;
    fprintf(stderr, "%s: %s: %s\n", r->program, what, gan_context_error(r->ctx)[0] ? gan_context_error(r->ctx) : gan_strerror(st));
    return false;
}

static bool make_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return false;
            *p = '/';
        }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* ------------------------------------------------------------- summary */

static void print_model(const char *title, gan_model *m, int ndim, const int *in_shape)
{
    printf("%s\n  %-3s %-72s %-18s %10s\n", title, "#", "layer", "output", "params");
    size_t *params = calloc(gan_model_layer_count(m), sizeof *params);
    for (size_t i = 0; params && i < gan_model_entry_count(m); i++) {
        gan_entry e;
        if (gan_model_entry(m, i, &e) == GAN_OK && e.kind == GAN_ENTRY_PARAMETER)
            params[strtoul(e.name, NULL, 10)] += gan_tensor_numel(e.value);
    }
    for (size_t i = 0; i < gan_model_layer_count(m); i++) {
        char desc[160], shape[64] = "?";
        int out_ndim, out[GAN_MAX_DIMS];
        gan_layer_describe(gan_model_layer(m, i), desc, sizeof desc);
        if (gan_model_layer_output_shape(m, i, ndim, in_shape, &out_ndim, out) == GAN_OK) {
            int len = snprintf(shape, sizeof shape, "[");
            for (int k = 0; k < out_ndim; k++)
                len += snprintf(shape + len, sizeof shape - (size_t)len, k ? ", %d" : "%d", out[k]);
            snprintf(shape + len, sizeof shape - (size_t)len, "]");
        }
        printf("  %-3zu %-72.72s %-18s %10zu\n", i, desc, shape, params ? params[i] : 0);
    }
    printf("  total parameters: %zu\n", gan_model_parameter_count(m));
    free(params);
}

static void print_summary(run *r)
{
    const config *c = &r->cfg;
    const int s = r->spec->image_size;
    const int z4[4] = {c->batch, r->spec->z_dim, 1, 1}, img[4] = {c->batch, 1, s, s};
    printf("libgan %d.%d.%d: training %s (%s) on %s\n", GAN_VERSION_MAJOR, GAN_VERSION_MINOR,
           GAN_VERSION_PATCH, r->spec->name, r->spec->description, r->source->title);
    print_model("Generator", r->g, r->spec->z_ndim, z4);
    print_model("Discriminator", r->d, 4, img);
    printf("Configuration\n"
           "  data          %s (%d images of %dx%d%s)\n"
           "  backend       %s, %d thread(s)\n"
           "  batch         %d, %d steps per epoch, %d epoch(s)%s\n"
           "  optimizer     Adam lr %g, betas (%g, %g); BCE on logits\n"
           "  augmentation  %s\n"
           "  seed          %" PRId64 "\n"
           "  output        %s\n",
           r->data.dir, r->data.count, r->data.height, r->data.width,
           s != r->data.height ? ", resized" : "", gan_context_backend_name(r->ctx),
           gan_context_num_threads(r->ctx), c->batch, r->steps_per_epoch, c->epochs,
           c->max_steps ? " (stopping at --max-steps)" : "", c->lr, c->beta1, c->beta2,
           c->rotate > 0 ? "random rotation" : "none", c->seed, r->out_dir);
    if (c->rotate > 0)
        printf("                up to %g degrees\n", c->rotate);
    if (r->global_step)
        printf("  resumed at    epoch %" PRId64 ", step %" PRId64 "\n", r->epoch + 1, r->global_step);
    fflush(stdout);
}

/* -------------------------------------------------------- checkpointing */

static bool collect_entries(run *r, entry_list *list)
{
    return entry_list_add_model(list, "generator.", r->g) &&
           entry_list_add_model(list, "discriminator.", r->d) &&
           entry_list_add_optimizer(list, "optimizer_g.", r->og) &&
           entry_list_add_optimizer(list, "optimizer_d.", r->od);
}

static bool save_checkpoint(run *r)
{
    const config *c = &r->cfg;
    char v[16][64], rng_text[80], path[1000];
    uint64_t rng[4];
    gan_random_get_state(r->ctx, rng);
    snprintf(rng_text, sizeof rng_text, "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64,
             rng[0], rng[1], rng[2], rng[3]);
    snprintf(v[0], 64, "%d", c->batch);
    snprintf(v[1], 64, "%.9g", c->lr);
    snprintf(v[2], 64, "%.9g", c->beta1);
    snprintf(v[3], 64, "%.9g", c->beta2);
    snprintf(v[4], 64, "%.9g", c->rotate);
    snprintf(v[5], 64, "%" PRId64, c->seed);
    snprintf(v[6], 64, "%d", c->epochs);
    snprintf(v[7], 64, "%" PRId64, r->epoch);
    snprintf(v[8], 64, "%" PRId64, r->step_in_epoch);
    snprintf(v[9], 64, "%" PRId64, r->global_step);
    snprintf(v[10], 64, "%d", r->spec->z_dim);
    snprintf(v[11], 64, "%d", r->spec->image_size);
    const char *meta[][2] = {
        {"format", "libgan-training-checkpoint-1"}, {"model", r->spec->name},
        {"dataset", r->source->key}, {"batch", v[0]}, {"lr", v[1]}, {"beta1", v[2]},
        {"beta2", v[3]}, {"rotate", v[4]}, {"seed", v[5]}, {"epochs", v[6]}, {"epoch", v[7]},
        {"step_in_epoch", v[8]}, {"global_step", v[9]}, {"z_dim", v[10]}, {"image_size", v[11]},
        {"rng_state", rng_text},
    };
    entry_list list = {0};
    if (!collect_entries(r, &list)) {
        fprintf(stderr, "%s: out of memory\n", r->program);
        entry_list_free(&list);
        return false;
    }
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out_dir);
    bool saved = ok(r, gan_safetensors_save(r->ctx, path, list.items, list.count, meta,
                                            sizeof meta / sizeof meta[0]), "saving the checkpoint");
    entry_list_free(&list);
    if (saved && r->csv)
        fflush(r->csv);
    return saved;
}

static bool meta_int(run *r, gan_safetensors *st, const char *key, int64_t *out)
{
    const char *v = gan_safetensors_meta(st, key);
    char *end;
    if (v) {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!errno && *v && !*end && x >= 0) {
            *out = x;
            return true;
        }
    }
    fprintf(stderr, "%s: the checkpoint's metadata lacks a valid '%s'\n", r->program, key);
    return false;
}

static bool meta_float(run *r, gan_safetensors *st, const char *key, float *out)
{
    const char *v = gan_safetensors_meta(st, key);
    char *end;
    if (v) {
        float x = strtof(v, &end);
        if (*v && !*end) {
            *out = x;
            return true;
        }
    }
    fprintf(stderr, "%s: the checkpoint's metadata lacks a valid '%s'\n", r->program, key);
    return false;
}

/* Takes the run's settings from the checkpoint; a flag given on the command
 * line that disagrees is an error rather than a silent change. */
static bool adopt_settings(run *r, gan_safetensors *st, option *opts, int n_opts)
{
    config *c = &r->cfg;
    const char *format = gan_safetensors_meta(st, "format");
    if (!format || strcmp(format, "libgan-training-checkpoint-1") != 0) {
        fprintf(stderr, "%s: %s/checkpoint.safetensors is not a libgan training checkpoint\n",
                r->program, c->resume_dir);
        return false;
    }
    const char *model = gan_safetensors_meta(st, "model"), *ds = gan_safetensors_meta(st, "dataset");
    if (!model || !model_find(model) || !ds) {
        fprintf(stderr, "%s: the checkpoint names no known model or data set\n", r->program);
        return false;
    }
    if (strcmp(ds, r->source->key) != 0) {
        fprintf(stderr, "%s: the checkpoint was trained on %s, this program trains on %s\n",
                r->program, ds, r->source->key);
        return false;
    }
    if (options_find(opts, n_opts, "--model")->given && strcmp(c->model, model) != 0) {
        fprintf(stderr, "%s: --model %s differs from the checkpoint's %s\n", r->program, c->model, model);
        return false;
    }
    c->model = model_find(model)->name;
    int64_t batch, seed, epochs;
    float lr, b1, b2, rot;
    if (!meta_int(r, st, "batch", &batch) || !meta_int(r, st, "seed", &seed) ||
        !meta_int(r, st, "epochs", &epochs) || !meta_float(r, st, "lr", &lr) ||
        !meta_float(r, st, "beta1", &b1) || !meta_float(r, st, "beta2", &b2) ||
        !meta_float(r, st, "rotate", &rot))
        return false;
    struct { const char *flag; double given, stored; } checks[] = {
        {"--batch", c->batch, (double)batch}, {"--seed", (double)c->seed, (double)seed},
        {"--lr", c->lr, lr}, {"--beta1", c->beta1, b1}, {"--beta2", c->beta2, b2},
        {"--rotate", c->rotate, rot},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (options_find(opts, n_opts, checks[i].flag)->given && checks[i].given != checks[i].stored) {
            fprintf(stderr, "%s: %s %g differs from the checkpoint's %g\n", r->program,
                    checks[i].flag, checks[i].given, checks[i].stored);
            return false;
        }
    c->batch = (int)batch, c->seed = seed, c->lr = lr, c->beta1 = b1, c->beta2 = b2, c->rotate = rot;
    if (!options_find(opts, n_opts, "--epochs")->given)
        c->epochs = (int)epochs;
    return true;
}

static bool restore_state(run *r, gan_safetensors *st)
{
    entry_list list = {0};
    bool loaded = collect_entries(r, &list) && entry_list_load(st, &list);
    entry_list_free(&list);
    if (!loaded) {
        fprintf(stderr, "%s: cannot resume: %s\n", r->program, gan_context_error(r->ctx));
        return false;
    }
    uint64_t rng[4];
    const char *text = gan_safetensors_meta(st, "rng_state");
    if (!text || sscanf(text, "%16" SCNx64 ":%16" SCNx64 ":%16" SCNx64 ":%16" SCNx64, &rng[0], &rng[1],
                        &rng[2], &rng[3]) != 4 ||
        gan_random_set_state(r->ctx, rng) != GAN_OK) {
        fprintf(stderr, "%s: the checkpoint's rng_state is missing or invalid\n", r->program);
        return false;
    }
    if (!meta_int(r, st, "epoch", &r->epoch) || !meta_int(r, st, "step_in_epoch", &r->step_in_epoch) ||
        !meta_int(r, st, "global_step", &r->global_step))
        return false;
    if (r->step_in_epoch >= r->steps_per_epoch) {
        fprintf(stderr, "%s: the checkpoint stopped at step %" PRId64 " of an epoch of %d steps: "
                        "another data set size?\n", r->program, r->step_in_epoch, r->steps_per_epoch);
        return false;
    }
    return true;
}

/* --------------------------------------------------------- metrics file */

/* Opens metrics.csv for appending; on resume, first drops rows written
 * after the checkpoint so the file matches the state it resumes from. */
static bool open_metrics(run *r)
{
    char path[1000], tmp[1100];
    snprintf(path, sizeof path, "%s/metrics.csv", r->out_dir);
    const char *header = "epoch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,seconds\n";
    if (r->global_step > 0 && file_exists(path)) {
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
        char line[512];
        bool good = in && out;
        while (good && fgets(line, sizeof line, in)) {
            long long epoch, step;
            if (sscanf(line, "%lld,%lld,", &epoch, &step) == 2 && step > r->global_step)
                break;
            good = fputs(line, out) >= 0;
        }
        if (in)
            fclose(in);
        good = out && fclose(out) == 0 && good && rename(tmp, path) == 0;
        if (!good) {
            fprintf(stderr, "%s: cannot rewrite %s: %s\n", r->program, path, strerror(errno));
            return false;
        }
    }
    bool fresh = !file_exists(path);
    r->csv = fopen(path, "a");
    if (!r->csv) {
        fprintf(stderr, "%s: cannot open %s: %s\n", r->program, path, strerror(errno));
        return false;
    }
    if (fresh)
        fputs(header, r->csv);
    return true;
}

/* ------------------------------------------------------------- training */

static bool write_samples(run *r, const char *name)
{
    const gan_tensor *images;
    gan_model_set_training(r->g, 0); /* running statistics: sampling leaves training untouched */
    gan_status st = gan_model_forward(r->g, r->fixed_z, &images);
    gan_model_set_training(r->g, 1);
    const size_t n = (size_t)SAMPLE_COUNT * r->spec->image_size * r->spec->image_size;
    if (!ok(r, st, "sampling") || !ok(r, gan_tensor_read(images, r->host_samples, n), "reading samples"))
        return false;
    char path[1100], err[1200];
    snprintf(path, sizeof path, "%s/samples/%s.png", r->out_dir, name);
    if (!images_write_grid(path, r->host_samples, SAMPLE_COUNT, r->spec->image_size, SAMPLE_COLUMNS, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", r->program, err);
        return false;
    }
    return true;
}

/* Assembles the next batch and runs one GAN step on it. */
static bool train_step(run *r, step_stats *s)
{
    const config *c = &r->cfg;
    const int size = r->spec->image_size;
    const uint32_t *idx = r->order + (size_t)r->step_in_epoch * c->batch;
    dataset_batch(r->ctx, &r->data, idx, c->batch, size, c->rotate, r->host_batch);
    gan_pair pair = {r->g, r->d, r->og, r->od, r->ones, r->zeros, r->dlogits};
    return ok(r, gan_tensor_write(r->real, r->host_batch, (size_t)c->batch * size * size), "batch") &&
           ok(r, gan_tensor_fill_normal(r->z, 0.0f, 1.0f), "noise") &&
           ok(r, train_step_run(r->ctx, &pair, r->real, r->z, s), "training step");
}

static void format_duration(double seconds, char *buf, size_t size)
{
    long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static void report(run *r, const step_stats *s, int64_t done_this_run, bool last_of_epoch)
{
    const config *c = &r->cfg;
    const double now = now_seconds(), elapsed = now - r->started;
    const double rate = elapsed > 0 ? (double)done_this_run * c->batch / elapsed : 0.0;
    const int64_t step = r->step_in_epoch + 1;
    char eta[32];
    format_duration(rate > 0 ? (double)(r->steps_per_epoch - step) * c->batch / rate : 0, eta, sizeof eta);
    if (r->tty) {
        if (!last_of_epoch && now - r->last_draw < 0.1)
            return;
        r->last_draw = now;
        enum { WIDTH = 24 };
        char bar[WIDTH + 1];
        const int filled = (int)(WIDTH * step / r->steps_per_epoch);
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[WIDTH] = '\0';
        printf("\repoch %" PRId64 "/%d [%s] %" PRId64 "/%d %6.0f img/s ETA %s  loss_D %.4f loss_G %.4f "
               "D(x) %.3f D(G(z)) %.3f/%.3f\033[K",
               r->epoch + 1, c->epochs, bar, step, r->steps_per_epoch, rate, eta, s->loss_d, s->loss_g,
               s->d_x, s->d_g_z1, s->d_g_z2);
        if (last_of_epoch)
            printf("\n");
        fflush(stdout);
    } else if (last_of_epoch || step % c->log_every == 0) {
        printf("epoch %" PRId64 "/%d step %" PRId64 "/%d  %.0f img/s  ETA %s  loss_D %.4f loss_G %.4f "
               "D(x) %.3f D(G(z)) %.3f/%.3f\n",
               r->epoch + 1, c->epochs, step, r->steps_per_epoch, rate, eta, s->loss_d, s->loss_g,
               s->d_x, s->d_g_z1, s->d_g_z2);
        fflush(stdout);
    }
}

static bool train(run *r)
{
    const config *c = &r->cfg;
    int64_t done_this_run = 0;
    r->started = now_seconds();
    for (; r->epoch < c->epochs; r->epoch++) {
        dataset_permutation((uint64_t)c->seed, r->epoch, r->data.count, r->order);
        const double epoch_start = now_seconds();
        for (; r->step_in_epoch < r->steps_per_epoch; r->step_in_epoch++) {
            if (c->max_steps && r->global_step >= c->max_steps) {
                if (r->tty)
                    printf("\n");
                printf("stopped at --max-steps %" PRId64 "\n", c->max_steps);
                return save_checkpoint(r);
            }
            step_stats s;
            if (!train_step(r, &s))
                return false;
            r->global_step++;
            done_this_run++;
            fprintf(r->csv, "%" PRId64 ",%" PRId64 ",%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", r->epoch + 1,
                    r->global_step, s.loss_d, s.loss_g, s.d_x, s.d_g_z1, s.d_g_z2,
                    now_seconds() - r->started);
            report(r, &s, done_this_run, r->step_in_epoch + 1 == r->steps_per_epoch);
            char name[32];
            snprintf(name, sizeof name, "step_%07" PRId64, r->global_step);
            if (c->sample_every && r->global_step % c->sample_every == 0 && !write_samples(r, name))
                return false;
        }
        r->step_in_epoch = 0;
        char name[32];
        snprintf(name, sizeof name, "epoch_%03" PRId64, r->epoch + 1);
        const double took = now_seconds() - epoch_start;
        r->epoch++; /* the checkpoint records the epochs completed */
        const bool saved = write_samples(r, name) && save_checkpoint(r);
        r->epoch--;
        if (!saved)
            return false;
        printf("epoch %" PRId64 " done in %.1f s: samples/%s.png, checkpoint.safetensors\n", r->epoch + 1,
               took, name);
        fflush(stdout);
    }
    return true;
}

/* ----------------------------------------------------------------- setup */

static bool setup(run *r)
{
    config *c = &r->cfg;
    char err[2048];
    if (!dataset_load(r->ctx, r->source, c->data_dir, !c->no_verify, &r->data, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", r->program, err);
        return false;
    }
    r->steps_per_epoch = r->data.count / c->batch; /* the last partial batch is dropped */
    if (r->steps_per_epoch < 1) {
        fprintf(stderr, "%s: %d images make no batch of %d\n", r->program, r->data.count, c->batch);
        return false;
    }
    /* fixed noise first, then the models: the same seed gives the same both,
     * also when resuming (the checkpoint then replaces the weights) */
    gan_random_seed(r->ctx, (uint64_t)c->seed);
    const int zd = r->spec->z_dim, size = r->spec->image_size;
    const int zs[4] = {c->batch, zd, 1, 1}, fixed[4] = {SAMPLE_COUNT, zd, 1, 1};
    const int img[4] = {c->batch, 1, size, size}, lab[2] = {c->batch, 1};
    gan_adam_params ap = {c->lr, c->beta1, c->beta2, 1e-8f, 0.0f};
    if (!ok(r, gan_tensor_create(r->ctx, r->spec->z_ndim, fixed, &r->fixed_z), "tensor") ||
        !ok(r, gan_tensor_fill_normal(r->fixed_z, 0.0f, 1.0f), "fixed noise") ||
        !ok(r, model_build(r->ctx, r->spec, &r->g, &r->d), "building the models") ||
        !ok(r, gan_optimizer_adam_create(r->g, &ap, &r->og), "Adam for G") ||
        !ok(r, gan_optimizer_adam_create(r->d, &ap, &r->od), "Adam for D") ||
        !ok(r, gan_tensor_create(r->ctx, r->spec->z_ndim, zs, &r->z), "tensor") ||
        !ok(r, gan_tensor_create(r->ctx, 4, img, &r->real), "tensor") ||
        !ok(r, gan_tensor_create(r->ctx, 2, lab, &r->ones), "tensor") ||
        !ok(r, gan_tensor_create(r->ctx, 2, lab, &r->zeros), "tensor") ||
        !ok(r, gan_tensor_create(r->ctx, 2, lab, &r->dlogits), "tensor") ||
        !ok(r, gan_tensor_fill(r->ones, 1.0f), "labels"))
        return false;
    r->host_batch = malloc(sizeof(float) * (size_t)c->batch * size * size);
    r->host_samples = malloc(sizeof(float) * (size_t)SAMPLE_COUNT * size * size);
    r->order = malloc(sizeof(uint32_t) * (size_t)r->data.count);
    if (!r->host_batch || !r->host_samples || !r->order) {
        fprintf(stderr, "%s: out of memory\n", r->program);
        return false;
    }
    return true;
}

static void teardown(run *r)
{
    if (r->csv)
        fclose(r->csv);
    free(r->host_batch), free(r->host_samples), free(r->order);
    gan_tensor_free(r->real), gan_tensor_free(r->z), gan_tensor_free(r->fixed_z);
    gan_tensor_free(r->ones), gan_tensor_free(r->zeros), gan_tensor_free(r->dlogits);
    gan_optimizer_free(r->og), gan_optimizer_free(r->od);
    gan_model_free(r->g), gan_model_free(r->d);
    dataset_free(&r->data);
    gan_context_free(r->ctx);
}

int trainer_main(int argc, char **argv, const char *dataset_key)
{
    run r;
    memset(&r, 0, sizeof r);
    r.program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    r.source = dataset_source_find(dataset_key);
    config *c = &r.cfg;
    *c = (config){.model = "dcgan", .backend = "cpu", .epochs = 5, .batch = 128, .log_every = 50,
                  .seed = 1, .lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f};
    option opts[] = {
        {"--model", OPT_STRING, &c->model, 0, 0, "gan, dcgan or dcgan64", false},
        {"--data", OPT_STRING, &c->data_dir, 0, 0, "folder with the IDX files (raw or .gz)", false},
        {"--out", OPT_STRING, &c->out_dir, 0, 0, "output folder (none: runs/DATASET-MODEL-TIME)", false},
        {"--resume", OPT_STRING, &c->resume_dir, 0, 0, "continue the run in this folder", false},
        {"--epochs", OPT_INT, &c->epochs, 1, 100000, "epochs to train", false},
        {"--max-steps", OPT_INT64, &c->max_steps, 0, 1e15, "stop after this many steps in all (0: no limit)", false},
        {"--batch", OPT_INT, &c->batch, 2, 65536, "batch size", false},
        {"--lr", OPT_FLOAT, &c->lr, 0, 1, "Adam learning rate", false},
        {"--beta1", OPT_FLOAT, &c->beta1, 0, 0.999999, "Adam beta1", false},
        {"--beta2", OPT_FLOAT, &c->beta2, 0, 0.999999, "Adam beta2", false},
        {"--rotate", OPT_FLOAT, &c->rotate, 0, 180, "random rotation of real images, up to this many degrees", false},
        {"--seed", OPT_INT64, &c->seed, 0, 9e15, "random seed", false},
        {"--threads", OPT_INT, &c->threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &c->backend, 0, 0, "cpu or opencl", false},
        {"--device", OPT_INT, &c->device, 0, 1024, "device index for --backend opencl", false},
        {"--list-devices", OPT_FLAG, &c->list_devices, 0, 0, "list the OpenCL platforms and devices, then exit", false},
        {"--sample-every", OPT_INT64, &c->sample_every, 0, 1e15, "also write a sample grid every N steps (0: only per epoch)", false},
        {"--log-every", OPT_INT, &c->log_every, 1, 1000000, "steps between lines when output is not a terminal", false},
        {"--no-verify", OPT_FLAG, &c->no_verify, 0, 0, "accept data files whose SHA-256 is not the published one", false},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    char summary[256];
    snprintf(summary, sizeof summary, "Trains a GAN or DCGAN on %s and writes sample grids, metrics.csv and a checkpoint.",
             r.source->title);
    switch (options_parse(opts, n_opts, argc, argv, r.program, summary)) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (c->list_devices)
        return backend_list_devices(r.program);
    gan_safetensors *resume = NULL;
    int status = 1;
    if (!(r.ctx = backend_context(r.program, c->backend, c->device, c->threads, 0)))
        return 1;
    if (c->resume_dir) {
        if (options_find(opts, n_opts, "--out")->given && strcmp(c->out_dir, c->resume_dir) != 0) {
            fprintf(stderr, "%s: --resume continues in its own folder; drop --out\n", r.program);
            goto done;
        }
        char path[1000];
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", c->resume_dir);
        if (!ok(&r, gan_safetensors_open(r.ctx, path, &resume), "cannot resume") ||
            !adopt_settings(&r, resume, opts, n_opts))
            goto done;
        snprintf(r.out_dir, sizeof r.out_dir, "%s", c->resume_dir);
    } else if (c->out_dir) {
        snprintf(r.out_dir, sizeof r.out_dir, "%s", c->out_dir);
    } else {
        char stamp[32];
        time_t t = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(r.out_dir, sizeof r.out_dir, "runs/%s-%s-%s", r.source->key, c->model, stamp);
    }
    if (!(r.spec = model_find(c->model))) {
        fprintf(stderr, "%s: --model takes %s, not '%s'\n", r.program, model_names(), c->model);
        goto done;
    }
    char probe[1000];
    snprintf(probe, sizeof probe, "%s/checkpoint.safetensors", r.out_dir);
    if (!resume && file_exists(probe)) {
        fprintf(stderr, "%s: %s already holds a checkpoint: continue it with --resume %s, or choose another --out\n",
                r.program, r.out_dir, r.out_dir);
        goto done;
    }
    snprintf(probe, sizeof probe, "%s/samples", r.out_dir);
    if (!make_dirs(probe)) {
        fprintf(stderr, "%s: cannot create %s: %s\n", r.program, probe, strerror(errno));
        goto done;
    }
    if (!setup(&r) || (resume && !restore_state(&r, resume)))
        goto done;
    gan_safetensors_close(resume);
    resume = NULL;
    r.tty = isatty(STDOUT_FILENO);
    print_summary(&r);
    if (!open_metrics(&r) || !train(&r))
        goto done;
    printf("done: %s/samples holds the sample grids, %s/checkpoint.safetensors the model\n", r.out_dir, r.out_dir);
    status = 0;
done:
    gan_safetensors_close(resume);
    teardown(&r);
    return status;
}
