/* gan_backend.h - what a backend sees: the tensor, the op list with each
 * op's arguments, the table a backend fills, and its environment (threads,
 * memory and transfer counters, where its messages go). Backends include
 * this header only; the core reaches them through the registry at its end. */
#ifndef GAN_BACKEND_H
#define GAN_BACKEND_H

#include "gan.h"

#include <stdarg.h>
#include <stdbool.h>

/* Where a failure's message goes: a caller's buffer (buf NULL or size 0:
 * nowhere). */
typedef struct gan_error_sink {
    char *buf;
    size_t size;
} gan_error_sink;
/* Writes the formatted message into sink and returns status. */
gan_status gan_sink_fail(gan_error_sink sink, gan_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A backend's environment, owned by its context and lent to the backend
 * for its whole life. */
typedef struct gan_backend_env {
    int num_threads;              /* read only: threads the backend may use */
    size_t memory_in_use, memory_peak; /* bytes; through gan_backend_track_memory */
    gan_transfer_stats transfers; /* host <-> device copies, counted by device backends */
    gan_error_sink error;         /* where failures' messages go */
} gan_backend_env;

/* Memory the backend takes (+) or gives back (-), in bytes. */
void gan_backend_track_memory(gan_backend_env *env, ptrdiff_t bytes);

typedef struct gan_backend gan_backend;

struct gan_tensor {
    gan_context *ctx;
    int ndim;
    int shape[GAN_MAX_DIMS];
    size_t numel;
    size_t capacity;    /* floats allocated in data */
    void *data;         /* backend handle: float * on the CPU, cl_mem on OpenCL */
    bool owns_data;     /* false for views (Flatten, Reshape) */
};

/* Geometry of a 2-D convolution from input [n, in_c, in_h, in_w] to output
 * [n, out_c, out_h, out_w]. A transposed convolution is described by the
 * convolution it is the adjoint of (input and output swapped). */
typedef struct gan_conv_geom {
    int n, in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
} gan_conv_geom;

typedef enum gan_activation {
    GAN_ACT_RELU,
    GAN_ACT_LEAKY_RELU,
    GAN_ACT_TANH,
    GAN_ACT_SIGMOID
} gan_activation;

typedef struct gan_adam_step_args {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* 1 on the first update */
} gan_adam_step_args;

typedef struct gan_sgd_step_args {
    float lr, momentum, dampening, weight_decay;
    int nesterov;
    int first; /* momentum buffer starts as the gradient */
} gan_sgd_step_args;

typedef struct gan_batchnorm_args {
    int n, c, hw;
    float eps, momentum;
    /* An activation folded into the batch norm (see gan_model_add): when
     * set, ReLU or LeakyReLU (slope >= 0) applies to the output, and
     * backward first takes dy through it, reading the output (y > 0 exactly
     * where the activation's input was). */
    bool activate;
    gan_activation act;
    float slope;
} gan_batchnorm_args;

/* One entry per op, the one list the interface, the profiler and the op
 * names are made from: X(name, (parameters), (arguments)). Arguments are
 * validated by the core before dispatch; ops return GAN_OK or a device
 * error. Tensors are accessed through ->data. "Accumulate" means the result
 * is added to what the output holds. */
#define GAN_BACKEND_OPS(X)                                                                                \
    /* memory: copies in and out, a constant, and a copy between tensors */                              \
    X(write, (gan_backend *be, gan_tensor *t, const float *src, size_t n), (be, t, src, n))              \
    X(read, (gan_backend *be, const gan_tensor *t, float *dst, size_t n), (be, t, dst, n))               \
    X(fill, (gan_backend *be, gan_tensor *t, float value), (be, t, value))                              \
    /* dst's floats [dst_at, dst_at + n) = src's [src_at, src_at + n), on the device (ranges within    \
     * the tensors; one tensor's two ranges do not overlap) */                                           \
    X(copy, (gan_backend *be, gan_tensor *dst, size_t dst_at, const gan_tensor *src, size_t src_at,     \
             size_t n),                                                                                  \
      (be, dst, dst_at, src, src_at, n))                                                                 \
    /* C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major, whole tensors */                 \
    X(gemm, (gan_backend *be, bool trans_a, bool trans_b, int m, int n, int k, float alpha,              \
             const gan_tensor *a, const gan_tensor *b, float beta, gan_tensor *c),                        \
      (be, trans_a, trans_b, m, n, k, alpha, a, b, beta, c))                                             \
    /* y[n][c][hw] += bias[c]; dbias[c] += sum over n, hw of dy (accumulate) */                         \
    X(bias_add, (gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw),         \
      (be, y, bias, n, c, hw))                                                                           \
    X(bias_grad, (gan_backend *be, const gan_tensor *dy, gan_tensor *dbias, int n, int c, int hw),      \
      (be, dy, dbias, n, c, hw))                                                                         \
    /* A ReLU or LeakyReLU (slope >= 0) folded into the layer before it: y = act(y + bias[c]) in      \
     * place (bias may be NULL), the same values as bias_add then activation_forward; backward, dz = \
     * dy through act, decided on y (positive exactly where act's input is), and dbias += sum over   \
     * n, hw of dz when dbias is not NULL, the same values as activation_backward then bias_grad */  \
    X(bias_activation, (gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw,   \
                        gan_activation act, float slope),                                                \
      (be, y, bias, n, c, hw, act, slope))                                                               \
    X(activation_bias_grad, (gan_backend *be, gan_activation act, float slope, const gan_tensor *y,     \
                             const gan_tensor *dy, gan_tensor *dz, gan_tensor *dbias, int n, int c,      \
                             int hw),                                                                     \
      (be, act, slope, y, dy, dz, dbias, n, c, hw))                                                      \
    /* Gradients of y = conv(x, w): dx = conv^T(dy, w) when dx is not NULL, dw += correlation of x    \
     * and dy when dw is not NULL; in one pass so the two share their intermediates. x is read only   \
     * for dw (may be NULL). With dw NULL this is a transposed convolution's forward pass. */          \
    X(conv2d_backward, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,                   \
                        const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx, gan_tensor *dw),      \
      (be, g, x, dy, w, dx, dw))                                                                         \
    /* Gradients of the transposed convolution y = conv^T(x, w) (g describes conv; x has its          \
     * output's shape): dx = conv(dy, w) when dx is not NULL, dw += correlation of dy and x when dw    \
     * is not NULL. x is read only for dw (may be NULL). With dw NULL this is a convolution's         \
     * forward pass. */                                                                                 \
    X(conv_transpose2d_backward, (gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,         \
                                  const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx,             \
                                  gan_tensor *dw),                                                       \
      (be, g, x, dy, w, dx, dw))                                                                         \
    /* elementwise; backward gets the forward's input x and output y */                                 \
    X(activation_forward, (gan_backend *be, gan_activation act, float slope, const gan_tensor *x,       \
                           gan_tensor *y),                                                               \
      (be, act, slope, x, y))                                                                            \
    X(activation_backward, (gan_backend *be, gan_activation act, float slope, const gan_tensor *x,      \
                            const gan_tensor *y, const gan_tensor *dy, gan_tensor *dx),                  \
      (be, act, slope, x, y, dy, dx))                                                                    \
    /* Training: normalizes by batch statistics, saves mean and 1/std, updates running statistics    \
     * (unbiased variance). Eval: uses running statistics. */                                           \
    X(batchnorm_forward_train, (gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,      \
                                const gan_tensor *gamma, const gan_tensor *beta, gan_tensor *y,          \
                                gan_tensor *save_mean, gan_tensor *save_invstd,                          \
                                gan_tensor *running_mean, gan_tensor *running_var),                      \
      (be, a, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var))                    \
    X(batchnorm_forward_eval, (gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,       \
                               const gan_tensor *gamma, const gan_tensor *beta,                          \
                               const gan_tensor *running_mean, const gan_tensor *running_var,            \
                               gan_tensor *y),                                                           \
      (be, a, x, gamma, beta, running_mean, running_var, y))                                             \
    /* mean/invstd are the saved batch statistics (training) or those of the running statistics      \
     * (eval, where batch_stats is false). y is the forward's output, read only when a->activate.    \
     * dx may be NULL; dgamma/dbeta accumulate and may be NULL. */                                      \
    X(batchnorm_backward, (gan_backend *be, const gan_batchnorm_args *a, bool batch_stats,              \
                           const gan_tensor *x, const gan_tensor *y, const gan_tensor *dy,               \
                           const gan_tensor *gamma, const gan_tensor *mean, const gan_tensor *invstd,    \
                           gan_tensor *dx, gan_tensor *dgamma, gan_tensor *dbeta),                       \
      (be, a, batch_stats, x, y, dy, gamma, mean, invstd, dx, dgamma, dbeta))                            \
    /* invstd[c] = 1 / sqrt(var[c] + eps) */                                                             \
    X(inverse_std, (gan_backend *be, const gan_tensor *var, float eps, gan_tensor *invstd),             \
      (be, var, eps, invstd))                                                                            \
    /* mean BCE; grad may be NULL; mean_prob may be NULL */                                             \
    X(bce_logits, (gan_backend *be, const gan_tensor *z, const gan_tensor *t, gan_tensor *grad,         \
                   float *loss, float *mean_prob),                                                       \
      (be, z, t, grad, loss, mean_prob))                                                                 \
    X(bce_probs, (gan_backend *be, const gan_tensor *p, const gan_tensor *t, gan_tensor *grad,          \
                  float *loss),                                                                          \
      (be, p, t, grad, loss))                                                                            \
    /* z and t [rows, classes]: mean over rows of -sum t log softmax(z); grad (may be NULL) =          \
     * (softmax(z) - t) / rows; *correct: rows whose first largest z is at t's first largest */       \
    X(softmax_xent, (gan_backend *be, const gan_tensor *z, const gan_tensor *t, int rows, int classes,  \
                     gan_tensor *grad, float *loss, int *correct),                                        \
      (be, z, t, rows, classes, grad, loss, correct))                                                    \
    /* x holds n rows; row i < n/2 pairs with row i + n/2 (an odd last row sits out). *sum = the     \
     * sum over the pairs' elements of |x_i - x_i+n/2|; then grad of row i += coef * sign(x_i -      \
     * x_i+n/2) and grad of its partner -= the same (sign(0) = 0): gan_mode_seeking's two passes */  \
    X(pair_abs_diff_sum, (gan_backend *be, const gan_tensor *x, int n, double *sum), (be, x, n, sum))   \
    X(pair_sign_diff_add, (gan_backend *be, const gan_tensor *x, int n, float coef, gan_tensor *grad),  \
      (be, x, n, coef, grad))                                                                            \
    /* optimizers, in place on param and state */                                                       \
    X(adam_step, (gan_backend *be, const gan_adam_step_args *a, gan_tensor *param,                      \
                  const gan_tensor *grad, gan_tensor *exp_avg, gan_tensor *exp_avg_sq),                  \
      (be, a, param, grad, exp_avg, exp_avg_sq))                                                         \
    X(sgd_step, (gan_backend *be, const gan_sgd_step_args *a, gan_tensor *param,                        \
                 const gan_tensor *grad, gan_tensor *momentum_buf),                                      \
      (be, a, param, grad, momentum_buf))                                                                \
    /* average = decay * average + (1 - decay) * value, elementwise (a moving average of weights) */    \
    X(ema_update, (gan_backend *be, gan_tensor *average, const gan_tensor *value, float decay),          \
      (be, average, value, decay))

