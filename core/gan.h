/* gan.h - libgan: train GANs and DCGANs in portable C.
 *
 * A context owns a compute backend (CPU with OpenMP/SIMD, or OpenCL). Tensors
 * are float32, NCHW, and live in the backend's memory: data moves in and out
 * only through gan_tensor_write / gan_tensor_read. Layers are stacked in a
 * sequential model; losses and optimizers work on the model's tensors.
 *
 * Build: cmake -B build && cmake --build build; link with -lgan.
 *
 *   gan_context *ctx; gan_model *d; gan_layer *l;
 *   gan_context_params p = gan_context_default_params();
 *   gan_context_create(&p, &ctx, NULL, 0);
 *   gan_model_create(ctx, &d);
 *   gan_linear_create(ctx, 784, 1, 1, &l); gan_model_add(d, l);
 *   const gan_tensor *logits; gan_model_forward(d, x, &logits);
 *   gan_bce_with_logits(ctx, logits, ones, dlogits, &loss, NULL);
 *   gan_model_backward(d, dlogits, NULL); gan_optimizer_step(adam);
 *
 * Every function that can fail returns a gan_status, and says which codes
 * it can return in a "Returns" line (GAN_ prefix left out); GAN_STATUS_MAP
 * says what each means. On failure the context keeps a message naming the
 * problem (gan_context_error); each such call clears it first. A NULL
 * handle gives GAN_ERR_INVALID_ARGUMENT without a message, there being no
 * context to hold one. BACKEND is a device's failure (OpenCL), which the
 * CPU backend never returns. The library never prints, exits or aborts.
 * A context and everything made from it must be used from one thread at a
 * time; separate contexts are independent.
 */
#ifndef GAN_H
#define GAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(GAN_SHARED)
#  ifdef GAN_BUILDING
#    define GAN_API __declspec(dllexport)
#  else
#    define GAN_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define GAN_API __attribute__((visibility("default")))
#else
#  define GAN_API
#endif

#define GAN_VERSION_MAJOR 0
#define GAN_VERSION_MINOR 1
#define GAN_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

/* X(name, value, description): one list makes the enum and gan_strerror. */
#define GAN_STATUS_MAP(X)                                                        \
    X(OK, 0, "success")                                                          \
    X(ERR_INVALID_ARGUMENT, -1, "invalid argument")                              \
    X(ERR_SHAPE, -2, "tensor shape mismatch")                                    \
    X(ERR_OUT_OF_MEMORY, -3, "out of memory")                                    \
    X(ERR_STATE, -4, "call made in the wrong state")                             \
    X(ERR_UNAVAILABLE, -5, "backend not available")                              \
    X(ERR_BACKEND, -6, "backend device error")                                   \
    X(ERR_IO, -7, "input/output error")                                          \
    X(ERR_FORMAT, -8, "corrupt or unsupported data")

typedef enum gan_status {
#define GAN_STATUS_ENUM_(name, value, text) GAN_##name = value,
    GAN_STATUS_MAP(GAN_STATUS_ENUM_)
#undef GAN_STATUS_ENUM_
} gan_status;

/* A static description of a status code; never NULL. */
GAN_API const char *gan_strerror(gan_status status);

/* --------------------------------------------------------------- context */

typedef struct gan_context gan_context;

typedef enum gan_backend_kind {
    GAN_BACKEND_CPU = 0,
    GAN_BACKEND_OPENCL = 1
} gan_backend_kind;

typedef struct gan_context_params {
    gan_backend_kind backend; /* default GAN_BACKEND_CPU */
    int num_threads;          /* CPU threads; 0 = all cores (default) */
    uint64_t seed;            /* seed of the context's random generator */
    int device;               /* device index for device backends (default 0) */
} gan_context_params;

GAN_API gan_context_params gan_context_default_params(void);

/* Creates a context; *out is NULL on failure, and error (may be NULL)
 * receives a message naming the problem and its fix. Returns
 * GAN_ERR_UNAVAILABLE when the backend was not built in or has no usable
 * device (no OpenCL driver, no such device, a device too old).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, UNAVAILABLE, BACKEND. */
GAN_API gan_status gan_context_create(const gan_context_params *params, gan_context **out,
                                      char *error, size_t error_size);

/* Frees the context. Free every tensor, model and optimizer made from it
 * first. NULL is a no-op. */
GAN_API void gan_context_free(gan_context *ctx);

/* The message of the last call on this context that returns a gan_status,
 * naming the problem when it failed; "" when it succeeded. Valid until the
 * next call on the context. */
GAN_API const char *gan_context_error(const gan_context *ctx);

GAN_API gan_backend_kind gan_context_backend(const gan_context *ctx);
GAN_API const char *gan_context_backend_name(const gan_context *ctx);
/* Threads the CPU backend uses (1 when built without OpenMP). */
GAN_API int gan_context_num_threads(const gan_context *ctx);

/* Copies between host and device memory made by a device backend (the CPU
 * backend has none): tensor reads and writes, and the loss values. */
typedef struct gan_transfer_stats {
    uint64_t uploads, downloads;
    uint64_t bytes_up, bytes_down;
} gan_transfer_stats;
GAN_API gan_transfer_stats gan_context_transfers(const gan_context *ctx);
GAN_API void gan_context_reset_transfers(gan_context *ctx);

/* Per-op timing: when enabled, every backend op is timed (device backends
 * then wait for each op to finish, which costs some speed). */
