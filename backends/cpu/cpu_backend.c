/* cpu_backend.c - the CPU backend: every op of gan_backend_iface on the
 * threads of cpu_team.h and the packed GEMM of cpu_gemm.c. It is the reference the
 * other backends are tested against. Reductions run in a fixed order per
 * output, so results do not depend on the thread count. */
#include "cpu_gemm.h"
#include "cpu_winograd.h"
#include "gan_backend.h"
#include "gan_vector_clones.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* im2col index tables, kept for the last few geometries */
enum { CONV_TABLES = 16 };
typedef struct conv_table_entry {
    gan_conv_geom geom; /* the batch size n is not part of the key */
    int32_t *index;
    uint64_t last_use;
} conv_table_entry;

typedef struct cpu_backend {
    gan_backend base;
    gan_gemm_plan gemm;
    float *workspace; /* im2col columns and reordered gradients; grows, never shrinks */
    size_t workspace_len;
    conv_table_entry tables[CONV_TABLES];
    uint64_t table_clock;
} cpu_backend;

#define F(t) ((float *)(t)->data)
#define CF(t) ((const float *)(t)->data)

static cpu_backend *cpu(gan_backend *be) { return (cpu_backend *)be; }
static int threads_of(gan_backend *be) { return be->env->num_threads; }
static gan_team *team_of(gan_backend *be) { return cpu(be)->gemm.team; }
/* The threads a task dealt in runs takes: the backend's, at most the team's */
static int team_threads(gan_backend *be)
{
    return threads_of(be) < gan_team_size(team_of(be)) ? threads_of(be) : gan_team_size(team_of(be));
}

/* Elementwise ops on fewer elements than this run on one thread: waking
 * the others would cost more than it saves. */
enum { PARALLEL_MIN_ELEMENTS = 16384 };

/* Elementwise work: a range kernel over plain restrict pointers (so the
 * compiler vectorizes it), given its arguments, and a driver that splits
 * [0, n) into RANGE_PIECES 64-byte aligned pieces a thread, which
 * gan_team_for deals out, and uses one thread for small tensors. */
typedef void (*range_kernel)(const void *args, ptrdiff_t begin, ptrdiff_t end);

typedef struct ranges {
    range_kernel kernel;
    const void *args;
    ptrdiff_t n, piece;
} ranges;

static void range_piece(const void *args, ptrdiff_t i)
{
    const ranges *r = args;
    r->kernel(r->args, i * r->piece, (i + 1) * r->piece < r->n ? (i + 1) * r->piece : r->n);
}

enum { RANGE_PIECES = 8 };

static void run_ranges(gan_backend *be, ptrdiff_t n, range_kernel kernel, const void *args)
{
    const int threads = n < PARALLEL_MIN_ELEMENTS ? 1 : threads_of(be);
    if (threads == 1) {
        kernel(args, 0, n);
        return;
    }
    const ptrdiff_t pieces = (ptrdiff_t)threads * RANGE_PIECES;
    const ranges r = {kernel, args, n, ((n + pieces - 1) / pieces + 15) / 16 * 16};
    gan_team_for(team_of(be), threads, (n + r.piece - 1) / r.piece, range_piece, &r);
}

static void *alloc_aligned(size_t n_floats)
{
    size_t bytes = (n_floats * sizeof(float) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* ---------------------------------------------------------------- memory */

static gan_status cpu_alloc(gan_backend *be, size_t n, void **data)
{
    (void)be;
    *data = alloc_aligned(n);
    return *data ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
}

static void cpu_release(gan_backend *be, void *data)
{
    (void)be;
    free(data);
}

static gan_status cpu_write(gan_backend *be, gan_tensor *t, const float *src, size_t n)
{
    (void)be;
    memcpy(t->data, src, n * sizeof(float));
    return GAN_OK;
}

static gan_status cpu_read(gan_backend *be, const gan_tensor *t, float *dst, size_t n)
{
    (void)be;
    memcpy(dst, t->data, n * sizeof(float));
    return GAN_OK;
}

typedef struct fill_args {
    float *p;
    float value;
} fill_args;

static void fill_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const fill_args *a = args;
    float *p = a->p;
#pragma omp simd
    for (ptrdiff_t i = begin; i < end; i++)
        p[i] = a->value;
}

static gan_status cpu_fill(gan_backend *be, gan_tensor *t, float value)
{
    run_ranges(be, (ptrdiff_t)t->numel, fill_range, &(fill_args){F(t), value});
    return GAN_OK;
}

typedef struct copy_args {
    float *dst;
    const float *src;
} copy_args;

static void copy_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const copy_args *a = args;
    memcpy(a->dst + begin, a->src + begin, (size_t)(end - begin) * sizeof(float));
}

static gan_status cpu_copy(gan_backend *be, gan_tensor *dst, size_t dst_at, const gan_tensor *src, size_t src_at,
                           size_t n)
{
    run_ranges(be, (ptrdiff_t)n, copy_range, &(copy_args){F(dst) + dst_at, CF(src) + src_at});
    return GAN_OK;
}

static float *workspace(cpu_backend *cb, size_t n)
{
    if (n > cb->workspace_len) {
        free(cb->workspace);
        gan_backend_track_memory(cb->base.env, -(ptrdiff_t)(cb->workspace_len * sizeof(float)));
        cb->workspace = alloc_aligned(n);
        cb->workspace_len = cb->workspace ? n : 0;
        gan_backend_track_memory(cb->base.env, (ptrdiff_t)(cb->workspace_len * sizeof(float)));
        if (!cb->workspace)
            gan_sink_fail(cb->base.env->error, GAN_ERR_OUT_OF_MEMORY,
                          "cpu backend: cannot allocate a workspace of %zu floats", n);
    }
    return cb->workspace;
}

/* ------------------------------------------------------------------ gemm */

/* The Linear layer's products, whose C the next ops split by rows (see
 * gan_cpu_gemm_rows): the output and the input gradient, rows of samples,
 * and the weight gradient (A transposed), rows of the parameter. */
static gan_status cpu_gemm_op(gan_backend *be, bool ta, bool tb, int m, int n, int k, float alpha,
                              const gan_tensor *a, const gan_tensor *b, float beta, gan_tensor *c)
{
    gan_cpu_gemm_rows(&cpu(be)->gemm, ta, tb, m, n, k, alpha, CF(a), ta ? m : k, CF(b), tb ? k : n, beta, F(c), n);
    return GAN_OK;
}

/* What the per-sample bias ops (with or without the activation) work on:
 * samples of c x hw floats */
typedef struct sample_args {
    float *y;
    const float *bias;
    int c, hw;
    bool relu;
    float slope;
} sample_args;

/* The threads for n samples of block floats: one for small tensors */
static int sample_threads(gan_backend *be, int n, ptrdiff_t block)
{
    return (size_t)n * (size_t)block < PARALLEL_MIN_ELEMENTS ? 1 : threads_of(be);
}

static void bias_add_sample(const void *args, ptrdiff_t i)
{
    const sample_args *a = args;
    const int c = a->c, hw = a->hw;
    float *restrict sample = a->y + i * c * hw;
    const float *restrict pb = a->bias;
    if (hw == 1) { /* Linear: one bias a column, vectorized across them */
        for (int ch = 0; ch < c; ch++)
            sample[ch] += pb[ch];
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        float *restrict row = sample + (ptrdiff_t)ch * hw;
        const float v = pb[ch];
        for (int p = 0; p < hw; p++)
            row[p] += v;
    }
}

static gan_status cpu_bias_add(gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw)
{
    const sample_args a = {F(y), CF(bias), c, hw, false, 0.0f};
    gan_team_for(team_of(be), sample_threads(be, n, (ptrdiff_t)c * hw), n, bias_add_sample, &a);
    return GAN_OK;
}

/* relu_forward's or leaky_relu_forward's value of v */
static inline float rectify(float v, bool relu, float slope) { return v > 0.0f ? v : relu ? 0.0f : slope * v; }

/* cpu_bias_activation on one sample's block of c x hw */
VECTOR_CLONES static void bias_activation_block(float *restrict sample, const float *restrict pb, int c, int hw,
                                                bool relu, float slope)
{
    if (pb && hw == 1) { /* Linear: one bias a column, vectorized across them */
        for (int ch = 0; ch < c; ch++)
            sample[ch] = rectify(sample[ch] + pb[ch], relu, slope);
        return;
    }
    for (int ch = 0; ch < c && pb; ch++) {
        float *restrict row = sample + (ptrdiff_t)ch * hw;
        const float b = pb[ch];
        for (int p = 0; p < hw; p++)
            row[p] += b;
    }
    for (ptrdiff_t q = 0; q < (ptrdiff_t)c * hw; q++)
        sample[q] = rectify(sample[q], relu, slope);
}

static void bias_activation_sample(const void *args, ptrdiff_t i)
{
    const sample_args *a = args;
    bias_activation_block(a->y + i * a->c * a->hw, a->bias, a->c, a->hw, a->relu, a->slope);
}

/* bias_add then relu_forward or leaky_relu_forward, in one pass */
static gan_status cpu_bias_activation(gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw,
                                      gan_activation act, float slope)
{
    const sample_args a = {F(y), bias ? CF(bias) : NULL, c, hw, act == GAN_ACT_RELU, slope};
    gan_team_for(team_of(be), sample_threads(be, n, (ptrdiff_t)c * hw), n, bias_activation_sample, &a);
    return GAN_OK;
}

/* ----------------------------------------------------------- convolution */

/* A convolution multiplies its [out_c, K = in_c*kh*kw] weights by the
 * im2col columns [K, n*P] (P = out_h*out_w) of its input, gathered while the
 * product packs them (gan_im2col in cpu_gemm.h), so they are never written
 * out. Only the input gradient writes columns, which col2im then adds up;
 * it runs over chunks of samples to keep that workspace bounded. */
enum { CONV_WORKSPACE_FLOATS = 8 << 20 };

/* The im2col index table: entry r*P + p is the offset in one sample's
 * input [in_c, in_h, in_w] that column element (r, p) reads, or -1 for
 * padding. Built once per geometry; the gather and the scatter are then
 * flat loops without per-row bookkeeping, which matters for the small
 * feature maps of GAN models (5x5 outputs, 1x1 inputs). */
