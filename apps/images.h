/* images.h - sample images out of the apps: PNG grids and IDX files. */
#ifndef GAN_APPS_IMAGES_H
#define GAN_APPS_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [-1, 1] floats to bytes 0..255, rounded and clamped. */
void images_to_bytes(const float *src, size_t n, uint8_t *dst);

/* count square images of size x size with `channels` planes each ([count]
 * [channels][size][size], values in [-1, 1]) as bytes with the channels
 * interleaved, as image and IDX files hold them ([count][size][size]
 * [channels]) into dst (the caller's). */
void images_to_interleaved(const float *images, int count, int size, int channels, uint8_t *dst);

/* count square images of size x size with `channels` planes each ([count]
 * [channels][size][size], values in [-1, 1]) as one grid of `columns`
 * columns with a 2-pixel border, 8 bits per channel interleaved, *width x
 * *height; NULL when out of memory (the caller frees). */
uint8_t *images_grid(const float *images, int count, int size, int channels, int columns, int *width, int *height);

/* Writes 8-bit pixels of 1 to 4 interleaved channels (grey, grey + alpha,
 * RGB, RGBA) as a PNG, replaced atomically. On failure returns false with a
 * message in err. */
bool images_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels, char *err,
                      size_t err_size);

/* Writes count square images (as images_grid takes them) as a PNG grid of
 * `columns` columns with a 2-pixel border; the file is replaced atomically.
 * On failure returns false with a message in err. */
bool images_write_grid(const char *path, const float *images, int count, int size, int channels, int columns,
                       char *err, size_t err_size);

#endif
