/* cpu_gemm_generic.c - portable C11 micro-kernel; the compiler vectorizes
 * the inner loop for whatever the target offers. */
#include "cpu_gemm.h"

enum { MR = 4, NR = 16 };

void gan_ukernel_generic_4x16(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                              float alpha, float beta)
{
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++) {
        const float *ak = a + (ptrdiff_t)k * MR;
        const float *bk = b + (ptrdiff_t)k * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += ak[i] * bk[j];
    }
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
