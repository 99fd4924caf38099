/* cpu_winograd.c - Winograd convolutions of 4x4 kernels.
 *
 * A 4x4 convolution with stride s is an R x R one (R = 4 / s) with stride
 * 1 on the input's space-to-depth view S: channel c = s^2 ci + s p + q of S
 * at (I, J) is x[ci, s I + p - pad_h, s J + q - pad_w] (0 outside x), and
 * its R x R kernel g is w[co, ci, s a + p, s b + q]; with stride 1, S is x
 * and g is w. Winograd's algorithm F(m x m, R x R) computes an m x m tile
 * of outputs from an (m + R - 1)^2 patch d of S as
 *     Y = A^T [(G g G^T) . (B^T d B)] A
 * summed over channels, the patch's positions being independent matrix
 * products. The input and weight gradients are the adjoints of the same
 * linear map,
 *     d' = B [(G g G^T) . (A Y' A^T)] B^T,   g' = G^T [(A Y' A^T) . (B^T d B)] G,
 * so all three passes share the transforms. Two schemes:
 * - stride 2, padding 1 (DCGAN's up- and downsampling layers): F(4x4, 2x2),
 *   25 products per channel pair instead of 64, on the points 0, 1, -1,
 *   -1/2 and infinity;
 * - stride 1 (a transposed convolution from 3x3 to 6x6, say): F(3x3, 4x4),
 *   36 products instead of 144, on the points 0, 1, -1, 1/2, -2 and
 *   infinity (in float, about the error of the first: 1.8e-6 of the largest
 *   output against 1.5e-6, summing 128 channels of normal data).
 * Transforms run on LANES tiles at a time, so the compiler vectorizes them. */
#include "cpu_winograd.h"
#include "gan_prefetch.h"

#include <string.h>

enum { LANES = 16, KERNEL = 4, MAX_PHASES = 4, MAX_TAPS = 4, MAX_PATCH = 6, MAX_POSITIONS = MAX_PATCH * MAX_PATCH };

/* Samples are taken in chunks whose transformed tiles and products fit in
 * this many floats (at least one sample a chunk) */
enum { WINOGRAD_CHUNK_FLOATS = 8 << 20 };

/* The transforms of a block of LANES tiles are compiled for AVX-512 and
 * AVX2 as well as the baseline, and the loader picks the best this CPU runs
 * (they take a fifth of a dcgan64 step; AVX-512 makes that step 5% faster). */
#if defined(__x86_64__) && defined(__ELF__) && \
    (defined(__clang__) ? __clang_major__ >= 14 : defined(__GNUC__) && __GNUC__ >= 6)
#define ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ISA_CLONES
#endif

/* The 1-D transforms, on LANES columns at once: y[i * ys + l] from x[j * xs + l].
 * F(4x4, 2x2): */
typedef void (*transform_1d)(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys);

static inline void input_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = -0.5f * x0 - x1 + 0.5f * x2 + x3;
        y[ys + l] = 0.5f * x1 + 1.5f * x2 + x3;
        y[2 * ys + l] = -0.5f * x1 - 0.5f * x2 + x3;
        y[3 * ys + l] = -x1 + x3;
        y[4 * ys + l] = -0.5f * x1 - x2 + 0.5f * x3 + x4;
    }
}

static inline void input_adjoint_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = -0.5f * x0;
        y[ys + l] = -x0 + 0.5f * x1 - 0.5f * x2 - x3 - 0.5f * x4;
        y[2 * ys + l] = 0.5f * x0 + 1.5f * x1 - 0.5f * x2 - x4;
        y[3 * ys + l] = x0 + x1 + x2 + x3 + 0.5f * x4;
        y[4 * ys + l] = x4;
    }
}

static inline void output_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = x0 + x1 + x2 + x3;
        y[ys + l] = x1 - x2 - 0.5f * x3;
        y[2 * ys + l] = x1 + x2 + 0.25f * x3;
        y[3 * ys + l] = x1 - x2 - 0.125f * x3 + x4;
    }
}

static inline void output_adjoint_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l];
        y[l] = x0;
        y[ys + l] = x0 + x1 + x2 + x3;
        y[2 * ys + l] = x0 - x1 + x2 - x3;
        y[3 * ys + l] = x0 - 0.5f * x1 + 0.25f * x2 - 0.125f * x3;
        y[4 * ys + l] = x3;
    }
}

static inline void kernel_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* G */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l];
        y[l] = -2.0f * x0;
        y[ys + l] = (1.0f / 3.0f) * (x0 + x1);
        y[2 * ys + l] = x1 - x0;
        y[3 * ys + l] = (8.0f / 3.0f) * x0 - (4.0f / 3.0f) * x1;
        y[4 * ys + l] = x1;
    }
}

/* G^T */
static inline void kernel_adjoint_1d_f42(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys)
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = -2.0f * x0 + (1.0f / 3.0f) * x1 - x2 + (8.0f / 3.0f) * x3;
        y[ys + l] = (1.0f / 3.0f) * x1 + x2 - (4.0f / 3.0f) * x3 + x4;
    }
}

