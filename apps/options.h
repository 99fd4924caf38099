/* options.h - table-driven command-line flags: each knows its type, bounds,
 * help text and default (the value it holds before parsing). */
#ifndef GAN_APPS_OPTIONS_H
#define GAN_APPS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum option_type { OPT_STRING, OPT_INT, OPT_INT64, OPT_FLOAT, OPT_FLAG } option_type;

typedef struct option {
    const char *name; /* "--epochs" */
    option_type type;
    void *value;      /* const char **, int *, int64_t *, float *, bool * */
    double min, max;  /* bounds of numbers; max > 0: the longest string */
    const char *help;
    bool given;       /* set by options_parse */
} option;

typedef enum options_result { OPTIONS_OK, OPTIONS_HELP, OPTIONS_ERROR } options_result;

/* Parses argv[1..]; prints the help on --help and a message naming the flag
 * on an error (unknown flag, missing or malformed value, out of bounds). */
options_result options_parse(option *opts, int n, int argc, char **argv, const char *program,
                             const char *summary);
/* Reads text as o's value, with o's type and bounds (an empty string is
 * refused); on an error prints a message naming `what` and the problem. */
bool options_read_value(option *o, const char *text, const char *program, const char *what);
void options_help(FILE *f, const option *opts, int n, const char *program, const char *summary);
const option *options_find(const option *opts, int n, const char *name);

#endif