static const int32_t *conv_table(cpu_backend *cb, const gan_conv_geom *g)
{
    conv_table_entry *e = NULL;
    for (int i = 0; i < CONV_TABLES && !e; i++)
        if (cb->tables[i].index && memcmp(&cb->tables[i].geom.in_c, &g->in_c,
                                          sizeof *g - offsetof(gan_conv_geom, in_c)) == 0)
            e = &cb->tables[i];
    if (e) {
        e->last_use = ++cb->table_clock;
        return e->index;
    }
    e = &cb->tables[0]; /* replace the least recently used */
    for (int i = 1; i < CONV_TABLES; i++)
        if (cb->tables[i].last_use < e->last_use)
            e = &cb->tables[i];
    const int kk = g->kernel_h * g->kernel_w, K = g->in_c * kk, P = g->out_h * g->out_w;
    int32_t *index = malloc((size_t)K * P * sizeof *index);
    if (!index) {
        gan_sink_fail(cb->base.env->error, GAN_ERR_OUT_OF_MEMORY,
                      "cpu backend: cannot allocate a convolution index table of %d x %d", K, P);
        return NULL;
    }
    for (int r = 0; r < K; r++) {
        const int ci = r / kk, kh = (r % kk) / g->kernel_w, kw = r % g->kernel_w;
        for (int p = 0; p < P; p++) {
            const int h = (p / g->out_w) * g->stride_h - g->pad_h + kh;
            const int w = (p % g->out_w) * g->stride_w - g->pad_w + kw;
            index[(size_t)r * P + p] =
                h >= 0 && h < g->in_h && w >= 0 && w < g->in_w ? (ci * g->in_h + h) * g->in_w + w : -1;
        }
    }
    free(e->index);
    e->index = index;
    e->geom = *g;
    e->last_use = ++cb->table_clock;
    return index;
}

/* col2im, the adjoint of the gather, over the columns of a chunk of cn
 * samples that a product with gan_nchw_grouped B wrote in a plain [K][cn*P]
 * matrix: COL2IM_GROUP samples side by side for each row and position. Each
 * thread owns whole groups; it adds a group's columns as vectors into an
 * [E][group] block of its own (E: the floats of a sample of x), in table
 * order, then transposes the block into the samples. So every element sums
 * its terms in the same order as a sample-by-sample loop would, whatever
 * the thread count, and the vectors run along samples, not along the few
 * positions (9 to 169) of a GAN's feature maps. */
enum { COL2IM_GROUP = 16 };
_Static_assert((int)COL2IM_GROUP <= (int)GAN_GEMM_MAX_GROUP, "the product packs groups of at most GAN_GEMM_MAX_GROUP");

static size_t col2im_block_floats(const gan_conv_geom *g)
{
    return (size_t)g->in_c * g->in_h * g->in_w * COL2IM_GROUP;
}

static void col2im_add(const int32_t *index, const float *col, ptrdiff_t ld, int K, int P, int lanes,
                       float *restrict block)
{
    for (int r = 0; r < K; r++) {
        const int32_t *idx = index + (ptrdiff_t)r * P;
        const float *c = col + (ptrdiff_t)r * ld;
        for (int p = 0; p < P; p++) {
            if (idx[p] < 0)
                continue;
            float *restrict b = block + (ptrdiff_t)idx[p] * COL2IM_GROUP;
            const float *restrict v = c + (ptrdiff_t)p * lanes;
            if (lanes == COL2IM_GROUP) {
                for (int l = 0; l < COL2IM_GROUP; l++)
                    b[l] += v[l];
            } else {
                for (int l = 0; l < lanes; l++)
                    b[l] += v[l];
            }
        }
    }
}

typedef struct col2im_args {
    const gan_ukernel *uk;
    const gan_conv_geom *g;
    const int32_t *index;
    const float *col;
    int n0, cn;
    float *x, *blocks;
} col2im_args;

/* Thread w's groups of col2im */
static void col2im_part(const void *args, const gan_worker *w)
{
    const col2im_args *a = args;
    const gan_conv_geom *g = a->g;
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w;
    const int E = g->in_c * g->in_h * g->in_w, groups = (a->cn + COL2IM_GROUP - 1) / COL2IM_GROUP;
    float *block = a->blocks + (size_t)w->t * col2im_block_floats(g);
    ptrdiff_t first, last;
    gan_worker_share(w, groups, &first, &last);
    for (ptrdiff_t gi = first; gi < last; gi++) {
        const int s0 = (int)gi * COL2IM_GROUP, lanes = a->cn - s0 < COL2IM_GROUP ? a->cn - s0 : COL2IM_GROUP;
        memset(block, 0, (size_t)E * COL2IM_GROUP * sizeof *block);
        col2im_add(a->index, a->col + (ptrdiff_t)s0 * P, (ptrdiff_t)a->cn * P, K, P, lanes, block);
        /* sample s0 + l, element e = block[e][l] */
        a->uk->transpose_pack(a->x + (ptrdiff_t)(a->n0 + s0) * E, E, block, COL2IM_GROUP, E, lanes);
    }
}

static void col2im(gan_backend *be, const gan_conv_geom *g, const int32_t *index, const float *col, int n0, int cn,
                   float *x, float *blocks)
{
    const col2im_args a = {cpu(be)->gemm.kernel, g, index, col, n0, cn, x, blocks};
    gan_team_run(team_of(be), threads_of(be), col2im_part, &a);
}

/* col2im with the product that makes its columns, a task of one or two
 * groups of samples at a time, so that the columns never leave L2: the
 * task's dY packed as B, then the columns made CHUNK_COLUMN_FLOATS at a
 * time (rows r0 .. r1 of W^T, packed once, by the task's positions and
 * samples) and added into the groups' blocks as col2im_add does, the
 * chunks in order of their rows. Two groups where one's columns do not
 * fill the kernel's tiles (16 samples of 9 positions: 144 columns, 4.5
 * tiles of 32). The same products and the same sums in the same order: the
 * same bits as the product of all the columns, then col2im. */
enum { CHUNK_COLUMN_FLOATS = 32768 };

typedef struct fused_args {
    const gan_gemm_plan *plan;
    const gan_conv_geom *g;
    const int32_t *index;
    const float *w, *dy;
    float *x;
    float *packed_w;     /* W^T as packed A */
    float *blocks;       /* per thread: a col2im block a group of a task, then a chunk of columns */
    size_t per_thread;   /* floats of blocks a thread */
    int task_groups;     /* groups of samples a task takes, 1 or 2 */
    int runs;            /* the runs the tasks were dealt into */
    int chunk_rows;      /* rows of columns a chunk holds, a multiple of MR */
} fused_args;

static void fused_col2im_part(const void *args, const gan_worker *w)
{
    const fused_args *a = args;
    const gan_conv_geom *g = a->g;
    const gan_ukernel *uk = a->plan->kernel;
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w, E = g->in_c * g->in_h * g->in_w;
    const int task_samples = a->task_groups * COL2IM_GROUP;
    const gan_matrix wt = gan_plain(a->w, K, true);
    ptrdiff_t first, last;
    gan_worker_share(w, gan_packed_a_panels(uk, K, g->out_c), &first, &last);
    gan_cpu_pack_a_panels(uk, a->packed_w, &wt, K, g->out_c, first, last);
    gan_team_sync(w);
    const size_t block_floats = col2im_block_floats(g);
    float *blocks = a->blocks + (size_t)w->t * a->per_thread;
    float *col = blocks + a->task_groups * block_floats;
    int scan = 0;
    for (int64_t task; (task = gan_team_next(w->team, w->t, a->runs, &scan)) >= 0;) {
        const int s0 = (int)task * task_samples, samples = g->n - s0 < task_samples ? g->n - s0 : task_samples;
        const int columns = samples * P;
        const gan_matrix dy =
            gan_nchw_grouped(a->dy + (ptrdiff_t)s0 * g->out_c * P, g->out_c, P, COL2IM_GROUP, samples);
        const float *packed_dy = gan_cpu_pack_b(a->plan, w->t, &dy, columns, g->out_c);
        memset(blocks, 0, a->task_groups * block_floats * sizeof *blocks);
        for (int r0 = 0; r0 < K; r0 += a->chunk_rows) {
            const int r1 = K - r0 < a->chunk_rows ? K : r0 + a->chunk_rows;
            gan_cpu_gemm_packed_rows(uk, K, columns, g->out_c, a->packed_w, packed_dy, r0, r1, col, columns, false);
            for (int l0 = 0; l0 < samples; l0 += COL2IM_GROUP)
                col2im_add(a->index + (ptrdiff_t)r0 * P, col + (ptrdiff_t)l0 * P, columns, r1 - r0, P,
                           samples - l0 < COL2IM_GROUP ? samples - l0 : COL2IM_GROUP,
                           blocks + l0 / COL2IM_GROUP * block_floats);
        }
        for (int l0 = 0; l0 < samples; l0 += COL2IM_GROUP)
            uk->transpose_pack(a->x + (ptrdiff_t)(s0 + l0) * E, E, blocks + l0 / COL2IM_GROUP * block_floats,
                               COL2IM_GROUP, E, samples - l0 < COL2IM_GROUP ? samples - l0 : COL2IM_GROUP);
    }
}

/* dX = col2im(W^T * dY) so, where each thread has two tasks or more and a
 * task's dY fits a thread's packing space, and not from within a task of
 * the team (whose dealt work it would overwrite); false, doing nothing,
 * otherwise */
static bool fused_col2im(gan_backend *be, const gan_conv_geom *g, const int32_t *index, const float *w,
                         const float *dy, float *x, gan_status *st)
{
    cpu_backend *cb = cpu(be);
    const gan_ukernel *uk = cb->gemm.kernel;
    const int K = g->in_c * g->kernel_h * g->kernel_w, P = g->out_h * g->out_w;
    const int threads = team_threads(be);
    const int task_groups = COL2IM_GROUP * P % uk->nr == 0 ? 1 : 2;
    const int task_samples = task_groups * COL2IM_GROUP, columns = task_samples * P;
    if (gan_team_in_task() || (g->n + task_samples - 1) / task_samples < 2 * threads ||
        gan_packed_floats(columns, uk->nr, g->out_c) > (size_t)GAN_GEMM_NC * GAN_GEMM_KC)
        return false;
    int chunk_rows = CHUNK_COLUMN_FLOATS / columns / uk->mr * uk->mr;
    if (chunk_rows < uk->mr)
        chunk_rows = uk->mr;
    const size_t packed_w = gan_packed_a_floats(uk, K, g->out_c);
    const size_t per_thread = task_groups * col2im_block_floats(g) + (size_t)chunk_rows * columns;
    float *ws = workspace(cb, packed_w + (size_t)threads * per_thread);
    *st = ws ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
    if (!ws)
        return true;
    const fused_args a = {&cb->gemm, g, index, w, dy, x, ws, ws + packed_w, per_thread, task_groups, threads,
                          chunk_rows};
    gan_team_deal(team_of(be), threads, (g->n + task_samples - 1) / task_samples);
    gan_team_run(team_of(be), threads, fused_col2im_part, &a);
    return true;
}

/* The ops on geometries gan_winograd_suits takes run there instead */
static gan_status winograd(gan_backend *be, const gan_conv_geom *g, const gan_winograd_args *a)
{
    cpu_backend *cb = cpu(be);
    float *ws = workspace(cb, gan_winograd_workspace(&cb->gemm, g, a));
    if (!ws)
        return GAN_ERR_OUT_OF_MEMORY;
    gan_winograd_run(&cb->gemm, g, a, ws, threads_of(be));
    return GAN_OK;
}

/* Sizes every convolution op uses */
typedef struct conv_sizes {
    int K, P;
    ptrdiff_t in_sample; /* floats a sample of the (im2col'ed) input */
} conv_sizes;

