/* cpu_gemm.c - BLIS-style GEMM: loops over NC, KC and MC blocks, packing B
 * and A into micro-panels, and a register-blocked micro-kernel on each
 * MR x NR tile. Products of plain matrices skip most of the packing: the
 * kernel broadcasts A's values, so it reads A in place whatever its
 * layout, and B in place where B's rows hold a tile's columns side by
 * side; a B transposed as stored is packed by the thread whose columns
 * those are. Each thread runs the loops on whole slices of C: its own,
 * then, where any thread can take any block, those left at the ends of the
 * others'. */
#define _POSIX_C_SOURCE 200809L
#include "cpu_gemm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const gan_ukernel generic_kernel = {"generic-4x16", 4, 16, gan_ukernel_generic_4x16,
                                           gan_transpose_pack_generic, NULL, NULL};
#if defined(GAN_HAVE_AVX2_KERNEL)
static const gan_ukernel avx2_kernel = {"avx2-6x16", 6, 16, gan_ukernel_avx2_6x16, gan_transpose_pack_avx2,
                                        gan_ukernel_avx2_6x16_gather,
                                        gan_ukernel_avx2_6x16_strided};
#endif
#if defined(GAN_HAVE_AVX512_KERNEL)
static const gan_ukernel avx512_kernel = {"avx512-8x32", 8, 32, gan_ukernel_avx512_8x32,
                                          gan_transpose_pack_avx2, gan_ukernel_avx512_8x32_gather,
                                          gan_ukernel_avx512_8x32_strided};
#endif

int gan_cpu_ukernels(const gan_ukernel **list, int max)
{
    int n = 0;
#if defined(GAN_HAVE_AVX512_KERNEL)
    if (n < max && __builtin_cpu_supports("avx512f"))
        list[n++] = &avx512_kernel;
#endif
#if defined(GAN_HAVE_AVX2_KERNEL)
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        list[n++] = &avx2_kernel;
#endif
    if (n < max)
        list[n++] = &generic_kernel;
    return n;
}

/* The address of element (r, c) of a matrix (plain or NCHW, not grouped:
 * C is never grouped). */
static inline float *element(const gan_matrix *x, int r, int c)
{
    if (x->spatial)
        return x->data + ((ptrdiff_t)(c / x->spatial) * x->channels + r) * x->spatial + c % x->spatial;
    return x->trans ? x->data + (ptrdiff_t)c * x->ld + r : x->data + (ptrdiff_t)r * x->ld + c;
}

/* A[i0 .. i0+rows][k0 .. k0+kc] as one MR panel (kc columns of mr), zero past rows */
static void pack_a_panel(const gan_ukernel *uk, float *dst, const gan_matrix *a, int i0, int rows, int k0, int kc)
{
    const int mr = uk->mr;
    if (a->trans && !a->spatial) { /* a stored row gives mr consecutive values */
        for (int k = 0; k < kc; k++) {
            const float *src = a->data + (ptrdiff_t)(k0 + k) * a->ld + i0;
            float *d = dst + (ptrdiff_t)k * mr;
            int i = 0;
            for (; i < rows; i++)
                d[i] = src[i];
            for (; i < mr; i++)
                d[i] = 0.0f;
        }
        return;
    }
    if (!a->spatial) {
        uk->transpose_pack(dst, mr, a->data + (ptrdiff_t)i0 * a->ld + k0, a->ld, rows, kc);
        return;
    }
    /* NCHW: within a sample the rows' columns are runs spatial apart, which
     * the packing transpose takes a run at a time */
    const int S = a->spatial;
    for (int k = 0, s = k0 / S, p = k0 % S; k < kc; s++, p = 0) {
        const int run = S - p < kc - k ? S - p : kc - k;
        uk->transpose_pack(dst + (ptrdiff_t)k * mr, mr, a->data + ((ptrdiff_t)s * a->channels + i0) * S + p, S,
                           rows, run);
        k += run;
    }
}

/* B[k0 .. k0+kc][j0 .. j0+nc] of a transposed im2col B, panel by panel:
 * lane j of panel row k is column k of im2col row j0 + j. Row by row, so
 * the stores run along the panel; lane j's index run stays in cache from
 * one row to the next. */
static void pack_b_im2col_trans(float *dst, int nr, const gan_matrix *b, int j0, int nc, int k0, int kc)
{
    const int S = b->spatial;
    for (int jp = 0; jp * nr < nc; jp++) {
        const int cols = nc - jp * nr < nr ? nc - jp * nr : nr;
        const int32_t *lanes = b->index + (ptrdiff_t)(j0 + jp * nr) * S; /* lane j's run at lanes + j * S */
        float *d = dst + (ptrdiff_t)jp * nr * kc;
        int s = k0 / S, p = k0 % S;
        const float *xs = b->data + (ptrdiff_t)s * b->sample;
        for (int k = 0; k < kc; k++, d += nr) {
            const int32_t *at = lanes + p;
            int j = 0;
            for (; j < cols; j++) {
                const int32_t off = at[(ptrdiff_t)j * S];
                d[j] = off >= 0 ? xs[off] : 0.0f;
            }
            for (; j < nr; j++)
                d[j] = 0.0f;
            if (++p == S)
                p = 0, xs = b->data + (ptrdiff_t)++s * b->sample;
        }
    }
}

