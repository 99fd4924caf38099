/* idx.c - IDX files (MNIST's format): read raw or gzip through zlib's
 * inflate, with every length checked against the header and nothing
 * accepted after the data; write raw. */
#include "gan_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* 1 GiB: far above any IDX data set, low enough to refuse a gzip bomb */
#define IDX_MAX_BYTES ((size_t)1 << 30)

static const char *type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

static bool gzip_magic(const uint8_t *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

/* Inflates gzip data: every member of the stream, and nothing after it. */
static gan_status gunzip(gan_error_sink err, const char *path, const uint8_t *in, size_t in_len, uint8_t **out,
                         size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return gan_sink_fail(err, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    gan_status st = buf ? GAN_OK : gan_sink_fail(err, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    z.next_in = (Bytef *)in;
    while (st == GAN_OK) {
        if (n == cap) {
            uint8_t *p = cap >= IDX_MAX_BYTES ? NULL : realloc(buf, cap * 2);
            if (!p) {
                st = cap >= IDX_MAX_BYTES ? gan_sink_fail(err, GAN_ERR_FORMAT, "%s: larger than %zu bytes", path, IDX_MAX_BYTES)
                                          : gan_sink_fail(err, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                break;
            }
            buf = p;
            cap *= 2;
        }
        const size_t consumed = (size_t)(z.next_in - (const Bytef *)in);
        const size_t chunk = in_len - consumed < (1u << 30) ? in_len - consumed : (1u << 30);
        z.avail_in = (uInt)chunk;
        z.next_out = buf + n;
        z.avail_out = (uInt)(cap - n < (1u << 30) ? cap - n : (1u << 30));
        const uInt out_before = z.avail_out;
        const int ret = inflate(&z, Z_NO_FLUSH);
        n += out_before - z.avail_out;
        const size_t left = in_len - (size_t)(z.next_in - (const Bytef *)in);
        if (ret == Z_STREAM_END) {
            if (left == 0)
                break;
            if (!gzip_magic(z.next_in, left)) {
                st = gan_sink_fail(err, GAN_ERR_FORMAT, "%s: %zu unexpected bytes after the gzip data", path, left);
                break;
            }
            inflateReset(&z); /* another member of the same stream */
        } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && z.avail_out == 0)) { /* full: grow */
            st = gan_sink_fail(err, GAN_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", path,
                               ret == Z_BUF_ERROR ? "unexpected end of file" : z.msg ? z.msg : "invalid data");
        }
    }
    inflateEnd(&z);
    if (st != GAN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = n;
    return GAN_OK;
}

/* Reads the whole file, decompressing it when it is gzip. */
static gan_status read_all(gan_error_sink err, const char *path, uint8_t **out, size_t *len)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    gan_status st = gan_read_file(err, path, IDX_MAX_BYTES, &raw, &raw_len);
    if (st != GAN_OK)
        return st;
    if (!gzip_magic(raw, raw_len)) {
        *out = raw;
        *len = raw_len;
        return GAN_OK;
    }
    st = gunzip(err, path, raw, raw_len, out, len);
    free(raw);
    return st;
}

gan_status gan_idx_read(const char *path, gan_idx *out, char *error, size_t error_size)
{
    const gan_error_sink err = {error, error_size};
    if (error && error_size)
        error[0] = '\0';
    if (!path || !out)
        return gan_sink_fail(err, GAN_ERR_INVALID_ARGUMENT, "gan_idx_read: path or out is NULL");
    memset(out, 0, sizeof *out);
    uint8_t *b = NULL;
    size_t n = 0;
    gan_status st = read_all(err, path, &b, &n);
    if (st != GAN_OK)
        return st;
    st = GAN_ERR_FORMAT;
    if (n < 4 || b[0] != 0 || b[1] != 0 || !type_name(b[2])) {
        gan_sink_fail(err, st, "%s: not an IDX file (bad magic number)", path);
    } else if (b[2] != 0x08) {
        gan_sink_fail(err, st, "%s: IDX element type 0x%02X (%s) is not supported, only unsigned bytes",
                      path, b[2], type_name(b[2]));
    } else if (b[3] < 1 || b[3] > GAN_MAX_DIMS) {
        gan_sink_fail(err, st, "%s: %d dimensions, expected 1 to %d", path, b[3], GAN_MAX_DIMS);
    } else if (n < 4 + 4 * (size_t)b[3]) {
        gan_sink_fail(err, st, "%s: truncated in the header (%zu bytes)", path, n);
    } else {
        const size_t header = 4 + 4 * (size_t)b[3];
        size_t count = 1;
        bool ok = true;
        for (int i = 0; i < b[3] && ok; i++) {
            const uint8_t *d = b + 4 + 4 * i;
            uint32_t v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
            if (v == 0 || v > (uint32_t)INT32_MAX || count > IDX_MAX_BYTES / v) {
                gan_sink_fail(err, st, "%s: dimension %d is %u", path, i, v);
                ok = false;
            }
            out->dims[i] = (int)v;
            count *= v;
        }
        if (ok && n - header < count)
            gan_sink_fail(err, st, "%s: truncated: the header announces %zu values, the file holds %zu",
                          path, count, n - header);
        else if (ok && n - header > count)
            gan_sink_fail(err, st, "%s: %zu unexpected bytes after the %zu values", path,
                          n - header - count, count);
        else if (ok) {
            out->ndim = b[3];
            out->count = count;
            out->bytes = b;
            out->n_bytes = n;
            out->data = b + header;
            return GAN_OK;
        }
    }
    free(b);
    memset(out, 0, sizeof *out);
    return st;
}

void gan_idx_free(gan_idx *idx)
{
    if (!idx)
        return;
    free(idx->bytes);
    memset(idx, 0, sizeof *idx);
}

gan_status gan_idx_write(gan_context *ctx, const char *path, int ndim, const int *dims,
                         const uint8_t *data)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!path || !dims || !data || ndim < 1 || ndim > GAN_MAX_DIMS)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_idx_write: bad arguments");
    uint8_t header[4 + 4 * GAN_MAX_DIMS] = {0, 0, 0x08, (uint8_t)ndim};
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_idx_write: dimension %d is %d", i, dims[i]);
        uint32_t v = (uint32_t)dims[i];
        header[4 + 4 * i] = (uint8_t)(v >> 24);
        header[5 + 4 * i] = (uint8_t)(v >> 16);
        header[6 + 4 * i] = (uint8_t)(v >> 8);
        header[7 + 4 * i] = (uint8_t)v;
        count *= v;
    }
    const void *parts[2] = {header, data};
    const size_t sizes[2] = {4 + 4 * (size_t)ndim, count};
    return gan_write_file_atomic(ctx, path, parts, sizes, 2);
}
