/* kernels.cl - the OpenCL backend's kernels, OpenCL C 1.2, float only so
 * they run on every driver and on PoCL. Embedded into the library at build
 * time. Reductions use one work-group per output with a fixed-order tree,
 * so results are the same run to run. The local size of every reducing
 * kernel is REDUCE_SIZE (a power of two, defined at build time). */

__kernel void bias_add(__global float *y, __global const float *bias, int c, int hw, int total)
{
    const int i = get_global_id(0);
    if (i < total)
        y[i] += bias[(i / hw) % c];
}

/* Sums `count` values spread by the caller's indexing into a local tree;
 * every item of the group returns the total. */
inline float group_sum(float v, __local float *scratch)
{
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_SIZE / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* one group per channel: dbias[ch] += sum over n, hw of dy */
__kernel void bias_grad(__global const float *dy, __global float *dbias, int n, int c, int hw)
{
    __local float scratch[REDUCE_SIZE];
    const int ch = get_group_id(0), lid = get_local_id(0);
    float sum = 0.0f;
    for (int i = lid; i < n * hw; i += REDUCE_SIZE)
        sum += dy[((i / hw) * c + ch) * hw + i % hw];
    sum = group_sum(sum, scratch);
    if (lid == 0)
        dbias[ch] += sum;
}

typedef struct conv_geom {
    int n, in_c, in_h, in_w, out_c, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
} conv_geom;

/* col[K = in_c*kh*kw][cn*P] of samples n0..n0+cn */
__kernel void im2col(__global const float *x, __global float *col, conv_geom g, int n0, int cn)
{
    const int P = g.out_h * g.out_w, kk = g.kernel_h * g.kernel_w;
    const int total = g.in_c * kk * cn * P;
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int p = i % P, s = (i / P) % cn, r = i / (P * cn);
    const int ci = r / kk, kh = (r % kk) / g.kernel_w, kw = r % g.kernel_w;
    const int h = (p / g.out_w) * g.stride_h - g.pad_h + kh, w = (p % g.out_w) * g.stride_w - g.pad_w + kw;
    col[i] = (h >= 0 && h < g.in_h && w >= 0 && w < g.in_w)
                 ? x[(((n0 + s) * g.in_c + ci) * g.in_h + h) * g.in_w + w]
                 : 0.0f;
}

/* each input element gathers the columns it fed (no write conflicts) */
__kernel void col2im(__global const float *col, __global float *x, conv_geom g, int n0, int cn)
{
    const int total = cn * g.in_c * g.in_h * g.in_w;
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int w = i % g.in_w, h = (i / g.in_w) % g.in_h, ci = (i / (g.in_w * g.in_h)) % g.in_c;
    const int s = i / (g.in_w * g.in_h * g.in_c);
    const int P = g.out_h * g.out_w, ld = cn * P;
    float sum = 0.0f;
    for (int kh = 0; kh < g.kernel_h; kh++) {
        const int th = h + g.pad_h - kh;
        if (th < 0 || th % g.stride_h)
            continue;
        const int oh = th / g.stride_h;
        if (oh >= g.out_h)
            continue;
        for (int kw = 0; kw < g.kernel_w; kw++) {
            const int tw = w + g.pad_w - kw;
            if (tw < 0 || tw % g.stride_w)
                continue;
            const int ow = tw / g.stride_w;
            if (ow >= g.out_w)
                continue;
            const int r = (ci * g.kernel_h + kh) * g.kernel_w + kw;
            sum += col[r * ld + s * P + oh * g.out_w + ow];
        }
    }
    x[((n0 + s) * g.in_c + ci) * g.in_h * g.in_w + h * g.in_w + w] = sum;
}

/* [n][c][P] of samples n0.. <-> [c][cn*P] */
__kernel void nchw_to_chunk(__global const float *src, __global float *dst, int n0, int cn, int c, int P)
{
    const int i = get_global_id(0);
    if (i >= c * cn * P)
        return;
    const int p = i % P, s = (i / P) % cn, ch = i / (P * cn);
    dst[i] = src[((n0 + s) * c + ch) * P + p];
}

__kernel void chunk_to_nchw(__global const float *src, __global float *dst, int n0, int cn, int c, int P)
{
    const int i = get_global_id(0);
    if (i >= c * cn * P)
        return;
    const int p = i % P, ch = (i / P) % c, s = i / (P * c);
    dst[((n0 + s) * c + ch) * P + p] = src[(ch * cn + s) * P + p];
}

/* act: 0 ReLU, 1 LeakyReLU, 2 Tanh, 3 Sigmoid (gan_activation's order) */
__kernel void activation_forward(int act, float slope, __global const float *x, __global float *y, int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const float v = x[i];
    switch (act) {
    case 0: y[i] = v > 0.0f ? v : 0.0f; break;
    case 1: y[i] = v > 0.0f ? v : slope * v; break;
    case 2: y[i] = tanh(v); break;
    default: y[i] = 1.0f / (1.0f + exp(-v)); break;
    }
}

__kernel void activation_backward(int act, float slope, __global const float *x, __global const float *y,
                                  __global const float *dy, __global float *dx, int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    switch (act) {
    case 0: dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; break;
    case 1: dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i]; break;
    case 2: dx[i] = dy[i] * (1.0f - y[i] * y[i]); break;
    default: dx[i] = dy[i] * y[i] * (1.0f - y[i]); break;
    }
}

