/* train_classifier.c - trains the evaluator's classifier (classifier.h) on
 * the training split of MNIST or Fashion-MNIST with softmax cross-entropy
 * and Adam (its learning rate a tenth for the last epochs), reports its
 * accuracy on the test split after every epoch, and saves it for
 * build/apps/evaluate. */
#define _POSIX_C_SOURCE 200809L
#include "backend_select.h"
#include "classifier.h"
#include "dataset.h"
#include "files.h"
#include "options.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *program = "train_classifier";

enum { PATH_MAX_LEN = 800 };

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool ok(gan_context *ctx, gan_status st, const char *what)
{
    if (st != GAN_OK)
        fprintf(stderr, "%s: %s: %s\n", program, what, gan_context_error(ctx)[0] ? gan_context_error(ctx) : gan_strerror(st));
    return st == GAN_OK;
}

/* The share of the test images the classifier gets right. */
static bool test_accuracy(classifier *c, const dataset *test, float *images, int *predictions, double *accuracy)
{
    const size_t n = (size_t)test->count * CLASSIFIER_SIDE * CLASSIFIER_SIDE;
    classifier_scale(test->images.data, n, images);
    if (!ok(c->ctx, classifier_run(c, images, test->count, NULL, predictions), "testing"))
        return false;
    int right = 0;
    for (int i = 0; i < test->count; i++)
        right += predictions[i] == test->labels.data[i];
    *accuracy = (double)right / test->count;
    return true;
}

/* One epoch of steps; *loss and *train_accuracy over it. */
static bool train_epoch(classifier *c, gan_sampler *s, const dataset *train, int64_t epoch, gan_optimizer *of,
                        gan_optimizer *oh, gan_tensor *x, gan_tensor *target, gan_tensor *dlogits, int *indices,
                        float *onehot, double *loss, double *train_accuracy)
{
    gan_context *ctx = c->ctx;
    const int batch = gan_sampler_share(s), steps = gan_sampler_batches_per_epoch(s);
    double loss_sum = 0.0;
    long right = 0;
    for (int step = 0; step < steps; step++) {
        const gan_tensor *f, *logits, *df;
        float l;
        int correct;
        if (!ok(ctx, gan_sampler_batch_indices(s, epoch, step, indices), "batch") ||
            !ok(ctx, gan_sampler_batch(s, epoch, step, x), "batch"))
            return false;
        memset(onehot, 0, sizeof *onehot * (size_t)batch * CLASSIFIER_CLASSES);
        for (int b = 0; b < batch; b++)
            onehot[b * CLASSIFIER_CLASSES + train->labels.data[indices[b]]] = 1.0f;
        if (!ok(ctx, gan_tensor_write(target, onehot, (size_t)batch * CLASSIFIER_CLASSES), "labels") ||
            !ok(ctx, gan_model_zero_grad(c->features), "step") || !ok(ctx, gan_model_zero_grad(c->head), "step") ||
            !ok(ctx, gan_model_forward(c->features, x, &f), "forward") ||
            !ok(ctx, gan_model_forward(c->head, f, &logits), "forward") ||
            !ok(ctx, gan_softmax_cross_entropy(ctx, logits, target, dlogits, &l, &correct), "loss") ||
            !ok(ctx, gan_model_backward(c->head, dlogits, &df), "backward") ||
            !ok(ctx, gan_model_backward(c->features, df, NULL), "backward") ||
            !ok(ctx, gan_optimizer_step(oh), "step") || !ok(ctx, gan_optimizer_step(of), "step"))
            return false;
        loss_sum += l;
        right += correct;
    }
    *loss = loss_sum / steps;
    *train_accuracy = (double)right / ((double)steps * batch);
    return true;
}

