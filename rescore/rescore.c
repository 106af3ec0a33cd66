/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Saved flow events back into flow records. Each line is parsed by jansson, checked field by
 * field (types, ranges, address families, time format), and only a complete record is handed
 * on: a line with anything wrong in the fields detection reads is counted and skipped, and
 * the first such line of a run is named in a warning with its file, line and field.
 */
#include "rescore.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "../geo/geo.h"

struct rescore_reader {
    const char *const *paths;
    int path_count;
    rescore_record_fn on_record;
    void *user;
    struct rescore_stats stats;
    const char *file;           /* for messages: the file being read */
    uint64_t line_number;
    bool warned;
    char *line;                 /* RESCORE_LINE_MAX + 1 bytes */
    struct flow flow;
    struct detect_flow_evidence saved;
};

/* A field that is there but wrong, or missing when needed: the line is skipped. */
struct field_error {
    const char *field;
    const char *problem;
};

static bool fail(struct field_error *e, const char *field, const char *problem)
{
    e->field = field;
    e->problem = problem;
    return false;
}

/* An integer field in [0, max]; absent: *out = 0, an error only when required. */
static bool get_uint(json_t *object, const char *key, uint64_t max, bool required, uint64_t *out,
                     struct field_error *e)
{
    json_t *value = json_object_get(object, key);
    *out = 0;
    if (value == NULL)
        return required ? fail(e, key, "missing") : true;
    if (!json_is_integer(value) || json_integer_value(value) < 0 ||
        (uint64_t)json_integer_value(value) > max)
        return fail(e, key, "not an integer in range");
    *out = (uint64_t)json_integer_value(value);
    return true;
}

static bool get_u32(json_t *object, const char *key, uint32_t *out, struct field_error *e)
{
    uint64_t value;
    if (!get_uint(object, key, UINT32_MAX, false, &value, e))
        return false;
    *out = (uint32_t)value;
    return true;
}

/* A text field copied (cut to fit); absent: "". */
static bool get_text(json_t *object, const char *key, char *out, size_t out_len, bool required,
                     struct field_error *e)
{
    json_t *value = json_object_get(object, key);
    out[0] = '\0';
    if (value == NULL)
        return required ? fail(e, key, "missing") : true;
    if (!json_is_string(value))
        return fail(e, key, "not a string");
    snprintf(out, out_len, "%s", json_string_value(value));
    return true;
}

static bool get_bool(json_t *object, const char *key, bool *out, struct field_error *e)
{
    json_t *value = json_object_get(object, key);
    *out = false;
    if (value == NULL)
        return true;
    if (!json_is_boolean(value))
        return fail(e, key, "not true or false");
    *out = json_is_true(value);
    return true;
}

static bool get_real(json_t *object, const char *key, double *out, struct field_error *e)
{
    json_t *value = json_object_get(object, key);
    *out = 0;
    if (value == NULL)
        return true;
    if (!json_is_number(value))
        return fail(e, key, "not a number");
    *out = json_number_value(value);
    return true;
}

/* "2026-03-09T11:05:07.564583Z", as output/ writes it, into microseconds; false when
 * malformed. */
static bool parse_time(const char *text, uint64_t *usec_out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int used = 0;
    uint64_t usec = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return false;
    if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    const char *p = text + used;
    if (*p == '.') {
        uint64_t scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            usec += (uint64_t)(*p - '0') * scale;
            scale /= 10;
        }
    }
    if (strcmp(p, "Z") != 0)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t seconds = timegm(&tm);
    if (seconds <= 0)
        return false;
    *usec_out = (uint64_t)seconds * 1000000 + usec;
    return true;
}

static bool get_time(json_t *object, const char *key, uint64_t *out, struct field_error *e)
{
    char text[64];
    if (!get_text(object, key, text, sizeof(text), true, e))
        return false;
    return parse_time(text, out) ? true : fail(e, key, "not a time like 2026-03-09T11:05:07.564583Z");
}

/* "TCP", "UDP", "ICMP", "ICMPv6" or a number, as output_proto_name writes it. */
static bool get_proto(json_t *object, uint8_t *out, struct field_error *e)
{
    static const struct { const char *name; uint8_t proto; } names[] = {
        { "TCP", 6 }, { "UDP", 17 }, { "ICMP", 1 }, { "ICMPv6", 58 },
    };
    char text[16];
    if (!get_text(object, "proto", text, sizeof(text), true, e))
        return false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].proto;
            return true;
        }
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || value > 255)
        return fail(e, "proto", "not a protocol name or number");
    *out = (uint8_t)value;
    return true;
}

