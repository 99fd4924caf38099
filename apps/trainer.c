/* trainer.c - the training program behind train_mnist, train_fashion and
 * train_images: a front end to the library's trainer, sampler and
 * checkpoints. It reads the flags, finds and verifies the data (an IDX data
 * set or a folder of images), draws the progress, and keeps the run folder:
 * sample grids, metrics.csv and a checkpoint that resumes exactly. */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include "backend_select.h"
#include "dataset.h"
#include "distributed.h"
#include "evaluation.h"
#include "files.h"
#include "image_folder.h"
#include "images.h"
#include "options.h"
#include "progress_gif.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { SAMPLE_COUNT = 64, SAMPLE_COLUMNS = 8, PATH_MAX_LEN = 800 };

typedef struct config {
    const char *model, *data_dir, *out_dir, *resume_dir, *backend, *classifier, *recipe;
    int device, epochs, batch, threads, log_every, channels, eval_every, eval_count;
    int64_t max_steps, sample_every, seed, cache_limit_mib;
    float lr, lr_g, lr_d, beta1, beta2, rotate, gif_delay, label_smooth, ema, mode_seeking;
    bool no_verify, list_devices, no_tensorboard, flip, no_eval;
} config;

/* A named set of the training aids' settings, for a data set and model
 * (NULL: any). A flag given on the command line overrides its recipe's
 * value (--lr both learning rates). */
typedef struct recipe {
    const char *name, *dataset, *model;
    float lr_g, lr_d, label_smooth, ema, mode_seeking;
} recipe;

/* The first entry that fits serves. "best": of each measured pair's
 * settings, the lowest median FID over seeds 1-3 at 5 epochs among those
 * that keep every class at 5% of the samples on every seed (README,
 * "Sample quality"). */
static const recipe recipes[] = {
    {"tutorial", NULL, NULL, 2e-4f, 2e-4f, 0.0f, 0.0f, 0.0f}, /* the PyTorch DCGAN tutorials' */
    {"best", "mnist", "dcgan", 6e-4f, 2e-4f, 0.0f, 0.99f, 0.0f},
    {"best", "mnist", "gan", 1.6e-3f, 8e-4f, 0.2f, 0.99f, 0.0f},
    {"best", "fashion-mnist", "dcgan", 3e-4f, 2e-4f, 0.0f, 0.995f, 0.35f},
    {"best", NULL, NULL, 2e-4f, 2e-4f, 0.0f, 0.99f, 0.0f},    /* what was not measured */
};

static const char *recipe_names(void) { return "tutorial, best"; }

/* The recipe called name for a data set and model; NULL: no recipe has
 * that name. */
static const recipe *recipe_find(const char *name, const char *set_key, const char *model)
{
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        const recipe *rc = &recipes[i];
        if (strcmp(rc->name, name) == 0 && (!rc->dataset || strcmp(rc->dataset, set_key) == 0) &&
            (!rc->model || strcmp(rc->model, model) == 0))
            return rc;
    }
    return NULL;
}

/* What the run trains on: an IDX data set or a folder of images. */
typedef struct training_set {
    const char *key, *title;  /* "mnist", "MNIST"; "images", "an image folder" */
    const char *dir;
    const uint8_t *images;    /* [count][height][width][channels]; NULL: decoded a batch at a time */
    int count, height, width, channels;
} training_set;

typedef struct run {
    config cfg;
    const char *program;
    char program_name[96];        /* "train_mnist (process 1 of 2)" for processes after the first */
    distributed dist;
    bool lead;                    /* process 0, the one that prints and writes the run folder */
    const dataset_source *source; /* NULL for a folder of images */
    gan_models_info model;
    gan_context *ctx;
    dataset data;                 /* an IDX data set's files */
    image_folder *folder;         /* or the folder's images */
    char folder_dir[PATH_MAX_LEN + 1];
    training_set set;
    int *batch_indices;           /* a folder's next batch, decoded while a step runs */
    bool batch_requested;
    gan_trainer *trainer;
    gan_sampler *sampler;
    gan_tensor *real, *z, *fixed_z;   /* real and z: this process's share of the batch */
    float *noise;                     /* the whole batch's noise, of which z is a share */
    int share, first;                 /* this process's images of each batch: [first, first + share) */
    float *host_samples;
    int64_t epoch, step_in_epoch, global_step;
    int steps_per_epoch;
    char out_dir[PATH_MAX_LEN + 1];
    FILE *csv;
    gan_summary_writer *events; /* NULL with --no-tensorboard */
    evaluation *eval;           /* scores the generator; NULL when off or without a classifier */
    char eval_note[PATH_MAX_LEN + 256]; /* what it does, or why there is none, for the summary */
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
    const gan_models_info *m = &r->model;
    const int s = m->image_size;
    const int z4[4] = {c->batch, m->z_dim, 1, 1}, img[4] = {c->batch, m->channels, s, s};
    const training_set *t = &r->set;
    printf("libgan %d.%d.%d: training %s (%s) on %s\n", GAN_VERSION_MAJOR, GAN_VERSION_MINOR,
           GAN_VERSION_PATCH, m->name, m->description, t->title);
    print_model("Generator", gan_trainer_generator(r->trainer), m->z_ndim, z4);
    print_model("Discriminator", gan_trainer_discriminator(r->trainer), 4, img);
    char data[256];
    if (r->folder) {
        const image_folder_info in = image_folder_describe(r->folder);
        snprintf(data, sizeof data, "%d images, %d channel(s), centre-cropped and resized to %dx%d; %s %.1f MiB%s",
                 in.count, in.channels, s, s, in.cached ? "decoded into memory:" : "decoded a batch at a time "
                 "by a background thread (more than --cache-limit):", (double)in.bytes / (1 << 20),
                 in.skipped ? "; files skipped: see the warnings" : "");
    } else {
        snprintf(data, sizeof data, "%d images of %dx%d%s", t->count, t->height, t->width,
                 s != t->height ? ", resized" : "");
    }
    char augment[64];
    snprintf(augment, sizeof augment, "%s%s%s", c->rotate > 0 ? "random rotation" : "",
             c->rotate > 0 && c->flip ? ", " : "", c->flip ? "random horizontal flip" : "");
    char mode_seeking[64] = "";
    if (c->mode_seeking > 0)
        snprintf(mode_seeking, sizeof mode_seeking, ", mode seeking %g", c->mode_seeking);
    printf("Configuration\n"
           "  data          %s (%s)\n"
           "  backend       %s, %d thread(s)\n"
           "  batch         %d, %d steps per epoch, %d epoch(s)%s\n"
           "  recipe        %s\n"
           "  optimizer     Adam lr G %g, D %g, betas (%g, %g); BCE on logits, real label %g%s%s\n"
           "  augmentation  %s\n"
           "  seed          %" PRId64 "\n"
           "  output        %s\n"
           "  TensorBoard   %s\n"
           "  evaluation    %s\n",
           t->dir, data, gan_context_backend_name(r->ctx),
           gan_context_num_threads(r->ctx), c->batch, r->steps_per_epoch, c->epochs,
           c->max_steps ? " (stopping at --max-steps)" : "", c->recipe, c->lr_g, c->lr_d, c->beta1, c->beta2,
           1.0f - c->label_smooth, mode_seeking, c->ema > 0 ? "; samples from G's moving average" : "",
           augment[0] ? augment : "none", c->seed, r->out_dir,
           r->events ? gan_summary_path(r->events) : "off (--no-tensorboard)", r->eval_note);
    if (c->rotate > 0)
        printf("                up to %g degrees\n", c->rotate);
    if (r->dist.size > 1) {
        const int fewest = c->batch / r->dist.size, most = (c->batch + r->dist.size - 1) / r->dist.size;
        printf("  processes     %d, data-parallel over MPI: %d%s%.0d images of each batch per process, gradients "
               "averaged\n", r->dist.size, fewest, most > fewest ? " or " : "", most > fewest ? most : 0);
    }
    if (r->global_step)
        printf("  resumed at    epoch %" PRId64 ", step %" PRId64 "\n", r->epoch + 1, r->global_step);
    fflush(stdout);
}

