/* file_io.c - whole files in and out: reading one into memory, and atomic
 * replacement (write a temporary file beside the target, flush it to disk,
 * then rename it over the target). */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

gan_status gan_read_file(gan_error_sink err, const char *path, size_t max_size, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gan_sink_fail(err, GAN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gan_status st = GAN_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    uint8_t *buf = NULL;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = gan_sink_fail(err, GAN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    else if ((unsigned long)size > max_size)
        st = gan_sink_fail(err, GAN_ERR_FORMAT, "%s: larger than %zu bytes", path, max_size);
    else if (!(buf = malloc(size ? (size_t)size : 1)))
        st = gan_sink_fail(err, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    else if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        st = gan_sink_fail(err, GAN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    if (st != GAN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = (size_t)size;
    return GAN_OK;
}

gan_status gan_write_file_atomic(gan_context *ctx, const char *path, const void *const *parts,
                                 const size_t *sizes, size_t n_parts)
{
    const size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    snprintf(tmp, len + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        gan_status st = gan_fail(ctx, GAN_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    bool ok = true;
    for (size_t i = 0; i < n_parts && ok; i++)
        ok = sizes[i] == 0 || fwrite(parts[i], 1, sizes[i], f) == sizes[i];
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) {
        remove(tmp);
        gan_status st = gan_fail(ctx, GAN_ERR_IO, "%s: cannot write: %s", path, strerror(err));
        free(tmp);
        return st;
    }
    free(tmp);
    /* make the rename itself durable */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
        int fd = open(d, O_RDONLY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        free(dir);
    }
    return GAN_OK;
}
