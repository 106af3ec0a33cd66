/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/syslog.c: alerts to a SIEM as RFC 5424 syslog messages, over UDP (one datagram
 * each, best effort) or TCP (RFC 6587 octet counting, with the on-disk spool of spool.c), the
 * latter in clear, inside TLS (syslog_tls.c) or as RELP commands (relp.c) that the collector
 * acknowledges one by one. docs/siem.md says what each guarantees.
 *
 * Nothing here may block packet processing: sockets are non-blocking, connect() is finished
 * by output_tick, and what the socket will not take now waits in the spool.
 *
 * Delivery over TCP: every frame is appended to the spool first, then written to the socket
 * from there. A frame counts as delivered (syslog_sent) only once the collector's TCP stack
 * acknowledged all of its bytes (SIOCOUTQ: bytes written but not yet acknowledged), and only
 * then leaves the spool. When the connection dies, everything after the last acknowledged
 * frame is sent again on the next connection. XXX: what the collector's kernel acknowledged
 * but its program never read (a collector that crashes or resets with a full receive buffer)
 * is lost, and plain TCP cannot tell: at most one receive window of alerts. RELP closes it.
 */
#include "output_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tunables.h"

#define SYSLOG_CONNECT_TIMEOUT_MS 10000 /* a SYN into a black hole: give up and back off */
#define SYSLOG_SEND_BUFFER (2 * SPOOL_MAX_RECORD) /* frames read from the spool per batch */

/* ---- RFC 5424 formatting ---- */

int syslog_severity(enum alert_severity severity)
{
    switch (severity) {
    case SEVERITY_CRITICAL: return 2; /* crit */
    case SEVERITY_HIGH: return 3;     /* err */
    case SEVERITY_MEDIUM: return 4;   /* warning */
    case SEVERITY_LOW:
    default: return 5;                /* notice */
    }
}

/* "5,4,3,2" -> the syslog severity for low, medium, high, critical; NULL gives the default. */
bool syslog_parse_severities(const char *text, int map[SEVERITY_CRITICAL + 1], char *err,
                             size_t err_len)
{
    for (int s = SEVERITY_LOW; s <= SEVERITY_CRITICAL; s++)
        map[s] = syslog_severity((enum alert_severity)s);
    if (text == NULL)
        return true;
    const char *p = text;
    for (int s = SEVERITY_LOW; s <= SEVERITY_CRITICAL; s++) {
        if (*p < '0' || *p > '7' || (p[1] != (s == SEVERITY_CRITICAL ? '\0' : ','))) {
            snprintf(err, err_len, "--syslog-severities %s: expected four syslog severities "
                     "0-7 for low,medium,high,critical (e.g. 5,4,3,2)", text);
            return false;
        }
        map[s] = *p - '0';
        p += 2;
    }
    return true;
}

static bool append(char *buf, size_t cap, size_t *len, const char *text, size_t text_len)
{
    if (*len + text_len >= cap)
        return false;
    memcpy(buf + *len, text, text_len);
    *len += text_len;
    buf[*len] = '\0';
    return true;
}

static bool append_str(char *buf, size_t cap, size_t *len, const char *text)
{
    return append(buf, cap, len, text, strlen(text));
}

bool syslog_append_param(char *buf, size_t cap, size_t *len, const char *name, const char *value)
{
    size_t start = *len;
    bool ok = append_str(buf, cap, len, " ") && append_str(buf, cap, len, name) &&
              append_str(buf, cap, len, "=\"");
    /* RFC 5424 6.3.3: '"', '\' and ']' must be escaped with a backslash inside PARAM-VALUE. */
    for (const char *p = value; ok && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || *p == ']')
            ok = append(buf, cap, len, "\\", 1);
        ok = ok && append(buf, cap, len, p, 1);
    }
    ok = ok && append_str(buf, cap, len, "\"");
    if (!ok) {
        *len = start;
        if (cap > 0)
            buf[start] = '\0';
    }
    return ok;
}

/* Keeps the printable US-ASCII of a header field (RFC 5424 6.2: PRINTUSASCII, %d33-126). */
static void header_field(char *out, size_t out_len, const char *in, size_t max)
{
    size_t used = 0;
    for (const char *p = in ? in : ""; *p != '\0' && used + 1 < out_len && used < max; p++)
        if (*p >= 33 && *p <= 126)
            out[used++] = *p;
    if (used == 0)
        out[used++] = '-'; /* NILVALUE */
    out[used] = '\0';
}

size_t syslog_format(char *buf, size_t cap, const struct syslog_header *header,
                     const char *structured_data, const char *message)
{
    char timestamp[32], hostname[256], msgid[33];
    output_format_time(header->ts_usec, timestamp, sizeof(timestamp));
    header_field(hostname, sizeof(hostname), header->hostname, 255);
    header_field(msgid, sizeof(msgid), header->msgid, 32);
    int pri = header->facility * 8 + header->severity;
    int n = snprintf(buf, cap, "<%d>1 %s %s exflow %ld %s %s", pri, timestamp, hostname,
                     header->procid, msgid, structured_data ? structured_data : "-");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    if (message != NULL && message[0] != '\0') {
        /* RFC 5424 6.4: a UTF-8 MSG starts with a BOM; a pure ASCII one needs none. */
        bool ascii = true;
        for (const unsigned char *p = (const unsigned char *)message; *p != '\0' && ascii; p++)
            ascii = *p < 0x80;
        if (!append_str(buf, cap, &len, ascii ? " " : " \xef\xbb\xbf") ||
            !append_str(buf, cap, &len, message))
            return 0;
    }
    return len;
}

/* Comma-joined techniques and evidence names, for SD and CEF. */
static void join_techniques(const struct alert *alert, char *out, size_t out_len)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < alert->technique_count && i < ALERT_MAX_TECHNIQUES; i++) {
        if (alert->techniques[i] == NULL)
            continue;
        if (len > 0)
            append_str(out, out_len, &len, ",");
        append_str(out, out_len, &len, alert->techniques[i]);
    }
}

static void join_evidence(uint32_t evidence, char *out, size_t out_len)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned bit = 0; bit < EVIDENCE_COUNT; bit++) {
        if (!(evidence & (1u << bit)))
            continue;
        if (len > 0)
            append_str(out, out_len, &len, ",");
        append_str(out, out_len, &len, detect_evidence_name(bit));
    }
}

/* THREAT: names come from packets. Control and non-ASCII bytes become '?', so an SD value or
 * a CEF field is always valid UTF-8 (RFC 5424 6.3.3) and never carries a line break. */
static void clean_text(const char *in, char *out, size_t out_len)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && used + 1 < out_len; p++)
        out[used++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
    out[used] = '\0';
}

