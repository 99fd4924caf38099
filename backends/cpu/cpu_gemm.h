/* cpu_gemm.h - cache-blocked, packed single-precision GEMM with SIMD
 * micro-kernels chosen at run time. */
#ifndef GAN_CPU_GEMM_H
#define GAN_CPU_GEMM_H

#include "cpu_team.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C[mr x nr] = alpha * A_panel * B_panel + beta * C, where A_panel is kc x mr
 * (column of mr values per k) and B_panel is kc x nr (row of nr per k).
 * beta == 0 never reads C. */
typedef void (*gan_ukernel_fn)(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                               float alpha, float beta);

/* Packs `lanes` rows of a row-major matrix (row l at src + l * ld) as one
 * interleaved panel: dst[k * width + l] = src[l * ld + k] for k < kc and
 * l < lanes, 0 for lanes <= l < width. Packing A from a row-major A and B
 * from a transposed one both take this transpose. */
typedef void (*gan_transpose_pack_fn)(float *dst, int width, const float *src, ptrdiff_t ld, int lanes, int kc);

/* The micro-kernel on an A read in place: c[mr][nr] = A * B (or c += A * B
 * when accumulate), A's row i, column r being x[i][row_off[r * row_stride]],
 * B's row r at w + r * ldw, k summed in blocks of kc and the blocks' sums
 * added in order, as gan_cpu_gemm does with its KC blocks (beta 0 or 1), so
 * the results are the same to the bit. */
typedef void (*gan_ukernel_in_place_fn)(int k, int kc, const float *const *x, const int32_t *row_off,
                                        ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c,
                                        bool accumulate);

/* The micro-kernel on an A read in place and a B read in place or packed:
 * C(i, j) = alpha * sum over r < kc of A(i, r) B(r, j) + beta * C(i, j)
 * (beta 0: C not read) for i < rows (at most mr) and j < cols (at most
 * nr), where A(i, r) is a[i * a_row + r * a_col], B(r, j) is b[r * ldb + j]
 * (a packed panel: ldb nr) and C(i, j) is c[i * ldc + j], or c[j * ldc + i]
 * when c_trans; reading no row of A past `rows`, but all nr columns of B
 * (a last panel short of them comes packed). Each element is summed and
 * rounded as the packed kernel's, so the results are the same to the bit. */
typedef void (*gan_ukernel_strided_fn)(int kc, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b,
                                       ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool c_trans, int rows, int cols,
                                       float alpha, float beta);

/* A strided kernel's tile short of MR rows or NR columns, alpha applied
 * (row i at tile + i * tile_ld), stored as rows < `rows` and columns <
 * `cols` of C (element (i, j) at c[i * c_row + j * c_col]), beta * C added
 * and rounded once, as the kernels' full tiles are; touching nothing of C
 * past them */
static inline void gan_store_tile(float *c, ptrdiff_t c_row, ptrdiff_t c_col, const float *tile, int tile_ld,
                                  int rows, int cols, float beta)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float *d = c + (ptrdiff_t)i * c_row + (ptrdiff_t)j * c_col;
            const float t = tile[(ptrdiff_t)i * tile_ld + j];
            *d = beta == 0.0f ? t : fmaf(beta, *d, t);
        }
}

typedef struct gan_ukernel {
    const char *name;
    int mr, nr;
    gan_ukernel_fn run;
    gan_transpose_pack_fn transpose_pack; /* for the same instruction set */
    gan_ukernel_in_place_fn run_in_place; /* NULL where there is none */
    gan_ukernel_strided_fn run_strided;   /* NULL where there is none */
} gan_ukernel;

/* The micro-kernels this CPU can run, widest first; returns how many. */
int gan_cpu_ukernels(const gan_ukernel **list, int max);

/* The vector kernel that runs fastest on this CPU, found once a process by
 * timing each on a product of the models' usual shape (about 5 ms):
 * AVX-512 where its units are full width, as on Zen 5 or Sapphire Rapids,
 * but whichever wins where they are not (Zen 4 runs 512-bit FMAs as two
 * halves). The portable kernel where there is no other. The x86 kernels
 * give the same bits (FMA in the same order), so the choice changes the
 * speed only. Thread-safe: threads that ask at once all get the first
 * answer recorded. */
