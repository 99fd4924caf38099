/* image_folder.c - training images from a folder, through stb_image and
 * stb_image_resize, cached in memory or decoded by a background thread. */
#define _POSIX_C_SOURCE 200809L
#include "image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum request_state { IDLE, REQUESTED, DONE } request_state;

struct image_folder {
    image_folder_info info;
    const char *program;
    char **paths;         /* info.count usable files, sorted; owned */
    uint8_t *cache;       /* [count][size][size][channels] or NULL */
    /* the background decoder, started by the first request */
    pthread_t thread;
    bool started, stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    request_state state;
    int *indices, n;      /* the request; room for `room` */
    int room;
    uint8_t *batch;       /* its images, [room][size][size][channels] */
    bool *warned;         /* per image: its decoding failure was reported */
};

typedef struct path_list {
    char **items;
    int count, room;
} path_list;

static bool push_path(path_list *l, const char *path)
{
    if (l->count == l->room) {
        const int room = l->room ? 2 * l->room : 256;
        char **p = l->room < (1 << 29) ? realloc(l->items, sizeof *p * (size_t)room) : NULL;
        if (!p)
            return false;
        l->items = p, l->room = room;
    }
    if (!(l->items[l->count] = strdup(path)))
        return false;
    l->count++;
    return true;
}

