/* fuzz_idx.c - libFuzzer harness of the IDX reader (raw and gzip): any
 * input is read or refused with a message, never a crash, a leak or
 * undefined behaviour; what is read is self-consistent. */
#define _POSIX_C_SOURCE 200809L
#include <gan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof path, "%s/gan_fuzz_idx_%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    gan_idx idx;
    char error[512] = "";
    if (gan_idx_read(path, &idx, error, sizeof error) == GAN_OK) {
        size_t count = 1;
        for (int i = 0; i < idx.ndim; i++)
            count *= (size_t)idx.dims[i];
        if (idx.ndim < 1 || idx.ndim > GAN_MAX_DIMS || count != idx.count ||
            idx.data + idx.count != idx.bytes + idx.n_bytes)
            abort();
        gan_idx_free(&idx);
    } else if (!error[0] || idx.bytes) {
        abort(); /* a refusal names its reason and keeps nothing */
    }
    return 0;
}