typedef struct gan_op_profile {
    const char *op;  /* static name: "gemm", "conv2d_backward", ... */
    uint64_t calls;
    double seconds;
} gan_op_profile;
GAN_API void gan_context_set_profiling(gan_context *ctx, int enabled);
/* Fills up to max entries, most time first, for the ops that ran since the
 * last reset; returns how many ran. */
GAN_API int gan_context_profile(const gan_context *ctx, gan_op_profile *out, int max);
GAN_API void gan_context_reset_profile(gan_context *ctx);

/* Bytes the backend holds for tensors and workspaces, now and at most. */
GAN_API void gan_context_memory(const gan_context *ctx, size_t *in_use, size_t *peak);

/* An OpenCL device as gan_opencl_devices lists it. */
typedef struct gan_device_info {
    int index;              /* the value of gan_context_params.device */
    int is_gpu;
    char platform[128], name[128], vendor[128], version[128];
    uint64_t global_memory; /* bytes */
    int compute_units;
} gan_device_info;

/* Lists the OpenCL devices of every platform, GPUs first; fills up to max
 * entries and sets *count to how many exist. GAN_ERR_UNAVAILABLE, with a
 * message in error (may be NULL) naming the driver to install, when there
 * is no OpenCL platform or device or the library was built without OpenCL.
 * Returns OK, UNAVAILABLE. */
GAN_API gan_status gan_opencl_devices(gan_device_info *out, int max, int *count, char *error,
                                      size_t error_size);

/* ---------------------------------------------------------------- random */

/* The context's generator (xoshiro256**) is deterministic: the same seed and
 * the same sequence of calls give the same numbers on every run (integers on
 * every machine; normals go through libm's log, sin and cos). */
GAN_API void gan_random_seed(gan_context *ctx, uint64_t seed);
GAN_API uint64_t gan_random_u64(gan_context *ctx);
/* Uniform integer in [0, bound); bound must be > 0 (0 returns 0). */
GAN_API uint64_t gan_random_below(gan_context *ctx, uint64_t bound);
/* Fill host arrays; dst is the caller's.
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_random_uniform(gan_context *ctx, float *dst, size_t n, float low, float high);
/* Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_random_normal(gan_context *ctx, float *dst, size_t n, float mean, float std);
/* The generator's full state, for checkpoints. */
GAN_API void gan_random_get_state(const gan_context *ctx, uint64_t state[4]);
/* The all-zero state is not valid (GAN_ERR_INVALID_ARGUMENT).
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_random_set_state(gan_context *ctx, const uint64_t state[4]);

/* --------------------------------------------------------------- tensors */

#define GAN_MAX_DIMS 4

/* A float32 tensor in the context's backend memory. */
typedef struct gan_tensor gan_tensor;

/* Creates a tensor of 1 to GAN_MAX_DIMS dimensions, each >= 1, zero-filled.
 * The caller owns *out and frees it with gan_tensor_free.
 * Returns OK, INVALID_ARGUMENT, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_tensor_create(gan_context *ctx, int ndim, const int *shape, gan_tensor **out);
/* NULL is a no-op. */
GAN_API void gan_tensor_free(gan_tensor *t);

GAN_API int gan_tensor_ndim(const gan_tensor *t);
/* Size of dimension i, or 0 when i is out of range. */
GAN_API int gan_tensor_dim(const gan_tensor *t, int i);
GAN_API size_t gan_tensor_numel(const gan_tensor *t);

/* Copy count floats in or out; count must equal gan_tensor_numel.
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_tensor_write(gan_tensor *t, const float *src, size_t count);
/* Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_tensor_read(const gan_tensor *t, float *dst, size_t count);
/* Copies count floats of src, from src_offset on, into dst from dst_offset
 * on (offsets count floats in the tensors' row-major order), without
 * leaving the device: batches put side by side, for one. Both tensors
 * belong to one context. INVALID_ARGUMENT when a tensor's two ranges (or a
 * view's and its tensor's) overlap; SHAPE when a range runs past its
 * tensor's end.
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_tensor_copy(gan_tensor *dst, size_t dst_offset, const gan_tensor *src, size_t src_offset,
                                   size_t count);
/* Returns OK, INVALID_ARGUMENT, BACKEND. */
GAN_API gan_status gan_tensor_fill(gan_tensor *t, float value);
/* Fill from the context's generator (the initializers).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_tensor_fill_normal(gan_tensor *t, float mean, float std);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_tensor_fill_uniform(gan_tensor *t, float low, float high);

/* ---------------------------------------------------------------- layers */

/* A layer is owned by its creator until gan_model_add takes it. */
typedef struct gan_layer gan_layer;

typedef enum gan_layer_type {
    GAN_LAYER_LINEAR,
    GAN_LAYER_CONV2D,
    GAN_LAYER_CONV_TRANSPOSE2D,
    GAN_LAYER_BATCHNORM1D,
    GAN_LAYER_BATCHNORM2D,
    GAN_LAYER_RELU,
    GAN_LAYER_LEAKY_RELU,
    GAN_LAYER_TANH,
    GAN_LAYER_SIGMOID,
    GAN_LAYER_FLATTEN,
    GAN_LAYER_RESHAPE
} gan_layer_type;