/* --------------------------------------------------------- metrics file */

static const char metrics_header[] = "epoch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,seconds\n";

/* A whole row of metrics.csv for step `step`: its newline, 8 fields, and
 * the step in its second. */
static bool metrics_row(const char *line, int64_t step)
{
    long long e, st;
    int fields = 1;
    for (const char *p = line; *p; p++)
        fields += *p == ',';
    const size_t len = strlen(line);
    return len > 0 && line[len - 1] == '\n' && fields == 8 && sscanf(line, "%lld,%lld,", &e, &st) == 2 &&
           st == step;
}

/* Rewrites metrics.csv to hold its header and one row per step done, 1 to
 * global_step, dropping what a kill left after the checkpoint (rows of later
 * steps, a half-written row), then opens it for appending. A fresh run
 * starts the file anew. */
static bool open_metrics(run *r)
{
    char path[PATH_MAX_LEN + 32], tmp[PATH_MAX_LEN + 40];
    snprintf(path, sizeof path, "%s/metrics.csv", r->out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = r->global_step > 0 ? fopen(path, "r") : NULL, *out = fopen(tmp, "w");
    bool good = out && fputs(metrics_header, out) >= 0;
    int64_t kept = 0;
    char line[512];
    if (in && fgets(line, sizeof line, in) && strcmp(line, metrics_header) == 0)
        while (good && kept < r->global_step && fgets(line, sizeof line, in) && metrics_row(line, kept + 1)) {
            good = fputs(line, out) >= 0;
            kept++;
        }
    if (in)
        fclose(in);
    good = out && fflush(out) == 0 && fsync(fileno(out)) == 0 && good;
    good = out && fclose(out) == 0 && good && rename(tmp, path) == 0;
    if (!good) {
        fprintf(stderr, "%s: cannot write %s: %s\n", r->program, path, strerror(errno));
        return false;
    }
    if (kept < r->global_step)
        fprintf(stderr, "%s: warning: %s held rows for steps 1 to %" PRId64 " only; steps %" PRId64 " to %" PRId64
                        " have none\n", r->program, path, kept, kept + 1, r->global_step);
    r->csv = fopen(path, "a");
    if (!r->csv) {
        fprintf(stderr, "%s: cannot open %s: %s\n", r->program, path, strerror(errno));
        return false;
    }
    return true;
}

/* Puts the rows written so far on disk, before a checkpoint that counts them. */
static bool sync_metrics(run *r)
{
    if (fflush(r->csv) == 0 && fsync(fileno(r->csv)) == 0)
        return true;
    fprintf(stderr, "%s: cannot write %s/metrics.csv: %s\n", r->program, r->out_dir, strerror(errno));
    return false;
}

/* -------------------------------------------------------- checkpointing */

static bool save_checkpoint(run *r)
{
    if (!r->lead)
        return true;
    const config *c = &r->cfg;
    char v[5][32], path[PATH_MAX_LEN + 32];
    snprintf(v[0], sizeof v[0], "%d", c->batch);
    snprintf(v[1], sizeof v[1], "%.9g", c->rotate);
    snprintf(v[2], sizeof v[2], "%" PRId64, c->seed);
    snprintf(v[3], sizeof v[3], "%d", c->epochs);
    snprintf(v[4], sizeof v[4], "%d", r->set.count);
    const char *meta[][2] = {
        {"dataset", r->set.key}, {"batch", v[0]}, {"rotate", v[1]}, {"seed", v[2]},
        {"epochs", v[3]}, {"dataset_images", v[4]}, {"flip", c->flip ? "1" : "0"}, {"recipe", c->recipe},
        {"data", r->set.dir}, /* a folder's, taken again by --resume */
    };
    const size_t n_meta = sizeof meta / sizeof meta[0] - (r->folder ? 0 : 1);
    const gan_checkpoint_position pos = {r->epoch, r->step_in_epoch};
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out_dir);
    return sync_metrics(r) && (!r->events || ok(r, gan_summary_flush(r->events), "TensorBoard log")) &&
           ok(r, gan_checkpoint_save(r->trainer, path, &pos, meta, n_meta), "saving the checkpoint");
}

/* A number option's value, read from value (an int, int64_t or float as
 * the option's type says), and that type's size. */
static double number_of(const option *o, const void *value)
{
    return o->type == OPT_INT ? *(const int *)value : o->type == OPT_INT64 ? (double)*(const int64_t *)value
                                                                        : *(const float *)value;
}

static size_t size_of(const option *o)
{
    return o->type == OPT_INT ? sizeof(int) : o->type == OPT_INT64 ? sizeof(int64_t) : sizeof(float);
}

/* A trainer setting the checkpoint holds: the flag, when given on resume,
 * must give the same value. */
static bool keeps_checkpoint_value(const run *r, const option *opts, int n_opts, const char *flag, float given,
                                   float kept)
{
    if (!options_find(opts, n_opts, flag)->given || given == kept)
        return true;
    fprintf(stderr, "%s: %s %g differs from the checkpoint's %g\n", r->program, flag, given, kept);
    return false;
}

/* The value the checkpoint stores under key, read as the flag `flag` reads
 * its value, with the same bounds, into the flag's variable unless the
 * command line gave it; a given flag must then agree, unless may_differ. */
