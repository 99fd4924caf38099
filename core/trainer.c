/* trainer.c - GAN training as the PyTorch DCGAN tutorials do it (one D step
 * on real and fake images, then one G step through a frozen D), also as one
 * of several data-parallel processes, and sampling a generator in eval
 * mode. */
#include "layer.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model's parameters as they stood when the trainer was made (its
 * optimizer's too): the entries borrow the model's tensors. */
typedef struct parameter_list {
    gan_entry *entries;        /* owned array */
    size_t count;
    size_t floats;             /* scalars in all */
    size_t largest;            /* scalars of the largest */
} parameter_list;

struct gan_trainer {
    gan_context *ctx;
    gan_model *g, *d;          /* borrowed, or owned when owns_models */
    bool owns_models;
    bool from_zoo;
    gan_models_info model;     /* from_zoo only */
    gan_models_params model_params;
    gan_trainer_params params;
    gan_optimizer *og, *od;    /* owned */
    parameter_list gp, dp;     /* G's and D's parameters */
    gan_tensor *real_labels, *fake_labels, *generator_labels, *dlogits; /* owned, [batch, 1] */
    gan_tensor *both, *both_dlogits, *half_logits; /* owned: D's joint pass (see discriminate_both) */
    int label_batch;           /* the batch the labels are filled for */
    int64_t steps;
    gan_collective collective; /* data-parallel training when distributed */
    bool distributed;
    float *reduce_buffer;      /* owned: the larger model's gradients and the step's figures */
    gan_tensor **ema;          /* owned, with ema_decay: the average of each of G's parameters */
    size_t n_ema;              /* gp.count with ema_decay, else 0 */
    bool ema_in;               /* G holds the average (gan_trainer_swap_ema) */
    float *live_statistics;    /* owned, while ema_in: G's own batch-norm running statistics */
    int64_t *live_counters;    /* owned, while ema_in: and their batch counters */
    int z_ndim, z_dim;         /* G's input, from the zoo or the last step; 0: not known yet */
};

/* The figures a step averages over the processes with the gradients, and
 * its share of the batch (a weight of 1 makes the sum of shares). */
enum { D_FIGURES = 4, G_FIGURES = 2, EXTRA_FLOATS = 8 };

gan_trainer_params gan_trainer_default_params(void)
{
    return (gan_trainer_params){.lr_g = 2e-4f, .lr_d = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f,
                                .eps = 1e-8f, .real_label = 1.0f, .fake_label = 0.0f,
                                .generator_label = 1.0f};
}

const char *gan_trainer_params_check(const gan_trainer_params *p)
{
    /* a learning rate that is subnormal in float is as good as zero */
    if (!(p->lr_g >= FLT_MIN && p->lr_g <= 1.0f) || !(p->lr_d >= FLT_MIN && p->lr_d <= 1.0f))
        return "learning rates must be in (0, 1], and not below 1.2e-38";
    if (!(p->beta1 >= 0.0f && p->beta1 < 1.0f) || !(p->beta2 >= 0.0f && p->beta2 < 1.0f))
        return "betas must be in [0, 1)";
    if (!(p->eps >= FLT_MIN && p->eps <= 1.0f))
        return "eps must be in (0, 1]";
    if (!(p->real_label >= 0.0f && p->real_label <= 1.0f) || !(p->fake_label >= 0.0f && p->fake_label <= 1.0f) ||
        !(p->generator_label >= 0.0f && p->generator_label <= 1.0f))
        return "labels must be in [0, 1]";
    if (!(p->ema_decay >= 0.0f && p->ema_decay < 1.0f))
        return "ema_decay must be in [0, 1)";
    if (!(p->mode_seeking >= 0.0f && p->mode_seeking <= FLT_MAX))
        return "mode_seeking must be a finite value >= 0";
    return NULL;
}

static gan_status list_parameters(gan_context *ctx, const gan_model *m, parameter_list *out)
{
    const size_t n = gan_model_entry_count(m);
    out->entries = malloc(sizeof *out->entries * (n ? n : 1));
    if (!out->entries)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_create: out of host memory");
    for (size_t i = 0; i < n; i++) {
        gan_entry *e = &out->entries[out->count];
        gan_model_entry(m, i, e);
        if (e->kind != GAN_ENTRY_PARAMETER)
            continue;
        const size_t k = gan_tensor_numel(e->value);
        out->floats += k;
        out->largest = k > out->largest ? k : out->largest;
        out->count++;
    }
    return GAN_OK;
}

