/* checkpoint.c - prefixed entry lists for checkpoints. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>

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
    gan_entry *dst = &list->items[list->count++];
    *dst = *e;
    snprintf(dst->name, sizeof dst->name, "%s%s", prefix, e->name);
    return true;
}

bool entry_list_add_model(entry_list *list, const char *prefix, const gan_model *model)
{
    for (size_t i = 0; i < gan_model_entry_count(model); i++) {
        gan_entry e;
        if (gan_model_entry(model, i, &e) != GAN_OK || !push(list, prefix, &e))
            return false;
    }
    return true;
}

bool entry_list_add_optimizer(entry_list *list, const char *prefix, const gan_optimizer *opt)
{
    for (size_t i = 0; i < gan_optimizer_entry_count(opt); i++) {
        gan_entry e;
        if (gan_optimizer_entry(opt, i, &e) != GAN_OK || !push(list, prefix, &e))
            return false;
    }
    return true;
}

void entry_list_free(entry_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = list->cap = 0;
}

bool entry_list_load(gan_safetensors *st, const entry_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        if (gan_safetensors_load(st, &list->items[i]) != GAN_OK)
            return false;
    return true;
}
