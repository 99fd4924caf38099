/* test_util.h - a small harness: checks that count failures, host
 * references in double precision, and tensor helpers. */
#ifndef GAN_TEST_UTIL_H
#define GAN_TEST_UTIL_H

#include "gan.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
            test_failures++;                                                          \
        }                                                                             \
    } while (0)

/* Aborts the test program when a setup call fails: nothing after it can run. */
#define REQUIRE_OK(ctx, call)                                                          \
    do {                                                                               \
        gan_status st_ = (call);                                                       \
        if (st_ != GAN_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,  \
                    gan_strerror(st_), gan_context_error(ctx));                        \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* call returns want with a message in the context, one that contains
 * needle ("": any) */
#define EXPECT_ERR(ctx, call, want, needle)                                             \
    do {                                                                                \
        gan_status got_ = (call);                                                       \
        if (got_ != (want)) {                                                           \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, \
                    #call, gan_strerror(got_), gan_strerror(want));                     \
            test_failures++;                                                            \
        } else if (!gan_context_error(ctx)[0] || !strstr(gan_context_error(ctx), (needle))) { \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,  \
                    gan_context_error(ctx), (needle));                                  \
            test_failures++;                                                            \
        }                                                                               \
    } while (0)

/* Prints the summary line and returns the exit code. */
int test_finish(const char *name);

gan_context *test_context(int threads, uint64_t seed);

/* Uniform host values in [lo, hi) from a local LCG, independent of the library. */
void test_fill(float *x, size_t n, float lo, float hi, unsigned *state);

/* Tensor of the given shape holding data (copied). */
gan_tensor *test_tensor(gan_context *ctx, int ndim, const int *shape, const float *data);
/* Reads a whole tensor into a new host array (caller frees). */
float *test_read(const gan_tensor *t);

/* max |a - b| / (atol + rtol * |b|) over n values; <= 1 means close. */
double test_close_ratio(const float *a, const double *b, size_t n, double atol, double rtol);
/* Reports (name, worst ratio) and counts a failure when above 1. */
void test_expect_close(const char *what, const float *got, const double *want, size_t n,
                       double atol, double rtol);

/* Counts a failure unless ||got - want||_2 <= rtol ||want||_2 + atol sqrt(n):
 * for results of whole training steps, where a rounding difference can
 * flip a ReLU's side and move a few elements by their full size. */
void test_expect_norm_close(const char *what, const float *got, const double *want, size_t n, double atol,
                            double rtol);

/* A fresh folder under /tmp for the test's files (test_path names one in
 * it; the last 4 names stay valid), removed with everything in it. */
void test_temp_dir_create(const char *name);
void test_temp_dir_remove(void);
const char *test_path(const char *name);
/* Whole files; test_write_file exits on failure, test_read_file returns
 * NULL for a missing file (caller frees). */
void test_write_file(const char *path, const void *data, size_t n);
uint8_t *test_read_file(const char *path, size_t *n);

/* A model of one layer, for tests of that layer. */
gan_model *test_single_layer_model(gan_context *ctx, gan_layer *layer);

#endif
