/* cpu_winograd.c - Winograd F(4x4, 2x2) convolutions.
 *
 * A 4x4 convolution with stride 2 and padding 1 is a 2x2 one with stride 1
 * on the input's space-to-depth view S: channel c = 4 ci + 2 p + q of S at
 * (I, J) is x[ci, 2I + p - 1, 2J + q - 1] (0 outside x), and its 2x2 kernel
 * g is w[co, ci, 2a + p, 2b + q]. Winograd's algorithm computes a 4x4 tile
 * of outputs from a 5x5 tile d of S as
 *     Y = A^T [(G g G^T) . (B^T d B)] A
 * with 25 products per channel pair instead of 64; summed over channels,
 * the 25 transformed positions are 25 independent matrix products. The
 * input and weight gradients are the adjoints of the same linear map,
 *     d' = B [(G g G^T) . (A Y' A^T)] B^T,   g' = G^T [(A Y' A^T) . (B^T d B)] G,
 * so all three passes share the transforms below, which use the points
 * 0, 1, -1, -1/2 and infinity. Transforms run on LANES tiles at a time, so
 * the compiler vectorizes them. */
#include "cpu_winograd.h"

#include <string.h>

enum { TILE = 4, PATCH = TILE + 1, POSITIONS = PATCH * PATCH, LANES = 16 };

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

/* The 1-D transforms, on LANES columns at once: y[i * ys + l] from x[j * xs + l] */
typedef void (*transform_1d)(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys);

static inline void input_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B^T */
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

static inline void input_adjoint_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* B */
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

static inline void output_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = x0 + x1 + x2 + x3;
        y[ys + l] = x1 - x2 - 0.5f * x3;
        y[2 * ys + l] = x1 + x2 + 0.25f * x3;
        y[3 * ys + l] = x1 - x2 - 0.125f * x3 + x4;
    }
}

static inline void output_adjoint_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* A */
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

static inline void kernel_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* G */
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

static inline void kernel_adjoint_1d(const float *restrict x, ptrdiff_t xs, float *restrict y, ptrdiff_t ys) /* G^T */
{
    for (int l = 0; l < LANES; l++) {
        const float x0 = x[l], x1 = x[xs + l], x2 = x[2 * xs + l], x3 = x[3 * xs + l], x4 = x[4 * xs + l];
        y[l] = -2.0f * x0 + (1.0f / 3.0f) * x1 - x2 + (8.0f / 3.0f) * x3;
        y[ys + l] = (1.0f / 3.0f) * x1 + x2 - (4.0f / 3.0f) * x3 + x4;
    }
}

/* y [n_out][n_out][LANES] = M x M^T for x [n_in][n_in][LANES], where f applies M */
static inline __attribute__((always_inline)) void transform_2d(transform_1d f, int n_in, int n_out,
                                                               const float *restrict x, float *restrict y)
{
    float tmp[PATCH * PATCH * LANES]; /* [n_out][n_in][LANES] */
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
        for (int l = 0; l < LANES; l++)
            lanes[k * LANES + l] = l < nl ? src[k * stride + l] : 0.0f;
}

static int min_int(int a, int b) { return a < b ? a : b; }

typedef struct shape {
    int in_c, C, M;    /* input channels, channels of S (4 in_c), output channels */
    int tiles_w, T;    /* tiles a row and a sample */
    ptrdiff_t in_plane, out_plane; /* floats a channel of input and output */
} shape;

static shape shape_of(const gan_conv_geom *g)
{
    const int tiles_h = (g->out_h + TILE - 1) / TILE, tiles_w = (g->out_w + TILE - 1) / TILE;
    return (shape){g->in_c, 4 * g->in_c, g->out_c, tiles_w, tiles_h * tiles_w,
                   (ptrdiff_t)g->in_h * g->in_w, (ptrdiff_t)g->out_h * g->out_w};
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
    const size_t per_sample = (size_t)POSITIONS * sh->T *
                              ((need_v ? sh->C : 0) + (need_d ? sh->M : 0) +
                               (a->out ? sh->M : a->in_grad ? sh->C : 0));
    layout lo = {.chunk = gan_chunk_samples(g->n, per_sample, WINOGRAD_CHUNK_FLOATS)};
    const size_t weights = (size_t)POSITIONS * sh->M * sh->C, tiles = (size_t)POSITIONS * sh->T * lo.chunk;
    const size_t packed = a->out ? gan_packed_a_floats(uk, sh->M, sh->C)
                                 : a->in_grad ? gan_packed_a_floats(uk, sh->C, sh->M) : 0;
    lo.lanes = (lo.chunk * sh->T + LANES - 1) / LANES * LANES;
    lo.u = aligned((size_t)lo.lanes * (4 * POSITIONS + TILE * TILE)); /* tables first */
    lo.du = lo.u + aligned(POSITIONS * packed);
    lo.v = lo.du + (a->dw ? aligned(weights) : 0);
    lo.d = lo.v + (need_v ? aligned(tiles * sh->C) : 0);
    lo.r = lo.d + (need_d ? aligned(tiles * sh->M) : 0);
    lo.total = lo.r + (a->out ? tiles * sh->M : a->in_grad ? tiles * sh->C : 0);
    return lo;
}

