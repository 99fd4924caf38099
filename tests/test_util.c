/* test_util.c - helpers shared by the tests. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <math.h>
#include <string.h>

int test_failures = 0;

int test_finish(const char *name)
{
    if (test_failures)
        fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
    else
        printf("%s: all checks passed\n", name);
    return test_failures ? 1 : 0;
}

gan_context *test_context(int threads, uint64_t seed)
{
    gan_context_params p = gan_context_default_params();
    p.num_threads = threads;
    p.seed = seed;
    gan_context *ctx = NULL;
    gan_status st = gan_context_create(&p, &ctx, NULL, 0);
    if (st != GAN_OK) {
        fprintf(stderr, "cannot create a CPU context: %s\n", gan_strerror(st));
        exit(1);
    }
    return ctx;
}

void test_fill(float *x, size_t n, float lo, float hi, unsigned *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(*state >> 8) / 16777216.0f;
    }
}

gan_tensor *test_tensor(gan_context *ctx, int ndim, const int *shape, const float *data)
{
    gan_tensor *t = NULL;
    REQUIRE_OK(ctx, gan_tensor_create(ctx, ndim, shape, &t));
    if (data)
        REQUIRE_OK(ctx, gan_tensor_write(t, data, gan_tensor_numel(t)));
    return t;
}

float *test_read(const gan_tensor *t)
{
    size_t n = gan_tensor_numel(t);
    float *p = malloc(n * sizeof *p);
    if (!p || gan_tensor_read(t, p, n) != GAN_OK) {
        fprintf(stderr, "cannot read a tensor back\n");
        exit(1);
    }
    return p;
}

double test_close_ratio(const float *a, const double *b, size_t n, double atol, double rtol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double r = d == 0.0 ? 0.0 : d / (atol + rtol * fabs(b[i]));
        if (!(r <= worst)) /* NaN counts as the worst */
            worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

void test_expect_close(const char *what, const float *got, const double *want, size_t n,
                       double atol, double rtol)
{
    double r = test_close_ratio(got, want, n, atol, rtol);
    if (!(r <= 1.0)) {
        fprintf(stderr, "  %s: error ratio %.3g exceeds tolerance (atol %g, rtol %g)\n", what, r,
                atol, rtol);
        for (size_t i = 0; i < n; i++)
            if (test_close_ratio(got + i, want + i, 1, atol, rtol) > 1.0) {
                fprintf(stderr, "    first at %zu: got %.9g want %.9g\n", i, got[i], want[i]);
                break;
            }
        test_failures++;
    }
}

void test_expect_norm_close(const char *what, const float *got, const double *want, size_t n, double atol,
                            double rtol)
{
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        norm += want[i] * want[i];
    }
    const double allowed = rtol * sqrt(norm) + atol * sqrt((double)n);
    if (!(sqrt(diff) <= allowed)) { /* NaN fails */
        fprintf(stderr, "  %s: norm of the difference %.3g exceeds %.3g (atol %g, rtol %g, norm %.3g)\n", what,
                sqrt(diff), allowed, atol, rtol, sqrt(norm));
        test_failures++;
    }
}

gan_model *test_single_layer_model(gan_context *ctx, gan_layer *layer)
{
    gan_model *m = NULL;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_model_add(m, layer));
    return m;
}

static char temp_dir[256];

void test_temp_dir_create(const char *name)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

void test_temp_dir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", temp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", temp_dir);
}

const char *test_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", temp_dir, name);
    return buf[k];
}

void test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

uint8_t *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}
