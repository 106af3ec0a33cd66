/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/json_sink.c: one JSON event per line to stdout or a file. Alerts are flushed at
 * once (tail -f and log shippers see them immediately); flow records are flushed on each
 * tick, since one write per flow would cost a system call per connection.
 */
#include "output_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/safe_file.h"

struct json_sink {
    struct sink base;
    char *path;             /* NULL for stdout */
    FILE *file;
    uint64_t size;          /* bytes in the current file, for rotation */
    uint64_t rotate_bytes;  /* 0: never */
    bool failed_logged;
};

/* Opens (or reopens after rotation or SIGHUP) the file for appending. Every open goes
 * through safe_file_open_append: never through a symlink or into a directory other users
 * can plant names in, since exflow often runs as root. */
static bool json_sink_open_file(struct json_sink *sink, char *err, size_t err_len)
{
    char message[512];
    sink->file = NULL;   /* the caller closed the old one */
    int fd = safe_file_open_append(sink->path, 0666, message, sizeof(message));
    if (fd < 0) {
        snprintf(err, err_len, "-w %s", message);
        return false;
    }
    sink->file = fdopen(fd, "a");
    if (sink->file == NULL) {
        snprintf(err, err_len, "cannot open %s: %s", sink->path, strerror(errno));
        close(fd);
        return false;
    }
    setvbuf(sink->file, NULL, _IOFBF, 65536);
    struct stat st;
    sink->size = fstat(fileno(sink->file), &st) == 0 ? (uint64_t)st.st_size : 0;
    return true;
}

static struct sink *json_open(const struct output_config *config, struct output_stats *stats,
                              char *err, size_t err_len)
{
    struct json_sink *sink = calloc(1, sizeof(*sink));
    if (sink == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    sink->base.ops = &json_sink_ops;
    sink->base.stats = stats;
    if (strcmp(config->json_path, "-") == 0) {
        sink->file = stdout;
        return &sink->base;
    }
    sink->path = strdup(config->json_path);
    sink->rotate_bytes = config->json_rotate_bytes;
    if (sink->path == NULL || !json_sink_open_file(sink, err, err_len)) {
        if (sink->path == NULL)
            snprintf(err, err_len, "out of memory");
        free(sink->path);
        free(sink);
        return NULL;
    }
    return &sink->base;
}

static void json_sink_failed(struct json_sink *sink)
{
    sink->base.stats->write_errors++;
    if (!sink->failed_logged) {
        sink->failed_logged = true;
        LOG_WARN("cannot write %s: %s (counted in write_errors; warned once)",
                 sink->path ? sink->path : "stdout", strerror(errno));
    }
}

/* FILE -> FILE.1, FILE.1 -> FILE.2, ... keeping JSON_ROTATE_KEEP old files, then a new FILE. */
static void json_sink_rotate(struct json_sink *sink)
{
    if (fclose(sink->file) != 0)
        json_sink_failed(sink);
    sink->file = NULL;
    size_t len = strlen(sink->path) + 16;
    char *from = malloc(len), *to = malloc(len);
    if (from != NULL && to != NULL) {
        for (int i = JSON_ROTATE_KEEP - 1; i >= 1; i--) {
            snprintf(from, len, "%s.%d", sink->path, i);
            snprintf(to, len, "%s.%d", sink->path, i + 1);
            rename(from, to); /* a missing FILE.i is fine */
        }
        snprintf(to, len, "%s.1", sink->path);
        if (rename(sink->path, to) != 0)
            LOG_WARN("cannot rotate %s: %s", sink->path, strerror(errno));
    }
    free(from);
    free(to);
    char err[256];
    if (!json_sink_open_file(sink, err, sizeof(err)))
        LOG_ERROR("%s; JSON events are lost until the next reopen (SIGHUP)", err);
}

static void json_write_event(struct sink *base, const struct event *event)
{
    struct json_sink *sink = (struct json_sink *)base;
    if (sink->file == NULL) {
        base->stats->write_errors++;
        return;
    }
    if (fwrite(event->json, 1, event->json_len, sink->file) != event->json_len ||
        fputc('\n', sink->file) == EOF) {
        json_sink_failed(sink);
        return;
    }
    sink->size += event->json_len + 1;
    if (event->type != EVENT_FLOW && fflush(sink->file) != 0)
        json_sink_failed(sink);
    if (sink->path != NULL && sink->rotate_bytes > 0 && sink->size >= sink->rotate_bytes)
        json_sink_rotate(sink);
}

static void json_tick(struct sink *base)
{
    struct json_sink *sink = (struct json_sink *)base;
    if (sink->file != NULL && fflush(sink->file) != 0)
        json_sink_failed(sink);
}

/* After logrotate moved the file away: write to a new one under the configured name. */
static void json_reopen(struct sink *base)
{
    struct json_sink *sink = (struct json_sink *)base;
    if (sink->path == NULL)
        return;
    if (sink->file != NULL && fclose(sink->file) != 0)
        json_sink_failed(sink);
    char err[256];
    if (!json_sink_open_file(sink, err, sizeof(err)))
        LOG_ERROR("%s; JSON events are lost until the next reopen (SIGHUP)", err);
    sink->failed_logged = false;
}

static void json_close(struct sink *base)
{
    struct json_sink *sink = (struct json_sink *)base;
    if (sink->file != NULL) {
        if (sink->path != NULL) {
            if (fclose(sink->file) != 0)
                json_sink_failed(sink);
        } else if (fflush(sink->file) != 0) {
            json_sink_failed(sink);
        }
    }
    free(sink->path);
    free(sink);
}

const struct sink_ops json_sink_ops = {
    .name = "json",
    .open = json_open,
    .write_event = json_write_event,
    .tick = json_tick,
    .reopen = json_reopen,
    .close = json_close,
};
