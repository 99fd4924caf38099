/* opencl_backend.c - the OpenCL backend: every op of gan_backend_iface as
 * an OpenCL 1.2 kernel (kernels.cl, embedded at build time) or a CLBlast
 * SGEMM. Tensors live in device buffers for the whole training step; only
 * the loss values and what the caller reads cross to the host. */
#define CL_TARGET_OPENCL_VERSION 120
#include "gan_backend.h"
#include "opencl_kernels.h"

#include <CL/cl.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64
enum { ELEMENTWISE_GROUP = 64, MAX_REDUCE_SIZE = 256 };
/* workspace cap for the convolution's columns, as on the CPU */
enum { CONV_WORKSPACE_FLOATS = 8 << 20 };

/* The kernels of kernels.cl, one list: X(id, name in kernels.cl). */
#define OCL_KERNELS(X)                                                                                  \
    X(BIAS_ADD, bias_add) X(BIAS_GRAD, bias_grad) X(IM2COL, im2col) X(COL2IM, col2im)                  \
    X(NCHW_TO_CHUNK, nchw_to_chunk) X(CHUNK_TO_NCHW, chunk_to_nchw)                                    \
    X(ACT_FORWARD, activation_forward) X(ACT_BACKWARD, activation_backward)                            \
    X(BN_STATS, batchnorm_stats) X(BN_APPLY, batchnorm_apply)                                          \
    X(BN_BACKWARD_REDUCE, batchnorm_backward_reduce) X(BN_BACKWARD_DX, batchnorm_backward_dx)          \
    X(INVERSE_STD, inverse_std) X(BCE, bce) X(SOFTMAX_XENT, softmax_xent)                             \
    X(PAIR_ABS_DIFF_SUM, pair_abs_diff_sum) X(PAIR_SIGN_DIFF_ADD, pair_sign_diff_add)                  \
    X(ADAM, adam) X(SGD, sgd) X(EMA_UPDATE, ema_update)

typedef enum kernel_id {
#define OCL_KERNEL_ID_(id, name) K_##id,
    OCL_KERNELS(OCL_KERNEL_ID_)
#undef OCL_KERNEL_ID_
    K_COUNT
} kernel_id;

static const char *const kernel_names[K_COUNT] = {
#define OCL_KERNEL_NAME_(id, name) #name,
    OCL_KERNELS(OCL_KERNEL_NAME_)
#undef OCL_KERNEL_NAME_
};

typedef struct ocl_backend {
    gan_backend base;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[K_COUNT];
    size_t reduce_size;     /* local size of the reducing kernels */
    cl_mem cols, mat;       /* convolution columns and reordered matrices; grow, never shrink */
    size_t cols_floats, mat_floats;
    cl_mem gemm_scratch;    /* CLBlast's temporary buffer; grows, never shrinks */
    size_t gemm_scratch_bytes;
    cl_mem small;           /* loss sums and batch-norm channel sums */
    size_t small_floats;
} ocl_backend;

static ocl_backend *ocl(gan_backend *be) { return (ocl_backend *)be; }
static cl_mem M(const gan_tensor *t) { return (cl_mem)t->data; }

static const char *cl_error_name(cl_int e)
{
    switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "an OpenCL error";
    }
}

static gan_status cl_fail(gan_backend *be, cl_int err, const char *what)
{
    gan_status st = err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
                            err == CL_OUT_OF_RESOURCES
                        ? GAN_ERR_OUT_OF_MEMORY
                        : GAN_ERR_BACKEND;
    return gan_sink_fail(be->env->error, st, "OpenCL: %s failed: %s (%d)", what, cl_error_name(err), (int)err);
}

#define CL_CHECK(be, call, what)                    \
    do {                                            \
        cl_int err_ = (call);                       \
        if (err_ != CL_SUCCESS)                     \
            return cl_fail((be), err_, (what));     \
    } while (0)

/* ------------------------------------------------------------- devices */

typedef struct device_ref {
    cl_platform_id platform;
    cl_device_id device;
} device_ref;

/* Every device of every platform, GPUs and accelerators first, so the
 * default index 0 is a GPU whenever there is one. */
static cl_int enumerate(device_ref *out, int max, int *count)
{
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint n_platforms = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &n_platforms);
    *count = 0;
    if (err != CL_SUCCESS)
        return err;
    for (int pass = 0; pass < 2; pass++)
        for (cl_uint p = 0; p < n_platforms; p++) {
            cl_device_id devices[MAX_DEVICES];
            cl_uint n = 0;
            if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &n) != CL_SUCCESS)
                continue;
            for (cl_uint d = 0; d < n; d++) {
                cl_device_type type = 0;
                clGetDeviceInfo(devices[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
                const bool cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
                if ((pass == 0) == cpu)
                    continue;
                if (*count < max)
                    out[*count] = (device_ref){platforms[p], devices[d]};
                (*count)++;
            }
        }
    return CL_SUCCESS;
}