static void free_paths(char **paths, int count)
{
    for (int i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

/* Every regular file under dir, hidden ones (".name") left out. */
static bool walk(const char *dir, path_list *out, char *err, size_t err_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "%s: cannot read the folder: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat sb;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path || stat(path, &sb) != 0)
            continue; /* a dangling link or a name too long: no image to read */
        if (S_ISDIR(sb.st_mode))
            ok = walk(path, out, err, err_size);
        else if (S_ISREG(sb.st_mode) && !push_path(out, path)) {
            snprintf(err, err_size, "out of memory listing %s", dir);
            ok = false;
        }
    }
    closedir(d);
    return ok;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether the file starts as a PNG, JPEG, BMP or GIF does. */
static bool known_format(const char *path)
{
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    const size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    return (n >= 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0) || (n >= 3 && memcmp(head, "\xff\xd8\xff", 3) == 0) ||
           (n >= 2 && memcmp(head, "BM", 2) == 0) || (n >= 4 && memcmp(head, "GIF8", 4) == 0);
}

/* Decodes path, crops the centred square and resizes it to size x size
 * with `channels` channels into dst. On failure returns false with the
 * reason in why. */
static bool decode(const char *path, int size, int channels, uint8_t *dst, const char **why)
{
    int w, h, file_channels;
    uint8_t *pixels = stbi_load(path, &w, &h, &file_channels, channels);
    if (!pixels) {
        *why = stbi_failure_reason();
        return false;
    }
    const int side = w < h ? w : h;
    const uint8_t *corner = pixels + ((size_t)((h - side) / 2) * w + (size_t)(w - side) / 2) * channels;
    const bool resized = stbir_resize_uint8(corner, side, side, w * channels, dst, size, size, size * channels,
                                            channels) != 0;
    stbi_image_free(pixels);
    if (!resized)
        *why = "out of memory resizing it";
    return resized;
}

static void warn_skipped(const image_folder *f, const char *path, const char *why)
{
    if (f->program)
        fprintf(stderr, "%s: warning: skipping %s: %s\n", f->program, path, why);
}

/* Decodes every image into the cache, several at a time; drops (and warns
 * about) those that fail. small[i]: image i is upscaled. */
static bool fill_cache(image_folder *f, const bool *small, char *err, size_t err_size)
{
    image_folder_info *in = &f->info;
    const size_t image_bytes = (size_t)in->size * in->size * in->channels;
    f->cache = malloc(in->bytes ? in->bytes : 1);
    const char **why = calloc((size_t)in->count, sizeof *why);
    if (!f->cache || !why) {
        free(why);
        snprintf(err, err_size, "out of memory for the %zu-byte image cache", in->bytes);
        return false;
    }
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < in->count; i++)
        if (!decode(f->paths[i], in->size, in->channels, f->cache + (size_t)i * image_bytes, &why[i]))
            why[i] = why[i] ? why[i] : "cannot decode";
    int kept = 0;
    for (int i = 0; i < in->count; i++) {
        if (why[i]) {
            warn_skipped(f, f->paths[i], why[i]);
            free(f->paths[i]);
            in->skipped++;
            in->upscaled -= small[i];
            continue;
        }
        if (kept != i)
            memmove(f->cache + (size_t)kept * image_bytes, f->cache + (size_t)i * image_bytes, image_bytes);
        f->paths[kept++] = f->paths[i];
    }
    free(why);
    in->count = kept;
    in->bytes = (size_t)kept * image_bytes;
    return true;
}

image_folder *image_folder_open(const char *dir, int size, int channels, size_t cache_limit, const char *program,
                                char *err, size_t err_size)
{
    image_folder *f = calloc(1, sizeof *f);
    path_list found = {0};
    if (!f) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    f->program = program;
    f->info.size = size;
    f->info.grey = 1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    if (!walk(dir, &found, err, err_size)) {
        free_paths(found.items, found.count);
        image_folder_free(f);
        return NULL;
    }
    if (found.count)
        qsort(found.items, (size_t)found.count, sizeof *found.items, by_name);
    /* the headers: which files are images, their sizes, grey or colour */
    f->paths = found.items;
    bool *small = calloc((size_t)found.count + 1, sizeof *small);
    if (!small) {
        free_paths(found.items, found.count);
        f->paths = NULL;
        image_folder_free(f);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (int i = 0; i < found.count; i++) {
        int w, h, file_channels;
        const char *why = !known_format(found.items[i]) ? "not a PNG, JPEG, BMP or GIF image"
                          : !stbi_info(found.items[i], &w, &h, &file_channels) ? stbi_failure_reason()
                                                                                 : NULL;
        if (why) {
            warn_skipped(f, found.items[i], why);
            free(found.items[i]);
            f->info.skipped++;
            continue;
        }
        f->info.grey = f->info.grey && file_channels <= 2;
        small[f->info.count] = (w < h ? w : h) < size;
        f->info.upscaled += small[f->info.count];
        f->paths[f->info.count++] = found.items[i];
    }
    image_folder_info *in = &f->info;
    in->channels = channels ? channels : in->grey ? 1 : 3;
    in->bytes = (size_t)in->count * size * size * in->channels;
    in->cached = in->count > 0 && in->bytes <= cache_limit;
    const bool filled = !in->cached || fill_cache(f, small, err, err_size);
    free(small);
    if (!filled) {
        image_folder_free(f);
        return NULL;
    }
    if (in->count == 0) {
        snprintf(err, err_size, "%s holds no usable image (PNG, JPEG, BMP or GIF)%s", dir,
                 in->skipped ? ": every file was skipped" : "");
        image_folder_free(f);
        return NULL;
    }
    return f;
}

void image_folder_free(image_folder *f)
{
    if (!f)
        return;
    if (f->started) {
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_cond_broadcast(&f->changed);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->changed);
    free_paths(f->paths, f->info.count);
    free(f->cache);
    free(f->indices);
    free(f->batch);
    free(f->warned);
    free(f);
}

image_folder_info image_folder_describe(const image_folder *f) { return f->info; }

const uint8_t *image_folder_cache(const image_folder *f) { return f->cache; }

/* Decodes the request into f->batch; each image that fails takes the
 * batch's first good one (black when none is). */
static void decode_request(image_folder *f)
{
    const size_t image_bytes = (size_t)f->info.size * f->info.size * f->info.channels;
    int good = -1;
    for (int b = 0; b < f->n; b++) {
        const int i = f->indices[b];
        const char *why;
        if (decode(f->paths[i], f->info.size, f->info.channels, f->batch + (size_t)b * image_bytes, &why)) {
            good = good < 0 ? b : good;
            continue;
        }
        memset(f->batch + (size_t)b * image_bytes, 0, image_bytes);
        if (!f->warned[i]) {
            f->warned[i] = true;
            if (f->program)
                fprintf(stderr, "%s: warning: %s cannot be decoded (%s): another image of the batch stands in for it\n",
                        f->program, f->paths[i], why ? why : "cannot decode");
        }
    }
    for (int b = 0; good >= 0 && b < f->n; b++)
        if (f->warned[f->indices[b]])
            memcpy(f->batch + (size_t)b * image_bytes, f->batch + (size_t)good * image_bytes, image_bytes);
}

static void *decoder(void *arg)
{
    image_folder *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (!f->stop && f->state != REQUESTED)
            pthread_cond_wait(&f->changed, &f->lock);
        if (f->stop)
            break;
        pthread_mutex_unlock(&f->lock); /* the request is the thread's until DONE */
        decode_request(f);
        pthread_mutex_lock(&f->lock);
        f->state = DONE;
        pthread_cond_broadcast(&f->changed);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

bool image_folder_request(image_folder *f, const int *indices, int n, char *err, size_t err_size)
{
    if (f->state == REQUESTED)
        image_folder_take(f);
    if (n > f->room) {
        const size_t image_bytes = (size_t)f->info.size * f->info.size * f->info.channels;
        free(f->indices), free(f->batch);
        f->indices = malloc(sizeof *f->indices * (size_t)n);
        f->batch = malloc(image_bytes * (size_t)n);
        f->room = f->indices && f->batch ? n : 0;
        if (!f->warned)
            f->warned = calloc((size_t)f->info.count, sizeof *f->warned);
        if (!f->room || !f->warned) {
            snprintf(err, err_size, "out of memory for a batch of %d decoded images", n);
            return false;
        }
    }
    if (!f->started) {
        const int e = pthread_create(&f->thread, NULL, decoder, f);
        if (e) {
            snprintf(err, err_size, "cannot start the image decoding thread: %s", strerror(e));
            return false;
        }
        f->started = true;
    }
    pthread_mutex_lock(&f->lock);
    memcpy(f->indices, indices, sizeof *indices * (size_t)n);
    f->n = n;
    f->state = REQUESTED;
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
    return true;
}

const uint8_t *image_folder_take(image_folder *f)
{
    pthread_mutex_lock(&f->lock);
    while (f->state == REQUESTED)
        pthread_cond_wait(&f->changed, &f->lock);
    f->state = IDLE;
    pthread_mutex_unlock(&f->lock);
    return f->batch;
}
