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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../common/safe_file.h"
#include "../common/tunables.h"
#include "shared_state.h"

#define STATE_MAGIC "exflow-state 1"
#define STATE_LINE_MAX 1024

struct destination_entry {
    struct table_entry entry;   /* key: host key (table.c), then the destination's name */
    uint64_t first_usec;
    uint64_t last_usec;
};

struct destinations {
    struct table table;
    size_t max_entries;
    struct shared_state *shared;    /* --shared-state; NULL: this sensor only */
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

/* The table key: the host's key (table.c: binary for an address) and the destination's
 * name. Its length, or 0 when it does not fit. */
static size_t make_key(uint8_t *key, size_t key_cap, const uint8_t *host_key, size_t host_key_len,
                       const char *dest)
{
    size_t dest_len = strlen(dest);
    if (host_key_len + dest_len > key_cap)
        return 0;
    memcpy(key, host_key, host_key_len);
    memcpy(key + host_key_len, dest, dest_len);
    return host_key_len + dest_len;
}

/* The same from "host destination" text (the state file's fields, Redis keys). */
static size_t make_key_text(uint8_t *key, size_t key_cap, const char *host, const char *dest)
{
    uint8_t host_key[HOST_KEY_MAX];
    size_t host_key_len = host_key_from_text(host_key, sizeof(host_key), host);
    return make_key(key, key_cap, host_key, host_key_len, dest);
}

/* "host destination" as the state file and Redis have it, from a table key. */
static void key_text(const struct table_entry *e, char *text, size_t text_len)
{
    char host[FLOW_NAME_LEN];
    size_t host_len = host_key_to_text((const uint8_t *)e->key, e->key_len, host, sizeof(host));
    snprintf(text, text_len, "%s %.*s", host, (int)(e->key_len - host_len), e->key + host_len);
}

/* Stores a pair, evicting the least recently used one at the cap. */
static struct destination_entry *destinations_insert(struct destinations *store,
                                                     const uint8_t *key, size_t key_len,
                                                     uint64_t first_usec, uint64_t last_usec)
{
    struct destination_entry *d = (struct destination_entry *)table_insert_new(
        &store->table, key, key_len, sizeof(*d), store->max_entries, destination_entry_free);
    if (d == NULL)
        return NULL;
    d->first_usec = first_usec;
    d->last_usec = last_usec;
    return d;
}

/* Attaching also offers the site what this sensor already knew (its state file), most
 * recently used first, up to half the queue so a Redis that is down leaves room for new
 * sightings: claims keep the earliest time, so this only ever dates entries earlier. */
void destinations_share(struct destinations *store, struct shared_state *shared)
{
    store->shared = shared;
    size_t offered = 0;
    for (const struct table_entry *e = store->table.newest;
         e != NULL && shared != NULL && offered < SHARED_STATE_QUEUE_MAX / 2; e = e->lru_next) {
        char text[STATE_LINE_MAX];
        key_text(e, text, sizeof(text));
        shared_state_publish(shared, text, ((const struct destination_entry *)e)->first_usec);
        offered++;
    }
}

static bool token_ok(const char *token);

/* A key that came from Redis, checked as the state file's fields are: it is written to the
 * state file later, and Redis is writable by more than exflow. "host dest", one space. */
static bool shared_key_ok(const char *key)
{
    const char *space = strchr(key, ' ');
    if (space == NULL || (size_t)(space - key) >= FLOW_NAME_LEN)
        return false;
    char host[FLOW_NAME_LEN];
    memcpy(host, key, (size_t)(space - key));
    host[space - key] = '\0';
    return token_ok(host) && token_ok(space + 1);
}

/* A first-seen time another sensor reported: the earlier time wins. It is not a use, so
 * last_usec and the LRU order of a known pair stay as they are. */
static void destinations_merge(struct destinations *store, const char *text, uint64_t first_usec)
{
    char host[FLOW_NAME_LEN];
    size_t host_len = strcspn(text, " ");
    snprintf(host, sizeof(host), "%.*s", (int)host_len, text);
    uint8_t key[STATE_LINE_MAX];
    size_t key_len = make_key_text(key, sizeof(key), host, text + host_len + 1);
    if (key_len == 0)
        return;
    struct table_entry *e = table_find(&store->table, key, key_len);
    if (e == NULL) {
        destinations_insert(store, key, key_len, first_usec, first_usec);
        return;
    }
    struct destination_entry *d = (struct destination_entry *)e;
    if (first_usec < d->first_usec)
        d->first_usec = first_usec;
}

/* Applies what Redis answered since the last lookup (a bounded queue, drained here so the
 * table has one owner: the thread that scores records). */
static void destinations_take_shared(struct destinations *store)
{
    struct shared_update u;
    while (shared_state_take(store->shared, &u)) {
        /* THREAT: whoever can write to Redis can date any destination as long known and so
         * take new_destination out of its alerts; keep Redis on a network only sensors reach. */
        if (shared_key_ok(u.key))
            destinations_merge(store, u.key, u.first_usec);
        free(u.key);
    }
}

/* Queues the pair's first-seen time for Redis, as "host destination" text. */
static void destinations_publish(struct destinations *store, const struct table_entry *e,
                                 uint64_t first_usec)
{
    char text[STATE_LINE_MAX];
    key_text(e, text, sizeof(text));
    shared_state_publish(store->shared, text, first_usec);
}

/* The site-wide entries' host key: DESTINATION_SITE, which is no address (table.c). */
static const uint8_t site_key[] = { 0, '*', 0 };

uint64_t destinations_touch_key(struct destinations *store, const uint8_t *host_key,
                                size_t host_key_len, const char *dest, uint64_t ts_usec)
{
    if (host_key == NULL) {
        host_key = site_key;
        host_key_len = sizeof(site_key);
    }
    uint8_t key[STATE_LINE_MAX];
    size_t key_len = make_key(key, sizeof(key), host_key, host_key_len, dest);
    if (key_len == 0)
        return 0;
    if (store->shared)
        destinations_take_shared(store);
    struct table_entry *e = table_find(&store->table, key, key_len);
    if (e == NULL) {
        struct destination_entry *d = destinations_insert(store, key, key_len, ts_usec, ts_usec);
        if (d && store->shared)
            destinations_publish(store, &d->entry, ts_usec);
        return 0;
    }
    struct destination_entry *d = (struct destination_entry *)e;
    /* Records come when flows end, so an earlier start can arrive after a later one. */
    if (ts_usec < d->first_usec) {
        d->first_usec = ts_usec;
        if (store->shared)
            destinations_publish(store, e, ts_usec);
    }
    if (ts_usec > d->last_usec)
        d->last_usec = ts_usec;
    table_touch(&store->table, e);
    return d->first_usec;
}

uint64_t destinations_touch(struct destinations *store, const char *host, const char *dest,
                            uint64_t ts_usec)
{
    uint8_t host_key[HOST_KEY_MAX];
    size_t host_key_len = host_key_from_text(host_key, sizeof(host_key), host);
    return destinations_touch_key(store, host_key, host_key_len, dest, ts_usec);
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

/* Removes PATH.tmp.* files: a crash in the middle of a save leaves one behind, and a crash
 * loop would otherwise fill the directory with copies. Called with the state lock held, so
 * no other exflow can be writing one. */
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
    /* unlinkat removes the name only: a planted symlink is removed, its target untouched. */
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        if (strncmp(e->d_name, prefix, (size_t)prefix_len) == 0)
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

/* Takes PATH.lock for the life of the process: two exflows sharing a state file would each
 * rename their own copy over it and the last one would silently win. */
int destinations_lock(const char *path, char *err, size_t err_len)
{
    char lock_path[4096];
    int n = snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
    if (n < 0 || (size_t)n >= sizeof(lock_path)) {
        snprintf(err, err_len, "state file %s: path too long", path);
        return -1;
    }
    char message[512];
    if (!safe_file_check_dir(path, message, sizeof(message))) {   /* same directory */
        snprintf(err, err_len, "state file %s", message);
        return -1;
    }
    int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "state file %s: cannot create %s: %s", path, lock_path,
                 errno == ELOOP ? "is a symbolic link; refusing to follow it" : strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, err_len, "state file %s is in use by another exflow (it holds %s); "
                     "give each its own --state-file", path, lock_path);
        else
            snprintf(err, err_len, "state file %s: cannot lock %s: %s", path, lock_path,
                     strerror(errno));
        close(fd);
        return -1;
    }
    destinations_remove_stale_temps(path);
    return fd;
}

