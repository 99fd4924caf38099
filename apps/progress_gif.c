/* progress_gif.c - a run's sample grids as an animated GIF, read with
 * stb_image and written with giflib. */
#define _POSIX_C_SOURCE 200809L
#include "progress_gif.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gif_lib.h>
#include <stb_image.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct frame {
    long long order; /* 2 * step, + 1 for an epoch's grid */
    char name[64];
} frame;

static int by_order(const void *a, const void *b)
{
    const frame *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The grids of dir in training order (*count of them); NULL on failure. */
static frame *list_frames(const char *dir, int steps_per_epoch, int *count, char *err, size_t err_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "%s: cannot read: %s", dir, strerror(errno));
        return NULL;
    }
    frame *frames = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long number;
        char tail[8];
        const bool epoch = sscanf(e->d_name, "epoch_%lld%7s", &number, tail) == 2;
        if ((!epoch && sscanf(e->d_name, "step_%lld%7s", &number, tail) != 2) || strcmp(tail, ".png") != 0 ||
            strlen(e->d_name) >= sizeof frames->name)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            frame *p = realloc(frames, sizeof *p * (size_t)cap);
            if (!p) {
                free(frames);
                closedir(d);
                snprintf(err, err_size, "out of memory");
                return NULL;
            }
            frames = p;
        }
        frames[n].order = 2 * (epoch ? number * steps_per_epoch : number) + epoch;
        snprintf(frames[n].name, sizeof frames[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(frames, (size_t)n, sizeof *frames, by_order);
    *count = n;
    return n ? frames : calloc(1, sizeof *frames);
}

/* The NETSCAPE2.0 application extension: loop forever. */
static bool put_loop(GifFileType *gif)
{
    static const unsigned char app[11] = "NETSCAPE2.0", loop[3] = {1, 0, 0};
    return EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
           EGifPutExtensionBlock(gif, 11, app) == GIF_OK && EGifPutExtensionBlock(gif, 3, loop) == GIF_OK &&
           EGifPutExtensionTrailer(gif) == GIF_OK;
}

/* An RGB frame as indices into a palette of its own 256 colours (giflib's
 * median cut) written into map; NULL when out of memory or when giflib
 * fails. */
static uint8_t *quantize(const uint8_t *rgb, int w, int h, ColorMapObject *map)
{
    const size_t n = (size_t)w * h;
    uint8_t *planes = malloc(3 * n), *indices = malloc(n);
    bool ok = planes && indices;
    for (size_t i = 0; ok && i < n; i++)
        for (int c = 0; c < 3; c++)
            planes[c * n + i] = rgb[3 * i + c];
    int size = 256;
    ok = ok && GifQuantizeBuffer((unsigned)w, (unsigned)h, &size, planes, planes + n, planes + 2 * n, indices,
                                 map->Colors) == GIF_OK;
    /* giflib's palette holds its boxes' means of 5-bit values, some 4 levels
     * darker than the pixels: each entry becomes the mean of its pixels */
    uint64_t sum[256][3] = {{0}}, count[256] = {0};
    for (size_t i = 0; ok && i < n; i++) {
        count[indices[i]]++;
        for (int c = 0; c < 3; c++)
            sum[indices[i]][c] += rgb[3 * i + c];
    }
    for (int i = 0; ok && i < 256; i++) {
        GifByteType mean[3] = {0, 0, 0}; /* an entry no pixel uses stays black */
        for (int c = 0; c < 3 && count[i]; c++)
            mean[c] = (GifByteType)((sum[i][c] + count[i] / 2) / count[i]);
        map->Colors[i] = (GifColorType){mean[0], mean[1], mean[2]};
    }
    free(planes);
    if (!ok) {
        free(indices);
        return NULL;
    }
    return indices;
}

bool progress_gif_write(const char *run_dir, int steps_per_epoch, double delay_s, const char *out, int *frames_out,
                        char *err, size_t err_size)
{
    char dir[1100], tmp[1100], path[1200];
    err[0] = '\0';
    snprintf(dir, sizeof dir, "%s/samples", run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    int count = 0;
    frame *frames = list_frames(dir, steps_per_epoch, &count, err, err_size);
    *frames_out = 0;
    if (!frames || !count) {
        free(frames);
        return frames != NULL;
    }
    int gif_error = 0, width = 0, height = 0;
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666); /* giflib's own open makes it 0600 */
    GifFileType *gif = fd >= 0 ? EGifOpenFileHandle(fd, &gif_error) : NULL;
    if (fd >= 0 && !gif)
        close(fd);
    ColorMapObject *grey = GifMakeMapObject(256, NULL), *colours = GifMakeMapObject(256, NULL);
    bool ok = gif && grey && colours;
    if (!ok)
        snprintf(err, err_size, "%s: cannot create: %s", out,
                 gif ? "out of memory" : fd < 0 ? strerror(errno) : GifErrorString(gif_error));
    for (int i = 0; ok && i < 256; i++)
        grey->Colors[i] = (GifColorType){(GifByteType)i, (GifByteType)i, (GifByteType)i};
    const int delay = (int)(delay_s * 100.0 + 0.5); /* hundredths of a second */
    int colour = 0; /* the first grid decides: grey frames share the grey palette, colour ones get their own */
    for (int f = 0; ok && f < count; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, frames[f].name);
        int w, h, channels;
        if (f == 0 && stbi_info(path, &w, &h, &channels))
            colour = channels >= 3;
        uint8_t *pixels = stbi_load(path, &w, &h, &channels, colour ? 3 : 1), *indices = NULL;
        if (!pixels) {
            snprintf(err, err_size, "%s: cannot read the image: %s", path, stbi_failure_reason());
            ok = false;
            break;
        }
        if (f == 0) {
            width = w, height = h;
            EGifSetGifVersion(gif, true);
            ok = EGifPutScreenDesc(gif, w, h, 8, 0, colour ? NULL : grey) == GIF_OK && put_loop(gif);
        } else if (w != width || h != height) {
            snprintf(err, err_size, "%s is %dx%d, the grids before it %dx%d", path, w, h, width, height);
            ok = false;
        }
        if (ok && colour && !(indices = quantize(pixels, w, h, colours))) {
            snprintf(err, err_size, "%s: cannot reduce it to 256 colours", path);
            ok = false;
        }
        const unsigned char control[4] = {0, (unsigned char)(delay & 0xFF), (unsigned char)(delay >> 8), 0};
        ok = ok && EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, control) == GIF_OK &&
             EGifPutImageDesc(gif, 0, 0, w, h, false, colour ? colours : NULL) == GIF_OK;
        for (int y = 0; ok && y < h; y++)
            ok = EGifPutLine(gif, (colour ? indices : pixels) + (size_t)y * w, w) == GIF_OK;
        if (!ok && !err[0])
            snprintf(err, err_size, "%s: cannot write: %s", out, GifErrorString(gif->Error));
        stbi_image_free(pixels);
        free(indices);
    }
    if (gif && EGifCloseFile(gif, &gif_error) != GIF_OK && ok) {
        snprintf(err, err_size, "%s: cannot write: %s", out, GifErrorString(gif_error));
        ok = false;
    }
    GifFreeMapObject(grey);
    GifFreeMapObject(colours);
    free(frames);
    if (ok && rename(tmp, out) != 0) {
        snprintf(err, err_size, "%s: cannot write: %s", out, strerror(errno));
        ok = false;
    }
    if (!ok)
        remove(tmp);
    *frames_out = ok ? count : 0;
    return ok;
}
