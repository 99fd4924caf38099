/* dataset.h - finding, verifying and loading MNIST-style data sets (the
 * library's gan_sampler makes the training batches). */
#ifndef GAN_APPS_DATASET_H
#define GAN_APPS_DATASET_H

#include "gan.h"

#include <stdbool.h>

typedef struct dataset_source {
    const char *key;         /* "mnist", "fashion-mnist" */
    const char *title;       /* "MNIST" */
    const char *env_var;     /* directory override */
    const char *local_dir;   /* ./data/... */
    const char *system_dir;  /* a distribution's install path, or NULL */
    const char *fetch_hint;  /* the exact command that fetches it */
    const char *sha256[4];   /* train images and labels, test images and labels: of the uncompressed files */
} dataset_source;

typedef enum dataset_split { DATASET_TRAIN, DATASET_TEST } dataset_split;

const dataset_source *dataset_source_find(const char *key);

typedef struct dataset {
    char dir[1024];
    gan_idx images, labels;
    int count, height, width;
} dataset;

/* Finds the folder: data_dir when given, else $env_var, ./local_dir,
 * system_dir; loads the split (train-* or t10k-* files). Checks each file's
 * SHA-256 when verify is set and that images and labels agree. On failure
 * returns false with a message in err. */
bool dataset_load(const dataset_source *src, const char *data_dir, dataset_split split, bool verify,
                  dataset *out, char *err, size_t err_size);
void dataset_free(dataset *ds);

/* Lowercase hex SHA-256 of data into hex[65]. */
void sha256_hex(const uint8_t *data, size_t n, char hex[65]);

#endif