size_t syslog_alert_sd(char *buf, size_t cap, const struct alert *alert)
{
    char number[64], addr[64], text[FLOW_NAME_LEN], list[256];
    size_t len = 0;
    bool ok = append_str(buf, cap, &len, "[" SYSLOG_SD_ID);
#define PARAM(name, value) (ok = ok && syslog_append_param(buf, cap, &len, name, value))
    snprintf(number, sizeof(number), "%" PRIu64, alert->id);
    PARAM("alert_id", number);
    PARAM("severity", alert_severity_name(alert->severity));
    snprintf(number, sizeof(number), "%.3f", alert->score);
    PARAM("score", number);
    PARAM("src_ip", geo_addr_to_string(alert->ip_version, alert->src_addr, addr, sizeof(addr)));
    PARAM("dest_ip", geo_addr_to_string(alert->ip_version, alert->dest_addr, addr, sizeof(addr)));
    snprintf(number, sizeof(number), "%u", alert->dest_port);
    PARAM("dest_port", number);
    PARAM("proto", output_proto_name(alert->proto, number, sizeof(number)));
    if (alert->dest_name[0] != '\0') {
        clean_text(alert->dest_name, text, sizeof(text));
        PARAM("dest_name", text);
    }
    if (alert->app_protocol[0] != '\0') {
        clean_text(alert->app_protocol, text, sizeof(text));
        PARAM("app_protocol", text);
    }
    join_techniques(alert, list, sizeof(list));
    PARAM("techniques", list);
    join_evidence(alert->evidence, list, sizeof(list));
    PARAM("evidence", list);
    if (alert->evidence_unavailable != 0) {   /* flow or log input: what it could not show */
        join_evidence(alert->evidence_unavailable, list, sizeof(list));
        PARAM("evidence_unavailable", list);
    }
    snprintf(number, sizeof(number), "%" PRIu64, alert->bytes_out);
    PARAM("bytes_out", number);
    snprintf(number, sizeof(number), "%u", alert->connections);
    PARAM("connections", number);
    if (alert->dest_geo.country_code[0] != '\0')
        PARAM("country_code", alert->dest_geo.country_code);
    if (alert->dest_geo.asn != 0) {
        snprintf(number, sizeof(number), "%" PRIu32, alert->dest_geo.asn);
        PARAM("asn", number);
    }
#undef PARAM
    ok = ok && append_str(buf, cap, &len, "]");
    return ok ? len : 0;
}

/* CEF header fields escape '\\' and '|' (ArcSight CEF spec, "Character encoding"). */
static bool cef_header_field(char *buf, size_t cap, size_t *len, const char *value)
{
    bool ok = true;
    for (const char *p = value; ok && *p != '\0'; p++) {
        if (*p == '\\' || *p == '|')
            ok = append(buf, cap, len, "\\", 1);
        if (*p == '\r' || *p == '\n')
            ok = ok && append(buf, cap, len, " ", 1);
        else
            ok = ok && append(buf, cap, len, p, 1);
    }
    return ok && append(buf, cap, len, "|", 1);
}

/* CEF extension values escape '\\' and '=', and write newlines as \n and \r. Text is UTF-8,
 * as the CEF spec allows: valid sequences (the "±" of a reason) pass intact.
 * THREAT: names come from packets: other control bytes and bytes that are not valid UTF-8
 * become '?', so a value never breaks the line or the collector's decoder. */
static bool cef_extension(char *buf, size_t cap, size_t *len, const char *key, const char *value)
{
    bool ok = (*len == 0 || buf[*len - 1] == '|' || append(buf, cap, len, " ", 1)) &&
              append_str(buf, cap, len, key) && append(buf, cap, len, "=", 1);
    const unsigned char *p = (const unsigned char *)value;
    while (ok && *p != '\0') {
        size_t n = output_utf8_length(p);
        if (*p == '\\' || *p == '=')
            ok = append(buf, cap, len, "\\", 1) && append(buf, cap, len, (const char *)p, 1);
        else if (*p == '\n')
            ok = append_str(buf, cap, len, "\\n");
        else if (*p == '\r')
            ok = append_str(buf, cap, len, "\\r");
        else if (n == 0 || *p < 0x20 || *p == 0x7f)
            ok = append(buf, cap, len, "?", 1);
        else
            ok = append(buf, cap, len, (const char *)p, n);
        p += n > 0 ? n : 1;
    }
    return ok;
}

/* CEF severity 0-10. */
static const char *cef_severity(enum alert_severity severity)
{
    switch (severity) {
    case SEVERITY_CRITICAL: return "10";
    case SEVERITY_HIGH: return "8";
    case SEVERITY_MEDIUM: return "5";
    case SEVERITY_LOW:
    default: return "3";
    }
}

/* Most specific first: where the data went (cloud storage, another protocol, the C2
 * channel) says more than when (scheduled) or that it was automated, which every alert is. */
const char *syslog_main_technique(const struct alert *alert)
{
    static const char *const preference[] = { "T1567.002", "T1048.002", "T1048.003", "T1048",
                                               "T1041", "T1029", "T1020" };
    for (size_t p = 0; p < sizeof(preference) / sizeof(preference[0]); p++)
        for (int i = 0; i < alert->technique_count && i < ALERT_MAX_TECHNIQUES; i++)
            if (alert->techniques[i] != NULL && strcmp(alert->techniques[i], preference[p]) == 0)
                return preference[p];
    if (alert->technique_count > 0 && alert->techniques[0] != NULL)
        return alert->techniques[0];
    return "exfiltration";
}

/* The CEF Name: what the technique means, for analysts reading the SIEM's list. */
static const char *cef_name(const char *technique)
{
    static const struct { const char *id, *name; } names[] = {
        { "T1567.002", "Exfiltration to cloud storage" },
        { "T1048.002", "Exfiltration over asymmetric encrypted non-C2 protocol" },
        { "T1048.003", "Exfiltration over unencrypted non-C2 protocol" },
        { "T1048", "Exfiltration over alternative protocol" },
        { "T1041", "Exfiltration over C2 channel" },
        { "T1029", "Scheduled transfer" },
        { "T1020", "Automated exfiltration" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].id, technique) == 0)
            return names[i].name;
    return "Data exfiltration";
}

