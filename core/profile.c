/* profile.c - per-op timing: while profiling, the backend dispatches
 * through a copy of its table whose op entries time the real ones. */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"

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
#define GAN_OP_NAME_(op) #op,
    GAN_BACKEND_OPS(GAN_OP_NAME_)
#undef GAN_OP_NAME_
};

static void record(gan_backend *be, int op, double start)
{
    gan_context *ctx = be->ctx;
    if (ctx->unprofiled->finish)
        ctx->unprofiled->finish(be);
    ctx->profile[op].calls++;
    ctx->profile[op].seconds += now_seconds() - start;
}

/* one wrapper per op: time the backend's own entry */
#define PROFILED(op, params, args)                                \
    static gan_status profiled_##op params                        \
    {                                                             \
        const double start = now_seconds();                       \
        gan_status st = be->ctx->unprofiled->op args;             \
        record(be, GAN_OP_##op, start);                           \
        return st;                                                \
    }

PROFILED(write, (gan_backend *be, gan_tensor *t, const float *src, size_t n), (be, t, src, n))
PROFILED(read, (gan_backend *be, const gan_tensor *t, float *dst, size_t n), (be, t, dst, n))
PROFILED(fill, (gan_backend *be, gan_tensor *t, float v), (be, t, v))
PROFILED(gemm, (gan_backend *be, bool ta, bool tb, int m, int n, int k, float alpha, const gan_tensor *a,
                const gan_tensor *b, float beta, gan_tensor *c), (be, ta, tb, m, n, k, alpha, a, b, beta, c))
PROFILED(bias_add, (gan_backend *be, gan_tensor *y, const gan_tensor *b, int n, int c, int hw), (be, y, b, n, c, hw))
PROFILED(bias_grad, (gan_backend *be, const gan_tensor *dy, gan_tensor *db, int n, int c, int hw),
         (be, dy, db, n, c, hw))
PROFILED(conv2d_forward, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *x, const gan_tensor *w,
                          gan_tensor *y), (be, g, x, w, y))
PROFILED(conv2d_backward_data, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *dy,
                                const gan_tensor *w, gan_tensor *dx), (be, g, dy, w, dx))
PROFILED(conv2d_backward, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *x, const gan_tensor *dy,
                           const gan_tensor *w, gan_tensor *dx, gan_tensor *dw), (be, g, x, dy, w, dx, dw))
PROFILED(conv_transpose2d_backward, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                     const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx, gan_tensor *dw),
         (be, g, x, dy, w, dx, dw))
PROFILED(activation_forward, (gan_backend *be, gan_activation act, float slope, const gan_tensor *x,
                              gan_tensor *y), (be, act, slope, x, y))
PROFILED(activation_backward, (gan_backend *be, gan_activation act, float slope, const gan_tensor *x,
                               const gan_tensor *y, const gan_tensor *dy, gan_tensor *dx),
         (be, act, slope, x, y, dy, dx))
PROFILED(batchnorm_forward_train, (gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,
                                   const gan_tensor *gamma, const gan_tensor *beta, gan_tensor *y,
                                   gan_tensor *mean, gan_tensor *invstd, gan_tensor *rm, gan_tensor *rv),
         (be, a, x, gamma, beta, y, mean, invstd, rm, rv))
PROFILED(batchnorm_forward_eval, (gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,
                                  const gan_tensor *gamma, const gan_tensor *beta, const gan_tensor *rm,
                                  const gan_tensor *rv, gan_tensor *y), (be, a, x, gamma, beta, rm, rv, y))
PROFILED(batchnorm_backward, (gan_backend *be, const gan_batchnorm_args *a, bool batch_stats,
                              const gan_tensor *x, const gan_tensor *y, const gan_tensor *dy,
                              const gan_tensor *gamma, const gan_tensor *mean, const gan_tensor *invstd,
                              gan_tensor *dx, gan_tensor *dgamma, gan_tensor *dbeta),
         (be, a, batch_stats, x, y, dy, gamma, mean, invstd, dx, dgamma, dbeta))
PROFILED(inverse_std, (gan_backend *be, const gan_tensor *var, float eps, gan_tensor *invstd), (be, var, eps, invstd))
PROFILED(bce_logits, (gan_backend *be, const gan_tensor *z, const gan_tensor *t, gan_tensor *grad, float *loss,
                      float *mean_prob), (be, z, t, grad, loss, mean_prob))
PROFILED(bce_probs, (gan_backend *be, const gan_tensor *p, const gan_tensor *t, gan_tensor *grad, float *loss),
         (be, p, t, grad, loss))
PROFILED(adam_step, (gan_backend *be, const gan_adam_step_args *a, gan_tensor *p, const gan_tensor *g,
                     gan_tensor *m, gan_tensor *v), (be, a, p, g, m, v))
PROFILED(sgd_step, (gan_backend *be, const gan_sgd_step_args *a, gan_tensor *p, const gan_tensor *g,
                    gan_tensor *buf), (be, a, p, g, buf))

void gan_context_set_profiling(gan_context *ctx, int enabled)
{
    if (!ctx || (enabled != 0) == (ctx->unprofiled != NULL))
        return;
    if (!enabled) {
        ctx->backend->iface = ctx->unprofiled;
        ctx->unprofiled = NULL;
        return;
    }
    ctx->unprofiled = ctx->backend->iface;
    ctx->profiled = *ctx->unprofiled;
#define GAN_OP_WRAP_(op) ctx->profiled.op = profiled_##op;
    GAN_BACKEND_OPS(GAN_OP_WRAP_)
#undef GAN_OP_WRAP_
    ctx->backend->iface = &ctx->profiled;
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