/* Where each tile t of a chunk reads and writes: in_off[phase][u][v][t] is
 * the offset of S's patch element (u, v) for phase 2p + q in input channel
 * 0 of the chunk's first sample (add the channel's offset), -1 for padding
 * and for the lanes past a whole chunk's tiles; out_off[i][j][t] the same
 * for the outputs. A last, shorter chunk uses the first nl lanes of its
 * last block only. */
static void build_tables(const gan_conv_geom *g, const shape *sh, const layout *lo, int32_t *in_off, int32_t *out_off)
{
    const int tiles = lo->chunk * sh->T, lanes = lo->lanes;
    for (int t = 0; t < lanes; t++) {
        const int s = t / sh->T, I0 = t % sh->T / sh->tiles_w * TILE, J0 = t % sh->tiles_w * TILE;
        const int32_t in_sample = (int32_t)(s * sh->in_c * sh->in_plane);
        const int32_t out_sample = (int32_t)(s * sh->M * sh->out_plane);
        for (int phase = 0; phase < 4; phase++)
            for (int k = 0; k < POSITIONS; k++) {
                const int h = 2 * (I0 + k / PATCH) + (phase >> 1) - 1, w = 2 * (J0 + k % PATCH) + (phase & 1) - 1;
                in_off[((size_t)phase * POSITIONS + k) * lanes + t] =
                    t < tiles && h >= 0 && h < g->in_h && w >= 0 && w < g->in_w ? in_sample + h * g->in_w + w : -1;
            }
        for (int k = 0; k < TILE * TILE; k++) {
            const int h = I0 + k / TILE, w = J0 + k % TILE;
            out_off[(size_t)k * lanes + t] =
                t < tiles && h < g->out_h && w < g->out_w ? out_sample + h * g->out_w + w : -1;
        }
    }
}

/* lanes[k][l] = base[off[k * stride + l]] for the first nl lanes, 0 where
 * the offset is -1 and past them */
static inline void gather_tiles(const float *base, const int32_t *off, int stride, int count, int nl, float *lanes)
{
    for (int k = 0; k < count; k++)
        for (int l = 0; l < LANES; l++) {
            const int32_t at = off[(size_t)k * stride + l];
            lanes[k * LANES + l] = l < nl && at >= 0 ? base[at] : 0.0f;
        }
}

/* The transforms of one block of LANES tiles (nl of them used), each
 * between its operand in memory and the transformed values: gathered from
 * or scattered to feature maps through offsets off[k * stride + l], and
 * stored to or loaded from position-major matrices, a position every
 * `stride` floats. */
static ISA_CLONES void input_block(const float *base, const int32_t *off, int stride, int nl, float *dst,
                                   size_t dst_stride)
{
    float d[POSITIONS * LANES], v[POSITIONS * LANES];
    gather_tiles(base, off, stride, POSITIONS, nl, d);
    transform_2d(input_1d, PATCH, PATCH, d, v);
    store_lanes(v, POSITIONS, dst, dst_stride, nl);
}

static ISA_CLONES void out_grad_block(const float *base, const int32_t *off, int stride, int nl, float *dst,
                                      size_t dst_stride)
{
    float y[TILE * TILE * LANES], m[POSITIONS * LANES];
    gather_tiles(base, off, stride, TILE * TILE, nl, y);
    transform_2d(output_adjoint_1d, TILE, PATCH, y, m);
    store_lanes(m, POSITIONS, dst, dst_stride, nl);
}

