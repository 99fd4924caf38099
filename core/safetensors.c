/* safetensors.c - the safetensors format (8-byte little-endian header
 * length, a JSON header, then the tensors' bytes), read and written with
 * cJSON, with a CRC-32 of the payload in the metadata. */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The format's own bound on the header. */
#define SAFETENSORS_MAX_HEADER 100000000ull
#define MAX_STORED_DIMS 8

typedef struct stored_tensor {
    char *name;
    char dtype[8];
    int ndim;
    int64_t shape[MAX_STORED_DIMS];
    uint64_t begin, end; /* within the payload */
} stored_tensor;

struct gan_safetensors {
    gan_context *ctx;
    char *path;
    uint8_t *file;         /* the whole file */
    const uint8_t *payload;
    uint64_t payload_len;
    stored_tensor *tensors;
    size_t n_tensors;
    cJSON *metadata;       /* object of strings, or NULL */
    cJSON *header;
    bool whole_file_checked; /* a file_crc32 covered header and payload */
};

static int dtype_size(const char *dtype)
{
    static const struct { const char *name; int size; } table[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},   {"BOOL", 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(dtype, table[i].name) == 0)
            return table[i].size;
    return 0;
}

/* Metadata keys of the checksums: the CRC-32 of the whole file, computed
 * with its own 8 hex digits as zeros, and (files of libgan 0.1) of the
 * payload alone. */
#define FILE_CRC_KEY "file_crc32"
#define PAYLOAD_CRC_KEY "payload_crc32"
#define CRC_PLACEHOLDER "00000000"
#define CRC_TOKEN "\"" FILE_CRC_KEY "\":\""

/* The 8 digits of the file checksum inside a raw JSON header, or NULL
 * unless the key's token occurs exactly once (a quote inside a JSON string
 * is escaped, so the token cannot hide in a value). */
static char *crc_digits(char *header, size_t len)
{
    const size_t token = strlen(CRC_TOKEN);
    char *found = NULL;
    for (size_t i = 0; i + token + 8 < len; i++)
        if (memcmp(header + i, CRC_TOKEN, token) == 0) {
            if (found)
                return NULL;
            found = header + i + token;
        }
    return found;
}

/* crc32 over more than 4 GiB, in pieces zlib's uInt can say */
static uLong crc32_large(uLong crc, const uint8_t *data, uint64_t len)
{
    while (len > 0) {
        const uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = crc32(crc, data, n);
        data += n;
        len -= n;
    }
    return crc;
}

/* ------------------------------------------------------------------ save */