/* Linear: [N, in] -> [N, out], weight [out, in], bias [out]. Parameters start
 * as PyTorch's default, uniform(-1/sqrt(in), 1/sqrt(in)).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_linear_create(gan_context *ctx, int in_features, int out_features,
                                     int bias, gan_layer **out);
/* A Linear layer's sizes and whether it has a bias (any pointer may be NULL);
 * GAN_ERR_INVALID_ARGUMENT for any other layer.
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_linear_get_features(const gan_layer *layer, int *in_features, int *out_features,
                                           int *bias);

typedef struct gan_conv2d_params {
    int in_channels, out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;        /* >= 1 */
    int pad_h, pad_w;              /* >= 0 */
    int output_pad_h, output_pad_w; /* transposed only; < stride */
    int bias;                      /* nonzero: learn a per-channel bias */
} gan_conv2d_params;

/* Square kernel, stride 1, padding 0, with bias. */
GAN_API gan_conv2d_params gan_conv2d_default_params(int in_channels, int out_channels, int kernel);

/* Conv2d: weight [out, in, kh, kw]; output (H + 2p - k) / s + 1.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_conv2d_create(gan_context *ctx, const gan_conv2d_params *params, gan_layer **out);
/* ConvTranspose2d: weight [in, out, kh, kw] as PyTorch; output
 * (H - 1) * s - 2p + k + output_pad.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_conv_transpose2d_create(gan_context *ctx, const gan_conv2d_params *params,
                                               gan_layer **out);
/* The parameters a Conv2d or ConvTranspose2d layer was made with;
 * GAN_ERR_INVALID_ARGUMENT for any other layer.
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_conv2d_get_params(const gan_layer *layer, gan_conv2d_params *params);

/* BatchNorm over [N, C] or [N, C, L] (1d) or [N, C, H, W] (2d). gamma = 1,
 * beta = 0, running mean 0, running var 1; momentum as PyTorch (0.1).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_batchnorm1d_create(gan_context *ctx, int num_features, float eps,
                                          float momentum, gan_layer **out);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_batchnorm2d_create(gan_context *ctx, int num_features, float eps,
                                          float momentum, gan_layer **out);

/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_relu_create(gan_context *ctx, gan_layer **out);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_leaky_relu_create(gan_context *ctx, float negative_slope, gan_layer **out);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_tanh_create(gan_context *ctx, gan_layer **out);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_sigmoid_create(gan_context *ctx, gan_layer **out);
/* Flatten: [N, ...] -> [N, prod(...)].
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_flatten_create(gan_context *ctx, gan_layer **out);
/* Reshape: [N, ...] -> [N, shape...] (PyTorch's Unflatten(1, shape)); ndim <= 3.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_reshape_create(gan_context *ctx, int ndim, const int *shape, gan_layer **out);

/* For a layer never added to a model. NULL is a no-op. */
GAN_API void gan_layer_free(gan_layer *layer);
GAN_API gan_layer_type gan_layer_get_type(const gan_layer *layer);
/* A one-line description in PyTorch's style, e.g. "Conv2d(1, 16, kernel_size=(3, 3), ...)".
 * Writes at most size bytes, always NUL-terminated; returns the full length. */
GAN_API int gan_layer_describe(const gan_layer *layer, char *buf, size_t size);

/* ----------------------------------------------------------------- model */

/* A sequential model; it owns its layers and their tensors. */
typedef struct gan_model gan_model;

/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_model_create(gan_context *ctx, gan_model **out);
/* Frees the model and its layers. NULL is a no-op. */
GAN_API void gan_model_free(gan_model *model);

/* Appends a layer; the model takes ownership, also when this fails (the
 * layer is then freed). Add every layer before creating an optimizer.
 * A ReLU or LeakyReLU (slope >= 0) added right after a batch norm is run
 * by the batch norm, a pass over the feature maps fewer each way, with the
 * same results to the bit.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_model_add(gan_model *model, gan_layer *layer);

GAN_API size_t gan_model_layer_count(const gan_model *model);
/* Borrowed; NULL when i is out of range. */
GAN_API const gan_layer *gan_model_layer(const gan_model *model, size_t i);

/* Output shape of layer i for an input of the given shape (for summaries);
 * checks every layer's expectations without computing anything.
 * Returns OK, INVALID_ARGUMENT, SHAPE. */
GAN_API gan_status gan_model_layer_output_shape(gan_model *model, size_t i, int in_ndim,
                                                const int *in_shape, int *out_ndim,
                                                int out_shape[GAN_MAX_DIMS]);

/* Forward pass. x is borrowed and must stay unchanged until backward.
 * *y belongs to the model and stays valid until the next forward.
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_model_forward(gan_model *model, const gan_tensor *x, const gan_tensor **y);
/* Backward pass after forward: dy has the output's shape. Parameter
 * gradients are accumulated (see gan_model_zero_grad); *dx (may be NULL)
 * receives the input gradient, owned by the model. Without dx the pass
 * stops at the first layer with parameters (frozen: runs no layer).
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_model_backward(gan_model *model, const gan_tensor *dy, const gan_tensor **dx);

/* Returns OK, INVALID_ARGUMENT, BACKEND. */
GAN_API gan_status gan_model_zero_grad(gan_model *model);
/* Training mode (default) uses batch statistics in BatchNorm and updates the
 * running ones; eval mode uses the running statistics. */
GAN_API void gan_model_set_training(gan_model *model, int training);
GAN_API int gan_model_is_training(const gan_model *model);
/* With 0, backward computes only input gradients (e.g. D during G's step). */
GAN_API void gan_model_set_requires_grad(gan_model *model, int requires_grad);

/* Named tensors of the model, as PyTorch's state_dict of the equivalent
 * nn.Sequential: "0.weight", "1.running_mean", "1.num_batches_tracked". */
