/* cpu_gemm_avx2.c - 6x16 AVX2/FMA micro-kernel: 12 accumulators, two B
 * vectors and one broadcast fill the 16 ymm registers; and its variants that
 * read A in place: a convolution's, through a table of offsets, and plain
 * matrices', B in place or packed, C stored transposed or not. Built with
 * -mavx2 -mfma and only called when the CPU reports both. */
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
#define ROW_STORE_BLOCK(i) store_row(c + (ptrdiff_t)(i) * 16, c##i##0, c##i##1, one, one, beta);
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
 * sums added in order (to c's values when accumulate), as gan_cpu_gemm
 * does with its KC blocks, so the results are the same to the bit. */
void gan_ukernel_avx2_6x16_gather(int k, int kc, const float *const *x, const int32_t *row_off,
                                  ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c,
                                  bool accumulate)
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
        const float beta = k0 > 0 || accumulate ? 1.0f : 0.0f;
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

/* r[t] becomes column t of the 8 x 8 block whose rows are r[0..7] */
static inline void transpose_8x8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Lanes in groups of 8: each 8 x 8 block of the source is read as 8 row
 * vectors (zero past `lanes`) and stored as 8 columns; a group narrower
 * than 8 (width 6) stores its first lanes only. */
void gan_transpose_pack_avx2(float *dst, int width, const float *src, ptrdiff_t ld, int lanes, int kc)
{
    for (int l0 = 0; l0 < width; l0 += 8) {
        const int rows = lanes <= l0 ? 0 : lanes - l0 < 8 ? lanes - l0 : 8;
        const int stored = width - l0 < 8 ? width - l0 : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(stored), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const float *s = src + (ptrdiff_t)l0 * ld;
        float *d = dst + l0;
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = i < rows ? _mm256_loadu_ps(s + (ptrdiff_t)i * ld + k) : _mm256_setzero_ps();
            transpose_8x8(r);
            for (int t = 0; t < 8; t++) {
                if (stored == 8)
                    _mm256_storeu_ps(d + (ptrdiff_t)(k + t) * width, r[t]);
                else
                    _mm256_maskstore_ps(d + (ptrdiff_t)(k + t) * width, mask, r[t]);
            }
        }
        for (; k < kc; k++)
            for (int i = 0; i < stored; i++)
                d[(ptrdiff_t)k * width + i] = i < rows ? s[(ptrdiff_t)i * ld + k] : 0.0f;
    }
}

/* Rows r[0..5] of 8 values (alpha applied) stored as 8 columns of C of MR
 * values each (c[j * ldc + i]), each as 4 values and 2, so that nothing
 * past them is touched (AMD leaves faults on masked-out lanes of AVX2's
 * masked moves to the implementation) */
static inline void store_transposed_8(float *c, ptrdiff_t ldc, const __m256 rows[MR], __m128 vb, float beta)
{
    __m256 r[8] = {rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], _mm256_setzero_ps(), _mm256_setzero_ps()};
    transpose_8x8(r);
    for (int j = 0; j < 8; j++) {
        float *cj = c + (ptrdiff_t)j * ldc;
        __m128 first = _mm256_castps256_ps128(r[j]), last = _mm256_extractf128_ps(r[j], 1);
        if (beta != 0.0f) {
            first = _mm_fmadd_ps(vb, _mm_loadu_ps(cj), first);
            last = _mm_fmadd_ps(vb, _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(cj + 4)), last);
        }
        _mm_storeu_ps(cj, first);
        _mm_storel_pi((__m64 *)(cj + 4), last);
    }
}

#define ROW_STORE_STRIDED(i)                                                                       \
    if ((i) < rows)                                                                                \
        store_row(c + (ptrdiff_t)(i) * ldc, c##i##0, c##i##1, va, vb, beta);
#define ROW_POINTER(i) const float *x##i = a + ((i) < rows ? (i) : 0) * a_row;
#define ROW_SCALED(i) _mm256_mul_ps(va, c##i##0), _mm256_mul_ps(va, c##i##1),

/* The 6x16 kernel on operands read in place (see gan_ukernel_strided_fn) */
void gan_ukernel_avx2_6x16_strided(int kc, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b,
                                   ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool c_trans, int rows, int cols,
                                   float alpha, float beta)
{
    ROWS(ROW_POINTER)
    ROWS(ROW_ZERO)
    ptrdiff_t at = 0;
    for (int r = 0; r < kc; r++, at += a_col, b += ldb) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = _mm256_loadu_ps(b + 8);
        ROWS(ROW_FMA_AT)
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    if (!c_trans && cols == 16) {
        ROWS(ROW_STORE_STRIDED)
        return;
    }
    /* rows 2i (columns 0-7) and 2i + 1 (8-15) of `scaled` are row i's */
    const __m256 scaled[2 * MR] = {ROWS(ROW_SCALED)};
    if (c_trans && rows == MR && cols == 16) {
        const __m256 low[MR] = {scaled[0], scaled[2], scaled[4], scaled[6], scaled[8], scaled[10]};
        const __m256 high[MR] = {scaled[1], scaled[3], scaled[5], scaled[7], scaled[9], scaled[11]};
        store_transposed_8(c, ldc, low, _mm256_castps256_ps128(vb), beta);
        store_transposed_8(c + 8 * ldc, ldc, high, _mm256_castps256_ps128(vb), beta);
        return;
    }
    /* a tile short of NR columns, or of MR rows stored transposed */
    float tile[2 * MR * 8];
    for (int v = 0; v < 2 * MR; v++)
        _mm256_storeu_ps(tile + 8 * v, scaled[v]);
    gan_store_tile(c, c_trans ? 1 : ldc, c_trans ? ldc : 1, tile, 16, rows, cols, beta);
}
