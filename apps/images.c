/* images.c - PNG grids through stb_image_write. */
#define _POSIX_C_SOURCE 200809L
#include "images.h"

#include <errno.h>
#include <math.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void images_to_bytes(const float *src, size_t n, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        float v = (src[i] + 1.0f) * 127.5f;
        v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        dst[i] = (uint8_t)lrintf(v);
    }
}

void images_to_interleaved(const float *images, int count, int size, int channels, uint8_t *dst)
{
    const size_t plane = (size_t)size * size;
    for (int i = 0; i < count; i++)
        for (int c = 0; c < channels; c++)
            for (size_t p = 0; p < plane; p++)
                images_to_bytes(images + ((size_t)i * channels + c) * plane + p, 1,
                                dst + ((size_t)i * plane + p) * channels + c);
}

uint8_t *images_grid(const float *images, int count, int size, int channels, int columns, int *width, int *height)
{
    const int border = 2, rows = (count + columns - 1) / columns;
    *width = columns * (size + border) + border;
    *height = rows * (size + border) + border;
    uint8_t *canvas = calloc((size_t)*width * *height * channels, 1);
    if (!canvas)
        return NULL;
    const size_t plane = (size_t)size * size;
    for (int i = 0; i < count; i++) {
        const int x0 = border + (i % columns) * (size + border), y0 = border + (i / columns) * (size + border);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < size; y++) {
                const float *row = images + ((size_t)i * channels + c) * plane + (size_t)y * size;
                uint8_t *dst = canvas + ((size_t)(y0 + y) * *width + x0) * channels + c;
                for (int x = 0; x < size; x++)
                    images_to_bytes(row + x, 1, dst + (size_t)x * channels);
            }
    }
    return canvas;
}

bool images_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels, char *err,
                      size_t err_size)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    bool ok = stbi_write_png(tmp, width, height, channels, pixels, width * channels) != 0;
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        remove(tmp);
    }
    if (!ok)
        snprintf(err, err_size, "%s: cannot write the image: %s", path, strerror(errno));
    return ok;
}

bool images_write_grid(const char *path, const float *images, int count, int size, int channels, int columns,
                       char *err, size_t err_size)
{
    int width, height;
    uint8_t *canvas = images_grid(images, count, size, channels, columns, &width, &height);
    if (!canvas) {
        snprintf(err, err_size, "%s: out of memory", path);
        return false;
    }
    const bool ok = images_write_png(path, canvas, width, height, channels, err, err_size);
    free(canvas);
    return ok;
}