static const char *const icd_hint =
    "install the OpenCL driver (ICD) of your device: on Debian nvidia-opencl-icd (NVIDIA), "
    "mesa-opencl-icd (AMD), intel-opencl-icd (Intel GPUs) or pocl-opencl-icd (any CPU)";

gan_status gan_opencl_devices(gan_device_info *out, int max, int *count, char *error, size_t error_size)
{
    device_ref refs[MAX_DEVICES];
    int n = 0;
    if (count)
        *count = 0;
    if (!count || (max > 0 && !out))
        return GAN_ERR_INVALID_ARGUMENT;
    cl_int err = enumerate(refs, MAX_DEVICES, &n);
    if (err != CL_SUCCESS || n == 0) {
        if (error && error_size)
            snprintf(error, error_size, "no OpenCL %s found (%s): %s", err ? "platform" : "device",
                     err ? cl_error_name(err) : "the platforms list none", icd_hint);
        return GAN_ERR_UNAVAILABLE;
    }
    *count = n < MAX_DEVICES ? n : MAX_DEVICES;
    for (int i = 0; i < *count && i < max; i++) {
        gan_device_info *d = &out[i];
        memset(d, 0, sizeof *d);
        d->index = i;
        cl_ulong mem = 0;
        cl_uint units = 0;
        cl_device_type type = 0;
        clGetPlatformInfo(refs[i].platform, CL_PLATFORM_NAME, sizeof d->platform - 1, d->platform, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_NAME, sizeof d->name - 1, d->name, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_VENDOR, sizeof d->vendor - 1, d->vendor, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_VERSION, sizeof d->version - 1, d->version, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
        clGetDeviceInfo(refs[i].device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
        d->global_memory = mem;
        d->compute_units = (int)units;
        d->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    }
    return GAN_OK;
}

/* -------------------------------------------------------------- launch */

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

static gan_status launch(gan_backend *be, kernel_id k, size_t global, size_t local)
{
    if (global == 0)
        return GAN_OK;
    const size_t g = round_up(global, local);
    CL_CHECK(be, clEnqueueNDRangeKernel(ocl(be)->queue, ocl(be)->kernels[k], 1, NULL, &g, &local, 0, NULL, NULL),
             kernel_names[k]);
    return GAN_OK;
}

static gan_status elementwise(gan_backend *be, kernel_id k, size_t n)
{
    return launch(be, k, n, ELEMENTWISE_GROUP);
}

/* one work-group per output (channel) */
static gan_status per_group(gan_backend *be, kernel_id k, size_t groups)
{
    return launch(be, k, groups * ocl(be)->reduce_size, ocl(be)->reduce_size);
}

/* Sets the kernel's arguments in order from a list of (size, pointer). */
typedef struct karg {
    size_t size;
    const void *value;
} karg;
#define A(v) ((karg){sizeof(v), &(v)})
#define BUF(t) ((karg){sizeof(cl_mem), &(t)->data})

static gan_status set_args(gan_backend *be, kernel_id k, const karg *args, int n)
{
    for (int i = 0; i < n; i++)
        CL_CHECK(be, clSetKernelArg(ocl(be)->kernels[k], (cl_uint)i, args[i].size, args[i].value), kernel_names[k]);
    return GAN_OK;
}
#define SET_ARGS(be, k, ...)                                                                        \
    do {                                                                                            \
        const karg args_[] = {__VA_ARGS__};                                                         \
        gan_status st_ = set_args((be), (k), args_, (int)(sizeof args_ / sizeof args_[0]));         \
        if (st_ != GAN_OK)                                                                          \
            return st_;                                                                             \
    } while (0)

static gan_status grow(gan_backend *be, cl_mem *buf, size_t *have, size_t want, size_t unit)
{
    if (want <= *have)
        return GAN_OK;
    if (*buf)
        clReleaseMemObject(*buf);
    gan_backend_track_memory(be->env, -(ptrdiff_t)(*have * unit));
    *have = 0;
    cl_int err;
    *buf = clCreateBuffer(ocl(be)->context, CL_MEM_READ_WRITE, want * unit, NULL, &err);
    if (err != CL_SUCCESS) {
        *buf = NULL;
        return cl_fail(be, err, "clCreateBuffer (workspace)");
    }
    *have = want;
    gan_backend_track_memory(be->env, (ptrdiff_t)(want * unit));
    return GAN_OK;
}

/* ---------------------------------------------------------------- memory */

static gan_status ocl_alloc(gan_backend *be, size_t n, void **data)
{
    cl_int err;
    cl_mem m = clCreateBuffer(ocl(be)->context, CL_MEM_READ_WRITE, (n ? n : 1) * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS)
        return cl_fail(be, err, "clCreateBuffer");
    *data = m;
    return GAN_OK;
}

static void ocl_release(gan_backend *be, void *data)
{
    (void)be;
    clReleaseMemObject((cl_mem)data);
}

static gan_status ocl_write(gan_backend *be, gan_tensor *t, const float *src, size_t n)
{
    CL_CHECK(be, clEnqueueWriteBuffer(ocl(be)->queue, M(t), CL_TRUE, 0, n * sizeof(float), src, 0, NULL, NULL),
             "clEnqueueWriteBuffer");
    be->env->transfers.uploads++;
    be->env->transfers.bytes_up += n * sizeof(float);
    return GAN_OK;
}

static gan_status read_floats(gan_backend *be, cl_mem m, float *dst, size_t n)
{
    CL_CHECK(be, clEnqueueReadBuffer(ocl(be)->queue, m, CL_TRUE, 0, n * sizeof(float), dst, 0, NULL, NULL),
             "clEnqueueReadBuffer");
    be->env->transfers.downloads++;
    be->env->transfers.bytes_down += n * sizeof(float);
    return GAN_OK;
}

static gan_status ocl_read(gan_backend *be, const gan_tensor *t, float *dst, size_t n)
{
    return read_floats(be, M(t), dst, n);
}

static gan_status ocl_fill(gan_backend *be, gan_tensor *t, float value)
{
    CL_CHECK(be, clEnqueueFillBuffer(ocl(be)->queue, M(t), &value, sizeof value, 0, t->numel * sizeof(float), 0,
                                     NULL, NULL),
             "clEnqueueFillBuffer");
    return GAN_OK;
}

static gan_status ocl_copy(gan_backend *be, gan_tensor *dst, size_t dst_at, const gan_tensor *src, size_t src_at,
                           size_t n)
{
    if (n == 0)
        return GAN_OK;
    CL_CHECK(be, clEnqueueCopyBuffer(ocl(be)->queue, M(src), M(dst), src_at * sizeof(float), dst_at * sizeof(float),
                                     n * sizeof(float), 0, NULL, NULL),
             "clEnqueueCopyBuffer");
    return GAN_OK;
}

/* ------------------------------------------------------------------ gemm */

static gan_status sgemm(gan_backend *be, bool ta, bool tb, int m, int n, int k, float alpha, cl_mem a,
                        size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c,
                        size_t c_off, size_t ldc)
{
    ocl_backend *ob = ocl(be);
    const CLBlastTranspose t_a = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose t_b = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t bytes = 0;
    CLBlastStatusCode s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, t_a, t_b, (size_t)m, (size_t)n,
                                                     (size_t)k, a_off, lda, b_off, ldb, c_off, ldc, &ob->queue,
                                                     &bytes);
    if (s == CLBlastSuccess) {
        gan_status st = grow(be, &ob->gemm_scratch, &ob->gemm_scratch_bytes, bytes ? bytes : 1, 1);
        if (st != GAN_OK)
            return st;
        s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, t_a, t_b, (size_t)m, (size_t)n, (size_t)k, alpha, a,
                                       a_off, lda, b, b_off, ldb, beta, c, c_off, ldc, &ob->queue, NULL,
                                       ob->gemm_scratch);
    }
    if (s != CLBlastSuccess)
        return gan_sink_fail(be->env->error, GAN_ERR_BACKEND,
                             "OpenCL: CLBlast SGEMM (%dx%dx%d) failed with status %d", m, n, k, (int)s);
    return GAN_OK;
}

