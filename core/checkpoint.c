/* checkpoint.c - training checkpoints: G, D, both optimizers, the random
 * generator and the counters in one safetensors file whose whole-file
 * checksum covers the metadata too; every value read back is validated. */
#include "layer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "libgan-training-checkpoint-2"
#define FORMAT_0_1 "libgan-training-checkpoint-1"

/* 2^53: counters beyond it would not survive a trip through a double */
#define MAX_COUNTER 9007199254740992LL

/* The keys the library writes; a caller's pairs may not use them. */
static const char *const library_keys[] = {
    "format", "model", "z_dim", "image_size", "channels", "lr_g", "lr_d", "beta1", "beta2", "eps",
    "real_label", "fake_label", "generator_label", "ema_decay", "mode_seeking", "epoch", "step_in_epoch",
    "global_step", "rng_state",
};

struct gan_checkpoint {
    gan_context *ctx;
    gan_safetensors *st;
    gan_checkpoint_info info;
    uint64_t rng[4];
};

/* ------------------------------------------------------------ entry list */

typedef struct entry_list {
    gan_entry *items;
    size_t count, cap;
} entry_list;

static bool push(entry_list *list, const char *prefix, const gan_entry *e)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        gan_entry *p = realloc(list->items, cap * sizeof *p);
        if (!p)
            return false;
        list->items = p;
        list->cap = cap;
    }
    gan_entry *dst = &list->items[list->count];
    *dst = *e;
    if ((size_t)snprintf(dst->name, sizeof dst->name, "%s%s", prefix, e->name) >= sizeof dst->name)
        return false; /* a name too long for an entry: refused rather than cut */
    list->count++;
    return true;
}

static bool add_model(entry_list *list, const char *prefix, const gan_model *m)
{
    for (size_t i = 0; i < gan_model_entry_count(m); i++) {
        gan_entry e;
        if (gan_model_entry(m, i, &e) != GAN_OK || !push(list, prefix, &e))
            return false;
    }
    return true;
}

static bool add_optimizer(entry_list *list, const char *prefix, const gan_optimizer *opt)
{
    for (size_t i = 0; i < gan_optimizer_entry_count(opt); i++) {
        gan_entry e;
        if (gan_optimizer_entry(opt, i, &e) != GAN_OK || !push(list, prefix, &e))
            return false;
    }
    return true;
}

/* The moving averages of G's parameters as "generator_ema.NAME" entries.
 * With t they are t's; without, G's own parameters, to be loaded with the
 * averages (a generator for sampling). */
static bool add_ema(entry_list *list, const gan_trainer *t, const gan_model *g)
{
    for (size_t i = 0, k = 0; i < gan_model_entry_count(g); i++) {
        gan_entry e;
        if (gan_model_entry(g, i, &e) != GAN_OK)
            return false;
        if (e.kind != GAN_ENTRY_PARAMETER)
            continue;
        const gan_entry average = {.kind = GAN_ENTRY_BUFFER, .layer_type = e.layer_type,
                                   .value = t ? gan_trainer_ema(t, k++) : e.value};
        gan_entry named = average;
        snprintf(named.name, sizeof named.name, "%s", e.name);
        if (!push(list, "generator_ema.", &named))
            return false;
    }
    return true;
}

/* Every tensor of trainer t under the checkpoint's names; without t, those
 * of the generator g alone, its parameters from their moving averages when
 * the checkpoint keeps them (with_ema). */
static gan_status collect(gan_context *ctx, const gan_trainer *t, gan_model *g, bool with_ema, entry_list *list)
{
    bool ok = add_model(list, "generator.", g);
    if (ok && t)
        ok = add_model(list, "discriminator.", gan_trainer_discriminator(t)) &&
             add_optimizer(list, "optimizer_g.", gan_trainer_optimizer(t, true)) &&
             add_optimizer(list, "optimizer_d.", gan_trainer_optimizer(t, false));
    if (ok && with_ema)
        ok = add_ema(list, t, g);
    if (!ok) {
        free(list->items);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "checkpoint: out of host memory");
    }
    return GAN_OK;
}

/* ------------------------------------------------------------------ save */

