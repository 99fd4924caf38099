/* optimizer.c - Adam and SGD with momentum, PyTorch's update rules, state
 * kept in the backend beside the parameters. */
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_ADAM, OPT_SGD } optimizer_kind;

typedef struct optimizer_slot {
    char name[64]; /* the parameter's model entry name */
    gan_tensor *param, *grad;
    gan_tensor *state[2]; /* Adam: exp_avg, exp_avg_sq; SGD: momentum_buffer or none */
} optimizer_slot;

struct gan_optimizer {
    gan_context *ctx;
    optimizer_kind kind;
    gan_adam_params adam;
    gan_sgd_params sgd;
    int64_t step;
    optimizer_slot *slots;
    size_t n_slots;
    int states_per_slot;
};

static const char *const adam_state_names[2] = {"exp_avg", "exp_avg_sq"};
static const char *const sgd_state_names[1] = {"momentum_buffer"};

gan_adam_params gan_adam_default_params(void)
{
    gan_adam_params p = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f};
    return p;
}

gan_sgd_params gan_sgd_default_params(void)
{
    gan_sgd_params p = {0.01f, 0.0f, 0.0f, 0.0f, 0};
    return p;
}

void gan_optimizer_free(gan_optimizer *opt)
{
    if (!opt)
        return;
    for (size_t i = 0; i < opt->n_slots; i++) {
        gan_tensor_free(opt->slots[i].state[0]);
        gan_tensor_free(opt->slots[i].state[1]);
    }
    free(opt->slots);
    free(opt);
}

static gan_status optimizer_create(gan_model *model, optimizer_kind kind, int states_per_slot,
                                   gan_optimizer **out)
{
    gan_context *ctx = gan_model_context(model);
    size_t n_entries = gan_model_entry_count(model);
    gan_entry e;
    gan_optimizer *opt = calloc(1, sizeof *opt);
    if (opt)
        opt->slots = calloc(n_entries ? n_entries : 1, sizeof *opt->slots);
    if (!opt || !opt->slots) {
        gan_optimizer_free(opt);
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "optimizer: out of host memory");
    }
    opt->ctx = ctx;
    opt->kind = kind;
    opt->states_per_slot = states_per_slot;
    for (size_t i = 0; i < n_entries; i++) {
        gan_model_entry(model, i, &e);
        if (e.kind != GAN_ENTRY_PARAMETER)
            continue;
        optimizer_slot *s = &opt->slots[opt->n_slots++];
        memcpy(s->name, e.name, sizeof s->name);
        s->param = e.value;
        s->grad = e.grad;
        for (int k = 0; k < states_per_slot; k++) {
            gan_status st = gan_tensor_create(ctx, e.value->ndim, e.value->shape, &s->state[k]);
            if (st != GAN_OK) {
                gan_optimizer_free(opt);
                return st;
            }
        }
    }
    *out = opt;
    return GAN_OK;
}

static bool in_unit_interval(float x) { return x >= 0.0f && x < 1.0f; }

gan_status gan_optimizer_adam_create(gan_model *model, const gan_adam_params *p, gan_optimizer **out)
{
    gan_clear_error(gan_model_context(model));
    if (!out || !model || !p)
        return GAN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    gan_context *ctx = gan_model_context(model);
    if (!(p->lr >= 0.0f) || !isfinite(p->lr))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "Adam: learning rate %g must be >= 0", p->lr);
    if (!in_unit_interval(p->beta1) || !in_unit_interval(p->beta2))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "Adam: betas (%g, %g) must be in [0, 1)",
                        p->beta1, p->beta2);
    if (!(p->eps >= 0.0f) || !(p->weight_decay >= 0.0f))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "Adam: eps %g and weight decay %g must be >= 0",
                        p->eps, p->weight_decay);
    gan_status st = optimizer_create(model, OPT_ADAM, 2, out);
    if (st == GAN_OK)
        (*out)->adam = *p;
    return st;
}