static gan_status ocl_gemm(gan_backend *be, bool ta, bool tb, int m, int n, int k, float alpha,
                           const gan_tensor *a, const gan_tensor *b, float beta, gan_tensor *c)
{
    return sgemm(be, ta, tb, m, n, k, alpha, M(a), 0, ta ? (size_t)m : (size_t)k, M(b), 0,
                 tb ? (size_t)k : (size_t)n, beta, M(c), 0, (size_t)n);
}

static gan_status ocl_bias_add(gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw)
{
    const int total = n * c * hw;
    SET_ARGS(be, K_BIAS_ADD, BUF(y), BUF(bias), A(c), A(hw), A(total));
    return elementwise(be, K_BIAS_ADD, (size_t)total);
}

static gan_status ocl_bias_grad(gan_backend *be, const gan_tensor *dy, gan_tensor *dbias, int n, int c, int hw)
{
    SET_ARGS(be, K_BIAS_GRAD, BUF(dy), BUF(dbias), A(n), A(c), A(hw));
    return per_group(be, K_BIAS_GRAD, (size_t)c);
}

/* ----------------------------------------------------------- convolution */

/* The CPU backend's scheme: chunks of samples, their im2col columns
 * [K, chunk*P] in `cols`, and one GEMM with the weights into `mat`. This
 * sets up the sizes and grows both workspaces. */
