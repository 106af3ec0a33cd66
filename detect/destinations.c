/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * First-seen times per (internal host, destination) and per destination site-wide, kept
 * across restarts in a small text file so "new destination" survives a reboot.
 *
 * File format, one record per line, oldest use first (so loading rebuilds the LRU order):
 *   exflow-state 1
 *   learn_start <usec>
 *   seen <first_usec> <last_usec> <host|*> <destination>
 * Lines starting with '#' are comments. Anything else is corruption.
 */
#include "detect_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "exflow-state 1"
#define STATE_LINE_MAX 1024

struct destination_entry {
    struct table_entry entry;   /* key: "host destination" */
    uint64_t first_usec;
    uint64_t last_usec;
};

struct destinations {
    struct table table;
    size_t max_entries;
};

/* An empty store holding at most max_entries pairs. */
struct destinations *destinations_new(size_t max_entries)
{
    struct destinations *store = calloc(1, sizeof(*store));
    if (store == NULL)
        return NULL;
    if (!table_init(&store->table, 1024)) {
        free(store);
        return NULL;
    }
    store->max_entries = max_entries ? max_entries : 1;
    return store;
}

/* table_destroy and eviction callback. */
static void destination_entry_free(struct table_entry *entry)
{
    free(entry);
}

/* Frees the store (NULL is fine). */
void destinations_free(struct destinations *store)
{
    if (store == NULL)
        return;
    table_destroy(&store->table, destination_entry_free);
    free(store);
}

/* Pairs stored, site-wide entries included. */
size_t destinations_count(const struct destinations *store)
{
    return store->table.count;
}

/* "host destination": the table key and the state file's last two fields. */
static bool make_key(char *key, size_t key_len, const char *host, const char *dest)
{
    return table_key_join(key, key_len, host, dest);
}

/* Stores a pair, evicting the least recently used one at the cap. */
static struct destination_entry *destinations_insert(struct destinations *store, const char *key,
                                                     uint64_t first_usec, uint64_t last_usec)
{
    struct destination_entry *d = (struct destination_entry *)table_insert_new(
        &store->table, key, sizeof(*d), store->max_entries, destination_entry_free);
    if (d == NULL)
        return NULL;
    d->first_usec = first_usec;
    d->last_usec = last_usec;
    return d;
}

/* Records one use; returns the first-seen time known before it (0: new). */
uint64_t destinations_touch(struct destinations *store, const char *host, const char *dest,
                            uint64_t ts_usec)
{
    char key[STATE_LINE_MAX];
    if (!make_key(key, sizeof(key), host, dest))
        return 0;
    struct table_entry *e = table_find(&store->table, key);
    if (e == NULL) {
        destinations_insert(store, key, ts_usec, ts_usec);
        return 0;
    }
    struct destination_entry *d = (struct destination_entry *)e;
    /* Records come when flows end, so an earlier start can arrive after a later one. */
    if (ts_usec < d->first_usec)
        d->first_usec = ts_usec;
    if (ts_usec > d->last_usec)
        d->last_usec = ts_usec;
    table_touch(&store->table, e);
    return d->first_usec;
}

/* A host or destination token as we write it: printable, no spaces. */
static bool token_ok(const char *token)
{
    if (*token == '\0' || strlen(token) >= FLOW_NAME_LEN)
        return false;
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

/* A decimal number that fills the whole token. */
static bool parse_u64(const char *text, uint64_t *out)
{
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = value;
    return true;
}

/* Removes PATH.tmp.PID files whose writer is gone: a crash in the middle of a save leaves
 * one behind, and a crash loop would otherwise fill the directory with copies. */
static void destinations_remove_stale_temps(const char *path)
{
    char dir_buf[4096], base_buf[4096];
    snprintf(dir_buf, sizeof(dir_buf), "%s", path);
    snprintf(base_buf, sizeof(base_buf), "%s", path);
    const char *dir = dirname(dir_buf);
    char prefix[4096 + 8];
    int prefix_len = snprintf(prefix, sizeof(prefix), "%s.tmp.", basename(base_buf));
    DIR *d = opendir(dir);
    if (d == NULL || prefix_len <= 0 || (size_t)prefix_len >= sizeof(prefix)) {
        if (d != NULL)
            closedir(d);
        return;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, prefix, (size_t)prefix_len) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + prefix_len, &end, 10);
        if (errno != 0 || *end != '\0' || pid <= 0 || pid == (long)getpid() ||
            !(kill((pid_t)pid, 0) != 0 && errno == ESRCH))
            continue;
        char stale[8192];
        if (snprintf(stale, sizeof(stale), "%s/%s", dir, e->d_name) < (int)sizeof(stale))
            unlink(stale);
    }
    closedir(d);
}

