/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/spool.c: the TCP syslog sink's queue on disk, so that alerts outlive a collector
 * outage and an exflow restart.
 *
 * The spool file is a 16-byte header ("EXFSPOL2" + 64-bit generation) followed by records,
 * appended in order: a 4-byte CRC32C (big-endian, over the frame) and one RFC 6587 frame
 * exactly as it goes on the wire. A frame whose checksum does not match (a bad disk sector,
 * a stray write) is skipped, counted and logged; it is never sent. A length prefix that was
 * itself damaged cannot be resynchronised: the records from there on are cut off and logged,
 * like a tail torn by a crash. The offset file holds
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/safe_file.h"

#define SPOOL_MAGIC "EXFSPOL2"
#define SPOOL_MAGIC_V1 "EXFSPOOL"       /* frames without checksums, before CRC32C records */
#define SPOOL_HEADER_LEN 16u
#define SPOOL_CORRUPT_LOG_MAX 10        /* corrupt frames logged one by one, then only counted */
#define SPOOL_COMPACT_DELIVERED (1024u * 1024u) /* delivered bytes worth a compaction */

static char *path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path != NULL)
        snprintf(path, len, "%s/%s", dir, name);
    return path;
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

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI and ext4 use it: better at
 * the burst errors of storage than the zlib CRC32. A table built on first use. */
static uint32_t crc32c_table[256];

static void crc32c_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        crc32c_table[i] = crc;
    }
}

uint32_t spool_crc32c(const void *data, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_table_build);
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = (crc >> 8) ^ crc32c_table[(crc ^ p[i]) & 0xFFu];
    return crc ^ 0xFFFFFFFFu;
}

static void crc_encode(uint8_t out[SPOOL_CRC_LEN], uint32_t crc)
{
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(crc >> (24 - 8 * i));
}

static uint32_t crc_decode(const uint8_t in[SPOOL_CRC_LEN])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
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

static bool frames_push(struct spool *spool, uint64_t end, bool corrupt)
{
    if (spool->frame_head + spool->frame_count == spool->frame_capacity) {
        if (spool->frame_head > 0) {
            /* Reuse the room that delivered frames left at the front. */
            memmove(spool->frame_ends, spool->frame_ends + spool->frame_head,
                    spool->frame_count * sizeof(uint64_t));
            memmove(spool->frame_corrupt, spool->frame_corrupt + spool->frame_head,
                    spool->frame_count);
            spool->frame_head = 0;
        } else {
            size_t capacity = spool->frame_capacity ? spool->frame_capacity * 2 : 256;
            uint64_t *ends = realloc(spool->frame_ends, capacity * sizeof(uint64_t));
            if (ends == NULL)
                return false;
            spool->frame_ends = ends;
            uint8_t *corrupt_flags = realloc(spool->frame_corrupt, capacity);
            if (corrupt_flags == NULL)
                return false;
            spool->frame_corrupt = corrupt_flags;
            spool->frame_capacity = capacity;
        }
    }
    spool->frame_ends[spool->frame_head + spool->frame_count] = end;
    spool->frame_corrupt[spool->frame_head + spool->frame_count] = corrupt;
    spool->frame_count++;
    return true;
}

/* Logical start of pending frame i (0 = the first after `delivered`). */
static uint64_t frame_start(const struct spool *spool, size_t i)
{
    return i == 0 ? spool->delivered : spool->frame_ends[spool->frame_head + i - 1];
}

/* A damaged frame: counted always, logged for the first few so a disk gone bad cannot
 * flood the log. */