typedef struct conv_pass {
    int K, P, chunk;
} conv_pass;

static gan_status conv_begin(gan_backend *be, const gan_conv_geom *g, conv_pass *c)
{
    ocl_backend *ob = ocl(be);
    c->K = g->in_c * g->kernel_h * g->kernel_w;
    c->P = g->out_h * g->out_w;
    const size_t per_sample = ((size_t)c->K + (size_t)g->out_c) * c->P, chunk = CONV_WORKSPACE_FLOATS / per_sample;
    c->chunk = chunk < 1 ? 1 : chunk > (size_t)g->n ? g->n : (int)chunk;
    gan_status st = grow(be, &ob->cols, &ob->cols_floats, (size_t)c->K * c->chunk * c->P, sizeof(float));
    return st != GAN_OK ? st : grow(be, &ob->mat, &ob->mat_floats, (size_t)g->out_c * c->chunk * c->P, sizeof(float));
}

static gan_status reorder(gan_backend *be, kernel_id k, cl_mem src, cl_mem dst, int n0, int cn, int c, int P)
{
    SET_ARGS(be, k, A(src), A(dst), A(n0), A(cn), A(c), A(P));
    return elementwise(be, k, (size_t)c * cn * P);
}

static gan_status columns(gan_backend *be, kernel_id k, const gan_conv_geom *g, cl_mem from, cl_mem to, int n0,
                          int cn, size_t total)
{
    SET_ARGS(be, k, A(from), A(to), ((karg){sizeof *g, g}), A(n0), A(cn));
    return elementwise(be, k, total);
}

static gan_status ocl_conv2d_backward(gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                      const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx, gan_tensor *dw)
{
    ocl_backend *ob = ocl(be);
    conv_pass c;
    gan_status st = conv_begin(be, g, &c);
    const int K = c.K, P = c.P;
    for (int n0 = 0; st == GAN_OK && n0 < g->n; n0 += c.chunk) {
        const int cn = g->n - n0 < c.chunk ? g->n - n0 : c.chunk;
        const size_t ld = (size_t)cn * P;
        st = reorder(be, K_NCHW_TO_CHUNK, M(dy), ob->mat, n0, cn, g->out_c, P); /* shared by both */
        if (st == GAN_OK && dw) {
            st = columns(be, K_IM2COL, g, M(x), ob->cols, n0, cn, (size_t)K * ld);
            if (st == GAN_OK)
                st = sgemm(be, false, true, g->out_c, K, (int)ld, 1.0f, ob->mat, 0, ld, ob->cols, 0, ld, 1.0f,
                           M(dw), 0, (size_t)K);
        }
        if (st == GAN_OK && dx) {
            st = sgemm(be, true, false, K, (int)ld, g->out_c, 1.0f, M(w), 0, (size_t)K, ob->mat, 0, ld, 0.0f,
                       ob->cols, 0, ld);
            if (st == GAN_OK)
                st = columns(be, K_COL2IM, g, ob->cols, M(dx), n0, cn, (size_t)cn * g->in_c * g->in_h * g->in_w);
        }
    }
    return st;
}

static gan_status ocl_conv_transpose2d_backward(gan_backend *be, const gan_conv_geom *g, const gan_tensor *x,
                                                const gan_tensor *dy, const gan_tensor *w, gan_tensor *dx,
                                                gan_tensor *dw)
{
    ocl_backend *ob = ocl(be);
    conv_pass c;
    gan_status st = conv_begin(be, g, &c);
    const int K = c.K, P = c.P;
    for (int n0 = 0; st == GAN_OK && n0 < g->n; n0 += c.chunk) {
        const int cn = g->n - n0 < c.chunk ? g->n - n0 : c.chunk;
        const size_t ld = (size_t)cn * P;
        st = columns(be, K_IM2COL, g, M(dy), ob->cols, n0, cn, (size_t)K * ld); /* shared by both */
        if (st == GAN_OK && dx) {
            st = sgemm(be, false, false, g->out_c, (int)ld, K, 1.0f, M(w), 0, (size_t)K, ob->cols, 0, ld, 0.0f,
                       ob->mat, 0, ld);
            if (st == GAN_OK)
                st = reorder(be, K_CHUNK_TO_NCHW, ob->mat, M(dx), n0, cn, g->out_c, P);
        }
        if (st == GAN_OK && dw) {
            st = reorder(be, K_NCHW_TO_CHUNK, M(x), ob->mat, n0, cn, g->out_c, P);
            if (st == GAN_OK)
                st = sgemm(be, false, true, g->out_c, K, (int)ld, 1.0f, ob->mat, 0, ld, ob->cols, 0, ld, 1.0f,
                           M(dw), 0, (size_t)K);
        }
    }
    return st;
}

