/* model.c - the sequential model: runs its layers forward and backward,
 * allocates their outputs once per shape, and names their tensors. */
#include "layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gan_model {
    gan_context *ctx;
    gan_layer **layers;
    size_t n_layers, cap_layers;
    bool training, requires_grad;
    bool forward_done; /* a forward has run since the last backward */
};

gan_status gan_model_create(gan_context *ctx, gan_model **out)
{
    gan_clear_error(ctx);
    if (!out)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    gan_model *m = calloc(1, sizeof *m);
    if (!m)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_model_create: out of host memory");
    m->ctx = ctx;
    m->training = true;
    m->requires_grad = true;
    *out = m;
    return GAN_OK;
}

void gan_model_free(gan_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_layers; i++)
        gan_layer_free(m->layers[i]);
    free(m->layers);
    free(m);
}

/* A ReLU or LeakyReLU (slope >= 0, so that its output is positive exactly
 * where its input is) right after a batch norm or a Linear layer is applied
 * by that layer, saving a pass over the feature maps each way; it then runs
 * as a view. The results are the same bits as the two layers apart give. */
static void fold_activation(gan_model *m, gan_layer *layer)
{
    gan_activation act;
    float slope;
    if (m->n_layers == 0 || !gan_activation_params(layer, &act, &slope) || !(slope >= 0.0f))
        return;
    gan_layer *prev = m->layers[m->n_layers - 1];
    const gan_layer_type t = prev->iface->type;
    if (t == GAN_LAYER_BATCHNORM1D || t == GAN_LAYER_BATCHNORM2D)
        gan_batchnorm_fold(prev, act, slope);
    else if (t == GAN_LAYER_LINEAR)
        gan_linear_fold(prev, act, slope);
    else
        return;
    layer->folded = true;
}

/* Layers whose output and input gradient are views of their input and of
 * the output gradient: Flatten, Reshape and folded activations */
static bool runs_as_view(const gan_layer *l) { return l->iface->is_view || l->folded; }

gan_status gan_model_add(gan_model *m, gan_layer *layer)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m) {
        gan_layer_free(layer);
        return GAN_ERR_INVALID_ARGUMENT;
    }
    if (!layer)
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_add: layer is NULL");
    if (layer->ctx != m->ctx) {
        gan_layer_free(layer);
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_model_add: the layer belongs to another context");
    }
    if (m->n_layers == m->cap_layers) {
        size_t cap = m->cap_layers ? 2 * m->cap_layers : 8;
        gan_layer **p = realloc(m->layers, cap * sizeof *p);
        if (!p) {
            gan_layer_free(layer);
            return gan_fail(m->ctx, GAN_ERR_OUT_OF_MEMORY, "gan_model_add: out of host memory");
        }
        m->layers = p;
        m->cap_layers = cap;
    }
    fold_activation(m, layer);
    m->layers[m->n_layers++] = layer;
    return GAN_OK;
}

size_t gan_model_layer_count(const gan_model *m) { return m ? m->n_layers : 0; }
gan_context *gan_model_context(const gan_model *m) { return m ? m->ctx : NULL; }

const gan_layer *gan_model_layer(const gan_model *m, size_t i)
{
    return m && i < m->n_layers ? m->layers[i] : NULL;
}

gan_status gan_model_layer_output_shape(gan_model *m, size_t index, int in_ndim, const int *in_shape,
                                        int *out_ndim, int out_shape[GAN_MAX_DIMS])
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    if (index >= m->n_layers || !in_shape || !out_ndim || !out_shape)
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_model_layer_output_shape: bad layer index %zu or NULL argument", index);
    if (in_ndim < 1 || in_ndim > GAN_MAX_DIMS)
        return gan_fail(m->ctx, GAN_ERR_SHAPE, "gan_model_layer_output_shape: %d dimensions", in_ndim);
    int ndim = in_ndim, shape[GAN_MAX_DIMS];
    memcpy(shape, in_shape, (size_t)in_ndim * sizeof *shape);
    for (size_t i = 0; i <= index; i++) {
        int next[GAN_MAX_DIMS];
        gan_status st = m->layers[i]->iface->output_shape(m->layers[i], ndim, shape, &ndim, next);
        if (st != GAN_OK)
            return st;
        memcpy(shape, next, sizeof shape);
    }
    *out_ndim = ndim;
    memcpy(out_shape, shape, (size_t)ndim * sizeof *shape);
    return GAN_OK;
}

