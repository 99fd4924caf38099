/* layer.c - what every layer shares: creation, entries, description, free. */
#include "layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gan_status gan_layer_new(gan_context *ctx, const gan_layer_iface *iface, size_t size,
                         gan_layer **out)
{
    gan_layer *l = calloc(1, size);
    if (!l)
        return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "layer: out of host memory");
    l->iface = iface;
    l->ctx = ctx;
    *out = l;
    return GAN_OK;
}

static gan_status add_entry(gan_layer *l, const char *name, gan_entry_kind kind, int ndim,
                            const int *shape, gan_tensor **value)
{
    gan_layer_entry *e = &l->entries[l->n_entries];
    e->name = name;
    e->kind = kind;
    gan_status st = gan_tensor_create(l->ctx, ndim, shape, &e->value);
    if (st == GAN_OK && kind == GAN_ENTRY_PARAMETER)
        st = gan_tensor_create(l->ctx, ndim, shape, &e->grad);
    l->n_entries++; /* counted even on failure so gan_layer_free releases it */
    if (value)
        *value = e->value;
    return st;
}

gan_status gan_layer_add_parameter(gan_layer *l, const char *name, int ndim, const int *shape,
                                   gan_tensor **value)
{
    return add_entry(l, name, GAN_ENTRY_PARAMETER, ndim, shape, value);
}

gan_status gan_layer_add_buffer(gan_layer *l, const char *name, int ndim, const int *shape,
                                gan_tensor **value)
{
    return add_entry(l, name, GAN_ENTRY_BUFFER, ndim, shape, value);
}

void gan_layer_add_counter(gan_layer *l, const char *name, int64_t *counter)
{
    gan_layer_entry *e = &l->entries[l->n_entries++];
    e->name = name;
    e->kind = GAN_ENTRY_COUNTER;
    e->counter = counter;
}

static const gan_layer_entry *find_entry(const gan_layer *l, const char *name)
{
    for (int i = 0; i < l->n_entries; i++)
        if (strcmp(l->entries[i].name, name) == 0)
            return &l->entries[i];
    return NULL;
}

gan_tensor *gan_layer_value(const gan_layer *l, const char *name)
{
    const gan_layer_entry *e = find_entry(l, name);
    return e ? e->value : NULL;
}

gan_tensor *gan_layer_grad(const gan_layer *l, const char *name)
{
    const gan_layer_entry *e = find_entry(l, name);
    return e ? e->grad : NULL;
}

void gan_layer_free(gan_layer *l)
{
    if (!l)
        return;
    if (l->iface->destroy)
        l->iface->destroy(l);
    for (int i = 0; i < l->n_entries; i++) {
        gan_tensor_free(l->entries[i].value);
        gan_tensor_free(l->entries[i].grad);
    }
    gan_tensor_free(l->output);
    gan_tensor_free(l->grad_input);
    free(l);
}

gan_layer_type gan_layer_get_type(const gan_layer *l) { return l->iface->type; }

int gan_describe(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int gan_layer_describe(const gan_layer *l, char *buf, size_t size)
{
    if (!l || (!buf && size))
        return 0;
    return l->iface->describe(l, buf, size);
}

const char *gan_layer_label(const gan_layer *l, char *buf, size_t size)
{
    l->iface->describe(l, buf, size);
    return buf;
}
