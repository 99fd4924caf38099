/* tensor.c - tensors: shapes on the host, storage in the backend. */
#include "gan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gan_shape_str(int ndim, const int *shape, char *buf, size_t size)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? ", %d" : "%d", shape[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

static gan_status check_shape(gan_context *ctx, int ndim, const int *shape, size_t *numel)
{
    if (ndim < 1 || ndim > GAN_MAX_DIMS)
        return gan_fail(ctx, GAN_ERR_SHAPE, "tensor: %d dimensions, expected 1 to %d", ndim,
                        GAN_MAX_DIMS);
    if (!shape)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "tensor: shape is NULL");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return gan_fail(ctx, GAN_ERR_SHAPE, "tensor: dimension %d is %d, must be >= 1", i,
                            shape[i]);
        if (n > ((size_t)1 << 40) / (size_t)shape[i])
            return gan_fail(ctx, GAN_ERR_SHAPE, "tensor: too many elements");
        n *= (size_t)shape[i];
    }
    *numel = n;
    return GAN_OK;
}

static void set_shape(gan_tensor *t, int ndim, const int *shape, size_t numel)
{
    t->ndim = ndim;
    for (int i = 0; i < GAN_MAX_DIMS; i++)
        t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
}

gan_status gan_tensor_create(gan_context *ctx, int ndim, const int *shape, gan_tensor **out)
{
    gan_clear_error(ctx);
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_tensor_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    size_t numel;
    gan_status st = check_shape(ctx, ndim, shape, &numel);
    if (st != GAN_OK)
        return st;
    gan_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_tensor_create: out of host memory");
    t->ctx = ctx;
    set_shape(t, ndim, shape, numel);
    st = ctx->backend->iface->alloc(ctx->backend, numel, &t->data);
    if (st != GAN_OK) {
        free(t);
        return gan_fail(ctx, st, "gan_tensor_create: cannot allocate %zu floats", numel);
    }
    t->capacity = numel;
    t->owns_data = true;
    gan_backend_track_memory(&ctx->env, (ptrdiff_t)(numel * sizeof(float)));
    st = GAN_RUN(ctx, fill, t, 0.0f);
    if (st != GAN_OK) {
        gan_tensor_free(t);
        return st;
    }
    *out = t;
    return GAN_OK;
}

void gan_tensor_free(gan_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data && t->data) {
        t->ctx->backend->iface->release(t->ctx->backend, t->data);
        gan_backend_track_memory(&t->ctx->env, -(ptrdiff_t)(t->capacity * sizeof(float)));
    }
    free(t);
}

gan_status gan_tensor_ensure(gan_context *ctx, gan_tensor **t, int ndim, const int *shape)
{
    size_t numel;
    gan_status st = check_shape(ctx, ndim, shape, &numel);
    if (st != GAN_OK)
        return st;
    if (*t && (*t)->owns_data && (*t)->capacity >= numel) {
        set_shape(*t, ndim, shape, numel);
        return GAN_OK;
    }
    gan_tensor_free(*t);
    *t = NULL;
    return gan_tensor_create(ctx, ndim, shape, t);
}

gan_status gan_tensor_view(gan_context *ctx, gan_tensor **view, const gan_tensor *src, int ndim,
                           const int *shape)
{
    size_t numel;
    gan_status st = check_shape(ctx, ndim, shape, &numel);
    if (st != GAN_OK)
        return st;
    if (numel != src->numel)
        return gan_fail(ctx, GAN_ERR_SHAPE, "view of %zu elements over a tensor of %zu", numel,
                        src->numel);
    if (!*view) {
        *view = calloc(1, sizeof **view);
        if (!*view)
            return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "tensor view: out of host memory");
    }
    gan_tensor *v = *view;
    v->ctx = ctx;
    v->data = src->data;
    v->capacity = src->capacity;
    v->owns_data = false;
    set_shape(v, ndim, shape, numel);
    return GAN_OK;
}