static bool adopt(run *r, gan_checkpoint *ckpt, option *opts, int n_opts, const char *flag, const char *key,
                  bool may_differ)
{
    option *o = (option *)options_find(opts, n_opts, flag);
    union { int i; int64_t i64; float f; } stored;
    option copy = *o;
    copy.value = &stored;
    const char *text = gan_checkpoint_meta(ckpt, key);
    char what[64];
    snprintf(what, sizeof what, "the checkpoint's '%s'", key);
    if (!text) {
        fprintf(stderr, "%s: the checkpoint's metadata lacks '%s'\n", r->program, key);
        return false;
    }
    if (!options_read_value(&copy, text, r->program, what))
        return false;
    const double given = number_of(o, o->value), kept = number_of(o, &stored);
    if (o->given && given != kept && !may_differ) {
        fprintf(stderr, "%s: %s %g differs from the checkpoint's %g\n", r->program, flag, given, kept);
        return false;
    }
    if (!o->given)
        memcpy(o->value, &stored, size_of(o));
    return true;
}

/* Takes the run's settings from the checkpoint (validated as the flags
 * are); a flag given on the command line that disagrees is an error rather
 * than a silent change. --epochs may extend a run. */
static bool adopt_settings(run *r, gan_checkpoint *ckpt, option *opts, int n_opts)
{
    config *c = &r->cfg;
    gan_checkpoint_info info;
    gan_checkpoint_get_info(ckpt, &info);
    const char *ds = gan_checkpoint_meta(ckpt, "dataset");
    if (!info.has_model || !ds) {
        fprintf(stderr, "%s: the checkpoint names no model or data set: not one of train_mnist's, train_fashion's "
                        "or train_images'\n", r->program);
        return false;
    }
    if (strcmp(ds, r->set.key) != 0) {
        fprintf(stderr, "%s: the checkpoint was trained on %s, this program trains on %s\n", r->program, ds,
                r->set.key);
        return false;
    }
    if (options_find(opts, n_opts, "--model")->given && strcmp(c->model, info.model.name) != 0) {
        fprintf(stderr, "%s: --model %s differs from the checkpoint's %s\n", r->program, c->model, info.model.name);
        return false;
    }
    const char *named = gan_checkpoint_meta(ckpt, "recipe"); /* absent from checkpoints before --recipe */
    const recipe *kept = recipe_find(named ? named : "tutorial", r->set.key, info.model.name);
    if (!kept) {
        fprintf(stderr, "%s: the checkpoint's recipe '%s' is none of this program's (%s)\n", r->program, named,
                recipe_names());
        return false;
    }
    if (options_find(opts, n_opts, "--recipe")->given && strcmp(c->recipe, kept->name) != 0) {
        fprintf(stderr, "%s: --recipe %s differs from the checkpoint's %s\n", r->program, c->recipe, kept->name);
        return false;
    }
    c->recipe = kept->name;
    const char *flip = gan_checkpoint_meta(ckpt, "flip"); /* absent from checkpoints before --flip */
    const bool flipped = flip && strcmp(flip, "1") == 0;
    if (c->flip && !flipped) {
        fprintf(stderr, "%s: --flip differs from the checkpoint's run, which trained without flips\n", r->program);
        return false;
    }
    c->flip = flipped;
    if (!r->source) {
        const option *channels = options_find(opts, n_opts, "--channels");
        if (channels->given && c->channels && c->channels != info.model.channels) {
            fprintf(stderr, "%s: --channels %d differs from the checkpoint's %d\n", r->program, c->channels,
                    info.model.channels);
            return false;
        }
        c->channels = info.model.channels;
        if (!c->data_dir && !(c->data_dir = gan_checkpoint_meta(ckpt, "data"))) {
            fprintf(stderr, "%s: the checkpoint names no image folder: give it with --data\n", r->program);
            return false;
        }
    }
    gan_models_info own;
    const gan_models_params own_params = {.channels = r->source ? 1 : c->channels};
    gan_models_describe(info.model.name, &own_params, &own);
    if (info.model.z_dim != own.z_dim || info.model.image_size != own.image_size || info.model.channels != own.channels) {
        fprintf(stderr, "%s: the checkpoint's %s has latent size %d, %dx%d images and %d channel(s); this program "
                        "trains it with %d, %dx%d and %d\n", r->program, info.model.name, info.model.z_dim,
                info.model.image_size, info.model.image_size, info.model.channels, own.z_dim, own.image_size,
                own.image_size, own.channels);
        return false;
    }
    c->model = info.model.name;
    /* this program sets the learning rates and the real label, and leaves
     * eps and the other labels as the tutorial has them */
    const gan_trainer_params d = gan_trainer_default_params(), *p = &info.params;
    if (p->eps != d.eps || p->fake_label != d.fake_label || p->generator_label != d.generator_label) {
        fprintf(stderr, "%s: the checkpoint's trainer has another eps, fake label or generator label, which this "
                        "program does not set\n", r->program);
        return false;
    }
    if (options_find(opts, n_opts, "--lr")->given && (c->lr != p->lr_g || c->lr != p->lr_d)) {
        fprintf(stderr, "%s: --lr %g differs from the checkpoint's learning rates (G %g, D %g)\n", r->program, c->lr,
                p->lr_g, p->lr_d);
        return false;
    }
    const float smooth = 1.0f - p->real_label;
    if (!(smooth >= 0.0f && smooth <= 0.5f)) {
        fprintf(stderr, "%s: the checkpoint's real label %g is not 1 minus a --label-smooth from 0 to 0.5\n", r->program,
                p->real_label);
        return false;
    }
    if (options_find(opts, n_opts, "--label-smooth")->given && fabsf(c->label_smooth - smooth) > 1e-6f) {
        fprintf(stderr, "%s: --label-smooth %g differs from the checkpoint's %g\n", r->program, c->label_smooth, smooth);
        return false;
    }
    c->label_smooth = smooth;
    if (!keeps_checkpoint_value(r, opts, n_opts, "--ema", c->ema, p->ema_decay) ||
        !keeps_checkpoint_value(r, opts, n_opts, "--mode-seeking", c->mode_seeking, p->mode_seeking))
        return false;
    c->ema = p->ema_decay;
    c->mode_seeking = p->mode_seeking;
    const struct { const char *flag, *key; bool may_differ; } stored[] = {
        {"--batch", "batch", false}, {"--seed", "seed", false}, {"--rotate", "rotate", false},
        {"--epochs", "epochs", true}, /* a run may be trained on to more epochs */
        {"--lr-g", "lr_g", false}, {"--lr-d", "lr_d", false}, {"--beta1", "beta1", false}, {"--beta2", "beta2", false},
    };
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++)
        if (!adopt(r, ckpt, opts, n_opts, stored[i].flag, stored[i].key, stored[i].may_differ))
            return false;
    return true;
}