static ISA_CLONES void output_block(const float *src, size_t src_stride, int nl, float *base, const int32_t *off,
                                    int stride)
{
    float m[POSITIONS * LANES], y[TILE * TILE * LANES];
    load_lanes(src, src_stride, POSITIONS, nl, m);
    transform_2d(output_1d, PATCH, TILE, m, y);
    for (int k = 0; k < TILE * TILE; k++)
        for (int l = 0; l < nl; l++) {
            const int32_t at = off[(size_t)k * stride + l];
            if (at >= 0)
                base[at] = y[k * LANES + l];
        }
}

/* adds, since neighbouring tiles overlap */
static ISA_CLONES void in_grad_block(const float *src, size_t src_stride, int nl, float *base, const int32_t *off,
                                     int stride)
{
    float r[POSITIONS * LANES], d[POSITIONS * LANES];
    load_lanes(src, src_stride, POSITIONS, nl, r);
    transform_2d(input_adjoint_1d, PATCH, PATCH, r, d);
    for (int k = 0; k < POSITIONS; k++)
        for (int l = 0; l < nl; l++) {
            const int32_t at = off[(size_t)k * stride + l];
            if (at >= 0)
                base[at] += d[k * LANES + l];
        }
}

/* G g G^T of 2x2 kernels g [4][LANES], stored a position every `plane` floats */
static ISA_CLONES void kernel_block(const float *g, float *dst, size_t plane, int nl)
{
    float u[POSITIONS * LANES];
    transform_2d(kernel_1d, 2, PATCH, g, u);
    store_lanes(u, POSITIONS, dst, plane, nl);
}