/* The moving average of G's parameters, starting at their values. */
static gan_status create_ema(gan_trainer *t)
{
    t->ema = calloc(t->gp.count ? t->gp.count : 1, sizeof *t->ema);
    float *host = malloc(sizeof *host * (t->gp.largest ? t->gp.largest : 1));
    gan_status st = t->ema && host ? GAN_OK : gan_fail(t->ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_create: out of host memory");
    for (size_t k = 0; st == GAN_OK && k < t->gp.count; k++) {
        const gan_tensor *value = t->gp.entries[k].value;
        const size_t n = gan_tensor_numel(value);
        st = gan_tensor_create(t->ctx, gan_tensor_ndim(value), value->shape, &t->ema[k]);
        if (st == GAN_OK)
            t->n_ema++;
        if (st == GAN_OK)
            st = gan_tensor_read(value, host, n);
        if (st == GAN_OK)
            st = gan_tensor_write(t->ema[k], host, n);
    }
    free(host);
    return st;
}

/* Keeps G's batch-norm running statistics and counters in the trainer
 * (keep), or puts them back and lets them go. */
static gan_status keep_statistics(gan_trainer *t, bool keep)
{
    size_t floats = 0, counters = 0;
    for (size_t i = 0; i < gan_model_entry_count(t->g); i++) {
        gan_entry e;
        gan_model_entry(t->g, i, &e);
        floats += e.kind == GAN_ENTRY_BUFFER ? gan_tensor_numel(e.value) : 0;
        counters += e.kind == GAN_ENTRY_COUNTER;
    }
    if (keep) {
        t->live_statistics = malloc(sizeof *t->live_statistics * (floats ? floats : 1));
        t->live_counters = malloc(sizeof *t->live_counters * (counters ? counters : 1));
        if (!t->live_statistics || !t->live_counters)
            return gan_fail(t->ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_swap_ema: out of host memory");
    }
    gan_status st = GAN_OK;
    floats = counters = 0;
    for (size_t i = 0; st == GAN_OK && i < gan_model_entry_count(t->g); i++) {
        gan_entry e;
        gan_model_entry(t->g, i, &e);
        if (e.kind == GAN_ENTRY_COUNTER) {
            if (keep)
                t->live_counters[counters++] = *e.counter;
            else
                *e.counter = t->live_counters[counters++];
        } else if (e.kind == GAN_ENTRY_BUFFER) {
            const size_t k = gan_tensor_numel(e.value);
            st = keep ? gan_tensor_read(e.value, t->live_statistics + floats, k)
                      : gan_tensor_write(e.value, t->live_statistics + floats, k);
            floats += k;
        }
    }
    if (!keep || st != GAN_OK) {
        free(t->live_statistics), free(t->live_counters);
        t->live_statistics = NULL, t->live_counters = NULL;
    }
    return st;
}

gan_status gan_trainer_swap_ema(gan_trainer *t)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!t->n_ema)
        return gan_fail(t->ctx, GAN_ERR_STATE, "gan_trainer_swap_ema: the trainer keeps no average (ema_decay 0)");
    const bool to_average = !t->ema_in;
    float *a = malloc(sizeof *a * t->gp.largest), *b = malloc(sizeof *b * t->gp.largest);
    gan_status st = a && b ? GAN_OK : gan_fail(t->ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_swap_ema: out of host memory");
    if (st == GAN_OK && to_average)
        st = keep_statistics(t, true);
    for (size_t k = 0; st == GAN_OK && k < t->n_ema; k++) {
        gan_tensor *value = t->gp.entries[k].value;
        const size_t n = gan_tensor_numel(value);
        st = gan_tensor_read(value, a, n);
        if (st == GAN_OK)
            st = gan_tensor_read(t->ema[k], b, n);
        if (st == GAN_OK)
            st = gan_tensor_write(value, b, n);
        if (st == GAN_OK)
            st = gan_tensor_write(t->ema[k], a, n);
    }
    free(a);
    free(b);
    /* the average's own batch statistics; G's come back with its weights
     * (before the first step the average is G, whose statistics serve) */
    if (st == GAN_OK && to_average && t->z_ndim)
        st = gan_generator_estimate_statistics(t->g, t->z_ndim, t->z_dim);
    else if (st == GAN_OK && !to_average)
        st = keep_statistics(t, false);
    if (st == GAN_OK)
        t->ema_in = to_average;
    return st;
}

gan_status gan_trainer_create(gan_model *generator, gan_model *discriminator, const gan_trainer_params *params,
                              gan_trainer **out)
{
    gan_clear_error(gan_model_context(generator));
    if (!generator || !discriminator || !out)
        return generator ? gan_fail(gan_model_context(generator), GAN_ERR_INVALID_ARGUMENT,
                                    "gan_trainer_create: discriminator or out is NULL")
                         : GAN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    gan_context *ctx = gan_model_context(generator);
    if (gan_model_context(discriminator) != ctx)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_create: G and D belong to different contexts");
    if (generator == discriminator)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_create: G and D are the same model");
    const gan_trainer_params p = params ? *params : gan_trainer_default_params();
    const char *why = gan_trainer_params_check(&p);
    if (why)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_create: %s", why);
    gan_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_create: out of host memory");
    *t = (gan_trainer){.ctx = ctx, .g = generator, .d = discriminator, .params = p};
    const gan_adam_params ag = {p.lr_g, p.beta1, p.beta2, p.eps, 0.0f};
    const gan_adam_params ad = {p.lr_d, p.beta1, p.beta2, p.eps, 0.0f};
    gan_status st = list_parameters(ctx, generator, &t->gp);
    if (st == GAN_OK)
        st = list_parameters(ctx, discriminator, &t->dp);
    if (st == GAN_OK)
        st = gan_optimizer_adam_create(generator, &ag, &t->og);
    if (st == GAN_OK)
        st = gan_optimizer_adam_create(discriminator, &ad, &t->od);
    if (st == GAN_OK && p.ema_decay > 0.0f)
        st = create_ema(t);
    if (st != GAN_OK) {
        gan_trainer_free(t);
        return st;
    }
    *out = t;
    return GAN_OK;
}

gan_status gan_trainer_create_zoo(gan_context *ctx, const char *model, const gan_models_params *model_params,
                                  const gan_trainer_params *params, gan_trainer **out)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_create_zoo: out is NULL");
    *out = NULL;
    gan_model *g, *d;
    gan_status st = gan_models_create(ctx, model, model_params, &g, &d);
    if (st != GAN_OK)
        return st;
    gan_trainer *t;
    if ((st = gan_trainer_create(g, d, params, &t)) != GAN_OK) {
        gan_model_free(g);
        gan_model_free(d);
        return st;
    }
    t->owns_models = true;
    t->from_zoo = true;
    t->model_params = model_params ? *model_params : (gan_models_params){0};
    gan_models_describe(model, model_params, &t->model); /* succeeded inside gan_models_create */
    t->z_ndim = t->model.z_ndim;
    t->z_dim = t->model.z_dim;
    *out = t;
    return GAN_OK;
}

