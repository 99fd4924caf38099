/* test_io.c - IDX files (raw, gzip, truncated, corrupt) and safetensors
 * checkpoints (round trip, layout, damaged and mismatched files). */
#define _POSIX_C_SOURCE 200809L
#include "gan_internal.h"
#include "test_util.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* gan_idx_read reports into a buffer of the caller's, not a context */
#define REQUIRE_IDX(path, out)                                                                \
    do {                                                                                      \
        char e_[512];                                                                         \
        if (gan_idx_read((path), (out), e_, sizeof e_) != GAN_OK) {                          \
            fprintf(stderr, "%s:%d: gan_idx_read failed: %s\n", __FILE__, __LINE__, e_);      \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)
#define EXPECT_IDX_ERR(path, out, want, needle)                                               \
    do {                                                                                      \
        char e_[512];                                                                         \
        gan_status got_ = gan_idx_read((path), (out), e_, sizeof e_);                         \
        if (got_ != (want) || !strstr(e_, (needle))) {                                        \
            fprintf(stderr, "%s:%d: gan_idx_read returned %s \"%s\", expected %s with \"%s\"\n", \
                    __FILE__, __LINE__, gan_strerror(got_), e_, gan_strerror(want), (needle)); \
            test_failures++;                                                                  \
        }                                                                                     \
    } while (0)

static void test_idx(gan_context *ctx)
{
    enum { N = 5, H = 4, W = 3 };
    uint8_t images[N * H * W];
    for (int i = 0; i < N * H * W; i++)
        images[i] = (uint8_t)(i * 7);
    REQUIRE_OK(ctx, gan_idx_write(ctx, test_path("images"), 3, (int[]){N, H, W}, images));
    gan_idx idx;
    REQUIRE_IDX(test_path("images"), &idx);
    CHECK(idx.ndim == 3 && idx.dims[0] == N && idx.dims[1] == H && idx.dims[2] == W);
    CHECK(idx.count == N * H * W && memcmp(idx.data, images, idx.count) == 0);
    CHECK(idx.n_bytes == 16 + N * H * W && idx.bytes[2] == 0x08 && idx.bytes[3] == 3);
    CHECK(idx.bytes[4] == 0 && idx.bytes[7] == N); /* big-endian dimensions */

    /* the same file gzip-compressed reads the same */
    gzFile gz = gzopen(test_path("images.gz"), "wb");
    gzwrite(gz, idx.bytes, (unsigned)idx.n_bytes);
    gzclose(gz);
    gan_idx zidx;
    REQUIRE_IDX(test_path("images.gz"), &zidx);
    CHECK(zidx.count == idx.count && memcmp(zidx.data, images, idx.count) == 0);
    gan_idx_free(&zidx);

    /* damaged copies */
    test_write_file(test_path("short"), idx.bytes, idx.n_bytes - 5);
    EXPECT_IDX_ERR(test_path("short"), &zidx, GAN_ERR_FORMAT, "truncated: the header announces 60 values, the file holds 55");
    CHECK(zidx.bytes == NULL);
    test_write_file(test_path("header"), idx.bytes, 10);
    EXPECT_IDX_ERR(test_path("header"), &zidx, GAN_ERR_FORMAT, "truncated in the header");
    uint8_t *copy = malloc(idx.n_bytes + 3);
    memcpy(copy, idx.bytes, idx.n_bytes);
    memset(copy + idx.n_bytes, 0x7E, 3);
    test_write_file(test_path("long"), copy, idx.n_bytes + 3);
    EXPECT_IDX_ERR(test_path("long"), &zidx, GAN_ERR_FORMAT, "3 unexpected bytes");
    copy[0] = 0x50;
    test_write_file(test_path("magic"), copy, idx.n_bytes);
    EXPECT_IDX_ERR(test_path("magic"), &zidx, GAN_ERR_FORMAT, "not an IDX file");
    copy[0] = 0;
    copy[2] = 0x0D;
    test_write_file(test_path("float"), copy, idx.n_bytes);
    EXPECT_IDX_ERR(test_path("float"), &zidx, GAN_ERR_FORMAT, "0x0D (float) is not supported");
    copy[2] = 0x08;
    copy[3] = 7;
    test_write_file(test_path("dims"), copy, idx.n_bytes);
    EXPECT_IDX_ERR(test_path("dims"), &zidx, GAN_ERR_FORMAT, "7 dimensions");
    copy[3] = 3;
    copy[7] = 0;
    test_write_file(test_path("zero"), copy, idx.n_bytes);
    EXPECT_IDX_ERR(test_path("zero"), &zidx, GAN_ERR_FORMAT, "dimension 0 is 0");
    EXPECT_IDX_ERR(test_path("missing"), &zidx, GAN_ERR_IO, "missing: cannot open");

    /* a gzip stream cut in half, and one with a corrupted body */
    size_t gz_len;
    uint8_t *gzb = test_read_file(test_path("images.gz"), &gz_len);
    test_write_file(test_path("cut.gz"), gzb, gz_len / 2);
    EXPECT_IDX_ERR(test_path("cut.gz"), &zidx, GAN_ERR_FORMAT, "cut.gz");
    for (size_t i = 12; i < gz_len - 8; i++)
        gzb[i] ^= 0x5A;
    test_write_file(test_path("bad.gz"), gzb, gz_len);
    EXPECT_IDX_ERR(test_path("bad.gz"), &zidx, GAN_ERR_FORMAT, "bad.gz");
    free(gzb);

    /* a .gz followed by stray bytes is refused as a raw file would be; a
     * second gzip member is part of the stream */
    gzb = test_read_file(test_path("images.gz"), &gz_len);
    uint8_t *longer = malloc(2 * gz_len);
    memcpy(longer, gzb, gz_len);
    memcpy(longer + gz_len, "abc", 3);
    test_write_file(test_path("trailing.gz"), longer, gz_len + 3);
    EXPECT_IDX_ERR(test_path("trailing.gz"), &zidx, GAN_ERR_FORMAT, "3 unexpected bytes after the gzip data");
    gz = gzopen(test_path("half.gz"), "wb");
    gzwrite(gz, idx.bytes, 20);
    gzclose(gz);
    size_t half_len;
    uint8_t *half = test_read_file(test_path("half.gz"), &half_len);
    gz = gzopen(test_path("rest.gz"), "wb");
    gzwrite(gz, idx.bytes + 20, (unsigned)idx.n_bytes - 20);
    gzclose(gz);
    size_t rest_len;
    uint8_t *rest = test_read_file(test_path("rest.gz"), &rest_len);
    uint8_t *members = malloc(half_len + rest_len);
    memcpy(members, half, half_len);
    memcpy(members + half_len, rest, rest_len);
    test_write_file(test_path("members.gz"), members, half_len + rest_len);
    REQUIRE_IDX(test_path("members.gz"), &zidx);
    CHECK(zidx.count == idx.count && memcmp(zidx.data, images, idx.count) == 0);
    gan_idx_free(&zidx);
    free(gzb), free(longer), free(half), free(rest), free(members);
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
    snprintf(path, sizeof path, "%s", test_path("model.safetensors"));
    REQUIRE_OK(ctx, gan_safetensors_save(ctx, path, ea, n, meta, 2));

    /* the layout other tools expect */
    size_t len;
    uint8_t *file = test_read_file(path, &len);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++)
        header_len |= (uint64_t)file[i] << (8 * i);
    CHECK(header_len % 8 == 0 && 8 + header_len < len && file[8] == '{');
    char *header = strndup((char *)file + 8, header_len);
    CHECK(strstr(header, "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}") != NULL);
    CHECK(strstr(header, "\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]") != NULL);
    /* the whole-file checksum, recomputed here with zlib over the file with
     * the 8 recorded digits as zeros */
    char *crc_at = strstr(header, "\"file_crc32\":\"");
    CHECK(crc_at != NULL && strstr(header, "payload_crc32") == NULL);
    if (crc_at) {
        const size_t at = 8 + (size_t)(crc_at - header) + strlen("\"file_crc32\":\"");
        char recorded[9] = {0}, actual[9];
        memcpy(recorded, file + at, 8);
        uint8_t *zeroed = malloc(len);
        memcpy(zeroed, file, len);
        memcpy(zeroed + at, "00000000", 8);
        snprintf(actual, sizeof actual, "%08lx", crc32(0L, zeroed, (uInt)len));
        CHECK(strcmp(recorded, actual) == 0);
        free(zeroed);
    }
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
    test_write_file(test_path("flip.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("flip.safetensors"), &st), GAN_ERR_FORMAT, "the file is damaged");
    CHECK(st == NULL);
    /* the checksum covers the metadata and the tensors' descriptions too:
     * a one-bit change anywhere in the header is refused, unless it renames
     * the checksum's own key, and then the file no longer claims a
     * checksum (which a training checkpoint requires: test_trainer) */
    int refused = 0, unchecked = 0, flips = 0;
    for (uint64_t i = 8; i < 8 + header_len; i++, flips++) {
        memcpy(bad, file, len);
        bad[i] ^= (uint8_t)(1u << (i % 7));
        test_write_file(test_path("meta.safetensors"), bad, len);
        if (gan_safetensors_open(ctx, test_path("meta.safetensors"), &st) == GAN_ERR_FORMAT) {
            refused++;
            continue;
        }
        unchecked += !gan_safetensors_whole_file_checked(st) && !gan_safetensors_meta(st, "file_crc32");
        gan_safetensors_close(st);
    }
    printf("safetensors: of %d one-bit changes in the header, %d refused, %d removed the checksum's key\n", flips,
           refused, unchecked);
    CHECK(refused + unchecked == flips && unchecked <= (int)strlen("file_crc32"));
    /* files of other writers carry no checksum and open */
    const char plain[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t other[8 + sizeof plain + 4] = {sizeof plain - 1};
    memcpy(other + 8, plain, sizeof plain - 1);
    test_write_file(test_path("other.safetensors"), other, 8 + sizeof plain - 1 + 4);
    REQUIRE_OK(ctx, gan_safetensors_open(ctx, test_path("other.safetensors"), &st));
    gan_safetensors_close(st);
    test_write_file(test_path("cut.safetensors"), file, len - 4);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("cut.safetensors"), &st), GAN_ERR_FORMAT, "past the end of the file");
    test_write_file(test_path("tiny.safetensors"), file, 5);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("tiny.safetensors"), &st), GAN_ERR_FORMAT, "shorter than");
    memcpy(bad, file, len);
    bad[7] = 0x40;
    test_write_file(test_path("huge.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("huge.safetensors"), &st), GAN_ERR_FORMAT, "100 MB limit");
    memcpy(bad, file, len);
    bad[9] = '!';
    test_write_file(test_path("json.safetensors"), bad, len);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("json.safetensors"), &st), GAN_ERR_FORMAT, "not valid JSON");
    const char overlap[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint8_t forged[8 + sizeof overlap + 4] = {sizeof overlap - 1};
    memcpy(forged + 8, overlap, sizeof overlap - 1);
    test_write_file(test_path("overlap.safetensors"), forged, 8 + sizeof overlap - 1 + 4);
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("overlap.safetensors"), &st), GAN_ERR_FORMAT, "tensors overlap");
    EXPECT_ERR(ctx, gan_safetensors_open(ctx, test_path("none.safetensors"), &st), GAN_ERR_IO, "cannot open");

    /* a failed save leaves the previous file intact and no temporary behind */
    gan_entry twice[2] = {ea[0], ea[0]};
    EXPECT_ERR(ctx, gan_safetensors_save(ctx, path, twice, 2, NULL, 0), GAN_ERR_INVALID_ARGUMENT, "two entries named '0.weight'");
    EXPECT_ERR(ctx, gan_safetensors_save(ctx, test_path("no/such/dir/x.safetensors"), ea, n, NULL, 0), GAN_ERR_IO, "cannot create");
    REQUIRE_OK(ctx, gan_safetensors_open(ctx, path, &st));
    gan_safetensors_close(st);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    free(bad), free(file), free(ea), free(eb), free(ew);
    gan_model_free(a), gan_model_free(b), gan_model_free(wide);
}

