/* cpu_gemm_generic.c - portable C11 micro-kernel; the compiler vectorizes
 * the inner loop for whatever the target offers. */
#include "cpu_gemm.h"

enum { MR = 4, NR = 16 };

void gan_ukernel_generic_4x16(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                              float alpha, float beta)
{
    /* one named accumulator row per row of the tile, which compilers keep
     * in vector registers (a 4 x 16 array they kept in memory: 5.6 against
     * 34.6 GFLOP/s with GCC 12 and SSE2 on Zen 5) */
    float acc0[NR] = {0}, acc1[NR] = {0}, acc2[NR] = {0}, acc3[NR] = {0};
    for (int k = 0; k < kc; k++) {
        const float *ak = a + (ptrdiff_t)k * MR, *bk = b + (ptrdiff_t)k * NR;
        const float a0 = ak[0], a1 = ak[1], a2 = ak[2], a3 = ak[3];
        for (int j = 0; j < NR; j++) {
            acc0[j] += a0 * bk[j];
            acc1[j] += a1 * bk[j];
            acc2[j] += a2 * bk[j];
            acc3[j] += a3 * bk[j];
        }
    }
    const float *acc[MR] = {acc0, acc1, acc2, acc3};
    for (int i = 0; i < MR; i++) {
        float *ci = c + (ptrdiff_t)i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < NR; j++)
                ci[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < NR; j++)
                ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}

void gan_transpose_pack_generic(float *dst, int width, const float *src, ptrdiff_t ld, int lanes, int kc)
{
    for (int l = 0; l < lanes; l++) {
        const float *row = src + (ptrdiff_t)l * ld;
        for (int k = 0; k < kc; k++)
            dst[(ptrdiff_t)k * width + l] = row[k];
    }
    for (int l = lanes; l < width; l++)
        for (int k = 0; k < kc; k++)
            dst[(ptrdiff_t)k * width + l] = 0.0f;
}