void gan_trainer_free(gan_trainer *t)
{
    if (!t)
        return;
    gan_optimizer_free(t->og);
    gan_optimizer_free(t->od);
    gan_tensor_free(t->real_labels);
    gan_tensor_free(t->fake_labels);
    gan_tensor_free(t->generator_labels);
    gan_tensor_free(t->dlogits);
    gan_tensor_free(t->both);
    gan_tensor_free(t->both_dlogits);
    gan_tensor_free(t->half_logits);
    free(t->reduce_buffer);
    free(t->gp.entries);
    free(t->dp.entries);
    free(t->live_statistics);
    free(t->live_counters);
    for (size_t i = 0; i < t->n_ema; i++)
        gan_tensor_free(t->ema[i]);
    free(t->ema);
    if (t->owns_models) {
        gan_model_free(t->g);
        gan_model_free(t->d);
    }
    free(t);
}

gan_model *gan_trainer_generator(const gan_trainer *t) { return t ? t->g : NULL; }
gan_model *gan_trainer_discriminator(const gan_trainer *t) { return t ? t->d : NULL; }
gan_trainer_params gan_trainer_get_params(const gan_trainer *t)
{
    return t ? t->params : gan_trainer_default_params();
}
int64_t gan_trainer_steps(const gan_trainer *t) { return t ? t->steps : 0; }