static conv_sizes conv_sizes_of(const gan_conv_geom *g)
{
    return (conv_sizes){g->in_c * g->kernel_h * g->kernel_w, g->out_h * g->out_w,
                        (ptrdiff_t)g->in_c * g->in_h * g->in_w};
}

/* the NCHW matrix of samples n0.. of a [n, channels, P] tensor */
static gan_matrix samples_of(const gan_tensor *t, int n0, int channels, int P)
{
    return gan_nchw(CF(t) + (ptrdiff_t)n0 * channels * P, channels, P);
}

/* A convolution whose kernel covers its whole unpadded input makes one
 * output position: its im2col columns are the samples themselves, so it is
 * a fully connected layer, y[n, out_c] = x[n, K] * W^T with W [out_c, K],
 * done with plain products (the first layer of a DCGAN's generator, as a
 * transposed convolution of a 1x1 input, and the last of its
 * discriminator). */
static bool conv_is_dense(const gan_conv_geom *g)
{
    return g->out_h == 1 && g->out_w == 1 && g->pad_h == 0 && g->pad_w == 0 && g->kernel_h == g->in_h &&
           g->kernel_w == g->in_w;
}

/* The largest micro-kernel tile: 8 rows by 32 columns */
enum { UKERNEL_MAX_MR = 8, UKERNEL_MAX_NR = 32 };

/* A [rows][K] matrix transposed into panels of NR rows, [rows / NR][padded][NR]
 * (a panel's rows side by side), zero past the rows and from K to padded */
typedef struct panels_args {
    const gan_ukernel *uk;
    const float *src;
    float *panels;
    int rows, K, padded;
} panels_args;

/* Panel q of panels_args */
static void to_panel(const void *args, ptrdiff_t q)
{
    const panels_args *a = args;
    const int nr = a->uk->nr, r0 = (int)q * nr;
    float *panel = a->panels + q * a->padded * nr;
    a->uk->transpose_pack(panel, nr, a->src + (ptrdiff_t)r0 * a->K, a->K, a->rows - r0 < nr ? a->rows - r0 : nr, a->K);
    memset(panel + (ptrdiff_t)a->K * nr, 0, (size_t)(a->padded - a->K) * nr * sizeof *panel);
}

typedef struct direct_args {
    const gan_ukernel *uk;
    const gan_conv_geom *g;
    conv_sizes z;
    const int32_t *index;
    const float *x, *wt;
    float *y;
} direct_args;

/* Tiles of output positions direct_forward gives one item, for one panel of
 * NR channels: the panel's weights (K x NR) stay in L2 across the block's
 * tiles, and the block's inputs across the panels that follow. */
enum { DIRECT_BLOCK_TILES = 16 };

/* direct_forward's item i: the tiles of block i / panels, for channels
 * (i % panels) * NR .. + NR */
static void direct_block(const void *args, ptrdiff_t item)
{
    const direct_args *a = args;
    const gan_conv_geom *g = a->g;
    const int rows_max = a->uk->mr, cols = a->uk->nr, positions = g->n * a->z.P, P = a->z.P;
    const int panels = g->out_c / cols, c0 = (int)(item % panels) * cols;
    const int tiles = (positions + rows_max - 1) / rows_max, t0 = (int)(item / panels) * DIRECT_BLOCK_TILES;
    const int t1 = tiles - t0 < DIRECT_BLOCK_TILES ? tiles : t0 + DIRECT_BLOCK_TILES;
    for (int t = t0; t < t1; t++) {
        const int j0 = t * rows_max, rows = positions - j0 < rows_max ? positions - j0 : rows_max;
        const float *at[UKERNEL_MAX_MR];
        for (int i = 0; i < rows_max; i++) { /* past the end: the first row again, not stored */
            const int j = j0 + (i < rows ? i : 0);
            at[i] = a->x + (ptrdiff_t)(j / P) * a->z.in_sample + a->index[j % P];
        }
        float tile[UKERNEL_MAX_MR * UKERNEL_MAX_NR];
        a->uk->run_in_place(a->z.K, GAN_GEMM_KC, at, a->index, P, a->wt + (ptrdiff_t)c0 * a->z.K, cols, tile,
                            false);
        for (int i = 0; i < rows; i++) {
            const int j = j0 + i;
            float *yj = a->y + ((ptrdiff_t)(j / P) * g->out_c + c0) * P + j % P;
            for (int c = 0; c < cols; c++)
                yj[(ptrdiff_t)c * P] = tile[i * cols + c];
        }
    }
}

/* The fewest taps (K) of a convolution direct_forward takes */
enum { DIRECT_MIN_TAPS = 64 };

/* A convolution's forward pass without the im2col gather, where an AVX2 or
 * AVX-512 micro-kernel serves: it reads each output position's input in
 * place (an unpadded convolution's tap r at position p reads offset
 * index[r * P] + index[p]), against the weights transposed into panels of
 * NR channels ([out_c / NR][K][NR], a panel's rows side by side), and sums
 * in the order the product would, so the results are the same to the bit.
 * The product gathers each column element once as it packs; the in-place
 * kernel gathers nothing but pays for each tile's pointers and scattered
 * stores, which K taps of FMAs must outweigh. Measured at batch 128 on a
 * Zen 5 core pair with AVX-512, 64 channels from 28x28 inputs: K = 16 taps
 * 0.21 ms by the product and 0.37 in place, K = 32 0.39 and 0.48, K = 64
 * 0.74 and 0.68, K = 128 1.50 and 1.11; D's first layer, 16 channels from
 * 9 taps, 0.088 and 0.108 with AVX2. From 64 taps on it serves whatever the
 * channel count: dcgan's G, whose input gradients are such convolutions,
 * 128 channels from 576 taps 2.26 to 1.78 ms, 256 from 2048 4.01 to 3.20
 * (AVX2: 4.2 to 3.75 for the first); 512 from 2048 7.4 to 6.5; dcgan's D,
 * 32 channels from 400 taps, about 1.0 to 0.5. Returns false, doing
 * nothing, where it does not serve. */
static bool direct_forward(gan_backend *be, const gan_conv_geom *g, const int32_t *index, const float *x,
                           const float *w, float *y, gan_status *st)
{
    cpu_backend *cb = cpu(be);
    const gan_ukernel *uk = cb->gemm.kernel;
    const conv_sizes z = conv_sizes_of(g);
    if (!uk->run_in_place || g->pad_h != 0 || g->pad_w != 0 || g->out_c % uk->nr != 0 || z.K < DIRECT_MIN_TAPS)
        return false;
    float *wt = workspace(cb, (size_t)z.K * g->out_c);
    *st = wt ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
    if (!wt)
        return true;
    gan_team_for(team_of(be), threads_of(be), g->out_c / uk->nr, to_panel,
                 &(panels_args){uk, w, wt, g->out_c, z.K, z.K});
    const direct_args a = {uk, g, z, index, x, wt, y};
    const int tiles = (g->n * z.P + uk->mr - 1) / uk->mr;
    const int blocks = (tiles + DIRECT_BLOCK_TILES - 1) / DIRECT_BLOCK_TILES;
    gan_team_for(team_of(be), threads_of(be), (ptrdiff_t)blocks * (g->out_c / uk->nr), direct_block, &a);
    return true;
}

/* A convolution's weight gradient without the im2col gather, where an AVX2
 * or AVX-512 micro-kernel serves: dW^T += columns(x) * dY^T, tile by tile of
 * MR taps and NR channels, the taps' rows of columns(x) read in place (an
 * unpadded convolution's tap r at position j of sample s reads offset
 * index[r * P] + s * in_sample + index[j % P]) against dY's channels put in
 * panels of NR, positions side by side, and into dW's transpose, put in
 * panels of NR channels too. It sums over the positions in the order the
 * product dW += dY * columns(x)^T would, so the results are the same to the
 * bit. The product gathers columns(x) while packing it, which for the
 * long, thin weight gradients of small feature maps (thousands of
 * positions) is much of its work. Measured at batch 128 on a Zen 5 core
 * pair with AVX-512, the product against this: dcgan's D, 32 channels from
 * 400 taps, 0.48 and 0.21 ms, 16 from 9 taps 0.22 and 0.10; its G, 64
 * channels from 16 taps 0.54 and 0.19, 128 from 576 2.37 and 1.73, 256
 * from 2048 3.49 and 3.12 (3.12 with dW's transpose in panels: read and
 * written in place tile by tile, its columns 8 KiB apart, it took 4.8). */
enum { GRAD_BLOCK_TILES = 16 };

typedef struct grad_args {
    const gan_ukernel *uk;
    const gan_conv_geom *g;
    conv_sizes z;
    int taps_padded;         /* K rounded up to MR */
    int per_block;           /* tiles of taps an item takes, at most GRAD_BLOCK_TILES */
    const int32_t *index;
    const float *x, *dy;
    float *dy_panels;        /* [panels][n * P][NR], zero past out_c (panels: out_c / NR rounded up) */
    float *dw_panels;        /* [panels][taps_padded][NR]: dW transposed */
    int32_t *position_at;    /* [n * P]: s * in_sample + index[p] */
    float *dw;
} grad_args;

/* Sample s's positions in the panels of dY and in the offsets table */
static void grad_sample(const void *args, ptrdiff_t s)
{
    const grad_args *a = args;
    const int nr = a->uk->nr, P = a->z.P, out_c = a->g->out_c, positions = a->g->n * P;
    for (int c0 = 0; c0 < out_c; c0 += nr)
        a->uk->transpose_pack(a->dy_panels + ((ptrdiff_t)(c0 / nr) * positions + s * P) * nr, nr,
                              a->dy + (s * out_c + c0) * (ptrdiff_t)P, P, out_c - c0 < nr ? out_c - c0 : nr, P);
    for (int p = 0; p < P; p++)
        a->position_at[s * P + p] = (int32_t)(s * a->z.in_sample) + a->index[p];
}

/* Panel q of dW's transpose back into dW's channels q * NR .. + NR */
static void grad_dw_out(const void *args, ptrdiff_t q)
{
    const grad_args *a = args;
    const int nr = a->uk->nr, K = a->z.K, c0 = (int)q * nr, cols = a->g->out_c - c0 < nr ? a->g->out_c - c0 : nr;
    a->uk->transpose_pack(a->dw + (ptrdiff_t)c0 * K, K, a->dw_panels + q * a->taps_padded * nr, nr, K, cols);
}

/* Positions an item sums at a time, a whole number of KC blocks: its chunk
 * of a panel of dY (2048 x NR floats, 256 KiB with AVX-512) stays in L2
 * across the item's tiles */
enum { GRAD_CHUNK_POSITIONS = 8 * GAN_GEMM_KC };

/* Item i of the weight gradient: channels (i / blocks) * NR .. + NR (the
 * panel), tiles of MR taps (i % blocks) * per_block .. + per_block; each
 * tile adds the panel's chunks in order, as the kernel adds its KC blocks */
