/* evaluation.c - the test split's features once, then FID, KID and class
 * histograms of sample sets. */
#define _POSIX_C_SOURCE 200809L
#include "evaluation.h"

#include "classifier.h"
#include "images.h"

#include <stb_image_resize.h>
#include <stdlib.h>
#include <string.h>

enum { SIDE = CLASSIFIER_SIDE, FEATURES = CLASSIFIER_FEATURES };

struct evaluation {
    gan_context *ctx;     /* borrowed */
    classifier model;
    dataset test;
    float *test_features; /* [count][FEATURES] */
    feature_stats test_stats;
    double test_accuracy;
};

void evaluation_default_classifier(const dataset_source *src, char *path, size_t size)
{
    snprintf(path, size, "classifiers/%s.safetensors", src->key);
}

/* count byte images as the classifier's input, through the classifier:
 * features and predictions (either may be NULL). */
static bool classify(evaluation *e, const uint8_t *bytes, int count, float *features, int *predictions, char *err,
                     size_t err_size)
{
    const size_t n = (size_t)count * SIDE * SIDE;
    float *scaled = malloc(sizeof *scaled * n);
    if (!scaled) {
        snprintf(err, err_size, "out of memory");
        return false;
    }
    classifier_scale(bytes, n, scaled);
    const gan_status st = classifier_run(&e->model, scaled, count, features, predictions);
    free(scaled);
    if (st != GAN_OK)
        snprintf(err, err_size, "the classifier: %s", gan_context_error(e->ctx));
    return st == GAN_OK;
}

evaluation *evaluation_open(gan_context *ctx, const dataset_source *src, const char *data_dir, bool verify,
                            const char *classifier_path, char *err, size_t err_size)
{
    evaluation *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    e->ctx = ctx;
    uint64_t state[4]; /* making the classifier draws its first weights: the caller's generator is left as it was */
    gan_random_get_state(ctx, state);
    char trained_on[64];
    int *predictions = NULL;
    bool ok = dataset_load(src, data_dir, DATASET_TEST, verify, &e->test, err, err_size);
    if (ok && (e->test.height != SIDE || e->test.width != SIDE)) {
        snprintf(err, err_size, "%s's test images are %dx%d, not %dx%d", e->test.dir, e->test.height, e->test.width,
                 SIDE, SIDE);
        ok = false;
    }
    if (ok && !classifier_load(ctx, classifier_path, &e->model, trained_on, sizeof trained_on, NULL, err, err_size)) {
        const size_t len = strlen(err);
        snprintf(err + len, err_size - len, "; train it once with: build/apps/train_classifier --dataset %s", src->key);
        ok = false;
    }
    if (ok && strcmp(trained_on, src->key) != 0) {
        snprintf(err, err_size, "%s was trained on %s, not %s", classifier_path, trained_on, src->key);
        ok = false;
    }
    if (ok) {
        e->test_features = malloc(sizeof *e->test_features * (size_t)e->test.count * FEATURES);
        predictions = malloc(sizeof *predictions * (size_t)e->test.count);
        ok = e->test_features && predictions;
        if (!ok)
            snprintf(err, err_size, "out of memory");
    }
    ok = ok && classify(e, e->test.images.data, e->test.count, e->test_features, predictions, err, err_size);
    if (ok && !feature_stats_compute(e->test_features, e->test.count, FEATURES, &e->test_stats)) {
        snprintf(err, err_size, "out of memory");
        ok = false;
    }
    if (ok) {
        int right = 0;
        for (int i = 0; i < e->test.count; i++)
            right += predictions[i] == e->test.labels.data[i];
        e->test_accuracy = (double)right / e->test.count;
    }
    free(predictions);
    gan_random_set_state(ctx, state);
    if (!ok) {
        evaluation_free(e);
        return NULL;
    }
    return e;
}

void evaluation_free(evaluation *e)
{
    if (!e)
        return;
    classifier_free(&e->model);
    dataset_free(&e->test);
    free(e->test_features);
    feature_stats_free(&e->test_stats);
    free(e);
}

double evaluation_test_accuracy(const evaluation *e) { return e->test_accuracy; }