size_t syslog_alert_cef(char *buf, size_t cap, const struct alert *alert,
                        const struct event_ids *ids, const char *sensor)
{
    char number[64], addr[64], list[256], name[128];
    size_t len = 0;
    join_techniques(alert, list, sizeof(list));
    /* Signature ID: the main ATT&CK technique, the stable key SIEM rules match on. */
    const char *signature = syslog_main_technique(alert);
    snprintf(name, sizeof(name), "%s%s", cef_name(signature), alert->is_update ? " (update)" : "");
    bool ok = append_str(buf, cap, &len, "CEF:0|") && cef_header_field(buf, cap, &len, "exflow") &&
              cef_header_field(buf, cap, &len, "exflow") &&
              cef_header_field(buf, cap, &len, EXFLOW_VERSION) &&
              cef_header_field(buf, cap, &len, signature) &&
              cef_header_field(buf, cap, &len, name) &&
              cef_header_field(buf, cap, &len, cef_severity(alert->severity));
#define EXT(key, value) (ok = ok && cef_extension(buf, cap, &len, key, value))
    snprintf(number, sizeof(number), "%" PRIu64, alert->ts_usec / 1000);
    EXT("rt", number);
    /* externalId stays the number of the alert in its run: some SIEMs (Sentinel's
     * CommonSecurityLog) type it as an integer. The unique event id goes in cs4. */
    snprintf(number, sizeof(number), "%" PRIu64, alert->id);
    EXT("externalId", number);
    if (sensor != NULL)
        EXT("dvchost", sensor);
    EXT("src", geo_addr_to_string(alert->ip_version, alert->src_addr, addr, sizeof(addr)));
    snprintf(number, sizeof(number), "%u", alert->src_port);
    EXT("spt", number);
    EXT("dst", geo_addr_to_string(alert->ip_version, alert->dest_addr, addr, sizeof(addr)));
    snprintf(number, sizeof(number), "%u", alert->dest_port);
    EXT("dpt", number);
    EXT("proto", output_proto_name(alert->proto, number, sizeof(number)));
    if (alert->dest_name[0] != '\0')
        EXT("dhost", alert->dest_name);
    if (alert->app_protocol[0] != '\0')
        EXT("app", alert->app_protocol);
    snprintf(number, sizeof(number), "%" PRIu64, alert->bytes_out);
    EXT("out", number);
    snprintf(number, sizeof(number), "%" PRIu64, alert->bytes_in);
    EXT("in", number);
    snprintf(number, sizeof(number), "%u", alert->connections);
    EXT("cnt", number);
    EXT("cs1Label", "techniques");
    EXT("cs1", list);
    join_evidence(alert->evidence, list, sizeof(list));
    EXT("cs2Label", "evidence");
    EXT("cs2", list);
    if (ids != NULL && ids->community_id[0] != '\0') {
        EXT("cs3Label", "communityId");
        EXT("cs3", ids->community_id);
    }
    if (ids != NULL) {
        EXT("cs4Label", "eventId");
        EXT("cs4", ids->event_id);
    }
    EXT("cn1Label", "score_milli");
    snprintf(number, sizeof(number), "%.0f", alert->score * 1000.0);
    EXT("cn1", number);
    EXT("msg", alert->reason);
#undef EXT
    return ok ? len : 0;
}

size_t syslog_frame(char *buf, size_t cap, const char *message, size_t message_len)
{
    int n = snprintf(buf, cap, "%zu ", message_len);
    if (n < 0 || (size_t)n + message_len > cap)
        return 0;
    memcpy(buf + n, message, message_len);
    return (size_t)n + message_len;
}

/* ---- the sink ---- */

enum syslog_state {
    SYSLOG_DISCONNECTED,
    SYSLOG_RESOLVING,     /* the host name is looked up again before each connection */
    SYSLOG_CONNECTING,
    SYSLOG_HANDSHAKING,   /* tls:// only: nothing is written before the certificate verified */
    SYSLOG_RELP_OPENING,  /* relp:// only: the session offer waits for the collector's 200 */
    SYSLOG_CONNECTED,
};

#define SYSLOG_TLS_MARKS 256 /* TLS records in flight whose ends are remembered */
/* XXX: a collector refuses a client (no client certificate where one is required, or one it
 * does not accept) only after the client's side of the handshake is over, in TLS 1.3 and
 * with rsyslog in 1.2 too. Alerts written at once would be acknowledged by its kernel and
 * then thrown away. Waiting this long after the handshake lets the refusal arrive first. */
#define SYSLOG_TLS_SETTLE_MS 300
#define RELP_WINDOW 128            /* messages sent and not yet acknowledged, as librelp's */
#define RELP_IN_BUFFER 8192        /* the collector's replies are short */
#define RELP_TXNR_MAX 999999999u   /* transaction numbers wrap to 1 after this */

struct syslog_sink {
    struct sink base;
    const struct output_config *config;
    bool tcp;
    bool use_tls;                      /* tls://: TCP with RFC 5425 */
    bool relp;                         /* relp://: TCP with application acknowledgements */
    bool cef;
    int facility;
    int severity_map[SEVERITY_CRITICAL + 1]; /* syslog severity per alert severity */
    char hostname[256];
    long procid;
    char target[300];                  /* "tcp://host:port", for messages */
    char host[256], port[16];
    /* A DNS lookup of the collector may take seconds and must not stall the thread that
     * writes alerts: it runs on a thread of its own, which writes only the fields below,
     * under resolve_lock, and is joined before the next lookup or the sink's end. */
    pthread_t resolve_thread;
    pthread_mutex_t resolve_lock;
    bool resolve_done;                 /* under resolve_lock */
    int resolve_status;                /* under resolve_lock: getaddrinfo's */
    struct sockaddr_storage resolved;  /* under resolve_lock */
    socklen_t resolved_len;            /* under resolve_lock */
    struct sockaddr_storage address;
    socklen_t address_len;
    int fd;