gan_status gan_trainer_models_info(const gan_trainer *t, gan_models_info *out)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t || !out || !t->from_zoo)
        return GAN_ERR_INVALID_ARGUMENT;
    *out = t->model;
    return GAN_OK;
}

/* Internal accessors for the checkpoint code. */
size_t gan_trainer_ema_count(const gan_trainer *t) { return t->n_ema; }
gan_tensor *gan_trainer_ema(const gan_trainer *t, size_t k) { return k < t->n_ema ? t->ema[k] : NULL; }
gan_optimizer *gan_trainer_optimizer(const gan_trainer *t, bool generator) { return generator ? t->og : t->od; }
const gan_models_params *gan_trainer_zoo_params(const gan_trainer *t) { return t->from_zoo ? &t->model_params : NULL; }
void gan_trainer_set_steps(gan_trainer *t, int64_t steps) { t->steps = steps; }

/* The label tensors, [batch, 1], filled once per batch size. */
static gan_status ensure_labels(gan_trainer *t, int batch)
{
    if (t->label_batch == batch)
        return GAN_OK;
    const int shape[2] = {batch, 1};
    gan_tensor **labels[3] = {&t->real_labels, &t->fake_labels, &t->generator_labels};
    const float values[3] = {t->params.real_label, t->params.fake_label, t->params.generator_label};
    gan_status st = gan_tensor_ensure(t->ctx, &t->dlogits, 2, shape);
    for (int i = 0; i < 3 && st == GAN_OK; i++) {
        st = gan_tensor_ensure(t->ctx, labels[i], 2, shape);
        if (st == GAN_OK)
            st = gan_tensor_fill(*labels[i], values[i]);
    }
    t->label_batch = st == GAN_OK ? batch : 0;
    return st;
}

#define TRY(call)                      \
    do {                               \
        gan_status st_ = (call);       \
        if (st_ != GAN_OK)             \
            return st_;                \
    } while (0)

/* ------------------------------------------------ data-parallel training */

gan_status gan_trainer_set_collective(gan_trainer *t, const gan_collective *c)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    free(t->reduce_buffer);
    t->reduce_buffer = NULL;
    t->distributed = false;
    if (!c)
        return GAN_OK;
    if (!c->allreduce_sum || !c->broadcast || c->size < 1 || c->rank < 0 || c->rank >= c->size)
        return gan_fail(t->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_trainer_set_collective: needs both operations and 0 <= rank (%d) < size (%d)", c->rank,
                        c->size);
    const size_t g = t->gp.floats, d = t->dp.floats;
    t->reduce_buffer = malloc(sizeof *t->reduce_buffer * ((g > d ? g : d) + EXTRA_FLOATS));
    if (!t->reduce_buffer)
        return gan_fail(t->ctx, GAN_ERR_OUT_OF_MEMORY, "gan_trainer_set_collective: out of host memory");
    t->collective = *c;
    t->distributed = true;
    return GAN_OK;
}

/* Replaces model's parameter gradients, and the n figures, by their means
 * over the processes, each process weighted by its share of the batch. */
static gan_status average_over_processes(gan_trainer *t, const parameter_list *params, int share, float *figures,
                                        int n)
{
    float *buf = t->reduce_buffer;
    size_t at = 0;
    for (size_t k = 0; k < params->count; k++) {
        const size_t floats = gan_tensor_numel(params->entries[k].grad);
        TRY(gan_tensor_read(params->entries[k].grad, buf + at, floats));
        at += floats;
    }
    for (size_t i = 0; i < at; i++)
        buf[i] *= (float)share;
    for (int i = 0; i < n; i++)
        buf[at + (size_t)i] = figures[i] * (float)share;
    buf[at + (size_t)n] = (float)share;
    const int code = t->collective.allreduce_sum(buf, at + (size_t)n + 1, t->collective.user);
    if (code != 0)
        return gan_fail(t->ctx, GAN_ERR_IO, "gan_trainer_step: the collective's allreduce_sum failed (%d)", code);
    const float total = buf[at + (size_t)n];
    if (!(total >= 1.0f))
        return gan_fail(t->ctx, GAN_ERR_STATE, "gan_trainer_step: the processes' shares sum to %g", total);
    for (size_t i = 0; i < at + (size_t)n; i++)
        buf[i] /= total;
    for (int i = 0; i < n; i++)
        figures[i] = buf[at + (size_t)i];
    at = 0;
    for (size_t k = 0; k < params->count; k++) {
        const size_t floats = gan_tensor_numel(params->entries[k].grad);
        TRY(gan_tensor_write(params->entries[k].grad, buf + at, floats));
        at += floats;
    }
    return GAN_OK;
}