/* ----------------------------------------------------------- activations */

static gan_status ocl_activation_forward(gan_backend *be, gan_activation act, float slope, const gan_tensor *x,
                                         gan_tensor *y)
{
    const int a = (int)act, n = (int)x->numel;
    SET_ARGS(be, K_ACT_FORWARD, A(a), A(slope), BUF(x), BUF(y), A(n));
    return elementwise(be, K_ACT_FORWARD, x->numel);
}

static gan_status ocl_activation_backward(gan_backend *be, gan_activation act, float slope, const gan_tensor *x,
                                          const gan_tensor *y, const gan_tensor *dy, gan_tensor *dx)
{
    const int a = (int)act, n = (int)x->numel;
    SET_ARGS(be, K_ACT_BACKWARD, A(a), A(slope), BUF(x), BUF(y), BUF(dy), BUF(dx), A(n));
    return elementwise(be, K_ACT_BACKWARD, x->numel);
}

/* The folded activation through the unfused kernels, so the values are
 * theirs: the activation's input is positive exactly where y is */
static gan_status ocl_bias_activation(gan_backend *be, gan_tensor *y, const gan_tensor *bias, int n, int c, int hw,
                                      gan_activation act, float slope)
{
    gan_status st = bias ? ocl_bias_add(be, y, bias, n, c, hw) : GAN_OK;
    return st == GAN_OK ? ocl_activation_forward(be, act, slope, y, y) : st;
}

static gan_status ocl_activation_bias_grad(gan_backend *be, gan_activation act, float slope, const gan_tensor *y,
                                           const gan_tensor *dy, gan_tensor *dz, gan_tensor *dbias, int n, int c,
                                           int hw)
{
    gan_status st = ocl_activation_backward(be, act, slope, y, y, dy, dz);
    return st == GAN_OK && dbias ? ocl_bias_grad(be, dz, dbias, n, c, hw) : st;
}

/* ------------------------------------------------------------- batchnorm */

/* the kernels' code for a folded activation: -1 none, else gan_activation */
static int folded_act(const gan_batchnorm_args *a) { return a->activate ? (int)a->act : -1; }

static gan_status ocl_batchnorm_forward_train(gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,
                                              const gan_tensor *gamma, const gan_tensor *beta, gan_tensor *y,
                                              gan_tensor *save_mean, gan_tensor *save_invstd,
                                              gan_tensor *running_mean, gan_tensor *running_var)
{
    SET_ARGS(be, K_BN_STATS, BUF(x), BUF(save_mean), BUF(save_invstd), BUF(running_mean), BUF(running_var),
             A(a->n), A(a->c), A(a->hw), A(a->eps), A(a->momentum));
    gan_status st = per_group(be, K_BN_STATS, (size_t)a->c);
    if (st != GAN_OK)
        return st;
    const int from_var = 0, total = a->n * a->c * a->hw;
    const int act = folded_act(a);
    SET_ARGS(be, K_BN_APPLY, BUF(x), BUF(y), BUF(gamma), BUF(beta), BUF(save_mean), BUF(save_invstd), A(from_var),
             A(a->eps), A(a->c), A(a->hw), A(total), A(act), A(a->slope));
    return elementwise(be, K_BN_APPLY, (size_t)total);
}

static gan_status ocl_batchnorm_forward_eval(gan_backend *be, const gan_batchnorm_args *a, const gan_tensor *x,
                                             const gan_tensor *gamma, const gan_tensor *beta,
                                             const gan_tensor *running_mean, const gan_tensor *running_var,
                                             gan_tensor *y)
{
    const int from_var = 1, total = a->n * a->c * a->hw, act = folded_act(a);
    SET_ARGS(be, K_BN_APPLY, BUF(x), BUF(y), BUF(gamma), BUF(beta), BUF(running_mean), BUF(running_var),
             A(from_var), A(a->eps), A(a->c), A(a->hw), A(total), A(act), A(a->slope));
    return elementwise(be, K_BN_APPLY, (size_t)total);
}

