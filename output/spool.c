/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/spool.c: the TCP syslog sink's queue on disk, so that alerts outlive a collector
 * outage and an exflow restart.
 *
 * The spool file is a 16-byte header ("EXFSPOOL" + 64-bit generation) followed by RFC 6587
 * frames exactly as they go on the wire, appended in order. The offset file holds
 * "GENERATION DELIVERED": the first DELIVERED bytes after the header were acknowledged by the
 * collector. When everything is delivered (or the delivered prefix grows large) the pending
 * tail is copied into a new file with the next generation, renamed over the old one, and then
 * the offset file is rewritten. A crash between the two leaves a generation mismatch, which
 * is read as "nothing delivered": every frame in the new file is pending, which is true.
 *
 * Offsets in the API are logical: they keep growing across compactions within one run, so
 * the sink's stream positions never have to be rebased. `base` maps them to the file.
 */
#include "output_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/safe_file.h"

#define SPOOL_MAGIC "EXFSPOOL"
#define SPOOL_HEADER_LEN 16u
#define SPOOL_MAX_FRAME (1024u * 1024u) /* a larger length prefix is corruption */
#define SPOOL_COMPACT_DELIVERED (1024u * 1024u) /* delivered bytes worth a compaction */

static char *path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path != NULL)
        snprintf(path, len, "%s/%s", dir, name);
    return path;
}

static bool write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool pread_all(int fd, void *data, size_t len, off_t offset)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
        offset += n;
    }
    return true;
}

static void header_encode(uint8_t header[SPOOL_HEADER_LEN], uint64_t generation)
{
    memcpy(header, SPOOL_MAGIC, 8);
    for (int i = 0; i < 8; i++)
        header[8 + i] = (uint8_t)(generation >> (56 - 8 * i));
}

/* Physical file position of a logical offset. */
static off_t file_position(const struct spool *spool, uint64_t logical)
{
    return (off_t)(logical - spool->base + SPOOL_HEADER_LEN);
}

static bool frames_push(struct spool *spool, uint64_t end)
{
    if (spool->frame_head + spool->frame_count == spool->frame_capacity) {
        if (spool->frame_head > 0) {
            /* Reuse the room that delivered frames left at the front. */
            memmove(spool->frame_ends, spool->frame_ends + spool->frame_head,
                    spool->frame_count * sizeof(uint64_t));
            spool->frame_head = 0;
        } else {
            size_t capacity = spool->frame_capacity ? spool->frame_capacity * 2 : 256;
            uint64_t *grown = realloc(spool->frame_ends, capacity * sizeof(uint64_t));
            if (grown == NULL)
                return false;
            spool->frame_ends = grown;
            spool->frame_capacity = capacity;
        }
    }
    spool->frame_ends[spool->frame_head + spool->frame_count++] = end;
    return true;
}

/* Reads "GENERATION DELIVERED" from the offset file; false when absent or unreadable. */
static bool offset_file_read(const char *path, uint64_t *generation, uint64_t *delivered)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool ok = fscanf(f, "%" SCNu64 " %" SCNu64, generation, delivered) == 2;
    fclose(f);
    return ok;
}

/* The offset file is replaced whole through a mkstemp temp file and rename (common/
 * safe_file.h): a crash leaves the old offset or the new one, never half, and a name planted
 * in the spool directory is never followed. */
static bool offset_file_write(const struct spool *spool, uint64_t delivered_in_file)
{
    char text[64], err[512];   /* the caller reports errno */
    int text_len = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", spool->generation,
                            delivered_in_file);
    return safe_file_replace(spool->offset_path, text, (size_t)text_len, err, sizeof(err));
}

/* Parses "LEN SP" at buf; returns the prefix length and sets *message_len, 0 if malformed. */
static size_t frame_prefix(const char *buf, size_t len, uint64_t *message_len)
{
    uint64_t value = 0;
    size_t i = 0;
    while (i < len && i < 8 && buf[i] >= '0' && buf[i] <= '9') {
        value = value * 10 + (uint64_t)(buf[i] - '0');
        i++;
    }
    if (i == 0 || i >= len || buf[i] != ' ' || buf[0] == '0' || value > SPOOL_MAX_FRAME)
        return 0;
    *message_len = value;
    return i + 1;
}

/* Walks the frames of the file, records those after `delivered`, and cuts a torn or corrupt
 * tail. Returns false on a read error. */