typedef enum gan_entry_kind {
    GAN_ENTRY_PARAMETER, /* value and grad */
    GAN_ENTRY_BUFFER,    /* value only (running statistics, optimizer state) */
    GAN_ENTRY_COUNTER    /* counter only (num_batches_tracked, step counts) */
} gan_entry_kind;

typedef struct gan_entry {
    char name[64];
    gan_entry_kind kind;
    gan_layer_type layer_type; /* of the layer that holds it */
    gan_tensor *value;         /* borrowed; NULL for counters */
    gan_tensor *grad;          /* borrowed; parameters only */
    int64_t *counter;          /* borrowed; counters only */
} gan_entry;

GAN_API size_t gan_model_entry_count(const gan_model *model);
/* Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_model_entry(const gan_model *model, size_t i, gan_entry *out);
/* Total learnable scalars. */
GAN_API size_t gan_model_parameter_count(const gan_model *model);

/* DCGAN initialization: Conv, ConvTranspose and Linear weights N(0, std),
 * biases 0, BatchNorm gamma N(1, std), beta 0 (std is 0.02 in the paper).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_model_init_dcgan(gan_model *model, float std);

/* ---------------------------------------------------------------- losses */

/* Binary cross-entropy, mean over elements. target has the input's shape.
 * grad (may be NULL) receives d loss / d input, same shape; *loss is the
 * mean loss. On logits the loss is computed stably as
 * max(z,0) - z*t + log(1 + exp(-|z|)); *mean_prob (may be NULL) is the mean
 * of sigmoid(z), the D(x) statistic of GAN training.
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_bce_with_logits(gan_context *ctx, const gan_tensor *logits,
                                       const gan_tensor *target, gan_tensor *grad,
                                       float *loss, float *mean_prob);
/* On probabilities in [0, 1]; logs are clamped at -100 as PyTorch does.
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_bce(gan_context *ctx, const gan_tensor *probs, const gan_tensor *target,
                           gan_tensor *grad, float *loss);

/* Softmax cross-entropy of logits [rows, classes] against target of the
 * same shape (each row a distribution: one-hot labels, or smoothed ones),
 * the mean over rows of -sum_c t_c log softmax(z)_c, computed stably. grad
 * (may be NULL) receives d loss / d logits = (softmax(z) - t) / rows;
 * *correct (may be NULL) counts the rows whose largest logit stands where
 * the target's largest entry does (the first of equals).
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_softmax_cross_entropy(gan_context *ctx, const gan_tensor *logits, const gan_tensor *target,
                                             gan_tensor *grad, float *loss, int *correct);

/* The mode-seeking term of Mao et al. ("Mode Seeking Generative Adversarial
 * Networks", CVPR 2019) on images [N, ...] that G made from noise z [N, ...]
 * (the same N, at least 2): sample i is paired with sample i + N/2 (an odd
 * last sample sits out), ratio = mean |images_i - images_i+N/2| divided by
 * mean |z_i - z_i+N/2|, and *loss = weight / (ratio + 1e-5). It falls as
 * G's images of different noise differ more, which works against G
 * collapsing onto a few modes. grad (images' shape, may be NULL) gets
 * d loss / d images added to it (sign(0) is 0); *ratio may be NULL. Noise
 * whose pairs are all equal gives ratio infinity, loss 0 and no gradient.
 * Returns OK, INVALID_ARGUMENT, SHAPE, BACKEND. */
GAN_API gan_status gan_mode_seeking(gan_context *ctx, const gan_tensor *images, const gan_tensor *z, float weight,
                                    gan_tensor *grad, float *loss, float *ratio);

/* ------------------------------------------------------------ optimizers */

typedef struct gan_optimizer gan_optimizer;

typedef struct gan_adam_params {
    float lr, beta1, beta2, eps, weight_decay;
} gan_adam_params;
/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay. */
GAN_API gan_adam_params gan_adam_default_params(void);

typedef struct gan_sgd_params {
    float lr, momentum, dampening, weight_decay;
    int nesterov;
} gan_sgd_params;
/* lr 0.01, no momentum, no dampening, no weight decay. */
GAN_API gan_sgd_params gan_sgd_default_params(void);

/* An optimizer over every parameter of model (borrowed: free the optimizer
 * before the model). Its state lives in the backend.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_optimizer_adam_create(gan_model *model, const gan_adam_params *params,
                                             gan_optimizer **out);
/* Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_optimizer_sgd_create(gan_model *model, const gan_sgd_params *params,
                                            gan_optimizer **out);
/* NULL is a no-op. */
GAN_API void gan_optimizer_free(gan_optimizer *opt);
/* The learning rate of the next steps (schedules), in (0, 1].
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_optimizer_set_lr(gan_optimizer *opt, float lr);
/* The learning rate now; 0 for NULL. */
GAN_API float gan_optimizer_get_lr(const gan_optimizer *opt);
/* One update from the accumulated gradients.
 * Returns OK, INVALID_ARGUMENT, BACKEND. */
GAN_API gan_status gan_optimizer_step(gan_optimizer *opt);
/* State tensors by name ("0.weight.exp_avg", ...) and the step counter. */
GAN_API size_t gan_optimizer_entry_count(const gan_optimizer *opt);
/* Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_optimizer_entry(const gan_optimizer *opt, size_t i, gan_entry *out);

/* ------------------------------------------------------------- model zoo */

