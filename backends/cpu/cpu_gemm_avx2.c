/* cpu_gemm_avx2.c - 6x16 AVX2/FMA micro-kernel: 12 accumulators, two B
 * vectors and one broadcast fill the 16 ymm registers. Built with -mavx2
 * -mfma and only called when the CPU reports both. */
#include "cpu_gemm.h"

#include <immintrin.h>

/* The accumulators are named variables, not an array: GCC keeps an array
 * of vectors in registers but also stores it to the stack at every k,
 * which halved the kernel's speed. */
#define ROW_ZERO(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define ROW_FMA(i)                                        \
    {                                                     \
        const __m256 ai = _mm256_broadcast_ss(ak + (i));  \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);       \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);       \
    }
#define ROW_STORE(i) store_row(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta);
enum { MR = 6 };
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) /* the MR rows */

static inline void store_row(float *ci, __m256 acc0, __m256 acc1, __m256 va, __m256 vb, float beta)
{
    __m256 r0 = _mm256_mul_ps(va, acc0);
    __m256 r1 = _mm256_mul_ps(va, acc1);
    if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
    }
    _mm256_storeu_ps(ci, r0);
    _mm256_storeu_ps(ci + 8, r1);
}

void gan_ukernel_avx2_6x16(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                           float alpha, float beta)
{
    ROWS(ROW_ZERO)
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b + (ptrdiff_t)k * 16);
        const __m256 b1 = _mm256_loadu_ps(b + (ptrdiff_t)k * 16 + 8);
        const float *ak = a + (ptrdiff_t)k * MR;
        ROWS(ROW_FMA)
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    ROWS(ROW_STORE)
}

/* The FMA peak of one core with AVX2: 12 chains of 8 floats, 192 flops an
 * iteration. */
float gan_fma_probe_avx2(long iterations)
{
    __m256 acc[12];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    float out[8], total = 0.0f;
    for (int i = 1; i < 12; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(out, acc[0]);
    for (int i = 0; i < 8; i++)
        total += out[i];
    return total;
}
