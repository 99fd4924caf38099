/* test_gemm.c - the packed GEMM against a naive double-precision loop, for
 * every micro-kernel this CPU runs, on odd sizes that cross every block
 * edge, all transpose combinations, alpha and beta, with the threads
 * splitting C as they choose or by rows; plus determinism across thread
 * counts and splits, and the operands read in place giving the bits of
 * the same products packed. */
#include "cpu_gemm.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static void naive_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a,
                       const float *b, float beta, const float *c0, double *c)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int p = 0; p < k; p++)
                s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            c[i * n + j] = alpha * s + (beta == 0.0f ? 0.0 : beta * (double)c0[i * n + j]);
        }
}

static void check_shape(const gan_gemm_plan *plan, int m, int n, int k, unsigned *seed)
{
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * n), *c0 = malloc(sizeof(float) * (size_t)m * n);
    double *want = malloc(sizeof(double) * (size_t)m * n);
    test_fill(a, (size_t)m * k, -1, 1, seed);
    test_fill(b, (size_t)k * n, -1, 1, seed);
    test_fill(c0, (size_t)m * n, -1, 1, seed);
    const float alphas[2] = {1.0f, -0.5f}, betas[3] = {0.0f, 1.0f, 0.75f};
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        for (int ab = 0; ab < 3; ab++) {
            const float alpha = alphas[ab % 2], beta = betas[ab];
            if (beta == 0.0f) /* beta 0 must not read C */
                for (size_t i = 0; i < (size_t)m * n; i++)
                    c[i] = NAN;
            else
                memcpy(c, c0, sizeof(float) * (size_t)m * n);
            gan_cpu_gemm(plan, ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
            naive_gemm(ta, tb, m, n, k, alpha, a, b, beta, c0, want);
            char what[160];
            snprintf(what, sizeof what, "%s m=%d n=%d k=%d ta=%d tb=%d alpha=%g beta=%g",
                     plan->kernel->name, m, n, k, ta, tb, alpha, beta);
            test_expect_close(what, c, want, (size_t)m * n, 1e-5 * (k + 1), 1e-5);
            /* the same product with the rows split between threads */
            if (beta == 0.0f)
                for (size_t i = 0; i < (size_t)m * n; i++)
                    c[i] = NAN;
            else
                memcpy(c, c0, sizeof(float) * (size_t)m * n);
            gan_cpu_gemm_rows(plan, ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
            strncat(what, " (rows split)", sizeof what - strlen(what) - 1);
            test_expect_close(what, c, want, (size_t)m * n, 1e-5 * (k + 1), 1e-5);
        }
    }
    free(a), free(b), free(c), free(c0), free(want);
}

/* NCHW operands: C[ch][(s,p)] = A[ch][(s,p)-indexed K] ... checked against
 * the same product on explicitly reordered plain matrices. */
