/* cpu_winograd.h - Winograd convolutions for the 4x4 kernels of DCGAN
 * models: F(4x4, 2x2) for stride 2 and padding 1, F(3x3, 4x4) for stride 1
 * (cpu_winograd.c). */
#ifndef GAN_CPU_WINOGRAD_H
#define GAN_CPU_WINOGRAD_H

#include "cpu_gemm.h"
#include "gan_backend.h"

/* Whether a Winograd scheme runs geometry g: a 4x4 kernel with stride 2
 * and padding 1, or with stride 1, padding under 4 and outputs of 3x3 or
 * more (a whole tile); and enough channels on both sides for its products. */
bool gan_winograd_suits(const gan_conv_geom *g);

/* What one call computes for y = conv(x, w) with weights w [out_c, in_c, 4, 4].
 * `in` has the convolution's input shape and `out_grad` its output shape;
 * the buffers belong to the caller. */
typedef struct gan_winograd_args {
    const float *w;
    const float *in;       /* read when out or dw is set */
    const float *out_grad; /* read when in_grad or dw is set */
    float *out;            /* NULL, or written with conv(in, w) */
    float *in_grad;        /* NULL, or written with conv^T(out_grad, w) */
    float *dw;             /* NULL, or dw += the weight gradient of conv for in and out_grad */
} gan_winograd_args;

/* Floats of workspace gan_winograd_run needs for these arguments and plan */
size_t gan_winograd_workspace(const gan_gemm_plan *plan, const gan_conv_geom *g, const gan_winograd_args *a);

/* Runs the call with `threads` threads; out and in_grad must not both be
 * set. `workspace` is gan_winograd_workspace(plan, g, a) floats, 64-byte
 * aligned. */
void gan_winograd_run(const gan_gemm_plan *plan, const gan_conv_geom *g, const gan_winograd_args *a,
                      float *workspace, int threads);

#endif