/* g [4][LANES] = G^T u G of the transformed gradients loaded a position every `stride` floats */
static ISA_CLONES void kernel_grad_block(const float *src, size_t stride, int nl, float *g)
{
    float u[POSITIONS * LANES];
    load_lanes(src, stride, POSITIONS, nl, u);
    transform_2d(kernel_adjoint_1d, PATCH, 2, u, g);
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

/* transform_weights' KC block and panel of rows t */
static void weights_item(const void *args, ptrdiff_t t)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const bool transposed = ps->transposed;
    const int rows = transposed ? sh->C : sh->M, cols = transposed ? sh->M : sh->C, mr = ps->uk->mr;
    const int panels = (rows + mr - 1) / mr;
    const size_t plane = gan_packed_a_floats(ps->uk, rows, cols);
    const int pc = (int)(t / panels) * GAN_GEMM_KC, ic = (int)(t % panels) * mr;
    const int kc = min_int(GAN_GEMM_KC, cols - pc);
    float *block = ps->dst + gan_packed_a_block(ps->uk, rows, pc, ic, kc);
    for (int j0 = 0; j0 < kc * mr; j0 += LANES) {
        const int nl = min_int(LANES, kc * mr - j0);
        float g[4 * LANES] = {0};
        for (int l = 0; l < nl; l++) {
            const int row = ic + (j0 + l) % mr, col = pc + (j0 + l) / mr;
            if (row >= rows)
                continue;
            const int co = transposed ? col : row, c = transposed ? row : col, p = (c >> 1) & 1, q = c & 1;
            const float *k = ps->src + ((size_t)co * sh->in_c + (c >> 2)) * 16;
            for (int ab = 0; ab < 4; ab++)
                g[ab * LANES + l] = k[(2 * (ab >> 1) + p) * 4 + 2 * (ab & 1) + q];
        }
        kernel_block(g, block + j0, plane, nl);
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
    for (int c0 = 0; c0 < sh->C; c0 += LANES) {
        const int nl = min_int(LANES, sh->C - c0);
        float g[4 * LANES];
        kernel_grad_block(ps->src + (size_t)co * sh->C + c0, (size_t)sh->M * sh->C, nl, g);
        for (int l = 0; l < nl; l++) {
            const int c = c0 + l, p = (c >> 1) & 1, q = c & 1;
            float *k = ps->dst + ((size_t)co * sh->in_c + (c >> 2)) * 16;
            for (int ab = 0; ab < 4; ab++)
                k[(2 * (ab >> 1) + p) * 4 + 2 * (ab & 1) + q] += g[ab * LANES + l];
        }
    }
}

/* dw += G^T dU G */
static void add_weight_grad(const shape *sh, const float *dU, float *dw, gan_team *team, int threads)
{
    const pass ps = {sh, NULL, NULL, NULL, dU, dw, 0, 0, 0, false};
    gan_team_for(team, threads, sh->M, weight_grad_item, &ps);
}

/* transform_input's channel and block of tiles i */
static void input_item(const void *args, ptrdiff_t i)
{
    const pass *ps = args;
    const shape *sh = ps->sh;
    const int c = (int)(i / ps->blocks), b = (int)(i % ps->blocks), Tc = ps->cn * sh->T;
    const int t0 = b * LANES, nl = min_int(LANES, Tc - t0);
    input_block(ps->src + ((ptrdiff_t)ps->n0 * sh->in_c + (c >> 2)) * sh->in_plane,
                ps->off + (size_t)(c & 3) * POSITIONS * ps->lo->lanes + t0, ps->lo->lanes, nl,
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
    out_grad_block(ps->src + ((ptrdiff_t)ps->n0 * sh->M + co) * sh->out_plane, ps->off + t0, ps->lo->lanes, nl,
                   ps->dst + (size_t)co * Tc + t0, (size_t)sh->M * Tc);
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
    output_block(ps->src + (size_t)co * Tc + t0, (size_t)sh->M * Tc, nl,
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
    for (int phase = 0; phase < 4; phase++)
        for (int b = 0; b < ps->blocks; b++) {
            const int c = 4 * (int)ci + phase, t0 = b * LANES, nl = min_int(LANES, Tc - t0);
            in_grad_block(ps->src + (size_t)c * Tc + t0, (size_t)sh->C * Tc, nl, base,
                          ps->off + (size_t)phase * POSITIONS * ps->lo->lanes + t0, ps->lo->lanes);
        }
}

/* in_grad = the sum over tiles of B R B^T, from the products R[position][c][t].
 * Tiles overlap by one row and column of S, so each thread owns whole
 * input channels and adds their tiles in a fixed order. */
static void transform_in_grad(const shape *sh, const layout *lo, const int32_t *in_off, const float *R, int n0,
                              int cn, float *in_grad, gan_team *team, int threads)
{
    const pass ps = chunk_pass(sh, lo, in_off, R, in_grad, n0, cn);
    gan_team_for(team, threads, sh->in_c, in_grad_item, &ps);
}

bool gan_winograd_suits(const gan_conv_geom *g)
{
    return g->kernel_h == 4 && g->kernel_w == 4 && g->stride_h == 2 && g->stride_w == 2 && g->pad_h == 1 &&
           g->pad_w == 1 && g->in_c >= 8 && g->out_c >= 8;
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
    int32_t *in_off = (int32_t *)workspace, *out_off = in_off + (size_t)4 * POSITIONS * lo.lanes;
    float *U = workspace + lo.u, *dU = workspace + lo.du, *V = workspace + lo.v, *D = workspace + lo.d,
          *R = workspace + lo.r;
    build_tables(g, &sh, &lo, in_off, out_off);
    if (a->out || a->in_grad)
        transform_weights(&sh, uk, a->w, a->in_grad != NULL, U, plan->team, threads);
    const size_t u_plane = a->out ? gan_packed_a_floats(uk, sh.M, sh.C) : gan_packed_a_floats(uk, sh.C, sh.M);
    for (int n0 = 0; n0 < g->n; n0 += lo.chunk) {
        const int cn = min_int(lo.chunk, g->n - n0), Tc = cn * sh.T;
        if (a->out || a->dw)
            transform_input(&sh, &lo, in_off, a->in, n0, cn, V, plan->team, threads);
        if (a->in_grad || a->dw)
            transform_out_grad(&sh, &lo, out_off, a->out_grad, n0, cn, D, plan->team, threads);
        for (int pos = 0; pos < POSITIONS; pos++) {
            const float *Up = U + pos * u_plane, *Vp = V + (size_t)pos * sh.C * Tc, *Dp = D + (size_t)pos * sh.M * Tc;
            if (a->out)
                gan_cpu_gemm_matrices(plan, sh.M, Tc, sh.C, 1.0f, gan_packed_a(Up), gan_plain(Vp, Tc, false), 0.0f,
                                      gan_plain(R + (size_t)pos * sh.M * Tc, Tc, false));
            if (a->in_grad)
                gan_cpu_gemm_matrices(plan, sh.C, Tc, sh.M, 1.0f, gan_packed_a(Up), gan_plain(Dp, Tc, false), 0.0f,
                                      gan_plain(R + (size_t)pos * sh.C * Tc, Tc, false));
            if (a->dw)
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
