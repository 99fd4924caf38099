/* events_dump.c - an independent reader of TensorBoard event files, for the
 * tests: checks the TFRecord framing and both masked CRC-32Cs of every
 * record, decodes the Event protobufs by their wire format, and prints one
 * line per record:
 *   version TEXT | scalar STEP TAG VALUE | image STEP TAG HEIGHT WIDTH COLORSPACE PNG_BYTES | restart STEP
 * Exits 1 naming the problem at the first damaged record.
 * usage: events_dump FILE */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t table[256];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--)
        c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t unmask(uint32_t m)
{
    const uint32_t r = m - 0xA282EAD8u;
    return (r >> 17) | (r << 15);
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* A protobuf reader over [p, end). */
typedef struct reader {
    const uint8_t *p, *end;
    bool bad;
} reader;

static uint64_t varint(reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        const uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* The next field: its number and wire type; for length-delimited fields a
 * sub-reader, for fixed ones the raw value in *fixed. */
static bool field(reader *r, int *number, int *type, reader *sub, uint64_t *fixed)
{
    if (r->p >= r->end || r->bad)
        return false;
    const uint64_t key = varint(r);
    *number = (int)(key >> 3);
    *type = (int)(key & 7);
    *fixed = 0;
    switch (*type) {
    case 0: *fixed = varint(r); break;
    case 1:
    case 5: {
        const int n = *type == 1 ? 8 : 4;
        if (r->end - r->p < n)
            r->bad = true;
        for (int i = 0; i < n && !r->bad; i++)
            *fixed |= (uint64_t)r->p[i] << (8 * i);
        r->p += r->bad ? 0 : n;
        break;
    }
    case 2: {
        const uint64_t n = varint(r);
        if ((uint64_t)(r->end - r->p) < n)
            r->bad = true;
        else
            *sub = (reader){r->p, r->p + n, false}, r->p += n;
        break;
    }
    default: r->bad = true;
    }
    return !r->bad;
}

/* Summary.Value: prints a scalar or an image line. */
static bool print_value(reader *v, int64_t step)
{
    char tag[256] = "";
    int kind = 0;
    float scalar = 0;
    int64_t h = 0, w = 0, colorspace = 0, png = 0;
    int number, type;
    reader sub;
    uint64_t x;
    while (field(v, &number, &type, &sub, &x)) {
        if (number == 1 && type == 2) {
            const size_t n = (size_t)(sub.end - sub.p) < sizeof tag - 1 ? (size_t)(sub.end - sub.p) : sizeof tag - 1;
            memcpy(tag, sub.p, n);
            tag[n] = '\0';
        } else if (number == 2 && type == 5) {
            const uint32_t bits = (uint32_t)x;
            memcpy(&scalar, &bits, 4);
            kind = 1;
        } else if (number == 4 && type == 2) {
            kind = 2;
            reader img = sub, data;
            while (field(&img, &number, &type, &data, &x)) {
                if (number == 1) h = (int64_t)x;
                if (number == 2) w = (int64_t)x;
                if (number == 3) colorspace = (int64_t)x;
                if (number == 4 && type == 2) {
                    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
                    png = data.end - data.p;
                    if (png < 8 || memcmp(data.p, sig, 8) != 0)
                        return false;
                }
            }
            if (img.bad)
                return false;
        }
    }
    if (v->bad || !tag[0] || !kind)
        return false;
    if (kind == 1)
        printf("scalar %lld %s %.9g\n", (long long)step, tag, scalar);
    else
        printf("image %lld %s %lld %lld %lld %lld\n", (long long)step, tag, (long long)h, (long long)w,
               (long long)colorspace, (long long)png);
    return true;
}

static bool print_event(reader *e)
{
    int64_t step = 0;
    int number, type;
    reader sub;
    uint64_t x;
    bool wall = false, any = false;
    reader what = {0};
    int what_field = 0;
    while (field(e, &number, &type, &sub, &x)) {
        if (number == 1 && type == 1)
            wall = true;
        else if (number == 2 && type == 0)
            step = (int64_t)x;
        else if ((number == 3 || number == 5 || number == 7) && type == 2)
            what = sub, what_field = number;
    }
    if (e->bad || !wall || !what_field)
        return false;
    if (what_field == 3) {
        printf("version %.*s\n", (int)(what.end - what.p), (const char *)what.p);
        return true;
    }
    if (what_field == 7) {
        uint64_t status = 0;
        while (field(&what, &number, &type, &sub, &x))
            if (number == 1 && type == 0)
                status = x;
        printf("restart %lld\n", (long long)step);
        return !what.bad && status == 1;
    }
    while (field(&what, &number, &type, &sub, &x)) /* Summary: repeated Value */
        if (number == 1 && type == 2) {
            if (!print_value(&sub, step))
                return false;
            any = true;
        }
    return !what.bad && any;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: events_dump FILE\n");
        return 2;
    }
    make_table();
    if (crc32c((const uint8_t *)"123456789", 9) != 0xE3069283u) { /* the CRC-32C check value */
        fprintf(stderr, "events_dump: CRC-32C self-check failed\n");
        return 1;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "events_dump: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    long at = 0, record = 0;
    while (at < size) {
        if (size - at < 12) {
            fprintf(stderr, "events_dump: record %ld: truncated header\n", record);
            return 1;
        }
        const uint64_t len = le32(data + at) | (uint64_t)le32(data + at + 4) << 32;
        if (unmask(le32(data + at + 8)) != crc32c(data + at, 8)) {
            fprintf(stderr, "events_dump: record %ld: length CRC mismatch\n", record);
            return 1;
        }
        if ((uint64_t)(size - at - 12) < len + 4) {
            fprintf(stderr, "events_dump: record %ld: truncated data\n", record);
            return 1;
        }
        const uint8_t *body = data + at + 12;
        if (unmask(le32(body + len)) != crc32c(body, (size_t)len)) {
            fprintf(stderr, "events_dump: record %ld: data CRC mismatch\n", record);
            return 1;
        }
        reader e = {body, body + len, false};
        if (!print_event(&e)) {
            fprintf(stderr, "events_dump: record %ld: not a valid Event\n", record);
            return 1;
        }
        at += 12 + (long)len + 4;
        record++;
    }
    free(data);
    return 0;
}
