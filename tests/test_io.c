/* test_io.c - IDX files (raw, gzip, truncated, corrupt) and safetensors
 * checkpoints (round trip, layout, damaged and mismatched files). */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[256];

static const char *path_in_dir(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        *n = 0;
    fclose(f);
    return b;
}

static void test_idx(gan_context *ctx)
{
    enum { N = 5, H = 4, W = 3 };
    uint8_t images[N * H * W];
    for (int i = 0; i < N * H * W; i++)
        images[i] = (uint8_t)(i * 7);
    REQUIRE_OK(ctx, gan_idx_write(ctx, path_in_dir("images"), 3, (int[]){N, H, W}, images));
    gan_idx idx;
    REQUIRE_OK(ctx, gan_idx_read(ctx, path_in_dir("images"), &idx));
    CHECK(idx.ndim == 3 && idx.dims[0] == N && idx.dims[1] == H && idx.dims[2] == W);
    CHECK(idx.count == N * H * W && memcmp(idx.data, images, idx.count) == 0);
    CHECK(idx.n_bytes == 16 + N * H * W && idx.bytes[2] == 0x08 && idx.bytes[3] == 3);
    CHECK(idx.bytes[4] == 0 && idx.bytes[7] == N); /* big-endian dimensions */

    /* the same file gzip-compressed reads the same */
    gzFile gz = gzopen(path_in_dir("images.gz"), "wb");
    gzwrite(gz, idx.bytes, (unsigned)idx.n_bytes);
    gzclose(gz);
    gan_idx zidx;
    REQUIRE_OK(ctx, gan_idx_read(ctx, path_in_dir("images.gz"), &zidx));
    CHECK(zidx.count == idx.count && memcmp(zidx.data, images, idx.count) == 0);
    gan_idx_free(&zidx);

    /* damaged copies */
    write_bytes(path_in_dir("short"), idx.bytes, idx.n_bytes - 5);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("short"), &zidx), GAN_ERR_FORMAT, "truncated: the header announces 60 values, the file holds 55");
    CHECK(zidx.bytes == NULL);
    write_bytes(path_in_dir("header"), idx.bytes, 10);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("header"), &zidx), GAN_ERR_FORMAT, "truncated in the header");
    uint8_t *copy = malloc(idx.n_bytes + 3);
    memcpy(copy, idx.bytes, idx.n_bytes);
    write_bytes(path_in_dir("long"), copy, idx.n_bytes + 3);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("long"), &zidx), GAN_ERR_FORMAT, "3 unexpected bytes");
    copy[0] = 0x50;
    write_bytes(path_in_dir("magic"), copy, idx.n_bytes);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("magic"), &zidx), GAN_ERR_FORMAT, "not an IDX file");
    copy[0] = 0;
    copy[2] = 0x0D;
    write_bytes(path_in_dir("float"), copy, idx.n_bytes);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("float"), &zidx), GAN_ERR_FORMAT, "0x0D (float) is not supported");
    copy[2] = 0x08;
    copy[3] = 7;
    write_bytes(path_in_dir("dims"), copy, idx.n_bytes);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("dims"), &zidx), GAN_ERR_FORMAT, "7 dimensions");
    copy[3] = 3;
    copy[7] = 0;
    write_bytes(path_in_dir("zero"), copy, idx.n_bytes);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("zero"), &zidx), GAN_ERR_FORMAT, "dimension 0 is 0");
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("missing"), &zidx), GAN_ERR_IO, "missing: cannot open");

    /* a gzip stream cut in half, and one with a corrupted body */
    size_t gz_len;
    uint8_t *gzb = read_bytes(path_in_dir("images.gz"), &gz_len);
    write_bytes(path_in_dir("cut.gz"), gzb, gz_len / 2);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("cut.gz"), &zidx), GAN_ERR_FORMAT, "cut.gz");
    for (size_t i = 12; i < gz_len - 8; i++)
        gzb[i] ^= 0x5A;
    write_bytes(path_in_dir("bad.gz"), gzb, gz_len);
    EXPECT_ERR(ctx, gan_idx_read(ctx, path_in_dir("bad.gz"), &zidx), GAN_ERR_FORMAT, "bad.gz");
    free(gzb);
    free(copy);
    gan_idx_free(&idx);
}