static void frame_mark_corrupt(struct spool *spool, size_t i)
{
    spool->frame_corrupt[spool->frame_head + i] = 1;
    spool->corrupt_frames++;
    if (spool->corrupt_frames <= SPOOL_CORRUPT_LOG_MAX)
        LOG_WARN("syslog spool %s: the frame at byte %" PRIu64 " fails its CRC32C check "
                 "(damaged on disk); it is skipped, not sent%s", spool->path,
                 (uint64_t)file_position(spool, frame_start(spool, i)),
                 spool->corrupt_frames == SPOOL_CORRUPT_LOG_MAX ? " (further ones are only "
                 "counted: syslog_corrupt in the stats)" : "");
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

/* Walks the records of the file, keeps those after `delivered` as pending, and cuts a torn
 * or unparsable tail. Checksums are verified when a frame is read to be sent, not here: a
 * large spool then costs no extra read at start. Returns false on a read error. */
static bool spool_scan(struct spool *spool, uint64_t file_size)
{
    uint64_t position = SPOOL_HEADER_LEN;
    char prefix[SPOOL_CRC_LEN + 16];
    bool delivered_on_boundary = spool->delivered == 0;
    while (position < file_size) {
        size_t want = file_size - position < sizeof(prefix) ? (size_t)(file_size - position)
                                                            : sizeof(prefix);
        if (!pread_all(spool->fd, prefix, want, (off_t)position))
            return false;
        uint64_t message_len = 0;
        size_t prefix_len = want > SPOOL_CRC_LEN
                            ? frame_prefix(prefix + SPOOL_CRC_LEN, want - SPOOL_CRC_LEN,
                                           &message_len) : 0;
        uint64_t record_len = SPOOL_CRC_LEN + prefix_len + message_len;
        if (prefix_len == 0 || position + record_len > file_size)
            break;
        uint64_t end = position + record_len - SPOOL_HEADER_LEN; /* logical */
        if (end == spool->delivered)
            delivered_on_boundary = true;
        if (end > spool->delivered && !frames_push(spool, end, false))
            return false;
        position += record_len;
    }
    if (position < file_size) {
        LOG_WARN("syslog spool %s: %" PRIu64 " bytes at its end are not whole frames (a write "
                 "cut short by a crash, or a damaged length); they are discarded", spool->path,
                 file_size - position);
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

/* A spool written before frames had checksums: moved aside whole for the operator (its
 * frames are plain RFC 6587 and can be sent by hand) and a fresh spool is started, rather
 * than sending frames that nothing can verify. */
static bool spool_retire_v1(struct spool *spool, char *err, size_t err_len)
{
    size_t len = strlen(spool->path) + 4;
    char *aside = malloc(len);
    if (aside == NULL) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    snprintf(aside, len, "%s.v1", spool->path);
    /* RENAME_NOREPLACE: an .v1 left by an earlier upgrade is never overwritten. */
    bool ok = renameat2(AT_FDCWD, spool->path, AT_FDCWD, aside, RENAME_NOREPLACE) == 0;
    if (ok) {
        close(spool->fd);
        spool->fd = open(spool->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        ok = spool->fd >= 0;
    }
    if (!ok)
        snprintf(err, err_len, "%s is a spool of an older exflow (no frame checksums) and "
                 "cannot be moved to %s: %s; move it away by hand", spool->path, aside,
                 strerror(errno));
    else
        LOG_WARN("syslog spool %s is from an older exflow (no frame checksums): kept as %s "
                 "(plain RFC 6587 frames after a 16-byte header) and a new spool started",
                 spool->path, aside);
    free(aside);
    return ok;
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
    bool fresh = (uint64_t)st.st_size < SPOOL_HEADER_LEN;
    if (!fresh) {
        if (!pread_all(spool->fd, header, sizeof(header), 0)) {
            snprintf(err, err_len, "cannot read the syslog spool %s: %s", spool->path,
                     strerror(errno));
            goto fail;
        }
        if (memcmp(header, SPOOL_MAGIC_V1, 8) == 0) {
            if (!spool_retire_v1(spool, err, err_len))
                goto fail;
            fresh = true;
        } else if (memcmp(header, SPOOL_MAGIC, 8) != 0) {
            snprintf(err, err_len, "%s is not an exflow syslog spool; move it away or choose "
                     "another --spool-dir", spool->path);
            goto fail;
        }
    }
    if (fresh) {
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

enum spool_append_result spool_append(struct spool *spool, const char *frame, size_t len)
{
    if (spool_pending_bytes(spool) + SPOOL_CRC_LEN + len > spool->max_bytes)
        return SPOOL_APPEND_FULL;
    if (len > SPOOL_MAX_FRAME)
        return SPOOL_APPEND_FULL; /* cannot happen: the sink's frames are far smaller */
    uint64_t end = spool->size + SPOOL_CRC_LEN + len;
    if (!frames_push(spool, end, false)) {
        errno = ENOMEM;
        return SPOOL_APPEND_ERROR;
    }
    uint8_t crc[SPOOL_CRC_LEN];
    crc_encode(crc, spool_crc32c(frame, len));
    struct iovec parts[2] = { { crc, sizeof(crc) }, { (void *)frame, len } };
    ssize_t written = pwritev(spool->fd, parts, 2, file_position(spool, spool->size));
    if (written != (ssize_t)(SPOOL_CRC_LEN + len)) {
        /* A short write (disk full) leaves a torn record: cut it so the next append is clean. */
        int saved = written < 0 ? errno : ENOSPC;
        if (ftruncate(spool->fd, file_position(spool, spool->size)) != 0)
            LOG_WARN("syslog spool %s: cannot cut a torn frame: %s", spool->path, strerror(errno));
        spool->frame_count--;
        errno = saved;
        return SPOOL_APPEND_ERROR;
    }
    spool->size = end;
    return SPOOL_APPEND_OK;
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

/* Index of the pending frame that starts at `offset`; frame_count when none does. */
static size_t frame_index_at(const struct spool *spool, uint64_t offset)
{
    if (offset == spool->delivered)
        return 0;
    size_t low = 0, high = spool->frame_count;
    while (low < high) {
        size_t mid = (low + high) / 2;
        if (spool->frame_ends[spool->frame_head + mid] < offset)
            low = mid + 1;
        else
            high = mid;
    }
    if (low < spool->frame_count && spool->frame_ends[spool->frame_head + low] == offset)
        return low + 1;
    return spool->frame_count;
}

long spool_read_frames(struct spool *spool, uint64_t offset, char *buf, size_t cap,
                       size_t max_frames, uint64_t *next)
{
    size_t len = 0, frames = 0;
    *next = offset;
    for (size_t i = frame_index_at(spool, offset); i < spool->frame_count; i++) {
        uint64_t start = frame_start(spool, i), end = spool->frame_ends[spool->frame_head + i];
        size_t record_len = (size_t)(end - start);
        if (!spool->frame_corrupt[spool->frame_head + i]) {
            if (len + record_len > cap || (max_frames > 0 && frames == max_frames))
                break;
            /* The record lands at buf+len; its frame then moves over the checksum. */
            if (!pread_all(spool->fd, buf + len, record_len, file_position(spool, start)))
                return len > 0 ? (long)len : -1;
            uint32_t stored = crc_decode((const uint8_t *)buf + len);
            size_t frame_len = record_len - SPOOL_CRC_LEN;
            if (spool_crc32c(buf + len + SPOOL_CRC_LEN, frame_len) == stored) {
                memmove(buf + len, buf + len + SPOOL_CRC_LEN, frame_len);
                len += frame_len;
                frames++;
            } else {
                frame_mark_corrupt(spool, i);
            }
        }
        *next = end;
    }
    return (long)len;
}

size_t spool_ack_wire(struct spool *spool, uint64_t wire_bytes, uint64_t limit,
                      uint64_t *wire_used)
{
    size_t frames = 0;
    *wire_used = 0;
    while (spool->frame_count > 0) {
        uint64_t end = spool->frame_ends[spool->frame_head];
        bool corrupt = spool->frame_corrupt[spool->frame_head];
        uint64_t wire_len = corrupt ? 0 : end - spool->delivered - SPOOL_CRC_LEN;
        if (end > limit || *wire_used + wire_len > wire_bytes)
            break;
        *wire_used += wire_len;
        frames += !corrupt;
        spool_mark_delivered(spool, end);
    }
    return frames;
}

size_t spool_frames_touched(const struct spool *spool, uint64_t wire_bytes)
{
    size_t frames = 0;
    uint64_t used = 0;
    for (size_t i = 0; i < spool->frame_count && used < wire_bytes; i++) {
        size_t at = spool->frame_head + i;
        if (spool->frame_corrupt[at])
            continue;
        used += spool->frame_ends[at] - frame_start(spool, i) - SPOOL_CRC_LEN;
        frames++;
    }
    return frames;
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
    ok = ok && safe_file_write_all(fd, header, sizeof(header));
    char buf[65536];
    for (uint64_t offset = spool->delivered; ok && offset < spool->size;) {
        long n = spool_read(spool, offset, buf, sizeof(buf));
        ok = n > 0 && safe_file_write_all(fd, buf, (size_t)n);
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
        /* Delivery goes on from memory; only a restart would resend. Said once per episode
         * (a full disk fails every second), and again when it is over. */
        if (!spool->offset_write_failed)
            LOG_WARN("syslog spool: cannot write %s: %s (filesystem full?); delivery goes on, "
                     "but if exflow restarts before this is fixed the collector receives again "
                     "the alerts delivered since", spool->offset_path, strerror(errno));
        spool->offset_write_failed = true;
        return false;
    }
    if (spool->offset_write_failed)
        LOG_INFO("syslog spool: %s is written again", spool->offset_path);
    spool->offset_write_failed = false;
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
    free(spool->frame_corrupt);
    memset(spool, 0, sizeof(*spool));
    spool->fd = spool->lock_fd = -1;
}