/* Process 0's value of one entry (tensor or counter) into this process's. */
static gan_status broadcast_entry(gan_trainer *t, const gan_entry *e, float *host, size_t room)
{
    int code;
    if (e->counter) {
        code = t->collective.broadcast(e->counter, sizeof *e->counter, t->collective.user);
    } else {
        const size_t k = gan_tensor_numel(e->value);
        if (k > room)
            return gan_fail(t->ctx, GAN_ERR_STATE, "gan_trainer_broadcast: %s is larger than the buffer", e->name);
        TRY(gan_tensor_read(e->value, host, k));
        code = t->collective.broadcast(host, sizeof *host * k, t->collective.user);
        if (code == 0)
            TRY(gan_tensor_write(e->value, host, k));
    }
    if (code != 0)
        return gan_fail(t->ctx, GAN_ERR_IO, "gan_trainer_broadcast: the collective's broadcast of %s failed (%d)",
                        e->name, code);
    return GAN_OK;
}

gan_status gan_trainer_broadcast(gan_trainer *t)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!t->distributed)
        return gan_fail(t->ctx, GAN_ERR_STATE, "gan_trainer_broadcast: the trainer has no collective");
    /* every tensor of a model or its optimizer has a parameter's size or less */
    const size_t g = t->gp.floats, d = t->dp.floats, room = (g > d ? g : d) + EXTRA_FLOATS;
    gan_model *const models[2] = {t->g, t->d};
    gan_optimizer *const optimizers[2] = {t->og, t->od};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < gan_model_entry_count(models[m]); i++) {
            gan_entry e;
            gan_model_entry(models[m], i, &e);
            TRY(broadcast_entry(t, &e, t->reduce_buffer, room));
        }
        for (size_t i = 0; i < gan_optimizer_entry_count(optimizers[m]); i++) {
            gan_entry e;
            gan_optimizer_entry(optimizers[m], i, &e);
            TRY(broadcast_entry(t, &e, t->reduce_buffer, room));
        }
    }
    for (size_t k = 0; k < t->n_ema; k++) {
        gan_entry e = {.kind = GAN_ENTRY_BUFFER, .value = t->ema[k]};
        snprintf(e.name, sizeof e.name, "the moving average %zu", k);
        TRY(broadcast_entry(t, &e, t->reduce_buffer, room));
    }
    uint64_t state[5];
    gan_random_get_state(t->ctx, state);
    state[4] = (uint64_t)t->steps;
    const int code = t->collective.broadcast(state, sizeof state, t->collective.user);
    if (code != 0)
        return gan_fail(t->ctx, GAN_ERR_IO, "gan_trainer_broadcast: the collective's broadcast failed (%d)", code);
    t->steps = (int64_t)state[4];
    return gan_random_set_state(t->ctx, state);
}

/* The average's decay at a step (0 for the first): ramped up from 0.1 as
 * (1 + step) / (10 + step), as TensorFlow's ExponentialMovingAverage does
 * with num_updates, so that G's random initial weights leave the average
 * within a few hundred steps instead of keeping decay^steps of it (a
 * quarter after 1,400 steps at 0.999). */
static float ema_decay_at(float decay, int64_t step)
{
    const float ramp = (1.0f + (float)step) / (10.0f + (float)step);
    return ramp < decay ? ramp : decay;
}