/* A new run's learning rates and aids: a flag given wins over the recipe,
 * and --lr sets both learning rates. */
static void apply_recipe(config *c, const recipe *rc, const option *opts, int n_opts)
{
    const bool lr_given = options_find(opts, n_opts, "--lr")->given;
    if (!options_find(opts, n_opts, "--lr-g")->given)
        c->lr_g = lr_given ? c->lr : rc->lr_g;
    if (!options_find(opts, n_opts, "--lr-d")->given)
        c->lr_d = lr_given ? c->lr : rc->lr_d;
    if (!options_find(opts, n_opts, "--label-smooth")->given)
        c->label_smooth = rc->label_smooth;
    if (!options_find(opts, n_opts, "--ema")->given)
        c->ema = rc->ema;
    if (!options_find(opts, n_opts, "--mode-seeking")->given)
        c->mode_seeking = rc->mode_seeking;
}

/* Where the checkpoint left the run; checked against this data set. */
static bool restore_position(run *r, gan_checkpoint *ckpt)
{
    gan_checkpoint_info info;
    gan_checkpoint_get_info(ckpt, &info);
    const char *images = gan_checkpoint_meta(ckpt, "dataset_images");
    char count[32];
    snprintf(count, sizeof count, "%d", r->set.count);
    if (!images || strcmp(images, count) != 0) {
        fprintf(stderr, "%s: the checkpoint was trained on %s images, %s holds %d: another data set\n", r->program,
                images ? images : "an unknown number of", r->set.dir, r->set.count);
        return false;
    }
    if (info.position.step_in_epoch >= r->steps_per_epoch ||
        info.steps != info.position.epoch * r->steps_per_epoch + info.position.step_in_epoch) {
        fprintf(stderr, "%s: the checkpoint's position (epoch %" PRId64 ", step %" PRId64 " of the epoch, %" PRId64
                        " in all) does not fit epochs of %d steps\n", r->program, info.position.epoch,
                info.position.step_in_epoch, info.steps, r->steps_per_epoch);
        return false;
    }
    if (!ok(r, gan_checkpoint_restore(ckpt, r->trainer), "cannot resume"))
        return false;
    r->epoch = info.position.epoch;
    r->step_in_epoch = info.position.step_in_epoch;
    r->global_step = info.steps;
    return true;
}

/* ------------------------------------------------------------- training */

/* G's images from noise z (count floats into dst), from its moving
 * average when the run keeps one. */
static bool sample_generator(run *r, const gan_tensor *z, float *dst, size_t count)
{
    const bool average = r->cfg.ema > 0;
    if (average && !ok(r, gan_trainer_swap_ema(r->trainer), "sampling"))
        return false;
    const bool sampled = ok(r, gan_model_sample(gan_trainer_generator(r->trainer), z, dst, count), "sampling");
    return (!average || ok(r, gan_trainer_swap_ema(r->trainer), "sampling")) && sampled;
}

/* The fixed noise's grid into samples/NAME.png and the TensorBoard log. */
static bool write_samples(run *r, const char *name)
{
    if (!r->lead)
        return true;
    const int size = r->model.image_size;
    const size_t n = (size_t)SAMPLE_COUNT * r->model.channels * size * size;
    if (!sample_generator(r, r->fixed_z, r->host_samples, n))
        return false;
    char path[PATH_MAX_LEN + 64], err[PATH_MAX_LEN + 256];
    snprintf(path, sizeof path, "%s/samples/%s.png", r->out_dir, name);
    const int channels = r->model.channels;
    int width, height;
    uint8_t *grid = images_grid(r->host_samples, SAMPLE_COUNT, size, channels, SAMPLE_COLUMNS, &width, &height);
    bool written = grid != NULL;
    if (!grid)
        snprintf(err, sizeof err, "%s: out of memory", path);
    else
        written = images_write_png(path, grid, width, height, channels, err, sizeof err);
    if (!written)
        fprintf(stderr, "%s: %s\n", r->program, err);
    else if (r->events)
        written = ok(r, gan_summary_image(r->events, "samples", r->global_step, grid, height, width, channels),
                     "TensorBoard log");
    free(grid);
    return written;
}

