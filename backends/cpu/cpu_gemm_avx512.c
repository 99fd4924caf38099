/* cpu_gemm_avx512.c - 8x32 AVX-512 micro-kernel: 16 zmm accumulators, two
 * B vectors per k, A broadcast from memory; and its variant that reads A in
 * place. Built with -mavx512f and only called when the CPU reports it. MR 8
 * divides the channel counts DCGAN uses, so its tiles are rarely padded. */
#include "cpu_gemm.h"

#include <immintrin.h>

/* The accumulators are named variables, not an array: GCC keeps an array
 * of vectors in registers but also stores it to the stack at every k. */
#define ROW_ZERO(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define ROW_FMA(i)                                    \
    {                                                 \
        const __m512 ai = _mm512_set1_ps(ak[i]);      \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);   \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);   \
    }
#define ROW_FMA_AT(i)                                 \
    {                                                 \
        const __m512 ai = _mm512_set1_ps(x##i[at]);   \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);   \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);   \
    }
#define ROW_STORE(i) store_row(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta);
#define ROW_STORE_BLOCK(i) store_row(c + (ptrdiff_t)(i) * 32, c##i##0, c##i##1, one, one, beta);
enum { MR = 8 };
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) /* the MR rows */

static inline void store_row(float *ci, __m512 acc0, __m512 acc1, __m512 va, __m512 vb, float beta)
{
    __m512 r0 = _mm512_mul_ps(va, acc0);
    __m512 r1 = _mm512_mul_ps(va, acc1);
    if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), r1);
    }
    _mm512_storeu_ps(ci, r0);
    _mm512_storeu_ps(ci + 16, r1);
}

void gan_ukernel_avx512_8x32(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                             float alpha, float beta)
{
    ROWS(ROW_ZERO)
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_loadu_ps(b + (ptrdiff_t)k * 32);
        const __m512 b1 = _mm512_loadu_ps(b + (ptrdiff_t)k * 32 + 16);
        const float *ak = a + (ptrdiff_t)k * MR;
        ROWS(ROW_FMA)
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
    ROWS(ROW_STORE)
}

/* The 8x32 kernel on an A read in place, as gan_ukernel_avx2_6x16_gather:
 * row i, column r of A is x[i][row_off[r * row_stride]], B is w's rows of
 * 32 (ldw apart), k summed in blocks of kc as gan_cpu_gemm does (added to
 * c's values when accumulate), so the results are the same to the bit. */
void gan_ukernel_avx512_8x32_gather(int k, int kc, const float *const *x, const int32_t *row_off,
                                    ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c,
                                    bool accumulate)
{
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *x4 = x[4], *x5 = x[5], *x6 = x[6], *x7 = x[7];
    for (int k0 = 0; k0 < k; k0 += kc) {
        const int k1 = k - k0 < kc ? k : k0 + kc;
        ROWS(ROW_ZERO)
        for (int r = k0; r < k1; r++) {
            const __m512 b0 = _mm512_loadu_ps(w + (ptrdiff_t)r * ldw);
            const __m512 b1 = _mm512_loadu_ps(w + (ptrdiff_t)r * ldw + 16);
            const int32_t at = row_off[(ptrdiff_t)r * row_stride];
            ROWS(ROW_FMA_AT)
        }
        const __m512 one = _mm512_set1_ps(1.0f);
        const float beta = k0 > 0 || accumulate ? 1.0f : 0.0f;
        ROWS(ROW_STORE_BLOCK)
    }
}

/* The FMA peak of one core: 16 independent FMA chains of 16 floats, so
 * latency never stalls; 512 flops an iteration. */
float gan_fma_probe_avx512(long iterations)
{
    __m512 acc[16];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 16; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 sum = acc[0];
    for (int i = 1; i < 16; i++)
        sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}
