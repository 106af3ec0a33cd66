/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Detection state that must outlive the process: every (host, destination) series with its
 * ring of connections, evidence and suppression, and every host's hourly baseline and
 * typical PCR. Without it a restart forgets the baselines learned on day 1 and re-alerts
 * every series. It lives beside the first-seen state file, in STATE-FILE.detect, written
 * atomically; a version line refuses a file of a version it does not know, and version 1
 * files (before alert shapes) are migrated on load.
 *
 * Format (text, one record a line, numbers decimal, doubles as C99 hex floats so they
 * round-trip exactly, names and labels hex-encoded so no byte of theirs is special):
 *   exflow-detect-state VERSION
 *   host KEY STARTED FIRST_HOUR CURRENT_HOUR PCR_MEAN PCR_VAR PCR_STARTED SAMPLES FTP_FIRST
 *        H0..H71
 *   series SRC DEST IPV SRC_ADDR DEST_ADDR PORT PROTO APP MASTER OUT IN FIRST_START
 *          EVIDENCE FTP_CMD HTTP_REQS HTTP_BODY BARE_IP PACKED ALERTED LAST_SEV LAST_ALERT
 *          TOTAL_CONNS N MEMBER_COUNT MEMBERS SHAPE_EVIDENCE SHAPE_TRANSFER SHAPE_RATE
 *          FETCHED
 *          (version 1: without the last four, the shape of the last alert and whether
 *          the series ever fetched a file)
 *   conn START END OUT IN          (N of them, oldest first, after their series)
 * Tables are written oldest first, so loading rebuilds their LRU order.
 */
#include "detect_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECKPOINT_MAGIC "exflow-detect-state"
#define CHECKPOINT_LINE_MAX 4096
#define CHECKPOINT_MAX_TOKENS (10 + BASELINE_HOURS)

/* Lower-case hex of len bytes, "-" for none. */
static void hex_write(FILE *file, const uint8_t *bytes, size_t len)
{
    if (len == 0) {
        fputc('-', file);
        return;
    }
    for (size_t i = 0; i < len; i++)
        fprintf(file, "%02x", bytes[i]);
}

/* Decodes hex into out (out_len bytes at most, NUL-terminated when text); the byte count,
 * or -1 when malformed or too long. */
static int hex_read(const char *hex, uint8_t *out, size_t out_len, bool text)
{
    if (strcmp(hex, "-") == 0) {
        if (text && out_len > 0)
            out[0] = 0;
        return 0;
    }
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 + (text ? 1 : 0) > out_len)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned value;
        if (sscanf(hex + 2 * i, "%2x", &value) != 1)
            return -1;
        out[i] = (uint8_t)value;
    }
    if (text)
        out[n / 2] = 0;
    return (int)(n / 2);
}

/* The ring's connections, oldest first (linear until it first fills, then from head). */
static void ring_write(FILE *file, const struct beacon_series *ring)
{
    uint32_t start = ring->count == ring->capacity ? ring->head : 0;
    for (uint32_t k = 0; k < ring->count; k++) {
        const struct beacon_conn *c = &ring->conn[(start + k) % ring->capacity];
        fprintf(file, "conn %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", c->start_usec,
                c->end_usec, c->bytes_out, c->bytes_in);
    }
}

static void series_write(FILE *file, const struct series *s)
{
    /* The key in the text it had before keys were binary: the file format stays. */
    char src[64];
    const uint8_t *key = (const uint8_t *)s->entry.key;
    size_t host_len = host_key_to_text(key, s->entry.key_len, src, sizeof(src));
    fprintf(file, "series ");
    hex_write(file, (const uint8_t *)src, strlen(src));
    fputc(' ', file);
    hex_write(file, key + host_len, s->entry.key_len - host_len);
    fprintf(file, " %d ", s->ip_version);
    hex_write(file, s->src_addr, GEO_ADDR_LEN);
    fputc(' ', file);
    hex_write(file, s->dest_addr, GEO_ADDR_LEN);
    fprintf(file, " %u %u ", s->dest_port, s->proto);
    hex_write(file, (const uint8_t *)s->app, strlen(s->app));
    fputc(' ', file);
    hex_write(file, (const uint8_t *)s->master, strlen(s->master));
    fprintf(file, " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u %d %u %" PRIu64 " %d %u %d %d %" PRIu64
            " %" PRIu64 " %u",
            s->total_out, s->total_in, s->first_start_usec, s->evidence, (int)s->ftp_command,
            s->http_upload_requests, s->http_body_bytes, s->http_bare_ip, s->packed, s->alerted,
            (int)s->last_severity, s->last_alert_usec, s->beacon.total_connections,
            s->beacon.count);
    fprintf(file, " %u ", s->member_count);
    hex_write(file, (const uint8_t *)s->members, s->members ? strlen(s->members) : 0);
    fprintf(file, " %u %" PRIu64 " %a %d\n", s->alert_shape.evidence,
            s->alert_shape.transfer_bytes, s->alert_shape.rate, s->beacon.fetched);
    ring_write(file, &s->beacon);
}