/* A step's arguments, as gan_trainer_step passes them to step_body */
typedef struct step_call {
    gan_trainer *t;
    const gan_tensor *real, *z;
    gan_step_stats *stats;
} step_call;

/* Whether m has a layer that can compute on the batch as a whole (batch
 * norm, whose statistics in training are the batch's), so that its outputs
 * for a sample may depend on the others it runs with */
static bool mixes_samples(const gan_model *m)
{
    for (size_t i = 0; i < gan_model_layer_count(m); i++) {
        const gan_layer_type type = gan_layer_get_type(gan_model_layer(m, i));
        if (type == GAN_LAYER_BATCHNORM1D || type == GAN_LAYER_BATCHNORM2D)
            return true;
    }
    return false;
}

/* D's gradients for the real batch towards real_label and the generated
 * one towards fake_label, in one pass over the two side by side (a batch
 * of twice the size), for a D whose samples do not mix: the same sums as
 * two passes (in another order), but each of D's weight products made
 * once, over twice the rows, instead of twice. Each half's loss is taken
 * on its own, as the two passes would. */
static gan_status discriminate_both(gan_trainer *t, const gan_tensor *real, const gan_tensor *fake, float *loss_real,
                                    float *d_x, float *loss_fake, float *d_g_z1)
{
    gan_context *ctx = t->ctx;
    int shape[GAN_MAX_DIMS];
    memcpy(shape, real->shape, sizeof shape);
    shape[0] *= 2;
    TRY(gan_tensor_ensure(ctx, &t->both, real->ndim, shape));
    TRY(gan_tensor_copy(t->both, 0, real, 0, real->numel));
    TRY(gan_tensor_copy(t->both, real->numel, fake, 0, fake->numel));
    const gan_tensor *logits;
    TRY(gan_model_forward(t->d, t->both, &logits));
    memcpy(shape, logits->shape, sizeof shape);
    shape[0] /= 2;
    TRY(gan_tensor_ensure(ctx, &t->half_logits, logits->ndim, shape));
    TRY(gan_tensor_ensure(ctx, &t->both_dlogits, logits->ndim, logits->shape));
    const size_t half = t->half_logits->numel;
    TRY(gan_tensor_copy(t->half_logits, 0, logits, 0, half));
    TRY(gan_bce_with_logits(ctx, t->half_logits, t->real_labels, t->dlogits, loss_real, d_x));
    TRY(gan_tensor_copy(t->both_dlogits, 0, t->dlogits, 0, half));
    TRY(gan_tensor_copy(t->half_logits, 0, logits, half, half));
    TRY(gan_bce_with_logits(ctx, t->half_logits, t->fake_labels, t->dlogits, loss_fake, d_g_z1));
    TRY(gan_tensor_copy(t->both_dlogits, half, t->dlogits, 0, half));
    return gan_model_backward_replacing(t->d, t->both_dlogits, NULL);
}