static gan_status ocl_batchnorm_backward(gan_backend *be, const gan_batchnorm_args *a, bool batch_stats,
                                         const gan_tensor *x, const gan_tensor *y, const gan_tensor *dy,
                                         const gan_tensor *gamma,
                                         const gan_tensor *mean, const gan_tensor *invstd, gan_tensor *dx,
                                         gan_tensor *dgamma, gan_tensor *dbeta)
{
    ocl_backend *ob = ocl(be);
    gan_status st = grow(be, &ob->small, &ob->small_floats, 2 * (size_t)a->c, sizeof(float));
    if (st != GAN_OK)
        return st;
    /* dgamma and dbeta go together; without them the sums still feed dx */
    const int accumulate = dgamma && dbeta;
    cl_mem dg = accumulate ? M(dgamma) : ob->small, db = accumulate ? M(dbeta) : ob->small;
    const int act = folded_act(a);
    const gan_tensor *y_or_dy = a->activate ? y : dy; /* not read without an activation */
    SET_ARGS(be, K_BN_BACKWARD_REDUCE, BUF(x), BUF(y_or_dy), BUF(dy), BUF(mean), BUF(invstd), A(ob->small), A(dg),
             A(db), A(accumulate), A(a->n), A(a->c), A(a->hw), A(act), A(a->slope));
    st = per_group(be, K_BN_BACKWARD_REDUCE, (size_t)a->c);
    if (st != GAN_OK || !dx)
        return st;
    const int bs = batch_stats;
    SET_ARGS(be, K_BN_BACKWARD_DX, BUF(x), BUF(y_or_dy), BUF(dy), BUF(gamma), BUF(mean), BUF(invstd), A(ob->small),
             BUF(dx), A(bs), A(a->n), A(a->c), A(a->hw), A(act), A(a->slope));
    return elementwise(be, K_BN_BACKWARD_DX, x->numel);
}

static gan_status ocl_inverse_std(gan_backend *be, const gan_tensor *var, float eps, gan_tensor *invstd)
{
    const int n = (int)var->numel;
    SET_ARGS(be, K_INVERSE_STD, BUF(var), BUF(invstd), A(eps), A(n));
    return elementwise(be, K_INVERSE_STD, var->numel);
}

/* ---------------------------------------------------------------- losses */

/* The loss and the mean probability are the only values a training step
 * reads back: two floats. */
static gan_status bce(gan_backend *be, int logits, const gan_tensor *in, const gan_tensor *t, gan_tensor *grad,
                      float *loss, float *mean_prob)
{
    ocl_backend *ob = ocl(be);
    gan_status st = grow(be, &ob->small, &ob->small_floats, 2, sizeof(float));
    if (st != GAN_OK)
        return st;
    const int has_grad = grad != NULL, n = (int)in->numel;
    cl_mem g = grad ? M(grad) : ob->small;
    SET_ARGS(be, K_BCE, BUF(in), BUF(t), A(g), A(has_grad), A(logits), A(ob->small), A(n));
    st = launch(be, K_BCE, ob->reduce_size, ob->reduce_size);
    float sums[2];
    if (st == GAN_OK)
        st = read_floats(be, ob->small, sums, 2);
    if (st != GAN_OK)
        return st;
    *loss = sums[0] / (float)n;
    if (mean_prob)
        *mean_prob = sums[1] / (float)n;
    return GAN_OK;
}

static gan_status ocl_bce_logits(gan_backend *be, const gan_tensor *z, const gan_tensor *t, gan_tensor *grad,
                                 float *loss, float *mean_prob)
{
    return bce(be, 1, z, t, grad, loss, mean_prob);
}

static gan_status ocl_bce_probs(gan_backend *be, const gan_tensor *p, const gan_tensor *t, gan_tensor *grad,
                                float *loss)
{
    return bce(be, 0, p, t, grad, loss, NULL);
}

static gan_status ocl_softmax_xent(gan_backend *be, const gan_tensor *z, const gan_tensor *t, int rows, int classes,
                                   gan_tensor *grad, float *loss, int *correct)
{
    ocl_backend *ob = ocl(be);
    gan_status st = grow(be, &ob->small, &ob->small_floats, 2, sizeof(float));
    if (st != GAN_OK)
        return st;
    const int has_grad = grad != NULL;
    cl_mem g = grad ? M(grad) : ob->small;
    SET_ARGS(be, K_SOFTMAX_XENT, BUF(z), BUF(t), A(g), A(has_grad), A(ob->small), A(rows), A(classes));
    st = launch(be, K_SOFTMAX_XENT, ob->reduce_size, ob->reduce_size);
    float sums[2];
    if (st == GAN_OK)
        st = read_floats(be, ob->small, sums, 2);
    if (st != GAN_OK)
        return st;
    *loss = sums[0] / (float)rows;
    if (correct)
        *correct = (int)lrintf(sums[1]);
    return GAN_OK;
}

/* The first half of x's rows against the second, a float read back. */
static gan_status ocl_pair_abs_diff_sum(gan_backend *be, const gan_tensor *x, int n, double *sum)
{
    ocl_backend *ob = ocl(be);
    gan_status st = grow(be, &ob->small, &ob->small_floats, 1, sizeof(float));
    if (st != GAN_OK)
        return st;
    const int half = (int)((size_t)(n / 2) * (x->numel / (size_t)n));
    SET_ARGS(be, K_PAIR_ABS_DIFF_SUM, BUF(x), A(ob->small), A(half));
    st = launch(be, K_PAIR_ABS_DIFF_SUM, ob->reduce_size, ob->reduce_size);
    float value;
    if (st == GAN_OK)
        st = read_floats(be, ob->small, &value, 1);
    if (st == GAN_OK)
        *sum = value;
    return st;
}