gan_status gan_optimizer_sgd_create(gan_model *model, const gan_sgd_params *p, gan_optimizer **out)
{
    gan_clear_error(gan_model_context(model));
    if (!out || !model || !p)
        return GAN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    gan_context *ctx = gan_model_context(model);
    if (!(p->lr >= 0.0f) || !isfinite(p->lr))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "SGD: learning rate %g must be >= 0", p->lr);
    if (!(p->momentum >= 0.0f) || !(p->weight_decay >= 0.0f) || !(p->dampening >= 0.0f))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "SGD: momentum %g, dampening %g and weight decay %g must be >= 0",
                        p->momentum, p->dampening, p->weight_decay);
    if (p->nesterov && (p->momentum <= 0.0f || p->dampening != 0.0f))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "SGD: Nesterov momentum needs momentum > 0 and zero dampening");
    gan_status st = optimizer_create(model, OPT_SGD, p->momentum > 0.0f ? 1 : 0, out);
    if (st == GAN_OK)
        (*out)->sgd = *p;
    return st;
}

gan_status gan_optimizer_set_lr(gan_optimizer *opt, float lr)
{
    gan_clear_error(opt ? opt->ctx : NULL);
    if (!opt)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!(lr > 0.0f && lr <= 1.0f))
        return gan_fail(opt->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_optimizer_set_lr: %g is not in (0, 1]", lr);
    if (opt->kind == OPT_ADAM)
        opt->adam.lr = lr;
    else
        opt->sgd.lr = lr;
    return GAN_OK;
}

float gan_optimizer_get_lr(const gan_optimizer *opt)
{
    return !opt ? 0.0f : opt->kind == OPT_ADAM ? opt->adam.lr : opt->sgd.lr;
}

gan_status gan_optimizer_step(gan_optimizer *opt)
{
    gan_clear_error(opt ? opt->ctx : NULL);
    if (!opt)
        return GAN_ERR_INVALID_ARGUMENT;
    if (opt->n_slots == 0)
        return GAN_OK;
    opt->step++;
    for (size_t i = 0; i < opt->n_slots; i++) {
        optimizer_slot *s = &opt->slots[i];
        gan_status st;
        if (opt->kind == OPT_ADAM) {
            const gan_adam_step_args a = {opt->adam.lr, opt->adam.beta1, opt->adam.beta2,
                                          opt->adam.eps, opt->adam.weight_decay, opt->step};
            st = GAN_RUN(opt->ctx, adam_step, &a, s->param, s->grad, s->state[0], s->state[1]);
        } else {
            const gan_sgd_step_args a = {opt->sgd.lr, opt->sgd.momentum, opt->sgd.dampening,
                                         opt->sgd.weight_decay, opt->sgd.nesterov, opt->step == 1};
            st = GAN_RUN(opt->ctx, sgd_step, &a, s->param, s->grad, s->state[0]);
        }
        if (st != GAN_OK)
            return st;
    }
    return GAN_OK;
}

size_t gan_optimizer_entry_count(const gan_optimizer *opt)
{
    return opt ? opt->n_slots * (size_t)opt->states_per_slot + 1 : 0;
}

gan_status gan_optimizer_entry(const gan_optimizer *opt, size_t i, gan_entry *out)
{
    gan_clear_error(opt ? opt->ctx : NULL);
    if (!opt)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!out)
        return gan_fail(opt->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_optimizer_entry: out is NULL");
    memset(out, 0, sizeof *out);
    const size_t n_states = opt->n_slots * (size_t)opt->states_per_slot;
    if (i == n_states) {
        snprintf(out->name, sizeof out->name, "step");
        out->kind = GAN_ENTRY_COUNTER;
        out->counter = (int64_t *)&opt->step;
        return GAN_OK;
    }
    if (i > n_states)
        return gan_fail(opt->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_optimizer_entry: index %zu of %zu",
                        i, n_states + 1);
    const optimizer_slot *s = &opt->slots[i / (size_t)opt->states_per_slot];
    const int k = (int)(i % (size_t)opt->states_per_slot);
    const char *state = opt->kind == OPT_ADAM ? adam_state_names[k] : sgd_state_names[k];
    snprintf(out->name, sizeof out->name, "%.40s.%s", s->name, state);
    out->kind = GAN_ENTRY_BUFFER;
    out->value = s->state[k];
    return GAN_OK;
}