gan_status gan_checkpoint_save(const gan_trainer *t, const char *path, const gan_checkpoint_position *position,
                               const char *const (*meta)[2], size_t n_meta)
{
    gan_model *g = gan_trainer_generator(t);
    gan_context *ctx = gan_model_context(g);
    gan_clear_error(ctx);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!path || !position || (!meta && n_meta))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_save: NULL argument");
    if (position->epoch < 0 || position->step_in_epoch < 0 || position->epoch > MAX_COUNTER ||
        position->step_in_epoch > MAX_COUNTER)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_save: the position must be counts from 0");
    for (size_t i = 0; i < n_meta; i++)
        for (size_t k = 0; k < sizeof library_keys / sizeof library_keys[0]; k++)
            if (meta[i][0] && strcmp(meta[i][0], library_keys[k]) == 0)
                return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                                "gan_checkpoint_save: the key '%s' is the library's own", meta[i][0]);
    enum { N_OWN = sizeof library_keys / sizeof library_keys[0] };
    char values[N_OWN][80];
    const char *(*pairs)[2] = calloc(N_OWN + n_meta, sizeof *pairs);
    if (!pairs)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_checkpoint_save: out of host memory");
    size_t n = 0;
#define PUT(key, ...)                                             \
    do {                                                          \
        snprintf(values[n], sizeof values[n], __VA_ARGS__);       \
        pairs[n][0] = key;                                        \
        pairs[n][1] = values[n];                                  \
        n++;                                                      \
    } while (0)
    PUT("format", "%s", FORMAT);
    gan_models_info m;
    if (gan_trainer_models_info(t, &m) == GAN_OK) {
        PUT("model", "%s", m.name);
        PUT("z_dim", "%d", m.z_dim);
        PUT("image_size", "%d", m.image_size);
        PUT("channels", "%d", m.channels);
    }
    const gan_trainer_params p = gan_trainer_get_params(t);
    PUT("lr_g", "%.9g", p.lr_g);
    PUT("lr_d", "%.9g", p.lr_d);
    PUT("beta1", "%.9g", p.beta1);
    PUT("beta2", "%.9g", p.beta2);
    PUT("eps", "%.9g", p.eps);
    PUT("real_label", "%.9g", p.real_label);
    PUT("fake_label", "%.9g", p.fake_label);
    PUT("generator_label", "%.9g", p.generator_label);
    if (p.ema_decay > 0.0f)
        PUT("ema_decay", "%.9g", p.ema_decay);
    if (p.mode_seeking > 0.0f)
        PUT("mode_seeking", "%.9g", p.mode_seeking);
    PUT("epoch", "%" PRId64, position->epoch);
    PUT("step_in_epoch", "%" PRId64, position->step_in_epoch);
    PUT("global_step", "%" PRId64, gan_trainer_steps(t));
    uint64_t rng[4];
    gan_random_get_state(ctx, rng);
    PUT("rng_state", "%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64 ":%016" PRIx64, rng[0], rng[1], rng[2], rng[3]);
#undef PUT
    for (size_t i = 0; i < n_meta; i++, n++) {
        pairs[n][0] = meta[i][0];
        pairs[n][1] = meta[i][1];
    }
    entry_list list = {0};
    gan_status st = collect(ctx, t, g, gan_trainer_ema_count(t) > 0, &list);
    if (st == GAN_OK)
        st = gan_safetensors_save(ctx, path, list.items, list.count, (const char *const(*)[2])pairs, n);
    free(list.items);
    free(pairs);
    return st;
}

/* ------------------------------------------------------------------ open */

void gan_checkpoint_close(gan_checkpoint *c)
{
    if (!c)
        return;
    gan_safetensors_close(c->st);
    free(c);
}

/* The value of key, required to be there; NULL with a message otherwise. */
static const char *required(gan_checkpoint *c, const char *key)
{
    const char *v = gan_safetensors_meta(c->st, key);
    if (!v)
        gan_fail(c->ctx, GAN_ERR_FORMAT, "the checkpoint's metadata lacks '%s'", key);
    return v;
}

static bool read_count(gan_checkpoint *c, const char *key, int64_t max, int64_t *out)
{
    const char *v = required(c, key);
    if (!v)
        return false;
    int64_t x = 0;
    bool ok = *v && strlen(v) <= 16;
    for (const char *p = v; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    for (const char *p = v; ok && *p; p++)
        x = 10 * x + (*p - '0');
    if (!ok || x > max) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "the checkpoint's '%s' is '%s', not a count from 0 to %" PRId64, key, v, max);
        return false;
    }
    *out = x;
    return true;
}

static bool read_float(gan_checkpoint *c, const char *key, float *out)
{
    const char *v = required(c, key);
    if (!v)
        return false;
    char *end;
    errno = 0;
    *out = strtof(v, &end);
    if (!*v || *end || errno == ERANGE) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "the checkpoint's '%s' is '%s', not a number in single precision's range", key, v);
        return false;
    }
    return true;
}