/* The step itself, its arguments checked */
static gan_status step_body(void *arg)
{
    const step_call *call = arg;
    gan_trainer *t = call->t;
    gan_context *ctx = t->ctx;
    const gan_tensor *real = call->real, *z = call->z;
    gan_step_stats s;
    const gan_tensor *logits, *fake, *dfake;
    float loss_real, loss_fake;
    const bool joint = !mixes_samples(t->d) && real->shape[0] <= INT_MAX / 2;

    /* D: real images towards real_label, G(z) towards fake_label; each
     * model's first backward pass of the step replaces its gradients */
    gan_model_set_requires_grad(t->d, 1);
    if (!joint) {
        TRY(gan_model_forward(t->d, real, &logits));
        TRY(gan_bce_with_logits(ctx, logits, t->real_labels, t->dlogits, &loss_real, &s.d_x));
        TRY(gan_model_backward_replacing(t->d, t->dlogits, NULL));
    }
    TRY(gan_model_forward(t->g, z, &fake));
    if (!gan_tensor_same_shape(fake, real)) {
        char a[64], b[64];
        return gan_fail(ctx, GAN_ERR_SHAPE, "gan_trainer_step: G makes %s images, the real batch is %s",
                        gan_shape_str(fake->ndim, fake->shape, a, sizeof a),
                        gan_shape_str(real->ndim, real->shape, b, sizeof b));
    }
    if (joint) {
        TRY(discriminate_both(t, real, fake, &loss_real, &s.d_x, &loss_fake, &s.d_g_z1));
    } else {
        TRY(gan_model_forward(t->d, fake, &logits));
        TRY(gan_bce_with_logits(ctx, logits, t->fake_labels, t->dlogits, &loss_fake, &s.d_g_z1));
        TRY(gan_model_backward(t->d, t->dlogits, NULL));
    }
    if (t->distributed) {
        float figures[D_FIGURES] = {loss_real, loss_fake, s.d_x, s.d_g_z1};
        TRY(average_over_processes(t, &t->dp, real->shape[0], figures, D_FIGURES));
        loss_real = figures[0], loss_fake = figures[1], s.d_x = figures[2], s.d_g_z1 = figures[3];
    }
    TRY(gan_optimizer_step(t->od));
    s.loss_d = loss_real + loss_fake;

    /* G: D(G(z)) towards generator_label; D passes its input gradient only */
    gan_model_set_requires_grad(t->d, 0);
    TRY(gan_model_forward(t->d, fake, &logits));
    TRY(gan_bce_with_logits(ctx, logits, t->generator_labels, t->dlogits, &s.loss_g, &s.d_g_z2));
    TRY(gan_model_backward(t->d, t->dlogits, &dfake));
    if (t->params.mode_seeking > 0.0f && real->shape[0] >= 2)
        /* dfake is D's scratch until its next backward pass: the term adds to it there */
        TRY(gan_mode_seeking(ctx, fake, z, t->params.mode_seeking, (gan_tensor *)dfake, NULL, NULL));
    gan_model_set_requires_grad(t->d, 1);
    TRY(gan_model_backward_replacing(t->g, dfake, NULL));
    if (t->distributed) {
        float figures[G_FIGURES] = {s.loss_g, s.d_g_z2};
        TRY(average_over_processes(t, &t->gp, real->shape[0], figures, G_FIGURES));
        s.loss_g = figures[0], s.d_g_z2 = figures[1];
    }
    TRY(gan_optimizer_step(t->og));
    const float decay = ema_decay_at(t->params.ema_decay, t->steps);
    for (size_t k = 0; k < t->n_ema; k++)
        TRY(GAN_RUN(ctx, ema_update, t->ema[k], t->gp.entries[k].value, decay));
    t->steps++;
    if (call->stats)
        *call->stats = s;
    return GAN_OK;
}

gan_status gan_trainer_step(gan_trainer *t, const gan_tensor *real, const gan_tensor *z, gan_step_stats *stats)
{
    gan_clear_error(t ? t->ctx : NULL);
    if (!t)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = t->ctx;
    if (!real || !z)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_step: real or z is NULL");
    if (real->ctx != ctx || z->ctx != ctx)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_trainer_step: a tensor belongs to another context");
    if (real->shape[0] != z->shape[0])
        return gan_fail(ctx, GAN_ERR_SHAPE, "gan_trainer_step: %d real images but %d noise vectors",
                        real->shape[0], z->shape[0]);
    TRY(ensure_labels(t, real->shape[0]));
    t->z_ndim = z->ndim;
    t->z_dim = z->shape[1];
    step_call call = {t, real, z, stats};
    /* the backend's threads stay at hand for the step's ops */
    return gan_context_gather(ctx, step_body, &call);
}

/* -------------------------------------------------------------- sampling */

gan_status gan_model_sample(gan_model *g, const gan_tensor *z, float *dst, size_t count)
{
    gan_clear_error(gan_model_context(g));
    if (!g)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = gan_model_context(g);
    if (!z || !dst)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_sample: z or dst is NULL");
    const int training = gan_model_is_training(g);
    const gan_tensor *y;
    gan_model_set_training(g, 0);
    gan_status st = gan_model_forward(g, z, &y);
    gan_model_set_training(g, training);
    if (st != GAN_OK)
        return st;
    if (count != y->numel)
        return gan_fail(ctx, GAN_ERR_SHAPE, "gan_model_sample: the images are %zu floats, dst holds %zu",
                        y->numel, count);
    return gan_tensor_read(y, dst, count);
}