static gan_model *small_model(gan_context *ctx, int width)
{
    gan_model *m;
    gan_layer *l;
    REQUIRE_OK(ctx, gan_model_create(ctx, &m));
    REQUIRE_OK(ctx, gan_linear_create(ctx, 3, width, 1, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    REQUIRE_OK(ctx, gan_batchnorm1d_create(ctx, width, 1e-5f, 0.1f, &l));
    REQUIRE_OK(ctx, gan_model_add(m, l));
    return m;
}

static gan_entry *entries_of(gan_context *ctx, gan_model *m, size_t *n)
{
    *n = gan_model_entry_count(m);
    gan_entry *e = calloc(*n, sizeof *e);
    for (size_t i = 0; i < *n; i++)
        REQUIRE_OK(ctx, gan_model_entry(m, i, &e[i]));
    return e;
}

static void test_safetensors(gan_context *ctx)
{
    gan_model *a = small_model(ctx, 4), *b = small_model(ctx, 4), *wide = small_model(ctx, 5);
    size_t n;
    gan_entry *ea = entries_of(ctx, a, &n), *eb = entries_of(ctx, b, &n);
    REQUIRE_OK(ctx, gan_tensor_fill_normal(ea[4].value, 0.0f, 1.0f)); /* running_mean */
    *ea[6].counter = 1234567890123LL;                                 /* num_batches_tracked */
    const char *meta[2][2] = {{"epoch", "3"}, {"note", "quotes \" and \\ survive"}};
    char path[512];
    snprintf(path, sizeof path, "%s", path_in_dir("model.safetensors"));
    REQUIRE_OK(ctx, gan_safetensors_save(ctx, path, ea, n, meta, 2));

    /* the layout other tools expect */
    size_t len;
    uint8_t *file = read_bytes(path, &len);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)file[i] << (8 * i);
    CHECK(header_len % 8 == 0 && 8 + header_len < len && file[8] == '{');
    char *header = strndup((char *)file + 8, header_len);
    CHECK(strstr(header, "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}") != NULL);
    CHECK(strstr(header, "\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]") != NULL);
    CHECK(strstr(header, "\"payload_crc32\"") != NULL);
    free(header);

    gan_safetensors *st;
    REQUIRE_OK(ctx, gan_safetensors_open(ctx, path, &st));
    CHECK(strcmp(gan_safetensors_meta(st, "epoch"), "3") == 0);
    CHECK(strcmp(gan_safetensors_meta(st, "note"), "quotes \" and \\ survive") == 0);
    CHECK(gan_safetensors_meta(st, "absent") == NULL);
    for (size_t i = 0; i < n; i++)
        REQUIRE_OK(ctx, gan_safetensors_load(st, &eb[i]));
    for (size_t i = 0; i < n; i++) {
        if (ea[i].kind == GAN_ENTRY_COUNTER) {
            CHECK(*eb[i].counter == *ea[i].counter);
            continue;
        }
        float *x = test_read(ea[i].value), *y = test_read(eb[i].value);
        CHECK(memcmp(x, y, gan_tensor_numel(ea[i].value) * sizeof(float)) == 0);
        free(x), free(y);
    }
    /* a model of another shape is refused, naming the tensor */
    size_t nw;
    gan_entry *ew = entries_of(ctx, wide, &nw);
    EXPECT_ERR(ctx, gan_safetensors_load(st, &ew[0]), GAN_ERR_FORMAT, "'0.weight' is stored as F32 of 2 dimension(s), expected F32 [5, 3]");
    gan_entry missing = ea[0];
    strcpy(missing.name, "generator.9.weight");
    EXPECT_ERR(ctx, gan_safetensors_load(st, &missing), GAN_ERR_FORMAT, "no tensor 'generator.9.weight'");
    gan_safetensors_close(st);

    /* damaged files: a flipped payload byte, truncation, absurd header length, bad JSON */
    uint8_t *bad = malloc(len);
    memcpy(bad, file, len);
    bad[len - 20] ^= 1;
    write_bytes(path_in_dir("flip.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("flip.safetensors"), &st), GAN_ERR_FORMAT, "the file is damaged");
    CHECK(st == NULL);
    write_bytes(path_in_dir("cut.safetensors"), file, len - 4);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("cut.safetensors"), &st), GAN_ERR_FORMAT, "past the end of the file");
    write_bytes(path_in_dir("tiny.safetensors"), file, 5);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("tiny.safetensors"), &st), GAN_ERR_FORMAT, "shorter than");
    memcpy(bad, file, len);
    bad[7] = 0x40;
    write_bytes(path_in_dir("huge.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("huge.safetensors"), &st), GAN_ERR_FORMAT, "100 MB limit");
    memcpy(bad, file, len);
    bad[9] = '!';
    write_bytes(path_in_dir("json.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("json.safetensors"), &st), GAN_ERR_FORMAT, "not valid JSON");
    const char overlap[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t forged[8 + sizeof overlap + 4] = {sizeof overlap - 1};
    memcpy(forged + 8, overlap, sizeof overlap - 1);
    write_bytes(path_in_dir("overlap.safetensors"), forged, 8 + sizeof overlap - 1 + 4);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("overlap.safetensors"), &st), GAN_ERR_FORMAT, "tensors overlap");
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, path_in_dir("none.safetensors"), &st), GAN_ERR_IO, "cannot open");

    /* a failed save leaves the previous file intact and no temporary behind */
    gan_entry twice[2] = {ea[0], ea[0]};
    EXPECT_ERR(ctx, gan_safetensors_save(ctx, path, twice, 2, NULL, 0), GAN_ERR_INVALID_ARGUMENT, "two entries named '0.weight'");
    EXPECT_ERR(ctx, gan_safetensors_save(ctx, path_in_dir("no/such/dir/x.safetensors"), ea, n, NULL, 0), GAN_ERR_IO, "cannot create");
    REQUIRE_OK(ctx, gan_safetensors_open(ctx, path, &st));
    gan_safetensors_close(st);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    free(bad), free(file), free(ea), free(eb), free(ew);
    gan_model_free(a), gan_model_free(b), gan_model_free(wide);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/gan_test_io_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    gan_context *ctx = test_context(1, 9);
    test_idx(ctx);
    test_safetensors(ctx);
    gan_context_free(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_io");
}
