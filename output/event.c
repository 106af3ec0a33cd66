/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/event.c: the JSON of flow records and alerts. Every event starts with the head built
 * by event_head (Suricata's CreateEveHeader); keys come in a fixed order so that output is
 * byte-for-byte reproducible for the golden tests.
 */
#include "output_internal.h"

#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/tunables.h"

/* JSON_ENSURE_ASCII: non-ASCII text is written \uXXXX, so a line is plain ASCII wherever it
 * goes (a syslog MSG then needs no BOM). JSON_REAL_PRECISION(15): 0.123 prints as 0.123, not
 * 0.12299999999999999, and durations with microseconds survive exactly. */
#define EVENT_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | \
                          JSON_REAL_PRECISION(15))

static void format_time_slowly(uint64_t ts_usec, char *buf, size_t len)
{
    time_t seconds = (time_t)(ts_usec / USEC_PER_SEC);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ts_usec % USEC_PER_SEC));
}

/* A flow record carries three times, mostly within the same one or two seconds, and
 * gmtime_r takes glibc's time-zone lock while snprintf parses its format each call (a
 * tenth of the output thread's time with flow records on). So the text of the seconds is
 * kept for the last two seconds seen (odd and even), per thread, and only the microseconds
 * are written each time. Years past 9999 and short buffers take the slow path. */
#define TIME_SECONDS_TEXT 19 /* "YYYY-MM-DDTHH:MM:SS" */
#define TIME_TEXT         (TIME_SECONDS_TEXT + 9) /* ".uuuuuuZ" and the NUL */