static bool spool_scan(struct spool *spool, uint64_t file_size)
{
    uint64_t position = SPOOL_HEADER_LEN;
    char prefix[16];
    bool delivered_on_boundary = spool->delivered == 0;
    while (position < file_size) {
        size_t want = file_size - position < sizeof(prefix) ? (size_t)(file_size - position)
                                                            : sizeof(prefix);
        if (!pread_all(spool->fd, prefix, want, (off_t)position))
            return false;
        uint64_t message_len = 0;
        size_t prefix_len = frame_prefix(prefix, want, &message_len);
        if (prefix_len == 0 || position + prefix_len + message_len > file_size)
            break;
        uint64_t end = position + prefix_len + message_len - SPOOL_HEADER_LEN; /* logical */
        if (end == spool->delivered)
            delivered_on_boundary = true;
        if (end > spool->delivered && !frames_push(spool, end))
            return false;
        position += prefix_len + message_len;
    }
    if (position < file_size) {
        LOG_WARN("syslog spool %s: %" PRIu64 " bytes at its end are not whole frames (a write "
                 "cut short by a crash?); they are discarded", spool->path, file_size - position);
        if (ftruncate(spool->fd, (off_t)position) != 0)
            return false;
    }
    spool->size = position - SPOOL_HEADER_LEN;
    if (!delivered_on_boundary || spool->delivered > spool->size) {
        /* An offset that is not a frame boundary: resend rather than risk losing a frame. */
        LOG_WARN("syslog spool %s: the delivered offset does not match the frames; every "
                 "frame is sent again (the collector may see duplicates)", spool->path);
        spool->delivered = 0;
        spool->frame_head = spool->frame_count = 0;
        return spool_scan(spool, position);
    }
    return true;
}

/* Writes a fresh header for a new or torn-at-birth file. */
static bool spool_init_file(struct spool *spool)
{
    uint8_t header[SPOOL_HEADER_LEN];
    header_encode(header, spool->generation);
    return ftruncate(spool->fd, 0) == 0 && pwrite(spool->fd, header, sizeof(header), 0) ==
           (ssize_t)sizeof(header);
}