/* The generator and discriminator pairs of the tutorials, laid out as the
 * equivalent PyTorch nn.Sequential, so that their entries match its
 * state_dict and a checkpoint loads there with strict=True:
 *   "gan"      fully connected: G z -> 256 -> 256 -> C*S*S (ReLU, Tanh),
 *              D C*S*S -> 256 -> 256 -> 1 (LeakyReLU 0.2); any image size S
 *   "dcgan"    28x28 DCGAN: G ConvTranspose k3 s2, k4 s1, k3 s2, k4 s2;
 *              D Conv k3 s2, k5 s2, k5 s2, then Linear 64 -> 1
 *   "dcgan64"  the DCGAN paper's 64x64 models, as the PyTorch DCGAN example
 * D ends in a logit: its sigmoid lives in gan_bce_with_logits. */
typedef struct gan_models_params {
    int z_dim;      /* latent size; 0: the model's own (64; 100 for dcgan64) */
    int image_size; /* square images; 0: the model's own (28; 64 for dcgan64);
                     * only "gan" takes another size */
    int channels;   /* 1 to 4; 0: 1 (grey) */
} gan_models_params;

typedef struct gan_models_info {
    const char *name;        /* static */
    const char *description; /* static, e.g. "DCGAN, 28x28" */
    int z_dim;
    int z_ndim;              /* 2: noise is [N, z_dim]; 4: [N, z_dim, 1, 1] */
    int image_size, channels;
} gan_models_info;

/* "gan, dcgan, dcgan64": the names the zoo knows, for help texts. */
GAN_API const char *gan_models_names(void);
/* The shapes the named model has with params (NULL: its defaults).
 * GAN_ERR_INVALID_ARGUMENT for an unknown name or a size it cannot take.
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_models_describe(const char *name, const gan_models_params *params,
                                       gan_models_info *out);
/* Builds G and D of the named model, DCGAN-initialized (N(0, 0.02)) from
 * the context's generator, G first. The caller owns both. On failure both
 * are NULL and the context says why (GAN_ERR_INVALID_ARGUMENT: unknown
 * name or size).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_models_create(gan_context *ctx, const char *name, const gan_models_params *params,
                                     gan_model **generator, gan_model **discriminator);

/* --------------------------------------------------------------- trainer */

/* The tutorials' GAN training: per batch, one discriminator step (BCE on
 * the real batch against real_label and on G(z) against fake_label,
 * gradients summed, one Adam step), then one generator step (BCE of D(G(z))
 * against generator_label through D with its parameter gradients frozen,
 * plus the mode-seeking term when mode_seeking is set, one Adam step on G). */
typedef struct gan_trainer gan_trainer;

typedef struct gan_trainer_params {
    float lr_g, lr_d;     /* Adam learning rates, in (0, 1]: 2e-4 each */
    float beta1, beta2;   /* in [0, 1): 0.5 and 0.999 */
    float eps;            /* > 0: 1e-8 */
    float real_label;     /* D's target on real images: 1 */
    float fake_label;     /* D's target on G(z): 0 */
    float generator_label; /* G's target for D(G(z)): 1 */
    float ema_decay;      /* 0 (none), or in (0, 1): an exponential moving average of G's
                           * parameters, updated after each G step, for sampling
                           * (gan_trainer_swap_ema) and saved in checkpoints. Step s
                           * (from 0) decays by min(ema_decay, (1 + s) / (10 + s)),
                           * so the initial weights soon leave the average */
    float mode_seeking;   /* 0 (none), or > 0: G's loss adds gan_mode_seeking's term on the
                           * batch's G(z) and z with this weight (Mao et al. use 1), so that
                           * different noise makes different images */
} gan_trainer_params;

GAN_API gan_trainer_params gan_trainer_default_params(void);

/* Per-step figures; the losses are means over the batch. */
typedef struct gan_step_stats {
    float loss_d;         /* BCE on real plus BCE on fake */
    float loss_g;         /* BCE of D(G(z)) alone: without the mode-seeking term */
    float d_x;            /* mean D(x) on the real batch */
    float d_g_z1, d_g_z2; /* mean D(G(z)) before and after D's step */
} gan_step_stats;

/* A trainer over g and d, borrowed: free the trainer before them. It owns
 * both optimizers, the labels and its scratch. params NULL: the defaults.
 * GAN_ERR_INVALID_ARGUMENT (with a message) for a value out of range.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_trainer_create(gan_model *generator, gan_model *discriminator,
                                      const gan_trainer_params *params, gan_trainer **out);
/* A trainer that builds the zoo's named model (gan_models_create) and owns
 * it; checkpoints then record the model and its sizes.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_trainer_create_zoo(gan_context *ctx, const char *model,
                                          const gan_models_params *model_params,
                                          const gan_trainer_params *params, gan_trainer **out);
/* Frees the trainer, and its models when it built them. NULL is a no-op. */
GAN_API void gan_trainer_free(gan_trainer *trainer);

/* One training step on a real batch [N, C, H, W] and noise z of G's input
 * shape with the same N (both borrowed, in the trainer's context). stats
 * may be NULL. Where D has no batch norm its step takes the real and the
 * generated batch as one batch of 2N (the same gradients within rounding,
 * in one pass instead of two; D then holds its activations for 2N). The
 * steady state allocates nothing; a new N re-sizes the labels and those
 * buffers once.
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_trainer_step(gan_trainer *trainer, const gan_tensor *real, const gan_tensor *z,
                                    gan_step_stats *stats);

/* Borrowed from the trainer (NULL for a NULL trainer). */
GAN_API gan_model *gan_trainer_generator(const gan_trainer *trainer);
GAN_API gan_model *gan_trainer_discriminator(const gan_trainer *trainer);
/* The parameters the trainer was made with (the defaults for NULL). */
GAN_API gan_trainer_params gan_trainer_get_params(const gan_trainer *trainer);
/* The zoo model the trainer built; GAN_ERR_INVALID_ARGUMENT when it was
 * given its models.
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_trainer_models_info(const gan_trainer *trainer, gan_models_info *out);
/* With ema_decay: swaps G's parameters and their moving average, so that G
 * samples with the average (gan_model_sample, gan_generate); a second call
 * swaps them back, which training needs. Swapped in, G's batch norms get
 * the average's own running statistics: the mean batch statistics of the
 * average over 16 batches of 128 noise vectors, the same noise each time
 * (the context's random generator is left as it was); swapped back, G's
 * own statistics and counters return to the bit. GAN_ERR_STATE without
 * ema_decay.
 * Returns OK, INVALID_ARGUMENT, STATE, BACKEND. */
