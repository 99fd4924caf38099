/* evaluate.c - scores generated images against a data set's test images
 * in the feature space of the evaluator's classifier (train_classifier):
 * FID, KID, the class histogram and its entropy, and how many classes
 * hold at least 5% of the samples. The samples are an IDX file of bytes
 * (generate's) or a run folder, whose generator then draws them. */
#define _POSIX_C_SOURCE 200809L
#include "backend_select.h"
#include "evaluation.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *program = "evaluate";

enum { PATH_MAX_LEN = 800 };

typedef struct samples {
    uint8_t *bytes; /* [count][height][width], owned */
    int count, height, width;
    char what[PATH_MAX_LEN + 128];
    char dataset[64]; /* a run's data set, from its checkpoint; "" otherwise */
} samples;

/* An IDX file of grey images: [N, H, W] or [N, H, W, 1]. */
static bool samples_from_idx(const char *path, samples *out)
{
    gan_idx idx;
    char err[PATH_MAX_LEN + 256];
    if (gan_idx_read(path, &idx, err, sizeof err) != GAN_OK) {
        fprintf(stderr, "%s: %s\n", program, err);
        return false;
    }
    const bool grey = idx.ndim == 3 || (idx.ndim == 4 && idx.dims[3] == 1);
    if (!grey || idx.dims[1] < 2 || idx.dims[2] < 2) {
        fprintf(stderr, "%s: %s: the classifier takes grey images, [N, H, W] or [N, H, W, 1]; this file holds %d "
                        "dimension(s)%s\n", program, path, idx.ndim, idx.ndim == 4 ? " with colour" : "");
        gan_idx_free(&idx);
        return false;
    }
    out->count = idx.dims[0], out->height = idx.dims[1], out->width = idx.dims[2];
    out->bytes = malloc(idx.count ? idx.count : 1);
    if (out->bytes)
        memcpy(out->bytes, idx.data, idx.count);
    snprintf(out->what, sizeof out->what, "%d samples of %dx%d from %s", out->count, out->height, out->width, path);
    gan_idx_free(&idx);
    if (!out->bytes)
        fprintf(stderr, "%s: out of memory\n", program);
    return out->bytes != NULL;
}

/* count samples of a run folder's generator, in eval mode, from noise of
 * the --seed flag's value; where the flag was not given, of the run's own
 * seed, which the flag's value is set to, so that the run's end-of-training
 * score is reproduced. */