static void grad_block(const void *args, ptrdiff_t item)
{
    const grad_args *a = args;
    const int mr = a->uk->mr, nr = a->uk->nr, K = a->z.K, positions = a->g->n * a->z.P;
    const int tiles = a->taps_padded / mr, blocks = (tiles + a->per_block - 1) / a->per_block;
    const int q = (int)(item / blocks), t0 = (int)(item % blocks) * a->per_block;
    const int t1 = tiles - t0 < a->per_block ? tiles : t0 + a->per_block;
    const float *dy_panel = a->dy_panels + (ptrdiff_t)q * positions * nr;
    float *dw_panel = a->dw_panels + (ptrdiff_t)q * a->taps_padded * nr;
    const float *at[GRAD_BLOCK_TILES][UKERNEL_MAX_MR];
    for (int t = t0; t < t1; t++)
        for (int i = 0; i < mr; i++) /* past the last tap: the first again, into the padding, not copied back */
            at[t - t0][i] = a->x + a->index[(ptrdiff_t)(t * mr + i < K ? t * mr + i : 0) * a->z.P];
    for (int j0 = 0; j0 < positions; j0 += GRAD_CHUNK_POSITIONS) {
        const int len = positions - j0 < GRAD_CHUNK_POSITIONS ? positions - j0 : GRAD_CHUNK_POSITIONS;
        for (int t = t0; t < t1; t++)
            a->uk->run_in_place(len, GAN_GEMM_KC, at[t - t0], a->position_at + j0, 1, dy_panel + (ptrdiff_t)j0 * nr,
                                nr, dw_panel + (ptrdiff_t)t * mr * nr, true);
    }
}

/* The in-place kernel a weight gradient of out_c channels takes: the
 * plan's, or a narrower one this CPU runs whose panels of channels hold
 * half as many floats or fewer (the x86 kernels give the same bits; a
 * narrower kernel runs at about half the rate, so a smaller saving is
 * none). dcgan's first D layer, 16 channels, would fill AVX-512's panels
 * of 32 with as many zeros, which its transposes then write and the
 * kernel multiplies: 0.21-0.34 ms with them, 0.17-0.18 with the AVX2
 * kernel's panels of 16, at batch 128 on the Zen 5 pair. NULL where there
 * is none. */
static const gan_ukernel *weight_grad_kernel(const gan_ukernel *plan_kernel, int out_c)
{
    if (!plan_kernel->run_in_place)
        return NULL;
    const gan_ukernel *list[4], *best = plan_kernel;
    const int n = gan_cpu_ukernels(list, 4);
    for (int i = 0; i < n; i++) {
        const int padded = (out_c + list[i]->nr - 1) / list[i]->nr * list[i]->nr;
        if (list[i]->run_in_place && 2 * padded <= (out_c + best->nr - 1) / best->nr * best->nr)
            best = list[i];
    }
    return best;
}

/* dW += dY * columns(x)^T of an unpadded convolution (dy [n, out_c, P]),
 * as above; false, doing nothing, where it does not serve */
static bool direct_weight_grad(gan_backend *be, const gan_conv_geom *g, const int32_t *index, const float *x,
                               const float *dy, float *dw, gan_status *st)
{
    cpu_backend *cb = cpu(be);
    const gan_ukernel *uk = weight_grad_kernel(cb->gemm.kernel, g->out_c);
    const conv_sizes z = conv_sizes_of(g);
    if (!uk || g->pad_h != 0 || g->pad_w != 0 || (double)g->n * z.in_sample > INT32_MAX)
        return false;
    const int panels = (g->out_c + uk->nr - 1) / uk->nr, tiles = (z.K + uk->mr - 1) / uk->mr;
    const size_t positions = (size_t)g->n * z.P, dy_floats = (size_t)panels * uk->nr * positions;
    const size_t dw_floats = (size_t)panels * tiles * uk->mr * uk->nr;
    float *ws = workspace(cb, dy_floats + dw_floats + positions);
    *st = ws ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
    if (!ws)
        return true;
    /* GRAD_BLOCK_TILES tiles an item, fewer where that leaves under four items a thread */
    const int items_wanted = 4 * threads_of(be);
    int per_block = GRAD_BLOCK_TILES;
    if ((ptrdiff_t)panels * tiles < (ptrdiff_t)items_wanted * per_block)
        per_block = panels * tiles / items_wanted > 1 ? panels * tiles / items_wanted : 1;
    const grad_args a = {.uk = uk, .g = g, .z = z, .taps_padded = tiles * uk->mr, .per_block = per_block,
                         .index = index, .x = x, .dy = dy, .dy_panels = ws, .dw_panels = ws + dy_floats,
                         .position_at = (int32_t *)(ws + dy_floats + dw_floats), .dw = dw};
    gan_team *team = team_of(be);
    gan_team_for(team, threads_of(be), g->n, grad_sample, &a);
    gan_team_for(team, threads_of(be), panels, to_panel,
                 &(panels_args){uk, dw, a.dw_panels, g->out_c, z.K, a.taps_padded});
    gan_team_for(team, threads_of(be), (ptrdiff_t)panels * ((tiles + per_block - 1) / per_block), grad_block, &a);
    gan_team_for(team, threads_of(be), panels, grad_dw_out, &a);
    return true;
}

/* dW += rows * columns(src)^T, rows [n, out_c, P]: a convolution's weight
 * gradient (rows its output gradient, src its input) or a transposed one's
 * (rows its input, src its output gradient) */
static gan_status conv_weight_grad(gan_backend *be, const gan_conv_geom *g, const int32_t *index,
                                   const gan_tensor *src, const gan_tensor *rows, gan_tensor *dw)
{
    gan_status st = GAN_OK;
    if (!direct_weight_grad(be, g, index, CF(src), CF(rows), F(dw), &st)) {
        const conv_sizes z = conv_sizes_of(g);
        gan_cpu_gemm_matrices(&cpu(be)->gemm, g->out_c, z.K, g->n * z.P, 1.0f, samples_of(rows, 0, g->out_c, z.P),
                              gan_im2col(CF(src), z.in_sample, index, z.P, true), 1.0f,
                              gan_plain(F(dw), z.K, false));
    }
    return st;
}

/* dX = col2im(W^T * dY) without the columns, with the AVX-512 kernel: a
 * tile is MR samples by NR channels of dX at one position, which its taps
 * reach from the positions of dY that they do (up to kernel_h x kernel_w
 * of them, by stride and padding). Each tap is a product over dY's
 * channels, read in place from dY put channels last, against the tap's
 * weights put in a panel of NR channels; a position's taps are added in
 * their order to a tile that starts at zero, as col2im adds the columns
 * (so that a tap's -0 sums to +0 there too), so the results are the same
 * to the bit as the product, then col2im. A thread keeps a block's tiles
 * (MR samples, NR channels, every position), makes them tap by tap (the
 * tap's weights stay in L1 across its positions) and puts them in dX's
 * layout at the end. This is a transposed convolution's forward pass,
 * which with col2im made columns and scattered them: dcgan's generator's
 * 3x3-to-6x6 (256 to 128 channels) and 6x6-to-13x13 (128 to 64) layers.
 * Measured at batch 128 on the Zen 5 pair, against fused_col2im:
 * 3.25-3.30 ms and 3.32-3.43 for the first of them (position by position,
 * each tap's weights from L2, it took 3.37-3.58), 1.95-2.00 and 2.12-2.24
 * for the second; dcgan's step 4,745 to 4,923 images/s (medians of 7, a
 * slow spell of the VM; 5,489 to 5,615 in a faster one). */
typedef struct transposed_args {
    const gan_ukernel *uk;
    const gan_conv_geom *g;
    const float *w, *dy;
    float *w_panels;           /* [panels][taps][out_c][NR]: the weights of NR channels of dX */
    float *w_rows;             /* [panels][taps][NR]: a channel of dY's weights, on their way to w_panels */
    float *dy_last;            /* [n][P][out_c]: dY, channels last */
    int32_t *first;            /* [taps + 1]: where each tap starts in at and from */
    int32_t *at, *from;        /* a tap's positions of dX, and the position of dY it reads at each */
    float *tiles;              /* per thread: [in_h * in_w][MR][NR], a block's tiles */
    int runs;                  /* the runs the blocks were dealt into */
    float *dx;
} transposed_args;

/* Panel q of the weights, NR channels of dX: w [out_c][in_c][taps] to [taps][out_c][NR], zero past in_c */
static void transposed_panel(const void *args, ptrdiff_t q)
{
    const transposed_args *a = args;
    const gan_conv_geom *g = a->g;
    const int nr = a->uk->nr, taps = g->kernel_h * g->kernel_w, c0 = (int)q * nr;
    float *panel = a->w_panels + q * taps * g->out_c * nr, *rows = a->w_rows + q * taps * nr;
    for (int c = 0; c < g->out_c; c++) {
        a->uk->transpose_pack(rows, nr, a->w + ((ptrdiff_t)c * g->in_c + c0) * taps, taps,
                              g->in_c - c0 < nr ? g->in_c - c0 : nr, taps);
        for (int t = 0; t < taps; t++)
            memcpy(panel + ((ptrdiff_t)t * g->out_c + c) * nr, rows + (ptrdiff_t)t * nr, (size_t)nr * sizeof *rows);
    }
}

/* Sample s of dY, channels last */
static void transposed_sample(const void *args, ptrdiff_t s)
{
    const transposed_args *a = args;
    const int C = a->g->out_c, P = a->g->out_h * a->g->out_w;
    a->uk->transpose_pack(a->dy_last + s * C * P, C, a->dy + s * C * P, P, C, P);
}

/* Block i: samples (i / panels) * MR .. + MR, channels (i % panels) * NR
 * .. + NR of dX, at every position: the tiles made tap by tap, then put in
 * dX's layout sample by sample */
static void transposed_block(const transposed_args *a, int64_t block, float *tiles)
{
    const gan_conv_geom *g = a->g;
    const int mr = a->uk->mr, nr = a->uk->nr, panels = (g->in_c + nr - 1) / nr;
    const int taps = g->kernel_h * g->kernel_w, C = g->out_c, Q = g->in_h * g->in_w;
    const int s0 = (int)(block / panels) * mr, c0 = (int)(block % panels) * nr;
    const int rows = g->n - s0 < mr ? g->n - s0 : mr, cols = g->in_c - c0 < nr ? g->in_c - c0 : nr;
    const float *panel = a->w_panels + (block % panels) * taps * C * nr;
    const ptrdiff_t dy_sample = (ptrdiff_t)C * g->out_h * g->out_w, dx_sample = (ptrdiff_t)g->in_c * Q;
    const float *dy = a->dy_last + s0 * dy_sample;
    memset(tiles, 0, (size_t)Q * mr * nr * sizeof *tiles);
    for (int t = 0; t < taps; t++) /* a tap's weights stay in L1 across its positions */
        for (int e = a->first[t]; e < a->first[t + 1]; e++)
            a->uk->run_strided(C, dy + (ptrdiff_t)a->from[e] * C, dy_sample, 1, panel + (ptrdiff_t)t * C * nr, nr,
                               tiles + (ptrdiff_t)a->at[e] * mr * nr, nr, false, rows, nr, 1.0f, 1.0f);
    for (int i = 0; i < rows; i++) /* dx[s0 + i][c0 + c][q] = tiles[q][i][c] */
        a->uk->transpose_pack(a->dx + (s0 + i) * dx_sample + (ptrdiff_t)c0 * Q, Q, tiles + i * nr, mr * nr, Q, cols);
}