static void host_write(FILE *file, const struct host *h)
{
    char text[64];
    host_key_to_text((const uint8_t *)h->entry.key, h->entry.key_len, text, sizeof(text));
    fprintf(file, "host ");
    hex_write(file, (const uint8_t *)text, strlen(text));
    fprintf(file, " %d %" PRIu64 " %" PRIu64 " %a %a %d %u %" PRIu64, h->baseline.started,
            h->baseline.first_hour, h->baseline.current_hour, h->pcr.mean, h->pcr.variance,
            h->pcr.started, h->pcr_samples, h->ftp_first_usec);
    for (int i = 0; i < BASELINE_HOURS; i++)
        fprintf(file, " %" PRIu64, h->baseline.hour_bytes[i]);
    fputc('\n', file);
}

/* Writes every table to file; false on a write error. */
static bool checkpoint_write(const struct checkpoint_tables *tables, FILE *file)
{
    fprintf(file, "%s %d\n", CHECKPOINT_MAGIC, CHECKPOINT_VERSION);
    for (const struct table_entry *e = tables->hosts->oldest; e; e = e->lru_prev)
        host_write(file, (const struct host *)e);
    for (const struct table_entry *e = tables->series->oldest; e; e = e->lru_prev)
        series_write(file, (const struct series *)e);
    return !ferror(file);
}