/* F(3x3, 4x4): */
static inline void input_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        const float x5 = x[5 * xs + l];
        y[l] = x0 - 1.5f * x1 - 2.0f * x2 + 1.5f * x3 + x4;
        y[ys + l] = -x1 + 0.5f * x2 + 2.5f * x3 + x4;
        y[2 * ys + l] = x1 - 2.5f * x2 + 0.5f * x3 + x4;
        y[3 * ys + l] = -2.0f * x1 - x2 + 2.0f * x3 + x4;
        y[4 * ys + l] = 0.5f * x1 - x2 - 0.5f * x3 + x4;
        y[5 * ys + l] = x1 - 1.5f * x2 - 2.0f * x3 + 1.5f * x4 + x5;
    }
}

static inline void input_adjoint_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        const float x5 = x[5 * xs + l];
        y[l] = x0;
        y[ys + l] = -1.5f * x0 - x1 + x2 - 2.0f * x3 + 0.5f * x4 + x5;
        y[2 * ys + l] = -2.0f * x0 + 0.5f * x1 - 2.5f * x2 - x3 - x4 - 1.5f * x5;
        y[3 * ys + l] = 1.5f * x0 + 2.5f * x1 + 0.5f * x2 + 2.0f * x3 - 0.5f * x4 - 2.0f * x5;
        y[4 * ys + l] = x0 + x1 + x2 + x3 + x4 + 1.5f * x5;
        y[5 * ys + l] = x5;
    }
}

static inline void output_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        const float x5 = x[5 * xs + l];
        y[l] = x0 + x1 + x2 + x3 + x4;
        y[ys + l] = x1 - x2 + 0.5f * x3 - 2.0f * x4;
        y[2 * ys + l] = x1 + x2 + 0.25f * x3 + 4.0f * x4 + x5;
    }
}

static inline void output_adjoint_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l];
        y[l] = x0;
        y[ys + l] = x0 + x1 + x2;
        y[2 * ys + l] = x0 - x1 + x2;
        y[3 * ys + l] = x0 + 0.5f * x1 + 0.25f * x2;
        y[4 * ys + l] = x0 - 2.0f * x1 + 4.0f * x2;
        y[5 * ys + l] = x2;
    }
}

static inline void kernel_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* G */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l];
        y[l] = x0;
        y[ys + l] = (1.0f / 3.0f) * (x0 + x1 + x2 + x3);
        y[2 * ys + l] = (1.0f / 3.0f) * (-x0 + x1 - x2 + x3);
        y[3 * ys + l] = (1.0f / 15.0f) * (-16.0f * x0 - 8.0f * x1 - 4.0f * x2 - 2.0f * x3);
        y[4 * ys + l] = (1.0f / 15.0f) * (x0 - 2.0f * x1 + 4.0f * x2 - 8.0f * x3);
        y[5 * ys + l] = x3;
    }
}

/* G^T */
static inline void kernel_adjoint_1d_f34(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys)
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        const float x5 = x[5 * xs + l];
        const float a = (1.0f / 3.0f) * x1, b = (1.0f / 3.0f) * x2, c = (1.0f / 15.0f) * x3, d = (1.0f / 15.0f) * x4;
        y[l] = x0 + a - b - 16.0f * c + d;
        y[ys + l] = a + b - 8.0f * c - 2.0f * d;
        y[2 * ys + l] = a - b - 4.0f * c + 4.0f * d;
        y[3 * ys + l] = a + b - 2.0f * c - 8.0f * d + x5;
    }
}

/* y [n_out][n_out][LANES] = M x M^T for x [n_in][n_in][LANES], where f applies M */
static inline __attribute__((always_inline)) void transform_2d(transform_1d f, int n_in, int n_out,
                                                               const float *restrict x, float *restrict y)
{
    float tmp[MAX_POSITIONS * LANES]; /* [n_out][n_in][LANES] */
    for (int j = 0; j < n_in; j++)
        f(x + j * LANES, (ptrdiff_t)n_in * LANES, tmp + j * LANES, (ptrdiff_t)n_in * LANES);
    for (int i = 0; i < n_out; i++)
        f(tmp + i * n_in * LANES, LANES, y + i * n_out * LANES, LANES);
}

/* lanes [count][LANES] <-> count rows of a strided matrix, nl lanes used */
static inline void store_lanes(const float *restrict lanes, int count, float *restrict dst, size_t stride, int nl)
{
    for (int k = 0; k < count; k++)
        if (nl == LANES)
            for (int l = 0; l < LANES; l++)
                dst[k * stride + l] = lanes[k * LANES + l];
        else
            memcpy(dst + k * stride, lanes + k * LANES, (size_t)nl * sizeof *dst);
}

