/* files.h - folders and leftovers of the apps' output. */
#ifndef GAN_APPS_FILES_H
#define GAN_APPS_FILES_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p; false with errno set. */
bool files_make_dirs(const char *path);

/* Removes the temporary files that a killed program left in dir: names that
 * start with one of the stems and go on with ".tmp" (the files are written
 * to NAME.tmpPID and renamed). */
void files_remove_temporaries(const char *dir, const char *const *stems, size_t n_stems);

#endif