/* one group per channel: batch mean and 1/std (two passes), running
 * statistics updated with the unbiased variance */
__kernel void batchnorm_stats(__global const float *x, __global float *save_mean, __global float *save_invstd,
                              __global float *running_mean, __global float *running_var, int n, int c,
                              int hw, float eps, float momentum)
{
    __local float scratch[REDUCE_SIZE];
    const int ch = get_group_id(0), lid = get_local_id(0), count = n * hw;
    float sum = 0.0f;
    for (int i = lid; i < count; i += REDUCE_SIZE)
        sum += x[((i / hw) * c + ch) * hw + i % hw];
    const float mean = group_sum(sum, scratch) / (float)count;
    float ss = 0.0f;
    for (int i = lid; i < count; i += REDUCE_SIZE) {
        const float d = x[((i / hw) * c + ch) * hw + i % hw] - mean;
        ss += d * d;
    }
    ss = group_sum(ss, scratch);
    if (lid == 0) {
        const float var = ss / (float)count;
        save_mean[ch] = mean;
        save_invstd[ch] = 1.0f / sqrt(var + eps);
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (ss / (float)(count - 1));
    }
}

/* A folded activation (act: -1 none, 0 ReLU, 1 LeakyReLU, as
 * activation_forward) on a batch norm's output, and its backward on dy
 * through that output y, as activation_backward does through its input. */
float folded_forward(int act, float slope, float v)
{
    return act < 0 || v > 0.0f ? v : act == 0 ? 0.0f : slope * v;
}

float folded_backward(int act, float slope, float y, float dy)
{
    return act < 0 || y > 0.0f ? dy : act == 0 ? 0.0f : slope * dy;
}

/* y = (x - mean) * invstd * gamma + beta, then the folded activation; eval
 * passes from_var and computes invstd from the running variance */
__kernel void batchnorm_apply(__global const float *x, __global float *y, __global const float *gamma,
                              __global const float *beta, __global const float *mean,
                              __global const float *std_or_var, int from_var, float eps, int c, int hw,
                              int total, int act, float slope)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int ch = (i / hw) % c;
    const float invstd = from_var ? 1.0f / sqrt(std_or_var[ch] + eps) : std_or_var[ch];
    const float scale = gamma[ch] * invstd;
    y[i] = folded_forward(act, slope, x[i] * scale + (beta[ch] - mean[ch] * scale));
}

/* one group per channel: sums[ch] = sum dy, sums[c + ch] = sum dy * xhat,
 * dy taken through the folded activation first (y: the forward's output);
 * also accumulated into dgamma/dbeta when accumulate is set */
__kernel void batchnorm_backward_reduce(__global const float *x, __global const float *y, __global const float *dy,
                                        __global const float *mean, __global const float *invstd,
                                        __global float *sums, __global float *dgamma, __global float *dbeta,
                                        int accumulate, int n, int c, int hw, int act, float slope)
{
    __local float scratch[REDUCE_SIZE];
    const int ch = get_group_id(0), lid = get_local_id(0), count = n * hw;
    const float m = mean[ch], is = invstd[ch];
    float s1 = 0.0f, s2 = 0.0f;
    for (int i = lid; i < count; i += REDUCE_SIZE) {
        const int at = ((i / hw) * c + ch) * hw + i % hw;
        const float g = folded_backward(act, slope, y[at], dy[at]);
        s1 += g;
        s2 += g * ((x[at] - m) * is);
    }
    s1 = group_sum(s1, scratch);
    s2 = group_sum(s2, scratch);
    if (lid == 0) {
        sums[ch] = s1;
        sums[c + ch] = s2;
        if (accumulate) {
            dgamma[ch] += s2;
            dbeta[ch] += s1;
        }
    }
}

__kernel void batchnorm_backward_dx(__global const float *x, __global const float *y, __global const float *dy,
                                    __global const float *gamma, __global const float *mean,
                                    __global const float *invstd, __global const float *sums, __global float *dx,
                                    int batch_stats, int n, int c, int hw, int act, float slope)
{
    const int i = get_global_id(0), total = n * c * hw;
    if (i >= total)
        return;
    const int ch = (i / hw) % c;
    const float count = (float)(n * hw), is = invstd[ch];
    const float mean_dy = batch_stats ? sums[ch] / count : 0.0f;
    const float mean_dy_xhat = batch_stats ? sums[c + ch] / count : 0.0f;
    const float xhat = (x[i] - mean[ch]) * is;
    dx[i] = gamma[ch] * is * (folded_backward(act, slope, y[i], dy[i]) - mean_dy - xhat * mean_dy_xhat);
}