/* Reads a state file strictly: any line it does not understand is corruption. */
int destinations_load(struct destinations *store, const char *path, uint64_t *learn_start_usec,
                      char *err, size_t err_len)
{
    destinations_remove_stale_temps(path);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[STATE_LINE_MAX];
    unsigned line_number = 0;
    bool seen_magic = false;
    int result = -1;
    while (fgets(line, sizeof(line), file)) {
        line_number++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            snprintf(err, err_len, "state file %s:%u: line too long", path, line_number);
            goto done;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (line[0] == '#' || len == 0)
            continue;
        if (!seen_magic) {
            if (strcmp(line, STATE_MAGIC) != 0) {
                snprintf(err, err_len,
                         "state file %s:%u: not an exflow state file (expected \"%s\")",
                         path, line_number, STATE_MAGIC);
                goto done;
            }
            seen_magic = true;
            continue;
        }
        char *fields[6];
        int count = 0;
        char *save = NULL;
        for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (count == 6)
                break;
            fields[count++] = tok;
        }
        if (count == 2 && strcmp(fields[0], "learn_start") == 0 &&
            parse_u64(fields[1], learn_start_usec))
            continue;
        uint64_t first, last;
        if (count == 5 && strcmp(fields[0], "seen") == 0 && parse_u64(fields[1], &first) &&
            parse_u64(fields[2], &last) && first <= last && token_ok(fields[3]) &&
            token_ok(fields[4])) {
            char key[STATE_LINE_MAX];
            if (!make_key(key, sizeof(key), fields[3], fields[4]))
                goto bad_line;
            struct table_entry *e = table_find(&store->table, key);
            if (e) {
                struct destination_entry *d = (struct destination_entry *)e;
                if (first < d->first_usec)
                    d->first_usec = first;
                if (last > d->last_usec)
                    d->last_usec = last;
            } else if (destinations_insert(store, key, first, last) == NULL) {
                snprintf(err, err_len, "state file %s: out of memory", path);
                goto done;
            }
            continue;
        }
bad_line:
        snprintf(err, err_len, "state file %s:%u: malformed line", path, line_number);
        goto done;
    }
    if (ferror(file)) {
        snprintf(err, err_len, "state file %s: read error", path);
        goto done;
    }
    if (!seen_magic) {
        snprintf(err, err_len, "state file %s: empty or truncated (no \"%s\" header)", path,
                 STATE_MAGIC);
        goto done;
    }
    result = 1;
done:
    fclose(file);
    return result;
}

/* Writes temp file + fsync + rename + directory fsync: a crash leaves the old or the new
 * file, never half of one. */
bool destinations_save(const struct destinations *store, const char *path,
                       uint64_t learn_start_usec, char *err, size_t err_len)
{
    char temp[4096];
    int n = snprintf(temp, sizeof(temp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(temp)) {
        snprintf(err, err_len, "state file %s: path too long", path);
        return false;
    }
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "state file %s: cannot create %s: %s", path, temp, strerror(errno));
        return false;
    }
    FILE *file = fdopen(fd, "w");
    if (file == NULL) {
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        close(fd);
        unlink(temp);
        return false;
    }
    fprintf(file, "# exflow first-seen destinations; written by exflow, safe to delete\n");
    fprintf(file, "%s\nlearn_start %" PRIu64 "\n", STATE_MAGIC, learn_start_usec);
    /* Oldest first: loading inserts in file order and so rebuilds the LRU order. */
    for (const struct table_entry *e = store->table.oldest; e; e = e->lru_prev) {
        const struct destination_entry *d = (const struct destination_entry *)e;
        fprintf(file, "seen %" PRIu64 " %" PRIu64 " %s\n", d->first_usec, d->last_usec, e->key);
    }
    bool ok = fflush(file) == 0 && fsync(fd) == 0;
    int saved_errno = errno;
    if (fclose(file) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        snprintf(err, err_len, "state file %s: write %s: %s", path, temp, strerror(saved_errno));
        unlink(temp);
        return false;
    }
    if (rename(temp, path) != 0) {
        snprintf(err, err_len, "state file %s: rename: %s", path, strerror(errno));
        unlink(temp);
        return false;
    }
    /* Make the rename itself durable. */
    char dir_buf[4096];
    snprintf(dir_buf, sizeof(dir_buf), "%s", path);
    int dir_fd = open(dirname(dir_buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);
        close(dir_fd);
    }
    return true;
}