const gan_ukernel *gan_cpu_fastest_ukernel(void);

/* Cache blocking: KC x NC of B and MC x KC of A are packed per block. */
enum { GAN_GEMM_KC = 256, GAN_GEMM_MC = 192, GAN_GEMM_NC = 4096 };

typedef struct gan_gemm_plan {
    const gan_ukernel *kernel;
    int num_threads;
    gan_team *team;          /* the threads, which the backend's other ops use too */
    float *pack;             /* per thread: GAN_GEMM_PACK_FLOATS floats, 64-byte aligned */
    float *shared_a;         /* GAN_GEMM_SHARED_A_FLOATS floats, 64-byte aligned; NULL for one thread */
} gan_gemm_plan;

/* A thread's packing space: an MC x KC block of A, then a KC x NC one of B. */
#define GAN_GEMM_PACK_FLOATS ((size_t)(GAN_GEMM_MC + GAN_GEMM_NC) * GAN_GEMM_KC)
/* Threads that split the columns of C all read the whole of A: an A up to
 * this size is packed once, by all of them together, into the plan's
 * shared space; a larger one by each thread, block by block. (Threads that
 * split the rows each pack all of B, for themselves, unless the kernel
 * reads it in place: see gemm_threads.) */
#define GAN_GEMM_SHARED_A_FLOATS ((size_t)1 << 20)
/* All the memory a plan's buffers hold, in bytes */
#define GAN_GEMM_PLAN_BYTES(threads)                                                                           \
    (sizeof(float) * (GAN_GEMM_PACK_FLOATS * (size_t)(threads) + ((threads) > 1 ? GAN_GEMM_SHARED_A_FLOATS : 0)))

/* Makes a plan for `threads` threads with the given kernel; false when out
 * of memory. gan_gemm_plan_free releases its buffers and its team. */
bool gan_gemm_plan_init(gan_gemm_plan *plan, const gan_ukernel *kernel, int threads);
void gan_gemm_plan_free(gan_gemm_plan *plan);

/* A GEMM operand: a plain row-major matrix (or its transpose as stored), or
 * a batch of NCHW samples read as the matrix [channels][samples * spatial]
 * (row r, column s * spatial + p is data[(s * channels + r) * spatial + p]),
 * so convolutions multiply feature maps in place, without reordering them;
 * or, as B only, the same NCHW samples with their columns interleaved in
 * groups of `group` samples (see gan_nchw_grouped); or, as B only, the
 * im2col columns of a batch of feature maps, gathered while packing so that
 * they are never written out: row r, column s * spatial + p is
 * data[s * sample + index[r * spatial + p]], or 0 where the index is
 * negative (padding). */
typedef struct gan_matrix {
    float *data;          /* written only when the matrix is C */
    ptrdiff_t ld;         /* plain: row stride as stored */
    bool trans;           /* plain, im2col: the matrix is the transpose of the one described (as C,
                             plain only, of a product whose kernel reads A in place: see plain_product) */
    int spatial;          /* 0: plain; else positions a sample (NCHW, grouped NCHW, im2col) */
    int channels;         /* NCHW: channels a sample (the rows) */
    int group;            /* grouped NCHW: samples a group; 0 otherwise */
    int samples;          /* grouped NCHW: samples in all (the last group may be short) */
    const int32_t *index; /* im2col: the gather table, [rows][spatial]; NULL otherwise */
    ptrdiff_t sample;     /* im2col: floats a sample of data */
    bool packed;          /* A only: data holds A already packed (see gan_packed_a_floats) */
} gan_matrix;

/* An operand packed whole for the micro-kernel: KC-deep blocks one after
 * another, each block's panels of `unit` rows of A (mr) or columns of B
 * (nr) in order, each panel kc lines of `unit` values (past `extent`
 * zero). Products that reuse an operand can take it packed. */
static inline size_t gan_packed_floats(int extent, int unit, int k)
{
    return (size_t)((extent + unit - 1) / unit * unit) * (size_t)k;
}

/* Where the panel starting at row (or column) `at` of the KC block at
 * depth pc starts (kc: that block's depth) */
