/* fuzz_checkpoint.c - libFuzzer harness of the checkpoint reader: the
 * safetensors parser, the whole-file checksum, the metadata's validation
 * and loading into a model. An input whose first byte is odd gets its
 * checksum recomputed first, so that mutations also reach what lies behind
 * it. Any input is opened or refused with a message, never a crash, a
 * leak or undefined behaviour. */
#define _POSIX_C_SOURCE 200809L
#include <gan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char path[64];
static gan_context *ctx;
static gan_model *generator, *discriminator; /* the zoo's "gan" at 2x2, latent 1 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof path, "%s/gan_fuzz_checkpoint_%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
    gan_context_params p = gan_context_default_params();
    p.num_threads = 1;
    const gan_models_params small = {1, 2, 1};
    if (gan_context_create(&p, &ctx, NULL, 0) != GAN_OK ||
        gan_models_create(ctx, "gan", &small, &generator, &discriminator) != GAN_OK)
        abort();
    return 0;
}

/* Sets the file_crc32 digits, when the token is there once, to the CRC-32
 * of the whole input with those digits as zeros. */
static void seal(uint8_t *data, size_t size)
{
    static const char token[] = "\"file_crc32\":\"";
    const size_t t = sizeof token - 1;
    uint8_t *digits = NULL;
    for (size_t i = 0; i + t + 8 <= size; i++)
        if (memcmp(data + i, token, t) == 0) {
            if (digits)
                return;
            digits = data + i + t;
        }
    if (!digits)
        return;
    memcpy(digits, "00000000", 8);
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", crc32(0L, data, (uInt)size));
    memcpy(digits, hex, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    uint8_t *data = malloc(size ? size : 1);
    memcpy(data, input, size);
    if (size && (data[0] & 1))
        seal(data, size);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    free(data);
    gan_checkpoint *ckpt = NULL;
    if (gan_checkpoint_open(ctx, path, &ckpt) == GAN_OK) {
        gan_checkpoint_info info;
        if (gan_checkpoint_get_info(ckpt, &info) != GAN_OK || info.steps < 0 || info.position.epoch < 0)
            abort();
        gan_models_info check;
        if (info.has_model && gan_models_describe(info.model.name, &info.model_params, &check) != GAN_OK)
            abort(); /* what was accepted is a model the zoo can build */
        gan_checkpoint_meta(ckpt, "dataset");
        if (gan_checkpoint_load_generator(ckpt, generator) != GAN_OK && !gan_context_error(ctx)[0])
            abort();
        gan_checkpoint_close(ckpt);
    } else if (ckpt || !gan_context_error(ctx)[0]) {
        abort(); /* a refusal names its reason and keeps nothing */
    }
    return 0;
}