static inline void load_lanes(const float *restrict src, size_t stride, int count, int nl, float *restrict lanes)
{
    for (int k = 0; k < count; k++)
        if (nl == LANES) /* a vector's copy, not lane by lane */
            for (int l = 0; l < LANES; l++)
                lanes[k * LANES + l] = src[k * stride + l];
        else
            for (int l = 0; l < LANES; l++)
                lanes[k * LANES + l] = l < nl ? src[k * stride + l] : 0.0f;
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* lanes[k][l] = base[off[k * stride + l]] for the first nl lanes, 0 where
 * the offset is -1 and past them (where the tables, built for a whole
 * chunk, may point past a shorter last chunk's samples: not read) */
static inline void gather_tiles(const float *base, const int32_t *off, int stride, int count, int nl, float *lanes)
{
    for (int k = 0; k < count; k++)
        for (int l = 0; l < LANES; l++) {
            const int32_t at = off[(size_t)k * stride + l];
            lanes[k * LANES + l] = l < nl && at >= 0 ? base[at] : 0.0f;
        }
}

/* base[off[k * stride + l]] = lanes[k][l] (or += with add) for the first nl
 * lanes, where the offset is not -1 */
static inline __attribute__((always_inline)) void scatter_tiles(const float *lanes, int count, int nl, bool add,
                                                                float *base, const int32_t *off, int stride)
{
    for (int k = 0; k < count; k++)
        for (int l = 0; l < nl; l++) {
            const int32_t at = off[(size_t)k * stride + l];
            if (at >= 0)
                base[at] = add ? base[at] + lanes[k * LANES + l] : lanes[k * LANES + l];
        }
}

/* The transforms of one block of LANES tiles (nl of them used), each
 * between its operand in memory and the transformed values: gathered from
 * or scattered to feature maps through offsets off[k * stride + l], and
 * stored to or loaded from position-major matrices, a position every
 * `stride` floats. A scheme's tile, patch and taps are constants where
 * these are inlined (see SCHEME_BLOCKS). */
static inline __attribute__((always_inline)) void input_block(transform_1d f, int patch, const float *base,
                                                              const int32_t *off, int stride, int nl, float *dst,
                                                              size_t dst_stride)
{
    float d[MAX_POSITIONS * LANES], v[MAX_POSITIONS * LANES];
    gather_tiles(base, off, stride, patch * patch, nl, d);
    transform_2d(f, patch, patch, d, v);
    store_lanes(v, patch * patch, dst, dst_stride, nl);
}

static inline __attribute__((always_inline)) void out_grad_block(transform_1d f, int tile, int patch,
                                                                 const float *base, const int32_t *off, int stride,
                                                                 int nl, float *dst, size_t dst_stride)
{
    float y[MAX_POSITIONS * LANES], m[MAX_POSITIONS * LANES];
    gather_tiles(base, off, stride, tile * tile, nl, y);
    transform_2d(f, tile, patch, y, m);
    store_lanes(m, patch * patch, dst, dst_stride, nl);
}

static inline __attribute__((always_inline)) void output_block(transform_1d f, int tile, int patch,
                                                               const float *src, size_t src_stride, int nl,
                                                               float *base, const int32_t *off, int stride)
{
    float m[MAX_POSITIONS * LANES], y[MAX_POSITIONS * LANES];
    load_lanes(src, src_stride, patch * patch, nl, m);
    transform_2d(f, patch, tile, m, y);
    scatter_tiles(y, tile * tile, nl, false, base, off, stride);
}

/* adds, since neighbouring tiles overlap */
static inline __attribute__((always_inline)) void in_grad_block(transform_1d f, int patch, const float *src,
                                                                size_t src_stride, int nl, float *base,
                                                                const int32_t *off, int stride)
{
    float r[MAX_POSITIONS * LANES], d[MAX_POSITIONS * LANES];
    load_lanes(src, src_stride, patch * patch, nl, r);
    transform_2d(f, patch, patch, r, d);
    scatter_tiles(d, patch * patch, nl, true, base, off, stride);
}

/* G g G^T of taps x taps kernels g [taps^2][LANES], stored a position every `plane` floats */
static inline __attribute__((always_inline)) void kernel_block(transform_1d f, int taps, int patch, const float *g,
                                                               float *dst, size_t plane, int nl)
{
    float u[MAX_POSITIONS * LANES];
    transform_2d(f, taps, patch, g, u);
    store_lanes(u, patch * patch, dst, plane, nl);
}

/* g [taps^2][LANES] = G^T u G of the transformed gradients loaded a position every `stride` floats */
static inline __attribute__((always_inline)) void kernel_grad_block(transform_1d f, int taps, int patch,
                                                                    const float *src, size_t stride, int nl,
                                                                    float *g)
{
    float u[MAX_POSITIONS * LANES];
    load_lanes(src, stride, patch * patch, nl, u);
    transform_2d(f, patch, taps, u, g);
}

/* A Winograd scheme's sizes; its block transforms are op_f42 or op_f34
 * (SCHEME_BLOCKS), each compiled for its sizes and for each instruction
 * set, and called through SCHEME_CALL */
typedef struct scheme {
    int stride;       /* the convolution's: S has stride^2 channels an input channel */
    int taps;         /* the side of S's kernel, KERNEL / stride: 2 for F(4x4, 2x2), 4 for F(3x3, 4x4) */
    int tile, patch;  /* outputs a tile's side; the side of the patch of S it reads, tile + taps - 1 */
} scheme;

/* Scheme sc's block transform op, called directly rather than through a
 * table of pointers: the instruction-set clones resolve at load time, and
 * a pointer to one in static data has the loader call the resolver before
 * the sanitizers' runtime is ready (a shared library built with them then
 * crashes as it loads) */
#define SCHEME_CALL(sc, op, ...) ((sc)->taps == 2 ? op##_f42(__VA_ARGS__) : op##_f34(__VA_ARGS__))

/* The block transforms of scheme `name`, F(TILE x TILE, TAPS x TAPS) */
#define SCHEME_BLOCKS(name, TILE, TAPS)                                                                         \
    static ISA_CLONES void input_##name(const float *base, const int32_t *off, int stride, int nl, float *dst,  \
                                        size_t dst_stride)                                                      \
    {                                                                                                           \
        input_block(input_1d_##name, TILE + TAPS - 1, base, off, stride, nl, dst, dst_stride);                  \
    }                                                                                                           \
    static ISA_CLONES void out_grad_##name(const float *base, const int32_t *off, int stride, int nl,           \
                                           float *dst, size_t dst_stride)                                       \
    {                                                                                                           \
        out_grad_block(output_adjoint_1d_##name, TILE, TILE + TAPS - 1, base, off, stride, nl, dst, dst_stride); \
    }                                                                                                           \
    static ISA_CLONES void output_##name(const float *src, size_t src_stride, int nl, float *base,              \
                                         const int32_t *off, int stride)                                        \
    {                                                                                                           \
        output_block(output_1d_##name, TILE, TILE + TAPS - 1, src, src_stride, nl, base, off, stride);          \
    }                                                                                                           \
    static ISA_CLONES void in_grad_##name(const float *src, size_t src_stride, int nl, float *base,             \
                                          const int32_t *off, int stride)                                       \
    {                                                                                                           \
        in_grad_block(input_adjoint_1d_##name, TILE + TAPS - 1, src, src_stride, nl, base, off, stride);        \
    }                                                                                                           \
    static ISA_CLONES void kernel_##name(const float *g, float *dst, size_t plane, int nl)                      \
    {                                                                                                           \
        kernel_block(kernel_1d_##name, TAPS, TILE + TAPS - 1, g, dst, plane, nl);                               \
    }                                                                                                           \
    static ISA_CLONES void kernel_grad_##name(const float *src, size_t stride, int nl, float *g)                \
    {                                                                                                           \
        kernel_grad_block(kernel_adjoint_1d_##name, TAPS, TILE + TAPS - 1, src, stride, nl, g);                 \
    }                                                                                                           \
    static const scheme scheme_##name = {KERNEL / TAPS, TAPS, TILE, TILE + TAPS - 1};

SCHEME_BLOCKS(f42, 4, 2)
SCHEME_BLOCKS(f34, 3, 4)

typedef struct shape {
    const scheme *sc;
    int in_c, C, M;    /* input channels, channels of S (stride^2 in_c), output channels */
    int tiles_w, T;    /* tiles a row and a sample */
    int phases;        /* channels of S an input channel, stride^2 */
    int positions;     /* of a patch, patch^2 */
    ptrdiff_t in_plane, out_plane; /* floats a channel of input and output */
} shape;

static shape shape_of(const gan_conv_geom *g)
{
    const scheme *sc = g->stride_h == 2 ? &scheme_f42 : &scheme_f34;
    const int tiles_h = (g->out_h + sc->tile - 1) / sc->tile, tiles_w = (g->out_w + sc->tile - 1) / sc->tile;
    const int phases = sc->stride * sc->stride;
    return (shape){sc,      g->in_c, phases * g->in_c,          g->out_c, tiles_w, tiles_h * tiles_w, phases,
                   sc->patch * sc->patch, (ptrdiff_t)g->in_h * g->in_w, (ptrdiff_t)g->out_h * g->out_w};
}

/* Where a call keeps things in its workspace, in floats */
typedef struct layout {
    int chunk; /* samples a chunk */
    int lanes; /* the chunk's tiles, rounded up to whole LANES */
    size_t u, du, v, d, r, total;
} layout;

static size_t aligned(size_t floats) { return (floats + 15) & ~(size_t)15; }

static layout layout_of(const gan_ukernel *uk, const gan_conv_geom *g, const shape *sh, const gan_winograd_args *a)
{
    const bool need_v = a->out || a->dw, need_d = a->in_grad || a->dw;
    const size_t per_sample = (size_t)sh->positions * sh->T *
                              ((need_v ? sh->C : 0) + (need_d ? sh->M : 0) +
                               (a->out ? sh->M : a->in_grad ? sh->C : 0));
    layout lo = {.chunk = gan_chunk_samples(g->n, per_sample, WINOGRAD_CHUNK_FLOATS)};
    const size_t weights = (size_t)sh->positions * sh->M * sh->C;
    const size_t tiles = (size_t)sh->positions * sh->T * lo.chunk;
    const size_t packed = a->out ? gan_packed_a_floats(uk, sh->M, sh->C)
                                 : a->in_grad ? gan_packed_a_floats(uk, sh->C, sh->M) : 0;
    const int tile = sh->sc->tile;
    lo.lanes = (lo.chunk * sh->T + LANES - 1) / LANES * LANES;
    lo.u = aligned((size_t)lo.lanes * (sh->phases * sh->positions + tile * tile)); /* tables first */
    lo.du = lo.u + aligned(sh->positions * packed);
    lo.v = lo.du + (a->dw ? aligned(weights) : 0);
    lo.d = lo.v + (need_v ? aligned(tiles * sh->C) : 0);
    lo.r = lo.d + (need_d ? aligned(tiles * sh->M) : 0);
    lo.total = lo.r + (a->out ? tiles * sh->M : a->in_grad ? tiles * sh->C : 0);
    return lo;
}

/* Where each tile t of a chunk reads and writes: in_off[phase][u][v][t] is
 * the offset of S's patch element (u, v) for phase s p + q in input channel
 * 0 of the chunk's first sample (add the channel's offset), -1 for padding
 * and for the lanes past a whole chunk's tiles; out_off[i][j][t] the same
 * for the outputs. A last, shorter chunk uses the first nl lanes of its
 * last block only. */
static void build_tables(const gan_conv_geom *g, const shape *sh, const layout *lo, int32_t *in_off, int32_t *out_off)
{
    const int tiles = lo->chunk * sh->T, lanes = lo->lanes, s = sh->sc->stride;
    const int tile = sh->sc->tile, patch = sh->sc->patch;
    for (int t = 0; t < lanes; t++) {
        const int n = t / sh->T, I0 = t % sh->T / sh->tiles_w * tile, J0 = t % sh->tiles_w * tile;
        const int32_t in_sample = (int32_t)(n * sh->in_c * sh->in_plane);
        const int32_t out_sample = (int32_t)(n * sh->M * sh->out_plane);
        for (int phase = 0; phase < sh->phases; phase++)
            for (int k = 0; k < sh->positions; k++) {
                const int h = s * (I0 + k / patch) + phase / s - g->pad_h;
                const int w = s * (J0 + k % patch) + phase % s - g->pad_w;
                in_off[((size_t)phase * sh->positions + k) * lanes + t] =
                    t < tiles && h >= 0 && h < g->in_h && w >= 0 && w < g->in_w ? in_sample + h * g->in_w + w : -1;
            }
        for (int k = 0; k < tile * tile; k++) {
            const int h = I0 + k / tile, w = J0 + k % tile;
            out_off[(size_t)k * lanes + t] =
                t < tiles && h < g->out_h && w < g->out_w ? out_sample + h * g->out_w + w : -1;
        }
    }
}

/* What a transform's items read: the call's shapes, a table of offsets,
 * its source and destination, and the chunk of samples n0 .. n0+cn */
typedef struct pass {
    const shape *sh;
    const layout *lo;
    const gan_ukernel *uk;
    const int32_t *off;
    const float *src;
    float *dst;
    int n0, cn, blocks; /* blocks: of LANES tiles in the chunk */
    bool transposed;
} pass;

static pass chunk_pass(const shape *sh, const layout *lo, const int32_t *off, const float *src, float *dst, int n0,
                       int cn)
{
    return (pass){sh, lo, NULL, off, src, dst, n0, cn, (cn * sh->T + LANES - 1) / LANES, false};
}

/* at[phase][ab]: where S's kernel element ab (a * taps + b) of a channel
 * of that phase reads its input channel's 4x4 kernel in w */
static void kernel_offsets(const shape *sh, int at[][MAX_TAPS * MAX_TAPS])
{
    const int s = sh->sc->stride, taps = sh->sc->taps;
    for (int phase = 0; phase < sh->phases; phase++)
        for (int ab = 0; ab < taps * taps; ab++)
            at[phase][ab] = (s * (ab / taps) + phase / s) * KERNEL + s * (ab % taps) + phase % s;
}

/* transform_weights' KC block and panel of rows t */
static void weights_item(const void *args, ptrdiff_t t)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const bool transposed = ps->transposed;
    const int rows = transposed ? sh->C : sh->M, cols = transposed ? sh->M : sh->C, mr = ps->uk->mr;
    const int panels = (rows + mr - 1) / mr, taps2 = sh->sc->taps * sh->sc->taps;
    const size_t plane = gan_packed_a_floats(ps->uk, rows, cols);
    const int pc = (int)(t / panels) * GAN_GEMM_KC, ic = (int)(t % panels) * mr;
    const int kc = min_int(GAN_GEMM_KC, cols - pc);
    float *block = ps->dst + gan_packed_a_block(ps->uk, rows, pc, ic, kc);
    int at[MAX_PHASES][MAX_TAPS * MAX_TAPS];
    kernel_offsets(sh, at);
    /* the kernels the lanes read, a cache line each, output channels
     * in_c kernels apart: fetched ahead, as no prefetcher follows that */
    const int last_row = min_int(ic + mr, rows), ph = sh->phases;
    const int co0 = transposed ? pc : ic, co1 = transposed ? pc + kc : last_row;
    const int ci0 = (transposed ? ic : pc) / ph, ci1 = ((transposed ? last_row : pc + kc) + ph - 1) / ph;
    for (int co = co0; co < co1; co++)
        gan_prefetch(ps->src + ((size_t)co * sh->in_c + ci0) * KERNEL * KERNEL,
                     sizeof(float) * (size_t)(ci1 - ci0) * KERNEL * KERNEL);
    for (int j0 = 0; j0 < kc * mr; j0 += LANES) {
        const int nl = min_int(LANES, kc * mr - j0);
        float g[MAX_TAPS * MAX_TAPS * LANES];
        for (int l = 0; l < LANES; l++) {
            const int row = ic + (j0 + l) % mr, col = pc + (j0 + l) / mr;
            if (l >= nl || row >= rows) { /* the packing's padding */
                for (int ab = 0; ab < taps2; ab++)
                    g[ab * LANES + l] = 0.0f;
                continue;
            }
            const int co = transposed ? col : row, c = transposed ? row : col;
            const float *k = ps->src + ((size_t)co * sh->in_c + c / sh->phases) * KERNEL * KERNEL;
            const int *kat = at[c % sh->phases];
            for (int ab = 0; ab < taps2; ab++)
                g[ab * LANES + l] = k[kat[ab]];
        }
        SCHEME_CALL(sh->sc, kernel, g, block + j0, plane, nl);
    }
}

/* U[position] = G g G^T for every channel pair, as the A operand of the
 * products that read it, packed for the micro-kernel: U [out_c][C] for
 * the output, its transpose for the input gradient. Lanes run through the
 * packed order, so each position's values are stored contiguously; rows
 * past the end get zero weights, which is the packing's padding. */
static void transform_weights(const shape *sh, const gan_ukernel *uk, const float *w, bool transposed, float *U,
                              gan_team *team, int threads)
{
    const int rows = transposed ? sh->C : sh->M, cols = transposed ? sh->M : sh->C, mr = uk->mr;
    const int panels = (rows + mr - 1) / mr, k_blocks = (cols + GAN_GEMM_KC - 1) / GAN_GEMM_KC;
    const pass ps = {sh, NULL, uk, NULL, w, U, 0, 0, 0, transposed};
    gan_team_for(team, threads, (ptrdiff_t)k_blocks * panels, weights_item, &ps);
}

/* add_weight_grad's output channel co */
static void weight_grad_item(const void *args, ptrdiff_t co)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int taps2 = sh->sc->taps * sh->sc->taps;
    int at[MAX_PHASES][MAX_TAPS * MAX_TAPS];
    kernel_offsets(sh, at);
    for (int c0 = 0; c0 < sh->C; c0 += LANES) {
        const int nl = min_int(LANES, sh->C - c0);
        float g[MAX_TAPS * MAX_TAPS * LANES];
        SCHEME_CALL(sh->sc, kernel_grad, ps->src + (size_t)co * sh->C + c0, (size_t)sh->M * sh->C, nl, g);
        for (int l = 0; l < nl; l++) {
            const int c = c0 + l;
            float *k = ps->dst + ((size_t)co * sh->in_c + c / sh->phases) * KERNEL * KERNEL;
            const int *kat = at[c % sh->phases];
            for (int ab = 0; ab < taps2; ab++)
                k[kat[ab]] += g[ab * LANES + l];
        }
    }
}

/* dw += G^T dU G */
static void add_weight_grad(const shape *sh, const float *dU, float *dw, gan_team *team, int threads)
{
    const pass ps = {sh, NULL, NULL, NULL, dU, dw, 0, 0, 0, false};
    gan_team_for(team, threads, sh->M, weight_grad_item, &ps);
}

/* Asks for a channel's planes (`floats` each, the chunk's first sample's
 * at `plane`, a sample `sample` floats on) that the block of tiles after
 * the one at t0 starts on: a block's lanes gather a tile's patch each, in
 * no order a prefetcher follows */
static void prefetch_planes(const pass *ps, int t0, const float *plane, ptrdiff_t sample, ptrdiff_t floats)
{
    const int T = ps->sh->T;
    for (int s = (t0 + LANES - 1) / T + 1; s < ps->cn && s * T < t0 + 2 * LANES; s++)
        gan_prefetch(plane + s * sample, sizeof *plane * (size_t)floats);
}

/* Asks for the rows of the products that the block of tiles after the
 * one at t0 reads, LANES floats after `rows` (the block's own) in each
 * position's plane, `stride` floats apart: up to 36 streams a plane
 * apart, which no prefetcher follows */
static void prefetch_next_rows(const pass *ps, const float *rows, int t0, size_t stride)
{
    if (t0 + LANES < ps->cn * ps->sh->T)
        for (int k = 0; k < ps->sh->positions; k++)
            gan_prefetch(rows + LANES + k * stride, sizeof *rows * LANES);
}

/* transform_input's channel and block of tiles i */
static void input_item(const void *args, ptrdiff_t i)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int c = (int)(i / ps->blocks), b = (int)(i % ps->blocks), Tc = ps->cn * sh->T;
    const int t0 = b * LANES, nl = min_int(LANES, Tc - t0);
    const float *plane = ps->src + ((ptrdiff_t)ps->n0 * sh->in_c + c / sh->phases) * sh->in_plane;
    prefetch_planes(ps, t0, plane, sh->in_c * sh->in_plane, sh->in_plane);
    SCHEME_CALL(sh->sc, input, plane,
                ps->off + (size_t)(c % sh->phases) * sh->positions * ps->lo->lanes + t0, ps->lo->lanes, nl,
                ps->dst + (size_t)c * Tc + t0, (size_t)sh->C * Tc);
}

/* V[position][c][t] = B^T d B for the tiles t of samples n0 .. n0+cn */
static void transform_input(const shape *sh, const layout *lo, const int32_t *in_off, const float *in, int n0, int cn,
                            float *V, gan_team *team, int threads)
{
    const pass ps = chunk_pass(sh, lo, in_off, in, V, n0, cn);
    gan_team_for(team, threads, (ptrdiff_t)sh->C * ps.blocks, input_item, &ps);
}

/* transform_out_grad's output channel and block of tiles i */
static void out_grad_item(const void *args, ptrdiff_t i)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int co = (int)(i / ps->blocks), b = (int)(i % ps->blocks), Tc = ps->cn * sh->T;
    const int t0 = b * LANES, nl = min_int(LANES, Tc - t0);
    const float *plane = ps->src + ((ptrdiff_t)ps->n0 * sh->M + co) * sh->out_plane;
    prefetch_planes(ps, t0, plane, sh->M * sh->out_plane, sh->out_plane);
    SCHEME_CALL(sh->sc, out_grad, plane, ps->off + t0,
                ps->lo->lanes, nl, ps->dst + (size_t)co * Tc + t0, (size_t)sh->M * Tc);
}