/* B[k0 .. k0+kc][j0 .. j0+nc] of a grouped NCHW B. A group's columns of
 * row k are its samples' rows [lanes][positions] transposed, so they are
 * transposed with the kernel's packing transpose, up to GROUPED_POSITIONS
 * positions at a time, and copied into the panels a position's lanes at a
 * time: the reads run along the samples' rows instead of striding between
 * samples for every column. */
enum { GROUPED_POSITIONS = 64 };

static void pack_b_nchw_grouped(const gan_ukernel *uk, float *dst, const gan_matrix *b, int j0, int nc, int k0,
                                int kc)
{
    const int nr = uk->nr, S = b->spatial, j1 = j0 + nc, per_group = b->group * S;
    const ptrdiff_t sample = (ptrdiff_t)b->channels * S;
    float tmp[GROUPED_POSITIONS * GAN_GEMM_MAX_GROUP];
    for (int g = j0 / per_group; g * per_group < j1; g++) {
        const int lanes = b->samples - g * b->group < b->group ? b->samples - g * b->group : b->group;
        for (int k = 0; k < kc; k++) {
            const float *row = b->data + (ptrdiff_t)g * b->group * sample + (ptrdiff_t)(k0 + k) * S;
            for (int p0 = 0; p0 < S; p0 += GROUPED_POSITIONS) {
                const int positions = S - p0 < GROUPED_POSITIONS ? S - p0 : GROUPED_POSITIONS;
                const int first = g * per_group + p0 * lanes; /* the chunk's first column */
                if (first >= j1 || first + positions * lanes <= j0)
                    continue;
                uk->transpose_pack(tmp, GAN_GEMM_MAX_GROUP, row + p0, sample, lanes, positions);
                /* column `first + i` of the chunk is tmp[i / lanes][i % lanes]; the
                 * columns from `col` on go to panel `panel`, lane `at` */
                int i = first < j0 ? j0 - first : 0, col = first + i;
                const int end = first + positions * lanes < j1 ? first + positions * lanes : j1;
                int panel = (col - j0) / nr, at = (col - j0) % nr, q = i / lanes, l = i % lanes;
                float *d = dst + (ptrdiff_t)panel * nr * kc + (ptrdiff_t)k * nr;
                while (col < end) {
                    const int run = lanes - l < nr - at ? lanes - l : nr - at;
                    const int len = run < end - col ? run : end - col;
                    memcpy(d + at, tmp + q * GAN_GEMM_MAX_GROUP + l, (size_t)len * sizeof *d);
                    col += len, at += len, l += len;
                    if (l == lanes)
                        l = 0, q++;
                    if (at == nr)
                        at = 0, d += (ptrdiff_t)nr * kc;
                }
            }
        }
    }
    if (nc % nr) /* zero past column nc */
        for (int k = 0; k < kc; k++)
            for (int l = nc % nr; l < nr; l++)
                dst[(ptrdiff_t)(nc / nr) * nr * kc + (ptrdiff_t)k * nr + l] = 0.0f;
}

/* B[k0 .. k0+kc][j0 .. j0+nc] as consecutive NR panels (kc rows of nr each),
 * zero past column nc. B is read along its stored rows: a transposed B panel
 * by panel; otherwise row by row, each row a few contiguous runs (one per
 * sample of an NCHW or im2col matrix), so the reads stream instead of
 * touching kc distant rows per panel. */
