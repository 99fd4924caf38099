/* cpu_gemm_avx2.c - 6x16 AVX2/FMA micro-kernel: 12 accumulators, two B
 * vectors and one broadcast fill the 16 ymm registers; and its variant that
 * reads A in place. Built with -mavx2 -mfma and only called when the CPU
 * reports both. */
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
#define ROW_FMA_AT(i)                                     \
    {                                                     \
        const __m256 ai = _mm256_broadcast_ss(x##i + at); \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);       \
        c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);       \
    }
#define ROW_STORE(i) store_row(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta);
#define ROW_STORE_BLOCK(i) store_row(c + (ptrdiff_t)(i) * 16, c##i##0, c##i##1, one, one, k0 ? 1.0f : 0.0f);
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

/* The 6x16 kernel on an A read in place: row i, column r of A is
 * x[i][row_off[r * row_stride]] (a convolution's input at the i-th output
 * position and the r-th kernel tap, without padding), B is w's rows of 16
 * (ldw apart). The k columns are summed in blocks of kc, and the blocks'
 * sums added in order, as gan_cpu_gemm does with its KC blocks, so the
 * results are the same to the bit. */
void gan_ukernel_avx2_6x16_gather(int k, int kc, const float *const x[6], const int32_t *row_off,
                                  ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c)
{
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *x4 = x[4], *x5 = x[5];
    for (int k0 = 0; k0 < k; k0 += kc) {
        const int k1 = k - k0 < kc ? k : k0 + kc;
        ROWS(ROW_ZERO)
        for (int r = k0; r < k1; r++) {
            const __m256 b0 = _mm256_loadu_ps(w + (ptrdiff_t)r * ldw);
            const __m256 b1 = _mm256_loadu_ps(w + (ptrdiff_t)r * ldw + 8);
            const int32_t at = row_off[(ptrdiff_t)r * row_stride];
            ROWS(ROW_FMA_AT)
        }
        const __m256 one = _mm256_set1_ps(1.0f);
        ROWS(ROW_STORE_BLOCK)
    }
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
