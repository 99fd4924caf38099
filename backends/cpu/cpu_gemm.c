/* cpu_gemm.c - BLIS-style GEMM: loops over NC, KC and MC blocks, packing B
 * and A into micro-panels, and a register-blocked micro-kernel on each
 * MR x NR tile. Each thread runs the loops on its own slice of C. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_gemm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const gan_ukernel generic_kernel = {"generic-4x16", 4, 16, gan_ukernel_generic_4x16};
#if defined(GAN_HAVE_AVX2_KERNEL)
static const gan_ukernel avx2_kernel = {"avx2-6x16", 6, 16, gan_ukernel_avx2_6x16};
#endif
#if defined(GAN_HAVE_AVX512_KERNEL)
static const gan_ukernel avx512_kernel = {"avx512-8x32", 8, 32, gan_ukernel_avx512_8x32};
#endif

int gan_cpu_ukernels(const gan_ukernel **list, int max)
{
    int n = 0;
#if defined(GAN_HAVE_AVX512_KERNEL)
    if (n < max && __builtin_cpu_supports("avx512f"))
        list[n++] = &avx512_kernel;
#endif
#if defined(GAN_HAVE_AVX2_KERNEL)
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        list[n++] = &avx2_kernel;
#endif
    if (n < max)
        list[n++] = &generic_kernel;
    return n;
}

/* op(A)[i][k] for rows i0.. of one MR panel, zero past m */
static void pack_a_panel(float *dst, int mr, const float *a, ptrdiff_t lda, bool trans, int i0,
                         int rows, int k0, int kc)
{
    if (trans) { /* A stored k x m: a row of A gives mr consecutive values */
        for (int k = 0; k < kc; k++) {
            const float *src = a + (ptrdiff_t)(k0 + k) * lda + i0;
            float *d = dst + (ptrdiff_t)k * mr;
            int i = 0;
            for (; i < rows; i++)
                d[i] = src[i];
            for (; i < mr; i++)
                d[i] = 0.0f;
        }
    } else {
        for (int i = 0; i < mr; i++) {
            if (i < rows) {
                const float *src = a + (ptrdiff_t)(i0 + i) * lda + k0;
                for (int k = 0; k < kc; k++)
                    dst[(ptrdiff_t)k * mr + i] = src[k];
            } else {
                for (int k = 0; k < kc; k++)
                    dst[(ptrdiff_t)k * mr + i] = 0.0f;
            }
        }
    }
}

/* op(B)[k][j] for columns j0.. of one NR panel, zero past n */
static void pack_b_panel(float *dst, int nr, const float *b, ptrdiff_t ldb, bool trans, int j0,
                         int cols, int k0, int kc)
{
    if (trans) { /* B stored n x k */
        for (int j = 0; j < nr; j++) {
            if (j < cols) {
                const float *src = b + (ptrdiff_t)(j0 + j) * ldb + k0;
                for (int k = 0; k < kc; k++)
                    dst[(ptrdiff_t)k * nr + j] = src[k];
            } else {
                for (int k = 0; k < kc; k++)
                    dst[(ptrdiff_t)k * nr + j] = 0.0f;
            }
        }
    } else {
        for (int k = 0; k < kc; k++) {
            const float *src = b + (ptrdiff_t)(k0 + k) * ldb + j0;
            float *d = dst + (ptrdiff_t)k * nr;
            if (cols == nr) {
                memcpy(d, src, (size_t)nr * sizeof *d);
            } else {
                int j = 0;
                for (; j < cols; j++)
                    d[j] = src[j];
                for (; j < nr; j++)
                    d[j] = 0.0f;
            }
        }
    }
}

/* A partial tile goes through a local full tile, then only the valid part
 * is merged into C. */
static void edge_tile(const gan_ukernel *uk, int kc, const float *a, const float *b, float *c,
                      ptrdiff_t ldc, int rows, int cols, float alpha, float beta)
{
    float tile[16 * 64];
    uk->run(kc, a, b, tile, uk->nr, alpha, 0.0f);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *dst = c + (ptrdiff_t)i * ldc + j;
            *dst = beta == 0.0f ? tile[i * uk->nr + j] : tile[i * uk->nr + j] + beta * *dst;
        }
}

