/* layer.h - the layer interface the sequential model drives. Each layer
 * type embeds struct gan_layer first and fills a gan_layer_iface. */
#ifndef GAN_LAYER_H
#define GAN_LAYER_H

#include "gan_internal.h"

typedef struct gan_layer_iface {
    gan_layer_type type;
    /* true: output and input gradient are views of the input / output gradient */
    bool is_view;
    /* Checks the input shape and gives the output's; a failure's message
     * names the layer and the problem. */
    gan_status (*output_shape)(gan_layer *l, int ndim, const int *in, int *out_ndim,
                               int out[GAN_MAX_DIMS]);
    /* Fills l->output (already of the right shape) from l->input. */
    gan_status (*forward)(gan_layer *l, bool training);
    /* From dy: fills l->grad_input when need_dx, accumulates parameter
     * gradients when param_grads (or replaces them, l->replace_grads). */
    gan_status (*backward)(gan_layer *l, const gan_tensor *dy, bool need_dx, bool param_grads);
    /* true: backward can replace the parameter gradients instead of adding
     * to them (l->replace_grads), the same to the bit as adding to zeros */
    bool replaces_grads;
    int (*describe)(const gan_layer *l, char *buf, size_t size);
    void (*destroy)(gan_layer *l); /* (optional) frees the type's own tensors */
} gan_layer_iface;

typedef struct gan_layer_entry {
    const char *name; /* static string: "weight", "running_mean", ... */
    gan_entry_kind kind;
    gan_tensor *value, *grad;
    int64_t *counter;
} gan_layer_entry;

enum { GAN_LAYER_MAX_ENTRIES = 5 };

struct gan_layer {
    const gan_layer_iface *iface;
    gan_context *ctx;
    bool folded;             /* an activation the layer before it applies: runs as a view */
    bool replace_grads;      /* set by the model for one backward (see gan_layer_iface.replaces_grads) */
    const gan_tensor *input; /* borrowed: the last forward's input */
    gan_tensor *output;      /* owned (a view for view layers) */
    gan_tensor *grad_input;  /* owned (a view for view layers) */
    gan_layer_entry entries[GAN_LAYER_MAX_ENTRIES];
    int n_entries;
};

/* Allocates a layer struct of `size` bytes (zeroed) with its base set. */
gan_status gan_layer_new(gan_context *ctx, const gan_layer_iface *iface, size_t size,
                         gan_layer **out);
/* Adds a parameter (value and zeroed grad) or a buffer to the layer's
 * entries; *value receives the tensor, owned by the layer. */
gan_status gan_layer_add_parameter(gan_layer *l, const char *name, int ndim, const int *shape,
                                   gan_tensor **value);
gan_status gan_layer_add_buffer(gan_layer *l, const char *name, int ndim, const int *shape,
                                gan_tensor **value);
void gan_layer_add_counter(gan_layer *l, const char *name, int64_t *counter);
/* The value tensor of entry `name`, or NULL. */
gan_tensor *gan_layer_value(const gan_layer *l, const char *name);
gan_tensor *gan_layer_grad(const gan_layer *l, const char *name);

/* snprintf into a describe buffer, returning the full length */
int gan_describe(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Folding an activation into the batch norm or Linear layer before it
 * (gan_model_add): gan_activation_params gives a ReLU or LeakyReLU layer's
 * activation and slope (false for any other layer); gan_batchnorm_fold and
 * gan_linear_fold make a batch-norm or Linear layer apply that activation
 * itself. */
bool gan_activation_params(const gan_layer *l, gan_activation *act, float *slope);
void gan_batchnorm_fold(gan_layer *bn, gan_activation act, float slope);
void gan_linear_fold(gan_layer *linear, gan_activation act, float slope);
/* Sets a batch-norm layer's momentum and returns the one it had
 * (re-estimating running statistics as a plain mean over batches). */
float gan_batchnorm_exchange_momentum(gan_layer *bn, float momentum);

/* The context a model was made in. */
/* NULL for a NULL model. */
gan_context *gan_model_context(const gan_model *model);

/* gan_model_zero_grad then gan_model_backward, the same to the bit, in one
 * pass: a layer that can replaces its parameters' gradients instead of
 * adding to zeros written first (a Linear layer's weight gradient is then
 * a product that does not read what it overwrites). */
gan_status gan_model_backward_replacing(gan_model *model, const gan_tensor *dy, const gan_tensor **dx);

/* "Conv2d(1, 16, ...): " style prefix for error messages */
const char *gan_layer_label(const gan_layer *l, char *buf, size_t size);

#endif
