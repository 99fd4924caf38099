/* loss.c - the losses: binary cross-entropy, softmax cross-entropy and the
 * mode-seeking term; argument checks, then the backend. */
#include "gan_internal.h"

#include <math.h>

static gan_status check_loss_args(gan_context *ctx, const char *fn, const gan_tensor *input,
                                  const gan_tensor *target, const gan_tensor *grad,
                                  const float *loss)
{
    if (!input || !target || !loss)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: input, target or loss is NULL", fn);
    if (input->ctx != ctx || target->ctx != ctx || (grad && grad->ctx != ctx))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: a tensor belongs to another context", fn);
    char a[64], b[64];
    if (!gan_tensor_same_shape(input, target))
        return gan_fail(ctx, GAN_ERR_SHAPE, "%s: target %s does not match input %s", fn,
                        gan_shape_str(target->ndim, target->shape, a, sizeof a),
                        gan_shape_str(input->ndim, input->shape, b, sizeof b));
    if (grad && !gan_tensor_same_shape(input, grad))
        return gan_fail(ctx, GAN_ERR_SHAPE, "%s: grad %s does not match input %s", fn,
                        gan_shape_str(grad->ndim, grad->shape, a, sizeof a),
                        gan_shape_str(input->ndim, input->shape, b, sizeof b));
    return GAN_OK;
}

gan_status gan_bce_with_logits(gan_context *ctx, const gan_tensor *logits, const gan_tensor *target,
                               gan_tensor *grad, float *loss, float *mean_prob)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = check_loss_args(ctx, "gan_bce_with_logits", logits, target, grad, loss);
    if (st != GAN_OK)
        return st;
    return GAN_RUN(ctx, bce_logits, logits, target, grad, loss, mean_prob);
}

gan_status gan_softmax_cross_entropy(gan_context *ctx, const gan_tensor *logits, const gan_tensor *target,
                                     gan_tensor *grad, float *loss, int *correct)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = check_loss_args(ctx, "gan_softmax_cross_entropy", logits, target, grad, loss);
    if (st != GAN_OK)
        return st;
    if (logits->ndim != 2) {
        char a[64];
        return gan_fail(ctx, GAN_ERR_SHAPE, "gan_softmax_cross_entropy: logits %s are not [rows, classes]",
                        gan_shape_str(logits->ndim, logits->shape, a, sizeof a));
    }
    return GAN_RUN(ctx, softmax_xent, logits, target, logits->shape[0], logits->shape[1], grad, loss, correct);
}

gan_status gan_bce(gan_context *ctx, const gan_tensor *probs, const gan_tensor *target,
                   gan_tensor *grad, float *loss)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = check_loss_args(ctx, "gan_bce", probs, target, grad, loss);
    if (st != GAN_OK)
        return st;
    return GAN_RUN(ctx, bce_probs, probs, target, grad, loss);
}

gan_status gan_mode_seeking(gan_context *ctx, const gan_tensor *images, const gan_tensor *z, float weight,
                            gan_tensor *grad, float *loss, float *ratio)
{
    static const char fn[] = "gan_mode_seeking";
    static const double EPS = 1e-5; /* Mao et al.'s */
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!images || !z)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: images or z is NULL", fn);
    if (images->ctx != ctx || z->ctx != ctx || (grad && grad->ctx != ctx))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: a tensor belongs to another context", fn);
    if (!(weight >= 0.0f && isfinite(weight)))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "%s: weight %g is not a finite value >= 0", fn, weight);
    char a[64], b[64];
    const int n = images->shape[0];
    if (z->shape[0] != n || n < 2)
        return gan_fail(ctx, GAN_ERR_SHAPE, "%s: needs 2 or more images and as many noise vectors, not %s and %s",
                        fn, gan_shape_str(images->ndim, images->shape, a, sizeof a),
                        gan_shape_str(z->ndim, z->shape, b, sizeof b));
    if (grad && !gan_tensor_same_shape(images, grad))
        return gan_fail(ctx, GAN_ERR_SHAPE, "%s: grad %s does not match images %s", fn,
                        gan_shape_str(grad->ndim, grad->shape, a, sizeof a),
                        gan_shape_str(images->ndim, images->shape, b, sizeof b));
    double image_sum, z_sum;
    gan_status st = GAN_RUN(ctx, pair_abs_diff_sum, images, n, &image_sum);
    if (st == GAN_OK)
        st = GAN_RUN(ctx, pair_abs_diff_sum, z, n, &z_sum);
    if (st != GAN_OK)
        return st;
    /* the means: each sum runs over n/2 rows of numel/n elements */
    const double pairs = (double)(n / 2), image_elements = pairs * (double)(images->numel / (size_t)n);
    const double image_mean = image_sum / image_elements;
    const double z_mean = z_sum / (pairs * (double)(z->numel / (size_t)n));
    if (z_mean == 0.0) { /* ratio infinity: the term and its gradient vanish */
        if (loss)
            *loss = 0.0f;
        if (ratio)
            *ratio = INFINITY;
        return GAN_OK;
    }
    const double r = image_mean / z_mean, term = weight / (r + EPS);
    if (loss)
        *loss = (float)term;
    if (ratio)
        *ratio = (float)r;
    if (!grad || weight == 0.0f)
        return GAN_OK;
    /* d term / d image element = -weight / (r + eps)^2 * d r / d element, and
     * d r / d element = sign(difference) / (z_mean * elements of the pairs) */
    const double coef = -term / (r + EPS) / (z_mean * image_elements);
    return GAN_RUN(ctx, pair_sign_diff_add, images, n, (float)coef, grad);
}