static bool get_tcp_state(json_t *object, enum tcp_state *out, struct field_error *e)
{
    char text[32];
    *out = TCP_STATE_NONE;
    if (!get_text(object, "tcp_state", text, sizeof(text), false, e))
        return false;
    if (text[0] == '\0')
        return true;   /* not TCP */
    for (int s = TCP_STATE_NONE; s <= TCP_STATE_RESET; s++)
        if (strcmp(text, tcp_state_name((enum tcp_state)s)) == 0) {
            *out = (enum tcp_state)s;
            return true;
        }
    return fail(e, "tcp_state", "unknown state");
}

static bool get_end_reason(json_t *object, enum flow_end_reason *out, struct field_error *e)
{
    char text[32];
    *out = FLOW_END_EOF;
    if (!get_text(object, "end_reason", text, sizeof(text), false, e))
        return false;
    if (text[0] == '\0')
        return true;   /* detection does not read it */
    for (int r = FLOW_END_IDLE; r <= FLOW_END_BURST; r++)
        if (strcmp(text, flow_end_reason_name((enum flow_end_reason)r)) == 0) {
            *out = (enum flow_end_reason)r;
            return true;
        }
    return fail(e, "end_reason", "unknown reason");
}

/* The upload burst of the record (output/event.c writes it), into flow->burst; absent: no
 * bursts so far, and a burst record must have it. */
static bool get_burst(json_t *event, enum flow_end_reason reason, struct flow_burst *burst,
                      struct field_error *e)
{
    json_t *object = json_object_get(event, "burst");
    if (object == NULL)
        return reason == FLOW_END_BURST ? fail(e, "burst", "missing on a burst record") : true;
    if (!json_is_object(object))
        return fail(e, "burst", "not an object");
    return get_u32(object, "seq", &burst->seq, e) &&
           get_time(object, "start", &burst->start_ts_usec, e) &&
           get_uint(object, "payload_bytes_toserver", INT64_MAX, true,
                    &burst->payload_bytes[FLOW_DIR_ORIG], e) &&
           get_uint(object, "payload_bytes_toclient", INT64_MAX, true,
                    &burst->payload_bytes[FLOW_DIR_RESP], e);
}

/* Both addresses, of one family. */
static bool get_addresses(json_t *event, struct flow *flow, struct field_error *e)
{
    char src[64], dest[64];
    if (!get_text(event, "src_ip", src, sizeof(src), true, e) ||
        !get_text(event, "dest_ip", dest, sizeof(dest), true, e))
        return false;
    int src_version = geo_addr_parse(src, flow->orig_addr);
    int dest_version = geo_addr_parse(dest, flow->resp_addr);
    if (src_version == 0)
        return fail(e, "src_ip", "not an address");
    if (dest_version != src_version)
        return fail(e, "dest_ip", "not an address of src_ip's family");
    flow->ip_version = (uint8_t)src_version;
    return true;
}

static bool get_labels(json_t *event, struct flow_labels *labels, struct field_error *e)
{
    uint64_t status;
    labels->detection_done = true;
    if (!get_text(event, "master_protocol", labels->master_protocol,
                  sizeof(labels->master_protocol), false, e) ||
        !get_text(event, "app_protocol", labels->app_protocol, sizeof(labels->app_protocol),
                  false, e) ||
        !get_text(event, "category", labels->category, sizeof(labels->category), false, e) ||
        !get_text(event, "server_name", labels->server_name, sizeof(labels->server_name), false,
                  e) ||
        !get_text(event, "http_method", labels->http_method, sizeof(labels->http_method), false,
                  e) ||
        !get_text(event, "http_url", labels->http_url, sizeof(labels->http_url), false, e) ||
        !get_text(event, "http_content_type", labels->http_content_type,
                  sizeof(labels->http_content_type), false, e) ||
        !get_text(event, "ssh_client", labels->ssh_client, sizeof(labels->ssh_client), false, e) ||
        !get_text(event, "ssh_server", labels->ssh_server, sizeof(labels->ssh_server), false, e) ||
        !get_uint(event, "http_status", UINT16_MAX, false, &status, e))
        return false;
    labels->http_status = (uint16_t)status;
    return true;
}

/* Counters by direction (toserver: the originator's). Payload bytes are what detection
 * scores, so they must be there. */