static void scale_c(int m, int n, float beta, float *c, ptrdiff_t ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[(ptrdiff_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(ptrdiff_t)i * ldc + j];
}

/* The BLIS loop nest on one thread: NC columns of B, KC deep, packed
 * once; MC rows of A packed per block; MR x NR tiles, jr outer so a B
 * micro-panel stays in L1 across the A micro-panels. */
static void gemm_serial(const gan_ukernel *uk, float *pack, bool trans_a, bool trans_b, int m, int n, int k,
                        float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                        float *c, ptrdiff_t ldc)
{
    const int mr = uk->mr, nr = uk->nr;
    float *pa = pack, *pb = pack + (size_t)GAN_GEMM_MC * GAN_GEMM_KC;
    for (int jc = 0; jc < n; jc += GAN_GEMM_NC) {
        const int nc = n - jc < GAN_GEMM_NC ? n - jc : GAN_GEMM_NC;
        const int n_panels = (nc + nr - 1) / nr;
        for (int pc = 0; pc < k; pc += GAN_GEMM_KC) {
            const int kc = k - pc < GAN_GEMM_KC ? k - pc : GAN_GEMM_KC;
            const float beta_block = pc == 0 ? beta : 1.0f;
            for (int jp = 0; jp < n_panels; jp++) {
                const int j0 = jp * nr;
                const int cols = nc - j0 < nr ? nc - j0 : nr;
                pack_b_panel(pb + (ptrdiff_t)jp * nr * kc, nr, b, ldb, trans_b, jc + j0, cols, pc, kc);
            }
            for (int ic = 0; ic < m; ic += GAN_GEMM_MC) {
                const int mc = m - ic < GAN_GEMM_MC ? m - ic : GAN_GEMM_MC;
                const int m_panels = (mc + mr - 1) / mr;
                for (int ip = 0; ip < m_panels; ip++) {
                    const int i0 = ip * mr;
                    const int rows = mc - i0 < mr ? mc - i0 : mr;
                    pack_a_panel(pa + (ptrdiff_t)ip * mr * kc, mr, a, lda, trans_a, ic + i0, rows, pc, kc);
                }
                for (int jr = 0; jr < n_panels; jr++) {
                    const int cols = nc - jr * nr < nr ? nc - jr * nr : nr;
                    const float *bp = pb + (ptrdiff_t)jr * nr * kc;
                    for (int ir = 0; ir < m_panels; ir++) {
                        const int rows = mc - ir * mr < mr ? mc - ir * mr : mr;
                        const float *ap = pa + (ptrdiff_t)ir * mr * kc;
                        float *cp = c + (ptrdiff_t)(ic + ir * mr) * ldc + jc + jr * nr;
                        if (rows == mr && cols == nr)
                            uk->run(kc, ap, bp, cp, ldc, alpha, beta_block);
                        else
                            edge_tile(uk, kc, ap, bp, cp, ldc, rows, cols, alpha, beta_block);
                    }
                }
            }
        }
    }
}

void gan_cpu_gemm(const gan_gemm_plan *plan, bool trans_a, bool trans_b, int m, int n, int k,
                  float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                  float beta, float *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    const gan_ukernel *uk = plan->kernel;
    const int tiles_m = (m + uk->mr - 1) / uk->mr, tiles_n = (n + uk->nr - 1) / uk->nr;
    /* threads only where there is work enough to pay for waking them */
    int threads = 2.0 * m * n * k < 2e5 ? 1 : plan->num_threads;
    /* slice C along N unless it is too narrow, then along M */
    const bool by_columns = tiles_n >= 2 * threads || tiles_n >= tiles_m;
    const int tiles = by_columns ? tiles_n : tiles_m;
    if (threads > tiles)
        threads = tiles;
    if (threads <= 1) {
        gemm_serial(uk, plan->pack, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        const int first = tiles * t / threads, last = tiles * (t + 1) / threads;
        float *pack = plan->pack + (size_t)t * GAN_GEMM_PACK_FLOATS;
        if (by_columns) {
            const int j0 = first * uk->nr, j1 = last * uk->nr < n ? last * uk->nr : n;
            gemm_serial(uk, pack, trans_a, trans_b, m, j1 - j0, k, alpha, a, lda,
                        trans_b ? b + (ptrdiff_t)j0 * ldb : b + j0, ldb, beta, c + j0, ldc);
        } else {
            const int i0 = first * uk->mr, i1 = last * uk->mr < m ? last * uk->mr : m;
            gemm_serial(uk, pack, trans_a, trans_b, i1 - i0, n, k, alpha,
                        trans_a ? a + i0 : a + (ptrdiff_t)i0 * lda, lda, b, ldb, beta,
                        c + (ptrdiff_t)i0 * ldc, ldc);
        }
    }
}

bool gan_gemm_plan_init(gan_gemm_plan *plan, const gan_ukernel *kernel, int threads)
{
    plan->kernel = kernel;
    plan->num_threads = threads < 1 ? 1 : threads;
    plan->pack = aligned_alloc(64, GAN_GEMM_PACK_FLOATS * sizeof(float) * (size_t)plan->num_threads);
    return plan->pack != NULL;
}

void gan_gemm_plan_free(gan_gemm_plan *plan)
{
    free(plan->pack);
    plan->pack = NULL;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double gan_cpu_fma_peak_gflops(int threads, const char **isa)
{
    float (*probe)(long) = NULL;
    double flops_per_round = 0.0;
    *isa = "none";
#if defined(GAN_HAVE_AVX2_KERNEL)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        probe = gan_fma_probe_avx2, flops_per_round = 192.0, *isa = "AVX2 FMA";
#endif
#if defined(GAN_HAVE_AVX512_KERNEL)
    if (__builtin_cpu_supports("avx512f"))
        probe = gan_fma_probe_avx512, flops_per_round = 512.0, *isa = "AVX-512 FMA";
#endif
    if (!probe)
        return 0.0;
    const long rounds = 20000000;
    double total = 0.0;
    volatile float sink = 0.0f;
    (void)threads;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        probe(rounds / 20); /* warm up the clock */
        const double start = seconds_now();
        sink += probe(rounds);
        total += flops_per_round * (double)rounds / (seconds_now() - start);
    }
    (void)sink;
    return total * 1e-9;
}
