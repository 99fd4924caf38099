/* evaluate.c - scores generated images against a data set's test images
 * in the feature space of the evaluator's classifier (train_classifier):
 * FID, KID, the class histogram and its entropy, and how many classes
 * hold at least 5% of the samples. The samples are an IDX file of bytes
 * (generate's) or a run folder, whose generator then draws them. */
#define _POSIX_C_SOURCE 200809L
#include "backend_select.h"
#include "classifier.h"
#include "dataset.h"
#include "images.h"
#include "options.h"
#include "scores.h"

#include <stb_image_resize.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *program = "evaluate";

enum { PATH_MAX_LEN = 800, SIDE = CLASSIFIER_SIDE };

typedef struct samples {
    uint8_t *bytes; /* [count][28][28], owned */
    int count;
    char what[PATH_MAX_LEN + 128];
    char dataset[64]; /* a run's data set, from its checkpoint; "" otherwise */
} samples;

/* count grey images of h x w bytes as 28 x 28 ones (resized with
 * stb_image_resize when they are of another size) into a new array. */
static uint8_t *to_classifier_size(const uint8_t *images, int count, int h, int w)
{
    uint8_t *out = malloc((size_t)count * SIDE * SIDE);
    for (int i = 0; out && i < count; i++) {
        const uint8_t *src = images + (size_t)i * h * w;
        uint8_t *dst = out + (size_t)i * SIDE * SIDE;
        if (h == SIDE && w == SIDE)
            memcpy(dst, src, (size_t)SIDE * SIDE);
        else if (!stbir_resize_uint8(src, w, h, w, dst, SIDE, SIDE, SIDE, 1)) {
            free(out);
            return NULL;
        }
    }
    return out;
}

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
    out->count = idx.dims[0];
    out->bytes = to_classifier_size(idx.data, idx.dims[0], idx.dims[1], idx.dims[2]);
    snprintf(out->what, sizeof out->what, "%d samples of %dx%d from %s", out->count, idx.dims[1], idx.dims[2], path);
    gan_idx_free(&idx);
    if (!out->bytes)
        fprintf(stderr, "%s: out of memory\n", program);
    return out->bytes != NULL;
}

/* count samples of a run folder's generator, in eval mode, from noise of
 * the given seed. */
