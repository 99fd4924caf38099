/* embed_example.c - the README's example: a C program that embeds libgan,
 * builds a small discriminator and runs training steps on it. */
#include <gan.h>
#include <stdio.h>

#define TRY(call) do { gan_status s_ = (call); if (s_ != GAN_OK) { \
    fprintf(stderr, "%s: %s\n", gan_strerror(s_), gan_context_error(ctx)); return 1; } } while (0)

int main(void)
{
    gan_context *ctx = NULL;
    gan_context_params params = gan_context_default_params(); /* CPU, all cores */
    params.seed = 42;
    if (gan_context_create(&params, &ctx, NULL, 0) != GAN_OK)
        return 1;

    /* D: 28x28 image -> Conv(1->16, k4 s2 p1) -> BatchNorm -> LeakyReLU -> Linear -> logit */
    gan_model *d;
    gan_layer *layer;
    gan_conv2d_params conv = gan_conv2d_default_params(1, 16, 4);
    conv.stride_h = conv.stride_w = 2;
    conv.pad_h = conv.pad_w = 1;
    TRY(gan_model_create(ctx, &d));
    TRY(gan_conv2d_create(ctx, &conv, &layer));             TRY(gan_model_add(d, layer));
    TRY(gan_batchnorm2d_create(ctx, 16, 1e-5f, 0.1f, &layer)); TRY(gan_model_add(d, layer));
    TRY(gan_leaky_relu_create(ctx, 0.2f, &layer));          TRY(gan_model_add(d, layer));
    TRY(gan_flatten_create(ctx, &layer));                   TRY(gan_model_add(d, layer));
    TRY(gan_linear_create(ctx, 16 * 14 * 14, 1, 1, &layer)); TRY(gan_model_add(d, layer));
    TRY(gan_model_init_dcgan(d, 0.02f));

    gan_adam_params adam = gan_adam_default_params();
    adam.lr = 2e-4f;
    adam.beta1 = 0.5f;
    gan_optimizer *opt;
    TRY(gan_optimizer_adam_create(d, &adam, &opt));

    /* a batch of 64 "real" images and their labels */
    gan_tensor *x, *labels, *dlogits;
    TRY(gan_tensor_create(ctx, 4, (int[]){64, 1, 28, 28}, &x));
    TRY(gan_tensor_create(ctx, 2, (int[]){64, 1}, &labels));
    TRY(gan_tensor_create(ctx, 2, (int[]){64, 1}, &dlogits));
    TRY(gan_tensor_fill_uniform(x, -1.0f, 1.0f));
    TRY(gan_tensor_fill(labels, 1.0f));

    for (int step = 0; step < 5; step++) {
        const gan_tensor *logits;
        float loss, d_x;
        TRY(gan_model_zero_grad(d));
        TRY(gan_model_forward(d, x, &logits));
        TRY(gan_bce_with_logits(ctx, logits, labels, dlogits, &loss, &d_x));
        TRY(gan_model_backward(d, dlogits, NULL));
        TRY(gan_optimizer_step(opt));
        printf("step %d: loss %.4f D(x) %.3f\n", step, loss, d_x);
    }
    gan_tensor_free(x);
    gan_tensor_free(labels);
    gan_tensor_free(dlogits);
    gan_optimizer_free(opt);
    gan_model_free(d);
    gan_context_free(ctx);
    return 0;
}