/* D[position][co][t] = A y' A^T for the output-shaped tiles y' */
static void transform_out_grad(const shape *sh, const layout *lo, const int32_t *out_off, const float *og, int n0,
                               int cn, float *D, gan_team *team, int threads)
{
    const pass ps = chunk_pass(sh, lo, out_off, og, D, n0, cn);
    gan_team_for(team, threads, (ptrdiff_t)sh->M * ps.blocks, out_grad_item, &ps);
}

/* transform_output's output channel and block of tiles i */
static void output_item(const void *args, ptrdiff_t i)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int co = (int)(i / ps->blocks), b = (int)(i % ps->blocks), Tc = ps->cn * sh->T;
    const int t0 = b * LANES, nl = min_int(LANES, Tc - t0);
    const float *rows = ps->src + (size_t)co * Tc + t0;
    prefetch_next_rows(ps, rows, t0, (size_t)sh->M * Tc);
    SCHEME_CALL(sh->sc, output, rows, (size_t)sh->M * Tc, nl,
                ps->dst + ((ptrdiff_t)ps->n0 * sh->M + co) * sh->out_plane, ps->off + t0, ps->lo->lanes);
}

/* out = A^T R A, from the products R[position][co][t] */
static void transform_output(const shape *sh, const layout *lo, const int32_t *out_off, const float *R, int n0,
                             int cn, float *out, gan_team *team, int threads)
{
    const pass ps = chunk_pass(sh, lo, out_off, R, out, n0, cn);
    gan_team_for(team, threads, (ptrdiff_t)sh->M * ps.blocks, output_item, &ps);
}

