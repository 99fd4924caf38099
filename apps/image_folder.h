/* image_folder.h - a folder of PNG, JPEG, BMP and GIF images as training
 * data: found recursively, decoded with stb_image, centre-cropped and
 * resized to the model's square size. The images are decoded once into a
 * cache in memory when they fit, or else a batch at a time by a background
 * thread while the step before it runs. */
#ifndef GAN_APPS_IMAGE_FOLDER_H
#define GAN_APPS_IMAGE_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct image_folder image_folder;

typedef struct image_folder_info {
    int count;         /* usable images */
    int skipped;       /* files that are no readable PNG, JPEG, BMP or GIF */
    int upscaled;      /* images whose shorter side is below the size */
    int size, channels;
    int grey;          /* every usable file is grey (with or without alpha) */
    size_t bytes;      /* of all images decoded: count * size * size * channels */
    bool cached;       /* decoded into memory; else decoded a batch at a time */
} image_folder_info;

/* Finds the images under dir, skipping each file that is not one with a
 * warning line on stderr naming it (program: warning: ...; program NULL:
 * silently); channels 0
 * picks 3 unless every image is grey, then 1. Caches the decoded images
 * when they take at most cache_limit bytes. NULL on failure, with a message
 * in err: no such folder, or no usable image in it. */
image_folder *image_folder_open(const char *dir, int size, int channels, size_t cache_limit, const char *program,
                                char *err, size_t err_size);
void image_folder_free(image_folder *f);
image_folder_info image_folder_describe(const image_folder *f);

/* The cache ([count][size][size][channels]), or NULL when not cached. */
const uint8_t *image_folder_cache(const image_folder *f);

/* Asks the background thread to decode the images of the given indices
 * (n of them, copied) next; one request at a time: it waits for the one
 * before to be taken. A cached folder needs none. False when the thread
 * cannot be started, with a message in err. */
bool image_folder_request(image_folder *f, const int *indices, int n, char *err, size_t err_size);
/* Waits for the requested images and returns them ([n][size][size]
 * [channels]), valid until the next request. A file that fails to decode
 * now is replaced by another image of the batch, with one warning line. */
const uint8_t *image_folder_take(image_folder *f);

#endif