/* The ops alone, one member per entry of GAN_BACKEND_OPS: the table the
 * core dispatches through. */
typedef struct gan_backend_ops {
#define GAN_OP_MEMBER_(op, params, args) gan_status(*op) params;
    GAN_BACKEND_OPS(GAN_OP_MEMBER_)
#undef GAN_OP_MEMBER_
} gan_backend_ops;

typedef struct gan_backend_iface {
    const char *name;
    void (*destroy)(gan_backend *be);
    void (*finish)(gan_backend *be); /* (optional) NULL = ops complete synchronously */
    /* (optional) runs body(arg) on the calling thread with the backend's
     * threads kept at hand for the ops it calls, and returns its status
     * (a training step: see cpu_team.h); NULL = the core calls body itself */
    gan_status (*gather)(gan_backend *be, gan_status (*body)(void *arg), void *arg);
    gan_status (*alloc)(gan_backend *be, size_t n_floats, void **data);
    void (*release)(gan_backend *be, void *data);
    gan_backend_ops ops;
} gan_backend_iface;

/* The start of every backend's own struct. */
struct gan_backend {
    const gan_backend_iface *iface;
    gan_backend_env *env;
};

/* ------------------------------------------------------------- registry */

/* A backend the library knows, built in or not. create makes one on the
 * given device (ignored by backends without devices), with env lent to it,
 * or fails with a message in env->error; NULL when this build lacks the
 * backend, and missing then says what to install. */
typedef struct gan_backend_entry {
    gan_backend_kind kind;
    const char *name;
    gan_status (*create)(gan_backend_env *env, int device, gan_backend **out);
    const char *missing;
} gan_backend_entry;

/* The entry for kind, or NULL when the library does not know it. */
const gan_backend_entry *gan_backend_find(gan_backend_kind kind);

#endif /* GAN_BACKEND_H */