/* transform_in_grad's input channel ci */
static void in_grad_item(const void *args, ptrdiff_t ci)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int Tc = ps->cn * sh->T;
    float *base = ps->dst + ((ptrdiff_t)ps->n0 * sh->in_c + ci) * sh->in_plane;
    for (int s = 0; s < ps->cn; s++)
        memset(base + (ptrdiff_t)s * sh->in_c * sh->in_plane, 0, (size_t)sh->in_plane * sizeof *base);
    for (int phase = 0; phase < sh->phases; phase++)
        for (int b = 0; b < ps->blocks; b++) {
            const int c = sh->phases * (int)ci + phase, t0 = b * LANES, nl = min_int(LANES, Tc - t0);
            const float *rows = ps->src + (size_t)c * Tc + t0;
            prefetch_next_rows(ps, rows, t0, (size_t)sh->C * Tc);
            SCHEME_CALL(sh->sc, in_grad, rows, (size_t)sh->C * Tc, nl, base,
                        ps->off + (size_t)phase * sh->positions * ps->lo->lanes + t0, ps->lo->lanes);
        }
}

/* in_grad = the sum over tiles of B R B^T, from the products R[position][c][t].
 * Tiles overlap by taps - 1 rows and columns of S, so each thread owns
 * whole input channels and adds their tiles in a fixed order. */