static void pack_b_block(const gan_ukernel *uk, float *dst, const gan_matrix *b, int j0, int nc, int k0, int kc)
{
    const int nr = uk->nr;
    if (b->trans && b->index) {
        pack_b_im2col_trans(dst, nr, b, j0, nc, k0, kc);
        return;
    }
    if (b->group) {
        pack_b_nchw_grouped(uk, dst, b, j0, nc, k0, kc);
        return;
    }
    if (b->trans) { /* b stored n x k */
        for (int jp = 0; jp * nr < nc; jp++) {
            const int cols = nc - jp * nr < nr ? nc - jp * nr : nr;
            uk->transpose_pack(dst + (ptrdiff_t)jp * nr * kc, nr, b->data + (ptrdiff_t)(j0 + jp * nr) * b->ld + k0,
                               b->ld, cols, kc);
        }
        return;
    }
    const int S = b->spatial;
    const int s0 = S ? j0 / S : 0, p0 = S ? j0 % S : 0;
    for (int k = 0; k < kc; k++) {
        float *row = dst + (ptrdiff_t)k * nr;
        int j = 0, s = s0, p = p0, panel = 0, lane = 0;
        while (j < nc) {
            const float *src; /* the run: src[t], or src[index[t]] for im2col */
            const int32_t *index = NULL;
            int run;
            if (b->index) {
                src = b->data + (ptrdiff_t)s * b->sample;
                index = b->index + (ptrdiff_t)(k0 + k) * S + p;
            } else if (S) {
                src = b->data + ((ptrdiff_t)s * b->channels + k0 + k) * S + p;
            } else {
                src = b->data + (ptrdiff_t)(k0 + k) * b->ld + j0;
            }
            run = S ? S - p : nc;
            s++, p = 0;
            if (run > nc - j)
                run = nc - j;
            j += run;
            while (run > 0) {
                const int len = run < nr - lane ? run : nr - lane;
                float *d = row + (ptrdiff_t)panel * nr * kc + lane;
                if (index) {
                    for (int t = 0; t < len; t++)
                        d[t] = index[t] >= 0 ? src[index[t]] : 0.0f;
                    index += len;
                } else {
                    for (int t = 0; t < len; t++)
                        d[t] = src[t];
                    src += len;
                }
                run -= len, lane += len;
                if (lane == nr)
                    lane = 0, panel++;
            }
        }
        for (; lane > 0 && lane < nr; lane++)
            row[(ptrdiff_t)panel * nr * kc + lane] = 0.0f;
    }
}

/* Stores one tile of C at (i0, j0). A full tile whose rows are contiguous
 * (a plain C, or an NCHW C whose tile stays within one sample) goes straight
 * from the kernel; any other through a local tile, copied out in runs that
 * are contiguous in C (one per sample an NCHW tile touches). */
static void store_tile(const gan_ukernel *uk, int kc, const float *ap, const float *bp, const gan_matrix *c,
                       int i0, int j0, int rows, int cols, float alpha, float beta)
{
    const int S = c->spatial;
    if (rows == uk->mr && cols == uk->nr) {
        if (!S) {
            uk->run(kc, ap, bp, c->data + (ptrdiff_t)i0 * c->ld + j0, c->ld, alpha, beta);
            return;
        }
        if (j0 % S + cols <= S) {
            uk->run(kc, ap, bp, element(c, i0, j0), S, alpha, beta);
            return;
        }
    }
    float tile[16 * 64];
    uk->run(kc, ap, bp, tile, uk->nr, alpha, 0.0f);
    ptrdiff_t run_at[64]; /* where run r starts in row 0 of C */
    int run_col[64], run_len[64], runs = 0;
    for (int j = 0; j < cols; runs++) {
        const int s = S ? (j0 + j) / S : 0, p = S ? (j0 + j) % S : j0 + j;
        run_len[runs] = S && S - p < cols - j ? S - p : cols - j;
        run_at[runs] = (ptrdiff_t)s * c->channels * S + p;
        run_col[runs] = j;
        j += run_len[runs];
    }
    for (int i = 0; i < rows; i++) {
        float *row = c->data + (ptrdiff_t)(i0 + i) * (S ? S : c->ld);
        for (int r = 0; r < runs; r++) {
            float *d = row + run_at[r];
            const float *t = tile + i * uk->nr + run_col[r];
            if (beta == 0.0f) {
                for (int q = 0; q < run_len[r]; q++)
                    d[q] = t[q];
            } else if (beta == 1.0f) {
                for (int q = 0; q < run_len[r]; q++)
                    d[q] = t[q] + d[q];
            } else { /* rounded once, as the x86 kernels' full tiles are */
                for (int q = 0; q < run_len[r]; q++)
                    d[q] = fmaf(beta, d[q], t[q]);
            }
        }
    }
}

ptrdiff_t gan_packed_a_panels(const gan_ukernel *uk, int m, int k)
{
    return (ptrdiff_t)((k + GAN_GEMM_KC - 1) / GAN_GEMM_KC) * ((m + uk->mr - 1) / uk->mr);
}

void gan_cpu_pack_a_panels(const gan_ukernel *uk, float *dst, const gan_matrix *a, int m, int k, ptrdiff_t first,
                           ptrdiff_t last)
{
    const int mr = uk->mr, m_panels = (m + mr - 1) / mr;
    for (ptrdiff_t t = first; t < last; t++) {
        const int pc = (int)(t / m_panels) * GAN_GEMM_KC, i0 = (int)(t % m_panels) * mr;
        const int kc = k - pc < GAN_GEMM_KC ? k - pc : GAN_GEMM_KC, rows = m - i0 < mr ? m - i0 : mr;
        pack_a_panel(uk, dst + gan_packed_a_block(uk, m, pc, i0, kc), a, i0, rows, pc, kc);
    }
}

/* Thread w's share of packing the whole of A into dst; all of w's task's
 * threads then wait for one another */
static void pack_a_shared(const gan_ukernel *uk, const gan_worker *w, float *dst, const gan_matrix *a, int m, int k)
{
    ptrdiff_t first, last;
    gan_worker_share(w, gan_packed_a_panels(uk, m, k), &first, &last);
    gan_cpu_pack_a_panels(uk, dst, a, m, k, first, last);
    gan_team_sync(w);
}