enum line_result { LINE_OK, LINE_EOF, LINE_TOO_LONG, LINE_BAD_BYTE, LINE_UNTERMINATED };

/* Reads one '\n'-terminated line into line (without the newline). A state file is text that
 * exflow wrote: a NUL or other control byte, an over-long line or a last line cut short
 * means corruption, not something to skip. */
static enum line_result read_line(FILE *file, char *line, size_t cap, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc_unlocked(file)) != EOF) {
        if (c == '\n') {
            line[n] = '\0';
            *len = n;
            return LINE_OK;
        }
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return LINE_BAD_BYTE;
        if (n + 1 >= cap)
            return LINE_TOO_LONG;
        line[n++] = (char)c;
    }
    *len = n;
    return n == 0 ? LINE_EOF : LINE_UNTERMINATED;
}

/* The fields of a record, split on single spaces: a doubled or trailing space is not
 * something exflow writes, so it is corruption. Returns the count, or -1. */
static int split_fields(char *line, char **fields, int max_fields)
{
    int count = 0;
    char *p = line;
    for (;;) {
        if (*p == '\0' || *p == ' ' || count == max_fields)
            return -1;
        fields[count++] = p;
        p = strchr(p, ' ');
        if (p == NULL)
            return count;
        *p++ = '\0';
    }
}