__kernel void inverse_std(__global const float *var, __global float *invstd, float eps, int n)
{
    const int i = get_global_id(0);
    if (i < n)
        invstd[i] = 1.0f / sqrt(var[i] + eps);
}

/* one group: out[0] = sum of losses, out[1] = sum of probabilities;
 * grad (when has_grad) = (p - t) / n. logits: 1, probabilities: 0 */
__kernel void bce(__global const float *in, __global const float *target, __global float *grad, int has_grad,
                  int logits, __global float *out, int n)
{
    __local float scratch[REDUCE_SIZE];
    const int lid = get_local_id(0);
    float loss = 0.0f, prob = 0.0f;
    for (int i = lid; i < n; i += REDUCE_SIZE) {
        const float v = in[i], t = target[i];
        float g;
        if (logits) {
            const float s = v >= 0.0f ? 1.0f / (1.0f + exp(-v)) : exp(v) / (1.0f + exp(v));
            loss += fmax(v, 0.0f) - v * t + log1p(exp(-fabs(v)));
            prob += s;
            g = s - t;
        } else {
            loss -= t * fmax(log(v), -100.0f) + (1.0f - t) * fmax(log(1.0f - v), -100.0f);
            prob += v;
            g = (v - t) / fmax((1.0f - v) * v, 1e-12f);
        }
        if (has_grad)
            grad[i] = g / (float)n;
    }
    loss = group_sum(loss, scratch);
    prob = group_sum(prob, scratch);
    if (lid == 0) {
        out[0] = loss;
        out[1] = prob;
    }
}

/* one group: out[0] = sum over i < span of |x[i] - x[i + span]| */
__kernel void pair_abs_diff_sum(__global const float *x, __global float *out, int span)
{
    __local float scratch[REDUCE_SIZE];
    const int lid = get_local_id(0);
    float sum = 0.0f;
    for (int i = lid; i < span; i += REDUCE_SIZE)
        sum += fabs(x[i] - x[i + span]);
    sum = group_sum(sum, scratch);
    if (lid == 0)
        out[0] = sum;
}

__kernel void pair_sign_diff_add(__global const float *x, __global float *grad, float coef, int span)
{
    const int i = get_global_id(0);
    if (i >= span)
        return;
    const float d = x[i] - x[i + span];
    const float step = d > 0.0f ? coef : d < 0.0f ? -coef : 0.0f;
    grad[i] += step;
    grad[i + span] -= step;
}

/* one group: out[0] = sum over rows of -sum t log softmax(z), out[1] =
 * rows whose first largest z is at t's first largest; grad (when
 * has_grad) = (softmax(z) - t) / rows. A row per work-item. */
__kernel void softmax_xent(__global const float *z, __global const float *target, __global float *grad,
                           int has_grad, __global float *out, int rows, int classes)
{
    __local float scratch[REDUCE_SIZE];
    const int lid = get_local_id(0);
    float loss = 0.0f, right = 0.0f;
    for (int r = lid; r < rows; r += REDUCE_SIZE) {
        __global const float *zr = z + (size_t)r * classes, *tr = target + (size_t)r * classes;
        int zmax = 0, tmax = 0;
        for (int c = 1; c < classes; c++) {
            zmax = zr[c] > zr[zmax] ? c : zmax;
            tmax = tr[c] > tr[tmax] ? c : tmax;
        }
        right += zmax == tmax ? 1.0f : 0.0f;
        float exps = 0.0f;
        for (int c = 0; c < classes; c++)
            exps += exp(zr[c] - zr[zmax]);
        const float log_sum = log(exps) + zr[zmax];
        for (int c = 0; c < classes; c++) {
            loss -= tr[c] * (zr[c] - log_sum);
            if (has_grad)
                grad[(size_t)r * classes + c] = (exp(zr[c] - log_sum) - tr[c]) / (float)rows;
        }
    }
    loss = group_sum(loss, scratch);
    right = group_sum(right, scratch);
    if (lid == 0) {
        out[0] = loss;
        out[1] = right;
    }
}

__kernel void adam(__global float *p, __global const float *g, __global float *m, __global float *v, int n,
                   float step_size, float inv_sqrt_bc2, float beta1c, float beta2, float beta2c, float eps,
                   float weight_decay)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const float gi = g[i] + weight_decay * p[i];
    const float mi = m[i] + beta1c * (gi - m[i]);
    const float vi = beta2 * v[i] + beta2c * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
}

__kernel void sgd(__global float *p, __global const float *g, __global float *buf, int has_buf, int n, float lr,
                  float momentum, float dampening, float weight_decay, int nesterov, int first)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float d = g[i] + weight_decay * p[i];
    if (has_buf) {
        const float b = first ? d : momentum * buf[i] + (1.0f - dampening) * d;
        buf[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
}

__kernel void ema_update(__global float *avg, __global const float *v, float decay, float keep, int n)
{
    const int i = get_global_id(0);
    if (i < n)
        avg[i] = decay * avg[i] + keep * v[i];
}