static void check_nchw(const gan_gemm_plan *plan, int samples, int spatial, int channels, int other, unsigned *seed)
{
    const int cols = samples * spatial;
    /* x: NCHW [samples][channels][spatial]; as a matrix [channels][cols] */
    float *x = malloc(sizeof(float) * (size_t)cols * channels), *xm = malloc(sizeof(float) * (size_t)cols * channels);
    test_fill(x, (size_t)cols * channels, -1, 1, seed);
    for (int s = 0; s < samples; s++)
        for (int ch = 0; ch < channels; ch++)
            for (int p = 0; p < spatial; p++)
                xm[(size_t)ch * cols + s * spatial + p] = x[((size_t)s * channels + ch) * spatial + p];
    float *w = malloc(sizeof(float) * (size_t)other * channels);
    test_fill(w, (size_t)other * channels, -1, 1, seed);
    double *want = malloc(sizeof(double) * (size_t)(other + channels) * (cols + other));
    char what[128];

    /* B in NCHW: out[other][cols] = w[other][channels] * x */
    float *out = malloc(sizeof(float) * (size_t)other * cols);
    gan_cpu_gemm_matrices(plan, other, cols, channels, 1.0f, gan_plain(w, channels, false), gan_nchw(x, channels, spatial),
                          0.0f, gan_plain(out, cols, false));
    naive_gemm(false, false, other, cols, channels, 1.0f, w, xm, 0.0f, NULL, want);
    snprintf(what, sizeof what, "%s NCHW B, S=%d", plan->kernel->name, spatial);
    test_expect_close(what, out, want, (size_t)other * cols, 1e-5 * channels, 1e-5);

    /* A in NCHW: g[channels][other] = x * v^T, v [other][cols] */
    float *v = malloc(sizeof(float) * (size_t)other * cols), *g = malloc(sizeof(float) * (size_t)channels * other);
    test_fill(v, (size_t)other * cols, -1, 1, seed);
    gan_cpu_gemm_matrices(plan, channels, other, cols, 1.0f, gan_nchw(x, channels, spatial), gan_plain(v, cols, true),
                          0.0f, gan_plain(g, other, false));
    naive_gemm(false, true, channels, other, cols, 1.0f, xm, v, 0.0f, NULL, want);
    snprintf(what, sizeof what, "%s NCHW A, S=%d", plan->kernel->name, spatial);
    test_expect_close(what, g, want, (size_t)channels * other, 1e-5 * cols, 1e-5);

    /* C in NCHW with beta: x = 0.5 x + wt^T * u, wt [other][channels], u [other][cols] */
    float *u = malloc(sizeof(float) * (size_t)other * cols);
    test_fill(u, (size_t)other * cols, -1, 1, seed);
    naive_gemm(true, false, channels, cols, other, 1.0f, w, u, 0.5f, xm, want);
    gan_cpu_gemm_matrices(plan, channels, cols, other, 1.0f, gan_plain(w, channels, true), gan_plain(u, cols, false),
                          0.5f, gan_nchw(x, channels, spatial));
    for (int s = 0; s < samples; s++)
        for (int ch = 0; ch < channels; ch++)
            for (int p = 0; p < spatial; p++)
                xm[(size_t)ch * cols + s * spatial + p] = x[((size_t)s * channels + ch) * spatial + p];
    snprintf(what, sizeof what, "%s NCHW C, S=%d", plan->kernel->name, spatial);
    test_expect_close(what, xm, want, (size_t)channels * cols, 1e-5 * other, 1e-5);
    free(x), free(xm), free(w), free(want), free(out), free(v), free(g), free(u);
}

/* NCHW B with the columns of each group of samples interleaved: the same
 * product on the columns written out in that order as a plain matrix, and
 * the same bits with the plan's threads as with one */
static void check_nchw_grouped(gan_gemm_plan *plan, int samples, int spatial, int channels, int other, int group,
                               unsigned *seed)
{
    const int cols = samples * spatial;
    float *x = malloc(sizeof(float) * (size_t)cols * channels), *xm = malloc(sizeof(float) * (size_t)cols * channels);
    test_fill(x, (size_t)cols * channels, -1, 1, seed);
    for (int s = 0; s < samples; s++) {
        const int g = s / group, lanes = samples - g * group < group ? samples - g * group : group;
        for (int ch = 0; ch < channels; ch++)
            for (int p = 0; p < spatial; p++)
                xm[(size_t)ch * cols + (size_t)g * group * spatial + p * lanes + s % group] =
                    x[((size_t)s * channels + ch) * spatial + p];
    }
    float *w = malloc(sizeof(float) * (size_t)other * channels);
    float *out = malloc(sizeof(float) * (size_t)other * cols), *out1 = malloc(sizeof(float) * (size_t)other * cols);
    double *want = malloc(sizeof(double) * (size_t)other * cols);
    test_fill(w, (size_t)other * channels, -1, 1, seed);
    const gan_matrix b = gan_nchw_grouped(x, channels, spatial, group, samples);
    gan_cpu_gemm_matrices(plan, other, cols, channels, 1.0f, gan_plain(w, channels, false), b, 0.0f,
                          gan_plain(out, cols, false));
    naive_gemm(false, false, other, cols, channels, 1.0f, w, xm, 0.0f, NULL, want);
    char what[128];
    snprintf(what, sizeof what, "%s grouped NCHW B, %d samples in groups of %d, S=%d", plan->kernel->name, samples,
             group, spatial);
    test_expect_close(what, out, want, (size_t)other * cols, 1e-5 * channels, 1e-5);
    const int threads = plan->num_threads;
    plan->num_threads = 1;
    gan_cpu_gemm_matrices(plan, other, cols, channels, 1.0f, gan_plain(w, channels, false), b, 0.0f,
                          gan_plain(out1, cols, false));
    plan->num_threads = threads;
    CHECK(memcmp(out, out1, sizeof(float) * (size_t)other * cols) == 0);
    free(x), free(xm), free(w), free(out), free(out1), free(want);
}