gan_status gan_safetensors_save(gan_context *ctx, const char *path, const gan_entry *entries,
                                size_t n_entries, const char *const (*meta)[2], size_t n_meta)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!path || (!entries && n_entries) || (!meta && n_meta))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_safetensors_save: NULL argument");
    uint64_t payload_len = 0;
    for (size_t i = 0; i < n_entries; i++) {
        const gan_entry *e = &entries[i];
        if (!(e->kind == GAN_ENTRY_COUNTER ? e->counter != NULL : e->value != NULL) || !e->name[0])
            return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_safetensors_save: entry %zu is empty", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(entries[j].name, e->name) == 0)
                return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                                "gan_safetensors_save: two entries named '%s'", e->name);
        payload_len += e->kind == GAN_ENTRY_COUNTER ? 8 : 4 * (uint64_t)e->value->numel;
    }
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    cJSON *root = cJSON_CreateObject(), *md = cJSON_CreateObject();
    char *header = NULL;
    gan_status st = GAN_OK;
    if (!payload || !root || !md) {
        st = gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    cJSON_AddItemToObject(root, "__metadata__", md);
    uint64_t at = 0;
    for (size_t i = 0; i < n_entries && st == GAN_OK; i++) {
        const gan_entry *e = &entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        const bool counter = e->kind == GAN_ENTRY_COUNTER; /* PyTorch keeps counters as 0-d int64 */
        cJSON_AddStringToObject(t, "dtype", counter ? "I64" : "F32");
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        uint64_t size;
        if (counter) {
            memcpy(payload + at, e->counter, 8);
            size = 8;
        } else {
            for (int d = 0; d < e->value->ndim; d++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber(e->value->shape[d]));
            size = 4 * (uint64_t)e->value->numel;
            float *host = gan_host_scratch(ctx, e->value->numel);
            st = host ? gan_tensor_read(e->value, host, e->value->numel)
                      : gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            if (st == GAN_OK)
                memcpy(payload + at, host, size);
        }
        cJSON *offsets = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(at + size)));
        at += size;
    }
    if (st != GAN_OK)
        goto done;
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[i][0] || !meta[i][1] || strcmp(meta[i][0], FILE_CRC_KEY) == 0 ||
            strcmp(meta[i][0], PAYLOAD_CRC_KEY) == 0) {
            st = gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_safetensors_save: bad metadata pair %zu", i);
            goto done;
        }
        cJSON_AddStringToObject(md, meta[i][0], meta[i][1]);
    }
    cJSON_AddStringToObject(md, FILE_CRC_KEY, CRC_PLACEHOLDER);
    char *json = cJSON_PrintUnformatted(root);
    if (!json) {
        st = gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    /* pad the header with spaces so the payload starts 8-byte aligned */
    size_t json_len = strlen(json), header_len = (json_len + 7) & ~(size_t)7;
    header = malloc(header_len);
    if (header) {
        memcpy(header, json, json_len);
        memset(header + json_len, ' ', header_len - json_len);
    }
    cJSON_free(json);
    if (!header) {
        st = gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++)
        len_le[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    /* the checksum covers the whole file with its own 8 digits as zeros */
    char *digits = crc_digits(header, header_len);
    if (!digits) {
        st = gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_safetensors_save: an entry name repeats the checksum's key");
        goto done;
    }
    uLong crc = crc32(crc32(crc32(0L, Z_NULL, 0), len_le, 8), (const Bytef *)header, (uInt)header_len);
    crc = crc32_large(crc, payload, payload_len);
    char hex[9];
    snprintf(hex, sizeof hex, "%08lx", crc);
    memcpy(digits, hex, 8);
    const void *parts[3] = {len_le, header, payload};
    const size_t sizes[3] = {8, header_len, (size_t)payload_len};
    st = gan_write_file_atomic(ctx, path, parts, sizes, 3);
done:
    free(header);
    free(payload);
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------------ open */

void gan_safetensors_close(gan_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    cJSON_Delete(st->header);
    free(st->file);
    free(st->path);
    free(st);
}

static int by_begin(const void *a, const void *b)
{
    const stored_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static bool as_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 9007199254740992.0 ||
        item->valuedouble != (double)(uint64_t)item->valuedouble)
        return false;
    *out = (uint64_t)item->valuedouble;
    return true;
}

/* Parses one tensor's description; returns an explanation on failure. */
static const char *parse_tensor(const cJSON *item, uint64_t payload_len, stored_tensor *t)
{
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return "needs dtype, shape and data_offsets";
    if (strlen(dtype->valuestring) >= sizeof t->dtype || !dtype_size(dtype->valuestring))
        return "has an unknown dtype";
    strcpy(t->dtype, dtype->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > MAX_STORED_DIMS)
        return "has too many dimensions";
    t->ndim = nd;
    uint64_t numel = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!as_u64(cJSON_GetArrayItem(shape, d), &v) || (v && numel > UINT64_MAX / 8 / v))
            return "has a bad shape";
        t->shape[d] = (int64_t)v;
        numel *= v;
    }
    if (cJSON_GetArraySize(offs) != 2 || !as_u64(cJSON_GetArrayItem(offs, 0), &t->begin) ||
        !as_u64(cJSON_GetArrayItem(offs, 1), &t->end) || t->begin > t->end)
        return "has bad data_offsets";
    if (t->end > payload_len)
        return "has data_offsets past the end of the file";
    if (t->end - t->begin != numel * (uint64_t)dtype_size(t->dtype))
        return "has data_offsets that do not match its dtype and shape";
    return NULL;
}

/* Checks the checksums the metadata records; GAN_ERR_FORMAT when one does
 * not match. */