GAN_API gan_status gan_trainer_swap_ema(gan_trainer *trainer);
/* Steps done in all, carried over by checkpoints. */
GAN_API int64_t gan_trainer_steps(const gan_trainer *trainer);

/* Data-parallel training: several processes (on one machine or many)
 * train one model, each on its share of every batch (gan_sampler's rank
 * and ranks). The library needs two collective operations, which the
 * caller implements with its communicator (MPI_Allreduce and MPI_Bcast,
 * say); the library itself has no MPI in it. */
typedef struct gan_collective {
    /* Sums count floats element-wise over all processes, in place: every
     * process ends with the sums. Returns 0 on success. */
    int (*allreduce_sum)(float *data, size_t count, void *user);
    /* Copies bytes bytes from process 0 to every process, in place.
     * Returns 0 on success. */
    int (*broadcast)(void *data, size_t bytes, void *user);
    void *user;       /* passed to both */
    int rank, size;   /* this process (0 to size - 1) and how many there are */
} gan_collective;

/* Makes the trainer one of collective->size processes: gan_trainer_step
 * then replaces D's gradients, and G's, by their mean over the processes,
 * each weighted by its share of the batch, before each optimizer step, so
 * that every process takes the step one process would take on the whole
 * batch (up to rounding), except for batch norm, whose batch statistics
 * stay each process's own, as in PyTorch's DistributedDataParallel, and
 * the mode-seeking term (mode_seeking), which pairs the samples within
 * each process's share (a share of one sample has none). The
 * step's figures are the whole batch's too. Every process must step
 * together. NULL: alone again. A failing operation fails the step with
 * GAN_ERR_IO.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_trainer_set_collective(gan_trainer *trainer, const gan_collective *collective);
/* Copies process 0's training state into every process: both models'
 * weights and running statistics, both optimizers' states, the step count
 * and the context's random generator. Call it on every process after the
 * trainer is made or a checkpoint restored, so that all start alike.
 * Returns OK, STATE, OUT_OF_MEMORY, IO, BACKEND. */
GAN_API gan_status gan_trainer_broadcast(gan_trainer *trainer);

/* ------------------------------------------------------------- sampling */

/* Runs the generator in eval mode (batch norm's running statistics) on the
 * noise z and copies the images to dst (the caller's, count floats, which
 * must be the output's size); the model's mode is restored afterwards, so
 * sampling during training leaves the training untouched.
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_model_sample(gan_model *generator, const gan_tensor *z, float *dst, size_t count);
/* count images from noise N(0, 1) drawn from the context's generator,
 * in batches of up to 128, into dst (the caller's: count times one image's
 * floats). z_ndim and z_dim give G's input: [N, z_dim] (2) or
 * [N, z_dim, 1, 1] (4), as gan_models_info says.
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_generate(gan_model *generator, int z_ndim, int z_dim, int count, float *dst);

/* ---------------------------------------------------------- data sampler */

/* Training batches from images in host memory: a seeded shuffle per epoch
 * (a pure function of the seed and the epoch, so a resumed run sees the
 * same order), and per image a bilinear resize to the model's size, an
 * optional random rotation and an optional random horizontal flip, drawn
 * from the context's generator. Pixels 0..255 become [-1, 1]. The last
 * partial batch of an epoch is dropped.
 *
 * Data-parallel training: with ranks > 1 each process gets its share of
 * every batch (batch stays the global size; the first batch % ranks
 * processes get one image more). Every process draws the whole batch's
 * angles and flips, so processes seeded alike stay in step, and the shares
 * of all processes together are the batch one process would get.
 *
 * Images that do not fit in memory: a sampler made without images names
 * the images of each batch (gan_sampler_batch_indices); the caller decodes
 * them and hands them to gan_sampler_batch_from. */
typedef struct gan_sampler gan_sampler;

typedef struct gan_sampler_params {
    int batch;          /* images per batch, >= 1 */
    int image_size;     /* square output size; 0: the images' own (square) */
    float max_rotation; /* rotate by a uniform angle in [-max, max] degrees
                         * (0: none, at most 180); outside is background 0 */
    uint64_t seed;      /* of the per-epoch shuffle */
    int flip;           /* nonzero: mirror each image left to right with probability 1/2 */
    int rank, ranks;    /* this process's share: part rank of ranks (0: 1); 0 <= rank < ranks <= batch */
} gan_sampler_params;

/* images: count images of height x width pixels with channels bytes each,
 * interleaved ([count][height][width][channels], as image files and IDX
 * files hold them); borrowed, and must outlive the sampler; NULL for a
 * sampler fed by gan_sampler_batch_from. Fewer images than one batch:
 * GAN_ERR_INVALID_ARGUMENT.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY. */
