/* registry.c - the backends this library knows, and which of them this
 * build has. A new backend adds its entry here and its files to the build. */
#include "gan_backend.h"

#include <stdio.h>

gan_status gan_cpu_backend_create(gan_backend_env *env, int device, gan_backend **out);
#ifdef GAN_HAVE_OPENCL
gan_status gan_opencl_backend_create(gan_backend_env *env, int device, gan_backend **out);
#define OPENCL_CREATE gan_opencl_backend_create
#else
#define OPENCL_CREATE NULL
#endif

static const gan_backend_entry registry[] = {
    {GAN_BACKEND_CPU, "cpu", gan_cpu_backend_create, NULL},
    {GAN_BACKEND_OPENCL, "opencl", OPENCL_CREATE,
     "this libgan was built without OpenCL: rebuild with ocl-icd-opencl-dev, opencl-headers and "
     "libclblast-dev installed"},
};

const gan_backend_entry *gan_backend_find(gan_backend_kind kind)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (registry[i].kind == kind)
            return &registry[i];
    return NULL;
}

#ifndef GAN_HAVE_OPENCL
gan_status gan_opencl_devices(gan_device_info *out, int max, int *count, char *error, size_t error_size)
{
    (void)out;
    (void)max;
    if (count)
        *count = 0;
    if (error && error_size)
        snprintf(error, error_size, "%s", gan_backend_find(GAN_BACKEND_OPENCL)->missing);
    return GAN_ERR_UNAVAILABLE;
}
#endif