/* B packed whole, as A is (gan_packed_a_floats), in panels of NR columns;
 * a thread's B packing space holds a B up to NC x KC floats so. */
static size_t packed_b_floats(const gan_ukernel *uk, int n, int k) { return gan_packed_floats(n, uk->nr, k); }

/* Where the panel of columns jc.. of the KC block at row pc starts (kc: that block's depth) */
static ptrdiff_t packed_b_block(const gan_ukernel *uk, int n, int pc, int jc, int kc)
{
    return gan_packed_block(n, uk->nr, pc, jc, kc);
}

/* The operands as gemm_serial takes them: packed_a all m rows of A packed,
 * packed_b all n columns of B (see packed_b_floats), or NULL for those it
 * packs block by block */
typedef struct gemm_operands {
    int m, n, k;
    float alpha, beta;
    const gan_matrix *a, *b, *c;
    const float *packed_a, *packed_b;
} gemm_operands;

/* The BLIS loop nest on one thread, over rows [m0, m1) and columns [n0, n1)
 * of C and the products' terms [k0, k1) (k0 at the start of a KC block):
 * NC columns of B, KC deep, packed once (or read packed); MC rows of A
 * packed per block (or read packed); MR x NR tiles, jr outer so a B
 * micro-panel stays in L1 across the A micro-panels. */
static void gemm_serial(const gan_ukernel *uk, float *pack, const gemm_operands *o, int m0, int m1, int n0, int n1,
                        int k0, int k1)
{
    const int mr = uk->mr, nr = uk->nr;
    float *pa = pack, *pb = pack + (size_t)GAN_GEMM_MC * GAN_GEMM_KC;
    for (int jc = n0; jc < n1; jc += GAN_GEMM_NC) {
        const int nc = n1 - jc < GAN_GEMM_NC ? n1 - jc : GAN_GEMM_NC;
        const int n_panels = (nc + nr - 1) / nr;
        for (int pc = k0; pc < k1; pc += GAN_GEMM_KC) {
            const int kc = k1 - pc < GAN_GEMM_KC ? k1 - pc : GAN_GEMM_KC;
            const float beta_block = pc == 0 ? o->beta : 1.0f;
            const float *b_block = o->packed_b ? o->packed_b + packed_b_block(uk, o->n, pc, jc, kc) : pb;
            if (!o->packed_b)
                pack_b_block(uk, pb, o->b, jc, nc, pc, kc);
            for (int ic = m0; ic < m1; ic += GAN_GEMM_MC) {
                const int mc = m1 - ic < GAN_GEMM_MC ? m1 - ic : GAN_GEMM_MC;
                const int m_panels = (mc + mr - 1) / mr;
                const float *a_block = o->packed_a ? o->packed_a + gan_packed_a_block(uk, o->m, pc, ic, kc) : pa;
                for (int ip = 0; ip < m_panels && !o->packed_a; ip++) {
                    const int rows = mc - ip * mr < mr ? mc - ip * mr : mr;
                    pack_a_panel(uk, pa + (ptrdiff_t)ip * mr * kc, o->a, ic + ip * mr, rows, pc, kc);
                }
                for (int jr = 0; jr < n_panels; jr++) {
                    const int cols = nc - jr * nr < nr ? nc - jr * nr : nr;
                    const float *bp = b_block + (ptrdiff_t)jr * nr * kc;
                    for (int ir = 0; ir < m_panels; ir++) {
                        const int rows = mc - ir * mr < mr ? mc - ir * mr : mr;
                        store_tile(uk, kc, a_block + (ptrdiff_t)ir * mr * kc, bp, o->c, ic + ir * mr,
                                   jc + jr * nr, rows, cols, o->alpha, beta_block);
                    }
                }
            }
        }
    }
}

/* Whether the kernel reads A in place (plain, either way round) and B in
 * place (plain, not transposed: its rows hold a panel's NR columns side by
 * side) or packed panel by panel (plain, transposed), into a plain C,
 * transposed or not (see plain_product) */
static bool reads_a_in_place(const gan_ukernel *uk, const gemm_operands *o)
{
    return uk->run_strided && !o->a->spatial && !o->a->packed && !o->b->spatial && !o->c->spatial;
}

/* The loop nest with A read in place (see reads_a_in_place), over rows
 * [m0, m1) and columns [n0, n1) of C: per KC block, B's NR-column panels
 * outer, each read in place or packed into the thread's packing space
 * just before its tiles (a transposed B's, and a last panel short of NR
 * columns, so that the kernel reads no column past B's), A's MR-row tiles
 * inner */