    /* TCP only. Stream positions are spool offsets. */
    enum syslog_state state;
    uint64_t state_since_ms;           /* when CONNECTING began */
    uint64_t next_attempt_ms;
    uint32_t backoff_ms;
    bool outage_logged;                /* one warning per outage, one notice when it ends */
    uint64_t send_position;            /* spool offset after the frames read into out */
    uint64_t written;                  /* frame bytes written on this connection */
    uint64_t attributed;               /* of which frames already marked delivered */
    /* tls://: where each TLS record ended in the socket, and the frame bytes it carried up to
     * then, so acknowledged socket bytes map back to frames. A ring; when full, the newest
     * mark moves forward, which can only delay a frame's confirmation, never advance it. */
    struct { uint64_t socket_end, written; } marks[SYSLOG_TLS_MARKS];
    size_t mark_head, mark_count;
    uint64_t tls_confirmed;            /* frame bytes the collector acknowledged */
    uint64_t tls_settle_until_ms;      /* nothing written before: see SYSLOG_TLS_SETTLE_MS */
    struct syslog_tls *tls;            /* tls:// only */
    /* relp:// only: the frame (wire) length of each message sent and not yet acknowledged,
     * oldest first, and the transaction number of the oldest. */
    uint32_t relp_wire[RELP_WINDOW];
    size_t relp_head, relp_count;
    uint32_t relp_oldest_txnr, relp_next_txnr;
    uint64_t relp_confirmed;           /* wire bytes of the acknowledged messages */
    size_t relp_in_len;
    char relp_in[RELP_IN_BUFFER];      /* replies not yet parsed */
    char relp_scratch[SPOOL_MAX_RECORD]; /* frames read from the spool, before RELP framing */
    uint64_t corrupt_seen;             /* spool.corrupt_frames already in the stats */
    size_t out_len, out_sent;          /* frames read from the spool, and how much went out */
    char out[SYSLOG_SEND_BUFFER];
    uint64_t last_checkpoint_ms;
    bool spool_full_warned;
    bool spool_error_warned;           /* a failed spool write (full disk), said once */
    struct spool spool;
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Parses udp://, tcp:// or tls://HOST:PORT (HOST may be [IPv6]). */
static bool parse_url(struct syslog_sink *sink, const char *url, char *err, size_t err_len)
{
    const char *rest;
    if (strncmp(url, "udp://", 6) == 0) {
        sink->tcp = false;
    } else if (strncmp(url, "tcp://", 6) == 0) {
        sink->tcp = true;
    } else if (strncmp(url, "tls://", 6) == 0) {
        sink->tcp = sink->use_tls = true;
    } else if (strncmp(url, "relp://", 7) == 0) {
        sink->tcp = sink->relp = true;
    } else {
        snprintf(err, err_len, "--syslog %s: give udp://HOST:PORT, tcp://HOST:PORT, "
                 "tls://HOST:PORT or relp://HOST:PORT", url);
        return false;
    }
    rest = strstr(url, "://") + 3;
    char host[256], port[16];
    const char *colon;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, err_len, "--syslog %s: an IPv6 host is written [ADDRESS]:PORT", url);
            return false;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(close - rest - 1), rest + 1);
        colon = close + 1;
    } else {
        colon = strrchr(rest, ':');
        if (colon == NULL || colon == rest || (size_t)(colon - rest) >= sizeof(host)) {
            snprintf(err, err_len, "--syslog %s: the port is missing (HOST:PORT)", url);
            return false;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - rest), rest);
    }
    char *end;
    long number = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || number < 1 || number > 65535) {
        snprintf(err, err_len, "--syslog %s: the port must be 1-65535", url);
        return false;
    }
    snprintf(port, sizeof(port), "%ld", number);
    snprintf(sink->host, sizeof(sink->host), "%s", host);
    snprintf(sink->port, sizeof(sink->port), "%s", port);
    snprintf(sink->target, sizeof(sink->target), "%s", url);
    return true;
}

/* Resolves the collector now (set-up only: it may block); why: the reason it failed. */
static bool resolve_now(struct syslog_sink *sink, char *why, size_t why_len)
{
    struct addrinfo hints = { .ai_socktype = sink->tcp ? SOCK_STREAM : SOCK_DGRAM };
    struct addrinfo *result = NULL;
    int status = getaddrinfo(sink->host, sink->port, &hints, &result);
    if (status != 0) {
        snprintf(why, why_len, "cannot resolve %s: %s", sink->host, gai_strerror(status));
        return false;
    }
    memcpy(&sink->address, result->ai_addr, result->ai_addrlen);
    sink->address_len = result->ai_addrlen;
    freeaddrinfo(result);
    return true;
}

/* Frames whose bytes the collector's TCP stack acknowledged are delivered: they leave the
 * spool and count as sent. */
/* Frame bytes of this connection the collector's TCP stack acknowledged, given the
 * socket's unacknowledged byte count. */
static uint64_t tcp_confirmed_bytes(struct syslog_sink *sink, uint64_t unacked)
{
    if (sink->relp)
        return sink->relp_confirmed; /* the collector's own "rsp 200", not its kernel's */
    if (sink->tls == NULL)
        return unacked <= sink->written ? sink->written - unacked : 0;
    uint64_t pushed = syslog_tls_pushed(sink->tls);
    uint64_t socket_acked = unacked <= pushed ? pushed - unacked : 0;
    while (sink->mark_count > 0 && sink->marks[sink->mark_head].socket_end <= socket_acked) {
        sink->tls_confirmed = sink->marks[sink->mark_head].written;
        sink->mark_head = (sink->mark_head + 1) % SYSLOG_TLS_MARKS;
        sink->mark_count--;
    }
    return sink->tls_confirmed;
}

/* After a TLS write: the frame bytes written so far are all inside records now in the
 * socket, up to its current end. */
static void tls_mark(struct syslog_sink *sink)
{
    size_t at;
    if (sink->mark_count == SYSLOG_TLS_MARKS) {
        at = (sink->mark_head + sink->mark_count - 1) % SYSLOG_TLS_MARKS;
    } else {
        at = (sink->mark_head + sink->mark_count) % SYSLOG_TLS_MARKS;
        sink->mark_count++;
    }
    sink->marks[at].socket_end = syslog_tls_pushed(sink->tls);
    sink->marks[at].written = sink->written;
}

/* Frames whose bytes the collector's TCP stack acknowledged are delivered: they leave the
 * spool and count as sent. */
static void tcp_update_acked(struct syslog_sink *sink)
{
    int unacked = 0;
    if (sink->fd < 0 || (!sink->relp && (ioctl(sink->fd, SIOCOUTQ, &unacked) != 0 || unacked < 0)))
        return;
    uint64_t confirmed = tcp_confirmed_bytes(sink, (uint64_t)unacked);
    if (confirmed <= sink->attributed)
        return;
    uint64_t used = 0;
    sink->base.stats->syslog_sent += spool_ack_wire(&sink->spool, confirmed - sink->attributed,
                                                    sink->send_position, &used);
    sink->attributed += used;
}

/* The next connection starts again from the first frame not acknowledged. */
static void tcp_rewind(struct syslog_sink *sink)
{
    sink->send_position = sink->spool.delivered;
    sink->written = sink->attributed = sink->tls_confirmed = 0;
    sink->mark_head = sink->mark_count = 0;
    sink->out_len = sink->out_sent = 0;
    sink->relp_head = sink->relp_count = 0;
    sink->relp_oldest_txnr = sink->relp_next_txnr = 2; /* 1 is the session offer */
    sink->relp_confirmed = 0;
}

static void tcp_schedule_retry(struct syslog_sink *sink, uint64_t now)
{
    sink->state = SYSLOG_DISCONNECTED;
    sink->next_attempt_ms = now + sink->backoff_ms;
    sink->backoff_ms = sink->backoff_ms * 2 > SYSLOG_BACKOFF_MAX_MS ? SYSLOG_BACKOFF_MAX_MS
                                                                    : sink->backoff_ms * 2;
}