static void transform_in_grad(const shape *sh, const layout *lo, const int32_t *in_off, const float *R, int n0,
                              int cn, float *in_grad, gan_team *team, int threads)
{
    const pass ps = chunk_pass(sh, lo, in_off, R, in_grad, n0, cn);
    gan_team_for(team, threads, sh->in_c, in_grad_item, &ps);
}

/* The products of a chunk's positions whose operands fit a thread's
 * packing space: C[pos] (m x n) = A[pos] (m x k) * B[pos] (k x n), or +=,
 * each position's whole product on one thread, which packs its operands
 * itself (A but where it is U, packed already). The positions are dealt as
 * the team deals chunks, with no barrier between them, which the 25 or 36
 * products of a small layer (dcgan's 3x3 to 6x6 one: 256 x 128 x 128
 * each) would otherwise pay for every one; the same sums as a product on
 * all threads (gan_cpu_gemm_packed_rows), so the same bits. */
typedef struct products {
    const gan_gemm_plan *plan;
    int m, n, k, runs;
    gan_matrix a, b;               /* position 0's operands */
    float *c;
    size_t a_plane, b_plane, c_plane; /* floats from a position's operand to the next's */
    bool accumulate;
} products;

static bool products_fit(const products *p)
{
    const gan_ukernel *uk = p->plan->kernel;
    return p->runs > 1 && gan_packed_floats(p->n, uk->nr, p->k) <= (size_t)GAN_GEMM_NC * GAN_GEMM_KC &&
           (p->a.packed || gan_packed_a_floats(uk, p->m, p->k) <= (size_t)GAN_GEMM_MC * GAN_GEMM_KC);
}