/* An event file whose first record cannot be written (a file size limit
 * of 0 bytes, in a child process, before this process runs any OpenMP):
 * GAN_ERR_IO with a message naming the file, and no file left behind. */
static void test_summary_open_failure(void)
{
    const char *dir = test_path("events");
    CHECK(mkdir(dir, 0755) == 0);
    const pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        const struct rlimit none = {0, 0};
        setrlimit(RLIMIT_FSIZE, &none);
        gan_context *ctx = test_context(1, 0);
        gan_summary_writer *w = (gan_summary_writer *)&w;
        const gan_status st = gan_summary_open(ctx, dir, &w);
        const int ok = st == GAN_ERR_IO && w == NULL && strstr(gan_context_error(ctx), "events.out.tfevents") &&
                       strstr(gan_context_error(ctx), "cannot write");
        if (!ok)
            fprintf(stderr, "gan_summary_open under a 0-byte file limit: %s, \"%s\"\n", gan_strerror(st),
                    gan_context_error(ctx));
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int files = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK(d && files == 0);
}

int main(void)
{
    test_temp_dir_create("gan_test_io");
    test_summary_open_failure();
    gan_context *ctx = test_context(1, 9);
    test_idx(ctx);
    test_safetensors(ctx);
    gan_context_free(ctx);
    test_temp_dir_remove();
    return test_finish("test_io");
}
