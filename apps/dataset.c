/* dataset.c - MNIST and Fashion-MNIST, training and test splits: location
 * and SHA-256 verification. */
#define _POSIX_C_SOURCE 200809L
#include "dataset.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const dataset_source sources[] = {
    {"mnist", "MNIST", "GAN_MNIST_DIR", "data/mnist", NULL, "apps/fetch_mnist.sh data/mnist",
     {"ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
      "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"}},
    /* the Fashion-MNIST hashes are of the files inside the published .gz
     * archives (whose own SHA-256 the distribution package checks) */
    {"fashion-mnist", "Fashion-MNIST", "GAN_FASHION_MNIST_DIR", "data/fashion-mnist",
     "/usr/share/datasets/fashion-mnist", "apt-get install dataset-fashion-mnist",
     {"c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
      "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
      "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
      "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}},
};

const dataset_source *dataset_source_find(const char *key)
{
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (strcmp(sources[i].key, key) == 0)
            return &sources[i];
    return NULL;
}

void sha256_hex(const uint8_t *data, size_t n, char hex[65])
{
    struct sha256_ctx c;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, n, data);
    sha256_digest(&c, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* The file of `stem` in dir, raw or .gz, under either usual spelling
 * (train-images-idx3-ubyte or train-images.idx3-ubyte). */
static bool find_file(const char *dir, const char *stem, char *path, size_t size)
{
    char dotted[64];
    snprintf(dotted, sizeof dotted, "%s", stem);
    char *dash = strstr(dotted, "-idx");
    if (dash)
        *dash = '.';
    const char *names[2] = {stem, dotted}, *suffixes[2] = {"", ".gz"};
    for (int n = 0; n < 2; n++)
        for (int s = 0; s < 2; s++) {
            snprintf(path, size, "%s/%s%s", dir, names[n], suffixes[s]);
            if (access(path, R_OK) == 0)
                return true;
        }
    return false;
}

static bool has_data(const char *dir)
{
    char path[1200];
    return dir && find_file(dir, "train-images-idx3-ubyte", path, sizeof path);
}

static bool load_checked(const char *dir, const char *stem, const char *sha,
                         bool verify, gan_idx *out, char *err, size_t err_size)
{
    char path[1200];
    if (!find_file(dir, stem, path, sizeof path)) {
        snprintf(err, err_size, "%s: no %s or %s.gz", dir, stem, stem);
        return false;
    }
    if (gan_idx_read(path, out, err, err_size) != GAN_OK)
        return false;
    if (verify) {
        char hex[65];
        sha256_hex(out->bytes, out->n_bytes, hex);
        if (strcmp(hex, sha) != 0) {
            snprintf(err, err_size,
                     "%s: SHA-256 %s does not match the published %s: the file is damaged or another "
                     "data set (--no-verify accepts it)", path, hex, sha);
            gan_idx_free(out);
            return false;
        }
    }
    return true;
}

bool dataset_load(const dataset_source *src, const char *data_dir, dataset_split split, bool verify,
                  dataset *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    const char *env = getenv(src->env_var);
    const char *dir = NULL;
    if (data_dir)
        dir = data_dir; /* an explicit choice is never second-guessed */
    else if (env && *env)
        dir = env;
    else if (has_data(src->local_dir))
        dir = src->local_dir;
    else if (has_data(src->system_dir))
        dir = src->system_dir;
    if (!dir) {
        snprintf(err, err_size,
                 "%s not found: looked in $%s (%s), ./%s%s%s. Fetch it with:\n    %s\n"
                 "or point --data at a folder holding train-images-idx3-ubyte and "
                 "train-labels-idx1-ubyte (raw or .gz)",
                 src->title, src->env_var, env ? env : "not set", src->local_dir,
                 src->system_dir ? " and " : "", src->system_dir ? src->system_dir : "",
                 src->fetch_hint);
        return false;
    }
    if (strlen(dir) >= sizeof out->dir - 64) { /* room for the file names, never cut */
        snprintf(err, err_size, "the data folder's path is %zu bytes long, more than the %zu this program takes",
                 strlen(dir), sizeof out->dir - 65);
        return false;
    }
    snprintf(out->dir, sizeof out->dir, "%s", dir);
    const bool test = split == DATASET_TEST;
    const char *images = test ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte";
    const char *labels = test ? "t10k-labels-idx1-ubyte" : "train-labels-idx1-ubyte";
    if (!load_checked(dir, images, src->sha256[test ? 2 : 0], verify, &out->images, err, err_size))
        return false;
    if (!load_checked(dir, labels, src->sha256[test ? 3 : 1], verify, &out->labels, err, err_size)) {
        dataset_free(out);
        return false;
    }
    const gan_idx *im = &out->images, *lb = &out->labels;
    if (im->ndim != 3 || lb->ndim != 1) {
        snprintf(err, err_size, "%s: images must have 3 dimensions and labels 1, found %d and %d",
                 dir, im->ndim, lb->ndim);
    } else if (im->dims[0] != lb->dims[0]) {
        snprintf(err, err_size, "%s: %d images but %d labels: the files do not belong together",
                 dir, im->dims[0], lb->dims[0]);
    } else if (im->dims[1] < 2 || im->dims[2] < 2) {
        snprintf(err, err_size, "%s: images of %dx%d pixels are too small", dir, im->dims[1], im->dims[2]);
    } else {
        out->count = im->dims[0];
        out->height = im->dims[1];
        out->width = im->dims[2];
        return true;
    }
    dataset_free(out);
    return false;
}

void dataset_free(dataset *ds)
{
    gan_idx_free(&ds->images);
    gan_idx_free(&ds->labels);
}