static void gemm_serial_in_place(const gan_ukernel *uk, float *pack, const gemm_operands *o, int m0, int m1, int n0,
                                 int n1)
{
    const gan_matrix *a = o->a, *b = o->b, *c = o->c;
    float *pb = pack + (size_t)GAN_GEMM_MC * GAN_GEMM_KC;
    const int mr = uk->mr, nr = uk->nr;
    const ptrdiff_t a_row = a->trans ? 1 : a->ld, a_col = a->trans ? a->ld : 1;
    const ptrdiff_t c_row = c->trans ? 1 : c->ld, c_col = c->trans ? c->ld : 1;
    for (int jc = n0; jc < n1; jc += GAN_GEMM_NC) {
        const int nc = n1 - jc < GAN_GEMM_NC ? n1 - jc : GAN_GEMM_NC;
        for (int pc = 0; pc < o->k; pc += GAN_GEMM_KC) {
            const int kc = o->k - pc < GAN_GEMM_KC ? o->k - pc : GAN_GEMM_KC;
            const float beta = pc == 0 ? o->beta : 1.0f;
            for (int jr = 0; jr < nc; jr += nr) {
                const int cols = nc - jr < nr ? nc - jr : nr;
                const bool packed = b->trans || cols < nr;
                if (packed)
                    pack_b_block(uk, pb, b, jc + jr, cols, pc, kc);
                const float *bp = packed ? pb : b->data + (ptrdiff_t)pc * b->ld + jc + jr;
                for (int i0 = m0; i0 < m1; i0 += mr)
                    uk->run_strided(kc, a->data + (ptrdiff_t)i0 * a_row + (ptrdiff_t)pc * a_col, a_row, a_col, bp,
                                    packed ? nr : b->ld, c->data + (ptrdiff_t)i0 * c_row + (ptrdiff_t)(jc + jr) * c_col,
                                    c->ld, c->trans, m1 - i0 < mr ? m1 - i0 : mr, cols, o->alpha, beta);
            }
        }
    }
}

float *gan_cpu_pack_b(const gan_gemm_plan *plan, int t, const gan_matrix *b, int n, int k)
{
    const gan_ukernel *uk = plan->kernel;
    float *packed = plan->pack + (size_t)t * GAN_GEMM_PACK_FLOATS + (size_t)GAN_GEMM_MC * GAN_GEMM_KC;
    for (int pc = 0; pc < k; pc += GAN_GEMM_KC) {
        const int kc = k - pc < GAN_GEMM_KC ? k - pc : GAN_GEMM_KC;
        pack_b_block(uk, packed + packed_b_block(uk, n, pc, 0, kc), b, 0, n, pc, kc);
    }
    return packed;
}

float *gan_cpu_pack_a(const gan_gemm_plan *plan, int t, const gan_matrix *a, int m, int k)
{
    float *packed = plan->pack + (size_t)t * GAN_GEMM_PACK_FLOATS;
    gan_cpu_pack_a_panels(plan->kernel, packed, a, m, k, 0, gan_packed_a_panels(plan->kernel, m, k));
    return packed;
}

void gan_cpu_gemm_packed_rows(const gan_ukernel *uk, int m, int n, int k, const float *packed_a,
                              const float *packed_b, int m0, int m1, float *c, ptrdiff_t ldc, bool accumulate)
{
    const gan_matrix cm = gan_plain(c, ldc, false);
    for (int pc = 0; pc < k; pc += GAN_GEMM_KC) {
        const int kc = k - pc < GAN_GEMM_KC ? k - pc : GAN_GEMM_KC;
        for (int j0 = 0; j0 < n; j0 += uk->nr) {
            const float *bp = packed_b + packed_b_block(uk, n, pc, j0, kc);
            const int cols = n - j0 < uk->nr ? n - j0 : uk->nr;
            for (int i0 = m0; i0 < m1; i0 += uk->mr)
                store_tile(uk, kc, packed_a + gan_packed_a_block(uk, m, pc, i0, kc), bp, &cm, i0 - m0, j0,
                           m1 - i0 < uk->mr ? m1 - i0 : uk->mr, cols, 1.0f, pc > 0 || accumulate ? 1.0f : 0.0f);
        }
    }
}

/* Blocks of columns (or rows) a thread takes when every thread can make
 * any of them: A read in place, or every thread holding all of the other
 * operand packed (A once for all, or B by each) */
enum { BLOCKS_PER_THREAD = 4 };

/* Thread t's part of C in blocks of columns (or rows), dealt by
 * gan_team_deal into `threads` runs, over the terms [k0, k1): the t-th
 * contiguous run of blocks in order (the samples that the ops around the product also give it:
 * col2im, batch norm's sums and the elementwise ops for NCHW columns, the
 * elementwise ops and the optimizer for a Linear layer's rows, so no
 * thread reads what the other core just wrote), then what is left at the
 * ends of the others' runs, as a core may run slower than its neighbour
 * (a busy sibling, another VM). */
