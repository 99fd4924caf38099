/* classifier.c - the evaluator's CNN: its layers, file and forward pass. */
#include "classifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUN_BATCH = 500, MAX_ENTRIES = 64 };

/* Conv2d (no bias: batch norm follows), BatchNorm2d, ReLU */
static gan_status conv_block(gan_context *ctx, gan_model *m, int in, int out, int kernel, int stride, int pad)
{
    gan_conv2d_params p = gan_conv2d_default_params(in, out, kernel);
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.bias = 0;
    gan_layer *l;
    gan_status st = gan_conv2d_create(ctx, &p, &l);
    if (st == GAN_OK)
        st = gan_model_add(m, l);
    if (st == GAN_OK)
        st = gan_batchnorm2d_create(ctx, out, 1e-5f, 0.1f, &l);
    if (st == GAN_OK)
        st = gan_model_add(m, l);
    if (st == GAN_OK)
        st = gan_relu_create(ctx, &l);
    return st == GAN_OK ? gan_model_add(m, l) : st;
}

bool classifier_create(gan_context *ctx, classifier *out)
{
    *out = (classifier){ctx, NULL, NULL};
    gan_layer *l;
    /* 28x28 -> 32 x 28x28 -> 64 x 14x14 -> 128 x 7x7 -> 256 -> 10 */
    gan_status st = gan_model_create(ctx, &out->features);
    if (st == GAN_OK)
        st = conv_block(ctx, out->features, 1, 32, 3, 1, 1);
    if (st == GAN_OK)
        st = conv_block(ctx, out->features, 32, 64, 4, 2, 1);
    if (st == GAN_OK)
        st = conv_block(ctx, out->features, 64, 128, 4, 2, 1);
    if (st == GAN_OK && (st = gan_flatten_create(ctx, &l)) == GAN_OK)
        st = gan_model_add(out->features, l);
    if (st == GAN_OK && (st = gan_linear_create(ctx, 128 * 7 * 7, CLASSIFIER_FEATURES, 0, &l)) == GAN_OK)
        st = gan_model_add(out->features, l);
    if (st == GAN_OK && (st = gan_batchnorm1d_create(ctx, CLASSIFIER_FEATURES, 1e-5f, 0.1f, &l)) == GAN_OK)
        st = gan_model_add(out->features, l);
    if (st == GAN_OK && (st = gan_relu_create(ctx, &l)) == GAN_OK)
        st = gan_model_add(out->features, l);
    if (st == GAN_OK)
        st = gan_model_create(ctx, &out->head);
    if (st == GAN_OK && (st = gan_linear_create(ctx, CLASSIFIER_FEATURES, CLASSIFIER_CLASSES, 1, &l)) == GAN_OK)
        st = gan_model_add(out->head, l);
    if (st != GAN_OK) {
        classifier_free(out);
        return false;
    }
    return true;
}

void classifier_free(classifier *c)
{
    gan_model_free(c->features);
    gan_model_free(c->head);
    c->features = c->head = NULL;
}

/* Both models' entries, named "features.NAME" and "head.NAME"; returns how
 * many (at most MAX_ENTRIES). */
static size_t named_entries(const classifier *c, gan_entry *out)
{
    const struct { const char *prefix; const gan_model *m; } parts[2] = {{"features.", c->features}, {"head.", c->head}};
    size_t n = 0;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < gan_model_entry_count(parts[p].m) && n < MAX_ENTRIES; i++) {
            gan_entry e;
            if (gan_model_entry(parts[p].m, i, &e) != GAN_OK)
                continue;
            out[n] = e;
            snprintf(out[n].name, sizeof out[n].name, "%s%s", parts[p].prefix, e.name);
            n++;
        }
    return n;
}

gan_status classifier_save(const classifier *c, const char *path, const char *const (*meta)[2], size_t n_meta)
{
    gan_entry entries[MAX_ENTRIES];
    const size_t n = named_entries(c, entries);
    return gan_safetensors_save(c->ctx, path, entries, n, meta, n_meta);
}