bool spool_open(struct spool *spool, const char *dir, uint64_t max_bytes, char *err, size_t err_len)
{
    memset(spool, 0, sizeof(*spool));
    spool->fd = spool->lock_fd = -1;
    spool->max_bytes = max_bytes;
    char *lock_path = NULL;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create the syslog spool directory %s: %s (choose one "
                 "with --spool-dir)", dir, strerror(errno));
        return false;
    }
    spool->path = path_join(dir, "exflow-syslog.spool");
    spool->offset_path = path_join(dir, "exflow-syslog.offset");
    lock_path = path_join(dir, "exflow-syslog.lock");
    if (spool->path == NULL || spool->offset_path == NULL || lock_path == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    /* Two exflows appending to one spool would interleave frames: refuse the second. */
    spool->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (spool->lock_fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s (choose another --spool-dir)", lock_path,
                 strerror(errno));
        goto fail;
    }
    if (flock(spool->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, err_len, "syslog spool %s is in use by another exflow (give each its own "
                 "--spool-dir)", dir);
        goto fail;
    }
    spool->fd = open(spool->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (spool->fd < 0) {
        snprintf(err, err_len, "cannot open the syslog spool %s: %s", spool->path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(spool->fd, &st) != 0) {
        snprintf(err, err_len, "cannot read the syslog spool %s: %s", spool->path, strerror(errno));
        goto fail;
    }

    uint64_t saved_generation = 0, saved_delivered = 0;
    bool have_offset = offset_file_read(spool->offset_path, &saved_generation, &saved_delivered);
    uint8_t header[SPOOL_HEADER_LEN];
    if ((uint64_t)st.st_size < SPOOL_HEADER_LEN) {
        /* New, or created by a run that died before writing the header. A generation above
         * the offset file's keeps an old offset from applying to this file. */
        spool->generation = (have_offset ? saved_generation : (uint64_t)time(NULL)) + 1;
        if (!spool_init_file(spool)) {
            snprintf(err, err_len, "cannot write the syslog spool %s: %s", spool->path,
                     strerror(errno));
            goto fail;
        }
        st.st_size = SPOOL_HEADER_LEN;
    } else {
        if (!pread_all(spool->fd, header, sizeof(header), 0) || memcmp(header, SPOOL_MAGIC, 8) != 0) {
            snprintf(err, err_len, "%s is not an exflow syslog spool; move it away or choose "
                     "another --spool-dir", spool->path);
            goto fail;
        }
        for (int i = 0; i < 8; i++)
            spool->generation = (spool->generation << 8) | header[8 + i];
    }
    if (have_offset && saved_generation == spool->generation)
        spool->delivered = saved_delivered;
    if (!spool_scan(spool, (uint64_t)st.st_size)) {
        snprintf(err, err_len, "cannot read the syslog spool %s: %s", spool->path, strerror(errno));
        goto fail;
    }
    spool->saved_delivered = have_offset && saved_generation == spool->generation
                             ? saved_delivered : UINT64_MAX;
    if (spool->frame_count > 0)
        LOG_INFO("syslog spool %s: %zu alerts (%" PRIu64 " bytes) from an earlier run will be "
                 "sent first", spool->path, spool->frame_count, spool_pending_bytes(spool));
    free(lock_path);
    return true;

fail:
    free(lock_path);
    spool_close(spool);
    return false;
}

bool spool_append(struct spool *spool, const char *frame, size_t len)
{
    if (spool_pending_bytes(spool) + len > spool->max_bytes)
        return false;
    uint64_t end = spool->size + len;
    if (!frames_push(spool, end))
        return false;
    ssize_t written = pwrite(spool->fd, frame, len, file_position(spool, spool->size));
    if (written != (ssize_t)len) {
        /* A short write (disk full) leaves a torn frame: cut it so the next append is clean. */
        if (ftruncate(spool->fd, file_position(spool, spool->size)) != 0)
            LOG_WARN("syslog spool %s: cannot cut a torn frame: %s", spool->path, strerror(errno));
        spool->frame_count--;
        return false;
    }
    spool->size = end;
    return true;
}

long spool_read(struct spool *spool, uint64_t offset, char *buf, size_t len)
{
    if (offset >= spool->size)
        return 0;
    if (len > spool->size - offset)
        len = (size_t)(spool->size - offset);
    for (;;) {
        ssize_t n = pread(spool->fd, buf, len, file_position(spool, offset));
        if (n < 0 && errno == EINTR)
            continue;
        return (long)n;
    }
}

void spool_mark_delivered(struct spool *spool, uint64_t acked)
{
    while (spool->frame_count > 0 && spool->frame_ends[spool->frame_head] <= acked) {
        spool->delivered = spool->frame_ends[spool->frame_head];
        spool->frame_head++;
        spool->frame_count--;
    }
    if (spool->frame_count == 0)
        spool->frame_head = 0;
}

/* Copies the pending frames into a new file with the next generation and renames it over
 * the spool. The delivered prefix is gone afterwards. */
static bool spool_compact(struct spool *spool)
{
    size_t len = strlen(spool->path) + 5;
    char *tmp = malloc(len);
    if (tmp == NULL)
        return false;
    snprintf(tmp, len, "%s.tmp", spool->path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    uint8_t header[SPOOL_HEADER_LEN];
    header_encode(header, spool->generation + 1);
    ok = ok && write_all(fd, header, sizeof(header));
    char buf[65536];
    for (uint64_t offset = spool->delivered; ok && offset < spool->size;) {
        long n = spool_read(spool, offset, buf, sizeof(buf));
        ok = n > 0 && write_all(fd, buf, (size_t)n);
        offset += n > 0 ? (uint64_t)n : 0;
    }
    ok = ok && rename(tmp, spool->path) == 0;
    if (!ok) {
        LOG_WARN("syslog spool %s: cannot compact (%s); it keeps growing until it can",
                 spool->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    close(spool->fd);
    spool->fd = fd;
    spool->generation++;
    spool->base = spool->delivered;
    spool->saved_delivered = UINT64_MAX; /* the offset file still names the old generation */
    return true;
}

bool spool_checkpoint(struct spool *spool)
{
    uint64_t delivered_in_file = spool->delivered - spool->base;
    bool drained = spool->frame_count == 0 && delivered_in_file > 0;
    /* With frames still pending, compact only once the delivered prefix outweighs them: each
     * byte is then copied a bounded number of times, even while a large backlog drains. */
    bool prefix_heavy = delivered_in_file > SPOOL_COMPACT_DELIVERED &&
                        delivered_in_file >= spool_pending_bytes(spool);
    if (drained || prefix_heavy) {
        if (spool_compact(spool))
            delivered_in_file = 0;
    }
    if (delivered_in_file == spool->saved_delivered)
        return true;
    if (!offset_file_write(spool, delivered_in_file)) {
        LOG_WARN("syslog spool: cannot write %s: %s", spool->offset_path, strerror(errno));
        return false;
    }
    spool->saved_delivered = delivered_in_file;
    return true;
}

uint64_t spool_pending_bytes(const struct spool *spool)
{
    return spool->size - spool->delivered;
}

size_t spool_pending_frames(const struct spool *spool)
{
    return spool->frame_count;
}

void spool_close(struct spool *spool)
{
    if (spool->fd >= 0)
        close(spool->fd);
    if (spool->lock_fd >= 0)
        close(spool->lock_fd); /* releases the flock */
    free(spool->path);
    free(spool->offset_path);
    free(spool->frame_ends);
    memset(spool, 0, sizeof(*spool));
    spool->fd = spool->lock_fd = -1;
}
