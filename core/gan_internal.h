/* gan_internal.h - what the core's files share: the context, the helpers
 * layers use, and the few entries the trainer and checkpoint code share.
 * Backends do not include it (they see gan_backend.h). */
#ifndef GAN_INTERNAL_H
#define GAN_INTERNAL_H

#include "gan_backend.h"

#include <stdarg.h>
#include <stdbool.h>

enum {
#define GAN_OP_ENUM_(op, params, args) GAN_OP_##op,
    GAN_BACKEND_OPS(GAN_OP_ENUM_)
#undef GAN_OP_ENUM_
    GAN_OP_COUNT
};

struct gan_context {
    gan_backend *backend;
    const gan_backend_ops *ops; /* what the core dispatches through: the backend's
                                 * own, or the profiler's timing wrappers */
    gan_backend_env env;        /* lent to the backend */
    gan_op_profile profile[GAN_OP_COUNT];
    gan_backend_kind kind;
    uint64_t rng[4];
    float *host_scratch;     /* for initializers; grows, never shrinks */
    size_t host_scratch_len;
    uint64_t *random_bits;   /* gan_random_normal's draws; grows, never shrinks */
    size_t random_bits_len;  /* pairs of draws random_bits holds */
    char error[4096];        /* room for an OpenCL compiler log */
};

/* Runs backend op `op` of ctx with the arguments after the backend. */
#define GAN_RUN(ctx, op, ...) ((ctx)->ops->op((ctx)->backend, __VA_ARGS__))

/* Records a formatted message for gan_context_error and returns status. */
gan_status gan_fail(gan_context *ctx, gan_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Every public call that returns a gan_status starts here, so that
 * gan_context_error speaks of that call only. ctx may be NULL. */
static inline void gan_clear_error(gan_context *ctx)
{
    if (ctx)
        ctx->error[0] = '\0';
}

/* Tensor helpers for layers: allocate, or reshape in place when the
 * capacity already suffices (so the steady state allocates nothing). */
gan_status gan_tensor_ensure(gan_context *ctx, gan_tensor **t, int ndim, const int *shape);
/* Points view at src's storage with another shape of the same size. */
gan_status gan_tensor_view(gan_context *ctx, gan_tensor **view, const gan_tensor *src, int ndim,
                           const int *shape);
bool gan_tensor_same_shape(const gan_tensor *a, const gan_tensor *b);
/* "[128, 1, 28, 28]" into buf. */
const char *gan_shape_str(int ndim, const int *shape, char *buf, size_t size);
/* The context's message buffer as a sink (no sink for a NULL context), for code
 * that reports to a context or to a caller's buffer alike. */
gan_error_sink gan_context_sink(gan_context *ctx);

/* Reads the whole file at path into *out (the caller frees it):
 * GAN_ERR_IO when it cannot be read, GAN_ERR_FORMAT when it is larger than
 * max_size bytes. */
gan_status gan_read_file(gan_error_sink err, const char *path, size_t max_size, uint8_t **out, size_t *len);
/* Writes the parts one after another to a temporary file beside path,
 * syncs it and renames it over path: readers see the old or the new file,
 * never a partial one. */
gan_status gan_write_file_atomic(gan_context *ctx, const char *path, const void *const *parts,
                                 const size_t *sizes, size_t n_parts);
/* Runs body(arg) through the backend's gather (see gan_backend_iface), or
 * directly where it has none; returns body's status. */
gan_status gan_context_gather(gan_context *ctx, gan_status (*body)(void *arg), void *arg);

/* Host scratch of at least n floats owned by the context. */
float *gan_host_scratch(gan_context *ctx, size_t n);

/* The trainer, as the checkpoint code sees it (trainer.c). */
/* NULL when the parameters are valid, else what is wrong with them. */
const char *gan_trainer_params_check(const gan_trainer_params *params);
gan_optimizer *gan_trainer_optimizer(const gan_trainer *trainer, bool generator);
/* The zoo sizes the trainer was built with, or NULL for given models. */
const gan_models_params *gan_trainer_zoo_params(const gan_trainer *trainer);
void gan_trainer_set_steps(gan_trainer *trainer, int64_t steps);
/* The moving averages of G's parameters (ema_decay), in the order of G's
 * parameter entries; 0 and NULL without. */
size_t gan_trainer_ema_count(const gan_trainer *trainer);
gan_tensor *gan_trainer_ema(const gan_trainer *trainer, size_t k);
/* Replaces the running statistics of G's batch norms by those of its
 * present weights: the mean of the batch statistics over a fixed run of
 * noise batches of G's input shape (z_ndim 2 or 4, z_dim), the same each
 * time, in training mode. The context's random generator is left as it
 * was; the layers' batch counters advance. No batch norm: nothing to do.
 * Returns OK, OUT_OF_MEMORY, BACKEND. */
gan_status gan_generator_estimate_statistics(gan_model *g, int z_ndim, int z_dim);

/* Safetensors files whose metadata carries a checksum of the whole file
 * (header included); false for files of other writers. */
bool gan_safetensors_whole_file_checked(const gan_safetensors *st);
/* As gan_safetensors_load, but only checks that the entry is there with
 * its dtype and shape; copies nothing. */
gan_status gan_safetensors_check(gan_safetensors *st, const gan_entry *entry);

#endif /* GAN_INTERNAL_H */
