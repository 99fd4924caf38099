/* backend_select.c - backend choice for the apps. */
#include "backend_select.h"

#include <stdio.h>
#include <string.h>

gan_context *backend_context(const char *program, const char *backend, int device, int threads,
                             uint64_t seed)
{
    gan_context_params p = gan_context_default_params();
    if (strcmp(backend, "cpu") == 0) {
        p.backend = GAN_BACKEND_CPU;
    } else if (strcmp(backend, "opencl") == 0) {
        p.backend = GAN_BACKEND_OPENCL;
    } else {
        fprintf(stderr, "%s: --backend takes cpu or opencl, not '%s'\n", program, backend);
        return NULL;
    }
    p.num_threads = threads;
    p.device = device;
    p.seed = seed;
    gan_context *ctx = NULL;
    char error[4096];
    gan_status st = gan_context_create(&p, &ctx, error, sizeof error);
    if (st != GAN_OK) {
        fprintf(stderr, "%s: cannot use the %s backend: %s\n", program, backend,
                error[0] ? error : gan_strerror(st));
        if (st == GAN_ERR_UNAVAILABLE && p.backend == GAN_BACKEND_OPENCL)
            fprintf(stderr, "%s: --list-devices shows the OpenCL devices, --device N picks one\n", program);
        return NULL;
    }
    return ctx;
}

int backend_list_devices(const char *program)
{
    enum { MAX = 64 };
    gan_device_info devices[MAX];
    int count = 0;
    char error[512];
    if (gan_opencl_devices(devices, MAX, &count, error, sizeof error) != GAN_OK) {
        fprintf(stderr, "%s: %s\n", program, error);
        return 1;
    }
    printf("OpenCL devices (use --backend opencl --device N):\n");
    for (int i = 0; i < count && i < MAX; i++) {
        const gan_device_info *d = &devices[i];
        printf("  %d: %s [%s] on %s, %s, %d compute units, %.1f GiB%s\n", d->index, d->name,
               d->is_gpu ? "GPU" : "CPU/other", d->platform, d->version, d->compute_units,
               (double)d->global_memory / (1024.0 * 1024.0 * 1024.0), i == 0 ? " (default)" : "");
    }
    return 0;
}
