/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * main/ only: the option table's types, shared by options.c (parsing, the config file) and
 * usage.c (--help, --dump-config, the man page). How to add an option: options.c's top.
 */
#ifndef EXFLOW_OPTIONS_TABLE_H
#define EXFLOW_OPTIONS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"

enum option_kind {
    OPTION_SECTION,    /* not an option: a heading in --help and the man page */
    OPTION_STRING,     /* const char *, as given */
    OPTION_CHOICE,     /* const char *, one of the '|'-separated words in arg */
    OPTION_SET,        /* bool flag: sets the field to true */
    OPTION_CLEAR,      /* bool flag: sets the field to false */
    OPTION_INTEGER,    /* whole number in [min, max], into a 4- or 8-byte integer field */
    OPTION_MEBIBYTES,  /* whole MiB in [min, max], stored as bytes in a size_t/uint64_t field */
    OPTION_DURATION,   /* 90, 90s, 30m, 6h, 2d: seconds in [min, max], stored as microseconds */
    OPTION_SIZE,       /* 4096, 512K, 10M, 1G: bytes in [min, max], into a uint64_t field */
    OPTION_NUMBER,     /* decimal in [min, max], into a double field */
    OPTION_CUSTOM,     /* the entry's handler does the work */
};

/* Entry flags. */
#define CLI_ONLY   1u   /* not a config-file key (actions, and --config itself) */
#define NO_DEFAULT 2u   /* the default depends on the machine: the help text says what it is */

struct option_spec;
typedef bool option_handler(struct options *o, const struct option_spec *spec,
                            const char *value, char *err, size_t err_len);

struct option_spec {
    const char *name;        /* --name, and the config-file key */
    int short_name;          /* -x, or 0 */
    const char *arg;         /* argument name in help; NULL: a flag without argument */
    enum option_kind kind;
    size_t offset, size;     /* the struct options field it sets */
    double min, max;         /* numeric kinds: accepted range in the option's unit */
    const char *help;
    unsigned flags;
    option_handler *handler; /* OPTION_CUSTOM */
};

/* The table, in --help order; OPTION_SECTION entries are headings. */
extern const struct option_spec option_table[];
extern const size_t option_count;   /* entries, headings included */

static inline bool is_option(const struct option_spec *spec)
{
    return spec->kind != OPTION_SECTION;
}

/* Fills o with every option's default. */
void options_defaults(struct options *o);

#endif