/* im2col B operands, on a random gather table (offsets or -1 for padding):
 * the same products on the columns written out as a plain matrix. */
static void check_im2col(const gan_gemm_plan *plan, int samples, int spatial, int rows, int other, unsigned *seed)
{
    const int cols = samples * spatial, sample = 2 * rows + 3;
    float *x = malloc(sizeof(float) * (size_t)samples * sample), *colm = malloc(sizeof(float) * (size_t)rows * cols);
    int32_t *index = malloc(sizeof(int32_t) * (size_t)rows * spatial);
    test_fill(x, (size_t)samples * sample, -1, 1, seed);
    for (size_t i = 0; i < (size_t)rows * spatial; i++) {
        float u;
        test_fill(&u, 1, 0.0f, (float)(sample + 1), seed);
        index[i] = (int32_t)u - 1;
    }
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < samples; s++)
            for (int p = 0; p < spatial; p++) {
                const int32_t at = index[(size_t)r * spatial + p];
                colm[(size_t)r * cols + s * spatial + p] = at >= 0 ? x[(size_t)s * sample + at] : 0.0f;
            }
    float *w = malloc(sizeof(float) * (size_t)other * rows), *v = malloc(sizeof(float) * (size_t)other * cols);
    test_fill(w, (size_t)other * rows, -1, 1, seed);
    test_fill(v, (size_t)other * cols, -1, 1, seed);
    float *out = malloc(sizeof(float) * (size_t)other * (cols > rows ? cols : rows));
    double *want = malloc(sizeof(double) * (size_t)other * (cols > rows ? cols : rows));
    char what[128];

    /* out[other][cols] = w[other][rows] * columns */
    gan_cpu_gemm_matrices(plan, other, cols, rows, 1.0f, gan_plain(w, rows, false),
                          gan_im2col(x, sample, index, spatial, false), 0.0f, gan_plain(out, cols, false));
    naive_gemm(false, false, other, cols, rows, 1.0f, w, colm, 0.0f, NULL, want);
    snprintf(what, sizeof what, "%s im2col B, S=%d", plan->kernel->name, spatial);
    test_expect_close(what, out, want, (size_t)other * cols, 1e-5 * rows, 1e-5);

    /* out[other][rows] = v[other][cols] * columns^T */
    gan_cpu_gemm_matrices(plan, other, rows, cols, 1.0f, gan_plain(v, cols, false),
                          gan_im2col(x, sample, index, spatial, true), 0.0f, gan_plain(out, rows, false));
    naive_gemm(false, true, other, rows, cols, 1.0f, v, colm, 0.0f, NULL, want);
    snprintf(what, sizeof what, "%s im2col B^T, S=%d", plan->kernel->name, spatial);
    test_expect_close(what, out, want, (size_t)other * rows, 1e-5 * cols, 1e-5);
    free(x), free(colm), free(index), free(w), free(v), free(out), free(want);
}

/* n floats uniform in [-1, 1), malloc'ed */
static float *random_floats(size_t n, unsigned *seed)
{
    float *x = malloc(sizeof(float) * n);
    test_fill(x, n, -1, 1, seed);
    return x;
}

/* One of check_block_sharing's products, to run in a gathering */
typedef struct shared_product {
    const gan_gemm_plan *plan;
    bool rows;
    int m, n, k, ld; /* ld: B's and C's row stride */
    const float *a, *b;
    float beta, *c;
} shared_product;

static gan_status run_shared_product(void *arg)
{
    const shared_product *p = arg;
    if (p->rows)
        gan_cpu_gemm_rows(p->plan, false, false, p->m, p->n, p->k, 1.0f, p->a, p->k, p->b, p->ld, p->beta, p->c, p->ld);
    else
        gan_cpu_gemm(p->plan, false, false, p->m, p->n, p->k, 1.0f, p->a, p->k, p->b, p->ld, p->beta, p->c, p->ld);
    return GAN_OK;
}