static void transposed_part(const void *args, const gan_worker *w)
{
    const transposed_args *a = args;
    float *tiles = a->tiles + (size_t)w->t * a->g->in_h * a->g->in_w * a->uk->mr * a->uk->nr;
    int scan = 0;
    for (int64_t block; (block = gan_team_next(w->team, w->t, a->runs, &scan)) >= 0;)
        transposed_block(a, block, tiles);
}

/* Each tap's positions of dX, in order, and the positions of dY it reads there */
static void transposed_taps(const gan_conv_geom *g, int32_t *first, int32_t *at, int32_t *from)
{
    int e = 0;
    for (int kh = 0; kh < g->kernel_h; kh++)
        for (int kw = 0; kw < g->kernel_w; kw++) {
            first[kh * g->kernel_w + kw] = e;
            for (int h = 0; h < g->in_h; h++) {
                const int th = h + g->pad_h - kh, oh = th / g->stride_h;
                if (th < 0 || th % g->stride_h != 0 || oh >= g->out_h)
                    continue;
                for (int x = 0; x < g->in_w; x++) {
                    const int tw = x + g->pad_w - kw, ow = tw / g->stride_w;
                    if (tw < 0 || tw % g->stride_w != 0 || ow >= g->out_w)
                        continue;
                    at[e] = h * g->in_w + x;
                    from[e++] = oh * g->out_w + ow;
                }
            }
        }
    first[g->kernel_h * g->kernel_w] = e;
}

/* The fewest channels of dY direct_transposed takes: over dcgan's
 * discriminator's 32 its products are too short, and its second layer's
 * backward pass took 0.80 ms against col2im's 0.65. The most floats a
 * thread's tiles of a block take (a block's positions, MR x NR floats
 * each), so that they stay in L2: 169 positions take 43,264. */
enum { DIRECT_TRANSPOSED_MIN_DEPTH = 128, DIRECT_TRANSPOSED_MAX_TILE_FLOATS = 1 << 16 };

/* dX = col2im(W^T * dY) so, with the widest tiles (AVX-512's 8 x 32: with
 * AVX2's 6 x 16 the product and col2im ran faster, 5.92-5.97 ms against
 * 6.17-6.32 for dcgan's 3x3-to-6x6 layer, 3.56-3.63 against 3.63-3.69 for
 * its 6x6-to-13x13), where a tap's product is one KC block deep and
 * DIRECT_TRANSPOSED_MIN_DEPTH or more (out_c), dY put channels last fits
 * the workspace, a block's tiles L2 (DIRECT_TRANSPOSED_MAX_TILE_FLOATS),
 * and half or more of the panels' columns are dX's channels, not zeros;
 * and not from within a task of the team (whose dealt work it would
 * overwrite). False, doing nothing, otherwise. */
static bool direct_transposed(gan_backend *be, const gan_conv_geom *g, const float *w, const float *dy, float *dx,
                              gan_status *st)
{
    cpu_backend *cb = cpu(be);
    const gan_ukernel *uk = cb->gemm.kernel;
    const size_t dy_floats = (size_t)g->n * g->out_c * g->out_h * g->out_w;
    const int taps = g->kernel_h * g->kernel_w, Q = g->in_h * g->in_w, panels = (g->in_c + uk->nr - 1) / uk->nr;
    if (uk->nr < UKERNEL_MAX_NR || !uk->run_strided || g->out_c > GAN_GEMM_KC ||
        g->out_c < DIRECT_TRANSPOSED_MIN_DEPTH || dy_floats > CONV_WORKSPACE_FLOATS ||
        (size_t)Q * uk->mr * uk->nr > DIRECT_TRANSPOSED_MAX_TILE_FLOATS || panels * uk->nr > 2 * g->in_c ||
        gan_team_in_task())
        return false;
    const int threads = team_threads(be);
    const size_t panel_floats = (size_t)panels * taps * g->out_c * uk->nr;
    const size_t tile_floats = (size_t)threads * Q * uk->mr * uk->nr, row_floats = (size_t)panels * taps * uk->nr;
    float *ws = workspace(cb, panel_floats + row_floats + dy_floats + tile_floats + (size_t)taps + 1 +
                                  2 * (size_t)Q * taps);
    *st = ws ? GAN_OK : GAN_ERR_OUT_OF_MEMORY;
    if (!ws)
        return true;
    float *dy_last = ws + panel_floats + row_floats, *tiles = dy_last + dy_floats;
    int32_t *first = (int32_t *)(tiles + tile_floats), *at = first + taps + 1;
    int32_t *from = at + (size_t)Q * taps;
    transposed_taps(g, first, at, from);
    const transposed_args a = {uk, g, w, dy, ws, ws + panel_floats, dy_last, first, at, from, tiles, threads, dx};
    gan_team *team = team_of(be);
    gan_team_for(team, threads, panels, transposed_panel, &a);
    gan_team_for(team, threads, g->n, transposed_sample, &a);
    gan_team_deal(team, threads, (int64_t)(g->n + uk->mr - 1) / uk->mr * panels);
    gan_team_run(team, threads, transposed_part, &a);
    return true;
}

static gan_status cpu_conv2d_backward(gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                      const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx, gan_tensor *dw)
{
    if (conv_is_dense(g)) {
        const gan_gemm_plan *plan = &cpu(be)->gemm;
        const int K = g->in_c * g->in_h * g->in_w;
        if (dw) /* dW += dY^T * X */
            gan_cpu_gemm(plan, true, false, g->out_c, K, g->n, 1.0f, CF(dy), g->out_c, CF(x), K, 1.0f, F(dw), K);
        if (dx) /* dX = dY * W */
            gan_cpu_gemm(plan, false, false, g->n, K, g->out_c, 1.0f, CF(dy), g->out_c, CF(w), K, 0.0f, F(dx), K);
        return GAN_OK;
    }
    /* Only the stride-2 scheme here: this op is also a transposed
     * convolution's forward pass, which in a generator makes the samples,
     * and a discriminator's first gradients amplify their rounding (batch
     * norm over a batch of nearly alike fakes at init). Measured on dcgan's
     * 3x3 to 6x6 layer at batch 32, G(z) against float64: 3.7e-7 relative
     * direct, 2.5e-6 by F(3x3, 4x4), which moved D's first weight gradient
     * by 1.5e-3 relative (7e-7 direct): 15 times the PyTorch step
     * comparison's tolerance, up to 40 times for D's other tensors by the
     * third step. Its backward pass (conv_transpose2d_backward) takes both
     * schemes. */
    if (gan_winograd_suits(g) && g->stride_h == 2)
        return winograd(be, g,
                        &(gan_winograd_args){.w = CF(w), .in = x ? CF(x) : NULL, .out_grad = CF(dy),
                                             .in_grad = dx ? F(dx) : NULL, .dw = dw ? F(dw) : NULL});
    cpu_backend *cb = cpu(be);
    const conv_sizes z = conv_sizes_of(g);
    const int32_t *index = conv_table(cb, g);
    if (!index)
        return GAN_ERR_OUT_OF_MEMORY;
    gan_status st = dw ? conv_weight_grad(be, g, index, x, dy, dw) : GAN_OK;
    if (!dx || st != GAN_OK)
        return st;
    if (direct_transposed(be, g, CF(w), CF(dy), F(dx), &st) || fused_col2im(be, g, index, CF(w), CF(dy), F(dx), &st))
        return st;
    /* dX = col2im(W^T * dY) otherwise, in chunks of whole groups of samples */
    int chunk = gan_chunk_samples(g->n, (size_t)z.K * z.P, CONV_WORKSPACE_FLOATS);
    if (chunk < g->n && chunk > COL2IM_GROUP)
        chunk -= chunk % COL2IM_GROUP;
    const size_t col_floats = (size_t)z.K * z.P * (size_t)chunk;
    float *col = workspace(cb, col_floats + (size_t)threads_of(be) * col2im_block_floats(g));
    if (!col)
        return GAN_ERR_OUT_OF_MEMORY;
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        const int cn = g->n - n0 < chunk ? g->n - n0 : chunk;
        const ptrdiff_t ld = (ptrdiff_t)cn * z.P;
        gan_cpu_gemm_matrices(&cb->gemm, z.K, (int)ld, g->out_c, 1.0f, gan_plain(CF(w), z.K, true),
                              gan_nchw_grouped(CF(dy) + (ptrdiff_t)n0 * g->out_c * z.P, g->out_c, z.P,
                                               COL2IM_GROUP, cn),
                              0.0f, gan_plain(col, ld, false));
        col2im(be, g, index, col, n0, cn, F(dx), col + col_floats);
    }
    return GAN_OK;
}

static gan_status cpu_conv_transpose2d_backward(gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                                const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx,
                                                gan_tensor *dw)
{
    if (conv_is_dense(g)) { /* see cpu_conv2d_backward; x is [n, out_c], dy [n, K] */
        const gan_gemm_plan *plan = &cpu(be)->gemm;
        const int K = g->in_c * g->in_h * g->in_w;
        if (dx) /* dX = dY * W^T */
            gan_cpu_gemm(plan, false, true, g->n, g->out_c, K, 1.0f, CF(dy), K, CF(w), K, 0.0f, F(dx), g->out_c);
        if (dw) /* dW += X^T * dY */
            gan_cpu_gemm(plan, true, false, g->out_c, K, g->n, 1.0f, CF(x), g->out_c, CF(dy), K, 1.0f, F(dw), K);
        return GAN_OK;
    }
    if (gan_winograd_suits(g))
        return winograd(be, g,
                        &(gan_winograd_args){.w = CF(w), .in = CF(dy), .out_grad = x ? CF(x) : NULL,
                                             .out = dx ? F(dx) : NULL, .dw = dw ? F(dw) : NULL});
    cpu_backend *cb = cpu(be);
    const conv_sizes z = conv_sizes_of(g);
    const int32_t *index = conv_table(cb, g);
    if (!index)
        return GAN_ERR_OUT_OF_MEMORY;
    gan_status st = GAN_OK;
    if (dx && !direct_forward(be, g, index, CF(dy), CF(w), F(dx), &st)) /* dX = W * columns(dy) */
        gan_cpu_gemm_matrices(&cb->gemm, g->out_c, g->n * z.P, z.K, 1.0f, gan_plain(CF(w), z.K, false),
                              gan_im2col(CF(dy), z.in_sample, index, z.P, false), 0.0f,
                              samples_of(dx, 0, g->out_c, z.P));
    if (dw && st == GAN_OK) /* dW += X * columns(dy)^T */
        st = conv_weight_grad(be, g, index, dy, x, dw);
    return st;
}

/* ----------------------------------------------------------- activations */

/* The activations' range kernels' arguments */
typedef struct range_args {
    const float *x, *y, *dy;
    float *out;
    float slope;
} range_args;

