/* scores.h - distances between two sets of feature vectors: the Frechet
 * distance of their Gaussian fits (FID, with LAPACK's symmetric
 * eigensolver for the matrix square root) and the kernel distance (KID,
 * the unbiased MMD^2 of the cubic polynomial kernel), and the class
 * histogram of a set of predictions. */
#ifndef GAN_APPS_SCORES_H
#define GAN_APPS_SCORES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The mean and covariance (n - 1 in the denominator) of n >= 2 rows of d
 * features, in double precision. */
typedef struct feature_stats {
    int d;
    double *mean; /* d; owned */
    double *cov;  /* d x d, row-major; owned */
} feature_stats;

/* False when out of memory. */
bool feature_stats_compute(const float *rows, int n, int d, feature_stats *out);
void feature_stats_free(feature_stats *s);

/* |mu_a - mu_b|^2 + tr(A + B - 2 (A^1/2 B A^1/2)^1/2): the Frechet distance
 * of N(mu_a, A) and N(mu_b, B). False with a message in err when LAPACK
 * fails or the sizes differ. */
bool frechet_distance(const feature_stats *a, const feature_stats *b, double *out, char *err, size_t err_size);

/* KID of x (nx rows) and y (ny rows) of d features: over `subsets` draws
 * of `size` rows from each (without replacement within a draw, seeded),
 * the unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3; their mean and
 * standard deviation. size must not exceed nx or ny. */
void kernel_distance(const float *x, int nx, const float *y, int ny, int d, int subsets, int size, uint64_t seed,
                     double *mean, double *std);

/* How the n predictions (class indices 0 to classes - 1) spread: counts
 * per class, the entropy of that histogram in bits, and how many classes
 * hold at least `share` of the predictions. */
typedef struct class_spread {
    int counts[64];
    double entropy_bits;
    int classes_over_share;
} class_spread;
class_spread class_histogram(const int *predictions, int n, int classes, double share);

#endif