/* More threads than cores (5 on 2): they run by turns, so those a core
 * serves take blocks from the ends of the others' shares; every column (or
 * row, when the threads split the rows, a KC block of B at a time) is
 * still computed once, to the same bits as on one thread. Run before any
 * smaller team: clang's OpenMP runtime keeps (and LeakSanitizer reports)
 * the structures of a team it grows. */
static void check_block_sharing(const gan_ukernel *kernel, unsigned *seed)
{
    gan_gemm_plan plan;
    CHECK(gan_gemm_plan_init(&plan, kernel, 5));
    const int m = 300, n = 1000, k = 600; /* k: three KC blocks */
    float *a = random_floats((size_t)m * k, seed), *b = random_floats((size_t)k * n, seed);
    float *c0 = random_floats((size_t)m * n, seed), *c1 = malloc(sizeof(float) * m * n);
    float *c5 = malloc(sizeof(float) * m * n);
    for (int rows = 0; rows < 2; rows++) {
        /* split by columns: C 70 x 1000 from A's first 70 rows; by rows:
         * C 300 x 100 from B's first 100 columns, added to half of C */
        const int cm = rows ? m : 70, cn = rows ? 100 : n;
        const float beta = rows ? 0.5f : 0.0f;
        memcpy(c1, c0, sizeof(float) * m * n);
        plan.num_threads = 1;
        gan_cpu_gemm(&plan, false, false, cm, cn, k, 1.0f, a, k, b, n, beta, c1, n);
        plan.num_threads = 5;
        /* each product its own OpenMP region, then in a gathering (the threads waiting for it spinning) */
        const shared_product p = {&plan, rows, cm, cn, k, n, a, b, beta, c5};
        for (int rep = 0; rep < 40; rep++) {
            memcpy(c5, c0, sizeof(float) * m * n);
            if (rep < 20)
                run_shared_product((void *)&p);
            else
                CHECK(gan_team_gather(plan.team, run_shared_product, (void *)&p) == GAN_OK);
            CHECK(memcmp(c1, c5, sizeof(float) * m * n) == 0);
        }
    }
    free(a), free(b), free(c0), free(c1), free(c5);
    gan_gemm_plan_free(&plan);
}

/* The x86 vector kernels give the same bits on the same product (FMA, k in
 * the same order), which lets the backend take whichever runs fastest on
 * the CPU at hand; that choice is one of them, and stays. */
static void check_kernels_agree(const gan_ukernel *const *kernels, int n_kernels, unsigned *seed)
{
    const gan_ukernel *fastest = gan_cpu_fastest_ukernel();
    bool listed = false;
    for (int ki = 0; ki < n_kernels; ki++)
        listed |= kernels[ki] == fastest;
    CHECK(listed);
    CHECK(gan_cpu_fastest_ukernel() == fastest);
    CHECK(n_kernels == 1 || fastest != kernels[n_kernels - 1]); /* the portable one only when alone */
    const int shapes[][3] = {{128, 256, 64}, {64, 100, 300}, {33, 200, 5}, {200, 40, 530}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = random_floats((size_t)m * k, seed), *b = random_floats((size_t)k * n, seed);
        float *c0 = random_floats((size_t)m * n, seed), *first = malloc(sizeof(float) * m * n);
        float *c = malloc(sizeof(float) * m * n);
        for (int t = 0; t < 4; t++) {
            const bool ta = t & 1, tb = t & 2;
            for (int ki = 0; ki + 1 < n_kernels; ki++) { /* all but the portable kernel, which has no FMA */
                gan_gemm_plan plan;
                CHECK(gan_gemm_plan_init(&plan, kernels[ki], 2));
                memcpy(c, c0, sizeof(float) * m * n);
                gan_cpu_gemm(&plan, ta, tb, m, n, k, -0.5f, a, ta ? m : k, b, tb ? k : n, 0.75f, c, n);
                if (ki == 0)
                    memcpy(first, c, sizeof(float) * m * n);
                else
                    CHECK(memcmp(first, c, sizeof(float) * m * n) == 0);
                gan_gemm_plan_free(&plan);
            }
        }
        free(a), free(b), free(c0), free(first), free(c);
    }
}

/* Each kernel's packing transpose against its definition: dst[k][l] =
 * src[l][k] for the lanes given, zero for the rest of the width, nothing
 * written past it (a sentinel there); widths short of, equal to and past a
 * vector group, lanes short of the width, kc short of a block and not */