static void gemm_blocks(const gemm_operands *o, const gan_gemm_plan *plan, float *pack, int t, int threads,
                        bool by_columns, bool in_place, int blocks, int k0, int k1)
{
    const gan_ukernel *uk = plan->kernel;
    const int unit = by_columns ? uk->nr : uk->mr, extent = by_columns ? o->n : o->m;
    const int tiles = (extent + unit - 1) / unit;
    /* which thread computes a block does not change its results: a block
     * is whole columns (or rows) of C */
    int scan = 0;
    for (int blk; (blk = (int)gan_team_next(plan->team, t, threads, &scan)) >= 0;) {
        const int from = tiles * blk / blocks * unit, to = tiles * (blk + 1) / blocks * unit;
        const int end = to < extent ? to : extent;
        if (in_place)
            gemm_serial_in_place(uk, pack, o, by_columns ? 0 : from, by_columns ? o->m : end, by_columns ? from : 0,
                                 by_columns ? end : o->n);
        else if (by_columns)
            gemm_serial(uk, pack, o, 0, o->m, from, end, k0, k1);
        else
            gemm_serial(uk, pack, o, from, end, 0, o->n, k0, k1);
    }
}

/* A product's split between threads, as gemm_threads decided it */
typedef struct gemm_split {
    const gan_gemm_plan *plan;
    gemm_operands o;
    bool by_columns, in_place, share_a, whole_b, dealt;
    int tiles, runs, blocks; /* blocks dealt into `runs` runs, one a thread asked for */
} gemm_split;

/* Thread w's part of a product (see gemm_threads) */
static void gemm_part(const void *args, const gan_worker *w)
{
    const gemm_split *s = args;
    const gan_gemm_plan *plan = s->plan;
    const gan_ukernel *uk = plan->kernel;
    const int t = w->t, m = s->o.m, n = s->o.n, k = s->o.k;
    float *pack = plan->pack + (size_t)t * GAN_GEMM_PACK_FLOATS;
    gemm_operands own = s->o;
    if (s->in_place) {
        gemm_blocks(&own, plan, pack, t, s->runs, s->by_columns, true, s->blocks, 0, k);
        return;
    }
    if (s->share_a) {
        own.packed_a = plan->shared_a;
        pack_a_shared(uk, w, plan->shared_a, s->o.a, m, k);
    }
    if (s->by_columns && s->dealt) {
        gemm_blocks(&own, plan, pack, t, s->runs, true, false, s->blocks, 0, k);
    } else if (s->whole_b) {
        /* a KC block of rows of B at a time, so that it stays in L2:
         * all threads finish one before any starts the next */
        float *packed_b = pack + (size_t)GAN_GEMM_MC * GAN_GEMM_KC;
        own.packed_b = packed_b;
        for (int pc = 0; pc < k; pc += GAN_GEMM_KC) {
            const int kc = k - pc < GAN_GEMM_KC ? k - pc : GAN_GEMM_KC;
            pack_b_block(uk, packed_b + packed_b_block(uk, n, pc, 0, kc), s->o.b, 0, n, pc, kc);
            if (pc > 0) {
                gan_team_sync(w);
                if (t == 0)
                    gan_team_deal(plan->team, s->runs, s->blocks);
                gan_team_sync(w);
            }
            gemm_blocks(&own, plan, pack, t, s->runs, false, false, s->blocks, pc, pc + kc);
        }
    } else {
        const int from = s->tiles * t / w->nt, to = s->tiles * (t + 1) / w->nt;
        if (s->by_columns)
            gemm_serial(uk, pack, &own, 0, m, from * uk->nr, to * uk->nr < n ? to * uk->nr : n, 0, k);
        else
            gemm_serial(uk, pack, &own, from * uk->mr, to * uk->mr < m ? to * uk->mr : m, 0, n, 0, k);
    }
}

/* The product on the plan's threads: split_rows asks for C's rows to be
 * split between them wherever there are enough */