static gan_status check_sums(gan_safetensors *st, uint64_t header_len)
{
    const char *file_crc = gan_safetensors_meta(st, FILE_CRC_KEY);
    const char *payload_crc = gan_safetensors_meta(st, PAYLOAD_CRC_KEY);
    char actual[16];
    if (file_crc) {
        char *header = (char *)st->file + 8, *digits = crc_digits(header, (size_t)header_len);
        if (!digits || strlen(file_crc) != 8 || memcmp(digits, file_crc, 8) != 0)
            return gan_fail(st->ctx, GAN_ERR_FORMAT, "%s: the file checksum's entry is malformed: the file is damaged",
                            st->path);
        memcpy(digits, CRC_PLACEHOLDER, 8);
        uLong crc = crc32_large(crc32(0L, Z_NULL, 0), st->file, 8 + header_len);
        crc = crc32_large(crc, st->payload, st->payload_len);
        memcpy(digits, file_crc, 8);
        snprintf(actual, sizeof actual, "%08lx", crc);
        if (strcmp(actual, file_crc) != 0)
            return gan_fail(st->ctx, GAN_ERR_FORMAT,
                            "%s: checksum %s does not match the recorded %s: the file is damaged", st->path,
                            actual, file_crc);
        st->whole_file_checked = true;
    }
    if (payload_crc) {
        snprintf(actual, sizeof actual, "%08lx", crc32_large(crc32(0L, Z_NULL, 0), st->payload, st->payload_len));
        if (strcmp(actual, payload_crc) != 0)
            return gan_fail(st->ctx, GAN_ERR_FORMAT,
                            "%s: payload checksum %s does not match the recorded %s: the file is damaged",
                            st->path, actual, payload_crc);
    }
    return GAN_OK;
}

bool gan_safetensors_whole_file_checked(const gan_safetensors *st) { return st && st->whole_file_checked; }

gan_status gan_safetensors_open(gan_context *ctx, const char *path, gan_safetensors **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!path || !out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_safetensors_open: NULL argument");
    *out = NULL;
    gan_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    st->ctx = ctx;
    size_t len = 0;
    gan_status rc = gan_read_file(gan_context_sink(ctx), path, SIZE_MAX, &st->file, &len);
    if (rc != GAN_OK) {
        gan_safetensors_close(st);
        return rc;
    }
    const char *why = NULL;
    uint64_t header_len = 0;
    for (int i = 0; i < 8 && len >= 8; i++)
        header_len |= (uint64_t)st->file[i] << (8 * i);
    if (len < 8)
        why = "shorter than the 8-byte header length";
    else if (header_len > SAFETENSORS_MAX_HEADER)
        why = "header length is over the format's 100 MB limit";
    else if (header_len > len - 8)
        why = "header length runs past the end of the file (truncated?)";
    else if (header_len < 2 || st->file[8] != '{')
        why = "header is not a JSON object";
    else if (!(st->header = cJSON_ParseWithLength((const char *)st->file + 8, (size_t)header_len)) ||
             !cJSON_IsObject(st->header))
        why = "header is not valid JSON";
    if (why) {
        gan_safetensors_close(st);
        return gan_fail(ctx, GAN_ERR_FORMAT, "%s: not a valid safetensors file: %s", path, why);
    }
    st->payload = st->file + 8 + header_len;
    st->payload_len = len - 8 - header_len;
    st->tensors = calloc((size_t)cJSON_GetArraySize(st->header) + 1, sizeof *st->tensors);
    if (!st->tensors) {
        gan_safetensors_close(st);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, st->header)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            const cJSON *v;
            bool strings = cJSON_IsObject(item);
            cJSON_ArrayForEach(v, item) strings = strings && cJSON_IsString(v);
            if (!strings) {
                gan_safetensors_close(st);
                return gan_fail(ctx, GAN_ERR_FORMAT, "%s: __metadata__ must map strings to strings", path);
            }
            st->metadata = (cJSON *)item;
            continue;
        }
        stored_tensor *t = &st->tensors[st->n_tensors];
        why = parse_tensor(item, st->payload_len, t);
        if (why || !(t->name = strdup(item->string))) {
            rc = gan_fail(ctx, why ? GAN_ERR_FORMAT : GAN_ERR_OUT_OF_MEMORY, "%s: tensor '%s' %s",
                          path, item->string, why ? why : "out of memory");
            gan_safetensors_close(st);
            return rc;
        }
        st->n_tensors++;
    }
    /* the tensors must tile the payload exactly: no gap, no overlap */
    stored_tensor *sorted = malloc((st->n_tensors + 1) * sizeof *sorted);
    if (!sorted) {
        gan_safetensors_close(st);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(sorted, st->tensors, st->n_tensors * sizeof *sorted);
    qsort(sorted, st->n_tensors, sizeof *sorted, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < st->n_tensors && !why; i++) {
        if (sorted[i].begin != at)
            why = sorted[i].begin < at ? "tensors overlap" : "the payload has a gap";
        at = sorted[i].end;
    }
    free(sorted);
    if (!why && at != st->payload_len)
        why = at < st->payload_len ? "bytes after the last tensor" : "the payload is truncated";
    if (why) {
        gan_safetensors_close(st);
        return gan_fail(ctx, GAN_ERR_FORMAT, "%s: not a valid safetensors file: %s", path, why);
    }
    if ((rc = check_sums(st, header_len)) != GAN_OK) {
        gan_safetensors_close(st);
        return rc;
    }
    *out = st;
    return GAN_OK;
}

