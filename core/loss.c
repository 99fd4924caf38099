/* loss.c - the losses: binary cross-entropy and softmax cross-entropy;
 * argument checks, then the backend. */
#include "gan_internal.h"

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