bool gan_tensor_same_shape(const gan_tensor *a, const gan_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

int gan_tensor_ndim(const gan_tensor *t) { return t ? t->ndim : 0; }
int gan_tensor_dim(const gan_tensor *t, int i) { return t && i >= 0 && i < t->ndim ? t->shape[i] : 0; }
size_t gan_tensor_numel(const gan_tensor *t) { return t ? t->numel : 0; }

static gan_status check_io(const gan_tensor *t, const void *p, size_t count, const char *fn)
{
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!p)
        return gan_fail(t->ctx, GAN_ERR_INVALID_ARGUMENT, "%s: buffer is NULL", fn);
    if (count != t->numel)
        return gan_fail(t->ctx, GAN_ERR_SHAPE, "%s: %zu floats given, tensor holds %zu", fn, count,
                        t->numel);
    return GAN_OK;
}

gan_status gan_tensor_write(gan_tensor *t, const float *src, size_t count)
{
    gan_clear_error(t ? t->ctx : NULL);
    gan_status st = check_io(t, src, count, "gan_tensor_write");
    if (st != GAN_OK)
        return st;
    return GAN_RUN(t->ctx, write, t, src, count);
}

gan_status gan_tensor_read(const gan_tensor *t, float *dst, size_t count)
{
    gan_clear_error(t ? t->ctx : NULL);
    gan_status st = check_io(t, dst, count, "gan_tensor_read");
    if (st != GAN_OK)
        return st;
    return GAN_RUN(t->ctx, read, t, dst, count);
}

gan_status gan_tensor_copy(gan_tensor *dst, size_t dst_offset, const gan_tensor *src, size_t src_offset,
                           size_t count)
{
    gan_clear_error(dst ? dst->ctx : NULL);
    if (!dst)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = dst->ctx;
    if (!src)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_tensor_copy: src is NULL");
    if (src->ctx != ctx)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_tensor_copy: the tensors belong to different contexts");
    if (count > dst->numel || dst_offset > dst->numel - count || count > src->numel ||
        src_offset > src->numel - count)
        return gan_fail(ctx, GAN_ERR_SHAPE,
                        "gan_tensor_copy: %zu floats from %zu of %zu into %zu of %zu run past a tensor's end", count,
                        src_offset, src->numel, dst_offset, dst->numel);
    if (dst->data == src->data && dst_offset < src_offset + count && src_offset < dst_offset + count)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_tensor_copy: floats %zu to %zu and %zu to %zu of one tensor overlap", src_offset,
                        src_offset + count, dst_offset, dst_offset + count);
    return count ? GAN_RUN(ctx, copy, dst, dst_offset, src, src_offset, count) : GAN_OK;
}

gan_status gan_tensor_fill(gan_tensor *t, float value)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    return GAN_RUN(t->ctx, fill, t, value);
}

/* Random values are drawn on the host so every backend sees the same ones. */
static gan_status fill_random(gan_tensor *t, float a, float b, bool normal)
{
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    float *host = gan_host_scratch(t->ctx, t->numel);
    if (!host)
        return gan_fail(t->ctx, GAN_ERR_OUT_OF_MEMORY, "fill: out of host memory");
    gan_status st = normal ? gan_random_normal(t->ctx, host, t->numel, a, b)
                           : gan_random_uniform(t->ctx, host, t->numel, a, b);
    if (st != GAN_OK)
        return st;
    return gan_tensor_write(t, host, t->numel);
}

gan_status gan_tensor_fill_normal(gan_tensor *t, float mean, float std)
{
    gan_clear_error(t ? t->ctx : NULL);
    return fill_random(t, mean, std, true);
}

gan_status gan_tensor_fill_uniform(gan_tensor *t, float low, float high)
{
    gan_clear_error(t ? t->ctx : NULL);
    return fill_random(t, low, high, false);
}