static bool read_rng(gan_checkpoint *c)
{
    const char *v = required(c, "rng_state");
    if (!v)
        return false;
    bool ok = strlen(v) == 4 * 16 + 3;
    for (int k = 0; ok && k < 4; k++) {
        uint64_t x = 0;
        for (int i = 0; ok && i < 16; i++) {
            const char ch = v[17 * k + i];
            const int digit = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            ok = digit >= 0;
            x = x << 4 | (uint64_t)(ok ? digit : 0);
        }
        ok = ok && (k == 3 || v[17 * k + 16] == ':');
        c->rng[k] = x;
    }
    if (!ok || !(c->rng[0] | c->rng[1] | c->rng[2] | c->rng[3])) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "the checkpoint's rng_state '%s' is not a valid generator state", v);
        return false;
    }
    return true;
}

static bool read_info(gan_checkpoint *c)
{
    gan_checkpoint_info *info = &c->info;
    const char *format = required(c, "format");
    if (!format)
        return false;
    if (strcmp(format, FORMAT_0_1) == 0) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "written by libgan 0.1, whose checksum does not cover the metadata: "
                                         "it cannot be trusted, and is not loaded");
        return false;
    }
    if (strcmp(format, FORMAT) != 0) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "not a libgan training checkpoint (format '%s')", format);
        return false;
    }
    const char *model = gan_safetensors_meta(c->st, "model");
    if (model) {
        int64_t z_dim, size, channels;
        if (!read_count(c, "z_dim", INT32_MAX, &z_dim) || !read_count(c, "image_size", INT32_MAX, &size) ||
            !read_count(c, "channels", INT32_MAX, &channels))
            return false;
        info->model_params = (gan_models_params){(int)z_dim, (int)size, (int)channels};
        if (!z_dim || !size || !channels ||
            gan_models_describe(model, &info->model_params, &info->model) != GAN_OK) {
            gan_fail(c->ctx, GAN_ERR_FORMAT,
                     "the checkpoint's model '%s' (z_dim %s, image_size %s, channels %s) is not one of the zoo's",
                     model, gan_safetensors_meta(c->st, "z_dim"), gan_safetensors_meta(c->st, "image_size"),
                     gan_safetensors_meta(c->st, "channels"));
            return false;
        }
        info->has_model = 1;
    }
    gan_trainer_params *p = &info->params;
    if (!read_float(c, "lr_g", &p->lr_g) || !read_float(c, "lr_d", &p->lr_d) || !read_float(c, "beta1", &p->beta1) ||
        !read_float(c, "beta2", &p->beta2) || !read_float(c, "eps", &p->eps) ||
        !read_float(c, "real_label", &p->real_label) || !read_float(c, "fake_label", &p->fake_label) ||
        !read_float(c, "generator_label", &p->generator_label))
        return false;
    p->ema_decay = 0.0f; /* absent: no moving average */
    if (gan_safetensors_meta(c->st, "ema_decay") && !read_float(c, "ema_decay", &p->ema_decay))
        return false;
    p->mode_seeking = 0.0f; /* absent: no mode-seeking term */
    if (gan_safetensors_meta(c->st, "mode_seeking") && !read_float(c, "mode_seeking", &p->mode_seeking))
        return false;
    const char *why = gan_trainer_params_check(p);
    if (why) {
        gan_fail(c->ctx, GAN_ERR_FORMAT, "the checkpoint's trainer parameters are out of range: %s", why);
        return false;
    }
    if (!read_count(c, "epoch", MAX_COUNTER, &info->position.epoch) ||
        !read_count(c, "step_in_epoch", MAX_COUNTER, &info->position.step_in_epoch) ||
        !read_count(c, "global_step", MAX_COUNTER, &info->steps) || !read_rng(c))
        return false;
    return true;
}