static bool get_counters(json_t *event, struct flow *flow, struct field_error *e)
{
    static const char *const keys[2][3] = {
        { "pkts_toserver", "bytes_toserver", "payload_bytes_toserver" },
        { "pkts_toclient", "bytes_toclient", "payload_bytes_toclient" },
    };
    for (int d = 0; d < 2; d++) {
        struct flow_direction_stats *s = &flow->dir[d];
        if (!get_uint(event, keys[d][0], INT64_MAX, false, &s->packets, e) ||
            !get_uint(event, keys[d][1], INT64_MAX, false, &s->bytes, e) ||
            !get_uint(event, keys[d][2], INT64_MAX, true, &s->payload_bytes, e))
            return false;
        if (s->packets > 0 || s->payload_bytes > 0) {
            s->first_ts_usec = flow->start_ts_usec;
            s->last_ts_usec = flow->last_ts_usec;
        }
    }
    return true;
}

/* "0f3a...": DETECT_SAVED_DNS_UNIQUE bytes as hex. */
static bool get_bitmap(json_t *object, uint8_t *out, struct field_error *e)
{
    char text[2 * DETECT_SAVED_DNS_UNIQUE + 2];
    if (!get_text(object, "unique", text, sizeof(text), true, e))
        return false;
    if (strlen(text) != 2 * DETECT_SAVED_DNS_UNIQUE)
        return fail(e, "unique", "not 128 hex digits");
    for (size_t i = 0; i < DETECT_SAVED_DNS_UNIQUE; i++) {
        unsigned byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1 ||
            strchr("0123456789abcdefABCDEF", text[2 * i]) == NULL ||
            strchr("0123456789abcdefABCDEF", text[2 * i + 1]) == NULL)
            return fail(e, "unique", "not 128 hex digits");
        out[i] = (uint8_t)byte;
    }
    return true;
}

static bool get_dns(json_t *object, struct detect_flow_evidence *ev, struct field_error *e)
{
    json_t *domains = json_object_get(object, "domains");
    if (!json_is_array(domains) || json_array_size(domains) > DETECT_SAVED_DNS_DOMAINS)
        return fail(e, "payload_evidence.domains", "not an array of at most 2 domains");
    for (size_t i = 0; i < json_array_size(domains); i++) {
        json_t *one = json_array_get(domains, i);
        struct detect_saved_dns *d = &ev->dns[i];
        uint64_t name_bytes, response_bytes;
        if (!json_is_object(one))
            return fail(e, "payload_evidence.domains", "not an object");
        if (!get_text(one, "domain", d->domain, sizeof(d->domain), true, e) ||
            !get_u32(one, "queries", &d->queries, e) || !get_u32(one, "responses", &d->responses, e) ||
            !get_u32(one, "long_names", &d->long_names, e) ||
            !get_u32(one, "odd_types", &d->odd_types, e) ||
            !get_uint(one, "name_bytes", INT64_MAX, false, &name_bytes, e) ||
            !get_uint(one, "response_bytes", INT64_MAX, false, &response_bytes, e) ||
            !get_real(one, "entropy_sum", &d->entropy_sum, e) || !get_bitmap(one, d->unique, e))
            return false;
        d->name_bytes = name_bytes;
        d->response_bytes = response_bytes;
        ev->dns_domain_count++;
    }
    return true;
}

static bool get_icmp(json_t *object, struct detect_flow_evidence *ev, struct field_error *e)
{
    return get_uint(object, "echo_bytes_toserver", INT64_MAX, false, &ev->icmp_echo_bytes[0], e) &&
           get_uint(object, "echo_bytes_toclient", INT64_MAX, false, &ev->icmp_echo_bytes[1], e) &&
           get_u32(object, "echo_pkts_toserver", &ev->icmp_echo_packets[0], e) &&
           get_u32(object, "echo_pkts_toclient", &ev->icmp_echo_packets[1], e) &&
           get_u32(object, "odd_size_pkts", &ev->icmp_odd_size_packets, e) &&
           get_u32(object, "pattern_pkts", &ev->icmp_pattern_packets, e) &&
           get_u32(object, "sampled_pkts", &ev->icmp_sampled_packets, e) &&
           get_real(object, "entropy_sum", &ev->icmp_entropy_sum, e);
}