static inline ptrdiff_t gan_packed_block(int extent, int unit, int pc, int at, int kc)
{
    const int padded = (extent + unit - 1) / unit * unit;
    return (ptrdiff_t)pc * padded + (ptrdiff_t)at * kc;
}

/* A packed so (see gan_matrix.packed) */
static inline size_t gan_packed_a_floats(const gan_ukernel *uk, int m, int k)
{
    return gan_packed_floats(m, uk->mr, k);
}

/* Where the panel of rows ic.. of the KC block at column pc starts */
static inline ptrdiff_t gan_packed_a_block(const gan_ukernel *uk, int m, int pc, int ic, int kc)
{
    return gan_packed_block(m, uk->mr, pc, ic, kc);
}

/* Samples of a batch of n that one chunk of a convolution takes so that
 * per_sample floats of workspace each fit in `budget`: at least one, at
 * most n (all n when per_sample is 0) */
static inline int gan_chunk_samples(int n, size_t per_sample, size_t budget)
{
    const size_t fit = per_sample ? budget / per_sample : (size_t)n;
    return fit < 1 ? 1 : fit > (size_t)n ? n : (int)fit;
}

static inline gan_matrix gan_plain(const float *data, ptrdiff_t ld, bool trans)
{
    return (gan_matrix){.data = (float *)data, .ld = ld, .trans = trans};
}

static inline gan_matrix gan_nchw(const float *data, int channels, int spatial)
{
    return (gan_matrix){.data = (float *)data, .spatial = spatial, .channels = channels};
}

/* NCHW samples as B with the columns of each run of `group` samples
 * interleaved: group g's columns (from g * group * spatial on) run over the
 * positions p, and within a position over the group's samples, so column
 * g * group * spatial + p * lanes + l is sample g * group + l at position p
 * (lanes: the group's samples, `group` but for a short last one; `group`
 * at most GAN_GEMM_MAX_GROUP). A product into a plain C then gives, for
 * each row and position, a group's values side by side, which col2im adds
 * as vectors. */
enum { GAN_GEMM_MAX_GROUP = 16 };

static inline gan_matrix gan_nchw_grouped(const float *data, int channels, int spatial, int group, int samples)
{
    return (gan_matrix){.data = (float *)data, .spatial = spatial, .channels = channels, .group = group,
                        .samples = samples};
}

static inline gan_matrix gan_packed_a(const float *data)
{
    return (gan_matrix){.data = (float *)data, .packed = true};
}

static inline gan_matrix gan_im2col(const float *data, ptrdiff_t sample, const int32_t *index, int spatial,
                                    bool trans)
{
    return (gan_matrix){
        .data = (float *)data, .trans = trans, .spatial = spatial, .index = index, .sample = sample};
}

/* C[m,n] = alpha * A[m,k] * B[k,n] + beta * C. Each thread computes whole
 * blocks of C (columns, or rows for a narrow C), so each element of C is
 * summed in the same order whatever the thread count; thread t of T takes
 * the t-th of T contiguous parts, then, where every thread holds all of the
 * operand the threads read whole (A packed once for all, or B packed by
 * each), blocks left at the ends of the others'. Not from within a task of
 * the plan's team: the product packs in the plan's spaces, one a thread of
 * its own tasks, and runs on one thread there. */
void gan_cpu_gemm_matrices(const gan_gemm_plan *plan, int m, int n, int k, float alpha, gan_matrix a,
                           gan_matrix b, float beta, gan_matrix c);

/* The same on plain row-major matrices: op(A) is m x k, op(B) k x n;
 * lda/ldb/ldc are the row strides of A, B, C as stored. */
void gan_cpu_gemm(const gan_gemm_plan *plan, bool trans_a, bool trans_b, int m, int n, int k,
                  float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                  float beta, float *c, ptrdiff_t ldc);

/* gan_cpu_gemm with the threads splitting C's rows (where there are enough
 * tiles of them) rather than its columns, for a C whose next ops split it
 * by rows: a fully connected layer's output and input gradient, whose rows
 * are the batch's samples, as the elementwise ops around the layer split
 * them; and its weight gradient, split by the optimizer in contiguous
 * parts. Each thread then keeps to its part instead of reading and writing
 * the other core's (the fully connected model on a 2-core Zen 5: 7-21%
 * faster a step for the first, 2-3% more for the second). Not for the
 * convolutions' weight gradients: there each thread would pack all of a B
 * far wider than A (dcgan 2% slower). Results are the same to the bit
 * either way. With a kernel that reads operands in place, nothing is
 * packed but the rows of A of a product whose B is transposed as stored,
 * each by the thread that takes them. */