/* One "seen" record into the store; a pair given twice keeps the widest span. */
static bool destinations_load_seen(struct destinations *store, char **fields, bool *oom)
{
    uint64_t first, last;
    if (!parse_u64(fields[1], &first) || !parse_u64(fields[2], &last) || first > last ||
        !token_ok(fields[3]) || !token_ok(fields[4]))
        return false;
    uint8_t key[STATE_LINE_MAX];
    size_t key_len = make_key_text(key, sizeof(key), fields[3], fields[4]);
    if (key_len == 0)
        return false;
    struct table_entry *e = table_find(&store->table, key, key_len);
    if (e) {
        struct destination_entry *d = (struct destination_entry *)e;
        if (first < d->first_usec)
            d->first_usec = first;
        if (last > d->last_usec)
            d->last_usec = last;
    } else if (destinations_insert(store, key, key_len, first, last) == NULL) {
        *oom = true;
        return false;
    }
    return true;
}

/* Reads a state file strictly: any line it does not understand is corruption. */
int destinations_load(struct destinations *store, const char *path, uint64_t *learn_start_usec,
                      char *err, size_t err_len)
{
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[STATE_LINE_MAX];
    unsigned line_number = 0;
    bool seen_magic = false, seen_learn_start = false;
    int result = -1;
    for (;;) {
        size_t len = 0;
        enum line_result got = read_line(file, line, sizeof(line), &len);
        if (got == LINE_EOF)
            break;
        line_number++;
        if (got != LINE_OK) {
            snprintf(err, err_len, "state file %s:%u: %s", path, line_number,
                     got == LINE_TOO_LONG ? "line too long" :
                     got == LINE_BAD_BYTE ? "NUL or control byte (corrupt)" :
                                            "last line cut short (truncated)");
            goto done;
        }
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
        char *fields[5];
        int count = split_fields(line, fields, 5);
        if (count == 2 && strcmp(fields[0], "learn_start") == 0 && !seen_learn_start &&
            parse_u64(fields[1], learn_start_usec)) {
            seen_learn_start = true;
            continue;
        }
        bool oom = false;
        if (count == 5 && strcmp(fields[0], "seen") == 0 &&
            destinations_load_seen(store, fields, &oom))
            continue;
        if (oom)
            snprintf(err, err_len, "state file %s: out of memory", path);
        else
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

/* Writes a mkstemp temp file in the same directory, fsync, rename, directory fsync: a crash
 * leaves the old or the new file, never half of one, and a name planted by another user is
 * never followed (common/safe_file.h). */
bool destinations_save(const struct destinations *store, const char *path,
                       uint64_t learn_start_usec, char *err, size_t err_len)
{
    struct safe_file_temp temp;
    char message[512];
    if (!safe_file_temp_open(&temp, path, message, sizeof(message))) {
        snprintf(err, err_len, "state file %s", message);
        return false;
    }
    FILE *file = fdopen(temp.fd, "w");
    if (file == NULL) {
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        safe_file_abort(&temp);
        return false;
    }
    fprintf(file, "# exflow first-seen destinations; written by exflow, safe to delete\n");
    fprintf(file, "%s\nlearn_start %" PRIu64 "\n", STATE_MAGIC, learn_start_usec);
    /* Oldest first: loading inserts in file order and so rebuilds the LRU order. */
    for (const struct table_entry *e = store->table.oldest; e; e = e->lru_prev) {
        const struct destination_entry *d = (const struct destination_entry *)e;
        char text[STATE_LINE_MAX];
        key_text(e, text, sizeof(text));
        fprintf(file, "seen %" PRIu64 " %" PRIu64 " %s\n", d->first_usec, d->last_usec, text);
    }
    /* The FILE's buffer goes out here; the fd stays open for safe_file_commit's fsync. */
    bool ok = fflush(file) == 0 && !ferror(file);
    int saved_errno = errno;
    temp.fd = dup(fileno(file));
    fclose(file);
    if (!ok || temp.fd < 0) {
        snprintf(err, err_len, "state file %s: write %s: %s", path, temp.temp_path,
                 strerror(ok ? errno : saved_errno));
        safe_file_abort(&temp);
        return false;
    }
    if (!safe_file_commit(&temp, message, sizeof(message))) {
        snprintf(err, err_len, "state file %s", message);
        return false;
    }
    return true;
}