static void check_transposes(const gan_ukernel *const *kernels, int n_kernels, unsigned *seed)
{
    const int cases[][4] = {{32, 32, 256, 300}, {32, 16, 9, 9},  {32, 5, 37, 40}, {16, 16, 169, 169},
                            {6, 6, 17, 20},     {20, 13, 16, 33}, {1, 1, 3, 3},   {48, 47, 31, 31}};
    for (int ki = 0; ki < n_kernels; ki++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const int width = cases[c][0], lanes = cases[c][1], kc = cases[c][2], ld = cases[c][3];
            float *src = random_floats((size_t)lanes * ld, seed);
            const size_t n = (size_t)kc * width + 1;
            float *dst = malloc(sizeof(float) * n);
            for (size_t i = 0; i < n; i++)
                dst[i] = 7.0f;
            kernels[ki]->transpose_pack(dst, width, src, ld, lanes, kc);
            bool same = dst[n - 1] == 7.0f;
            for (int k = 0; k < kc; k++)
                for (int l = 0; l < width; l++)
                    same &= dst[(size_t)k * width + l] == (l < lanes ? src[(size_t)l * ld + k] : 0.0f);
            if (!same)
                printf("  %s transpose: width %d, lanes %d, kc %d: DIFFERENT\n", kernels[ki]->name, width, lanes,
                       kc);
            CHECK(same);
            free(src), free(dst);
        }
}

/* A product made by one thread from operands it packs itself
 * (gan_cpu_pack_a, gan_cpu_pack_b, gan_cpu_gemm_packed_rows), written or
 * added to C, against gan_cpu_gemm with beta 0 or 1: the same bits. B
 * transposed as stored, k past KC, rows and columns short of a tile. */
static void check_packed_rows(const gan_gemm_plan *plan, int m, int n, int k, unsigned *seed)
{
    float *a = random_floats((size_t)m * k, seed), *bt = random_floats((size_t)n * k, seed);
    float *c0 = random_floats((size_t)m * n, seed), *want = malloc(sizeof(float) * m * n);
    float *got = malloc(sizeof(float) * m * n);
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        memcpy(want, c0, sizeof(float) * m * n);
        memcpy(got, c0, sizeof(float) * m * n);
        gan_cpu_gemm(plan, false, true, m, n, k, 1.0f, a, k, bt, k, accumulate ? 1.0f : 0.0f, want, n);
        const gan_matrix am = gan_plain(a, k, false), bm = gan_plain(bt, k, true);
        const float *pa = gan_cpu_pack_a(plan, 1, &am, m, k), *pb = gan_cpu_pack_b(plan, 1, &bm, n, k);
        gan_cpu_gemm_packed_rows(plan->kernel, m, n, k, pa, pb, 0, m, got, n, accumulate);
        char what[96];
        snprintf(what, sizeof what, "%s packed rows %dx%dx%d%s", plan->kernel->name, m, n, k,
                 accumulate ? " added" : "");
        const bool same = memcmp(want, got, sizeof(float) * m * n) == 0;
        printf("  %s: %s\n", what, same ? "the same bits" : "DIFFERENT");
        CHECK(same);
    }
    free(a), free(bt), free(c0), free(want), free(got);
}

/* Products of plain matrices that the kernel reads in place (A always; B
 * when not transposed, or packed by the thread whose columns they are;
 * C stored transposed for a transposed B split by C's rows) against the
 * same products packed, by the same kernel without its in-place variant:
 * the same bits, for each transpose, alpha and beta, tight and padded
 * leading dimensions, tiles short of MR rows and of NR columns (by 1 to
 * NR - 1), k past KC, one thread and two, rows split or not. Beta 0 must
 * not read C (NaN there), and nothing past a padded row's end is written
 * (a value there). */