int evaluation_test_count(const evaluation *e) { return e->test.count; }

bool evaluation_score(evaluation *e, const uint8_t *images, int count, int h, int w, int kid_subsets, int kid_size,
                      uint64_t seed, evaluation_result *out, char *err, size_t err_size)
{
    if (count < 2) {
        snprintf(err, err_size, "%d sample(s): FID needs 2 or more", count);
        return false;
    }
    uint8_t *resized = malloc((size_t)count * SIDE * SIDE);
    float *features = malloc(sizeof *features * (size_t)count * FEATURES);
    int *predictions = malloc(sizeof *predictions * (size_t)count);
    feature_stats stats = {0};
    bool ok = resized && features && predictions;
    if (!ok)
        snprintf(err, err_size, "out of memory");
    for (int i = 0; ok && i < count; i++) {
        const uint8_t *src = images + (size_t)i * h * w;
        uint8_t *dst = resized + (size_t)i * SIDE * SIDE;
        if (h == SIDE && w == SIDE)
            memcpy(dst, src, (size_t)SIDE * SIDE);
        else if (!stbir_resize_uint8(src, w, h, w, dst, SIDE, SIDE, SIDE, 1)) {
            snprintf(err, err_size, "out of memory resizing the samples");
            ok = false;
        }
    }
    ok = ok && classify(e, resized, count, features, predictions, err, err_size);
    if (ok && !feature_stats_compute(features, count, FEATURES, &stats)) {
        snprintf(err, err_size, "out of memory");
        ok = false;
    }
    ok = ok && frechet_distance(&stats, &e->test_stats, &out->fid, err, err_size);
    if (ok) {
        const int most = count < e->test.count ? count : e->test.count;
        out->count = count;
        out->kid_subsets = kid_subsets;
        out->kid_size = kid_size < most ? kid_size : most;
        kernel_distance(features, count, e->test_features, e->test.count, FEATURES, kid_subsets, out->kid_size, seed,
                        &out->kid, &out->kid_std);
        out->spread = class_histogram(predictions, count, CLASSIFIER_CLASSES, 0.05);
    }
    feature_stats_free(&stats);
    free(resized), free(features), free(predictions);
    return ok;
}

void evaluation_print(FILE *f, const evaluation_result *r)
{
    fprintf(f, "FID %.3f\n", r->fid);
    fprintf(f, "KID %.5f +- %.5f (%d subsets of %d)\n", r->kid, r->kid_std, r->kid_subsets, r->kid_size);
    fprintf(f, "classes");
    for (int k = 0; k < CLASSIFIER_CLASSES; k++)
        fprintf(f, " %d:%.1f%%", k, 100.0 * r->spread.counts[k] / r->count);
    fprintf(f, "\nentropy %.3f bits (%.3f for all classes alike)\n", r->spread.entropy_bits, 3.321928);
    fprintf(f, "classes with at least 5%% of the samples: %d of %d\n", r->spread.classes_over_share,
            CLASSIFIER_CLASSES);
}

bool evaluation_sample(gan_context *ctx, gan_model *g, const gan_models_info *m, int count, uint64_t seed, uint8_t *bytes, char *err,
                       size_t err_size)
{
    enum { CHUNK = 1000 }; /* samples generated at a time */
    const size_t pixels = (size_t)m->image_size * m->image_size * m->channels;
    float *chunk = malloc(sizeof *chunk * pixels * CHUNK);
    if (!chunk) {
        snprintf(err, err_size, "out of memory for the samples");
        return false;
    }
    uint64_t state[4];
    gan_random_get_state(ctx, state);
    gan_random_seed(ctx, seed);
    bool good = true;
    for (int at = 0; good && at < count; at += CHUNK) {
        const int n = count - at < CHUNK ? count - at : CHUNK;
        good = gan_generate(g, m->z_ndim, m->z_dim, n, chunk) == GAN_OK;
        if (good)
            images_to_bytes(chunk, pixels * (size_t)n, bytes + pixels * (size_t)at);
    }
    if (!good)
        snprintf(err, err_size, "generating: %s", gan_context_error(ctx));
    gan_random_set_state(ctx, state);
    free(chunk);
    return good;
}