gan_status gan_model_forward(gan_model *m, const gan_tensor *x, const gan_tensor **y)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!x || !y)
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_forward: x or y is NULL");
    if (x->ctx != m->ctx)
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_model_forward: x belongs to another context");
    if (m->n_layers == 0)
        return gan_fail(m->ctx, GAN_ERR_STATE, "gan_model_forward: the model has no layers");
    m->forward_done = false;
    const gan_tensor *cur = x;
    for (size_t i = 0; i < m->n_layers; i++) {
        gan_layer *l = m->layers[i];
        int ndim, shape[GAN_MAX_DIMS];
        gan_status st = l->iface->output_shape(l, cur->ndim, cur->shape, &ndim, shape);
        if (st != GAN_OK)
            return st;
        st = runs_as_view(l) ? gan_tensor_view(m->ctx, &l->output, cur, ndim, shape)
                             : gan_tensor_ensure(m->ctx, &l->output, ndim, shape);
        if (st != GAN_OK)
            return st;
        l->input = cur;
        if (!l->folded)
            st = l->iface->forward(l, m->training);
        if (st != GAN_OK)
            return st;
        cur = l->output;
    }
    m->forward_done = true;
    *y = cur;
    return GAN_OK;
}

/* Zeroes the gradients of a layer's parameters */
static gan_status zero_layer_grads(gan_layer *l)
{
    for (int j = 0; j < l->n_entries; j++) {
        gan_tensor *g = l->entries[j].grad;
        gan_status st = g ? gan_tensor_fill(g, 0.0f) : GAN_OK;
        if (st != GAN_OK)
            return st;
    }
    return GAN_OK;
}

/* Whether a backward pass through l makes parameter gradients */
static bool has_gradients(const gan_layer *l)
{
    for (int j = 0; j < l->n_entries; j++)
        if (l->entries[j].grad)
            return true;
    return false;
}

/* The lowest layer a backward pass goes through: the first, where the
 * input's gradient is asked for; else the first that makes parameter
 * gradients (none: n_layers), as the gradient below it would go nowhere
 * (D's input gradient in its own step, through the Flatten it starts with) */
static size_t backward_floor(const gan_model *m, bool want_dx)
{
    if (want_dx)
        return 0;
    if (!m->requires_grad)
        return m->n_layers;
    for (size_t i = 0; i < m->n_layers; i++)
        if (has_gradients(m->layers[i]))
            return i;
    return m->n_layers;
}

/* gan_model_backward, the parameters' gradients added to (replace false)
 * or replaced (replace true, with requires_grad) */
static gan_status backward(gan_model *m, const gan_tensor *dy, const gan_tensor **dx, bool replace)
{
    if (!dy)
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_backward: dy is NULL");
    if (!m->forward_done)
        return gan_fail(m->ctx, GAN_ERR_STATE, "gan_model_backward: no forward pass to go back through");
    const gan_tensor *out = m->layers[m->n_layers - 1]->output;
    if (!gan_tensor_same_shape(dy, out)) {
        char a[64], b[64];
        return gan_fail(m->ctx, GAN_ERR_SHAPE, "gan_model_backward: dy is %s, the output is %s",
                        gan_shape_str(dy->ndim, dy->shape, a, sizeof a),
                        gan_shape_str(out->ndim, out->shape, b, sizeof b));
    }
    const gan_tensor *cur = dy;
    const size_t lowest = backward_floor(m, dx != NULL);
    for (size_t i = m->n_layers; i-- > lowest;) {
        gan_layer *l = m->layers[i];
        const bool need_dx = i > lowest || dx;
        gan_status st = GAN_OK;
        if (need_dx)
            st = runs_as_view(l)
                     ? gan_tensor_view(m->ctx, &l->grad_input, cur, l->input->ndim, l->input->shape)
                     : gan_tensor_ensure(m->ctx, &l->grad_input, l->input->ndim, l->input->shape);
        if (st == GAN_OK && !l->folded) {
            l->replace_grads = replace && l->iface->replaces_grads;
            if (replace && !l->replace_grads)
                st = zero_layer_grads(l);
            if (st == GAN_OK)
                st = l->iface->backward(l, cur, need_dx, m->requires_grad);
            l->replace_grads = false;
        }
        if (st != GAN_OK)
            return st;
        cur = l->grad_input;
    }
    if (dx)
        *dx = cur;
    return GAN_OK;
}