VECTOR_CLONES static void relu_forward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict x = a->x;
    float *restrict y = a->out;
    for (ptrdiff_t i = begin; i < end; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

VECTOR_CLONES static void leaky_relu_forward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict x = a->x;
    float *restrict y = a->out;
    const float slope = a->slope;
    for (ptrdiff_t i = begin; i < end; i++)
        y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

/* expf and tanhf the compiler can vectorize (libm's calls it cannot):
 * Cephes' algorithms, within a few ulp of libm on the whole float range. */
static inline float vector_expf(float x)
{
    /* clamped by comparisons, which vectorize (fminf and fmaxf, with their
     * NaN rules, do not); a NaN becomes a number here: callers keep it */
    x = x > -87.33654f ? x : -87.33654f;
    x = x < 88.72283f ? x : 88.72283f;
    const float n = floorf(x * 1.44269504089f + 0.5f); /* x = n ln2 + r */
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } two_n = {.i = ((int32_t)n + 127) << 23};
    return e * two_n.f;
}

static inline float vector_tanhf(float x)
{
    const float ax = fabsf(x);
    const float z = x * x; /* small |x|: odd polynomial, no cancellation */
    const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                          1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    const float large = 1.0f - 2.0f / (vector_expf(2.0f * ax) + 1.0f);
    return ax >= 0.625f ? copysignf(large, x) : small; /* NaN takes the polynomial, stays NaN */
}

VECTOR_CLONES static void tanh_forward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict x = a->x;
    float *restrict y = a->out;
    for (ptrdiff_t i = begin; i < end; i++)
        y[i] = vector_tanhf(x[i]);
}

VECTOR_CLONES static void sigmoid_forward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict x = a->x;
    float *restrict y = a->out;
    for (ptrdiff_t i = begin; i < end; i++)
        y[i] = x[i] == x[i] ? 1.0f / (1.0f + vector_expf(-x[i])) : x[i];
}

/* ReLU is LeakyReLU with slope 0: the slope the backward of act gives dy
 * where the input is not positive */
static float backward_slope(gan_activation act, float slope) { return act == GAN_ACT_RELU ? 0.0f : slope; }

