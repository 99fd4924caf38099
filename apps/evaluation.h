/* evaluation.h - scoring samples against a data set's test images with the
 * evaluator's classifier: the test split and its features are read and
 * computed once, then any number of sample sets are scored (FID, KID, the
 * class histogram). Used by evaluate and by the training programs. */
#ifndef GAN_APPS_EVALUATION_H
#define GAN_APPS_EVALUATION_H

#include "dataset.h"
#include "scores.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct evaluation evaluation;

typedef struct evaluation_result {
    int count;            /* samples scored */
    double fid, kid, kid_std;
    int kid_subsets, kid_size;
    class_spread spread;  /* of the classifier's predictions, 5% threshold */
} evaluation_result;

/* The classifier file a data set's evaluation uses unless told otherwise. */
void evaluation_default_classifier(const dataset_source *src, char *path, size_t size);

/* Loads the test split of src (data_dir as dataset_load takes it) and the
 * classifier at classifier_path, trained on src, and computes the test
 * images' features; the context's random generator is left as it was.
 * NULL on failure with a message in err. */
evaluation *evaluation_open(gan_context *ctx, const dataset_source *src, const char *data_dir, bool verify,
                            const char *classifier_path, char *err, size_t err_size);
void evaluation_free(evaluation *e);
/* The classifier's accuracy on the test images. */
double evaluation_test_accuracy(const evaluation *e);
int evaluation_test_count(const evaluation *e);

/* Scores count grey images of h x w bytes (resized to 28x28 when of another
 * size): FID and KID against the test images (KID over `kid_subsets`
 * subsets of at most kid_size, drawn from seed) and the class histogram.
 * False with a message in err. */
bool evaluation_score(evaluation *e, const uint8_t *images, int count, int h, int w, int kid_subsets, int kid_size,
                      uint64_t seed, evaluation_result *out, char *err, size_t err_size);

/* count samples of g (eval mode; m describes it; in ctx) as bytes, as
 * generate writes them: the noise drawn from ctx's random generator seeded
 * with seed, which is left as it was. False with a message in err. */
bool evaluation_sample(gan_context *ctx, gan_model *g, const gan_models_info *m, int count, uint64_t seed, uint8_t *bytes, char *err,
                       size_t err_size);

/* The result's lines, as evaluate prints them. */
void evaluation_print(FILE *f, const evaluation_result *r);

#endif