int main(int argc, char **argv)
{
    const char *dataset_key = "mnist", *data_dir = NULL, *out = NULL, *backend = "cpu";
    int epochs = 5, slow_epochs = 2, batch = 128, threads = 0, device = 0;
    int64_t seed = 1;
    float lr = 1e-3f, rotate = -1.0f;
    bool no_verify = false;
    option opts[] = {
        {"--dataset", OPT_STRING, &dataset_key, 0, 64, "mnist or fashion-mnist", false},
        {"--data", OPT_STRING, &data_dir, 0, PATH_MAX_LEN, "folder with the IDX files, both splits (raw or .gz)", false},
        {"--out", OPT_STRING, &out, 0, PATH_MAX_LEN, "the classifier file (none: classifiers/DATASET.safetensors)", false},
        {"--epochs", OPT_INT, &epochs, 1, 1000, "epochs to train", false},
        {"--batch", OPT_INT, &batch, 2, 65536, "batch size", false},
        {"--lr", OPT_FLOAT, &lr, 1e-9, 1, "Adam learning rate", false},
        {"--slow-epochs", OPT_INT, &slow_epochs, 0, 1000, "the last epochs, at a tenth of the learning rate", false},
        {"--rotate", OPT_FLOAT, &rotate, -1, 180, "random rotation of the training images, up to this many degrees "
         "(-1: 10 for MNIST, 0 for Fashion-MNIST)", false},
        {"--seed", OPT_INT64, &seed, 0, 9e15, "random seed", false},
        {"--threads", OPT_INT, &threads, 0, 1024, "CPU threads (0: all cores)", false},
        {"--backend", OPT_STRING, &backend, 0, 64, "cpu or opencl", false},
        {"--device", OPT_INT, &device, 0, 1024, "device index for --backend opencl", false},
        {"--no-verify", OPT_FLAG, &no_verify, 0, 0, "accept data files whose SHA-256 is not the published one", false},
    };
    switch (options_parse(opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, program,
                          "Trains the classifier whose features build/apps/evaluate scores samples with.")) {
    case OPTIONS_HELP: return 0;
    case OPTIONS_ERROR: return 2;
    default: break;
    }
    const dataset_source *src = dataset_source_find(dataset_key);
    if (!src) {
        fprintf(stderr, "%s: --dataset takes mnist or fashion-mnist, not '%s'\n", program, dataset_key);
        return 2;
    }
    if (rotate < 0) /* digits keep their meaning when tilted a little; the garments are all upright */
        rotate = strcmp(src->key, "mnist") == 0 ? 10.0f : 0.0f;
    char path[PATH_MAX_LEN + 64], err[4096];
    if (out)
        snprintf(path, sizeof path, "%s", out);
    else
        snprintf(path, sizeof path, "classifiers/%s.safetensors", src->key);
    dataset train, test;
    if (!dataset_load(src, data_dir, DATASET_TRAIN, !no_verify, &train, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        return 1;
    }
    if (!dataset_load(src, data_dir, DATASET_TEST, !no_verify, &test, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", program, err);
        dataset_free(&train);
        return 1;
    }
    int status = 1;
    const dataset *splits[2] = {&train, &test};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < splits[k]->count; i++)
            if (splits[k]->labels.data[i] >= CLASSIFIER_CLASSES) {
                fprintf(stderr, "%s: %s: label %d of the %s split is %d; the classifier takes 0 to %d\n", program,
                        splits[k]->dir, i, k ? "test" : "training", splits[k]->labels.data[i], CLASSIFIER_CLASSES - 1);
                dataset_free(&train), dataset_free(&test);
                return 1;
            }
    if (train.height != CLASSIFIER_SIDE || train.width != CLASSIFIER_SIDE || test.height != CLASSIFIER_SIDE ||
        test.width != CLASSIFIER_SIDE) {
        fprintf(stderr, "%s: %s holds %dx%d images; the classifier takes %dx%d\n", program, train.dir, train.height,
                train.width, CLASSIFIER_SIDE, CLASSIFIER_SIDE);
        dataset_free(&train), dataset_free(&test);
        return 1;
    }
    char parent[PATH_MAX_LEN + 64];
    snprintf(parent, sizeof parent, "%s", path);
    if (!files_make_dirs(dirname(parent))) {
        fprintf(stderr, "%s: cannot make the folder of %s: %s\n", program, path, strerror(errno));
        dataset_free(&train), dataset_free(&test);
        return 1;
    }
    gan_context *ctx = backend_context(program, backend, device, threads, (uint64_t)seed);
    classifier c = {0};
    gan_sampler *s = NULL;
    gan_optimizer *of = NULL, *oh = NULL;
    gan_tensor *x = NULL, *target = NULL, *dlogits = NULL;
    float *onehot = malloc(sizeof *onehot * (size_t)batch * CLASSIFIER_CLASSES);
    float *test_images = malloc(sizeof *test_images * (size_t)test.count * CLASSIFIER_SIDE * CLASSIFIER_SIDE);
    int *indices = malloc(sizeof *indices * (size_t)batch), *predictions = malloc(sizeof *predictions * (size_t)test.count);
    gan_adam_params ap = gan_adam_default_params();
    ap.lr = lr;
    const gan_sampler_params sp = {.batch = batch, .max_rotation = rotate, .seed = (uint64_t)seed};
    if (!ctx || !onehot || !test_images || !indices || !predictions) {
        if (ctx)
            fprintf(stderr, "%s: out of memory\n", program);
        goto done;
    }
    if (!classifier_create(ctx, &c)) {
        ok(ctx, GAN_ERR_OUT_OF_MEMORY, "building the classifier");
        goto done;
    }
    if (!ok(ctx, gan_sampler_create(ctx, train.images.data, train.count, CLASSIFIER_SIDE, CLASSIFIER_SIDE, 1, &sp, &s),
            "the data") ||
        !ok(ctx, gan_optimizer_adam_create(c.features, &ap, &of), "optimizer") ||
        !ok(ctx, gan_optimizer_adam_create(c.head, &ap, &oh), "optimizer") ||
        !ok(ctx, gan_tensor_create(ctx, 4, (const int[]){batch, 1, CLASSIFIER_SIDE, CLASSIFIER_SIDE}, &x), "tensor") ||
        !ok(ctx, gan_tensor_create(ctx, 2, (const int[]){batch, CLASSIFIER_CLASSES}, &target), "tensor") ||
        !ok(ctx, gan_tensor_create(ctx, 2, (const int[]){batch, CLASSIFIER_CLASSES}, &dlogits), "tensor"))
        goto done;
    printf("%s: %s, %d training and %d test images from %s; %zu + %zu parameters; %d epochs of batch %d, "
           "rotation up to %g degrees\n", program, src->title, train.count, test.count, train.dir,
           gan_model_parameter_count(c.features), gan_model_parameter_count(c.head), epochs, batch, rotate);
    double accuracy = 0.0;
    for (int e = 0; e < epochs; e++) {
        const double start = now_seconds();
        if (e == epochs - slow_epochs && e > 0 &&
            (!ok(ctx, gan_optimizer_set_lr(of, lr / 10), "optimizer") || !ok(ctx, gan_optimizer_set_lr(oh, lr / 10), "optimizer")))
            goto done;
        double loss, train_accuracy;
        if (!train_epoch(&c, s, &train, e, of, oh, x, target, dlogits, indices, onehot, &loss, &train_accuracy) ||
            !test_accuracy(&c, &test, test_images, predictions, &accuracy))
            goto done;
        printf("epoch %d/%d (lr %g): loss %.4f, training accuracy %.2f%%, test accuracy %.2f%% (%.1f s)\n", e + 1,
               epochs, gan_optimizer_get_lr(of), loss, 100.0 * train_accuracy, 100.0 * accuracy, now_seconds() - start);
        fflush(stdout);
    }
    char acc[32], ep[32], sd[32];
    snprintf(acc, sizeof acc, "%.6f", accuracy);
    snprintf(ep, sizeof ep, "%d", epochs);
    snprintf(sd, sizeof sd, "%lld", (long long)seed);
    const char *meta[][2] = {{"classifier", "libgan-evaluator-1"}, {"dataset", src->key}, {"test_accuracy", acc},
                             {"epochs", ep}, {"seed", sd}};
    if (!ok(ctx, classifier_save(&c, path, meta, sizeof meta / sizeof meta[0]), "saving"))
        goto done;
    printf("%s: test accuracy %.2f%%; saved %s\n", program, 100.0 * accuracy, path);
    status = 0;
done:
    gan_tensor_free(x), gan_tensor_free(target), gan_tensor_free(dlogits);
    gan_optimizer_free(of), gan_optimizer_free(oh);
    gan_sampler_free(s);
    classifier_free(&c);
    free(onehot), free(test_images), free(indices), free(predictions);
    gan_context_free(ctx);
    dataset_free(&train), dataset_free(&test);
    return status;
}
