/* checkpoint.h - the named tensors of a training run, as one list with the
 * prefixes the checkpoint uses ("generator.", "optimizer_d.", ...). */
#ifndef GAN_APPS_CHECKPOINT_H
#define GAN_APPS_CHECKPOINT_H

#include "gan.h"

#include <stdbool.h>

typedef struct entry_list {
    gan_entry *items;
    size_t count, cap;
} entry_list;

bool entry_list_add_model(entry_list *list, const char *prefix, const gan_model *model);
bool entry_list_add_optimizer(entry_list *list, const char *prefix, const gan_optimizer *opt);
void entry_list_free(entry_list *list);

/* Loads every entry of the list from st; false with the context's message
 * naming the first missing or mismatched tensor. */
bool entry_list_load(gan_safetensors *st, const entry_list *list);

#endif