static bool get_smtp(json_t *object, struct detect_flow_evidence *ev, struct field_error *e)
{
    return get_u32(object, "messages", &ev->smtp_messages, e) &&
           get_u32(object, "recipients", &ev->smtp_recipients, e) &&
           get_u32(object, "attachments", &ev->smtp_attachments, e) &&
           get_uint(object, "data_bytes", INT64_MAX, false, &ev->smtp_data_bytes, e) &&
           get_uint(object, "tls_bytes", INT64_MAX, false, &ev->smtp_tls_bytes, e) &&
           get_bool(object, "starttls", &ev->smtp_starttls, e) &&
           get_bool(object, "implicit_tls", &ev->smtp_implicit_tls, e) &&
           get_text(object, "mail_from", ev->smtp_mail_from, sizeof(ev->smtp_mail_from), false, e) &&
           get_text(object, "rcpt_to", ev->smtp_rcpt_to, sizeof(ev->smtp_rcpt_to), false, e) &&
           get_text(object, "filename", ev->smtp_filename, sizeof(ev->smtp_filename), false, e);
}

/* payload_evidence (output/event.c writes it); absent: false in *present, no error. */
static bool get_evidence(json_t *event, struct detect_flow_evidence *ev, bool *present,
                         struct field_error *e)
{
    json_t *object = json_object_get(event, "payload_evidence");
    char kind[16];
    memset(ev, 0, sizeof(*ev));
    *present = false;
    if (object == NULL)
        return true;
    if (!json_is_object(object))
        return fail(e, "payload_evidence", "not an object");
    if (!get_text(object, "kind", kind, sizeof(kind), true, e))
        return false;
    ev->kind = detect_payload_kind_parse(kind);
    *present = true;
    switch (ev->kind) {
    case DETECT_PAYLOAD_HTTP:
        return get_u32(object, "upload_requests", &ev->http_upload_requests, e) &&
               get_uint(object, "upload_body_bytes", INT64_MAX, false, &ev->http_body_bytes, e) &&
               get_text(object, "host", ev->http_host, sizeof(ev->http_host), false, e) &&
               get_text(object, "packed", ev->packed, sizeof(ev->packed), false, e);
    case DETECT_PAYLOAD_FTP_CONTROL:
        return true;
    case DETECT_PAYLOAD_FTP_DATA:
        return get_bool(object, "active", &ev->ftp_active, e) &&
               get_text(object, "command", ev->ftp_command, sizeof(ev->ftp_command), false, e) &&
               get_text(object, "dest_name", ev->ftp_dest_name, sizeof(ev->ftp_dest_name), false,
                        e) &&
               get_text(object, "packed", ev->packed, sizeof(ev->packed), false, e);
    case DETECT_PAYLOAD_DNS:
        return get_dns(object, ev, e);
    case DETECT_PAYLOAD_ICMP:
        return get_icmp(object, ev, e);
    case DETECT_PAYLOAD_SMTP:
        return get_smtp(object, ev, e);
    default:
        return fail(e, "payload_evidence.kind", "unknown kind");
    }
}

/* The flow record of one flow event; false with the field at fault. */
static bool rescore_flow(struct rescore_reader *r, json_t *event, enum flow_end_reason *reason,
                         bool *has_evidence, struct field_error *e)
{
    struct flow *flow = &r->flow;
    uint64_t value;
    memset(flow, 0, sizeof(*flow));
    if (!get_uint(event, "flow_id", INT64_MAX, true, &flow->id, e) ||
        !get_uint(event, "record_seq", UINT32_MAX, false, &value, e))
        return false;
    flow->record_seq = (uint32_t)value;
    if (!get_time(event, "start", &flow->start_ts_usec, e) ||
        !get_time(event, "end", &flow->last_ts_usec, e) || !get_addresses(event, flow, e) ||
        !get_uint(event, "src_port", UINT16_MAX, true, &value, e))
        return false;
    flow->orig_port = (uint16_t)value;
    if (!get_uint(event, "dest_port", UINT16_MAX, true, &value, e))
        return false;
    flow->resp_port = (uint16_t)value;
    if (!get_uint(event, "vlan", UINT16_MAX, false, &value, e))
        return false;
    flow->vlan = (uint16_t)value;
    flow->total_start_ts_usec = flow->start_ts_usec;
    flow->age_ts_usec = flow->last_ts_usec;
    return get_proto(event, &flow->proto, e) && get_tcp_state(event, &flow->tcp_state, e) &&
           get_end_reason(event, reason, e) && get_burst(event, *reason, &flow->burst, e) &&
           get_labels(event, &flow->labels, e) &&
           get_counters(event, flow, e) && get_evidence(event, &r->saved, has_evidence, e);
}

