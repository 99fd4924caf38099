/* profile.c - per-op timing: while profiling, the context dispatches
 * through a table of wrappers that time the backend's own entries. */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const op_names[GAN_OP_COUNT] = {
#define GAN_OP_NAME_(op, params, args) #op,
    GAN_BACKEND_OPS(GAN_OP_NAME_)
#undef GAN_OP_NAME_
};

/* The context whose environment env is (every backend's env lives in
 * its context). */
static gan_context *context_of(const gan_backend *be)
{
    return (gan_context *)(void *)((char *)be->env - offsetof(gan_context, env));
}

static void record(gan_backend *be, int op, double start)
{
    if (be->iface->finish)
        be->iface->finish(be);
    gan_context *ctx = context_of(be);
    ctx->profile[op].calls++;
    ctx->profile[op].seconds += now_seconds() - start;
}

/* one wrapper per op, from the op list: time the backend's own entry */
#define PROFILED(op, params, args)                                \
    static gan_status profiled_##op params                        \
    {                                                             \
        const double start = now_seconds();                       \
        gan_status st = be->iface->ops.op args;                   \
        record(be, GAN_OP_##op, start);                           \
        return st;                                                \
    }
GAN_BACKEND_OPS(PROFILED)
#undef PROFILED

static const gan_backend_ops profiled_ops = {
#define GAN_OP_WRAP_(op, params, args) .op = profiled_##op,
    GAN_BACKEND_OPS(GAN_OP_WRAP_)
#undef GAN_OP_WRAP_
};

void gan_context_set_profiling(gan_context *ctx, int enabled)
{
    if (ctx)
        ctx->ops = enabled ? &profiled_ops : &ctx->backend->iface->ops;
}

static int by_time(const void *a, const void *b)
{
    const gan_op_profile *x = a, *y = b;
    return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : 0;
}

int gan_context_profile(const gan_context *ctx, gan_op_profile *out, int max)
{
    gan_op_profile sorted[GAN_OP_COUNT];
    int n = 0;
    for (int i = 0; ctx && i < GAN_OP_COUNT; i++)
        if (ctx->profile[i].calls) {
            sorted[n] = ctx->profile[i];
            sorted[n++].op = op_names[i];
        }
    qsort(sorted, (size_t)n, sizeof sorted[0], by_time);
    for (int i = 0; i < n && i < max; i++)
        out[i] = sorted[i];
    return n;
}

void gan_context_reset_profile(gan_context *ctx)
{
    if (ctx)
        memset(ctx->profile, 0, sizeof ctx->profile);
}