/* The connection is gone: what it did not acknowledge is sent again on the next one. */
static void tcp_connection_lost(struct syslog_sink *sink, const char *why)
{
    uint64_t now = monotonic_ms();
    char explained[768];
    if (sink->tls != NULL && sink->state == SYSLOG_CONNECTED && now < sink->tls_settle_until_ms) {
        snprintf(explained, sizeof(explained), "%s right after the TLS handshake: the "
                 "collector refused this client (does it require a client certificate it "
                 "trusts? see --syslog-cert)", why);
        why = explained;
    }
    if (sink->state == SYSLOG_CONNECTED)
        tcp_update_acked(sink);
    /* Written to this connection, not acknowledged: they go out again on the next one. */
    sink->base.stats->syslog_retried += sink->relp ? sink->relp_count
                                        : spool_frames_touched(&sink->spool,
                                                               sink->written - sink->attributed);
    if (sink->tls != NULL)
        syslog_tls_end(sink->tls);
    if (sink->fd >= 0)
        close(sink->fd);
    sink->fd = -1;
    if (!sink->outage_logged) {
        sink->outage_logged = true;
        LOG_WARN("syslog collector %s: %s; alerts wait in the spool %s and are sent when it is "
                 "back", sink->target, why, sink->spool.path);
    }
    tcp_rewind(sink);
    tcp_schedule_retry(sink, now);
}