static void check_in_place_bits(const gan_ukernel *kernel, unsigned *seed)
{
    if (!kernel->run_strided)
        return;
    gan_ukernel packed_only = *kernel;
    packed_only.run_strided = NULL;
    gan_gemm_plan in_place, packed;
    CHECK(gan_gemm_plan_init(&in_place, kernel, 2));
    CHECK(gan_gemm_plan_init(&packed, &packed_only, 2));
    const int shapes[][3] = {{128, 256, 64}, {256, 784, 256}, {7, 45, 300}, {45, 7, 300}, {130, 70, 513},
                             {3, 3, 1},      {300, 29, 70},   {29, 300, 70}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        const int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        for (int t = 0; t < 64; t++) {
            const bool ta = t & 1, tb = t & 2, rows = t & 4;
            const int threads = t & 8 ? 1 : 2, pad = t & 32 ? 3 : 0;
            const float alpha = t & 16 ? -0.5f : 1.0f, beta = (t / 2) % 3 == 0 ? 0.0f : (t / 2) % 3 == 1 ? 1.0f : 0.75f;
            const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
            float *a = random_floats((size_t)(ta ? k : m) * lda, seed);
            float *b = random_floats((size_t)(tb ? n : k) * ldb, seed);
            float *want = random_floats((size_t)m * ldc, seed), *got = malloc(sizeof(float) * m * ldc);
            for (int i = 0; i < m && beta == 0.0f; i++)
                for (int j = 0; j < n; j++)
                    want[(size_t)i * ldc + j] = NAN;
            memcpy(got, want, sizeof(float) * m * ldc);
            in_place.num_threads = packed.num_threads = threads;
            void (*product)(const gan_gemm_plan *, bool, bool, int, int, int, float, const float *, ptrdiff_t,
                            const float *, ptrdiff_t, float, float *, ptrdiff_t) =
                rows ? gan_cpu_gemm_rows : gan_cpu_gemm;
            product(&packed, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
            product(&in_place, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
            const bool same = memcmp(want, got, sizeof(float) * m * ldc) == 0;
            if (!same)
                printf("  %s in place %dx%dx%d ta=%d tb=%d rows=%d threads=%d pad=%d alpha=%g beta=%g: DIFFERENT\n",
                       kernel->name, m, n, k, ta, tb, rows != 0, threads, pad, alpha, beta);
            CHECK(same);
            free(a), free(b), free(want), free(got);
        }
    }
    gan_gemm_plan_free(&in_place);
    gan_gemm_plan_free(&packed);
}

int main(void)
{
    const gan_ukernel *kernels[4];
    const int n_kernels = gan_cpu_ukernels(kernels, 4);
    unsigned seed = 12345;
    for (int ki = 0; ki < n_kernels; ki++)
        check_block_sharing(kernels[ki], &seed);
    check_kernels_agree(kernels, n_kernels, &seed);
    check_transposes(kernels, n_kernels, &seed);
    for (int ki = 0; ki < n_kernels; ki++)
        check_in_place_bits(kernels[ki], &seed);
    const int sizes[][3] = {
        {1, 1, 1}, {3, 7, 17}, {17, 3, 7}, {7, 17, 3}, {9, 33, 65}, {16, 196, 9},
        {64, 100, 300},   /* k crosses KC */
        {200, 40, 30},    /* m crosses MC */
        {33, 4100, 5},    /* n crosses NC */
        {128, 256, 64},   /* Linear shapes of the fully connected GAN */
        {256, 1, 256},    /* its logit, one column: run as its transpose */
        {37, 1, 300},     /* the same, k past KC */
        {32, 1568, 400},  /* a DCGAN convolution's GEMM */
    };
    for (int ki = 0; ki < n_kernels; ki++) {
        gan_gemm_plan plan;
        CHECK(gan_gemm_plan_init(&plan, kernels[ki], 2));
        printf("kernel %s (%dx%d)\n", plan.kernel->name, plan.kernel->mr, plan.kernel->nr);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            check_shape(&plan, sizes[s][0], sizes[s][1], sizes[s][2], &seed);
        check_packed_rows(&plan, 256, 128, 128, &seed); /* dcgan's Winograd weight gradient, a position's */
        check_packed_rows(&plan, 37, 45, 300, &seed);
        /* samples, spatial, channels, other; the last with k past KC in the middle of a sample */
        const int nchw[][4] = {{3, 1, 5, 7},     {7, 5, 17, 9},     {4, 9, 16, 33}, {5, 33, 3, 40},
                               {2, 64, 24, 12},  {3, 40, 9, 300},   {9, 36, 10, 20}};
        for (size_t s = 0; s < sizeof nchw / sizeof nchw[0]; s++)
            check_nchw(&plan, nchw[s][0], nchw[s][1], nchw[s][2], nchw[s][3], &seed);
        /* samples, spatial, channels, other, group: short groups only, whole groups and a short
         * one, more positions than a transpose takes at once, k past KC, n past NC (the products
         * under 2e5 flops run on one thread whatever the plan) */
        const int grouped[][5] = {{3, 9, 5, 7, 16},    {37, 9, 20, 33, 16}, {16, 1, 3, 5, 16},
                                  {18, 169, 6, 9, 16}, {5, 36, 300, 4, 4},  {20, 250, 3, 8, 16}};
        for (size_t s = 0; s < sizeof grouped / sizeof grouped[0]; s++)
            check_nchw_grouped(&plan, grouped[s][0], grouped[s][1], grouped[s][2], grouped[s][3], grouped[s][4],
                               &seed);
        /* samples, spatial, rows, other: tiny maps, panels across samples, k past KC, n past NC */
        const int im2col[][4] = {{3, 1, 5, 7}, {7, 9, 40, 9}, {5, 13, 33, 17}, {30, 25, 70, 8}, {5, 900, 12, 3}};
        for (size_t s = 0; s < sizeof im2col / sizeof im2col[0]; s++)
            check_im2col(&plan, im2col[s][0], im2col[s][1], im2col[s][2], im2col[s][3], &seed);

        /* one thread and two give the same bits, whether the threads split
         * the columns (wide C; A packed once for both, or by each when it
         * is too large to share) or the rows (narrow C, or when asked;
         * each thread packing all of B, or its own part of C's rows with
         * a B too large to pack whole) */
        const int shapes[4][3] = {{70, 300, 500}, {520, 130, 2100}, {300, 20, 100}, {40, 1100, 1000}};
        for (int sh = 0; sh < 4; sh++) {
            const int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
            float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
            float *c1 = calloc((size_t)m * n, sizeof(float)), *c2 = calloc((size_t)m * n, sizeof(float));
            test_fill(a, (size_t)m * k, -1, 1, &seed);
            test_fill(b, (size_t)k * n, -1, 1, &seed);
            plan.num_threads = 1;
            gan_cpu_gemm(&plan, false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c1, n);
            plan.num_threads = 2;
            gan_cpu_gemm(&plan, false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c2, n);
            CHECK(memcmp(c1, c2, sizeof(float) * m * n) == 0);
            gan_cpu_gemm_rows(&plan, false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c2, n); /* rows split */
            CHECK(memcmp(c1, c2, sizeof(float) * m * n) == 0);
            free(a), free(b), free(c1), free(c2);
        }
        /* a product one column wide, run as its transpose, gives the bits
         * of the product run as it stands (as it does for a C whose rows
         * are 2 apart), whichever operands are transposed, for beta 0 and
         * not, on threads (600 rows) and not (60) */
        for (int t = 0; t < 8; t++) {
            const bool ta = t & 1, tb = t & 2;
            const int m = t & 4 ? 600 : 60, k = 600;
            const float beta = t & 1 ? 0.5f : 0.0f;
            float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k);
            float *c1 = malloc(sizeof(float) * m), *c2 = malloc(sizeof(float) * m * 2);
            test_fill(a, (size_t)m * k, -1, 1, &seed);
            test_fill(b, (size_t)k, -1, 1, &seed);
            test_fill(c1, (size_t)m, -1, 1, &seed);
            for (int i = 0; i < m; i++)
                c2[2 * i] = c1[i];
            gan_cpu_gemm_rows(&plan, ta, tb, m, 1, k, -0.5f, a, ta ? m : k, b, tb ? k : 1, beta, c1, 1);
            gan_cpu_gemm_rows(&plan, ta, tb, m, 1, k, -0.5f, a, ta ? m : k, b, tb ? k : 1, beta, c2, 2);
            bool same = true;
            for (int i = 0; i < m; i++)
                same = same && memcmp(&c1[i], &c2[2 * i], sizeof(float)) == 0;
            CHECK(same);
            free(a), free(b), free(c1), free(c2);
        }
        gan_gemm_plan_free(&plan);
    }
    CHECK(n_kernels >= 1);
    CHECK(strcmp(kernels[n_kernels - 1]->name, "generic-4x16") == 0);
    return test_finish("test_gemm");
}