static bool samples_from_run(gan_context *ctx, const char *dir, int count, uint64_t seed, samples *out)
{
    char path[PATH_MAX_LEN + 32];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    gan_checkpoint *ckpt = NULL;
    gan_model *g = NULL, *d = NULL;
    gan_checkpoint_info info;
    float *images = NULL;
    uint8_t *bytes = NULL;
    bool ok = false;
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
    const char *set = gan_checkpoint_meta(ckpt, "dataset");
    snprintf(out->dataset, sizeof out->dataset, "%s", set ? set : "");
    const size_t pixels = (size_t)m->image_size * m->image_size;
    images = malloc(sizeof *images * pixels * (size_t)count);
    bytes = malloc(pixels * (size_t)count);
    if (!images || !bytes) {
        fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    gan_random_seed(ctx, seed);
    if (gan_models_create(ctx, m->name, &info.model_params, &g, &d) != GAN_OK ||
        gan_checkpoint_load_generator(ckpt, g) != GAN_OK || gan_generate(g, m->z_ndim, m->z_dim, count, images) != GAN_OK) {
        fprintf(stderr, "%s: generating: %s\n", program, gan_context_error(ctx));
        goto done;
    }
    images_to_bytes(images, pixels * (size_t)count, bytes); /* as generate writes them */
    out->count = count;
    out->bytes = to_classifier_size(bytes, count, m->image_size, m->image_size);
    snprintf(out->what, sizeof out->what, "%d samples of %s's %s generator (eval mode, seed %llu)", count, dir, m->name,
             (unsigned long long)seed);
    ok = out->bytes != NULL;
    if (!ok)
        fprintf(stderr, "%s: out of memory\n", program);
done:
    free(images);
    free(bytes);
    gan_model_free(g);
    gan_model_free(d);
    gan_checkpoint_close(ckpt);
    return ok;
}

/* Features and predictions of count byte images. */
static bool describe(classifier *c, const uint8_t *bytes, int count, float *features, int *predictions)
{
    const size_t n = (size_t)count * SIDE * SIDE;
    float *scaled = malloc(sizeof *scaled * n);
    if (!scaled) {
        fprintf(stderr, "%s: out of memory\n", program);
        return false;
    }
    classifier_scale(bytes, n, scaled);
    const gan_status st = classifier_run(c, scaled, count, features, predictions);
    free(scaled);
    if (st != GAN_OK)
        fprintf(stderr, "%s: the classifier: %s\n", program, gan_context_error(c->ctx));
    return st == GAN_OK;
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
        {"--seed", OPT_INT64, &seed, 0, 9e15, "seed of those samples' noise, and of KID's subsets", false},
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
    dataset test = {0};
    classifier c = {0};
    float *sample_features = NULL, *test_features = NULL;
    int *sample_classes = NULL, *test_classes = NULL;
    feature_stats fs = {0}, ft = {0};
    struct stat sb;
    const bool run_folder = stat(sample_path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!(run_folder ? samples_from_run(ctx, sample_path, count, (uint64_t)seed, &s) : samples_from_idx(sample_path, &s)))
        goto done;
    if (!dataset_key)
        dataset_key = s.dataset[0] ? s.dataset : "mnist";
    const dataset_source *src = dataset_source_find(dataset_key);
    char err[4096], path[PATH_MAX_LEN + 64], trained_on[64];
    if (!src) {
        fprintf(stderr, "%s: --dataset takes mnist or fashion-mnist, not '%s'\n", program, dataset_key);
        goto done;
    }
    if (!dataset_load(src, data_dir, DATASET_TEST, !no_verify, &test, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        goto done;
    }
    snprintf(path, sizeof path, "%s", classifier_path ? classifier_path : "");
    if (!classifier_path)
        snprintf(path, sizeof path, "classifiers/%s.safetensors", src->key);
    double accuracy_saved;
    if (!classifier_load(ctx, path, &c, trained_on, sizeof trained_on, &accuracy_saved, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n%s: train it once with: build/apps/train_classifier --dataset %s\n", program, err,
                program, src->key);
        goto done;
    }
    if (strcmp(trained_on, src->key) != 0) {
        fprintf(stderr, "%s: %s was trained on %s, not %s\n", program, path, trained_on, src->key);
        goto done;
    }
    if (test.height != SIDE || test.width != SIDE) {
        fprintf(stderr, "%s: %s's test images are %dx%d, not %dx%d\n", program, test.dir, test.height, test.width,
                SIDE, SIDE);
        goto done;
    }
    sample_features = malloc(sizeof(float) * (size_t)s.count * CLASSIFIER_FEATURES);
    test_features = malloc(sizeof(float) * (size_t)test.count * CLASSIFIER_FEATURES);
    sample_classes = malloc(sizeof(int) * (size_t)s.count);
    test_classes = malloc(sizeof(int) * (size_t)test.count);
    if (!sample_features || !test_features || !sample_classes || !test_classes) {
        fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    if (!describe(&c, s.bytes, s.count, sample_features, sample_classes) ||
        !describe(&c, test.images.data, test.count, test_features, test_classes))
        goto done;
    int right = 0;
    for (int i = 0; i < test.count; i++)
        right += test_classes[i] == test.labels.data[i];
    double fid;
    if (!feature_stats_compute(sample_features, s.count, CLASSIFIER_FEATURES, &fs) ||
        !feature_stats_compute(test_features, test.count, CLASSIFIER_FEATURES, &ft)) {
        fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    if (!frechet_distance(&fs, &ft, &fid, err, sizeof err)) {
        fprintf(stderr, "%s: FID: %s\n", program, err);
        goto done;
    }
    const int subset = kid_size < s.count ? (kid_size < test.count ? kid_size : test.count)
                                          : (s.count < test.count ? s.count : test.count);
    double kid, kid_std;
    kernel_distance(sample_features, s.count, test_features, test.count, CLASSIFIER_FEATURES, kid_subsets, subset,
                    (uint64_t)seed, &kid, &kid_std);
    const class_spread spread = class_histogram(sample_classes, s.count, CLASSIFIER_CLASSES, 0.05);
    printf("%s: %s against the %d %s test images\n", program, s.what, test.count, src->title);
    printf("classifier %s: test accuracy %.2f%%\n", path, 100.0 * right / test.count);
    printf("FID %.3f\n", fid);
    printf("KID %.5f +- %.5f (%d subsets of %d)\n", kid, kid_std, kid_subsets, subset);
    printf("classes");
    for (int k = 0; k < CLASSIFIER_CLASSES; k++)
        printf(" %d:%.1f%%", k, 100.0 * spread.counts[k] / s.count);
    printf("\nentropy %.3f bits (%.3f for all classes alike)\n", spread.entropy_bits, 3.321928);
    printf("classes with at least 5%% of the samples: %d of %d\n", spread.classes_over_share, CLASSIFIER_CLASSES);
    status = 0;
done:
    feature_stats_free(&fs);
    feature_stats_free(&ft);
    free(sample_features), free(test_features), free(sample_classes), free(test_classes);
    free(s.bytes);
    classifier_free(&c);
    dataset_free(&test);
    gan_context_free(ctx);
    return status;
}