static bool samples_from_run(gan_context *ctx, const char *dir, int count, option *seed_flag, samples *out)
{
    char path[PATH_MAX_LEN + 32];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    gan_checkpoint *ckpt = NULL;
    gan_model *g = NULL, *d = NULL;
    gan_checkpoint_info info;
    bool ok = false;
    char err[512];
    if (gan_checkpoint_open(ctx, path, &ckpt) != GAN_OK || gan_checkpoint_get_info(ckpt, &info) != GAN_OK) {
        fprintf(stderr, "%s: %s\n", program, gan_context_error(ctx));
        goto done;
    }
    const gan_models_info *m = &info.model;
    if (!info.has_model || m->channels != 1) {
        fprintf(stderr, "%s: %s: %s\n", program, path,
                info.has_model ? "a colour model: the classifier takes grey images" : "names no model of the zoo");
        goto done;
    }
    const char *run_seed = gan_checkpoint_meta(ckpt, "seed");
    if (!seed_flag->given && run_seed && !options_read_value(seed_flag, run_seed, program, "the run's seed"))
        goto done;
    const uint64_t seed = (uint64_t)*(const int64_t *)seed_flag->value;
    const char *set = gan_checkpoint_meta(ckpt, "dataset");
    snprintf(out->dataset, sizeof out->dataset, "%s", set ? set : "");
    if (!(out->bytes = malloc((size_t)m->image_size * m->image_size * (size_t)count))) {
        fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    if (gan_models_create(ctx, m->name, &info.model_params, &g, &d) != GAN_OK ||
        gan_checkpoint_load_generator(ckpt, g) != GAN_OK) {
        fprintf(stderr, "%s: loading the generator: %s\n", program, gan_context_error(ctx));
        goto done;
    }
    if (!evaluation_sample(ctx, g, m, count, seed, out->bytes, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        goto done;
    }
    out->count = count, out->height = out->width = m->image_size;
    snprintf(out->what, sizeof out->what, "%d samples of %s's %s generator (eval mode, seed %llu)", count, dir, m->name,
             (unsigned long long)seed);
    ok = true;
done:
    gan_model_free(g);
    gan_model_free(d);
    gan_checkpoint_close(ckpt);
    return ok;
}

int main(int argc, char **argv)
{
    const char *sample_path = NULL, *dataset_key = NULL, *classifier_path = NULL, *data_dir = NULL, *backend = "cpu";
    int count = 10000, threads = 0, device = 0, kid_subsets = 10, kid_size = 1000;
    int64_t seed = 1;
    bool no_verify = false;
    option opts[] = {
        {"--samples", OPT_STRING, &sample_path, 0, PATH_MAX_LEN, "an IDX file of grey images, or a run folder (also the first argument)", false},
        {"--dataset", OPT_STRING, &dataset_key, 0, 64, "mnist or fashion-mnist (none: the run's, else mnist)", false},
        {"--classifier", OPT_STRING, &classifier_path, 0, PATH_MAX_LEN, "the classifier (none: classifiers/DATASET.safetensors)", false},
        {"--data", OPT_STRING, &data_dir, 0, PATH_MAX_LEN, "folder with the data set's IDX files (its test split)", false},
        {"--count", OPT_INT, &count, 2, 1000000, "samples a run folder's generator draws", false},
        {"--seed", OPT_INT64, &seed, 0, 9e15, "seed of those samples' noise, and of KID's subsets (none: a run "
         "folder's own, else 1)", false},
        {"--kid-subsets", OPT_INT, &kid_subsets, 1, 10000, "KID: subsets averaged", false},
        {"--kid-size", OPT_INT, &kid_size, 2, 100000, "KID: samples a subset (at most the samples there are)", false},
        {"--threads", OPT_INT, &threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &backend, 0, 64, "cpu or opencl", false},
        {"--device", OPT_INT, &device, 0, 1024, "device index for --backend opencl", false},
        {"--no-verify", OPT_FLAG, &no_verify, 0, 0, "accept data files whose SHA-256 is not the published one", false},
    };
    if (argc > 1 && argv[1][0] != '-') { /* evaluate SAMPLES [options] */
        sample_path = argv[1];
        opts[0].given = true;
        argv[1] = argv[0];
        argv++, argc--;
    }
    switch (options_parse(opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, program,
                          "Scores samples (an IDX file or a run folder) against the test images: FID and KID in the "
                          "classifier's features, classes and their entropy.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    if (!sample_path) {
        fprintf(stderr, "%s: name the samples: evaluate SAMPLES (an IDX file or a run folder); --help lists the options\n",
                program);
        return 2;
    }
    gan_context *ctx = backend_context(program, backend, device, threads, (uint64_t)seed);
    if (!ctx)
        return 1;
    int status = 1;
    samples s = {0};
    evaluation *e = NULL;
    struct stat sb;
    const bool run_folder = stat(sample_path, &sb) == 0 && S_ISDIR(sb.st_mode);
    option *seed_flag = (option *)options_find(opts, (int)(sizeof opts / sizeof opts[0]), "--seed");
    if (!(run_folder ? samples_from_run(ctx, sample_path, count, seed_flag, &s) : samples_from_idx(sample_path, &s)))
        goto done;
    if (!dataset_key)
        dataset_key = s.dataset[0] ? s.dataset : "mnist";
    const dataset_source *src = dataset_source_find(dataset_key);
    char err[4096], path[PATH_MAX_LEN + 64];
    if (!src) {
        fprintf(stderr, "%s: --dataset takes mnist or fashion-mnist, not '%s'\n", program, dataset_key);
        goto done;
    }
    if (classifier_path)
        snprintf(path, sizeof path, "%s", classifier_path);
    else
        evaluation_default_classifier(src, path, sizeof path);
    evaluation_result result;
    if (!(e = evaluation_open(ctx, src, data_dir, !no_verify, path, err, sizeof err)) ||
        !evaluation_score(e, s.bytes, s.count, s.height, s.width, kid_subsets, kid_size, (uint64_t)seed, &result, err,
                          sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        goto done;
    }
    printf("%s: %s against the %d %s test images\n", program, s.what, evaluation_test_count(e), src->title);
    printf("classifier %s: test accuracy %.2f%%\n", path, 100.0 * evaluation_test_accuracy(e));
    evaluation_print(stdout, &result);
    status = 0;
done:
    evaluation_free(e);
    free(s.bytes);
    gan_context_free(ctx);
    return status;
}