static void products_part(const void *args, const gan_worker *w)
{
    const products *p = args;
    int scan = 0;
    for (int64_t pos; (pos = gan_team_next(w->team, w->t, p->runs, &scan)) >= 0;) {
        gan_matrix a = p->a, b = p->b;
        a.data += pos * p->a_plane, b.data += pos * p->b_plane;
        const float *packed_a = a.packed ? a.data : gan_cpu_pack_a(p->plan, w->t, &a, p->m, p->k);
        const float *packed_b = gan_cpu_pack_b(p->plan, w->t, &b, p->n, p->k);
        gan_cpu_gemm_packed_rows(p->plan->kernel, p->m, p->n, p->k, packed_a, packed_b, 0, p->m,
                                 p->c + pos * p->c_plane, p->n, p->accumulate);
    }
}

/* The products by position where they fit; false, doing nothing, where
 * they do not (the caller then makes each on all threads) */
static bool run_products(const products *p, int positions, int threads)
{
    if (!products_fit(p))
        return false;
    gan_team_deal(p->plan->team, p->runs, positions);
    gan_team_run(p->plan->team, threads, products_part, p);
    return true;
}

bool gan_winograd_suits(const gan_conv_geom *g)
{
    if (g->kernel_h != KERNEL || g->kernel_w != KERNEL || g->in_c < 8 || g->out_c < 8)
        return false;
    if (g->stride_h == 2 && g->stride_w == 2)
        return g->pad_h == 1 && g->pad_w == 1;
    return g->stride_h == 1 && g->stride_w == 1 && g->pad_h < KERNEL && g->pad_w < KERNEL &&
           g->out_h >= scheme_f34.tile && g->out_w >= scheme_f34.tile;
}

