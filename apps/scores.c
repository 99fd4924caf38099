/* scores.c - FID, KID and class histograms of feature vectors. */
#include "scores.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool feature_stats_compute(const float *rows, int n, int d, feature_stats *out)
{
    out->d = d;
    out->mean = calloc((size_t)d, sizeof *out->mean);
    out->cov = calloc((size_t)d * d, sizeof *out->cov);
    double *centred = malloc(sizeof *centred * (size_t)d);
    if (!out->mean || !out->cov || !centred || n < 2) {
        free(centred);
        feature_stats_free(out);
        return false;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            out->mean[j] += rows[(size_t)i * d + j];
    for (int j = 0; j < d; j++)
        out->mean[j] /= n;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            centred[j] = rows[(size_t)i * d + j] - out->mean[j];
        for (int j = 0; j < d; j++)
            for (int k = j; k < d; k++)
                out->cov[(size_t)j * d + k] += centred[j] * centred[k];
    }
    for (int j = 0; j < d; j++)
        for (int k = j; k < d; k++)
            out->cov[(size_t)k * d + j] = out->cov[(size_t)j * d + k] /= (n - 1);
    free(centred);
    return true;
}

void feature_stats_free(feature_stats *s)
{
    free(s->mean);
    free(s->cov);
    s->mean = s->cov = NULL;
}

/* The eigenvalues (ascending, into w) and, when vectors is set, the
 * eigenvectors (the columns of m, in place) of the symmetric d x d m. */
static bool eigen(double *m, int d, double *w, bool vectors)
{
    return LAPACKE_dsyevd(LAPACK_ROW_MAJOR, vectors ? 'V' : 'N', 'U', d, m, d, w) == 0;
}

bool frechet_distance(const feature_stats *a, const feature_stats *b, double *out, char *err, size_t err_size)
{
    const int d = a->d;
    if (b->d != d) {
        snprintf(err, err_size, "feature sizes differ: %d and %d", a->d, b->d);
        return false;
    }
    const size_t dd = (size_t)d * d;
    double *v = malloc(sizeof *v * dd), *w = malloc(sizeof *w * (size_t)d), *root = calloc(dd, sizeof *root);
    double *tmp = calloc(dd, sizeof *tmp), *inner = calloc(dd, sizeof *inner);
    bool ok = v && w && root && tmp && inner;
    /* A^1/2 = V diag(sqrt(max(w, 0))) V^T */
    if (ok) {
        memcpy(v, a->cov, sizeof *v * dd);
        ok = eigen(v, d, w, true);
    }
    for (int i = 0; ok && i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int k = 0; k < d; k++)
                s += v[(size_t)i * d + k] * sqrt(fmax(w[k], 0.0)) * v[(size_t)j * d + k];
            root[(size_t)i * d + j] = s;
        }
    /* inner = A^1/2 B A^1/2, symmetric positive semi-definite */
    for (int i = 0; ok && i < d; i++)
        for (int k = 0; k < d; k++) {
            const double r = root[(size_t)i * d + k];
            for (int j = 0; j < d; j++)
                tmp[(size_t)i * d + j] += r * b->cov[(size_t)k * d + j];
        }
    for (int i = 0; ok && i < d; i++)
        for (int k = 0; k < d; k++) {
            const double t = tmp[(size_t)i * d + k];
            for (int j = 0; j < d; j++)
                inner[(size_t)i * d + j] += t * root[(size_t)k * d + j];
        }
    ok = ok && eigen(inner, d, w, false);
    if (ok) {
        double mean_term = 0.0, trace = 0.0, root_trace = 0.0;
        for (int i = 0; i < d; i++) {
            mean_term += (a->mean[i] - b->mean[i]) * (a->mean[i] - b->mean[i]);
            trace += a->cov[(size_t)i * d + i] + b->cov[(size_t)i * d + i];
            root_trace += sqrt(fmax(w[i], 0.0));
        }
        *out = mean_term + trace - 2.0 * root_trace;
    } else {
        snprintf(err, err_size, v && w && root && tmp && inner ? "LAPACK's eigensolver did not converge"
                                                             : "out of memory");
    }
    free(v), free(w), free(root), free(tmp), free(inner);
    return ok;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* size distinct indices below n, the first size of a partial shuffle. */
static void draw(int *pool, int n, int size, uint64_t *state)
{
    for (int i = 0; i < n; i++)
        pool[i] = i;
    for (int i = 0; i < size; i++) {
        const int j = i + (int)(next_random(state) % (uint64_t)(n - i));
        const int t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
}

static double cubic_kernel(const float *u, const float *v, int d)
{
    double dot = 0.0;
    for (int k = 0; k < d; k++)
        dot += (double)u[k] * v[k];
    const double base = dot / d + 1.0;
    return base * base * base;
}

/* The unbiased MMD^2 of size rows of x and of y, picked by xi and yi. */
static double mmd2(const float *x, const int *xi, const float *y, const int *yi, int size, int d)
{
    double kxx = 0.0, kyy = 0.0, kxy = 0.0;
#pragma omp parallel for reduction(+ : kxx, kyy, kxy) schedule(dynamic, 16)
    for (int i = 0; i < size; i++) {
        const float *xr = x + (size_t)xi[i] * d, *yr = y + (size_t)yi[i] * d;
        for (int j = 0; j < size; j++) {
            const float *xs = x + (size_t)xi[j] * d, *ys = y + (size_t)yi[j] * d;
            if (j != i) {
                kxx += cubic_kernel(xr, xs, d);
                kyy += cubic_kernel(yr, ys, d);
            }
            kxy += cubic_kernel(xr, ys, d);
        }
    }
    const double m = size;
    return (kxx + kyy) / (m * (m - 1)) - 2.0 * kxy / (m * m);
}

void kernel_distance(const float *x, int nx, const float *y, int ny, int d, int subsets, int size, uint64_t seed,
                     double *mean, double *std)
{
    int *xi = malloc(sizeof *xi * (size_t)nx), *yi = malloc(sizeof *yi * (size_t)ny);
    /* Welford's running mean and sum of squared deviations: the textbook
     * sum_sq / n - mean^2 cancels, and for equal values leaves a rounding
     * residue whose square root is near 1e-8 */
    double running_mean = 0.0, squared_deviations = 0.0;
    uint64_t state = seed;
    for (int s = 0; xi && yi && s < subsets; s++) {
        draw(xi, nx, size, &state);
        draw(yi, ny, size, &state);
        const double v = mmd2(x, xi, y, yi, size, d);
        const double delta = v - running_mean;
        running_mean += delta / (s + 1);
        squared_deviations += delta * (v - running_mean);
    }
    *mean = xi && yi ? running_mean : NAN;
    *std = xi && yi && subsets > 1 ? sqrt(squared_deviations / subsets) : 0.0;
    free(xi);
    free(yi);
}

class_spread class_histogram(const int *predictions, int n, int classes, double share)
{
    class_spread s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < n; i++)
        if (predictions[i] >= 0 && predictions[i] < classes && predictions[i] < 64)
            s.counts[predictions[i]]++;
    for (int c = 0; c < classes && c < 64; c++) {
        const double p = n ? (double)s.counts[c] / n : 0.0;
        if (p > 0)
            s.entropy_bits -= p * log2(p);
        s.classes_over_share += n && p >= share;
    }
    return s;
}