static void rescore_bad_line(struct rescore_reader *r, const char *field, const char *problem)
{
    r->stats.bad_lines++;
    if (r->warned)
        return;
    r->warned = true;
    LOG_WARN("%s:%llu: %s%s%s: line skipped (further bad lines are only counted)",
             r->file ? r->file : "events", (unsigned long long)r->line_number, field,
             field[0] ? ": " : "", problem);
}

void rescore_reader_feed_line(struct rescore_reader *r, const char *line, size_t len)
{
    json_error_t error;
    r->line_number++;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return;
    r->stats.lines++;
    json_t *event = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(event)) {
        rescore_bad_line(r, "", event ? "not a JSON object" : "not JSON");
        json_decref(event);
        return;
    }
    json_t *type = json_object_get(event, "event_type");
    if (!json_is_string(type)) {
        rescore_bad_line(r, "event_type", "missing");
    } else if (strcmp(json_string_value(type), "flow") != 0) {
        r->stats.other_events++;
    } else {
        struct field_error e = { NULL, NULL };
        enum flow_end_reason reason;
        bool has_evidence;
        if (!rescore_flow(r, event, &reason, &has_evidence, &e)) {
            rescore_bad_line(r, e.field ? e.field : "", e.problem ? e.problem : "malformed");
        } else {
            struct detect_log_evidence evidence;
            memset(&evidence, 0, sizeof(evidence));
            evidence.saved = has_evidence ? &r->saved : NULL;
            r->stats.flows_out++;
            r->on_record(r->user, &r->flow, reason, has_evidence ? &evidence : NULL);
        }
    }
    json_decref(event);
}

bool rescore_is_events_file(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    int c;
    do {
        c = getc(file);
    } while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    fclose(file);
    return c == '{';
}

struct rescore_reader *rescore_reader_new(const char *const *paths, int path_count,
                                          rescore_record_fn on_record, void *user, char *err,
                                          size_t err_len)
{
    for (int i = 0; i < path_count; i++) {
        FILE *file = fopen(paths[i], "rb");
        if (file == NULL) {
            snprintf(err, err_len, "%s: %s", paths[i], strerror(errno));
            return NULL;
        }
        fclose(file);
    }
    struct rescore_reader *r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->line = malloc(RESCORE_LINE_MAX + 1);
    if (r == NULL || r->line == NULL) {
        free(r);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    r->paths = paths;
    r->path_count = path_count;
    r->on_record = on_record;
    r->user = user;
    return r;
}

/* One file, line by line; an over-long line is skipped up to its newline. */
static bool rescore_read_file(struct rescore_reader *r, FILE *file, volatile sig_atomic_t *stop)
{
    size_t len = 0;
    bool overflow = false;
    int c;
    while ((c = getc_unlocked(file)) != EOF) {
        if (c != '\n') {
            if (len < RESCORE_LINE_MAX)
                r->line[len++] = (char)c;
            else
                overflow = true;
            continue;
        }
        if (overflow) {
            r->line_number++;
            rescore_bad_line(r, "", "line too long");
        } else {
            rescore_reader_feed_line(r, r->line, len);
        }
        len = 0;
        overflow = false;
        if (stop != NULL && *stop)
            return true;
    }
    /* A last line without its newline (a file cut while written) is read like the others:
     * a cut event does not parse and is counted. */
    if (overflow) {
        r->line_number++;
        rescore_bad_line(r, "", "line too long");
    } else if (len > 0) {
        rescore_reader_feed_line(r, r->line, len);
    }
    return !ferror(file);
}

bool rescore_reader_run(struct rescore_reader *r, volatile sig_atomic_t *stop)
{
    bool ok = true;
    for (int i = 0; i < r->path_count && !(stop != NULL && *stop); i++) {
        FILE *file = fopen(r->paths[i], "rb");
        if (file == NULL) {
            LOG_ERROR("%s: %s", r->paths[i], strerror(errno));
            ok = false;
            continue;
        }
        r->file = r->paths[i];
        r->line_number = 0;
        r->stats.files++;
        if (!rescore_read_file(r, file, stop)) {
            LOG_ERROR("%s: read error", r->paths[i]);
            ok = false;
        }
        fclose(file);
    }
    r->file = NULL;
    return ok;
}

void rescore_reader_get_stats(const struct rescore_reader *r, struct rescore_stats *stats)
{
    *stats = r->stats;
}

void rescore_reader_free(struct rescore_reader *r)
{
    if (r == NULL)
        return;
    free(r->line);
    free(r);
}
