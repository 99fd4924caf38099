/* sampler.c - training batches from images in host memory (or given a
 * batch at a time): a seeded shuffle per epoch, a bilinear resize, an
 * optional random rotation and horizontal flip, and a process's share of
 * each batch in data-parallel training. */
#include "gan_internal.h"
#include "gan_prefetch.h"
#include "gan_vector_clones.h"

#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

struct gan_sampler {
    gan_context *ctx;
    const uint8_t *images; /* borrowed, [count][height][width][channels]; NULL: given per batch */
    int count, height, width, channels;
    gan_sampler_params params;
    int size;              /* output side */
    int first, share;      /* this process's images of each batch: [first, first + share) */
    uint32_t *order;       /* the permutation of order_epoch */
    int64_t order_epoch;   /* -1: none yet */
    float *host;           /* this process's share of one batch, [share, channels, size, size] */
    float *angles;         /* the share's rotations of one batch, [share] */
    bool *flips;           /* and whether each is mirrored, [share] */
    bool dense;            /* at most 4 source pixels an output pixel: a batch reads its images
                            * in full, so they are fetched ahead and may be read as floats */
    float *planes;         /* a source image as floats a thread, [threads][channels][height][width],
                            * for a rotation or resize to read with vectors; NULL where it would not
                            * pay or not fit, or out of memory (the same bits byte by byte) */
    int planes_threads;    /* the threads planes has room for */
};

/* The most floats the planes of all threads take (16 MiB) */
enum { PLANES_MAX_FLOATS = 1 << 22 };

/* Batches of fewer floats than this are made on one thread */
enum { PARALLEL_MIN_FLOATS = 16384 };

enum { MAX_SIDE = 1 << 15 };

gan_status gan_sampler_create(gan_context *ctx, const uint8_t *images, int count, int height, int width,
                              int channels, const gan_sampler_params *params, gan_sampler **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!params || !out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_sampler_create: NULL argument");
    *out = NULL;
    const gan_sampler_params p = *params;
    if (count < 1 || height < 1 || width < 1 || height > MAX_SIDE || width > MAX_SIDE || channels < 1 ||
        channels > 4)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_sampler_create: %d images of %dx%d with %d channel(s): needs 1 to 4 channels and "
                        "sides from 1 to %d", count, height, width, channels, MAX_SIDE);
    if (p.image_size == 0 && height != width)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_sampler_create: %dx%d images are not square: give an image size", height, width);
    if (p.image_size < 0 || p.image_size > MAX_SIDE || !(p.max_rotation >= 0.0f && p.max_rotation <= 180.0f))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_sampler_create: image size %d or rotation %g out of range (0 to %d, 0 to 180)",
                        p.image_size, p.max_rotation, MAX_SIDE);
    if (p.batch < 1 || p.batch > count)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%d images make no batch of %d", count, p.batch);
    const int ranks = p.ranks ? p.ranks : 1;
    if (ranks < 1 || ranks > p.batch || p.rank < 0 || p.rank >= ranks)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_sampler_create: process %d of %d: needs 0 <= rank < ranks <= batch (%d)", p.rank,
                        p.ranks, p.batch);
    gan_sampler *s = calloc(1, sizeof *s);
    const int size = p.image_size ? p.image_size : height;
    /* equal parts, the first batch % ranks of them one image larger */
    const int part = p.batch / ranks, larger = p.batch % ranks;
    const int first = p.rank * part + (p.rank < larger ? p.rank : larger);
    const int share = part + (p.rank < larger);
    if (s) {
        const bool dense = (double)height * width <= 4.0 * size * size;
        *s = (gan_sampler){ctx, images, count, height, width, channels, p, size, first, share, NULL, -1, NULL,
                           NULL, NULL, dense, NULL, 0};
        s->order = malloc(sizeof *s->order * (size_t)count);
        s->host = malloc(sizeof *s->host * (size_t)share * (size_t)channels * (size_t)size * (size_t)size);
        s->angles = malloc(sizeof *s->angles * (size_t)share);
        s->flips = malloc(sizeof *s->flips * (size_t)share);
        const size_t planes_floats = (size_t)height * width * channels * (size_t)ctx->env.num_threads;
        if ((p.max_rotation > 0.0f || size != height || size != width) && dense &&
            planes_floats <= PLANES_MAX_FLOATS) {
            s->planes = malloc(sizeof *s->planes * planes_floats);
            s->planes_threads = s->planes ? ctx->env.num_threads : 0;
        }
    }
    if (!s || !s->order || !s->host || !s->angles || !s->flips) {
        gan_sampler_free(s);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_sampler_create: out of host memory");
    }
    *out = s;
    return GAN_OK;
}

