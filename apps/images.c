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

bool images_write_grid(const char *path, const float *images, int count, int size, int columns,
                       char *err, size_t err_size)
{
    const int border = 2, rows = (count + columns - 1) / columns;
    const int width = columns * (size + border) + border, height = rows * (size + border) + border;
    uint8_t *canvas = malloc((size_t)width * height), *tile = malloc((size_t)size * size);
    bool ok = canvas && tile;
    if (ok) {
        memset(canvas, 0, (size_t)width * height);
        for (int i = 0; i < count; i++) {
            images_to_bytes(images + (size_t)i * size * size, (size_t)size * size, tile);
            const int x0 = border + (i % columns) * (size + border), y0 = border + (i / columns) * (size + border);
            for (int y = 0; y < size; y++)
                memcpy(canvas + (size_t)(y0 + y) * width + x0, tile + (size_t)y * size, (size_t)size);
        }
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
        ok = stbi_write_png(tmp, width, height, 1, canvas, width) != 0;
        if (ok && rename(tmp, path) != 0) {
            ok = false;
            remove(tmp);
        }
        if (!ok)
            snprintf(err, err_size, "%s: cannot write the image: %s", path, strerror(errno));
    } else {
        snprintf(err, err_size, "%s: out of memory", path);
    }
    free(canvas);
    free(tile);
    return ok;
}