static gan_status ocl_pair_sign_diff_add(gan_backend *be, const gan_tensor *x, int n, float coef, gan_tensor *grad)
{
    const int half = (int)((size_t)(n / 2) * (x->numel / (size_t)n));
    SET_ARGS(be, K_PAIR_SIGN_DIFF_ADD, BUF(x), BUF(grad), A(coef), A(half));
    return elementwise(be, K_PAIR_SIGN_DIFF_ADD, (size_t)half);
}

/* ------------------------------------------------------------ optimizers */

static gan_status ocl_adam_step(gan_backend *be, const gan_adam_step_args *a, gan_tensor *param,
                                const gan_tensor *grad, gan_tensor *exp_avg, gan_tensor *exp_avg_sq)
{
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step), bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float step_size = (float)(a->lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float beta1c = 1.0f - a->beta1, beta2c = 1.0f - a->beta2;
    const int n = (int)param->numel;
    SET_ARGS(be, K_ADAM, BUF(param), BUF(grad), BUF(exp_avg), BUF(exp_avg_sq), A(n), A(step_size), A(inv_sqrt_bc2),
             A(beta1c), A(a->beta2), A(beta2c), A(a->eps), A(a->weight_decay));
    return elementwise(be, K_ADAM, param->numel);
}

static gan_status ocl_sgd_step(gan_backend *be, const gan_sgd_step_args *a, gan_tensor *param,
                               const gan_tensor *grad, gan_tensor *momentum_buf)
{
    const int has_buf = momentum_buf != NULL, n = (int)param->numel;
    cl_mem buf = momentum_buf ? M(momentum_buf) : M(param); /* unused without momentum */
    SET_ARGS(be, K_SGD, BUF(param), BUF(grad), A(buf), A(has_buf), A(n), A(a->lr), A(a->momentum), A(a->dampening),
             A(a->weight_decay), A(a->nesterov), A(a->first));
    return elementwise(be, K_SGD, param->numel);
}

static gan_status ocl_ema_update(gan_backend *be, gan_tensor *average, const gan_tensor *value, float decay)
{
    const int n = (int)average->numel;
    const float keep = 1.0f - decay;
    SET_ARGS(be, K_EMA_UPDATE, BUF(average), BUF(value), A(decay), A(keep), A(n));
    return elementwise(be, K_EMA_UPDATE, average->numel);
}

/* ---------------------------------------------------------------- create */

static void ocl_finish(gan_backend *be) { clFinish(ocl(be)->queue); }

