/* cpu_gemm_avx512.c - 8x32 AVX-512 micro-kernel: 16 zmm accumulators, two
 * B vectors per k, A broadcast from memory; and its variants that read A in
 * place: a convolution's, through a table of offsets, and plain matrices',
 * B in place or packed, C stored transposed or not. Built with -mavx512f and only called when the CPU reports it. MR 8
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

/* A row of a tile of cols < 32 columns: stored through masks m0, m1 */
static inline void store_row_masked(float *ci, __m512 acc0, __m512 acc1, __m512 va, __m512 vb, float beta,
                                    __mmask16 m0, __mmask16 m1)
{
    __m512 r0 = _mm512_mul_ps(va, acc0);
    __m512 r1 = _mm512_mul_ps(va, acc1);
    if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
    }
    _mm512_mask_storeu_ps(ci, m0, r0);
    _mm512_mask_storeu_ps(ci + 16, m1, r1);
}

/* Column j of C, 8 values of the tile's rows, stored at c + j * ldc */
static inline void store_column(float *cj, __m256 v, __m256 vb, float beta)
{
    if (beta != 0.0f)
        v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj), v);
    _mm256_storeu_ps(cj, v);
}

/* Rows r[0..7] of 16 values (alpha applied) stored as 16 columns of C
 * (c[j * ldc + i]): transposed in 4 x 4 blocks within each 128-bit lane,
 * then lane L of the rows 0-3 and 4-7 blocks paired into column 4L + q. */
static inline void store_transposed_16(float *c, ptrdiff_t ldc, const __m512 r[8], __m256 vb, float beta)
{
    const __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpackhi_ps(r[0], r[1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[2], r[3]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
    const __m512 t4 = _mm512_unpacklo_ps(r[4], r[5]), t5 = _mm512_unpackhi_ps(r[4], r[5]);
    const __m512 t6 = _mm512_unpacklo_ps(r[6], r[7]), t7 = _mm512_unpackhi_ps(r[6], r[7]);
    const __m512 u[8] = {_mm512_shuffle_ps(t0, t2, 0x44), _mm512_shuffle_ps(t0, t2, 0xEE),
                         _mm512_shuffle_ps(t1, t3, 0x44), _mm512_shuffle_ps(t1, t3, 0xEE),
                         _mm512_shuffle_ps(t4, t6, 0x44), _mm512_shuffle_ps(t4, t6, 0xEE),
                         _mm512_shuffle_ps(t5, t7, 0x44), _mm512_shuffle_ps(t5, t7, 0xEE)};
    /* lanes 0 and 1 of u[q] and u[q + 4] interleaved, then lanes 2 and 3 */
    const __m512i low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i high = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int q = 0; q < 4; q++) {
        const __m512 v0 = _mm512_permutex2var_ps(u[q], low, u[q + 4]);
        const __m512 v1 = _mm512_permutex2var_ps(u[q], high, u[q + 4]);
        store_column(c + (ptrdiff_t)q * ldc, _mm512_castps512_ps256(v0), vb, beta);
        store_column(c + (ptrdiff_t)(4 + q) * ldc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v0), 1)),
                     vb, beta);
        store_column(c + (ptrdiff_t)(8 + q) * ldc, _mm512_castps512_ps256(v1), vb, beta);
        store_column(c + (ptrdiff_t)(12 + q) * ldc,
                     _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v1), 1)), vb, beta);
    }
}

#define ROW_STORE_STRIDED(i)                                                                       \
    if ((i) < rows) {                                                                              \
        if (cols < 32)                                                                             \
            store_row_masked(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta, m0, m1);    \
        else                                                                                       \
            store_row(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta);                   \
    }
#define ROW_POINTER(i) const float *x##i = a + ((i) < rows ? (i) : 0) * a_row;
#define ROW_SCALED(i) _mm512_mul_ps(va, c##i##0), _mm512_mul_ps(va, c##i##1),

/* The 8x32 kernel on operands read in place (see gan_ukernel_strided_fn) */
void gan_ukernel_avx512_8x32_strided(int kc, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b,
                                     ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool c_trans, int rows, int cols,
                                     float alpha, float beta)
{
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
    ROWS(ROW_POINTER)
    ROWS(ROW_ZERO)
    ptrdiff_t at = 0;
    for (int r = 0; r < kc; r++, at += a_col, b += ldb) {
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = _mm512_loadu_ps(b + 16);
        ROWS(ROW_FMA_AT)
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
    if (!c_trans) {
        ROWS(ROW_STORE_STRIDED)
        return;
    }
    /* rows 2i (columns 0-15) and 2i + 1 (16-31) of `scaled` are row i's */
    const __m512 scaled[2 * MR] = {ROWS(ROW_SCALED)};
    if (rows == MR && cols == 32) {
        const __m512 low[MR] = {scaled[0], scaled[2], scaled[4], scaled[6], scaled[8], scaled[10], scaled[12], scaled[14]};
        const __m512 high[MR] = {scaled[1], scaled[3], scaled[5], scaled[7], scaled[9], scaled[11], scaled[13], scaled[15]};
        store_transposed_16(c, ldc, low, _mm512_castps512_ps256(vb), beta);
        store_transposed_16(c + 16 * ldc, ldc, high, _mm512_castps512_ps256(vb), beta);
        return;
    }
    float tile[2 * MR * 16];
    for (int v = 0; v < 2 * MR; v++)
        _mm512_storeu_ps(tile + 16 * v, scaled[v]);
    gan_store_tile(c, 1, ldc, tile, 32, rows, cols, beta);
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
