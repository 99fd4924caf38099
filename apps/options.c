/* options.c - the apps' flag parser. */
#include "options.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void format_value(const option *o, char *buf, size_t size)
{
    switch (o->type) {
    case OPT_STRING: {
        const char *s = *(const char **)o->value;
        snprintf(buf, size, "%s", s ? s : "none");
        break;
    }
    case OPT_INT: snprintf(buf, size, "%d", *(int *)o->value); break;
    case OPT_INT64: snprintf(buf, size, "%lld", (long long)*(int64_t *)o->value); break;
    case OPT_FLOAT: snprintf(buf, size, "%g", *(float *)o->value); break;
    case OPT_FLAG: snprintf(buf, size, "%s", *(bool *)o->value ? "on" : "off"); break;
    }
}

void options_help(FILE *f, const option *opts, int n, const char *program, const char *summary)
{
    fprintf(f, "usage: %s [options]\n%s\n\noptions (default in brackets):\n", program, summary);
    for (int i = 0; i < n; i++) {
        char def[64], name[40];
        format_value(&opts[i], def, sizeof def);
        snprintf(name, sizeof name, "%s%s", opts[i].name, opts[i].type == OPT_FLAG ? "" : " X");
        fprintf(f, "  %-20s %s", name, opts[i].help);
        if (opts[i].type != OPT_FLAG)
            fprintf(f, " [%s]", def);
        fprintf(f, "\n");
    }
    fprintf(f, "  %-20s %s\n", "--help", "this text");
}

const option *options_find(const option *opts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

bool options_read_value(option *o, const char *text, const char *program, const char *what)
{
    if (o->type == OPT_STRING) {
        if (!*text) {
            fprintf(stderr, "%s: %s needs a value, got ''\n", program, what);
            return false;
        }
        if (o->max > 0 && (double)strlen(text) > o->max) {
            fprintf(stderr, "%s: %s is %zu bytes long, more than the %g this program takes\n", program, what,
                    strlen(text), o->max);
            return false;
        }
        *(const char **)o->value = text;
        return true;
    }
    char *end;
    errno = 0;
    double v = o->type == OPT_FLOAT ? strtod(text, &end) : (double)strtoll(text, &end, 10);
    if (!*text || *end || errno || !isfinite(v)) {
        fprintf(stderr, "%s: %s needs %s, got '%s'\n", program, what,
                o->type == OPT_FLOAT ? "a number" : "a whole number", text);
        return false;
    }
    if (v < o->min || v > o->max) {
        fprintf(stderr, "%s: %s must be between %g and %g, got %s\n", program, what, o->min, o->max, text);
        return false;
    }
    if (o->type == OPT_FLOAT && v != 0.0 && fabsf((float)v) < FLT_MIN) {
        fprintf(stderr, "%s: %s of %s is too small for single precision\n", program, what, text);
        return false;
    }
    switch (o->type) {
    case OPT_INT: *(int *)o->value = (int)v; break;
    case OPT_INT64: *(int64_t *)o->value = (int64_t)strtoll(text, NULL, 10); break;
    default: *(float *)o->value = (float)v; break;
    }
    return true;
}

options_result options_parse(option *opts, int n, int argc, char **argv, const char *program,
                             const char *summary)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            options_help(stdout, opts, n, program, summary);
            return OPTIONS_HELP;
        }
        option *o = (option *)options_find(opts, n, argv[i]);
        if (!o) {
            fprintf(stderr, "%s: unknown option '%s' (--help lists them)\n", program, argv[i]);
            return OPTIONS_ERROR;
        }
        if (o->given) {
            fprintf(stderr, "%s: %s given twice\n", program, o->name);
            return OPTIONS_ERROR;
        }
        o->given = true;
        if (o->type == OPT_FLAG) {
            *(bool *)o->value = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", program, o->name);
            return OPTIONS_ERROR;
        }
        if (!options_read_value(o, argv[++i], program, o->name))
            return OPTIONS_ERROR;
    }
    return OPTIONS_OK;
}