bool checkpoint_save(const struct checkpoint_tables *tables, const char *state_path, char *err,
                     size_t err_len)
{
    char path[4096], temp[4096], dir[4096];
    int n = snprintf(path, sizeof(path), "%s%s", state_path, CHECKPOINT_SUFFIX);
    int m = snprintf(temp, sizeof(temp), "%s.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(temp)) {
        snprintf(err, err_len, "state file %s: path too long", state_path);
        return false;
    }
    /* mkstemp: a fresh file of ours in the target folder, never one someone placed there. */
    int fd = mkstemp(temp);
    if (fd < 0) {
        snprintf(err, err_len, "state file %s: cannot create %s: %s", path, temp, strerror(errno));
        return false;
    }
    FILE *file = fdopen(fd, "w");
    if (file == NULL) {
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    bool ok = checkpoint_write(tables, file) && fflush(file) == 0 && fsync(fd) == 0;
    int saved_errno = errno;
    if (fclose(file) != 0 && ok) {
        ok = false;
        saved_errno = errno;
    }
    if (!ok) {
        snprintf(err, err_len, "state file %s: write: %s", path, strerror(saved_errno));
        goto fail;
    }
    if (rename(temp, path) != 0) {
        snprintf(err, err_len, "state file %s: rename: %s", path, strerror(errno));
        goto fail;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    int dir_fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        fsync(dir_fd);  /* the rename itself durable */
        close(dir_fd);
    }
    return true;
fail:
    unlink(temp);
    return false;
}

/* Splits line at spaces into at most max tokens; the count. */
static int tokenize(char *line, char **tokens, int max)
{
    int count = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \n", &save); t && count < max; t = strtok_r(NULL, " \n", &save))
        tokens[count++] = t;
    return count;
}

/* Unsigned decimal that fills the whole token. */
static bool parse_u64(const char *text, uint64_t *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return false;
    *value = v;
    return true;
}

static bool parse_double(const char *text, double *value)
{
    char *end;
    *value = strtod(text, &end);
    return end != text && *end == '\0';
}

/* One "host" line into the hosts table. */
static bool host_read(const struct checkpoint_tables *tables, char **tok, int count)
{
    char key[64];
    uint64_t v[4];
    struct host restored;
    memset(&restored, 0, sizeof(restored));
    if (count != 10 + BASELINE_HOURS || hex_read(tok[1], (uint8_t *)key, sizeof(key), true) <= 0)
        return false;
    if (!parse_u64(tok[2], &v[0]) || !parse_u64(tok[3], &v[1]) || !parse_u64(tok[4], &v[2]) ||
        !parse_double(tok[5], &restored.pcr.mean) || !parse_double(tok[6], &restored.pcr.variance) ||
        !parse_u64(tok[7], &v[3]))
        return false;
    uint64_t samples;
    if (!parse_u64(tok[8], &samples) || samples > UINT32_MAX ||
        !parse_u64(tok[9], &restored.ftp_first_usec))
        return false;
    for (int i = 0; i < BASELINE_HOURS; i++)
        if (!parse_u64(tok[10 + i], &restored.baseline.hour_bytes[i]))
            return false;
    uint8_t host_key[HOST_KEY_MAX];
    size_t host_key_len = host_key_from_text(host_key, sizeof(host_key), key);
    struct host *h = (struct host *)table_get(tables->hosts, host_key, host_key_len,
                                              sizeof(struct host), tables->max_hosts,
                                              tables->free_host);
    if (h == NULL)
        return false;
    h->baseline = restored.baseline;
    h->baseline.started = v[0] != 0;
    h->baseline.first_hour = v[1];
    h->baseline.current_hour = v[2];
    h->pcr = restored.pcr;
    h->pcr.started = v[3] != 0;
    h->pcr_samples = (uint32_t)samples;
    h->ftp_first_usec = restored.ftp_first_usec;
    return true;
}

/* The numeric fields of a "series" line (tokens 10..23) into s; *conns: ring entries next. */
static bool series_read_numbers(char **tok, struct series *s, uint64_t *total, uint32_t *conns)
{
    uint64_t v[14];
    for (int i = 0; i < 14; i++)
        if (!parse_u64(tok[10 + i], &v[i]))
            return false;
    if (v[3] > UINT32_MAX || v[4] > FTP_CMD_EPSV || v[5] > UINT32_MAX || v[8] > PACKED_XZ ||
        v[10] > SEVERITY_CRITICAL || v[13] > BEACON_RING_MAX)
        return false;
    s->total_out = v[0];
    s->total_in = v[1];
    s->first_start_usec = v[2];
    s->evidence = (uint32_t)v[3];
    s->ftp_command = (enum ftp_command)v[4];
    s->http_upload_requests = (uint32_t)v[5];
    s->http_body_bytes = v[6];
    s->http_bare_ip = v[7] != 0;
    s->packed = (uint8_t)v[8];
    s->alerted = v[9] != 0;
    s->last_severity = (enum alert_severity)v[10];
    s->last_alert_usec = v[11];
    *total = v[12];
    *conns = (uint32_t)v[13];
    return true;
}

/* One "conn" line back into the ring. Restored connections take flow id 0, which no live
 * flow has: a new flow of the next run never adds its bytes to an old connection. They are
 * appended, not added: beacon_add would fold every restored connection into the first. */
static bool conn_read(struct series *s, char *line)
{
    char *tok[6];
    uint64_t v[4];
    if (tokenize(line, tok, 6) != 5 || strcmp(tok[0], "conn") != 0)
        return false;
    for (int i = 0; i < 4; i++)
        if (!parse_u64(tok[1 + i], &v[i]))
            return false;
    return beacon_append(&s->beacon, 0, v[0], v[1], v[2], v[3]);
}

/* The last alert's shape (tokens 26..28 of a version 2 "series" line). */
static bool shape_read(char **tok, struct alert_shape *shape)
{
    uint64_t evidence;
    if (!parse_u64(tok[0], &evidence) || evidence > UINT32_MAX ||
        !parse_u64(tok[1], &shape->transfer_bytes) || !parse_double(tok[2], &shape->rate) ||
        !(shape->rate >= 0.0))
        return false;
    shape->evidence = (uint32_t)evidence;
    return true;
}

/* A version 1 series kept no shape: an alerted one takes what it shows now (its evidence,
 * its largest connection), so the restart alone does not make it news again. */
static void shape_migrate(struct series *s)
{
    memset(&s->alert_shape, 0, sizeof(s->alert_shape));
    if (!s->alerted)
        return;
    s->alert_shape.evidence = s->evidence & ALERT_SHAPE_NEWS;
    for (uint32_t i = 0; i < s->beacon.count; i++)
        if (s->beacon.conn[i].bytes_out > s->alert_shape.transfer_bytes)
            s->alert_shape.transfer_bytes = s->beacon.conn[i].bytes_out;
}

/* Restores the whole file, line by line. */
static bool checkpoint_read(const struct checkpoint_tables *tables, FILE *file, char *err,
                            size_t err_len)
{
    char line[CHECKPOINT_LINE_MAX];
    char *tok[CHECKPOINT_MAX_TOKENS + 1];
    unsigned line_no = 1;
    int version = 0;
    if (fgets(line, sizeof(line), file) == NULL ||
        sscanf(line, CHECKPOINT_MAGIC " %d", &version) != 1) {
        snprintf(err, err_len, "not an exflow detection state file");
        return false;
    }
    if (version != CHECKPOINT_VERSION && version != 1) {
        snprintf(err, err_len,
                 "written with format version %d; this exflow reads version %d (and migrates 1)",
                 version, CHECKPOINT_VERSION);
        return false;
    }
    while (fgets(line, sizeof(line), file) != NULL) {
        line_no++;
        if (strchr(line, '\n') == NULL && !feof(file))
            goto bad;
        int count = tokenize(line, tok, CHECKPOINT_MAX_TOKENS + 1);
        if (count == 0)
            continue;
        if (strcmp(tok[0], "host") == 0) {
            if (!host_read(tables, tok, count))
                goto bad;
            continue;
        }
        if (strcmp(tok[0], "series") != 0 || count != (version == 1 ? 26 : 30))
            goto bad;
        char src[64], dest[FLOW_NAME_LEN];
        uint8_t key[HOST_KEY_MAX + FLOW_NAME_LEN];
        struct series fields;
        uint64_t total, port, proto;
        uint32_t conns;
        memset(&fields, 0, sizeof(fields));
        if (hex_read(tok[1], (uint8_t *)src, sizeof(src), true) <= 0 ||
            hex_read(tok[2], (uint8_t *)dest, sizeof(dest), true) <= 0 ||
            (strcmp(tok[3], "4") != 0 && strcmp(tok[3], "6") != 0) ||
            hex_read(tok[4], fields.src_addr, GEO_ADDR_LEN, false) != GEO_ADDR_LEN ||
            hex_read(tok[5], fields.dest_addr, GEO_ADDR_LEN, false) != GEO_ADDR_LEN ||
            !parse_u64(tok[6], &port) || port > 65535 || !parse_u64(tok[7], &proto) ||
            proto > 255 || hex_read(tok[8], (uint8_t *)fields.app, sizeof(fields.app), true) < 0 ||
            hex_read(tok[9], (uint8_t *)fields.master, sizeof(fields.master), true) < 0 ||
            !series_read_numbers(tok, &fields, &total, &conns))
            goto bad;
        size_t key_len = host_key_from_text(key, HOST_KEY_MAX, src);
        size_t dest_len = strlen(dest);
        memcpy(key + key_len, dest, dest_len);
        struct series *s = (struct series *)table_get(tables->series, key, key_len + dest_len,
                                                      sizeof(struct series), tables->max_series,
                                                      tables->free_series);
        if (s == NULL)
            goto bad;
        struct table_entry entry = s->entry;
        struct beacon_series ring = s->beacon;
        char *member_text = s->members;
        *s = fields;
        s->entry = entry;
        s->beacon = ring;
        s->members = member_text;
        s->ip_version = tok[3][0] - '0';
        s->dest_port = (uint16_t)port;
        s->proto = (uint8_t)proto;
        s->cloud_service = cloud_storage_service(dest, s->app, NULL);
        uint64_t members;
        if (!parse_u64(tok[24], &members) || members > UINT32_MAX)
            goto bad;
        if (strcmp(tok[25], "-") != 0) {
            if (s->members == NULL && (s->members = calloc(1, GROUP_MEMBERS_LEN)) == NULL)
                goto bad;
            if (hex_read(tok[25], (uint8_t *)s->members, GROUP_MEMBERS_LEN, true) < 0)
                goto bad;
        }
        s->member_count = (uint32_t)members;
        for (uint32_t i = 0; i < conns; i++) {
            line_no++;
            if (fgets(line, sizeof(line), file) == NULL || !conn_read(s, line))
                goto bad;
        }
        s->beacon.total_connections = total;
        if (version == 1)
            shape_migrate(s);
        else if (!shape_read(tok + 26, &s->alert_shape) || strlen(tok[29]) != 1 ||
                 (tok[29][0] != '0' && tok[29][0] != '1'))
            goto bad;
        else
            s->beacon.fetched = s->beacon.fetched || tok[29][0] == '1';
    }
    return true;
bad:
    snprintf(err, err_len, "line %u: malformed", line_no);
    return false;
}

int checkpoint_load(const struct checkpoint_tables *tables, const char *state_path, char *err,
                    size_t err_len)
{
    char path[4096], message[256];
    int n = snprintf(path, sizeof(path), "%s%s", state_path, CHECKPOINT_SUFFIX);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(err, err_len, "state file %s: path too long", state_path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        return -1;
    }
    FILE *file = fdopen(fd, "r");
    if (file == NULL) {
        snprintf(err, err_len, "state file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    bool ok = checkpoint_read(tables, file, message, sizeof(message));
    fclose(file);
    if (!ok) {
        snprintf(err, err_len, "state file %s: %s", path, message);
        return -1;
    }
    return 1;
}