gan_status gan_model_backward(gan_model *m, const gan_tensor *dy, const gan_tensor **dx)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    return backward(m, dy, dx, false);
}

gan_status gan_model_backward_replacing(gan_model *m, const gan_tensor *dy, const gan_tensor **dx)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!m->requires_grad) { /* no parameter gradients to replace: zeroes, as gan_model_zero_grad leaves them */
        gan_status st = gan_model_zero_grad(m);
        return st == GAN_OK ? backward(m, dy, dx, false) : st;
    }
    return backward(m, dy, dx, true);
}

gan_status gan_model_zero_grad(gan_model *m)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < m->n_layers; i++) {
        gan_status st = zero_layer_grads(m->layers[i]);
        if (st != GAN_OK)
            return st;
    }
    return GAN_OK;
}

void gan_model_set_training(gan_model *m, int training)
{
    if (m)
        m->training = training != 0;
}

int gan_model_is_training(const gan_model *m) { return m && m->training; }

void gan_model_set_requires_grad(gan_model *m, int requires_grad)
{
    if (m)
        m->requires_grad = requires_grad != 0;
}

size_t gan_model_entry_count(const gan_model *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < m->n_layers; i++)
        n += (size_t)m->layers[i]->n_entries;
    return n;
}

gan_status gan_model_entry(const gan_model *m, size_t index, gan_entry *out)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m || !out)
        return GAN_ERR_INVALID_ARGUMENT;
    size_t k = index;
    for (size_t i = 0; i < m->n_layers; i++) {
        const gan_layer *l = m->layers[i];
        if (k < (size_t)l->n_entries) {
            const gan_layer_entry *e = &l->entries[k];
            snprintf(out->name, sizeof out->name, "%zu.%s", i, e->name);
            out->kind = e->kind;
            out->layer_type = l->iface->type;
            out->value = e->value;
            out->grad = e->grad;
            out->counter = e->counter;
            return GAN_OK;
        }
        k -= (size_t)l->n_entries;
    }
    return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_entry: index %zu of %zu", index,
                    gan_model_entry_count(m));
}

size_t gan_model_parameter_count(const gan_model *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i]->n_entries; j++)
            if (m->layers[i]->entries[j].kind == GAN_ENTRY_PARAMETER)
                n += m->layers[i]->entries[j].value->numel;
    return n;
}

gan_status gan_model_init_dcgan(gan_model *m, float std)
{
    gan_clear_error(m ? m->ctx : NULL);
    if (!m)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!(std >= 0.0f))
        return gan_fail(m->ctx, GAN_ERR_INVALID_ARGUMENT, "gan_model_init_dcgan: std %g < 0", std);
    for (size_t i = 0; i < m->n_layers; i++) {
        gan_layer *l = m->layers[i];
        gan_tensor *w = gan_layer_value(l, "weight"), *b = gan_layer_value(l, "bias");
        gan_status st = GAN_OK;
        switch (l->iface->type) {
        case GAN_LAYER_LINEAR:
        case GAN_LAYER_CONV2D:
        case GAN_LAYER_CONV_TRANSPOSE2D:
            st = gan_tensor_fill_normal(w, 0.0f, std);
            break;
        case GAN_LAYER_BATCHNORM1D:
        case GAN_LAYER_BATCHNORM2D:
            st = gan_tensor_fill_normal(w, 1.0f, std);
            break;
        default:
            continue;
        }
        if (st == GAN_OK && b)
            st = gan_tensor_fill(b, 0.0f);
        if (st != GAN_OK)
            return st;
    }
    return GAN_OK;
}