const char *gan_safetensors_meta(const gan_safetensors *st, const char *key)
{
    if (!st || !st->metadata || !key)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The stored tensor for e, checked against e's kind, dtype and shape; NULL
 * with the context's message when it is missing or differs. */
static const stored_tensor *matching_tensor(gan_safetensors *st, const gan_entry *e)
{
    gan_context *ctx = st->ctx;
    const stored_tensor *t = NULL;
    for (size_t i = 0; i < st->n_tensors && !t; i++)
        if (strcmp(st->tensors[i].name, e->name) == 0)
            t = &st->tensors[i];
    if (!t) {
        gan_fail(ctx, GAN_ERR_FORMAT, "%s: no tensor '%s' (a checkpoint of another model?)", st->path, e->name);
        return NULL;
    }
    if (e->kind == GAN_ENTRY_COUNTER) {
        if (strcmp(t->dtype, "I64") != 0 || t->end - t->begin != 8) {
            gan_fail(ctx, GAN_ERR_FORMAT, "%s: '%s' is %s, expected one I64", st->path, e->name, t->dtype);
            return NULL;
        }
        return t;
    }
    bool same = strcmp(t->dtype, "F32") == 0 && t->ndim == e->value->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = t->shape[d] == e->value->shape[d];
    if (!same) {
        char want[64];
        gan_fail(ctx, GAN_ERR_FORMAT, "%s: '%s' is stored as %s of %d dimension(s), expected F32 %s", st->path,
                 e->name, t->dtype, t->ndim, gan_shape_str(e->value->ndim, e->value->shape, want, sizeof want));
        return NULL;
    }
    return t;
}

gan_status gan_safetensors_check(gan_safetensors *st, const gan_entry *e)
{
    return matching_tensor(st, e) ? GAN_OK : GAN_ERR_FORMAT;
}

gan_status gan_safetensors_load(gan_safetensors *st, const gan_entry *e)
{
    gan_clear_error(st ? st->ctx : NULL);
    if (!st || !e)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = st->ctx;
    const stored_tensor *t = matching_tensor(st, e);
    if (!t)
        return GAN_ERR_FORMAT;
    const uint8_t *src = st->payload + t->begin;
    if (e->kind == GAN_ENTRY_COUNTER) {
        memcpy(e->counter, src, 8);
        return GAN_OK;
    }
    float *host = gan_host_scratch(ctx, e->value->numel);
    if (!host)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "%s: out of memory", st->path);
    memcpy(host, src, 4 * e->value->numel); /* the file is little-endian, as the host */
    return gan_tensor_write(e->value, host, e->value->numel);
}