/* value in exactly width decimal digits, zero-padded (the caller bounds value). */
static void put_digits(char *out, unsigned value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

const char *output_format_time(uint64_t ts_usec, char *buf, size_t len)
{
    static __thread struct {
        uint64_t seconds_plus_one; /* 0: empty */
        char text[TIME_SECONDS_TEXT];
    } cache[2];
    uint64_t seconds = ts_usec / USEC_PER_SEC;
    if (len < TIME_TEXT || seconds >= 253402300800ULL) { /* 10000-01-01 */
        format_time_slowly(ts_usec, buf, len);
        return buf;
    }
    unsigned slot = (unsigned)(seconds & 1);
    char *text = cache[slot].text;
    if (cache[slot].seconds_plus_one != seconds + 1) {
        time_t t = (time_t)seconds;
        struct tm tm;
        gmtime_r(&t, &tm);
        memcpy(text, "0000-00-00T00:00:00", TIME_SECONDS_TEXT);
        put_digits(text, (unsigned)(tm.tm_year + 1900), 4);
        put_digits(text + 5, (unsigned)(tm.tm_mon + 1), 2);
        put_digits(text + 8, (unsigned)tm.tm_mday, 2);
        put_digits(text + 11, (unsigned)tm.tm_hour, 2);
        put_digits(text + 14, (unsigned)tm.tm_min, 2);
        put_digits(text + 17, (unsigned)tm.tm_sec, 2);
        cache[slot].seconds_plus_one = seconds + 1;
    }
    memcpy(buf, text, TIME_SECONDS_TEXT);
    buf[TIME_SECONDS_TEXT] = '.';
    put_digits(buf + TIME_SECONDS_TEXT + 1, (unsigned)(ts_usec % USEC_PER_SEC), 6);
    buf[TIME_SECONDS_TEXT + 7] = 'Z';
    buf[TIME_SECONDS_TEXT + 8] = '\0';
    return buf;
}

const char *output_proto_name(uint8_t proto, char *buf, size_t len)
{
    switch (proto) {
    case 6: return "TCP";
    case 17: return "UDP";
    case 1: return "ICMP";
    case 58: return "ICMPv6";
    default:
        snprintf(buf, len, "%u", proto);
        return buf;
    }
}

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. A NUL ends a sequence
 * early (it is not a continuation byte), so reading stops at the string's end. */
size_t output_utf8_length(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    uint32_t min, code;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2; min = 0x80; code = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3; min = 0x800; code = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4; min = 0x10000; code = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (s[i] & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return 0;
    return len;
}

/* THREAT: labels (SNI, Host, URL, SSH banners) are bytes an attacker chose. JSON and syslog
 * structured data must be UTF-8, so each byte that is not part of a valid sequence becomes '?'. */
static void clean_utf8(const char *in, char *out, size_t out_len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t used = 0;
    while (*s != '\0' && used + 1 < out_len) {
        size_t n = output_utf8_length(s);
        if (n == 0) {
            out[used++] = '?';
            s++;
            continue;
        }
        if (used + n >= out_len)
            break;
        memcpy(out + used, s, n);
        used += n;
        s += n;
    }
    out[used] = '\0';
}

static json_t *json_text(const char *text)
{
    json_t *value = json_string(text);
    if (value != NULL)
        return value;
    size_t len = strlen(text) + 1;
    char *clean = malloc(len);
    if (clean == NULL)
        return NULL;
    clean_utf8(text, clean, len);
    value = json_string(clean);
    free(clean);
    return value;
}

/* Keys are all string literals of ours, plain ASCII: jansson need not check them. */
static void set_value(json_t *object, const char *key, json_t *value)
{
    json_object_set_new_nocheck(object, key, value);
}

static void set_text(json_t *object, const char *key, const char *text)
{
    set_value(object, key, json_text(text));
}

/* Text exflow wrote itself (times, addresses, names from its own tables): ASCII by
 * construction, so jansson's UTF-8 check is skipped. Never for labels off the wire. */
static void set_own_text(json_t *object, const char *key, const char *text)
{
    set_value(object, key, json_string_nocheck(text));
}

/* Labels are omitted when empty: a key present always means something. */
static void set_label(json_t *object, const char *key, const char *text)
{
    if (text[0] != '\0')
        set_text(object, key, text);
}

static void set_uint(json_t *object, const char *key, uint64_t value)
{
    set_value(object, key, json_integer((json_int_t)value));
}

/* Numbers rounded to 3 decimals: enough for scores and seconds, stable across platforms. */
static void set_real3(json_t *object, const char *key, double value)
{
    if (!isfinite(value))
        value = 0;
    set_value(object, key, json_real(round(value * 1000.0) / 1000.0));
}

static void set_time(json_t *object, const char *key, uint64_t ts_usec)
{
    char buf[32];
    set_own_text(object, key, output_format_time(ts_usec, buf, sizeof(buf)));
}

static void set_addr(json_t *object, const char *key, int ip_version, const uint8_t *addr)
{
    char buf[64];
    set_own_text(object, key, geo_addr_to_string(ip_version, addr, buf, sizeof(buf)));
}

static void set_proto(json_t *object, uint8_t proto)
{
    char buf[8];
    set_own_text(object, "proto", output_proto_name(proto, buf, sizeof(buf)));
}

/* The head every event starts with: time, type, schema version, who wrote it and its id
 * unique across runs and sensors; the caller adds its own ids next. */
static json_t *event_head(const char *event_type, uint64_t ts_usec,
                          const struct event_identity *identity, const char *event_id)
{
    json_t *event = json_object();
    if (event == NULL)
        return NULL;
    set_time(event, "timestamp", ts_usec);
    set_own_text(event, "event_type", event_type);
    set_own_text(event, "schema_version", EVENT_SCHEMA_VERSION);
    set_text(event, "sensor", identity->sensor);
    set_own_text(event, "event_id", event_id);
    return event;
}

/* ICMP flows are keyed without type and code, which the Community ID hashes: rather than
 * a wrong id, they carry none. */
static bool has_community_id(uint8_t proto)
{
    return proto != 1 && proto != 58;
}

static void set_geo(json_t *event, const struct geo_info *info)
{
    json_t *geo = json_object();
    set_label(geo, "country_code", info->country_code);
    set_label(geo, "country_name", info->country_name);
    set_label(geo, "city", info->city);
    if (info->asn != 0)
        set_uint(geo, "asn", info->asn);
    set_label(geo, "as_org", info->as_org);
    set_value(event, "geo", geo);
}

static char *dump_event(json_t *event)
{
    if (event == NULL)
        return NULL;
    char *text = json_dumps(event, EVENT_DUMP_FLAGS);
    json_decref(event);
    return text;
}

/* The distinct-names bitmap of a DNS domain, as hex. */
static void set_hex(json_t *object, const char *key, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char text[2 * DETECT_SAVED_DNS_UNIQUE + 1];
    size_t n = 0;
    for (size_t i = 0; i < len && n + 2 < sizeof(text); i++) {
        text[n++] = digits[bytes[i] >> 4];
        text[n++] = digits[bytes[i] & 15];
    }
    text[n] = '\0';
    set_own_text(object, key, text);
}

static json_t *payload_dns_json(const struct detect_flow_evidence *ev)
{
    json_t *domains = json_array();
    for (uint32_t i = 0; i < ev->dns_domain_count && i < DETECT_SAVED_DNS_DOMAINS; i++) {
        const struct detect_saved_dns *d = &ev->dns[i];
        json_t *one = json_object();
        set_text(one, "domain", d->domain);
        set_uint(one, "queries", d->queries);
        set_uint(one, "responses", d->responses);
        set_uint(one, "long_names", d->long_names);
        set_uint(one, "odd_types", d->odd_types);
        set_uint(one, "name_bytes", d->name_bytes);
        set_uint(one, "response_bytes", d->response_bytes);
        set_value(one, "entropy_sum", json_real(d->entropy_sum));
        set_hex(one, "unique", d->unique, sizeof(d->unique));
        json_array_append_new(domains, one);
    }
    return domains;
}

static void payload_smtp_json(json_t *object, const struct detect_flow_evidence *ev)
{
    set_uint(object, "messages", ev->smtp_messages);
    set_uint(object, "recipients", ev->smtp_recipients);
    set_uint(object, "attachments", ev->smtp_attachments);
    set_uint(object, "data_bytes", ev->smtp_data_bytes);
    set_uint(object, "tls_bytes", ev->smtp_tls_bytes);
    set_value(object, "starttls", json_boolean(ev->smtp_starttls));
    set_value(object, "implicit_tls", json_boolean(ev->smtp_implicit_tls));
    set_label(object, "mail_from", ev->smtp_mail_from);
    set_label(object, "rcpt_to", ev->smtp_rcpt_to);
    set_label(object, "filename", ev->smtp_filename);
}

static void payload_icmp_json(json_t *object, const struct detect_flow_evidence *ev)
{
    set_uint(object, "echo_bytes_toserver", ev->icmp_echo_bytes[FLOW_DIR_ORIG]);
    set_uint(object, "echo_bytes_toclient", ev->icmp_echo_bytes[FLOW_DIR_RESP]);
    set_uint(object, "echo_pkts_toserver", ev->icmp_echo_packets[FLOW_DIR_ORIG]);
    set_uint(object, "echo_pkts_toclient", ev->icmp_echo_packets[FLOW_DIR_RESP]);
    set_uint(object, "odd_size_pkts", ev->icmp_odd_size_packets);
    set_uint(object, "pattern_pkts", ev->icmp_pattern_packets);
    set_uint(object, "sampled_pkts", ev->icmp_sampled_packets);
    set_value(object, "entropy_sum", json_real(ev->icmp_entropy_sum));
}

/* What detection parsed from the flow's payload (detect.h: struct detect_flow_evidence), so
 * that saved flow events can be scored again (`exflow -r EVENTS.jsonl`). Absent when the
 * flow was not parsed. Names and addresses in it come from the network. */
static void set_payload_evidence(json_t *event, const struct flow *flow)
{
    struct detect_flow_evidence ev;
    if (!detect_flow_evidence_get(flow, &ev))
        return;
    json_t *object = json_object();
    set_own_text(object, "kind", detect_payload_kind_name(ev.kind));
    switch (ev.kind) {
    case DETECT_PAYLOAD_HTTP:
        set_uint(object, "upload_requests", ev.http_upload_requests);
        set_uint(object, "upload_body_bytes", ev.http_body_bytes);
        set_label(object, "host", ev.http_host);
        set_label(object, "packed", ev.packed);
        break;
    case DETECT_PAYLOAD_FTP_DATA:
        set_value(object, "active", json_boolean(ev.ftp_active));
        set_label(object, "command", ev.ftp_command);
        set_label(object, "dest_name", ev.ftp_dest_name);
        set_label(object, "packed", ev.packed);
        break;
    case DETECT_PAYLOAD_DNS:
        set_value(object, "domains", payload_dns_json(&ev));
        break;
    case DETECT_PAYLOAD_ICMP:
        payload_icmp_json(object, &ev);
        break;
    case DETECT_PAYLOAD_SMTP:
        payload_smtp_json(object, &ev);
        break;
    default:
        break;
    }
    set_value(event, "payload_evidence", object);
}

/* The upload burst a record closes or falls in (flows.h, struct flow_burst): on burst
 * records, and on every later record of a flow that had bursts, since detection scores
 * those by the burst rather than by the record's counters. Absent otherwise, so a flow
 * without bursts is written as before. */
static void set_burst(json_t *event, const struct flow *flow, enum flow_end_reason reason)
{
    const struct flow_burst *burst = &flow->burst;
    if (reason != FLOW_END_BURST && burst->seq == 0)
        return;
    json_t *object = json_object();
    set_uint(object, "seq", burst->seq);
    set_time(object, "start", burst->start_ts_usec);
    set_uint(object, "payload_bytes_toserver", burst->payload_bytes[FLOW_DIR_ORIG]);
    set_uint(object, "payload_bytes_toclient", burst->payload_bytes[FLOW_DIR_RESP]);
    set_value(event, "burst", object);
}

char *output_flow_json(const struct output_config *config, const struct event_identity *identity,
                       const struct flow *flow, enum flow_end_reason reason)
{
    const struct flow_direction_stats *to_server = &flow->dir[FLOW_DIR_ORIG];
    const struct flow_direction_stats *to_client = &flow->dir[FLOW_DIR_RESP];
    const struct flow_labels *labels = &flow->labels;

    /* A burst record shares record_seq with the record that follows it: its burst number
     * keeps its event id apart. */
    char name[80], event_id[40];
    if (reason == FLOW_END_BURST)
        snprintf(name, sizeof(name), "flow/%" PRIu64 "/%" PRIu64 "/burst/%" PRIu64,
                 (uint64_t)flow->id, (uint64_t)flow->record_seq, (uint64_t)flow->burst.seq);
    else
        snprintf(name, sizeof(name), "flow/%" PRIu64 "/%" PRIu64, (uint64_t)flow->id,
                 (uint64_t)flow->record_seq);
    event_id_format(identity, name, event_id, sizeof(event_id));
    json_t *event = event_head("flow", flow->last_ts_usec, identity, event_id);
    if (event == NULL)
        return NULL;
    set_uint(event, "flow_id", flow->id);
    set_uint(event, "record_seq", flow->record_seq);
    char community_id[32];
    if (has_community_id(flow->proto) &&
        community_id_v1(community_id, sizeof(community_id), 0, flow->ip_version, flow->orig_addr,
                        flow->resp_addr, flow->proto, flow->orig_port, flow->resp_port) > 0)
        set_own_text(event, "community_id", community_id);
    set_time(event, "start", flow->start_ts_usec);
    set_time(event, "end", flow->last_ts_usec);
    uint64_t duration_usec = flow->last_ts_usec > flow->start_ts_usec
                             ? flow->last_ts_usec - flow->start_ts_usec : 0;
    set_value(event, "duration", json_real((double)duration_usec / USEC_PER_SEC));
    if (flow->vlan != 0)
        set_uint(event, "vlan", flow->vlan);
    set_addr(event, "src_ip", flow->ip_version, flow->orig_addr);
    set_uint(event, "src_port", flow->orig_port);
    set_addr(event, "dest_ip", flow->ip_version, flow->resp_addr);
    set_uint(event, "dest_port", flow->resp_port);
    set_proto(event, flow->proto);

    set_label(event, "master_protocol", labels->master_protocol);
    set_label(event, "app_protocol", labels->app_protocol);
    set_label(event, "category", labels->category);
    set_label(event, "server_name", labels->server_name);
    set_label(event, "http_method", labels->http_method);
    set_label(event, "http_url", labels->http_url);
    if (labels->http_status != 0)
        set_uint(event, "http_status", labels->http_status);
    set_label(event, "http_content_type", labels->http_content_type);
    set_label(event, "ssh_client", labels->ssh_client);
    set_label(event, "ssh_server", labels->ssh_server);

    set_uint(event, "pkts_toserver", to_server->packets);
    set_uint(event, "pkts_toclient", to_client->packets);
    set_uint(event, "bytes_toserver", to_server->bytes);
    set_uint(event, "bytes_toclient", to_client->bytes);
    set_uint(event, "payload_bytes_toserver", to_server->payload_bytes);
    set_uint(event, "payload_bytes_toclient", to_client->payload_bytes);
    if (flow->proto == 6)
        set_own_text(event, "tcp_state", tcp_state_name(flow->tcp_state));
    set_own_text(event, "end_reason", flow_end_reason_name(reason));

    /* The remote side is the public one; the responder wins when both are (it is where the
     * originator went), and stays the answer when neither is. */
    const uint8_t *remote = flow->resp_addr;
    enum addr_class remote_class = geo_addr_class(flow->ip_version, flow->resp_addr);
    if (remote_class != ADDR_PUBLIC &&
        geo_addr_class(flow->ip_version, flow->orig_addr) == ADDR_PUBLIC) {
        remote = flow->orig_addr;
        remote_class = ADDR_PUBLIC;
    }
    if (config->geo != NULL && remote_class == ADDR_PUBLIC) {
        struct geo_info info;
        if (geo_lookup(config->geo, flow->ip_version, remote, &info))
            set_geo(event, &info);
    }
    set_own_text(event, "remote_ip_class", geo_addr_class_name(remote_class));
    set_burst(event, flow, reason);
    set_payload_evidence(event, flow);
    return dump_event(event);
}

/* The alert's score breakdown: both models' sums, the geo bonus and every part with its
 * weight, so an analyst sees which signal carried the score. */
static json_t *score_breakdown_json(const struct score_breakdown *b)
{
    json_t *object = json_object();
    json_t *parts = json_array();
    if (object == NULL || parts == NULL) {
        json_decref(object);
        json_decref(parts);
        return NULL;
    }
    set_own_text(object, "model", b->model ? b->model : "pattern");
    set_real3(object, "pattern", b->pattern);
    set_real3(object, "bulk", b->bulk);
    set_real3(object, "geo_bonus", b->geo_bonus);
    if (b->evidence_floor > 0.0)
        set_real3(object, "evidence_floor", b->evidence_floor);
    for (uint32_t i = 0; i < b->count && i < SCORE_MAX_PARTS; i++) {
        json_t *part = json_object();
        if (part == NULL)
            continue;
        set_own_text(part, "name", b->part[i].name);
        set_own_text(part, "model", b->part[i].model);
        set_real3(part, "value", b->part[i].value);
        set_real3(part, "weight", b->part[i].weight);
        json_array_append_new(parts, part);
    }
    set_value(object, "parts", parts);
    return object;
}

void output_alert_ids(const struct event_identity *identity, const struct alert *alert,
                      struct event_ids *ids)
{
    char name[32];
    snprintf(name, sizeof(name), "alert/%" PRIu64, alert->id);
    event_id_format(identity, name, ids->event_id, sizeof(ids->event_id));
    ids->community_id[0] = '\0';
    if (has_community_id(alert->proto))
        community_id_v1(ids->community_id, sizeof(ids->community_id), 0, alert->ip_version,
                        alert->src_addr, alert->dest_addr, alert->proto, alert->src_port,
                        alert->dest_port);
}

char *output_alert_json(const struct event_identity *identity, const struct event_ids *ids,
                        const struct alert *alert)
{
    json_t *event = event_head("alert", alert->ts_usec, identity, ids->event_id);
    if (event == NULL)
        return NULL;
    set_uint(event, "alert_id", alert->id);
    set_uint(event, "flow_id", alert->flow_id);
    if (ids->community_id[0] != '\0')
        set_own_text(event, "community_id", ids->community_id);
    set_own_text(event, "severity", alert_severity_name(alert->severity));
    set_real3(event, "score", alert->score);
    set_value(event, "is_update", json_boolean(alert->is_update));
    set_addr(event, "src_ip", alert->ip_version, alert->src_addr);
    set_uint(event, "src_port", alert->src_port);
    set_addr(event, "dest_ip", alert->ip_version, alert->dest_addr);
    set_uint(event, "dest_port", alert->dest_port);
    set_proto(event, alert->proto);
    set_label(event, "dest_name", alert->dest_name);
    set_label(event, "app_protocol", alert->app_protocol);

    json_t *techniques = json_array();
    for (int i = 0; i < alert->technique_count && i < ALERT_MAX_TECHNIQUES; i++)
        if (alert->techniques[i] != NULL)
            json_array_append_new(techniques, json_text(alert->techniques[i]));
    set_value(event, "techniques", techniques);
    json_t *evidence = json_array();
    for (unsigned bit = 0; bit < EVIDENCE_COUNT; bit++)
        if (alert->evidence & (1u << bit))
            json_array_append_new(evidence, json_text(detect_evidence_name(bit)));
    set_value(event, "evidence", evidence);
    if (alert->packed_kind != NULL)
        set_label(event, "packed_kind", alert->packed_kind);
    if (alert->group[0] != '\0') {
        /* A group alert: the registered domain or network, and the destinations in it. */
        set_own_text(event, "group", alert->group);
        json_t *members = json_array();
        for (const char *p = alert->group_members; members && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(members, json_stringn_nocheck(p, len));
            p += len + (comma ? 1 : 0);
        }
        set_value(event, "group_members", members);
    }
    /* Flow or log input: what this alert could not have shown, so that an analyst does not
     * read a missing kind of evidence as its absence from the traffic. */
    if (alert->evidence_unavailable != 0) {
        json_t *unavailable = json_array();
        for (unsigned bit = 0; bit < EVIDENCE_COUNT; bit++)
            if (alert->evidence_unavailable & (1u << bit))
                json_array_append_new(unavailable, json_text(detect_evidence_name(bit)));
        set_value(event, "evidence_unavailable", unavailable);
    }

    set_uint(event, "bytes_out", alert->bytes_out);
    set_uint(event, "bytes_in", alert->bytes_in);
    set_real3(event, "pcr", alert->pcr);
    set_uint(event, "connections", alert->connections);
    set_real3(event, "period_sec", alert->period_sec);
    set_real3(event, "period_mad_sec", alert->period_mad_sec);
    set_real3(event, "beacon_score", alert->beacon_score);
    set_real3(event, "baseline_ratio", alert->baseline_ratio);
    set_real3(event, "first_seen_age_sec", alert->first_seen_age_sec);
    set_time(event, "first_seen", alert->first_ts_usec);
    set_text(event, "reason", alert->reason);
    if (alert->breakdown.count > 0)
        set_value(event, "score_breakdown", score_breakdown_json(&alert->breakdown));

    /* detect/ owns the alert's geo: it looked dest_geo up (with the same geo service) before
     * scoring, for --flag-country and country= allowlist rules. */
    if (alert->dest_geo.found)
        set_geo(event, &alert->dest_geo);
    return dump_event(event);
}

/* The stats event: the stats line's numbers, grouped by stage. Timestamp is wall time: the
 * stats describe the sensor, not the traffic. */
char *output_stats_json(const struct event_identity *identity, uint64_t seq,
                        const struct output_run_stats *stats)
{
    char name[32], event_id[40];
    snprintf(name, sizeof(name), "stats/%" PRIu64, seq);
    event_id_format(identity, name, event_id, sizeof(event_id));
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_usec = (uint64_t)now.tv_sec * USEC_PER_SEC + (uint64_t)now.tv_nsec / 1000;
    json_t *event = event_head("stats", now_usec, identity, event_id);
    if (event == NULL)
        return NULL;
    set_own_text(event, "run_id", identity->run_id_text);
    set_uint(event, "uptime_sec", stats->uptime_sec);

    json_t *capture = json_object();
    set_uint(capture, "packets", stats->packets);
    set_uint(capture, "bytes", stats->bytes);
    set_uint(capture, "decoded", stats->decoded);
    set_uint(capture, "skipped", stats->skipped);
    set_uint(capture, "read_errors", stats->read_errors);
    set_uint(capture, "pcap_received", stats->pcap_received);
    set_uint(capture, "pcap_dropped", stats->pcap_dropped);
    set_uint(capture, "pcap_if_dropped", stats->pcap_if_dropped);
    set_value(event, "capture", capture);

    json_t *flows = json_object();
    set_uint(flows, "active", stats->flows_active);
    set_uint(flows, "created", stats->flows_created);
    set_uint(flows, "evicted", stats->flows_evicted);
    set_uint(flows, "memory_bytes", stats->flow_memory_bytes);
    set_uint(flows, "clock_steps_back", stats->flow_clock_steps_back);
    set_uint(flows, "bursts", stats->flow_bursts);
    set_value(event, "flows", flows);

    json_t *detect = json_object();
    const struct detect_stats *ds = &stats->detect;
    set_uint(detect, "records", ds->records);
    set_uint(detect, "outbound", ds->outbound);
    set_uint(detect, "findings", ds->findings);
    set_uint(detect, "group_findings", ds->group_findings);
    set_uint(detect, "below_threshold", ds->below_threshold);
    set_uint(detect, "learning", ds->learning);
    set_uint(detect, "allowlisted", ds->allowlisted);
    set_uint(detect, "suppressed", ds->suppressed);
    set_uint(detect, "alerts", ds->alerts);
    set_value(event, "detect", detect);
    if (stats->shared_state) {
        json_t *shared = json_object();
        set_uint(shared, "errors", stats->shared_state_errors);
        set_uint(shared, "queued", stats->shared_state_queued);
        set_uint(shared, "dropped", stats->shared_state_dropped);
        set_uint(shared, "learned", stats->shared_state_learned);
        set_value(event, "shared_state", shared);
    }

    const struct output_stats *os = &stats->output;
    json_t *output = json_object();
    set_uint(output, "flows_written", os->flows_written);
    set_uint(output, "alerts_written", os->alerts_written);
    set_uint(output, "syslog_sent", os->syslog_sent);
    set_uint(output, "syslog_retried", os->syslog_retried);
    set_uint(output, "syslog_spooled", os->syslog_spooled);
    set_uint(output, "syslog_dropped", os->syslog_dropped);
    set_uint(output, "syslog_corrupt", os->syslog_corrupt);
    set_uint(output, "syslog_queue_frames", os->syslog_queue_frames);
    set_uint(output, "syslog_spool_bytes", os->syslog_spool_bytes);
    set_uint(output, "write_errors", os->write_errors);
    set_value(event, "output", output);

    json_t *cpu = json_object();
    set_real3(cpu, "capture_sec", stats->cpu_capture_sec);
    set_real3(cpu, "workers_sec", stats->cpu_workers_sec);
    set_real3(cpu, "busiest_worker_sec", stats->cpu_busiest_worker_sec);
    set_real3(cpu, "consumer_sec", stats->cpu_consumer_sec);
    set_value(event, "cpu", cpu);
    set_uint(event, "max_rss_kib", stats->max_rss_kib > 0 ? (uint64_t)stats->max_rss_kib : 0);
    return dump_event(event);
}
