/* summary.c - TensorBoard event files: TFRecord framing (little-endian
 * length, masked CRC-32C of the length, the record, masked CRC-32C of the
 * record) around Event protobufs, encoded by hand: wall_time (1), step (2),
 * file_version (3), summary (5) of values with tag (1) and simple_value (2)
 * or image (4: height 1, width 2, colorspace 3, encoded PNG 4), and
 * session_log (7) with its status (1). */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct gan_summary_writer {
    gan_context *ctx;
    FILE *file;
    char *path;
};

/* ------------------------------------------------------------ CRC-32C */

/* Bit by bit: the records are small (a PNG grid at most), and it keeps no
 * table to share between threads. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t masked_crc(const uint8_t *p, size_t n)
{
    const uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

/* -------------------------------------------------------- protobuf bytes */

typedef struct buffer {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* out of memory */
} buffer;

static void put(buffer *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_varint(buffer *b, uint64_t v)
{
    uint8_t bytes[10];
    int n = 0;
    do {
        bytes[n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, bytes, (size_t)n);
}

static void put_tag(buffer *b, int field, int wire_type) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type); }

static void put_le(buffer *b, uint64_t v, int bytes)
{
    uint8_t out[8];
    for (int i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * i));
    put(b, out, (size_t)bytes);
}

/* A length-delimited field: bytes, string or embedded message. */
static void put_bytes(buffer *b, int field, const void *data, size_t n)
{
    put_tag(b, field, 2);
    put_varint(b, n);
    put(b, data, n);
}

/* The Event's common head: wall_time (now) and step. */
static void put_event_head(buffer *b, int64_t step)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const double wall = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    uint64_t bits;
    memcpy(&bits, &wall, 8);
    put_tag(b, 1, 1);
    put_le(b, bits, 8);
    if (step) {
        put_tag(b, 2, 0);
        put_varint(b, (uint64_t)step);
    }
}

/* Frames the record and appends it to the file. */
static gan_status write_record(gan_summary_writer *w, buffer *event)
{
    gan_status st = GAN_OK;
    if (event->failed) {
        st = gan_fail(w->ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of host memory", w->path);
    } else {
        uint8_t head[12];
        for (int i = 0; i < 8; i++)
            head[i] = (uint8_t)((uint64_t)event->len >> (8 * i));
        const uint32_t len_crc = masked_crc(head, 8), data_crc = masked_crc(event->data, event->len);
        for (int i = 0; i < 4; i++)
            head[8 + i] = (uint8_t)(len_crc >> (8 * i));
        uint8_t tail[4];
        for (int i = 0; i < 4; i++)
            tail[i] = (uint8_t)(data_crc >> (8 * i));
        if (fwrite(head, 1, 12, w->file) != 12 || fwrite(event->data, 1, event->len, w->file) != event->len ||
            fwrite(tail, 1, 4, w->file) != 4)
            st = gan_fail(w->ctx, GAN_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    }
    free(event->data);
    return st;
}

/* ------------------------------------------------------------------ API */

gan_status gan_summary_open(gan_context *ctx, const char *dir, gan_summary_writer **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!dir || !out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_summary_open: dir or out is NULL");
    *out = NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p == '/')
            *p = '_';
    const size_t len = strlen(dir) + strlen(host) + 64;
    gan_summary_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = malloc(len))) {
        free(w);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_summary_open: out of host memory");
    }
    w->ctx = ctx;
    /* a new file each time, never another run's: a suffix when the second is taken */
    const long long now = (long long)time(NULL);
    for (int attempt = 0; attempt < 100 && !w->file; attempt++) {
        snprintf(w->path, len, attempt ? "%s/events.out.tfevents.%010lld.%s.%d" : "%s/events.out.tfevents.%010lld.%s",
                 dir, now, host, attempt);
        const int fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0 && !(w->file = fdopen(fd, "wb")))
            close(fd);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (!w->file) {
        gan_status st = gan_fail(ctx, GAN_ERR_IO, "%s: cannot create: %s", w->path, strerror(errno));
        free(w->path);
        free(w);
        return st;
    }
    buffer b = {0};
    put_event_head(&b, 0);
    put_bytes(&b, 3, "brain.Event:2", 13);
    gan_status st = write_record(w, &b);
    if (st == GAN_OK)
        st = gan_summary_flush(w);
    if (st != GAN_OK) { /* the new file holds no whole record: removed, the message kept */
        fclose(w->file);
        unlink(w->path);
        free(w->path);
        free(w);
        return st;
    }
    *out = w;
    return GAN_OK;
}