static void gemm_threads(const gan_gemm_plan *plan, bool split_rows, int m, int n, int k, float alpha,
                         gan_matrix a, gan_matrix b, float beta, gan_matrix c)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float *x = element(&c, i, j);
                *x = beta == 0.0f ? 0.0f : beta * *x;
            }
        return;
    }
    const gan_ukernel *uk = plan->kernel;
    const int tiles_m = (m + uk->mr - 1) / uk->mr, tiles_n = (n + uk->nr - 1) / uk->nr;
    /* threads only where there is work enough to pay for waking them, and
     * not from within a task, whose team's runs the product would deal */
    int threads = 2.0 * m * n * k < 2e5 || gan_team_in_task() ? 1 : plan->num_threads;
    if (threads > gan_team_size(plan->team))
        threads = gan_team_size(plan->team);
    /* slice C along N unless it is too narrow, then along M; or along M
     * when asked (see gan_cpu_gemm_rows) */
    bool by_columns = tiles_n >= 2 * threads || tiles_n >= tiles_m;
    if (c.trans) /* a swapped product (see plain_product): C's rows as stored, for which its threads pack B */
        by_columns = true;
    else if (split_rows && tiles_m >= 2 * threads)
        by_columns = false;
    const int tiles = by_columns ? tiles_n : tiles_m;
    if (threads > tiles)
        threads = tiles;
    const gemm_operands o = {m, n, k, alpha, beta, &a, &b, &c, a.packed ? a.data : NULL, NULL};
    /* A read in place; a transposed B packed by the thread that takes its
     * columns, not by each thread that takes rows */
    const bool in_place = reads_a_in_place(uk, &o) && (!b.trans || by_columns || threads <= 1);
    if (threads <= 1) {
        if (in_place)
            gemm_serial_in_place(uk, plan->pack, &o, 0, m, 0, n);
        else
            gemm_serial(uk, plan->pack, &o, 0, m, 0, n, 0, k);
        return;
    }
    /* Threads that read A in place take any block of C, each packing what
     * it needs of a transposed B. Otherwise threads that split the
     * columns share A, packed once by all of them together, and threads
     * that split the rows each pack all of B, one KC block at a time: on
     * the VMs measured, reading what the other core packed costs more
     * than packing it twice. A thread can then take any block of C, as it
     * can where A comes packed; in the other splits (operands too large to
     * hold whole) each thread takes its own slice only. */
    gemm_split s = {plan, o, by_columns, in_place, false, false, false, tiles, threads, threads * BLOCKS_PER_THREAD};
    s.share_a = !in_place && by_columns && !a.packed && gan_packed_a_floats(uk, m, k) <= GAN_GEMM_SHARED_A_FLOATS;
    s.whole_b = !in_place && !by_columns && packed_b_floats(uk, n, k) <= (size_t)GAN_GEMM_NC * GAN_GEMM_KC;
    s.dealt = in_place || (by_columns ? s.share_a || a.packed : s.whole_b);
    if (s.dealt)
        gan_team_deal(plan->team, threads, s.blocks);
    gan_team_run(plan->team, threads, gemm_part, &s);
}

/* The race between the vector kernels: a product of the shape the models
 * make most (the batch's 128 rows, 256 columns, 256 deep) on the calling
 * thread, the kernels taking turns, each kept at its best of RACE_ROUNDS
 * runs. It calls the loop nest itself, not the threaded driver, so that
 * making a context does not start the OpenMP runtime (clang's, starting,
 * writes a file, which a process under a file-size limit cannot). */
enum { RACE_M = 128, RACE_N = 256, RACE_K = 256, RACE_ROUNDS = 3, RACE_KERNELS = 4 };
_Static_assert((int)RACE_M <= (int)GAN_GEMM_MC && (int)RACE_N <= (int)GAN_GEMM_NC,
               "the race packs one block of A and of B");

static double seconds_now(void);

const gan_ukernel *gan_cpu_fastest_ukernel(void)
{
    static _Atomic(const gan_ukernel *) chosen;
    const gan_ukernel *known = atomic_load(&chosen);
    if (known)
        return known;
    const gan_ukernel *kernels[RACE_KERNELS];
    int n = gan_cpu_ukernels(kernels, RACE_KERNELS);
    if (n > 1)
        n--; /* the portable kernel runs only where there is no other */
    const gan_ukernel *fastest = kernels[0];
    bool raced = n == 1;
    /* the kernels take turns on one packing space: an MC x KC block of A,
     * then B's KC x RACE_N */
    float *pack = aligned_alloc(64, sizeof(float) * (GAN_GEMM_MC + RACE_N) * GAN_GEMM_KC);
    float *a = malloc(sizeof(float) * RACE_M * RACE_K), *b = malloc(sizeof(float) * RACE_K * RACE_N);
    float *c = malloc(sizeof(float) * RACE_M * RACE_N);
    if (n > 1 && pack && a && b && c) {
        for (size_t i = 0; i < (size_t)RACE_M * RACE_K; i++)
            a[i] = (float)(i % 7) * 0.25f;
        for (size_t i = 0; i < (size_t)RACE_K * RACE_N; i++)
            b[i] = (float)(i % 5) * 0.5f;
        const gan_matrix ma = gan_plain(a, RACE_K, false), mb = gan_plain(b, RACE_N, false);
        const gan_matrix mc = gan_plain(c, RACE_N, false);
        const gemm_operands o = {RACE_M, RACE_N, RACE_K, 1.0f, 0.0f, &ma, &mb, &mc, NULL, NULL};
        double best[RACE_KERNELS];
        for (int round = 0; round < RACE_ROUNDS; round++)
            for (int i = 0; i < n; i++) {
                const double start = seconds_now();
                gemm_serial(kernels[i], pack, &o, 0, RACE_M, 0, RACE_N, 0, RACE_K);
                const double took = seconds_now() - start;
                if (round == 0 || took < best[i])
                    best[i] = took;
            }
        int winner = 0;
        for (int i = 1; i < n; i++)
            if (best[i] < best[winner])
                winner = i;
        fastest = kernels[winner];
        raced = true;
    }
    free(pack), free(a), free(b), free(c);
    if (!raced) /* out of memory: the widest kernel this time, the race again next time */
        return fastest;
    const gan_ukernel *expected = NULL;
    return atomic_compare_exchange_strong(&chosen, &expected, fastest) ? fastest : expected;
}