VECTOR_CLONES static void leaky_relu_backward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict x = a->x, *restrict dy = a->dy;
    float *restrict dx = a->out;
    const float slope = a->slope;
    for (ptrdiff_t i = begin; i < end; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

VECTOR_CLONES static void tanh_backward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict y = a->y, *restrict dy = a->dy;
    float *restrict dx = a->out;
    for (ptrdiff_t i = begin; i < end; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

VECTOR_CLONES static void sigmoid_backward(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const range_args *a = args;
    const float *restrict y = a->y, *restrict dy = a->dy;
    float *restrict dx = a->out;
    for (ptrdiff_t i = begin; i < end; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

static gan_status cpu_activation_forward(gan_backend *be, gan_activation act, float slope,
                                         const gan_tensor *x, gan_tensor *y)
{
    static const range_kernel kernels[] = {
        [GAN_ACT_RELU] = relu_forward, [GAN_ACT_LEAKY_RELU] = leaky_relu_forward,
        [GAN_ACT_TANH] = tanh_forward, [GAN_ACT_SIGMOID] = sigmoid_forward};
    const range_args a = {CF(x), NULL, NULL, F(y), slope};
    run_ranges(be, (ptrdiff_t)x->numel, kernels[act], &a);
    return GAN_OK;
}

static gan_status cpu_activation_backward(gan_backend *be, gan_activation act, float slope,
                                          const gan_tensor *x, const gan_tensor *y,
                                          const gan_tensor *dy, gan_tensor *dx)
{
    static const range_kernel kernels[] = {
        [GAN_ACT_RELU] = leaky_relu_backward, [GAN_ACT_LEAKY_RELU] = leaky_relu_backward,
        [GAN_ACT_TANH] = tanh_backward, [GAN_ACT_SIGMOID] = sigmoid_backward};
    const range_args a = {CF(x), CF(y), CF(dy), F(dx), backward_slope(act, slope)};
    run_ranges(be, (ptrdiff_t)x->numel, kernels[act], &a);
    return GAN_OK;
}

/* ------------------------------------------------------------- batchnorm */

/* Batch norm streams each sample's contiguous block of C x HW values: sums
 * go into one double accumulator per position (each summed over the samples
 * in order by one thread, so the result does not depend on the thread
 * count), then the positions of each channel are added in order; the
 * normalization applies per-position coefficients. No pass walks short
 * strided rows, which the small feature maps of GAN models are full of. */

static int bn_threads(gan_backend *be, const gan_batchnorm_args *a)
{
    return sample_threads(be, a->n, (ptrdiff_t)a->c * a->hw);
}

typedef enum sums_kind {
    SUM_X,          /* acc0 = sum x */
    SUM_X_X2,       /* acc0 = sum x, acc1 = sum x^2 */
    SUM_DY_DY_XHAT  /* acc0 = sum dy, acc1 = sum dy * xhat */
} sums_kind;

/* Samples are summed in this many parts (fewer for a smaller batch),
 * whatever the thread count, so the result does not depend on it; a
 * thread takes whole parts, the samples that the convolution before gave
 * it (col2im splits a batch by groups of 16 samples, which for batches of
 * 64 or 128 are whole parts), instead of reading part of every sample
 * from the other core. */
enum { SUM_PARTS = 4 };

/* The parts a batch's sums take: SUM_PARTS, fewer for fewer samples */
static int sum_parts(const gan_batchnorm_args *a) { return a->n < SUM_PARTS ? a->n : SUM_PARTS; }

/* The sums of one part, samples [i0, i1), into s0 and s1 (see accumulate) */
VECTOR_CLONES static void accumulate_part(const gan_batchnorm_args *a, sums_kind kind, const float *x,
                                          const float *dy, const float *y, const float *pos_mean,
                                          const float *pos_invstd, double *restrict s0, double *restrict s1,
                                          float *through, int i0, int i1)
{
    const float slope = backward_slope(a->act, a->slope);
    const ptrdiff_t block = (ptrdiff_t)a->c * a->hw;
    for (ptrdiff_t q = 0; q < block; q++)
        s0[q] = 0.0;
    for (ptrdiff_t q = 0; q < block && s1; q++)
        s1[q] = 0.0;
    for (int i = i0; i < i1; i++) {
        const float *restrict xi = x + (ptrdiff_t)i * block;
        if (kind == SUM_X && y) {
            const float *restrict yi = y + (ptrdiff_t)i * block;
            float *restrict ti = through + (ptrdiff_t)i * block;
#pragma omp simd
            for (ptrdiff_t q = 0; q < block; q++) {
                const float g = yi[q] > 0.0f ? xi[q] : slope * xi[q];
                ti[q] = g;
                s0[q] += g;
            }
        } else if (kind == SUM_X) {
#pragma omp simd
            for (ptrdiff_t q = 0; q < block; q++)
                s0[q] += xi[q];
        } else if (kind == SUM_X_X2) {
#pragma omp simd
            for (ptrdiff_t q = 0; q < block; q++) {
                s0[q] += xi[q];
                s1[q] += (double)xi[q] * xi[q];
            }
        } else if (!y) {
            const float *restrict di = dy + (ptrdiff_t)i * block;
#pragma omp simd
            for (ptrdiff_t q = 0; q < block; q++) {
                s0[q] += di[q];
                s1[q] += (double)(di[q] * ((xi[q] - pos_mean[q]) * pos_invstd[q]));
            }
        } else {
            const float *restrict di = dy + (ptrdiff_t)i * block, *restrict yi = y + (ptrdiff_t)i * block;
#pragma omp simd
            for (ptrdiff_t q = 0; q < block; q++) {
                const float g = yi[q] > 0.0f ? di[q] : slope * di[q];
                s0[q] += g;
                s1[q] += (double)(g * ((xi[q] - pos_mean[q]) * pos_invstd[q]));
            }
        }
    }
}

/* accumulate's arguments */
typedef struct sums_args {
    const gan_batchnorm_args *a;
    sums_kind kind;
    const float *x, *dy, *y, *pos_mean, *pos_invstd;
    double *acc0, *acc1;
    float *through;
} sums_args;

/* Part `part` of the samples' sums */
static void accumulate_one_part(const void *args, ptrdiff_t part)
{
    const sums_args *s = args;
    const gan_batchnorm_args *a = s->a;
    const ptrdiff_t block = (ptrdiff_t)a->c * a->hw;
    const int parts = sum_parts(a);
    accumulate_part(a, s->kind, s->x, s->dy, s->y, s->pos_mean, s->pos_invstd, s->acc0 + part * block,
                    s->kind != SUM_X ? s->acc1 + part * block : NULL, s->through, (int)(a->n * part / parts),
                    (int)(a->n * (part + 1) / parts));
}

/* The parts' sums at positions 16 * q .. 16 * q + 15, added into the first's */
static void add_parts(const void *args, ptrdiff_t q)
{
    const sums_args *s = args;
    const gan_batchnorm_args *a = s->a;
    const ptrdiff_t block = (ptrdiff_t)a->c * a->hw, q0 = 16 * q, q1 = q0 + 16 < block ? q0 + 16 : block;
    const int parts = sum_parts(a);
    double *acc0 = s->acc0, *acc1 = s->acc1;
    for (int part = 1; part < parts; part++) {
        for (ptrdiff_t p = q0; p < q1; p++)
            acc0[p] += acc0[part * block + p];
        for (ptrdiff_t p = q0; p < q1 && s->kind != SUM_X; p++)
            acc1[p] += acc1[part * block + p];
    }
}

/* Per position q of a sample's block, sums over the samples: each part's in
 * order into acc0/acc1 + part * block, then the parts' in order into the
 * first. SUM_DY_DY_XHAT with y: dy is first taken through the folded
 * activation; SUM_X with y: x is, and written to through. */
static void accumulate(gan_backend *be, const gan_batchnorm_args *a, sums_kind kind, const float *x,
                       const float *dy, const float *y, const float *pos_mean, const float *pos_invstd,
                       double *acc0, double *acc1, float *through)
{
    const sums_args s = {a, kind, x, dy, y, pos_mean, pos_invstd, acc0, acc1, through};
    const int threads = bn_threads(be, a);
    gan_team_for(team_of(be), threads, sum_parts(a), accumulate_one_part, &s);
    gan_team_for(team_of(be), threads, ((ptrdiff_t)a->c * a->hw + 15) / 16, add_parts, &s);
}

/* per channel: the sums of its positions, in order */
static void channel_totals(const gan_batchnorm_args *a, const double *acc, double *total)
{
    for (int ch = 0; ch < a->c; ch++) {
        double t = 0.0;
        for (int p = 0; p < a->hw; p++)
            t += acc[(ptrdiff_t)ch * a->hw + p];
        total[ch] = t;
    }
}

/* apply on sample i */
VECTOR_CLONES static void apply_sample(const gan_batchnorm_args *a, int i, const float *x, const float *dy,
                                       const float *y, const float *k, const float *b, const float *d, float *out)
{
    const ptrdiff_t block = (ptrdiff_t)a->c * a->hw;
    const float slope = backward_slope(a->act, a->slope);
    const bool relu = a->act == GAN_ACT_RELU;
    const float *restrict xi = x + (ptrdiff_t)i * block;
    float *restrict oi = out + (ptrdiff_t)i * block;
    const float *restrict di = dy ? dy + (ptrdiff_t)i * block : NULL;
    const float *restrict yi = y ? y + (ptrdiff_t)i * block : NULL;
    if (yi) {
        for (ptrdiff_t q = 0; q < block; q++)
            oi[q] = (yi[q] > 0.0f ? di[q] : slope * di[q]) * d[q] + xi[q] * k[q] + b[q];
    } else if (di) {
        for (ptrdiff_t q = 0; q < block; q++)
            oi[q] = di[q] * d[q] + xi[q] * k[q] + b[q];
    } else if (a->activate) { /* as relu_forward and leaky_relu_forward */
        for (ptrdiff_t q = 0; q < block; q++)
            oi[q] = rectify(xi[q] * k[q] + b[q], relu, slope);
    } else {
        for (ptrdiff_t q = 0; q < block; q++)
            oi[q] = xi[q] * k[q] + b[q];
    }
}

/* Forward (no dy): out[i][q] = x[i][q] * k[q] + b[q], then the folded
 * activation when a->activate. Backward: out[i][q] = g * d[q] + x[i][q] *
 * k[q] + b[q], g being dy[i][q], or with y dy taken through the folded
 * activation. */
typedef struct apply_args {
    const gan_batchnorm_args *a;
    const float *x, *dy, *y, *k, *b, *d;
    float *out;
} apply_args;

static void apply_item(const void *args, ptrdiff_t i)
{
    const apply_args *p = args;
    apply_sample(p->a, (int)i, p->x, p->dy, p->y, p->k, p->b, p->d, p->out);
}

static void apply(gan_backend *be, const gan_batchnorm_args *a, const float *x, const float *dy, const float *y,
                  const float *k, const float *b, const float *d, float *out)
{
    const apply_args p = {a, x, dy, y, k, b, d, out};
    gan_team_for(team_of(be), bn_threads(be, a), a->n, apply_item, &p);
}

/* per-position copies of per-channel values */
static void spread(const gan_batchnorm_args *a, const float *per_channel, float *per_position)
{
    for (int ch = 0; ch < a->c; ch++)
        for (int p = 0; p < a->hw; p++)
            per_position[(ptrdiff_t)ch * a->hw + p] = per_channel[ch];
}

/* Workspace: the doubles first (two accumulators a position and part, two
 * totals a channel), so they stay aligned, then five float coefficients a
 * position. */
static gan_status bn_workspace(gan_backend *be, const gan_batchnorm_args *a, double **acc0, double **acc1,
                               float **coef, double **totals)
{
    const size_t block = (size_t)a->c * a->hw;
    float *ws = workspace(cpu(be), 4 * SUM_PARTS * block + 4 * (size_t)a->c + 5 * block);
    if (!ws)
        return GAN_ERR_OUT_OF_MEMORY;
    *acc0 = (double *)ws;
    *acc1 = *acc0 + SUM_PARTS * block;
    *totals = *acc1 + SUM_PARTS * block;
    *coef = (float *)(*totals + 2 * (size_t)a->c);
    return GAN_OK;
}

static gan_status cpu_batchnorm_forward_train(gan_backend *be, const gan_batchnorm_args *a,
                                              const gan_tensor *x, const gan_tensor *gamma,
                                              const gan_tensor *beta, gan_tensor *y,
                                              gan_tensor *save_mean, gan_tensor *save_invstd,
                                              gan_tensor *running_mean, gan_tensor *running_var)
{
    double *acc0, *acc1, *totals;
    float *coef;
    if (bn_workspace(be, a, &acc0, &acc1, &coef, &totals) != GAN_OK)
        return GAN_ERR_OUT_OF_MEMORY;
    const size_t block = (size_t)a->c * a->hw;
    float *scale = coef, *shift = coef + block, *sm = F(save_mean), *si = F(save_invstd);
    float *rm = F(running_mean), *rv = F(running_var);
    accumulate(be, a, SUM_X_X2, CF(x), NULL, NULL, NULL, NULL, acc0, acc1, NULL);
    channel_totals(a, acc0, totals);
    channel_totals(a, acc1, totals + a->c);
    const double count = (double)a->n * a->hw;
    for (int ch = 0; ch < a->c; ch++) {
        /* sum of squared deviations, from the moments in double */
        const double mean = totals[ch] / count, ss = fmax(totals[a->c + ch] - mean * totals[ch], 0.0);
        const float invstd = (float)(1.0 / sqrt(ss / count + a->eps));
        sm[ch] = (float)mean;
        si[ch] = invstd;
        rm[ch] = (1.0f - a->momentum) * rm[ch] + a->momentum * (float)mean;
        rv[ch] = (1.0f - a->momentum) * rv[ch] + a->momentum * (float)(ss / (count - 1.0));
        const float k = CF(gamma)[ch] * invstd;
        for (int p = 0; p < a->hw; p++) {
            scale[(ptrdiff_t)ch * a->hw + p] = k;
            shift[(ptrdiff_t)ch * a->hw + p] = CF(beta)[ch] - (float)mean * k;
        }
    }
    apply(be, a, CF(x), NULL, NULL, scale, shift, NULL, F(y));
    return GAN_OK;
}

static gan_status cpu_batchnorm_forward_eval(gan_backend *be, const gan_batchnorm_args *a,
                                             const gan_tensor *x, const gan_tensor *gamma,
                                             const gan_tensor *beta, const gan_tensor *running_mean,
                                             const gan_tensor *running_var, gan_tensor *y)
{
    double *acc0, *acc1, *totals;
    float *coef;
    if (bn_workspace(be, a, &acc0, &acc1, &coef, &totals) != GAN_OK)
        return GAN_ERR_OUT_OF_MEMORY;
    const size_t block = (size_t)a->c * a->hw;
    float *scale = coef, *shift = coef + block;
    for (int ch = 0; ch < a->c; ch++) {
        const float k = CF(gamma)[ch] / sqrtf(CF(running_var)[ch] + a->eps);
        for (int p = 0; p < a->hw; p++) {
            scale[(ptrdiff_t)ch * a->hw + p] = k;
            shift[(ptrdiff_t)ch * a->hw + p] = CF(beta)[ch] - CF(running_mean)[ch] * k;
        }
    }
    apply(be, a, CF(x), NULL, NULL, scale, shift, NULL, F(y));
    return GAN_OK;
}

static gan_status cpu_batchnorm_backward(gan_backend *be, const gan_batchnorm_args *a,
                                         bool batch_stats, const gan_tensor *x, const gan_tensor *y,
                                         const gan_tensor *dy, const gan_tensor *gamma,
                                         const gan_tensor *mean, const gan_tensor *invstd,
                                         gan_tensor *dx, gan_tensor *dgamma, gan_tensor *dbeta)
{
    const float *y_or_null = a->activate ? CF(y) : NULL;
    double *acc0, *acc1, *totals;
    float *coef;
    if (bn_workspace(be, a, &acc0, &acc1, &coef, &totals) != GAN_OK)
        return GAN_ERR_OUT_OF_MEMORY;
    const size_t block = (size_t)a->c * a->hw;
    float *pos_mean = coef, *pos_invstd = coef + block;
    spread(a, CF(mean), pos_mean);
    spread(a, CF(invstd), pos_invstd);
    accumulate(be, a, SUM_DY_DY_XHAT, CF(x), CF(dy), y_or_null, pos_mean, pos_invstd, acc0, acc1, NULL);
    channel_totals(a, acc0, totals);           /* sum of dy */
    channel_totals(a, acc1, totals + a->c);    /* sum of dy * xhat */
    for (int ch = 0; ch < a->c; ch++) {
        if (dgamma)
            F(dgamma)[ch] += (float)totals[a->c + ch];
        if (dbeta)
            F(dbeta)[ch] += (float)totals[ch];
    }
    if (!dx)
        return GAN_OK;
    /* dx = k (dy - mean_dy - xhat mean_dy_xhat) = dy k + x u + v */
    float *k = coef + 2 * block, *u = coef + 3 * block, *v = coef + 4 * block;
    const double count = (double)a->n * a->hw;
    for (int ch = 0; ch < a->c; ch++) {
        const float is = CF(invstd)[ch], kc = CF(gamma)[ch] * is;
        const float mean_dy = batch_stats ? (float)(totals[ch] / count) : 0.0f;
        const float mean_dy_xhat = batch_stats ? (float)(totals[a->c + ch] / count) : 0.0f;
        const float uc = -kc * is * mean_dy_xhat, vc = -kc * mean_dy - uc * CF(mean)[ch];
        for (int p = 0; p < a->hw; p++) {
            const ptrdiff_t q = (ptrdiff_t)ch * a->hw + p;
            k[q] = kc, u[q] = uc, v[q] = vc;
        }
    }
    apply(be, a, CF(x), CF(dy), y_or_null, u, v, k, F(dx));
    return GAN_OK;
}

/* dbias[c] += the sum over samples and positions of dy (batch norm's
 * streaming sums), taken first through a's folded activation into dz when
 * y is given */
static gan_status add_bias_grad(gan_backend *be, const gan_batchnorm_args *a, const float *dy, const float *y,
                                float *dz, gan_tensor *dbias)
{
    double *acc, *unused, *totals;
    float *coef;
    if (bn_workspace(be, a, &acc, &unused, &coef, &totals) != GAN_OK)
        return GAN_ERR_OUT_OF_MEMORY;
    accumulate(be, a, SUM_X, dy, NULL, y, NULL, NULL, acc, NULL, dz);
    channel_totals(a, acc, totals);
    for (int ch = 0; ch < a->c; ch++)
        F(dbias)[ch] += (float)totals[ch];
    return GAN_OK;
}

static gan_status cpu_bias_grad(gan_backend *be, const gan_tensor *dy, gan_tensor *dbias, int n, int c, int hw)
{
    const gan_batchnorm_args a = {.n = n, .c = c, .hw = hw};
    return add_bias_grad(be, &a, CF(dy), NULL, NULL, dbias);
}

static gan_status cpu_activation_bias_grad(gan_backend *be, gan_activation act, float slope, const gan_tensor *y,
                                           const gan_tensor *dy, gan_tensor *dz, gan_tensor *dbias, int n, int c,
                                           int hw)
{
    if (!dbias) { /* as activation_backward, deciding on y */
        const range_args a = {CF(y), NULL, CF(dy), F(dz), backward_slope(act, slope)};
        run_ranges(be, (ptrdiff_t)y->numel, leaky_relu_backward, &a);
        return GAN_OK;
    }
    const gan_batchnorm_args a = {.n = n, .c = c, .hw = hw, .activate = true, .act = act, .slope = slope};
    return add_bias_grad(be, &a, CF(dy), CF(y), F(dz), dbias);
}

static gan_status cpu_inverse_std(gan_backend *be, const gan_tensor *var, float eps,
                                  gan_tensor *invstd)
{
    (void)be;
    for (size_t c = 0; c < var->numel; c++)
        F(invstd)[c] = 1.0f / sqrtf(CF(var)[c] + eps);
    return GAN_OK;
}

/* ---------------------------------------------------------------- losses */

static gan_status cpu_bce_logits(gan_backend *be, const gan_tensor *z, const gan_tensor *t,
                                 gan_tensor *grad, float *loss, float *mean_prob)
{
    (void)be;
    const float *pz = CF(z), *pt = CF(t);
    float *pg = grad ? F(grad) : NULL;
    const size_t n = z->numel;
    double sum = 0.0, prob = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double zi = pz[i], ti = pt[i];
        sum += (zi > 0 ? zi : 0) - zi * ti + log1p(exp(-fabs(zi)));
        const double s = zi >= 0 ? 1.0 / (1.0 + exp(-zi)) : exp(zi) / (1.0 + exp(zi));
        prob += s;
        if (pg)
            pg[i] = (float)((s - ti) / (double)n);
    }
    *loss = (float)(sum / (double)n);
    if (mean_prob)
        *mean_prob = (float)(prob / (double)n);
    return GAN_OK;
}

static gan_status cpu_softmax_xent(gan_backend *be, const gan_tensor *z, const gan_tensor *t, int rows, int classes,
                                   gan_tensor *grad, float *loss, int *correct)
{
    (void)be;
    const float *pz = CF(z), *pt = CF(t);
    float *pg = grad ? F(grad) : NULL;
    double sum = 0.0;
    int right = 0;
    for (int r = 0; r < rows; r++) {
        const float *zr = pz + (size_t)r * classes, *tr = pt + (size_t)r * classes;
        int zmax = 0, tmax = 0;
        for (int c = 1; c < classes; c++) {
            zmax = zr[c] > zr[zmax] ? c : zmax;
            tmax = tr[c] > tr[tmax] ? c : tmax;
        }
        right += zmax == tmax;
        double exps = 0.0;
        for (int c = 0; c < classes; c++)
            exps += exp((double)zr[c] - zr[zmax]);
        const double log_sum = log(exps) + zr[zmax];
        for (int c = 0; c < classes; c++) {
            sum -= tr[c] * ((double)zr[c] - log_sum);
            if (pg)
                pg[(size_t)r * classes + c] = (float)((exp((double)zr[c] - log_sum) - tr[c]) / rows);
        }
    }
    *loss = (float)(sum / rows);
    if (correct)
        *correct = right;
    return GAN_OK;
}

static gan_status cpu_bce_probs(gan_backend *be, const gan_tensor *p, const gan_tensor *t,
                                gan_tensor *grad, float *loss)
{
    (void)be;
    const float *pp = CF(p), *pt = CF(t);
    float *pg = grad ? F(grad) : NULL;
    const size_t n = p->numel;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double pi = pp[i], ti = pt[i];
        const double log_p = fmax(log(pi), -100.0), log_1mp = fmax(log(1.0 - pi), -100.0);
        sum -= ti * log_p + (1.0 - ti) * log_1mp;
        if (pg)
            pg[i] = (float)((pi - ti) / fmax((1.0 - pi) * pi, 1e-12) / (double)n);
    }
    *loss = (float)(sum / (double)n);
    return GAN_OK;
}

/* Row i of the first half against row i + n/2, element by element: a
 * float sum per row, added up in double. */
static gan_status cpu_pair_abs_diff_sum(gan_backend *be, const gan_tensor *x, int n, double *sum)
{
    (void)be;
    const size_t per = x->numel / (size_t)n, half = (size_t)(n / 2) * per;
    const float *a = CF(x), *b = a + half;
    double total = 0.0;
    for (size_t row = 0; row < half; row += per) {
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (size_t i = row; i < row + per; i++)
            s += fabsf(a[i] - b[i]);
        total += s;
    }
    *sum = total;
    return GAN_OK;
}

typedef struct pair_args {
    const float *a, *b;
    float *ga, *gb;
    float coef;
} pair_args;

static void pair_sign_diff_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const pair_args *p = args;
    const float *restrict a = p->a, *restrict b = p->b;
    float *restrict ga = p->ga, *restrict gb = p->gb;
    const float coef = p->coef;
#pragma omp simd
    for (ptrdiff_t i = begin; i < end; i++) {
        const float d = a[i] - b[i], step = d > 0.0f ? coef : d < 0.0f ? -coef : 0.0f;
        ga[i] += step;
        gb[i] -= step;
    }
}

static gan_status cpu_pair_sign_diff_add(gan_backend *be, const gan_tensor *x, int n, float coef, gan_tensor *grad)
{
    const ptrdiff_t half = (ptrdiff_t)(n / 2) * (ptrdiff_t)(x->numel / (size_t)n);
    const pair_args p = {CF(x), CF(x) + half, F(grad), F(grad) + half, coef};
    run_ranges(be, half, pair_sign_diff_range, &p);
    return GAN_OK;
}

/* ------------------------------------------------------------ optimizers */

typedef struct adam_update {
    float *p, *m, *v;
    const float *g;
    float step_size, inv_sqrt_bc2, b1c, b2, b2c, eps, wd;
} adam_update;

VECTOR_CLONES static void adam_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const adam_update *u = args;
    float *restrict p = u->p, *restrict m = u->m, *restrict v = u->v;
    const float *restrict g = u->g;
    const float step_size = u->step_size, inv_sqrt_bc2 = u->inv_sqrt_bc2, b1c = u->b1c, b2 = u->b2;
    const float b2c = u->b2c, eps = u->eps, wd = u->wd;
    for (ptrdiff_t i = begin; i < end; i++) {
        const float gi = g[i] + wd * p[i];
        m[i] += b1c * (gi - m[i]); /* PyTorch's lerp form */
        v[i] = b2 * v[i] + b2c * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

static gan_status cpu_adam_step(gan_backend *be, const gan_adam_step_args *a, gan_tensor *param,
                                const gan_tensor *grad, gan_tensor *exp_avg, gan_tensor *exp_avg_sq)
{
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    const double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const adam_update u = {F(param), F(exp_avg), F(exp_avg_sq), CF(grad), (float)(a->lr / bc1),
                           (float)(1.0 / sqrt(bc2)), 1.0f - a->beta1, a->beta2, 1.0f - a->beta2, a->eps,
                           a->weight_decay};
    run_ranges(be, (ptrdiff_t)param->numel, adam_range, &u);
    return GAN_OK;
}

typedef struct sgd_update {
    const gan_sgd_step_args *a;
    float *p, *buf; /* buf NULL without momentum */
    const float *g;
} sgd_update;

static void sgd_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const sgd_update *u = args;
    const gan_sgd_step_args *a = u->a;
    float *p = u->p, *buf = u->buf;
    const float *g = u->g;
#pragma omp simd
    for (ptrdiff_t i = begin; i < end; i++) {
        float d = g[i] + a->weight_decay * p[i];
        if (buf) {
            buf[i] = a->first ? d : a->momentum * buf[i] + (1.0f - a->dampening) * d;
            d = a->nesterov ? d + a->momentum * buf[i] : buf[i];
        }
        p[i] -= a->lr * d;
    }
}

static gan_status cpu_sgd_step(gan_backend *be, const gan_sgd_step_args *a, gan_tensor *param,
                               const gan_tensor *grad, gan_tensor *momentum_buf)
{
    const sgd_update u = {a, F(param), momentum_buf ? F(momentum_buf) : NULL, CF(grad)};
    run_ranges(be, (ptrdiff_t)param->numel, sgd_range, &u);
    return GAN_OK;
}

typedef struct ema_args {
    float *avg;
    const float *v;
    float decay;
} ema_args;

static void ema_range(const void *args, ptrdiff_t begin, ptrdiff_t end)
{
    const ema_args *e = args;
    float *restrict avg = e->avg;
    const float *restrict v = e->v;
    const float decay = e->decay, keep = 1.0f - decay;
#pragma omp simd
    for (ptrdiff_t i = begin; i < end; i++)
        avg[i] = decay * avg[i] + keep * v[i];
}

static gan_status cpu_ema_update(gan_backend *be, gan_tensor *average, const gan_tensor *value, float decay)
{
    run_ranges(be, (ptrdiff_t)average->numel, ema_range, &(ema_args){F(average), CF(value), decay});
    return GAN_OK;
}

/* ---------------------------------------------------------------- create */

static void cpu_destroy(gan_backend *be)
{
    cpu_backend *cb = cpu(be);
    gan_gemm_plan_free(&cb->gemm);
    free(cb->workspace);
    for (int i = 0; i < CONV_TABLES; i++)
        free(cb->tables[i].index);
    free(cb);
}

static gan_status cpu_gather(gan_backend *be, gan_status (*body)(void *arg), void *arg)
{
    return gan_team_gather(team_of(be), body, arg);
}

static const gan_backend_iface cpu_iface = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .gather = cpu_gather,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .ops.write = cpu_write,
    .ops.read = cpu_read,
    .ops.fill = cpu_fill,
    .ops.copy = cpu_copy,
    .ops.gemm = cpu_gemm_op,
    .ops.bias_add = cpu_bias_add,
    .ops.bias_grad = cpu_bias_grad,
    .ops.bias_activation = cpu_bias_activation,
    .ops.activation_bias_grad = cpu_activation_bias_grad,
    .ops.conv2d_backward = cpu_conv2d_backward,
    .ops.conv_transpose2d_backward = cpu_conv_transpose2d_backward,
    .ops.activation_forward = cpu_activation_forward,
    .ops.activation_backward = cpu_activation_backward,
    .ops.batchnorm_forward_train = cpu_batchnorm_forward_train,
    .ops.batchnorm_forward_eval = cpu_batchnorm_forward_eval,
    .ops.batchnorm_backward = cpu_batchnorm_backward,
    .ops.inverse_std = cpu_inverse_std,
    .ops.bce_logits = cpu_bce_logits,
    .ops.softmax_xent = cpu_softmax_xent,
    .ops.bce_probs = cpu_bce_probs,
    .ops.pair_abs_diff_sum = cpu_pair_abs_diff_sum,
    .ops.pair_sign_diff_add = cpu_pair_sign_diff_add,
    .ops.adam_step = cpu_adam_step,
    .ops.ema_update = cpu_ema_update,
    .ops.sgd_step = cpu_sgd_step,
};

gan_status gan_cpu_backend_create(gan_backend_env *env, int device, gan_backend **out)
{
    (void)device;
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb)
        return gan_sink_fail(env->error, GAN_ERR_OUT_OF_MEMORY, "cpu backend: out of memory");
    cb->base.iface = &cpu_iface;
    cb->base.env = env;
    if (!gan_gemm_plan_init(&cb->gemm, gan_cpu_fastest_ukernel(), env->num_threads)) {
        cpu_destroy(&cb->base);
        return gan_sink_fail(env->error, GAN_ERR_OUT_OF_MEMORY, "cpu backend: cannot allocate GEMM buffers");
    }
    gan_backend_track_memory(env, (ptrdiff_t)GAN_GEMM_PLAN_BYTES(cb->gemm.num_threads));
    *out = &cb->base;
    return GAN_OK;
}
