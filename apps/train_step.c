/* train_step.c - the GAN training step. */
#include "train_step.h"

#define TRY(call)                      \
    do {                               \
        gan_status st_ = (call);       \
        if (st_ != GAN_OK)             \
            return st_;                \
    } while (0)

gan_status train_step_run(gan_context *ctx, gan_pair *p, const gan_tensor *real, const gan_tensor *z,
                          step_stats *s)
{
    const gan_tensor *logits, *fake, *dfake;
    float loss_real, loss_fake;
    gan_model_set_requires_grad(p->d, 1);
    TRY(gan_model_zero_grad(p->d));
    TRY(gan_model_forward(p->d, real, &logits));
    TRY(gan_bce_with_logits(ctx, logits, p->ones, p->dlogits, &loss_real, &s->d_x));
    TRY(gan_model_backward(p->d, p->dlogits, NULL));
    TRY(gan_model_forward(p->g, z, &fake));
    TRY(gan_model_forward(p->d, fake, &logits));
    TRY(gan_bce_with_logits(ctx, logits, p->zeros, p->dlogits, &loss_fake, &s->d_g_z1));
    TRY(gan_model_backward(p->d, p->dlogits, NULL));
    TRY(gan_optimizer_step(p->od));
    s->loss_d = loss_real + loss_fake;

    gan_model_set_requires_grad(p->d, 0); /* G's step needs D's input gradient only */
    TRY(gan_model_zero_grad(p->g));
    TRY(gan_model_forward(p->d, fake, &logits));
    TRY(gan_bce_with_logits(ctx, logits, p->ones, p->dlogits, &s->loss_g, &s->d_g_z2));
    TRY(gan_model_backward(p->d, p->dlogits, &dfake));
    TRY(gan_model_backward(p->g, dfake, NULL));
    TRY(gan_optimizer_step(p->og));
    return GAN_OK;
}
