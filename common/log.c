/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

enum log_level log_threshold = LOG_LEVEL_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_message(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    /* Source location only at debug level: users read the sentence, developers the line. */
    if (log_threshold >= LOG_LEVEL_DEBUG)
        fprintf(stderr, "exflow: %s: %s:%d: ", level_names[level], file, line);
    else
        fprintf(stderr, "exflow: %s: ", level_names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