static void ocl_destroy(gan_backend *be)
{
    ocl_backend *ob = ocl(be);
    if (ob->queue)
        clFinish(ob->queue);
    for (int k = 0; k < K_COUNT; k++)
        if (ob->kernels[k])
            clReleaseKernel(ob->kernels[k]);
    cl_mem bufs[4] = {ob->cols, ob->mat, ob->gemm_scratch, ob->small};
    for (int i = 0; i < 4; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    if (ob->program)
        clReleaseProgram(ob->program);
    if (ob->queue)
        clReleaseCommandQueue(ob->queue);
    if (ob->context)
        clReleaseContext(ob->context);
    free(ob);
}

static const gan_backend_iface ocl_iface = {
    .name = "opencl",
    .destroy = ocl_destroy,
    .finish = ocl_finish,
    .alloc = ocl_alloc,
    .release = ocl_release,
    .ops.write = ocl_write,
    .ops.read = ocl_read,
    .ops.fill = ocl_fill,
    .ops.copy = ocl_copy,
    .ops.gemm = ocl_gemm,
    .ops.bias_add = ocl_bias_add,
    .ops.bias_grad = ocl_bias_grad,
    .ops.bias_activation = ocl_bias_activation,
    .ops.activation_bias_grad = ocl_activation_bias_grad,
    .ops.conv2d_backward = ocl_conv2d_backward,
    .ops.conv_transpose2d_backward = ocl_conv_transpose2d_backward,
    .ops.activation_forward = ocl_activation_forward,
    .ops.activation_backward = ocl_activation_backward,
    .ops.batchnorm_forward_train = ocl_batchnorm_forward_train,
    .ops.batchnorm_forward_eval = ocl_batchnorm_forward_eval,
    .ops.batchnorm_backward = ocl_batchnorm_backward,
    .ops.inverse_std = ocl_inverse_std,
    .ops.bce_logits = ocl_bce_logits,
    .ops.softmax_xent = ocl_softmax_xent,
    .ops.ema_update = ocl_ema_update,
    .ops.bce_probs = ocl_bce_probs,
    .ops.pair_abs_diff_sum = ocl_pair_abs_diff_sum,
    .ops.pair_sign_diff_add = ocl_pair_sign_diff_add,
    .ops.adam_step = ocl_adam_step,
    .ops.sgd_step = ocl_sgd_step,
};

/* Builds the embedded kernels once for this context; a failure reports the
 * compiler's log. */
static gan_status build_program(ocl_backend *ob)
{
    gan_backend *be = &ob->base;
    cl_int err;
    const char *src = gan_opencl_kernels_source;
    ob->program = clCreateProgramWithSource(ob->context, 1, &src, NULL, &err);
    CL_CHECK(be, err, "clCreateProgramWithSource");
    char options[64];
    snprintf(options, sizeof options, "-DREDUCE_SIZE=%zu", ob->reduce_size);
    err = clBuildProgram(ob->program, 1, &ob->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[3000] = "";
        clGetProgramBuildInfo(ob->program, ob->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        return gan_sink_fail(be->env->error, GAN_ERR_BACKEND,
                             "OpenCL: building the kernels failed (%s); compiler log:\n%s", cl_error_name(err), log);
    }
    for (int k = 0; k < K_COUNT; k++) {
        ob->kernels[k] = clCreateKernel(ob->program, kernel_names[k], &err);
        CL_CHECK(be, err, kernel_names[k]);
        size_t wg = 0;
        clGetKernelWorkGroupInfo(ob->kernels[k], ob->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
        if (wg < ob->reduce_size || wg < ELEMENTWISE_GROUP)
            return gan_sink_fail(be->env->error, GAN_ERR_UNAVAILABLE,
                                 "OpenCL: kernel %s runs at most %zu work-items per group on this device, it needs %zu",
                                 kernel_names[k], wg,
                                 ob->reduce_size > ELEMENTWISE_GROUP ? ob->reduce_size : (size_t)ELEMENTWISE_GROUP);
    }
    return GAN_OK;
}

gan_status gan_opencl_backend_create(gan_backend_env *env, int device, gan_backend **out)
{
    device_ref refs[MAX_DEVICES];
    int n = 0;
    cl_int err = enumerate(refs, MAX_DEVICES, &n);
    if (err != CL_SUCCESS || n == 0)
        return gan_sink_fail(env->error, GAN_ERR_UNAVAILABLE, "no OpenCL %s found: %s", err ? "platform" : "device",
                             icd_hint);
    if (device >= n)
        return gan_sink_fail(env->error, GAN_ERR_UNAVAILABLE,
                             "OpenCL device %d does not exist: there are %d (0 to %d), as gan_opencl_devices lists them",
                             device, n, n - 1);
    ocl_backend *ob = calloc(1, sizeof *ob);
    if (!ob)
        return gan_sink_fail(env->error, GAN_ERR_OUT_OF_MEMORY, "OpenCL backend: out of memory");
    ob->base.iface = &ocl_iface;
    ob->base.env = env;
    ob->device = refs[device].device;
    char name[256] = "";
    clGetDeviceInfo(ob->device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);

    /* what the kernels need: OpenCL 1.2, a compiler, groups of 64 */
    char version[128] = "";
    cl_bool available = CL_FALSE, compiler = CL_FALSE;
    size_t max_group = 0;
    clGetDeviceInfo(ob->device, CL_DEVICE_VERSION, sizeof version - 1, version, NULL);
    clGetDeviceInfo(ob->device, CL_DEVICE_AVAILABLE, sizeof available, &available, NULL);
    clGetDeviceInfo(ob->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    clGetDeviceInfo(ob->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group, NULL);
    int major = 0, minor = 0;
    sscanf(version, "OpenCL %d.%d", &major, &minor);
    const char *missing = !available ? "is not available"
                          : !compiler ? "has no OpenCL C compiler"
                          : (major < 1 || (major == 1 && minor < 2)) ? "is older than OpenCL 1.2"
                          : max_group < ELEMENTWISE_GROUP ? "runs fewer than 64 work-items per group"
                          : NULL;
    if (missing) {
        free(ob);
        return gan_sink_fail(env->error, GAN_ERR_UNAVAILABLE, "OpenCL device %d (%s, %s) %s: pick another device",
                             device, name, version, missing);
    }
    for (ob->reduce_size = MAX_REDUCE_SIZE; ob->reduce_size > max_group; ob->reduce_size /= 2)
        ;

    gan_backend *be = &ob->base;
    gan_status st = GAN_OK;
    ob->context = clCreateContext(NULL, 1, &ob->device, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        ob->queue = clCreateCommandQueue(ob->context, ob->device, 0, &err);
    if (err != CL_SUCCESS)
        st = cl_fail(be, err, "creating the context and queue");
    if (st == GAN_OK)
        st = build_program(ob);
    if (st != GAN_OK) {
        ocl_destroy(be);
        return st;
    }
    *out = be;
    return GAN_OK;
}