gan_status gan_generator_estimate_statistics(gan_model *g, int z_ndim, int z_dim)
{
    enum { BATCHES = 16, BATCH = 128 };
    static const uint64_t SEED = 0x5EEDBA7C4517A75ull; /* the same noise each time */
    gan_context *ctx = gan_model_context(g);
    const size_t layers = gan_model_layer_count(g);
    gan_layer **bn = malloc(sizeof *bn * (layers ? layers : 1));
    float *momentum = malloc(sizeof *momentum * (layers ? layers : 1));
    if (!bn || !momentum) {
        free(bn), free(momentum);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "estimating G's batch statistics: out of host memory");
    }
    size_t n_bn = 0;
    for (size_t i = 0; i < layers; i++) {
        gan_layer *l = (gan_layer *)gan_model_layer(g, i);
        const gan_layer_type type = gan_layer_get_type(l);
        if (type == GAN_LAYER_BATCHNORM1D || type == GAN_LAYER_BATCHNORM2D)
            bn[n_bn++] = l;
    }
    gan_status st = GAN_OK;
    if (n_bn) {
        uint64_t state[4];
        gan_random_get_state(ctx, state);
        gan_random_seed(ctx, SEED);
        const int shape[4] = {BATCH, z_dim, 1, 1}, training = gan_model_is_training(g);
        gan_tensor *z = NULL;
        st = gan_tensor_create(ctx, z_ndim, shape, &z);
        gan_model_set_training(g, 1);
        for (size_t i = 0; i < n_bn; i++)
            momentum[i] = gan_batchnorm_exchange_momentum(bn[i], 1.0f);
        /* momentum 1 / (k + 1) at batch k: the running statistics become
         * the plain mean of the batches' */
        for (int k = 0; st == GAN_OK && k < BATCHES; k++) {
            for (size_t i = 0; i < n_bn; i++)
                gan_batchnorm_exchange_momentum(bn[i], 1.0f / (float)(k + 1));
            const gan_tensor *y;
            st = gan_tensor_fill_normal(z, 0.0f, 1.0f);
            if (st == GAN_OK)
                st = gan_model_forward(g, z, &y);
        }
        for (size_t i = 0; i < n_bn; i++)
            gan_batchnorm_exchange_momentum(bn[i], momentum[i]);
        gan_model_set_training(g, training);
        gan_tensor_free(z);
        const gan_status restored = gan_random_set_state(ctx, state);
        st = st != GAN_OK ? st : restored;
    }
    free(bn), free(momentum);
    return st;
}

gan_status gan_generate(gan_model *g, int z_ndim, int z_dim, int count, float *dst)
{
    gan_clear_error(gan_model_context(g));
    if (!g)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_context *ctx = gan_model_context(g);
    if (!dst || count < 1 || z_dim < 1 || (z_ndim != 2 && z_ndim != 4))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_generate: needs dst, count >= 1, z_dim >= 1 and z_ndim 2 or 4");
    enum { CHUNK = 128 };
    const int chunk = count < CHUNK ? count : CHUNK;
    const int shape[4] = {chunk, z_dim, 1, 1};
    int out_ndim, out[GAN_MAX_DIMS]; /* one image's floats, from G's output shape */
    gan_status st = gan_model_layer_output_shape(g, gan_model_layer_count(g) - 1, z_ndim, shape, &out_ndim, out);
    size_t per_image = 1;
    for (int k = 1; st == GAN_OK && k < out_ndim; k++)
        per_image *= (size_t)out[k];
    gan_tensor *z = NULL;
    if (st == GAN_OK)
        st = gan_tensor_create(ctx, z_ndim, shape, &z);
    for (int at = 0; at < count && st == GAN_OK; at += chunk) {
        const int n = count - at < chunk ? count - at : chunk;
        if (n < chunk) { /* the last, shorter batch */
            const int last[4] = {n, z_dim, 1, 1};
            st = gan_tensor_ensure(ctx, &z, z_ndim, last);
        }
        if (st == GAN_OK)
            st = gan_tensor_fill_normal(z, 0.0f, 1.0f);
        if (st == GAN_OK)
            st = gan_model_sample(g, z, dst + (size_t)at * per_image, (size_t)n * per_image);
    }
    gan_tensor_free(z);
    return st;
}