void gan_sampler_free(gan_sampler *s)
{
    if (!s)
        return;
    free(s->order);
    free(s->host);
    free(s->angles);
    free(s->flips);
    free(s->planes);
    free(s);
}

int gan_sampler_batches_per_epoch(const gan_sampler *s) { return s ? s->count / s->params.batch : 0; }

int gan_sampler_share(const gan_sampler *s) { return s ? s->share : 0; }

int gan_sampler_share_start(const gan_sampler *s) { return s ? s->first : 0; }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The shuffled order of an epoch: a pure function of seed and epoch. */
static void permute(uint64_t seed, int64_t epoch, int n, uint32_t *perm)
{
    uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(epoch + 1));
    for (int i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates; the bias of % is < 2^-32 here */
        uint32_t j = (uint32_t)(splitmix64(&state) % (uint64_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* A pixel's value, a byte's or a blend of bytes (0 to 255), in [-1, 1] */
static inline float unit_of(float v) { return v / 127.5f - 1.0f; }

/* Where a rotated image's output pixels come from: rotated back about the
 * centre, then scaled to the source grid (see pixel_taps) */
typedef struct rotation {
    int h, w;                 /* the source's sides */
    float cs, sn, centre;     /* the angle's cosine and sine; the output's centre */
    float sx, sy;             /* source pixels an output pixel */
} rotation;

/* Output pixels of a row a rotation makes at a time, and the multiple of
 * the vector width (AVX-512's 16 floats) they are rounded up to, so that
 * none are left to scalar code (those past the row take taps inside the
 * image, and are not stored) */
enum { ROTATE_CHUNK = 64, ROTATE_LANES = 16 };

/* floorf(x) as an int, for |x| < 2^31 */
static inline int floor_int(float x)
{
    const int t = (int)x;
    return t - (x < (float)t);
}

/* Output pixel (oy, ox)'s bilinear taps, in the order they are added,
 * (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1): the source
 * pixel (y * w + x, clamped into the image), 1 or 0 for inside or outside
 * it (outside is background, 0), and the weight. sn_dy and cs_dy: the
 * row's sine and cosine terms. */
static inline void pixel_taps(const rotation *r, float sn_dy, float cs_dy, int ox, int32_t at[4], float inside[4],
                              float weight[4])
{
    const float dx = (float)ox + 0.5f - r->centre;
    const float rx = r->cs * dx + sn_dy + r->centre, ry = -r->sn * dx + cs_dy + r->centre;
    const float y = ry * r->sy - 0.5f, x = rx * r->sx - 0.5f;
    const int y0 = floor_int(y), x0 = floor_int(x);
    const float fy = y - (float)y0, fx = x - (float)x0;
    const int in_y0 = (unsigned)y0 < (unsigned)r->h, in_y1 = (unsigned)(y0 + 1) < (unsigned)r->h;
    const int in_x0 = (unsigned)x0 < (unsigned)r->w, in_x1 = (unsigned)(x0 + 1) < (unsigned)r->w;
    const int row0 = (in_y0 ? y0 : 0) * r->w, row1 = (in_y1 ? y0 + 1 : 0) * r->w;
    const int col0 = in_x0 ? x0 : 0, col1 = in_x1 ? x0 + 1 : 0;
    at[0] = row0 + col0, at[1] = row0 + col1, at[2] = row1 + col0, at[3] = row1 + col1;
    inside[0] = (float)(in_y0 & in_x0), inside[1] = (float)(in_y0 & in_x1);
    inside[2] = (float)(in_y1 & in_x0), inside[3] = (float)(in_y1 & in_x1);
    weight[0] = (1 - fy) * (1 - fx), weight[1] = (1 - fy) * fx, weight[2] = fy * (1 - fx), weight[3] = fy * fx;
}

/* The taps' values (0 outside) weighted and added in order, as a value in
 * [-1, 1]. A tap outside adds +0, which leaves the sum (never -0) as
 * skipping it would. */
static inline float blend(const float weight[4], const float value[4])
{
    float v = weight[0] * value[0];
    v += weight[1] * value[1];
    v += weight[2] * value[2];
    v += weight[3] * value[3];
    return unit_of(v);
}

/* Pixels [ox0, ox0 + count) of output row oy from one channel of the
 * source as floats (plane, [h][w]), vectorized */
VECTOR_CLONES static void rotate_row(const rotation *r, const float *restrict plane, int oy, int ox0, int count,
                                     float *restrict out)
{
    const rotation rot = *r; /* in registers: out cannot change it */
    const float dy = (float)oy + 0.5f - rot.centre, sn_dy = rot.sn * dy, cs_dy = rot.cs * dy;
    for (int i = 0; i < count; i++) {
        int32_t at[4];
        float inside[4], weight[4];
        pixel_taps(&rot, sn_dy, cs_dy, ox0 + i, at, inside, weight);
        const float value[4] = {plane[at[0]] * inside[0], plane[at[1]] * inside[1], plane[at[2]] * inside[2],
                                plane[at[3]] * inside[3]};
        out[i] = blend(weight, value);
    }
}

/* The same from channel c of the source's bytes (ch channels
 * interleaved), one pixel at a time */
static void rotate_row_bytes(const rotation *r, const uint8_t *img, int ch, int c, int oy, int ox0, int count,
                             float *out)
{
    const float dy = (float)oy + 0.5f - r->centre, sn_dy = r->sn * dy, cs_dy = r->cs * dy;
    for (int i = 0; i < count; i++) {
        int32_t at[4];
        float inside[4], weight[4], value[4];
        pixel_taps(r, sn_dy, cs_dy, ox0 + i, at, inside, weight);
        for (int k = 0; k < 4; k++)
            value[k] = (float)img[(size_t)at[k] * ch + c] * inside[k];
        out[i] = blend(weight, value);
    }
}

/* One image into out ([channels, size, size] in [-1, 1]), rotated by angle
 * degrees about its centre, scaled to size, and mirrored left to right
 * when flip is set; planes: room for the image as floats, or NULL */
static void transform(const gan_sampler *s, const uint8_t *img, float angle, bool flip, float *planes,
                      float *out)
{
    const int h = s->height, w = s->width, size = s->size, ch = s->channels;
    const size_t plane = (size_t)size * size;
    if (angle == 0.0f && size == h && size == w) {
        for (int c = 0; c < ch; c++)
            for (int y = 0; y < size; y++) {
                /* the row's pixels of channel c, from its last one back when mirrored */
                const uint8_t *restrict row = img + (size_t)y * size * ch + c;
                float *restrict o = out + c * plane + (size_t)y * size;
                if (flip)
                    for (int x = 0; x < size; x++)
                        o[x] = unit_of(row[(size_t)(size - 1 - x) * ch]);
                else if (ch == 1) /* contiguous: vectorized */
                    for (int x = 0; x < size; x++)
                        o[x] = unit_of(row[x]);
                else
                    for (int x = 0; x < size; x++)
                        o[x] = unit_of(row[(size_t)x * ch]);
            }
        return;
    }
    /* each output pixel bilinear from where it comes from, rotated back
     * about the centre and scaled to the source grid: from the image as
     * floats, many pixels at once, where there is room for it (planes) */
    const rotation r = {h, w, cosf(angle * 3.14159265f / 180.0f), sinf(angle * 3.14159265f / 180.0f),
                        0.5f * (float)size, (float)w / (float)size, (float)h / (float)size};
    const size_t pixels = (size_t)h * w;
    if (planes && ch == 1) /* contiguous: vectorized */
        for (size_t p = 0; p < pixels; p++)
            planes[p] = (float)img[p];
    else
        for (int c = 0; planes && c < ch; c++)
            for (size_t p = 0; p < pixels; p++)
                planes[c * pixels + p] = (float)img[p * ch + c];
    float row[ROTATE_CHUNK];
    for (int c = 0; c < ch; c++)
        for (int oy = 0; oy < size; oy++)
            for (int ox0 = 0; ox0 < size; ox0 += ROTATE_CHUNK) {
                const int count = size - ox0 < ROTATE_CHUNK ? size - ox0 : ROTATE_CHUNK;
                const int lanes = (count + ROTATE_LANES - 1) / ROTATE_LANES * ROTATE_LANES;
                if (planes)
                    rotate_row(&r, planes + c * pixels, oy, ox0, lanes, row);
                else
                    rotate_row_bytes(&r, img, ch, c, oy, ox0, count, row);
                float *o = out + c * plane + (size_t)oy * size;
                if (flip)
                    for (int i = 0; i < count; i++)
                        o[size - 1 - (ox0 + i)] = row[i];
                else
                    for (int i = 0; i < count; i++)
                        o[ox0 + i] = row[i];
            }
}

/* Checks (epoch, index) and makes the epoch's order current. */
static gan_status locate(gan_sampler *s, const char *fn, int64_t epoch, int64_t index)
{
    if (epoch < 0 || index < 0 || index >= gan_sampler_batches_per_epoch(s))
        return gan_fail(s->ctx, GAN_ERR_INVALID_ARGUMENT, "%s: batch %lld of epoch %lld: an epoch has %d", fn,
                        (long long)index, (long long)epoch, gan_sampler_batches_per_epoch(s));
    if (s->order_epoch != epoch) {
        permute(s->params.seed, epoch, s->count, s->order);
        s->order_epoch = epoch;
    }
    return GAN_OK;
}

gan_status gan_sampler_batch_indices(gan_sampler *s, int64_t epoch, int64_t index, int *indices)
{
    gan_clear_error(s ? s->ctx : NULL);
    if (!s)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!indices)
        return gan_fail(s->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_sampler_batch_indices: NULL argument");
    const gan_status st = locate(s, "gan_sampler_batch_indices", epoch, index);
    if (st != GAN_OK)
        return st;
    for (int b = 0; b < s->share; b++)
        indices[b] = (int)s->order[index * s->params.batch + s->first + b];
    return GAN_OK;
}

/* Image `mine` of the share of batch `index`, from `given` or the
 * sampler's own array in the epoch's order */
static const uint8_t *image_at(const gan_sampler *s, const uint8_t *given, int64_t index, int mine)
{
    const size_t image_bytes = (size_t)s->height * s->width * s->channels;
    return given ? given + (size_t)mine * image_bytes
                 : s->images + (size_t)s->order[index * s->params.batch + s->first + mine] * image_bytes;
}

/* Images a thread asks the caches for before it transforms them */
enum { PREFETCH_AHEAD = 8 };

/* The share's images, from `given` ([share][height][width][channels]) or
 * the sampler's own array, transformed into out. Every process draws the
 * whole batch's angles and flips, so their generators stay in step; the
 * images are then transformed on the context's threads, each image alone,
 * so the batch is the same whatever their count. */
static gan_status make_batch(gan_sampler *s, const char *fn, int64_t epoch, int64_t index, const uint8_t *given,
                             gan_tensor *out)
{
    gan_context *ctx = s->ctx;
    const int size = s->size;
    gan_status st = locate(s, fn, epoch, index);
    if (st != GAN_OK)
        return st;
    if (!out || out->ctx != ctx || out->ndim != 4 || out->shape[0] != s->share || out->shape[1] != s->channels ||
        out->shape[2] != size || out->shape[3] != size) {
        char want[64], got[64] = "NULL";
        if (out)
            gan_shape_str(out->ndim, out->shape, got, sizeof got);
        return gan_fail(ctx, GAN_ERR_SHAPE, "%s: out is %s, expected %s of this context", fn, got,
                        gan_shape_str(4, (const int[]){s->share, s->channels, size, size}, want, sizeof want));
    }
    const size_t source_pixels = (size_t)s->height * s->width * s->channels; /* bytes, or floats in planes */
    const size_t image_floats = (size_t)s->channels * size * size;
    const float max = s->params.max_rotation;
    for (int b = 0; b < s->params.batch; b++) {
        float angle = 0.0f;
        if (max > 0.0f)
            gan_random_uniform(ctx, &angle, 1, -max, max);
        const bool flip = s->params.flip && gan_random_below(ctx, 2);
        const int mine = b - s->first;
        if (mine >= 0 && mine < s->share)
            s->angles[mine] = angle, s->flips[mine] = flip;
    }
    const int threads = (size_t)s->share * image_floats < PARALLEL_MIN_FLOATS ? 1 : ctx->env.num_threads;
    (void)threads;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int mine = 0; mine < s->share; mine++) {
        if (s->dense && mine + PREFETCH_AHEAD < s->share) /* the shuffled images are far apart */
            gan_prefetch(image_at(s, given, index, mine + PREFETCH_AHEAD), source_pixels);
#ifdef _OPENMP
        const int thread = omp_get_thread_num();
#else
        const int thread = 0;
#endif
        float *planes = thread < s->planes_threads ? s->planes + (size_t)thread * source_pixels : NULL;
        transform(s, image_at(s, given, index, mine), s->angles[mine], s->flips[mine], planes,
                  s->host + (size_t)mine * image_floats);
    }
    return gan_tensor_write(out, s->host, (size_t)s->share * image_floats);
}

gan_status gan_sampler_batch(gan_sampler *s, int64_t epoch, int64_t index, gan_tensor *out)
{
    gan_clear_error(s ? s->ctx : NULL);
    if (!s)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!s->images)
        return gan_fail(s->ctx, GAN_ERR_STATE,
                        "gan_sampler_batch: the sampler holds no images: give each batch's to gan_sampler_batch_from");
    return make_batch(s, "gan_sampler_batch", epoch, index, NULL, out);
}

gan_status gan_sampler_batch_from(gan_sampler *s, int64_t epoch, int64_t index, const uint8_t *images,
                                  gan_tensor *out)
{
    gan_clear_error(s ? s->ctx : NULL);
    if (!s)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!images)
        return gan_fail(s->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_sampler_batch_from: NULL images");
    return make_batch(s, "gan_sampler_batch_from", epoch, index, images, out);
}