void gan_cpu_gemm_rows(const gan_gemm_plan *plan, bool trans_a, bool trans_b, int m, int n, int k,
                       float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                       float *c, ptrdiff_t ldc);

/* A product made in parts by the threads of a task of the plan's team, each
 * part rows of C: A packed whole once (gan_packed_a_panels panels, packed
 * in any order and by any threads by gan_cpu_pack_a_panels, panels [first,
 * last)), or by thread t into its own packing space, which gan_cpu_pack_a
 * returns (gan_packed_a_floats(uk, m, k) at most GAN_GEMM_MC * GAN_GEMM_KC);
 * B packed whole by thread t into its own packing space, which
 * gan_cpu_pack_b returns (gan_packed_floats(n, NR, k) at most GAN_GEMM_NC *
 * GAN_GEMM_KC); then rows [m0, m1) of C = A * B, or C += A * B when
 * accumulate (m0 a multiple of MR), into c, row m0 first: each element the
 * sum gan_cpu_gemm would make with beta 0 or 1, to the bit. */
ptrdiff_t gan_packed_a_panels(const gan_ukernel *uk, int m, int k);
void gan_cpu_pack_a_panels(const gan_ukernel *uk, float *dst, const gan_matrix *a, int m, int k, ptrdiff_t first,
                           ptrdiff_t last);
float *gan_cpu_pack_a(const gan_gemm_plan *plan, int t, const gan_matrix *a, int m, int k);
float *gan_cpu_pack_b(const gan_gemm_plan *plan, int t, const gan_matrix *b, int n, int k);
void gan_cpu_gemm_packed_rows(const gan_ukernel *uk, int m, int n, int k, const float *packed_a,
                              const float *packed_b, int m0, int m1, float *c, ptrdiff_t ldc, bool accumulate);

/* The measured FMA peak of `threads` threads, in GFLOP/s, with the widest
 * vector FMA this CPU runs (0 when it has none): the best of three
 * measurements. Takes about 0.15 s. */
double gan_cpu_fma_peak_gflops(int threads, const char **isa);

/* Micro-kernels, each in its own file compiled for its instruction set. */
void gan_ukernel_generic_4x16(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                              float alpha, float beta);
void gan_transpose_pack_generic(float *dst, int width, const float *src, ptrdiff_t ld, int lanes, int kc);
/* FMA peak probes: run `iterations` rounds of independent FMAs (512 flops a
 * round with AVX-512, 192 with AVX2) and return a value to keep them live. */
#if defined(GAN_HAVE_AVX2_KERNEL)
float gan_fma_probe_avx2(long iterations);
void gan_ukernel_avx2_6x16(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                           float alpha, float beta);
/* 8 x 8 blocks transposed in registers; also used with the AVX-512 kernel */
void gan_transpose_pack_avx2(float *dst, int width, const float *src, ptrdiff_t ld, int lanes, int kc);
void gan_ukernel_avx2_6x16_strided(int kc, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b,
                                   ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool c_trans, int rows, int cols,
                                   float alpha, float beta);
void gan_ukernel_avx2_6x16_gather(int k, int kc, const float *const *x, const int32_t *row_off,
                                  ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c,
                                  bool accumulate);
#endif
#if defined(GAN_HAVE_AVX512_KERNEL)
float gan_fma_probe_avx512(long iterations);
void gan_ukernel_avx512_8x32(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc,
                             float alpha, float beta);
void gan_ukernel_avx512_8x32_strided(int kc, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b,
                                     ptrdiff_t ldb, float *c, ptrdiff_t ldc, bool c_trans, int rows, int cols,
                                     float alpha, float beta);
void gan_ukernel_avx512_8x32_gather(int k, int kc, const float *const *x, const int32_t *row_off,
                                    ptrdiff_t row_stride, const float *w, ptrdiff_t ldw, float *c,
                                    bool accumulate);
#endif

#endif