GAN_API gan_status gan_sampler_create(gan_context *ctx, const uint8_t *images, int count, int height,
                                      int width, int channels, const gan_sampler_params *params,
                                      gan_sampler **out);
/* NULL is a no-op. */
GAN_API void gan_sampler_free(gan_sampler *sampler);
GAN_API int gan_sampler_batches_per_epoch(const gan_sampler *sampler);
/* Images of each batch this process gets: batch, or its share of ranks. */
GAN_API int gan_sampler_share(const gan_sampler *sampler);
/* Where this process's share starts in each batch (0 for one process):
 * the shares of the processes before it, together. */
GAN_API int gan_sampler_share_start(const gan_sampler *sampler);
/* Fills out ([share, channels, size, size]) with this process's share of
 * batch `index` (from 0) of epoch `epoch` (from 0), transforming the images
 * on the context's threads (the same batch whatever their count).
 * GAN_ERR_STATE for a sampler made without images.
 * Returns OK, INVALID_ARGUMENT, STATE, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_sampler_batch(gan_sampler *sampler, int64_t epoch, int64_t index, gan_tensor *out);
/* The indices (0 to count - 1) of the images of this process's share of
 * batch `index` of epoch `epoch`, in order, into indices (the caller's,
 * share ints).
 * Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_sampler_batch_indices(gan_sampler *sampler, int64_t epoch, int64_t index, int *indices);
/* As gan_sampler_batch, from the share's images the caller gives
 * ([share][height][width][channels], in the order of
 * gan_sampler_batch_indices; borrowed for the call) instead of the
 * sampler's own; the results are the same.
 * Returns OK, INVALID_ARGUMENT, SHAPE, OUT_OF_MEMORY, BACKEND. */
GAN_API gan_status gan_sampler_batch_from(gan_sampler *sampler, int64_t epoch, int64_t index,
                                          const uint8_t *images, gan_tensor *out);

/* ----------------------------------------------------- TensorBoard logs */

/* An event file that TensorBoard reads (tensorboard --logdir DIR):
 * DIR/events.out.tfevents.<10-digit time>.<host>, a new file for each
 * writer, holding scalars and images by tag and step. */
typedef struct gan_summary_writer gan_summary_writer;

/* Creates the event file in dir (which must exist) and writes its first
 * record. GAN_ERR_IO with a message when it cannot be created.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO. */
GAN_API gan_status gan_summary_open(gan_context *ctx, const char *dir, gan_summary_writer **out);
/* The file's path; borrowed from the writer. */
GAN_API const char *gan_summary_path(const gan_summary_writer *writer);
/* A scalar (simple_value) under tag at step >= 0.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO. */
GAN_API gan_status gan_summary_scalar(gan_summary_writer *writer, const char *tag, int64_t step, float value);
/* An image of height x width pixels with 1 to 4 interleaved 8-bit channels
 * (grey, grey + alpha, RGB, RGBA), stored as a PNG.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO. */
GAN_API gan_status gan_summary_image(gan_summary_writer *writer, const char *tag, int64_t step,
                                     const uint8_t *pixels, int height, int width, int channels);
/* Marks a restart at step (SessionLog START): TensorBoard then drops what
 * earlier files of the run hold for later steps, e.g. what a killed run
 * wrote after its last checkpoint.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO. */
GAN_API gan_status gan_summary_restart(gan_summary_writer *writer, int64_t step);
/* Puts everything written so far on disk.
 * Returns OK, IO. */
GAN_API gan_status gan_summary_flush(gan_summary_writer *writer);
/* Flushes and frees; NULL is a no-op (GAN_OK).
 * Returns OK, IO. */
GAN_API gan_status gan_summary_close(gan_summary_writer *writer);

/* ------------------------------------------------------------- IDX files */

/* An IDX file (the MNIST format) of unsigned bytes, read whole. */
typedef struct gan_idx {
    int ndim;                /* 1 to GAN_MAX_DIMS */
    int dims[GAN_MAX_DIMS];
    size_t count;            /* product of dims */
    uint8_t *bytes;          /* the whole file content, decompressed; owned */
    size_t n_bytes;
    const uint8_t *data;     /* the count values, inside bytes */
} gan_idx;

/* Reads a raw or gzip-compressed IDX file, validating the magic number,
 * element type (unsigned byte), dimensions and length; needs no context.
 * Returns GAN_OK, GAN_ERR_INVALID_ARGUMENT (path or out NULL), GAN_ERR_IO
 * (cannot read), GAN_ERR_FORMAT (truncated, corrupt, trailing bytes, in the
 * file or after its gzip data, unsupported type, over 1 GiB) or
 * GAN_ERR_OUT_OF_MEMORY; error (may be NULL) receives a message naming the
 * file and the problem. On failure *out is zeroed. */
GAN_API gan_status gan_idx_read(const char *path, gan_idx *out, char *error, size_t error_size);
/* Frees what gan_idx_read allocated; a zeroed struct is a no-op. */
GAN_API void gan_idx_free(gan_idx *idx);
/* Writes an IDX file of unsigned bytes (raw); the file is replaced atomically.
 * Returns OK, INVALID_ARGUMENT, SHAPE, IO. */
GAN_API gan_status gan_idx_write(gan_context *ctx, const char *path, int ndim, const int *dims,
                                 const uint8_t *data);

/* ----------------------------------------------------------- safetensors */

