/* files.c - folders and leftovers of the apps' output. */
#define _POSIX_C_SOURCE 200809L
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

bool files_make_dirs(const char *path)
{
    char buf[1024];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return false;
            *p = '/';
        }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

void files_remove_temporaries(const char *dir, const char *const *stems, size_t n_stems)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        for (size_t i = 0; i < n_stems; i++) {
            const size_t len = strlen(stems[i]);
            if (strncmp(e->d_name, stems[i], len) == 0 && strstr(e->d_name + len, ".tmp")) {
                char path[2048];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                remove(path);
                break;
            }
        }
    }
    closedir(d);
}