size_t gan_winograd_workspace(const gan_gemm_plan *plan, const gan_conv_geom *g, const gan_winograd_args *a)
{
    const shape sh = shape_of(g);
    return layout_of(plan->kernel, g, &sh, a).total;
}

void gan_winograd_run(const gan_gemm_plan *plan, const gan_conv_geom *g, const gan_winograd_args *a,
                      float *workspace, int threads)
{
    const shape sh = shape_of(g);
    const gan_ukernel *uk = plan->kernel;
    const layout lo = layout_of(uk, g, &sh, a);
    int32_t *in_off = (int32_t *)workspace, *out_off = in_off + (size_t)sh.phases * sh.positions * lo.lanes;
    float *U = workspace + lo.u, *dU = workspace + lo.du, *V = workspace + lo.v, *D = workspace + lo.d,
          *R = workspace + lo.r;
    build_tables(g, &sh, &lo, in_off, out_off);
    if (a->out || a->in_grad)
        transform_weights(&sh, uk, a->w, a->in_grad != NULL, U, plan->team, threads);
    const size_t u_plane = a->out ? gan_packed_a_floats(uk, sh.M, sh.C) : gan_packed_a_floats(uk, sh.C, sh.M);
    /* threads the products by position take: not from within a task, whose dealt work they would overwrite */
    const int runs = gan_team_in_task() ? 1 : min_int(threads, gan_team_size(plan->team));
    for (int n0 = 0; n0 < g->n; n0 += lo.chunk) {
        const int cn = min_int(lo.chunk, g->n - n0), Tc = cn * sh.T;
        if (a->out || a->dw)
            transform_input(&sh, &lo, in_off, a->in, n0, cn, V, plan->team, threads);
        if (a->in_grad || a->dw)
            transform_out_grad(&sh, &lo, out_off, a->out_grad, n0, cn, D, plan->team, threads);
        /* R = U V for the output, U D for the input gradient; dU += D V^T */
        const int rows = a->out ? sh.M : sh.C, depth = a->out ? sh.C : sh.M;
        const float *B = a->out ? V : D;
        const products uv = {plan, rows, Tc, depth, runs, gan_packed_a(U), gan_plain(B, Tc, false), R, u_plane,
                             (size_t)depth * Tc, (size_t)rows * Tc, false};
        const products dv = {plan, sh.M, sh.C, Tc, runs, gan_plain(D, Tc, false), gan_plain(V, Tc, true), dU,
                             (size_t)sh.M * Tc, (size_t)sh.C * Tc, (size_t)sh.M * sh.C, n0 > 0};
        const bool uv_done = (a->out || a->in_grad) && run_products(&uv, sh.positions, threads);
        const bool dv_done = a->dw && run_products(&dv, sh.positions, threads);
        for (int pos = 0; pos < sh.positions; pos++) {
            const float *Vp = V + (size_t)pos * sh.C * Tc, *Dp = D + (size_t)pos * sh.M * Tc;
            if ((a->out || a->in_grad) && !uv_done)
                gan_cpu_gemm_matrices(plan, rows, Tc, depth, 1.0f, gan_packed_a(U + pos * u_plane),
                                      gan_plain(B + (size_t)pos * depth * Tc, Tc, false), 0.0f,
                                      gan_plain(R + (size_t)pos * rows * Tc, Tc, false));
            if (a->dw && !dv_done)
                gan_cpu_gemm(plan, false, true, sh.M, sh.C, Tc, 1.0f, Dp, Tc, Vp, Tc, n0 > 0 ? 1.0f : 0.0f,
                             dU + (size_t)pos * sh.M * sh.C, sh.C);
        }
        if (a->out)
            transform_output(&sh, &lo, out_off, R, n0, cn, a->out, plan->team, threads);
        if (a->in_grad)
            transform_in_grad(&sh, &lo, in_off, R, n0, cn, a->in_grad, plan->team, threads);
    }
    if (a->dw)
        add_weight_grad(&sh, dU, a->dw, plan->team, threads);
}