/* Saves entries (tensors as F32, counters as I64) under their names, plus
 * string metadata, in the safetensors format: a readable file for other
 * tools. The metadata also carries "file_crc32", the CRC-32 of the whole
 * file (header and data) computed with its own 8 digits as "00000000".
 * The file is written to a temporary name, flushed and renamed, so an
 * interrupted save leaves any previous file intact. meta is n_meta pairs
 * (key, value); the keys "file_crc32" and "payload_crc32" are reserved.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND, IO. */
GAN_API gan_status gan_safetensors_save(gan_context *ctx, const char *path,
                                        const gan_entry *entries, size_t n_entries,
                                        const char *const (*meta)[2], size_t n_meta);

/* An opened and validated safetensors file. */
typedef struct gan_safetensors gan_safetensors;

/* Opens path, parsing the header under the format's rules (bounded size,
 * offsets within the file, contiguous and matching dtype and shape) and
 * checking file_crc32 (and payload_crc32, of files from libgan 0.1) when
 * present; files of other writers carry neither. A damaged file:
 * GAN_ERR_FORMAT with a message naming the problem.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO, FORMAT. */
GAN_API gan_status gan_safetensors_open(gan_context *ctx, const char *path, gan_safetensors **out);
/* NULL is a no-op. */
GAN_API void gan_safetensors_close(gan_safetensors *st);
/* Metadata value for key, or NULL; borrowed from st. */
GAN_API const char *gan_safetensors_meta(const gan_safetensors *st, const char *key);
/* Copies the stored tensor or counter named entry->name into the entry's
 * tensor or counter. Missing name, other dtype or shape: GAN_ERR_FORMAT.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND, FORMAT. */
GAN_API gan_status gan_safetensors_load(gan_safetensors *st, const gan_entry *entry);

/* ------------------------------------------------------------ checkpoints */

/* A training checkpoint: a safetensors file holding G and D (named as
 * PyTorch's state_dict: "generator.0.weight", "discriminator.1.running_mean"),
 * both Adam states ("optimizer_g.0.weight.exp_avg", "optimizer_g.step"), the
 * moving average of G's parameters when the trainer keeps one
 * ("generator_ema.0.weight"), and
 * in its metadata the trainer's parameters, the zoo model and its sizes (for
 * gan_trainer_create_zoo's trainers), the context's random generator, the
 * step counters and the caller's own pairs. A CRC-32 of the whole file, its
 * header included, is required on loading, and every value read back is
 * checked against the limits the library accepts. */
typedef struct gan_checkpoint gan_checkpoint;

/* Where the caller's loop stands: epochs done, batches done in this epoch. */
typedef struct gan_checkpoint_position {
    int64_t epoch, step_in_epoch;
} gan_checkpoint_position;

/* Saves atomically (temporary file, flush, rename), so an interrupted save
 * leaves any earlier file intact. meta: n_meta (key, value) pairs of the
 * caller's; keys the library writes itself are refused
 * (GAN_ERR_INVALID_ARGUMENT).
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, BACKEND, IO. */
GAN_API gan_status gan_checkpoint_save(const gan_trainer *trainer, const char *path,
                                       const gan_checkpoint_position *position,
                                       const char *const (*meta)[2], size_t n_meta);

/* Opens and validates path: GAN_ERR_IO when it cannot be read,
 * GAN_ERR_FORMAT with a message naming the problem when it is damaged
 * (checksum), not a libgan training checkpoint, or holds a value out of
 * range. Reading it changes nothing in the context.
 * Returns OK, INVALID_ARGUMENT, OUT_OF_MEMORY, IO, FORMAT. */
GAN_API gan_status gan_checkpoint_open(gan_context *ctx, const char *path, gan_checkpoint **out);
/* NULL is a no-op. */
GAN_API void gan_checkpoint_close(gan_checkpoint *ckpt);

/* What the checkpoint records (validated by gan_checkpoint_open). */
typedef struct gan_checkpoint_info {
    int has_model;              /* saved from a zoo trainer: model and sizes below */
    gan_models_info model;
    gan_models_params model_params;
    gan_trainer_params params;
    gan_checkpoint_position position;
    int64_t steps;              /* the trainer's step count */
} gan_checkpoint_info;
/* Returns OK, INVALID_ARGUMENT. */
GAN_API gan_status gan_checkpoint_get_info(const gan_checkpoint *ckpt, gan_checkpoint_info *out);
/* A caller's metadata value by key, or NULL; borrowed from ckpt. */
GAN_API const char *gan_checkpoint_meta(const gan_checkpoint *ckpt, const char *key);

/* Loads everything into the trainer: weights, running statistics, both
 * optimizers' states, the step count, and the context's random generator.
 * A tensor missing or of another shape: GAN_ERR_FORMAT, naming it.
 * Returns OK, INVALID_ARGUMENT, SHAPE, OUT_OF_MEMORY, BACKEND, FORMAT. */
GAN_API gan_status gan_checkpoint_restore(gan_checkpoint *ckpt, gan_trainer *trainer);
/* Loads only the generator's entries into generator (for sampling); when
 * the checkpoint keeps a moving average of G (ema_decay), the parameters
 * are the average's ("generator_ema.0.weight", ...), and for a zoo model
 * the batch norms' running statistics are the average's own, estimated as
 * gan_trainer_swap_ema does (the same values).
 * Returns OK, INVALID_ARGUMENT, SHAPE, OUT_OF_MEMORY, BACKEND, FORMAT. */
GAN_API gan_status gan_checkpoint_load_generator(gan_checkpoint *ckpt, gan_model *generator);

#ifdef __cplusplus
}
#endif
#endif /* GAN_H */