static void tcp_connected(struct syslog_sink *sink)
{
    if (sink->relp && sink->state != SYSLOG_RELP_OPENING) {
        /* The offer is the first bytes of a fresh connection: the socket takes it whole. */
        char offer[256];
        size_t len = relp_encode_open(offer, sizeof(offer));
        tcp_rewind(sink);
        sink->relp_in_len = 0;
        if (send(sink->fd, offer, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
            tcp_connection_lost(sink, "cannot send the RELP session offer");
            return;
        }
        sink->state = SYSLOG_RELP_OPENING;
        sink->state_since_ms = monotonic_ms();
        return;
    }
    if (sink->tls != NULL && sink->state != SYSLOG_HANDSHAKING) {
        char why[512];
        if (!syslog_tls_start(sink->tls, sink->fd, why, sizeof(why))) {
            tcp_connection_lost(sink, why);
            return;
        }
        sink->state = SYSLOG_HANDSHAKING;
        sink->state_since_ms = monotonic_ms();
        return;
    }
    sink->state = SYSLOG_CONNECTED;
    sink->backoff_ms = SYSLOG_BACKOFF_MIN_MS;
    tcp_rewind(sink);
    if (sink->outage_logged) {
        sink->outage_logged = false;
        LOG_INFO("syslog collector %s is back; sending %zu spooled alerts", sink->target,
                 spool_pending_frames(&sink->spool));
    }
}

static void tcp_start_connect(struct syslog_sink *sink);

/* Looks the collector's name up again, without waiting: a collector that moved (DNS
 * fail-over, a new address) is found on the next reconnect, as rsyslog's omfwd does. */
static void *resolve_main(void *context)
{
    struct syslog_sink *sink = context;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *result = NULL;
    int status = getaddrinfo(sink->host, sink->port, &hints, &result);
    pthread_mutex_lock(&sink->resolve_lock);
    sink->resolve_status = status != 0 ? status : result == NULL ? EAI_NONAME : 0;
    if (status == 0 && result != NULL) {
        memcpy(&sink->resolved, result->ai_addr, result->ai_addrlen);
        sink->resolved_len = result->ai_addrlen;
    }
    sink->resolve_done = true;
    pthread_mutex_unlock(&sink->resolve_lock);
    if (result != NULL)
        freeaddrinfo(result);
    return NULL;
}

static void tcp_start_resolve(struct syslog_sink *sink)
{
    sink->resolve_done = false;
    int rc = pthread_create(&sink->resolve_thread, NULL, resolve_main, sink);
    if (rc != 0) {
        tcp_connection_lost(sink, strerror(rc));
        return;
    }
    sink->state = SYSLOG_RESOLVING;
}

/* Connects once the lookup is done; a name that does not resolve is retried with back-off,
 * the alerts waiting in the spool meanwhile. */
static void tcp_check_resolve(struct syslog_sink *sink)
{
    pthread_mutex_lock(&sink->resolve_lock);
    bool done = sink->resolve_done;
    int status = sink->resolve_status;
    if (done && status == 0) {
        memcpy(&sink->address, &sink->resolved, sizeof(sink->address));
        sink->address_len = sink->resolved_len;
    }
    pthread_mutex_unlock(&sink->resolve_lock);
    if (!done)
        return;
    pthread_join(sink->resolve_thread, NULL);
    sink->state = SYSLOG_DISCONNECTED;
    if (status != 0) {
        char why[512];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", sink->host, gai_strerror(status));
        tcp_connection_lost(sink, why);
        return;
    }
    tcp_start_connect(sink);
}

/* A lookup still running writes into the sink: it is waited for (at most the resolver's
 * own time-out) before the sink goes away. */
static void tcp_stop_resolve(struct syslog_sink *sink)
{
    if (sink->state != SYSLOG_RESOLVING)
        return;
    pthread_join(sink->resolve_thread, NULL);
    sink->state = SYSLOG_DISCONNECTED;
}

static void tcp_start_connect(struct syslog_sink *sink)
{
    uint64_t now = monotonic_ms();
    sink->fd = socket(sink->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sink->fd < 0) {
        tcp_connection_lost(sink, strerror(errno));
        return;
    }
    if (connect(sink->fd, (const struct sockaddr *)&sink->address, sink->address_len) == 0) {
        tcp_connected(sink);
    } else if (errno == EINPROGRESS) {
        sink->state = SYSLOG_CONNECTING;
        sink->state_since_ms = now;
    } else {
        tcp_connection_lost(sink, strerror(errno));
    }
}

/* Finishes a non-blocking connect without waiting. */
static void tcp_check_connect(struct syslog_sink *sink)
{
    struct pollfd pfd = { .fd = sink->fd, .events = POLLOUT };
    if (poll(&pfd, 1, 0) <= 0) {
        if (monotonic_ms() - sink->state_since_ms > SYSLOG_CONNECT_TIMEOUT_MS)
            tcp_connection_lost(sink, "connect timed out");
        return;
    }
    int error = 0;
    socklen_t error_len = sizeof(error);
    if (getsockopt(sink->fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0)
        error = errno;
    if (error != 0)
        tcp_connection_lost(sink, strerror(error));
    else
        tcp_connected(sink);
}

/* Goes on with the TLS handshake without waiting; the connection counts only once the
 * collector's certificate verified. */
static void tls_check_handshake(struct syslog_sink *sink)
{
    char why[1024];
    int done = syslog_tls_handshake(sink->tls, why, sizeof(why));
    if (done > 0) {
        sink->tls_settle_until_ms = monotonic_ms() + SYSLOG_TLS_SETTLE_MS;
        tcp_connected(sink);
    }
    else if (done < 0)
        tcp_connection_lost(sink, why);
    else if (monotonic_ms() - sink->state_since_ms > SYSLOG_CONNECT_TIMEOUT_MS)
        tcp_connection_lost(sink, "TLS handshake timed out");
}

/* One reply of the collector: "rsp" to the offer or to the oldest message in flight, or
 * "serverclose". False when the session is over (then handled here). */
static bool relp_handle(struct syslog_sink *sink, const struct relp_frame *frame)
{
    char why[256];
    int code = relp_response_code(frame);
    int shown = frame->data_len > 120 ? 120 : (int)frame->data_len;
    if (strcmp(frame->command, "serverclose") == 0) {
        tcp_connection_lost(sink, "the collector closed the RELP session");
        return false;
    }
    if (sink->state == SYSLOG_RELP_OPENING && frame->txnr == 1) {
        if (code == 200) {
            tcp_connected(sink);
            return true;
        }
        snprintf(why, sizeof(why), "the collector refused the RELP session: %.*s", shown,
                 frame->data);
    } else if (sink->state == SYSLOG_CONNECTED && sink->relp_count > 0 &&
               frame->txnr == sink->relp_oldest_txnr) {
        if (code == 200) {
            sink->relp_confirmed += sink->relp_wire[sink->relp_head];
            sink->relp_head = (sink->relp_head + 1) % RELP_WINDOW;
            sink->relp_count--;
            sink->relp_oldest_txnr = sink->relp_oldest_txnr == RELP_TXNR_MAX
                                     ? 1 : sink->relp_oldest_txnr + 1;
            return true;
        }
        snprintf(why, sizeof(why), "the collector refused message %u: %.*s", frame->txnr,
                 shown, frame->data);
    } else {
        snprintf(why, sizeof(why), "unexpected RELP reply %u %s", frame->txnr, frame->command);
    }
    tcp_connection_lost(sink, why);
    return false;
}

/* Reads and handles what the collector sent, without waiting. False when the session is
 * over (then handled here). */
static bool relp_read(struct syslog_sink *sink)
{
    for (;;) {
        ssize_t n = recv(sink->fd, sink->relp_in + sink->relp_in_len,
                         sizeof(sink->relp_in) - sink->relp_in_len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            tcp_connection_lost(sink, n == 0 ? "connection closed by the collector"
                                             : strerror(errno));
            return false;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            sink->relp_in_len += (size_t)n;
        size_t used = 0;
        for (;;) {
            struct relp_frame frame;
            size_t consumed = 0;
            enum relp_parse result = relp_parse(sink->relp_in + used, sink->relp_in_len - used,
                                                &frame, &consumed);
            if (result == RELP_NEED_MORE)
                break;
            if (result == RELP_BAD) {
                tcp_connection_lost(sink, "the collector sent something that is not RELP");
                return false;
            }
            used += consumed;
            if (!relp_handle(sink, &frame))
                return false;
        }
        memmove(sink->relp_in, sink->relp_in + used, sink->relp_in_len - used);
        sink->relp_in_len -= used;
        if (sink->relp_in_len == sizeof(sink->relp_in)) {
            tcp_connection_lost(sink, "a RELP reply longer than any collector sends");
            return false;
        }
        if (n < 0)
            return true;
    }
}

/* Waits for the collector's answer to the session offer, up to the connect time-out. */
static void relp_check_open(struct syslog_sink *sink)
{
    if (relp_read(sink) && sink->state == SYSLOG_RELP_OPENING &&
        monotonic_ms() - sink->state_since_ms > SYSLOG_CONNECT_TIMEOUT_MS)
        tcp_connection_lost(sink, "no answer to the RELP session offer");
}

/* A collector never sends to us: readable means it closed (EOF) or reset the connection.
 * Checked before each write, so a clean stop is noticed before more frames go into a
 * socket that only answers with RST. */
static bool tcp_peer_alive(struct syslog_sink *sink)
{
    if (sink->relp)
        return relp_read(sink); /* a RELP collector does send: its acknowledgements */
    struct pollfd pfd = { .fd = sink->fd, .events = POLLIN | POLLRDHUP };
    if (poll(&pfd, 1, 0) <= 0)
        return true;
    if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP)) {
        int error = 0;
        socklen_t error_len = sizeof(error);
        getsockopt(sink->fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
        tcp_connection_lost(sink, error ? strerror(error) : "connection closed by the collector");
        return false;
    }
    if (sink->tls != NULL) {
        /* TLS records (a session ticket, an alert) must go through the session. */
        char why[512];
        if (!syslog_tls_drain(sink->tls, why, sizeof(why))) {
            tcp_connection_lost(sink, why);
            return false;
        }
        return true;
    }
    char discard[512];
    ssize_t n = recv(sink->fd, discard, sizeof(discard), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        tcp_connection_lost(sink, n == 0 ? "connection closed by the collector" : strerror(errno));
        return false;
    }
    return true;
}

/* Refills the out buffer with the next frames of the spool; false when none are left. */
/* RFC 6587 frames ("LEN SP MSG", as spooled) to RELP "TXNR syslog LEN MSG LF" in out; each
 * message's frame length goes into the window for the acknowledgement. */
static size_t relp_frame_batch(struct syslog_sink *sink, const char *frames, size_t len)
{
    size_t out_len = 0;
    for (size_t at = 0; at < len;) {
        char *space = memchr(frames + at, ' ', len - at);
        size_t message_len = strtoul(frames + at, NULL, 10); /* checked by the spool's CRC */
        size_t prefix = space ? (size_t)(space - (frames + at)) + 1 : len;
        if (space == NULL || at + prefix + message_len > len)
            break; /* cannot happen: the spool returns whole frames */
        size_t n = relp_encode(sink->out + out_len, sizeof(sink->out) - out_len,
                               sink->relp_next_txnr, "syslog", frames + at + prefix, message_len);
        if (n == 0)
            break; /* cannot happen: out holds a spool batch and RELP_WINDOW headers */
        out_len += n;
        sink->relp_wire[(sink->relp_head + sink->relp_count) % RELP_WINDOW] =
            (uint32_t)(prefix + message_len);
        sink->relp_count++;
        sink->relp_next_txnr = sink->relp_next_txnr == RELP_TXNR_MAX ? 1
                                                                      : sink->relp_next_txnr + 1;
        at += prefix + message_len;
    }
    return out_len;
}

static bool tcp_fill(struct syslog_sink *sink)
{
    uint64_t next = sink->send_position;
    if (sink->relp && sink->relp_count == RELP_WINDOW)
        return false; /* the window is full: wait for acknowledgements */
    char *into = sink->relp ? sink->relp_scratch : sink->out;
    size_t cap = sink->relp ? sizeof(sink->relp_scratch) : sizeof(sink->out);
    long n = spool_read_frames(&sink->spool, sink->send_position, into, cap,
                               sink->relp ? RELP_WINDOW - sink->relp_count : 0, &next);
    sink->base.stats->syslog_corrupt += sink->spool.corrupt_frames - sink->corrupt_seen;
    sink->corrupt_seen = sink->spool.corrupt_frames;
    if (n < 0) {
        LOG_WARN("syslog spool %s: read failed: %s", sink->spool.path, strerror(errno));
        return false;
    }
    sink->send_position = next;
    sink->out_len = sink->relp ? relp_frame_batch(sink, into, (size_t)n) : (size_t)n;
    sink->out_sent = 0;
    return sink->out_len > 0;
}

/* One write to the collector, in clear or through TLS: bytes taken, or -1 when the socket
 * is full or the connection was lost (then handled here). */
static ssize_t tcp_send(struct syslog_sink *sink, const char *data, size_t len)
{
    if (sink->tls != NULL) {
        char why[512];
        ssize_t n = syslog_tls_send(sink->tls, data, len, why, sizeof(why));
        if (n == SYSLOG_TLS_FAILED)
            tcp_connection_lost(sink, why);
        return n < 0 ? -1 : n;
    }
    for (;;) {
        /* MSG_NOSIGNAL: a dead collector is an EPIPE here, not a SIGPIPE for the process. */
        ssize_t n = send(sink->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            tcp_connection_lost(sink, strerror(errno));
        return -1;
    }
}

/* Writes as much of the spool as the socket takes now. Partial writes resume where they
 * stopped: the stream is the spool's frames, checksums taken off, byte for byte. */
static void tcp_pump(struct syslog_sink *sink)
{
    if (sink->state != SYSLOG_CONNECTED || !tcp_peer_alive(sink))
        return;
    if (sink->tls != NULL && monotonic_ms() < sink->tls_settle_until_ms)
        return;
    for (;;) {
        if (sink->out_sent == sink->out_len && !tcp_fill(sink))
            break;
        ssize_t written = tcp_send(sink, sink->out + sink->out_sent,
                                   sink->out_len - sink->out_sent);
        if (written < 0)
            break;
        sink->out_sent += (size_t)written;
        sink->written += (uint64_t)written;
        if (sink->tls != NULL)
            tls_mark(sink);
        /* In clear, a short write means the socket buffer is full: the rest goes on the next
         * tick. TLS takes one record (16 KiB) a call: it says when the socket is full. */
        if (sink->out_sent < sink->out_len && sink->tls == NULL)
            break;
    }
    if (sink->state == SYSLOG_CONNECTED)
        tcp_update_acked(sink);
}

/* Connects when due, sends what waits, and saves the delivered offset now and then. */
static void tcp_step(struct syslog_sink *sink, uint64_t now)
{
    if (sink->state == SYSLOG_DISCONNECTED && now >= sink->next_attempt_ms)
        tcp_start_resolve(sink);
    if (sink->state == SYSLOG_RESOLVING)
        tcp_check_resolve(sink);
    if (sink->state == SYSLOG_CONNECTING)
        tcp_check_connect(sink);
    if (sink->state == SYSLOG_HANDSHAKING)
        tls_check_handshake(sink);
    if (sink->state == SYSLOG_RELP_OPENING)
        relp_check_open(sink);
    tcp_pump(sink);
    if (sink->spool_full_warned && spool_pending_bytes(&sink->spool) < sink->spool.max_bytes / 2)
        sink->spool_full_warned = false;
}

static void syslog_tick(struct sink *base)
{
    struct syslog_sink *sink = (struct syslog_sink *)base;
    if (!sink->tcp)
        return;
    uint64_t now = monotonic_ms();
    tcp_step(sink, now);
    base->stats->syslog_queue_frames = spool_pending_frames(&sink->spool);
    base->stats->syslog_spool_bytes = spool_pending_bytes(&sink->spool);
    if (now - sink->last_checkpoint_ms >= SYSLOG_OFFSET_SAVE_MS) {
        sink->last_checkpoint_ms = now;
        spool_checkpoint(&sink->spool);
    }
}

/* Builds the whole RFC 5424 message of an alert; 0 when it cannot fit. */
static size_t format_alert(struct syslog_sink *sink, const struct event *event,
                           const struct alert *alert, const char *json, char *buf, size_t cap)
{
    char sd[2048];
    if (syslog_alert_sd(sd, sizeof(sd), alert) == 0)
        snprintf(sd, sizeof(sd), "-");
    char cef[4096];
    const char *body = json;
    if (sink->cef)
        body = syslog_alert_cef(cef, sizeof(cef), alert, event->ids, event->identity->sensor)
               ? cef : "";
    struct syslog_header header = {
        .facility = sink->facility,
        .severity = sink->severity_map[alert->severity],
        .ts_usec = wall_usec(),
        .hostname = sink->hostname,
        .procid = sink->procid,
        .msgid = "ALERT",
    };
    return syslog_format(buf, cap, &header, sd, body);
}

static void syslog_write_event(struct sink *base, const struct event *event)
{
    struct syslog_sink *sink = (struct syslog_sink *)base;
    struct output_stats *stats = base->stats;
    if (event->type != EVENT_ALERT)
        return; /* flows stay in the JSON sink: a SIEM wants alerts, not every connection */

    char message[SYSLOG_MAX_MESSAGE + 32];
    size_t len = format_alert(sink, event, event->alert, event->json, message, SYSLOG_MAX_MESSAGE);
    if (len == 0) {
        /* Only a pathological reason/name escapes to this size: send the alert without it. */
        struct alert trimmed = *event->alert;
        snprintf(trimmed.reason, sizeof(trimmed.reason), "(reason trimmed to fit syslog)");
        trimmed.dest_name[0] = '\0';
        char *json = output_alert_json(event->identity, event->ids, &trimmed);
        len = json ? format_alert(sink, event, &trimmed, json, message, SYSLOG_MAX_MESSAGE) : 0;
        free(json);
    }
    if (len == 0) {
        stats->syslog_dropped++;
        return;
    }

    if (!sink->tcp) {
        /* UDP: one datagram, best effort. ECONNREFUSED reports an earlier datagram's ICMP
         * error, so this one is tried once more before it counts as dropped. */
        for (int attempt = 0; attempt < 2; attempt++) {
            if (send(sink->fd, message, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len) {
                stats->syslog_sent++;
                return;
            }
            if (errno != ECONNREFUSED)
                break;
        }
        stats->syslog_dropped++;
        return;
    }

    char frame[SYSLOG_MAX_MESSAGE + 64];
    size_t frame_len = syslog_frame(frame, sizeof(frame), message, len);
    enum spool_append_result appended = spool_append(&sink->spool, frame, frame_len);
    if (appended == SPOOL_APPEND_ERROR) {
        stats->syslog_dropped++;
        if (!sink->spool_error_warned) {
            sink->spool_error_warned = true;
            LOG_WARN("syslog spool %s: cannot write: %s (filesystem full?): new alerts are "
                     "DROPPED from syslog (still in the JSON output) until it can; spooled "
                     "alerts are still delivered", sink->spool.path, strerror(errno));
        }
        return;
    }
    sink->spool_error_warned = false;
    if (appended == SPOOL_APPEND_FULL) {
        stats->syslog_dropped++;
        if (!sink->spool_full_warned) {
            sink->spool_full_warned = true;
            LOG_WARN("syslog spool %s is full (%" PRIu64 " bytes waiting for %s): new alerts are "
                     "DROPPED from syslog (still in the JSON output) until the collector takes "
                     "them; raise --spool-max-bytes", sink->spool.path,
                     spool_pending_bytes(&sink->spool), sink->target);
        }
        return;
    }
    tcp_pump(sink);
    if (sink->send_position < sink->spool.size || sink->out_sent < sink->out_len)
        stats->syslog_spooled++; /* it waits in the spool for the socket or the collector */
}

static struct sink *syslog_open(const struct output_config *config, struct output_stats *stats,
                                char *err, size_t err_len)
{
    struct syslog_sink *sink = calloc(1, sizeof(*sink));
    if (sink == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    sink->base.ops = &syslog_sink_ops;
    sink->base.stats = stats;
    sink->config = config;
    sink->fd = -1;
    sink->spool.fd = sink->spool.lock_fd = -1;
    pthread_mutex_init(&sink->resolve_lock, NULL);
    sink->backoff_ms = SYSLOG_BACKOFF_MIN_MS;
    sink->facility = config->syslog_facility;
    if (sink->facility < 0 || sink->facility > 23) {
        snprintf(err, err_len, "--syslog-facility %d: must be 0-23", sink->facility);
        goto fail;
    }
    if (!syslog_parse_severities(config->syslog_severities, sink->severity_map, err, err_len))
        goto fail;
    const char *format = config->syslog_format ? config->syslog_format : "json";
    if (strcmp(format, "cef") == 0) {
        sink->cef = true;
    } else if (strcmp(format, "json") != 0) {
        snprintf(err, err_len, "--syslog-format %s: must be json or cef", format);
        goto fail;
    }
    if (!parse_url(sink, config->syslog_url, err, err_len))
        goto fail;
    if (gethostname(sink->hostname, sizeof(sink->hostname) - 1) != 0)
        sink->hostname[0] = '\0';
    sink->procid = (long)getpid();
    if (!sink->use_tls && (config->syslog_ca || config->syslog_cert || config->syslog_key)) {
        snprintf(err, err_len, "--syslog-ca, --syslog-cert and --syslog-key need a tls:// "
                 "--syslog URL (%s would send in clear)", sink->target);
        goto fail;
    }

    if (sink->tcp) {
        const char *dir = config->spool_dir ? config->spool_dir : DEFAULT_SPOOL_DIR;
        uint64_t max_bytes = config->spool_max_bytes ? config->spool_max_bytes
                                                     : DEFAULT_SPOOL_MAX_BYTES;
        if (sink->use_tls) {
            sink->tls = syslog_tls_new(config, sink->host, err, err_len);
            if (sink->tls == NULL)
                goto fail;
        }
        if (!spool_open(&sink->spool, dir, max_bytes, err, err_len))
            goto fail;
        tcp_rewind(sink);
        sink->last_checkpoint_ms = monotonic_ms();
        /* A name that does not resolve at start is fatal unless the operator chose a spool:
         * then alerts wait there and the name is tried again with back-off. */
        char why[512];
        if (resolve_now(sink, why, sizeof(why))) {
            tcp_start_connect(sink); /* finishes in output_tick; never waited for here */
        } else if (config->spool_dir != NULL) {
            tcp_connection_lost(sink, why);
        } else {
            snprintf(err, err_len, "--syslog %s: %s (with --spool-dir, alerts would wait in "
                     "the spool while the name is retried)", sink->target, why);
            goto fail;
        }
    } else {
        char why[512];
        if (!resolve_now(sink, why, sizeof(why))) {
            snprintf(err, err_len, "--syslog %s: %s", sink->target, why);
            goto fail;
        }
        sink->fd = socket(sink->address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        /* connect() on UDP only fixes the peer, so errors (ICMP unreachable) reach send(). */
        if (sink->fd < 0 ||
            connect(sink->fd, (const struct sockaddr *)&sink->address, sink->address_len) != 0) {
            snprintf(err, err_len, "--syslog %s: %s", sink->target, strerror(errno));
            goto fail;
        }
    }
    return &sink->base;

fail:
    if (sink->fd >= 0)
        close(sink->fd);
    syslog_tls_free(sink->tls);
    spool_close(&sink->spool);
    pthread_mutex_destroy(&sink->resolve_lock);
    free(sink);
    return NULL;
}

/* Tries for SYSLOG_CLOSE_FLUSH_MS to get every spooled frame acknowledged; what is left
 * stays in the spool for the next run. */
static void syslog_close(struct sink *base)
{
    struct syslog_sink *sink = (struct syslog_sink *)base;
    if (sink->tcp) {
        tcp_stop_resolve(sink);
        uint64_t deadline = monotonic_ms() + SYSLOG_CLOSE_FLUSH_MS;
        /* One prompt attempt at shutdown whatever the back-off says, then the back-off. */
        if (sink->state == SYSLOG_DISCONNECTED && spool_pending_frames(&sink->spool) > 0)
            sink->next_attempt_ms = 0;
        for (uint64_t now = monotonic_ms(); now < deadline; now = monotonic_ms()) {
            tcp_step(sink, now);
            if (spool_pending_frames(&sink->spool) == 0)
                break;
            if (sink->state == SYSLOG_DISCONNECTED && sink->next_attempt_ms >= deadline)
                break;
            struct pollfd pfd = { .fd = -1 };
            poll(&pfd, 0, 10);
        }
        tcp_stop_resolve(sink);
        if (sink->state == SYSLOG_CONNECTED)
            tcp_update_acked(sink);
        size_t left = spool_pending_frames(&sink->spool);
        if (left > 0 && sink->fd >= 0) {
            /* close() would let the kernel go on sending the unacknowledged bytes after we
             * are gone, and the next run sends them again: a reset discards them instead. */
            struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
            setsockopt(sink->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
        }
        if (left > 0)
            LOG_WARN("syslog collector %s: %zu alerts not delivered; they stay in %s and are "
                     "sent by the next run", sink->target, left, sink->spool.path);
        spool_checkpoint(&sink->spool);
        spool_close(&sink->spool);
    }
    syslog_tls_free(sink->tls);
    if (sink->fd >= 0)
        close(sink->fd);
    pthread_mutex_destroy(&sink->resolve_lock);
    free(sink);
}

const struct sink_ops syslog_sink_ops = {
    .name = "syslog",
    .open = syslog_open,
    .write_event = syslog_write_event,
    .tick = syslog_tick,
    .reopen = NULL,
    .close = syslog_close,
};