void gan_cpu_gemm_matrices(const gan_gemm_plan *plan, int m, int n, int k, float alpha, gan_matrix a,
                           gan_matrix b, float beta, gan_matrix c)
{
    gemm_threads(plan, false, m, n, k, alpha, a, b, beta, c);
}

/* A product of plain matrices. One a column wide (a layer with a single
 * output: D's logit) runs as its transpose, one row high, C^T = B^T A^T:
 * each element the same sum in the same order (an FMA's two factors
 * commute), but in tiles of MR rows with one used instead of NR columns
 * with one used. So does one with B transposed as stored and C's rows
 * split (a Linear layer's output, x W^T), C stored transposed by the
 * kernel: W is then read in place and each thread packs only its rows of
 * A (its samples), instead of each packing all of W transposed; where
 * there are NR rows at least a thread, so that each has some (fewer
 * keep the product as it stands, with its threads splitting MR rows). */
static void plain_product(const gan_gemm_plan *plan, bool split_rows, bool trans_a, bool trans_b, int m, int n,
                          int k, float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                          float beta, float *c, ptrdiff_t ldc)
{
    if (n == 1 && m > 1 && ldc == 1)
        gemm_threads(plan, false, 1, m, k, alpha, gan_plain(b, ldb, !trans_b), gan_plain(a, lda, !trans_a), beta,
                     gan_plain(c, m, false));
    else if (split_rows && trans_b && plan->kernel->run_strided && m >= 2 * plan->num_threads * plan->kernel->nr)
        gemm_threads(plan, false, n, m, k, alpha, gan_plain(b, ldb, false), gan_plain(a, lda, !trans_a), beta,
                     gan_plain(c, ldc, true));
    else
        gemm_threads(plan, split_rows, m, n, k, alpha, gan_plain(a, lda, trans_a), gan_plain(b, ldb, trans_b),
                     beta, gan_plain(c, ldc, false));
}

void gan_cpu_gemm(const gan_gemm_plan *plan, bool trans_a, bool trans_b, int m, int n, int k,
                  float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                  float beta, float *c, ptrdiff_t ldc)
{
    plain_product(plan, false, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gan_cpu_gemm_rows(const gan_gemm_plan *plan, bool trans_a, bool trans_b, int m, int n, int k,
                       float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta,
                       float *c, ptrdiff_t ldc)
{
    plain_product(plan, true, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool gan_gemm_plan_init(gan_gemm_plan *plan, const gan_ukernel *kernel, int threads)
{
    plan->kernel = kernel;
    plan->num_threads = threads < 1 ? 1 : threads;
    plan->pack = aligned_alloc(64, GAN_GEMM_PACK_FLOATS * sizeof(float) * (size_t)plan->num_threads);
    plan->shared_a = plan->num_threads > 1 ? aligned_alloc(64, GAN_GEMM_SHARED_A_FLOATS * sizeof(float)) : NULL;
    plan->team = gan_team_create(plan->num_threads);
    if (!plan->pack || (plan->num_threads > 1 && !plan->shared_a) || !plan->team) {
        gan_gemm_plan_free(plan);
        return false;
    }
    return true;
}

void gan_gemm_plan_free(gan_gemm_plan *plan)
{
    free(plan->pack);
    free(plan->shared_a);
    gan_team_destroy(plan->team);
    plan->pack = plan->shared_a = NULL;
    plan->team = NULL;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { PEAK_TRIES = 3 };

double gan_cpu_fma_peak_gflops(int threads, const char **isa)
{
    float (*probe)(long) = NULL;
    double flops_per_round = 0.0;
    *isa = "none";
#if defined(GAN_HAVE_AVX2_KERNEL)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        probe = gan_fma_probe_avx2, flops_per_round = 192.0, *isa = "AVX2 FMA";
#endif
#if defined(GAN_HAVE_AVX512_KERNEL)
    if (__builtin_cpu_supports("avx512f"))
        probe = gan_fma_probe_avx512, flops_per_round = 512.0, *isa = "AVX-512 FMA";
#endif
    if (!probe)
        return 0.0;
    const long rounds = 20000000;
    double best = 0.0;
    volatile float sink = 0.0f;
    (void)threads;
    /* the best of PEAK_TRIES: a process's first parallel region can read
     * 10% low (392 against 425-431 GFLOP/s after it, on the Zen 5 pair) */
    for (int try = 0; try < PEAK_TRIES; try++) {
        double total = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            probe(rounds / 20); /* warm up the clock */
            const double start = seconds_now();
            sink += probe(rounds);
            total += flops_per_round * (double)rounds / (seconds_now() - start);
        }
        best = total > best ? total : best;
    }
    (void)sink;
    return best * 1e-9;
}