bool classifier_load(gan_context *ctx, const char *path, classifier *out, char *dataset, size_t dataset_size,
                     double *accuracy, char *err, size_t err_size)
{
    gan_safetensors *st = NULL;
    if (!classifier_create(ctx, out) || gan_safetensors_open(ctx, path, &st) != GAN_OK) {
        snprintf(err, err_size, "%s", gan_context_error(ctx));
        classifier_free(out);
        return false;
    }
    const char *kind = gan_safetensors_meta(st, "classifier"), *set = gan_safetensors_meta(st, "dataset");
    const char *acc = gan_safetensors_meta(st, "test_accuracy");
    bool ok = kind && strcmp(kind, "libgan-evaluator-1") == 0 && set && acc;
    if (!ok)
        snprintf(err, err_size, "%s: not an evaluator classifier of train_classifier (its metadata lacks "
                                "classifier, dataset or test_accuracy)", path);
    gan_entry entries[MAX_ENTRIES];
    const size_t n = named_entries(out, entries);
    for (size_t i = 0; ok && i < n; i++)
        if (gan_safetensors_load(st, &entries[i]) != GAN_OK) {
            snprintf(err, err_size, "%s", gan_context_error(ctx));
            ok = false;
        }
    if (ok && dataset)
        snprintf(dataset, dataset_size, "%s", set);
    if (ok && accuracy)
        *accuracy = strtod(acc, NULL);
    gan_safetensors_close(st);
    if (!ok)
        classifier_free(out);
    return ok;
}

void classifier_scale(const uint8_t *bytes, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)bytes[i] / 127.5f - 1.0f;
}

gan_status classifier_run(classifier *c, const float *images, int count, float *features, int *predictions)
{
    gan_context *ctx = c->ctx;
    gan_model_set_training(c->features, 0);
    gan_model_set_training(c->head, 0);
    const size_t image_floats = (size_t)CLASSIFIER_SIDE * CLASSIFIER_SIDE;
    float logits[RUN_BATCH * CLASSIFIER_CLASSES];
    gan_tensor *x = NULL;
    gan_status st = GAN_OK;
    for (int at = 0; st == GAN_OK && at < count; at += RUN_BATCH) {
        const int b = count - at < RUN_BATCH ? count - at : RUN_BATCH;
        if (!x || gan_tensor_dim(x, 0) != b) {
            gan_tensor_free(x);
            st = gan_tensor_create(ctx, 4, (const int[]){b, 1, CLASSIFIER_SIDE, CLASSIFIER_SIDE}, &x);
        }
        const gan_tensor *f, *y;
        if (st == GAN_OK)
            st = gan_tensor_write(x, images + (size_t)at * image_floats, (size_t)b * image_floats);
        if (st == GAN_OK)
            st = gan_model_forward(c->features, x, &f);
        if (st == GAN_OK && features)
            st = gan_tensor_read(f, features + (size_t)at * CLASSIFIER_FEATURES, (size_t)b * CLASSIFIER_FEATURES);
        if (st == GAN_OK && predictions)
            st = gan_model_forward(c->head, f, &y);
        if (st == GAN_OK && predictions)
            st = gan_tensor_read(y, logits, (size_t)b * CLASSIFIER_CLASSES);
        for (int i = 0; st == GAN_OK && predictions && i < b; i++) {
            int best = 0;
            for (int k = 1; k < CLASSIFIER_CLASSES; k++)
                best = logits[i * CLASSIFIER_CLASSES + k] > logits[i * CLASSIFIER_CLASSES + best] ? k : best;
            predictions[at + i] = best;
        }
    }
    gan_tensor_free(x);
    gan_model_set_training(c->features, 1);
    gan_model_set_training(c->head, 1);
    return st;
}