/* The step's figures into the TensorBoard log. */
static bool log_scalars(run *r, const gan_step_stats *s, double images_per_s)
{
    const gan_trainer_params p = gan_trainer_get_params(r->trainer);
    const struct { const char *tag; float value; } scalars[] = {
        {"loss/D", s->loss_d}, {"loss/G", s->loss_g}, {"D(x)", s->d_x}, {"D(G(z))/before_D_step", s->d_g_z1},
        {"D(G(z))/after_D_step", s->d_g_z2}, {"speed/images_per_s", (float)images_per_s},
        {"lr/G", p.lr_g}, {"lr/D", p.lr_d},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (!ok(r, gan_summary_scalar(r->events, scalars[i].tag, r->global_step, scalars[i].value), "TensorBoard log"))
            return false;
    return true;
}

/* Asks the folder's decoding thread for the images of batch `index` of
 * `epoch`. */
static bool request_batch(run *r, int64_t epoch, int64_t index)
{
    char err[256];
    if (!ok(r, gan_sampler_batch_indices(r->sampler, epoch, index, r->batch_indices), "batch"))
        return false;
    if (!image_folder_request(r->folder, r->batch_indices, gan_sampler_share(r->sampler), err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", r->program, err);
        return false;
    }
    r->batch_requested = true;
    return true;
}

/* The real batch of this step: from the images in memory, or from those
 * the folder's thread decoded during the step before, which then goes on
 * to the next step's while this one runs. */
static bool real_batch(run *r)
{
    if (r->set.images)
        return ok(r, gan_sampler_batch(r->sampler, r->epoch, r->step_in_epoch, r->real), "batch");
    if (!r->batch_requested && !request_batch(r, r->epoch, r->step_in_epoch))
        return false;
    if (!ok(r, gan_sampler_batch_from(r->sampler, r->epoch, r->step_in_epoch, image_folder_take(r->folder), r->real),
            "batch"))
        return false;
    r->batch_requested = false;
    const bool last = r->step_in_epoch + 1 == r->steps_per_epoch;
    return request_batch(r, r->epoch + last, last ? 0 : r->step_in_epoch + 1);
}

/* Scores the generator (eval mode, --eval-count samples from noise of the
 * run's seed, the same each time) with the evaluator: prints the figures,
 * logs them to TensorBoard and appends them to scores.csv. The training's
 * random generator is left as it was. */
static bool score_generator(run *r)
{
    const config *c = &r->cfg;
    const gan_models_info *m = &r->model;
    uint8_t *bytes = malloc((size_t)m->image_size * m->image_size * (size_t)c->eval_count);
    bool good = bytes && (c->ema == 0 || ok(r, gan_trainer_swap_ema(r->trainer), "evaluation"));
    const bool swapped = good && c->ema > 0;
    if (!bytes)
        fprintf(stderr, "%s: out of memory for the evaluation's samples\n", r->program);
    char err[512];
    if (good && !evaluation_sample(r->ctx, gan_trainer_generator(r->trainer), m, c->eval_count, (uint64_t)c->seed, bytes, err,
                                   sizeof err)) {
        fprintf(stderr, "%s: evaluation: %s\n", r->program, err);
        good = false;
    }
    good = (!swapped || ok(r, gan_trainer_swap_ema(r->trainer), "evaluation")) && good;
    evaluation_result res;
    if (good && !evaluation_score(r->eval, bytes, c->eval_count, m->image_size, m->image_size, 10, 1000,
                                  (uint64_t)c->seed, &res, err, sizeof err)) {
        fprintf(stderr, "%s: evaluation: %s\n", r->program, err);
        good = false;
    }
    free(bytes);
    if (!good)
        return false;
    printf("epoch %" PRId64 " scored on %d samples: FID %.3f, KID %.5f, %d of 10 classes hold 5%% or more, entropy "
           "%.3f bits\n", r->epoch + 1, res.count, res.fid, res.kid, res.spread.classes_over_share,
           res.spread.entropy_bits);
    fflush(stdout);
    const struct { const char *tag; float value; } scalars[] = {
        {"eval/FID", (float)res.fid}, {"eval/KID", (float)res.kid},
        {"eval/classes_over_5pct", (float)res.spread.classes_over_share}, {"eval/entropy_bits", (float)res.spread.entropy_bits},
    };
    for (size_t i = 0; r->events && i < sizeof scalars / sizeof scalars[0]; i++)
        if (!ok(r, gan_summary_scalar(r->events, scalars[i].tag, r->global_step, scalars[i].value), "TensorBoard log"))
            return false;
    char path[PATH_MAX_LEN + 32];
    snprintf(path, sizeof path, "%s/scores.csv", r->out_dir);
    const bool fresh = !file_exists(path);
    FILE *f = fopen(path, "a");
    bool written = f && (!fresh || fputs("epoch,step,samples,fid,kid,kid_std,entropy_bits,classes_over_5pct\n", f) >= 0) &&
                   fprintf(f, "%" PRId64 ",%" PRId64 ",%d,%.6g,%.6g,%.6g,%.6g,%d\n", r->epoch + 1, r->global_step,
                           res.count, res.fid, res.kid, res.kid_std, res.spread.entropy_bits,
                           res.spread.classes_over_share) > 0;
    written = f && fclose(f) == 0 && written;
    if (!written)
        fprintf(stderr, "%s: cannot write %s: %s\n", r->program, path, strerror(errno));
    return written;
}

/* The evaluator for the run's data set (process 0 of an IDX data set,
 * unless --no-eval): the classifier --classifier names, which must then
 * load, or the data set's default one when it is there. */
static bool open_evaluation(run *r)
{
    const config *c = &r->cfg;
    if (!r->lead || !r->source || c->no_eval) {
        snprintf(r->eval_note, sizeof r->eval_note, "off%s", !r->source ? " (no classifier for image folders)" : "");
        return true;
    }
    char path[PATH_MAX_LEN + 64], err[4096];
    if (c->classifier)
        snprintf(path, sizeof path, "%s", c->classifier);
    else
        evaluation_default_classifier(r->source, path, sizeof path);
    if (!c->classifier && !file_exists(path)) {
        snprintf(r->eval_note, sizeof r->eval_note, "off: no %s (build/apps/train_classifier --dataset %s makes it)",
                 path, r->source->key);
        return true;
    }
    if (!(r->eval = evaluation_open(r->ctx, r->source, c->data_dir, !c->no_verify, path, err, sizeof err))) {
        if (c->classifier) { /* asked for: an error; found by default: a warning, and no scores */
            fprintf(stderr, "%s: evaluation: %s\n", r->program, err);
            return false;
        }
        fprintf(stderr, "%s: warning: the run is not scored: %s\n", r->program, err);
        snprintf(r->eval_note, sizeof r->eval_note, "off: %s could not be used (see the warning)", path);
        return true;
    }
    snprintf(r->eval_note, sizeof r->eval_note, "FID, KID and classes of %d samples at the end%s, with %s (test "
             "accuracy %.2f%%)", c->eval_count, c->eval_every ? " and every --eval-every epochs" : "", path,
             100.0 * evaluation_test_accuracy(r->eval));
    return true;
}

/* Assembles the next batch and runs one GAN step on it. Every process
 * draws the whole batch's noise, so all draw alike, and takes its share. */
static bool train_step(run *r, gan_step_stats *s)
{
    const size_t z_size = (size_t)r->model.z_dim;
    return real_batch(r) &&
           ok(r, gan_random_normal(r->ctx, r->noise, (size_t)r->cfg.batch * z_size, 0.0f, 1.0f), "noise") &&
           ok(r, gan_tensor_write(r->z, r->noise + (size_t)r->first * z_size, (size_t)r->share * z_size), "noise") &&
           ok(r, gan_trainer_step(r->trainer, r->real, r->z, s), "training step");
}

static void format_duration(double seconds, char *buf, size_t size)
{
    long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* Draws the progress; returns the images/s of this run so far. */
static double report(run *r, const gan_step_stats *s, int64_t done_this_run, bool last_of_epoch)
{
    if (!r->lead)
        return 0.0;
    const config *c = &r->cfg;
    const double now = now_seconds(), elapsed = now - r->started;
    const double rate = elapsed > 0 ? (double)done_this_run * c->batch / elapsed : 0.0;
    const int64_t step = r->step_in_epoch + 1;
    char eta[32];
    format_duration(rate > 0 ? (double)(r->steps_per_epoch - step) * c->batch / rate : 0, eta, sizeof eta);
    if (r->tty) {
        if (!last_of_epoch && now - r->last_draw < 0.1)
            return rate;
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
    return rate;
}

static bool train(run *r)
{
    const config *c = &r->cfg;
    int64_t done_this_run = 0;
    r->started = now_seconds();
    for (; r->epoch < c->epochs; r->epoch++) {
        const double epoch_start = now_seconds();
        for (; r->step_in_epoch < r->steps_per_epoch; r->step_in_epoch++) {
            if (c->max_steps && r->global_step >= c->max_steps) {
                if (r->tty)
                    printf("\n");
                if (r->lead)
                    printf("stopped at --max-steps %" PRId64 "\n", c->max_steps);
                return save_checkpoint(r);
            }
            gan_step_stats s;
            if (!train_step(r, &s))
                return false;
            r->global_step++;
            done_this_run++;
            if (r->csv)
                fprintf(r->csv, "%" PRId64 ",%" PRId64 ",%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", r->epoch + 1,
                        r->global_step, s.loss_d, s.loss_g, s.d_x, s.d_g_z1, s.d_g_z2,
                        now_seconds() - r->started);
            const double rate = report(r, &s, done_this_run, r->step_in_epoch + 1 == r->steps_per_epoch);
            if (r->events && r->global_step % c->log_every == 0 && !log_scalars(r, &s, rate))
                return false;
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
        /* the checkpoint first: a sample grid that cannot be written loses
         * no training (sampling draws nothing from the generator) */
        const bool saved = save_checkpoint(r) && write_samples(r, name);
        r->epoch--;
        if (!saved)
            return false;
        if (r->lead)
            printf("epoch %" PRId64 " done in %.1f s: samples/%s.png, checkpoint.safetensors\n", r->epoch + 1,
                   took, name);
        fflush(stdout);
        const bool last = r->epoch + 1 == c->epochs, due = c->eval_every && (r->epoch + 1) % c->eval_every == 0;
        if (r->eval && (last || due) && !score_generator(r))
            return false;
    }
    return true;
}

/* ----------------------------------------------------------------- setup */

/* Makes the run folder and its samples/ folder, checks that both take
 * files, and clears what a killed run left half-written. */
static bool prepare_folder(run *r)
{
    char samples[PATH_MAX_LEN + 16];
    snprintf(samples, sizeof samples, "%s/samples", r->out_dir);
    const char *const failed = !files_make_dirs(samples) ? samples
                             : access(r->out_dir, W_OK) != 0 ? r->out_dir
                             : access(samples, W_OK) != 0 ? samples : NULL;
    if (failed) {
        fprintf(stderr, "%s: cannot write into %s: %s\n", r->program, failed, strerror(errno));
        return false;
    }
    const char *const run_stems[] = {"checkpoint.safetensors", "metrics.csv", "progress.gif"};
    const char *const sample_stems[] = {"epoch_", "step_"};
    files_remove_temporaries(r->out_dir, run_stems, 3);
    files_remove_temporaries(samples, sample_stems, 2);
    return true;
}

/* Half the memory of the machine: the default --cache-limit. */
static size_t default_cache_limit(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 2 : (size_t)1 << 30;
}

/* Finds the IDX data set, or reads the image folder at the model's size
 * (decoded into memory when it fits in --cache-limit). */
static bool load_data(run *r)
{
    config *c = &r->cfg;
    training_set *t = &r->set;
    char err[4096];
    if (r->source) {
        if (!dataset_load(r->source, c->data_dir, DATASET_TRAIN, !c->no_verify, &r->data, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", r->program, err);
            return false;
        }
        *t = (training_set){r->source->key, r->source->title, r->data.dir, r->data.images.data, r->data.count,
                            r->data.height, r->data.width, 1};
        return true;
    }
    snprintf(r->folder_dir, sizeof r->folder_dir, "%s", c->data_dir);
    const int size = r->model.image_size;
    const size_t limit = c->cache_limit_mib < 0 ? default_cache_limit() : (size_t)c->cache_limit_mib << 20;
    if (!(r->folder = image_folder_open(r->folder_dir, size, c->channels, limit, r->lead ? r->program : NULL, err,
                                        sizeof err))) {
        fprintf(stderr, "%s: %s\n", r->program, err);
        return false;
    }
    const image_folder_info in = image_folder_describe(r->folder);
    if (r->lead && in.skipped)
        fprintf(stderr, "%s: %d file(s) under %s skipped, %d image(s) used\n", r->program, in.skipped, r->folder_dir,
                in.count);
    if (r->lead && in.upscaled)
        printf("note: %d image(s) are smaller than %dx%d and are upscaled\n", in.upscaled, size, size);
    *t = (training_set){"images", "an image folder", r->folder_dir, image_folder_cache(r->folder), in.count, size, size,
                        in.channels};
    return true;
}

static bool setup(run *r)
{
    config *c = &r->cfg;
    if (!load_data(r))
        return false;
    const training_set *t = &r->set;
    const gan_models_params mp = {.channels = t->channels};
    if (!ok(r, gan_models_describe(c->model, &mp, &r->model), "the model"))
        return false;
    const gan_sampler_params sp = {.batch = c->batch, .image_size = r->model.image_size, .max_rotation = c->rotate,
                                   .seed = (uint64_t)c->seed, .flip = c->flip, .rank = r->dist.rank,
                                   .ranks = r->dist.size};
    if (!ok(r, gan_sampler_create(r->ctx, t->images, t->count, t->height, t->width, t->channels, &sp, &r->sampler),
            "the data"))
        return false;
    r->steps_per_epoch = gan_sampler_batches_per_epoch(r->sampler);
    r->share = gan_sampler_share(r->sampler);
    r->first = gan_sampler_share_start(r->sampler);
    if (!t->images && !(r->batch_indices = malloc(sizeof *r->batch_indices * (size_t)c->batch))) {
        fprintf(stderr, "%s: out of memory\n", r->program);
        return false;
    }
    /* fixed noise first, then the models: the same seed gives the same both,
     * also when resuming (the checkpoint then replaces the weights) */
    gan_random_seed(r->ctx, (uint64_t)c->seed);
    const gan_models_info *m = &r->model;
    const int zs[4] = {r->share, m->z_dim, 1, 1}, fixed[4] = {SAMPLE_COUNT, m->z_dim, 1, 1};
    const int img[4] = {r->share, m->channels, m->image_size, m->image_size};
    gan_trainer_params tp = gan_trainer_default_params();
    tp.lr_g = c->lr_g;
    tp.lr_d = c->lr_d;
    tp.real_label = 1.0f - c->label_smooth;
    tp.ema_decay = c->ema;
    tp.mode_seeking = c->mode_seeking;
    tp.beta1 = c->beta1;
    tp.beta2 = c->beta2;
    if (!ok(r, gan_tensor_create(r->ctx, m->z_ndim, fixed, &r->fixed_z), "tensor") ||
        !ok(r, gan_tensor_fill_normal(r->fixed_z, 0.0f, 1.0f), "fixed noise") ||
        !ok(r, gan_trainer_create_zoo(r->ctx, m->name, &mp, &tp, &r->trainer), "building the models") ||
        !ok(r, gan_tensor_create(r->ctx, m->z_ndim, zs, &r->z), "tensor") ||
        !ok(r, gan_tensor_create(r->ctx, 4, img, &r->real), "tensor"))
        return false;
    r->host_samples = malloc(sizeof(float) * (size_t)SAMPLE_COUNT * m->channels * m->image_size * m->image_size);
    r->noise = malloc(sizeof(float) * (size_t)c->batch * m->z_dim);
    if (!r->host_samples || !r->noise) {
        fprintf(stderr, "%s: out of memory\n", r->program);
        return false;
    }
    return true;
}

/* Makes this process one of the run's processes, all starting from
 * process 0's models, optimizer states and random generator. */
static bool join_processes(run *r)
{
    return r->dist.size == 1 ||
           (ok(r, gan_trainer_set_collective(r->trainer, &r->dist.collective), "data-parallel training") &&
            ok(r, gan_trainer_broadcast(r->trainer), "data-parallel training"));
}

/* The run's TensorBoard log: a new event file each time; a resumed run
 * first marks the restart, so TensorBoard drops what a killed run logged
 * after its checkpoint. */
static bool open_events(run *r)
{
    if (r->cfg.no_tensorboard)
        return true;
    return ok(r, gan_summary_open(r->ctx, r->out_dir, &r->events), "TensorBoard log") &&
           (r->global_step == 0 || ok(r, gan_summary_restart(r->events, r->global_step), "TensorBoard log"));
}

static void teardown(run *r)
{
    gan_summary_close(r->events);
    if (r->csv)
        fclose(r->csv);
    free(r->host_samples);
    free(r->noise);
    evaluation_free(r->eval);
    gan_tensor_free(r->real), gan_tensor_free(r->z), gan_tensor_free(r->fixed_z);
    gan_trainer_free(r->trainer);
    gan_sampler_free(r->sampler);
    image_folder_free(r->folder);
    free(r->batch_indices);
    dataset_free(&r->data);
    gan_context_free(r->ctx);
}

/* --threads, or with several processes on this machine its cores shared
 * among them. */
static int process_threads(const run *r)
{
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (r->cfg.threads || r->dist.local_size == 1 || cores < 1)
        return r->cfg.threads;
    const long each = cores / r->dist.local_size;
    return each > 1 ? (int)each : 1;
}

/* --device, or with several processes on this machine the devices taken
 * in turn from it, one per process (shared when there are fewer). */
static int process_device(const run *r)
{
    enum { MAX = 64 };
    gan_device_info devices[MAX];
    int count = 0;
    if (r->dist.local_size == 1 || strcmp(r->cfg.backend, "opencl") != 0 ||
        gan_opencl_devices(devices, MAX, &count, NULL, 0) != GAN_OK || count < 1)
        return r->cfg.device;
    return (r->cfg.device + r->dist.local_rank) % count;
}

/* The program, as this process of the run; returns the exit status. */
static int train_program(run *r, int argc, char **argv, const char *dataset_key)
{
    r->source = dataset_source_find(dataset_key); /* NULL: a folder of images */
    r->set.key = r->source ? r->source->key : "images";
    config *c = &r->cfg;
    *c = (config){.model = r->source ? "dcgan" : "dcgan64", .backend = "cpu", .epochs = 5, .batch = 128,
                  .log_every = 50, .seed = 1, .recipe = "tutorial", .lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .gif_delay = 0.5f,
                  .cache_limit_mib = -1, .eval_count = 10000};
    option opts[] = {
        {"--model", OPT_STRING, &c->model, 0, 64, "gan, dcgan or dcgan64", false},
        {"--data", OPT_STRING, &c->data_dir, 0, PATH_MAX_LEN,
         r->source ? "folder with the IDX files (raw or .gz)" : "folder of PNG, JPEG, BMP and GIF images (searched "
         "recursively; required)", false},
        {"--out", OPT_STRING, &c->out_dir, 0, PATH_MAX_LEN, "output folder (none: runs/DATASET-MODEL-TIME)", false},
        {"--resume", OPT_STRING, &c->resume_dir, 0, PATH_MAX_LEN, "continue the run in this folder", false},
        {"--epochs", OPT_INT, &c->epochs, 1, 100000, "epochs to train", false},
        {"--max-steps", OPT_INT64, &c->max_steps, 0, 1e15, "stop after this many steps in all (0: no limit)", false},
        {"--batch", OPT_INT, &c->batch, 2, 65536, "batch size", false},
        {"--recipe", OPT_STRING, &c->recipe, 0, 32, "tutorial (the PyTorch tutorials' settings) or best (per "
         "data set and model: G's moving average, on MNIST G learning faster than D, for gan both faster and label "
         "smoothing, on Fashion-MNIST the mode-seeking term; README, Sample quality); the flags below override it", false},
        {"--lr", OPT_FLOAT, &c->lr, 1e-10, 1, "Adam learning rate of both models (none: the recipe's)", false},
        {"--lr-g", OPT_FLOAT, &c->lr_g, 1e-10, 1, "the generator's learning rate (none: --lr)", false},
        {"--lr-d", OPT_FLOAT, &c->lr_d, 1e-10, 1, "the discriminator's learning rate (none: --lr)", false},
        {"--ema", OPT_FLOAT, &c->ema, 0, 0.999999, "sample from a moving average of G's weights with this decay "
         "(0: none; 0.999, say; none: the recipe's)", false},
        {"--label-smooth", OPT_FLOAT, &c->label_smooth, 0, 0.5, "one-sided label smoothing: D's target on real "
         "images is 1 minus this (none: the recipe's)", false},
        {"--mode-seeking", OPT_FLOAT, &c->mode_seeking, 0, 100, "weight of the mode-seeking term in G's loss, which "
         "pushes apart the images of different noise (0: none; 1, say; none: the recipe's)", false},
        {"--beta1", OPT_FLOAT, &c->beta1, 0, 0.999999, "Adam beta1", false},
        {"--beta2", OPT_FLOAT, &c->beta2, 0, 0.999999, "Adam beta2", false},
        {"--rotate", OPT_FLOAT, &c->rotate, 0, 180, "random rotation of real images, up to this many degrees", false},
        {"--flip", OPT_FLAG, &c->flip, 0, 0, "mirror each real image left to right with probability 1/2", false},
        {"--seed", OPT_INT64, &c->seed, 0, 9e15, "random seed", false},
        {"--threads", OPT_INT, &c->threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &c->backend, 0, 64, "cpu or opencl", false},
        {"--device", OPT_INT, &c->device, 0, 1024, "device index for --backend opencl", false},
        {"--list-devices", OPT_FLAG, &c->list_devices, 0, 0, "list the OpenCL platforms and devices, then exit", false},
        {"--sample-every", OPT_INT64, &c->sample_every, 0, 1e15, "also write a sample grid every N steps (0: only per epoch)", false},
        {"--log-every", OPT_INT, &c->log_every, 1, 1000000, "steps between TensorBoard scalars, and between lines when output is not a terminal", false},
        {"--no-verify", OPT_FLAG, &c->no_verify, 0, 0, "accept data files whose SHA-256 is not the published one", false},
        {"--gif-delay", OPT_FLOAT, &c->gif_delay, 0.01, 60, "seconds each grid shows in progress.gif", false},
        {"--no-tensorboard", OPT_FLAG, &c->no_tensorboard, 0, 0, "write no TensorBoard event file", false},
        {"--eval-every", OPT_INT, &c->eval_every, 0, 100000, "also score the generator every N epochs (0: at the end only)", false},
        {"--eval-count", OPT_INT, &c->eval_count, 2, 1000000, "samples a score takes", false},
        {"--classifier", OPT_STRING, &c->classifier, 0, PATH_MAX_LEN, "the evaluator's classifier (none: "
         "classifiers/DATASET.safetensors when it is there)", false},
        {"--no-eval", OPT_FLAG, &c->no_eval, 0, 0, "score nothing", false},
        /* a folder's only */
        {"--channels", OPT_INT, &c->channels, 0, 3, "1 (grey) or 3 (colour); 0: 3 unless every image is grey", false},
        {"--cache-limit", OPT_INT64, &c->cache_limit_mib, -1, 1e9, "MiB of decoded images kept in memory; more are "
         "decoded a batch at a time (-1: half the memory)", false},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]) - (r->source ? 2 : 0);
    char summary[256];
    snprintf(summary, sizeof summary, "Trains a GAN or DCGAN on %s and writes sample grids, metrics.csv and a checkpoint.",
             r->source ? r->source->title : "a folder of images, in colour or grey,");
    switch (options_parse(opts, n_opts, argc, argv, r->program, summary)) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (c->list_devices)
        return backend_list_devices(r->program);
    if (!recipe_find(c->recipe, r->set.key, c->model)) {
        fprintf(stderr, "%s: --recipe takes %s, not '%s'\n", r->program, recipe_names(), c->recipe);
        return 2;
    }
    if (!r->source && c->channels == 2) {
        fprintf(stderr, "%s: --channels takes 0, 1 or 3, not 2\n", r->program);
        return 2;
    }
    if (!r->source && (c->classifier || c->eval_every)) {
        fprintf(stderr, "%s: the evaluator scores MNIST and Fashion-MNIST models only: drop --classifier and "
                        "--eval-every\n", r->program);
        return 2;
    }
    if (!r->source && !c->data_dir && !c->resume_dir) {
        fprintf(stderr, "%s: --data names the folder of images to train on (--help lists the options)\n", r->program);
        return 2;
    }
    gan_checkpoint *resume = NULL;
    int status = 1;
    if (!(r->ctx = backend_context(r->program, c->backend, process_device(r), process_threads(r), 0)))
        return 1;
    if (c->resume_dir) {
        if (options_find(opts, n_opts, "--out")->given && strcmp(c->out_dir, c->resume_dir) != 0) {
            fprintf(stderr, "%s: --resume continues in its own folder; drop --out\n", r->program);
            goto done;
        }
        char path[PATH_MAX_LEN + 32];
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", c->resume_dir);
        if (!ok(r, gan_checkpoint_open(r->ctx, path, &resume), "cannot resume") ||
            !adopt_settings(r, resume, opts, n_opts))
            goto done;
        snprintf(r->out_dir, sizeof r->out_dir, "%s", c->resume_dir);
    } else if (c->out_dir) {
        snprintf(r->out_dir, sizeof r->out_dir, "%s", c->out_dir);
    } else {
        char stamp[32];
        time_t t = time(NULL);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
        snprintf(r->out_dir, sizeof r->out_dir, "runs/%s-%s-%s", r->set.key, c->model, stamp);
    }
    if (!resume)
        apply_recipe(c, recipe_find(c->recipe, r->set.key, c->model), opts, n_opts);
    if (gan_models_describe(c->model, NULL, &r->model) != GAN_OK) {
        fprintf(stderr, "%s: --model takes %s, not '%s'\n", r->program, gan_models_names(), c->model);
        goto done;
    }
    char probe[PATH_MAX_LEN + 32];
    snprintf(probe, sizeof probe, "%s/checkpoint.safetensors", r->out_dir);
    if (!resume && file_exists(probe)) {
        fprintf(stderr, "%s: %s already holds a checkpoint: continue it with --resume %s, or choose another --out\n",
                r->program, r->out_dir, r->out_dir);
        goto done;
    }
    if (!setup(r) || (resume && !restore_position(r, resume)) || !join_processes(r) ||
        (r->lead && !prepare_folder(r)))
        goto done;
    gan_checkpoint_close(resume);
    resume = NULL;
    r->tty = isatty(STDOUT_FILENO);
    if ((r->lead && (!open_metrics(r) || !open_events(r))) || !open_evaluation(r))
        goto done;
    if (r->lead)
        print_summary(r);
    if (!train(r) || !ok(r, gan_summary_close(r->events), "TensorBoard log")) {
        r->events = NULL;
        goto done;
    }
    r->events = NULL;
    if (!r->lead) {
        status = 0;
        goto done;
    }
    char gif[PATH_MAX_LEN + 32], err[PATH_MAX_LEN + 512];
    int frames;
    snprintf(gif, sizeof gif, "%s/progress.gif", r->out_dir);
    if (!progress_gif_write(r->out_dir, r->steps_per_epoch, c->gif_delay, gif, &frames, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", r->program, err);
        goto done;
    }
    if (frames)
        printf("done: %s/samples holds the sample grids, progress.gif %d of them, checkpoint.safetensors the model\n",
               r->out_dir, frames);
    else
        printf("done: %s/checkpoint.safetensors holds the model\n", r->out_dir);
    status = 0;
done:
    gan_checkpoint_close(resume);
    teardown(r);
    return status;
}

int trainer_main(int argc, char **argv, const char *dataset_key)
{
    run r;
    memset(&r, 0, sizeof r);
    r.program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    char err[512];
    if (!distributed_init(&argc, &argv, &r.dist, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", r.program, err);
        return 1;
    }
    r.lead = r.dist.rank == 0;
    if (!r.lead) {
        snprintf(r.program_name, sizeof r.program_name, "%s (process %d of %d)", r.program, r.dist.rank + 1,
                 r.dist.size);
        r.program = r.program_name;
    }
    const int status = train_program(&r, argc, argv, dataset_key);
    if (status != 0)
        return distributed_fail(&r.dist, status);
    distributed_finish(&r.dist);
    return 0;
}