gan_status gan_checkpoint_open(gan_context *ctx, const char *path, gan_checkpoint **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!path || !out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_open: NULL argument");
    *out = NULL;
    gan_checkpoint *c = calloc(1, sizeof *c);
    if (!c)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_checkpoint_open: out of host memory");
    c->ctx = ctx;
    gan_status st = gan_safetensors_open(ctx, path, &c->st);
    if (st == GAN_OK && !gan_safetensors_whole_file_checked(c->st))
        st = gan_fail(ctx, GAN_ERR_FORMAT, "%s: has no whole-file checksum (file_crc32): not a libgan training "
                                           "checkpoint, or a damaged one", path);
    if (st == GAN_OK && !read_info(c)) {
        char why[sizeof ctx->error];
        snprintf(why, sizeof why, "%s", gan_context_error(ctx));
        st = gan_fail(ctx, GAN_ERR_FORMAT, "%s: %s", path, why);
    }
    if (st != GAN_OK) {
        gan_checkpoint_close(c);
        return st;
    }
    *out = c;
    return GAN_OK;
}

gan_status gan_checkpoint_get_info(const gan_checkpoint *c, gan_checkpoint_info *out)
{
    gan_clear_error(c ? c->ctx : NULL);
    if (!c || !out)
        return GAN_ERR_INVALID_ARGUMENT;
    *out = c->info;
    return GAN_OK;
}

const char *gan_checkpoint_meta(const gan_checkpoint *c, const char *key)
{
    return c ? gan_safetensors_meta(c->st, key) : NULL;
}

/* ----------------------------------------------------------------- load */

/* Checks every entry first, so that a mismatch changes nothing, then loads. */
static gan_status load_all(gan_checkpoint *c, const entry_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        gan_status st = gan_safetensors_check(c->st, &list->items[i]);
        if (st != GAN_OK)
            return st;
    }
    for (size_t i = 0; i < list->count; i++) {
        gan_status st = gan_safetensors_load(c->st, &list->items[i]);
        if (st != GAN_OK)
            return st;
    }
    return GAN_OK;
}

gan_status gan_checkpoint_restore(gan_checkpoint *c, gan_trainer *t)
{
    gan_clear_error(c ? c->ctx : NULL);
    if (!c)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!t)
        return gan_fail(c->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_restore: trainer is NULL");
    gan_context *ctx = gan_model_context(gan_trainer_generator(t));
    if (ctx != c->ctx)
        return gan_fail(c->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_restore: the trainer belongs to another context");
    if ((gan_trainer_ema_count(t) > 0) != (c->info.params.ema_decay > 0.0f))
        return gan_fail(ctx, GAN_ERR_FORMAT, "the checkpoint %s a moving average of G (ema_decay %g), the trainer %s",
                        c->info.params.ema_decay > 0.0f ? "keeps" : "has no", c->info.params.ema_decay,
                        gan_trainer_ema_count(t) > 0 ? "keeps one" : "none");
    entry_list list = {0};
    gan_status st = collect(ctx, t, gan_trainer_generator(t), gan_trainer_ema_count(t) > 0, &list);
    if (st != GAN_OK)
        return st;
    /* the counters first, read aside: the optimizers count the trainer's
     * steps and must agree with it */
    for (size_t i = 0; st == GAN_OK && i < list.count; i++) {
        if (list.items[i].kind != GAN_ENTRY_COUNTER)
            continue;
        int64_t value;
        gan_entry e = list.items[i];
        e.counter = &value;
        if ((st = gan_safetensors_load(c->st, &e)) != GAN_OK)
            break;
        if (value < 0 || (strncmp(e.name, "optimizer_", 10) == 0 && value != c->info.steps))
            st = gan_fail(ctx, GAN_ERR_FORMAT, "the checkpoint's '%s' is %" PRId64 ", but its step is %" PRId64,
                          e.name, value, c->info.steps);
    }
    if (st == GAN_OK)
        st = load_all(c, &list);
    free(list.items);
    if (st != GAN_OK)
        return st;
    gan_trainer_set_steps(t, c->info.steps);
    return gan_random_set_state(ctx, c->rng);
}

gan_status gan_checkpoint_load_generator(gan_checkpoint *c, gan_model *g)
{
    gan_clear_error(c ? c->ctx : NULL);
    if (!c)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!g || gan_model_context(g) != c->ctx)
        return gan_fail(c->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_checkpoint_load_generator: no generator of this context");
    entry_list list = {0};
    gan_status st = collect(c->ctx, NULL, g, c->info.params.ema_decay > 0.0f, &list);
    if (st == GAN_OK) /* the parameters last: from their averages when there are any */
        st = load_all(c, &list);
    free(list.items);
    /* the running statistics saved are G's own, not the average's */
    if (st == GAN_OK && c->info.params.ema_decay > 0.0f && c->info.has_model)
        st = gan_generator_estimate_statistics(g, c->info.model.z_ndim, c->info.model.z_dim);
    return st;
}
