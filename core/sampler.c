/* sampler.c - training batches from images in host memory: a seeded
 * shuffle per epoch, a bilinear resize and an optional random rotation. */
#include "gan_internal.h"

#include <math.h>
#include <stdlib.h>

struct gan_sampler {
    gan_context *ctx;
    const uint8_t *images; /* borrowed, [count][height][width][channels] */
    int count, height, width, channels;
    gan_sampler_params params;
    int size;              /* output side */
    uint32_t *order;       /* the permutation of order_epoch */
    int64_t order_epoch;   /* -1: none yet */
    float *host;           /* one batch, [batch, channels, size, size] */
};

enum { MAX_SIDE = 1 << 15 };

gan_status gan_sampler_create(gan_context *ctx, const uint8_t *images, int count, int height, int width,
                              int channels, const gan_sampler_params *params, gan_sampler **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!images || !params || !out)
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
    gan_sampler *s = calloc(1, sizeof *s);
    const int size = p.image_size ? p.image_size : height;
    if (s) {
        *s = (gan_sampler){ctx, images, count, height, width, channels, p, size, NULL, -1, NULL};
        s->order = malloc(sizeof *s->order * (size_t)count);
        s->host = malloc(sizeof *s->host * (size_t)p.batch * (size_t)channels * (size_t)size * (size_t)size);
    }
    if (!s || !s->order || !s->host) {
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
    free(s);
}

int gan_sampler_batches_per_epoch(const gan_sampler *s) { return s ? s->count / s->params.batch : 0; }

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

/* Channel c of the image at (y, x), bilinear; outside is background (0). */
static float sample_bilinear(const uint8_t *img, int h, int w, int channels, int c, float y, float x)
{
    const int y0 = (int)floorf(y), x0 = (int)floorf(x);
    const float fy = y - (float)y0, fx = x - (float)x0;
    float v = 0.0f;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            const int yy = y0 + dy, xx = x0 + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                continue;
            v += (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx) * img[((size_t)yy * w + xx) * channels + c];
        }
    return v;
}

/* One image into out ([channels, size, size] in [-1, 1]), rotated by angle
 * degrees about its centre and scaled to size. */
static void transform(const gan_sampler *s, const uint8_t *img, float angle, float *out)
{
    const int h = s->height, w = s->width, size = s->size, ch = s->channels;
    const size_t plane = (size_t)size * size;
    if (angle == 0.0f && size == h && size == w) {
        for (int c = 0; c < ch; c++)
            for (size_t i = 0; i < plane; i++)
                out[c * plane + i] = (float)img[i * ch + c] / 127.5f - 1.0f;
        return;
    }
    /* each output pixel looks up where it comes from: rotate back about
     * the centre, then scale to the source grid */
    const float sy = (float)h / (float)size, sx = (float)w / (float)size;
    const float cs = cosf(angle * 3.14159265f / 180.0f), sn = sinf(angle * 3.14159265f / 180.0f);
    const float centre = 0.5f * (float)size;
    for (int oy = 0; oy < size; oy++)
        for (int ox = 0; ox < size; ox++) {
            const float dx = (float)ox + 0.5f - centre, dy = (float)oy + 0.5f - centre;
            const float rx = cs * dx + sn * dy + centre, ry = -sn * dx + cs * dy + centre;
            for (int c = 0; c < ch; c++) {
                const float v = sample_bilinear(img, h, w, ch, c, ry * sy - 0.5f, rx * sx - 0.5f);
                out[c * plane + (size_t)oy * size + ox] = v / 127.5f - 1.0f;
            }
        }
}

gan_status gan_sampler_batch(gan_sampler *s, int64_t epoch, int64_t index, gan_tensor *out)
{
    gan_clear_error(s ? s->ctx : NULL);
    if (!s)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = s->ctx;
    const int batch = s->params.batch, size = s->size;
    if (epoch < 0 || index < 0 || index >= gan_sampler_batches_per_epoch(s))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_sampler_batch: batch %lld of epoch %lld: an epoch has %d",
                        (long long)index, (long long)epoch, gan_sampler_batches_per_epoch(s));
    if (!out || out->ctx != ctx || out->ndim != 4 || out->shape[0] != batch || out->shape[1] != s->channels ||
        out->shape[2] != size || out->shape[3] != size) {
        char want[64], got[64] = "NULL";
        if (out)
            gan_shape_str(out->ndim, out->shape, got, sizeof got);
        return gan_fail(ctx, GAN_ERR_SHAPE, "gan_sampler_batch: out is %s, expected %s of this context", got,
                        gan_shape_str(4, (const int[]){batch, s->channels, size, size}, want, sizeof want));
    }
    if (s->order_epoch != epoch) {
        permute(s->params.seed, epoch, s->count, s->order);
        s->order_epoch = epoch;
    }
    const size_t image_bytes = (size_t)s->height * s->width * s->channels;
    const size_t image_floats = (size_t)s->channels * size * size;
    const float max = s->params.max_rotation;
    for (int b = 0; b < batch; b++) {
        float angle = 0.0f;
        if (max > 0.0f)
            gan_random_uniform(ctx, &angle, 1, -max, max);
        transform(s, s->images + (size_t)s->order[index * batch + b] * image_bytes, angle,
                  s->host + (size_t)b * image_floats);
    }
    return gan_tensor_write(out, s->host, (size_t)batch * image_floats);
}
