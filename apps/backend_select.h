/* backend_select.h - the apps' --backend, --device and --list-devices. */
#ifndef GAN_APPS_BACKEND_SELECT_H
#define GAN_APPS_BACKEND_SELECT_H

#include "gan.h"

/* The context for --backend (cpu or opencl) and --device; NULL after
 * printing the library's message, which names the problem and the fix. */
gan_context *backend_context(const char *program, const char *backend, int device, int threads,
                             uint64_t seed);

/* Prints every OpenCL platform and device; returns the exit status. */
int backend_list_devices(const char *program);

#endif
