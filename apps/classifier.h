/* classifier.h - the evaluator's classifier of 28x28 grey images into 10
 * classes (MNIST digits, Fashion-MNIST garments), trained by libgan: a
 * small CNN whose last hidden layer, 256 features after batch norm and
 * ReLU, is the feature space of FID and KID. Two models: `features`
 * (image to the 256 features) and `head` (features to the 10 logits). */
#ifndef GAN_APPS_CLASSIFIER_H
#define GAN_APPS_CLASSIFIER_H

#include "gan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CLASSIFIER_SIDE = 28, CLASSIFIER_FEATURES = 256, CLASSIFIER_CLASSES = 10 };

typedef struct classifier {
    gan_context *ctx;          /* borrowed */
    gan_model *features, *head; /* owned */
} classifier;

/* Builds both models with PyTorch's default initialization from the
 * context's generator; false with the library's message on failure. */
bool classifier_create(gan_context *ctx, classifier *out);
void classifier_free(classifier *c);

/* Saves both models ("features.0.weight", "head.0.bias", ...) as a
 * safetensors file with the caller's metadata pairs. */
gan_status classifier_save(const classifier *c, const char *path, const char *const (*meta)[2], size_t n_meta);
/* Builds the models and loads them from path; *dataset (may be NULL)
 * receives the data set it was trained on ("mnist", ...), and *accuracy
 * (may be NULL) its test accuracy, from the metadata. False with a
 * message in err. */
bool classifier_load(gan_context *ctx, const char *path, classifier *out, char *dataset, size_t dataset_size,
                     double *accuracy, char *err, size_t err_size);

/* Runs count images ([count][28][28] floats in [-1, 1]) through the models
 * in eval mode, in batches; features (count x 256) and predictions (the
 * classes of the largest logits) may be NULL. */
gan_status classifier_run(classifier *c, const float *images, int count, float *features, int *predictions);

/* Bytes 0..255 ([count][28][28]) as classifier_run's input. */
void classifier_scale(const uint8_t *bytes, size_t n, float *out);

#endif