const char *gan_summary_path(const gan_summary_writer *w) { return w ? w->path : NULL; }

static gan_status check_tag(gan_summary_writer *w, const char *tag, int64_t step)
{
    if (!tag || !tag[0] || step < 0)
        return gan_fail(w->ctx, GAN_ERR_INVALID_ARGUMENT, "summary: needs a tag and a step >= 0");
    return GAN_OK;
}

gan_status gan_summary_scalar(gan_summary_writer *w, const char *tag, int64_t step, float value)
{
    gan_clear_error(w ? w->ctx : NULL);
    if (!w)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = check_tag(w, tag, step);
    if (st != GAN_OK)
        return st;
    buffer v = {0}, s = {0}, e = {0};
    put_bytes(&v, 1, tag, strlen(tag));
    uint32_t bits;
    memcpy(&bits, &value, 4);
    put_tag(&v, 2, 5);
    put_le(&v, bits, 4);
    put_bytes(&s, 1, v.data, v.len);
    put_event_head(&e, step);
    put_bytes(&e, 5, s.data, s.len);
    e.failed = e.failed || v.failed || s.failed;
    free(v.data);
    free(s.data);
    return write_record(w, &e);
}

static void png_sink(void *context, void *data, int size) { put(context, data, (size_t)size); }

gan_status gan_summary_image(gan_summary_writer *w, const char *tag, int64_t step, const uint8_t *pixels, int height,
                             int width, int channels)
{
    gan_clear_error(w ? w->ctx : NULL);
    if (!w)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_status st = check_tag(w, tag, step);
    if (st != GAN_OK)
        return st;
    if (!pixels || height < 1 || width < 1 || height > 1 << 15 || width > 1 << 15 || channels < 1 || channels > 4)
        return gan_fail(w->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_summary_image: %dx%d pixels of %d channel(s): needs 1 to 32768 by 1 to 32768, 1 to 4 channels",
                        height, width, channels);
    buffer png = {0}, img = {0}, v = {0}, s = {0}, e = {0};
    if (!stbi_write_png_to_func(png_sink, &png, width, height, channels, pixels, width * channels))
        png.failed = true;
    put_tag(&img, 1, 0);
    put_varint(&img, (uint64_t)height);
    put_tag(&img, 2, 0);
    put_varint(&img, (uint64_t)width);
    put_tag(&img, 3, 0);
    put_varint(&img, (uint64_t)channels); /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA */
    put_bytes(&img, 4, png.data, png.len);
    put_bytes(&v, 1, tag, strlen(tag));
    put_bytes(&v, 4, img.data, img.len);
    put_bytes(&s, 1, v.data, v.len);
    put_event_head(&e, step);
    put_bytes(&e, 5, s.data, s.len);
    e.failed = e.failed || png.failed || img.failed || v.failed || s.failed;
    free(png.data), free(img.data), free(v.data), free(s.data);
    return write_record(w, &e);
}

gan_status gan_summary_restart(gan_summary_writer *w, int64_t step)
{
    gan_clear_error(w ? w->ctx : NULL);
    if (!w)
        return GAN_ERR_INVALID_ARGUMENT;
    if (step < 0)
        return gan_fail(w->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_summary_restart: step %lld < 0", (long long)step);
    buffer log = {0}, e = {0};
    put_tag(&log, 1, 0);
    put_varint(&log, 1); /* SessionLog.START */
    put_event_head(&e, step);
    put_bytes(&e, 7, log.data, log.len);
    e.failed = e.failed || log.failed;
    free(log.data);
    return write_record(w, &e);
}

gan_status gan_summary_flush(gan_summary_writer *w)
{
    gan_clear_error(w ? w->ctx : NULL);
    if (!w)
        return GAN_ERR_INVALID_ARGUMENT;
    if (fflush(w->file) != 0 || fsync(fileno(w->file)) != 0)
        return gan_fail(w->ctx, GAN_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    return GAN_OK;
}

gan_status gan_summary_close(gan_summary_writer *w)
{
    gan_clear_error(w ? w->ctx : NULL);
    if (!w)
        return GAN_OK;
    gan_status st = gan_summary_flush(w);
    if (fclose(w->file) != 0 && st == GAN_OK)
        st = gan_fail(w->ctx, GAN_ERR_IO, "%s: cannot write: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return st;
}
