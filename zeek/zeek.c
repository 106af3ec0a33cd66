/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Zeek logs to flow records. Side logs (ssl, http, ftp) are read first into tables keyed by
 * uid (and, for FTP data channels, by the channel's addresses and port); conn.log entries
 * are held in a bounded buffer, sorted by end time and handed on with what the side logs
 * said about them. Both of Zeek's writers are read: TSV (the ASCII writer: #fields names
 * the columns, '-' is unset, '(empty)' an empty set, \xHH escapes) and JSON (one object a
 * line, dotted field names, ts a number or an ISO 8601 string).
 */
#include "zeek.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "../common/tunables.h"
#include "../geo/geo.h"

/* The fields read, whatever the log. */
enum field {
    F_TS = 0, F_UID, F_ORIG_H, F_ORIG_P, F_RESP_H, F_RESP_P,
    F_PROTO, F_SERVICE, F_DURATION, F_ORIG_BYTES, F_RESP_BYTES, F_CONN_STATE,
    F_ORIG_PKTS, F_ORIG_IP_BYTES, F_RESP_PKTS, F_RESP_IP_BYTES,
    F_SERVER_NAME,
    F_HOST, F_METHOD, F_REQUEST_BODY_LEN,
    F_COMMAND, F_DC_PASSIVE, F_DC_ORIG_H, F_DC_RESP_H, F_DC_RESP_P,
    F_QUERY, F_QTYPE, F_RCODE,
    F_CONN_UIDS, F_IS_ORIG, F_MIME_TYPE, F_FILENAME,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
    "proto", "service", "duration", "orig_bytes", "resp_bytes", "conn_state",
    "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
    "server_name",
    "host", "method", "request_body_len",
    "command", "data_channel.passive", "data_channel.orig_h", "data_channel.resp_h",
    "data_channel.resp_p",
    "query", "qtype", "rcode",
    "conn_uids", "is_orig", "mime_type", "filename",
};

enum log_kind { LOG_CONN = 0, LOG_SSL, LOG_HTTP, LOG_FTP, LOG_DNS, LOG_FILES, LOG_KIND_COUNT };
static const char *const kind_names[LOG_KIND_COUNT] = { "conn", "ssl", "http", "ftp", "dns", "files" };

#define ZEEK_UID_LEN 40
#define ZEEK_KEY_LEN 112
#define ZEEK_MAX_COLUMNS 128

/* One line's values as text ('\0'-terminated, unescaped); present[f] false when unset. */
struct line_values {
    bool present[F_COUNT];
    char text[F_COUNT][ZEEK_VALUE_MAX];
};

/* The TSV header state of the log being read (each file starts afresh). */
struct tsv_header {
    char separator;
    char unset[16];
    char empty[16];
    int column_field[ZEEK_MAX_COLUMNS]; /* column -> enum field, -1 when not read */
    unsigned column_count;
    bool have_fields;
};

/* What the side logs say about one connection (by uid) or one FTP data channel (by key). */
struct side_entry {
    char key[ZEEK_KEY_LEN];
    uint32_t next;                     /* hash chain, UINT32_MAX at the end */
    char server_name[ZEEK_VALUE_MAX];  /* ssl.log */
    char http_host[ZEEK_VALUE_MAX];    /* http.log, first request */
    uint32_t http_upload_requests;
    uint64_t http_body_bytes;
    char ftp_pending[ZEEK_KEY_LEN];    /* control channel: the last data channel announced */
    char ftp_dest[64];                 /* control channel's server (data channel entries) */
    bool ftp_upload, ftp_active;
    bool has_ssl, has_http, has_ftp;
    /* dns.log: the connection's DNS messages rebuilt in wire format (RFC 1035 §4.1), each
     * after a 2-byte length as on TCP; malloc'd, at most ZEEK_DNS_BYTES. */
    uint8_t *dns;
    uint32_t dns_len, dns_cap;
    char upload_mime[64];              /* files.log: the first file the originator sent */
    char upload_name[ZEEK_VALUE_MAX];
    bool has_file;
};

struct side_table {
    struct side_entry *entries;
    uint32_t count, capacity;
    uint32_t buckets[1u << 16];
};

/* One conn.log entry waiting for its turn. */
struct conn_entry {
    uint64_t start_usec, end_usec, seq;
    uint64_t bytes[2], packets[2], ip_bytes[2];
    uint8_t addr[2][PACKET_ADDR_LEN];
    uint16_t port[2];
    uint8_t ip_version, proto;
    enum tcp_state tcp_state;
    enum flow_end_reason end_reason;
    char master[16];
    char uid[ZEEK_UID_LEN];
};

struct zeek_reader {
    struct zeek_config config;
    zeek_record_fn on_record;
    void *user;
    char *files[LOG_KIND_COUNT][64];   /* paths found, per kind */
    unsigned file_count[LOG_KIND_COUNT];
    bool kind_seen[LOG_KIND_COUNT];
    struct side_table uids, ftp_channels;
    struct conn_entry *conns;
    size_t conn_count, conn_capacity;
    uint64_t conn_seq;
    struct tsv_header header;
    struct line_values values;
    char line[ZEEK_LINE_MAX + 2];
    struct flow flow;
    size_t dns_bytes;                  /* held by all connections' DNS messages */
    struct zeek_stats stats;
};

/* ---- side tables ------------------------------------------------------------------------ */

static uint32_t key_hash(const char *key)
{
    uint32_t h = 2166136261u;   /* FNV-1a: keys are Zeek's random uids or addresses */
    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 16777619u;
    return h & 0xffff;
}

static void side_table_init(struct side_table *t)
{
    memset(t->buckets, 0xff, sizeof(t->buckets));
}

static struct side_entry *side_find(struct side_table *t, const char *key)
{
    for (uint32_t i = t->buckets[key_hash(key)]; i != UINT32_MAX; i = t->entries[i].next)
        if (strcmp(t->entries[i].key, key) == 0)
            return &t->entries[i];
    return NULL;
}

/* The entry for key, new when needed; NULL at the cap (counted) or when out of memory. */
static struct side_entry *side_get(struct zeek_reader *r, struct side_table *t, const char *key)
{
    struct side_entry *e = side_find(t, key);
    if (e != NULL)
        return e;
    if (strlen(key) >= ZEEK_KEY_LEN || t->count >= ZEEK_UID_MAX) {
        r->stats.uid_overflow++;
        return NULL;
    }
    if (t->count == t->capacity) {
        uint32_t capacity = t->capacity ? t->capacity * 2 : 1024;
        struct side_entry *grown = realloc(t->entries, capacity * sizeof(*grown));
        if (grown == NULL) {
            r->stats.uid_overflow++;
            return NULL;
        }
        t->entries = grown;
        t->capacity = capacity;
    }
    e = &t->entries[t->count];
    memset(e, 0, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    uint32_t h = key_hash(key);
    e->next = t->buckets[h];
    t->buckets[h] = t->count++;
    return e;
}

/* ---- values ----------------------------------------------------------------------------- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies [cur, end) into out with Zeek's \xHH (and \\) escapes undone; cut at the buffer. */
static void unescape_into(const char *cur, const char *end, char *out, size_t out_len)
{
    size_t n = 0;
    while (cur < end && n + 1 < out_len) {
        if (cur[0] == '\\' && end - cur >= 4 && cur[1] == 'x' &&
            hex_digit(cur[2]) >= 0 && hex_digit(cur[3]) >= 0) {
            char c = (char)(hex_digit(cur[2]) * 16 + hex_digit(cur[3]));
            out[n++] = c ? c : '?';   /* a NUL would cut the text short: keep its place */
            cur += 4;
        } else if (cur[0] == '\\' && end - cur >= 2 && cur[1] == '\\') {
            out[n++] = '\\';
            cur += 2;
        } else {
            out[n++] = *cur++;
        }
    }
    out[n] = '\0';
}

static bool parse_u64(const char *text, uint64_t *out)
{
    if (!isdigit((unsigned char)text[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Seconds as Zeek writes them ("1329843179.926563"), to microseconds; false when out of
 * range (before 1970 or after 5138). */
static bool parse_seconds(const char *text, uint64_t *usec)
{
    if (!isdigit((unsigned char)text[0]))
        return false;
    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v) || v < 0 || v > 1e11)
        return false;
    *usec = (uint64_t)llround(v * 1e6);
    return true;
}

/* JSON::TimestampFormat=JSON::TS_ISO8601: "2021-05-04T10:11:12.123456Z". */
static bool parse_iso8601(const char *text, uint64_t *usec)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return false;
    uint64_t fraction = 0, scale = 1000000;
    if (*rest == '.') {
        for (rest++; isdigit((unsigned char)*rest); rest++) {
            if (scale > 1) {
                scale /= 10;
                fraction += (uint64_t)(*rest - '0') * scale;
            }
        }
    }
    if (strcmp(rest, "Z") != 0)
        return false;
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *usec = (uint64_t)t * 1000000 + fraction;
    return true;
}

static bool parse_addr(const char *text, uint8_t addr[PACKET_ADDR_LEN], uint8_t *ip_version)
{
    memset(addr, 0, PACKET_ADDR_LEN);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *ip_version = 4;
        return true;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *ip_version = 6;
        return true;
    }
    return false;
}

static bool parse_port(const char *text, uint16_t *port)
{
    uint64_t v;
    if (!parse_u64(text, &v) || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* A counter that may be unset ('-' in an S0 connection's bytes): 0 then. */
static uint64_t value_u64_or_zero(const struct line_values *v, enum field f, bool *ok)
{
    uint64_t n = 0;
    if (v->present[f] && v->text[f][0] && !parse_u64(v->text[f], &n))
        *ok = false;
    return n;
}

/* ---- lines ------------------------------------------------------------------------------ */

/* "#separator \x09": the one header line whose separator is a space. */
static void tsv_header_line(struct tsv_header *h, const char *line, size_t len)
{
    const char *end = line + len;
    if (len > 11 && memcmp(line, "#separator ", 11) == 0) {
        char sep[8];
        unescape_into(line + 11, end, sep, sizeof(sep));
        if (sep[0] != '\0' && sep[1] == '\0')
            h->separator = sep[0];
        return;
    }
    /* The others: "#name<sep>value<sep>value..." */
    const char *cut = memchr(line, h->separator, len);
    if (cut == NULL)
        return;
    size_t name_len = (size_t)(cut - line);
    const char *value = cut + 1;
    if (name_len == 12 && memcmp(line, "#unset_field", 12) == 0) {
        unescape_into(value, end, h->unset, sizeof(h->unset));
    } else if (name_len == 12 && memcmp(line, "#empty_field", 12) == 0) {
        unescape_into(value, end, h->empty, sizeof(h->empty));
    } else if (name_len == 7 && memcmp(line, "#fields", 7) == 0) {
        h->column_count = 0;
        h->have_fields = true;
        const char *cur = value;
        while (cur <= end && h->column_count < ZEEK_MAX_COLUMNS) {
            const char *next = memchr(cur, h->separator, (size_t)(end - cur));
            if (next == NULL)
                next = end;
            int field = -1;
            for (int f = 0; f < F_COUNT; f++)
                if (strlen(field_names[f]) == (size_t)(next - cur) &&
                    memcmp(field_names[f], cur, (size_t)(next - cur)) == 0)
                    field = f;
            h->column_field[h->column_count++] = field;
            cur = next + 1;
        }
    }
}

static bool tsv_data_line(struct tsv_header *h, const char *line, size_t len, struct line_values *v)
{
    if (!h->have_fields)
        return false;
    const char *end = line + len, *cur = line;
    unsigned column = 0;
    while (cur <= end) {
        const char *next = memchr(cur, h->separator, (size_t)(end - cur));
        if (next == NULL)
            next = end;
        if (column >= h->column_count)
            return false;  /* more columns than #fields named */
        int f = h->column_field[column++];
        if (f >= 0) {
            size_t n = (size_t)(next - cur);
            bool unset = n == strlen(h->unset) && memcmp(cur, h->unset, n) == 0;
            bool empty = n == strlen(h->empty) && memcmp(cur, h->empty, n) == 0;
            v->present[f] = !unset;
            if (unset || empty)
                v->text[f][0] = '\0';
            else
                unescape_into(cur, next, v->text[f], ZEEK_VALUE_MAX);
        }
        cur = next + 1;
    }
    return column == h->column_count;
}

static bool json_data_line(const char *line, size_t len, struct line_values *v)
{
    json_error_t error;
    json_t *object = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
    if (object == NULL)
        return false;
    bool ok = json_is_object(object);
    for (int f = 0; ok && f < F_COUNT; f++) {
        json_t *value = json_object_get(object, field_names[f]);
        char *out = v->text[f];
        v->present[f] = value != NULL && !json_is_null(value);
        out[0] = '\0';
        if (!v->present[f])
            continue;
        if (json_is_string(value))
            unescape_into(json_string_value(value),
                          json_string_value(value) + strnlen(json_string_value(value), ZEEK_VALUE_MAX),
                          out, ZEEK_VALUE_MAX);
        else if (json_is_integer(value))
            snprintf(out, ZEEK_VALUE_MAX, "%lld", (long long)json_integer_value(value));
        else if (json_is_real(value))
            snprintf(out, ZEEK_VALUE_MAX, "%.6f", json_real_value(value));
        else if (json_is_boolean(value))
            snprintf(out, ZEEK_VALUE_MAX, "%s", json_is_true(value) ? "T" : "F");
        else if (json_is_array(value) && json_array_size(value) > 0 &&
                 json_is_string(json_array_get(value, 0)))
            snprintf(out, ZEEK_VALUE_MAX, "%s", json_string_value(json_array_get(value, 0)));
        else
            v->present[f] = false;  /* an empty set, or a type no field read here has */
    }
    json_decref(object);
    return ok;
}

/* ---- per-log entries -------------------------------------------------------------------- */

static bool line_time(const struct line_values *v, uint64_t *usec)
{
    if (!v->present[F_TS])
        return false;
    return parse_seconds(v->text[F_TS], usec) || parse_iso8601(v->text[F_TS], usec);
}

static const char *service_master(const char *service)
{
    static const struct { const char *zeek, *ndpi; } names[] = {
        { "ssl", "TLS" }, { "http", "HTTP" }, { "ftp-data", "FTP_DATA" }, { "ftp", "FTP_CONTROL" },
        { "ssh", "SSH" }, { "dns", "DNS" }, { "smtp", "SMTP" }, { "quic", "QUIC" },
    };
    /* A list ("ssl,http"): the first that is known. */
    for (const char *cur = service; *cur;) {
        size_t n = strcspn(cur, ",");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].zeek) == n && strncmp(cur, names[i].zeek, n) == 0)
                return names[i].ndpi;
        cur += n;
        if (*cur == ',')
            cur++;
    }
    return "";
}

/* conn_state (Zeek's base/protocols/conn/main.zeek) to the packet path's TCP state and end. */
static void conn_state_map(const char *state, enum tcp_state *tcp, enum flow_end_reason *end)
{
    *end = FLOW_END_IDLE;
    if (strcmp(state, "SF") == 0) {
        *tcp = TCP_STATE_CLOSED;
        *end = FLOW_END_TCP_CLOSE;
    } else if (strncmp(state, "RST", 3) == 0) {
        *tcp = TCP_STATE_RESET;
        *end = FLOW_END_TCP_RESET;
    } else if (strcmp(state, "S0") == 0 || strcmp(state, "REJ") == 0) {
        *tcp = TCP_STATE_SYN_SENT;
    } else if (strcmp(state, "S1") == 0) {
        *tcp = TCP_STATE_ESTABLISHED;
    } else if (state[0] == 'S') {
        *tcp = TCP_STATE_FIN_WAIT;   /* S2, S3: one side closed */
    } else {
        *tcp = TCP_STATE_MIDSTREAM;  /* OTH, SH, SHR: no handshake seen */
    }
}

static void conn_entry_add(struct zeek_reader *r, const struct conn_entry *entry);

static bool conn_line(struct zeek_reader *r, const struct line_values *v)
{
    struct conn_entry e;
    memset(&e, 0, sizeof(e));
    uint8_t resp_version;
    uint64_t duration = 0;
    bool ok = line_time(v, &e.start_usec) && v->present[F_UID] &&
              strlen(v->text[F_UID]) < ZEEK_UID_LEN && v->present[F_PROTO] &&
              v->present[F_ORIG_H] && parse_addr(v->text[F_ORIG_H], e.addr[0], &e.ip_version) &&
              v->present[F_RESP_H] && parse_addr(v->text[F_RESP_H], e.addr[1], &resp_version) &&
              resp_version == e.ip_version &&
              v->present[F_ORIG_P] && parse_port(v->text[F_ORIG_P], &e.port[0]) &&
              v->present[F_RESP_P] && parse_port(v->text[F_RESP_P], &e.port[1]);
    if (!ok)
        return false;
    if (v->present[F_DURATION] && v->text[F_DURATION][0] &&
        !parse_seconds(v->text[F_DURATION], &duration))
        return false;
    const char *proto = v->text[F_PROTO];
    if (strcmp(proto, "tcp") == 0)
        e.proto = 6;
    else if (strcmp(proto, "udp") == 0)
        e.proto = 17;
    else if (strcmp(proto, "icmp") == 0)
        e.proto = e.ip_version == 6 ? 58 : 1;
    else
        return false;
    e.end_usec = e.start_usec + duration;
    e.bytes[0] = value_u64_or_zero(v, F_ORIG_BYTES, &ok);
    e.bytes[1] = value_u64_or_zero(v, F_RESP_BYTES, &ok);
    e.packets[0] = value_u64_or_zero(v, F_ORIG_PKTS, &ok);
    e.packets[1] = value_u64_or_zero(v, F_RESP_PKTS, &ok);
    e.ip_bytes[0] = value_u64_or_zero(v, F_ORIG_IP_BYTES, &ok);
    e.ip_bytes[1] = value_u64_or_zero(v, F_RESP_IP_BYTES, &ok);
    if (!ok)
        return false;
    e.tcp_state = TCP_STATE_NONE;
    e.end_reason = FLOW_END_IDLE;
    if (e.proto == 6)
        conn_state_map(v->present[F_CONN_STATE] ? v->text[F_CONN_STATE] : "", &e.tcp_state,
                       &e.end_reason);
    snprintf(e.master, sizeof(e.master), "%s",
             v->present[F_SERVICE] ? service_master(v->text[F_SERVICE]) : "");
    snprintf(e.uid, sizeof(e.uid), "%s", v->text[F_UID]);
    e.seq = r->conn_seq++;
    conn_entry_add(r, &e);
    return true;
}

static struct side_entry *uid_entry(struct zeek_reader *r, const struct line_values *v)
{
    if (!v->present[F_UID] || v->text[F_UID][0] == '\0')
        return NULL;
    return side_get(r, &r->uids, v->text[F_UID]);
}

static bool ssl_line(struct zeek_reader *r, const struct line_values *v)
{
    if (!v->present[F_UID])
        return false;
    if (!v->present[F_SERVER_NAME] || v->text[F_SERVER_NAME][0] == '\0')
        return true;   /* a handshake without SNI: nothing to join */
    struct side_entry *e = uid_entry(r, v);
    if (e != NULL && !e->has_ssl) {
        snprintf(e->server_name, sizeof(e->server_name), "%s", v->text[F_SERVER_NAME]);
        e->has_ssl = true;
    }
    return true;
}

/* The methods the packet path's HTTP parser counts as uploads (detect/http.c). */
static bool http_method_is_upload(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0 || strcmp(method, "BITS_POST") == 0;
}

static bool http_line(struct zeek_reader *r, const struct line_values *v)
{
    uint64_t body = 0;
    if (!v->present[F_UID])
        return false;
    if (v->present[F_REQUEST_BODY_LEN] && v->text[F_REQUEST_BODY_LEN][0] &&
        !parse_u64(v->text[F_REQUEST_BODY_LEN], &body))
        return false;
    struct side_entry *e = uid_entry(r, v);
    if (e == NULL)
        return true;
    if (!e->has_http && v->present[F_HOST] && v->text[F_HOST][0]) {
        /* Lowercase, port stripped: as the packet path keeps the Host header. */
        char *host = e->http_host;
        snprintf(host, sizeof(e->http_host), "%s", v->text[F_HOST]);
        for (char *c = host; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        char *colon = strrchr(host, ':');
        if (colon != NULL && host[0] != '[' && strchr(host, ':') == colon)
            *colon = '\0';
    }
    e->has_http = true;
    if (v->present[F_METHOD] && http_method_is_upload(v->text[F_METHOD]) && body > 0) {
        e->http_upload_requests++;
        e->http_body_bytes += body;
    }
    return true;
}

static bool ftp_command_is_upload(const char *command)
{
    return strcmp(command, "STOR") == 0 || strcmp(command, "STOU") == 0 ||
           strcmp(command, "APPE") == 0;
}

/* ftp.log: a line with data_channel announces a data connection (Zeek fills it on the
 * PASV/EPSV/PORT/EPRT entries); a later STOR on the same control uid marks that channel as
 * an upload, as the packet path ties a transfer command to the last announced channel. */
static bool ftp_line(struct zeek_reader *r, const struct line_values *v)
{
    struct side_entry *control = uid_entry(r, v);
    if (!v->present[F_UID])
        return false;
    if (control == NULL)
        return true;
    if (v->present[F_DC_ORIG_H] && v->present[F_DC_RESP_H] && v->present[F_DC_RESP_P] &&
        v->text[F_DC_RESP_H][0]) {
        uint16_t port;
        uint8_t a[PACKET_ADDR_LEN], version;
        if (!parse_port(v->text[F_DC_RESP_P], &port) ||
            !parse_addr(v->text[F_DC_RESP_H], a, &version) ||
            !parse_addr(v->text[F_DC_ORIG_H], a, &version))
            return false;
        char key[ZEEK_KEY_LEN];
        snprintf(key, sizeof(key), "%.50s|%.50s|%u", v->text[F_DC_ORIG_H], v->text[F_DC_RESP_H],
                 (unsigned)port);
        struct side_entry *channel = side_get(r, &r->ftp_channels, key);
        if (channel != NULL) {
            channel->has_ftp = true;
            channel->ftp_active = v->present[F_DC_PASSIVE] && strcmp(v->text[F_DC_PASSIVE], "F") == 0;
            snprintf(channel->ftp_dest, sizeof(channel->ftp_dest), "%.60s",
                     v->present[F_RESP_H] ? v->text[F_RESP_H] : "");
        }
        snprintf(control->ftp_pending, sizeof(control->ftp_pending), "%s", key);
    }
    control->has_ftp = true;
    if (v->present[F_COMMAND] && ftp_command_is_upload(v->text[F_COMMAND]) &&
        control->ftp_pending[0]) {
        struct side_entry *channel = side_find(&r->ftp_channels, control->ftp_pending);
        if (channel != NULL)
            channel->ftp_upload = true;
    }
    return true;
}

/* ---- records out ------------------------------------------------------------------------ */

static void conn_entry_add(struct zeek_reader *r, const struct conn_entry *entry)
{
    if (r->conn_count == r->conn_capacity) {
        if (r->conn_capacity >= ZEEK_REORDER_MAX) {
            r->stats.reorder_overflow++;
            zeek_reader_flush(r);
        } else {
            size_t capacity = r->conn_capacity ? r->conn_capacity * 2 : 4096;
            struct conn_entry *grown = realloc(r->conns, capacity * sizeof(*grown));
            if (grown == NULL) {
                r->stats.reorder_overflow++;
                zeek_reader_flush(r);
            } else {
                r->conns = grown;
                r->conn_capacity = capacity;
            }
        }
    }
    if (r->conn_count < r->conn_capacity)
        r->conns[r->conn_count++] = *entry;
}

static int conn_end_order(const void *a, const void *b)
{
    const struct conn_entry *x = a, *y = b;
    if (x->end_usec != y->end_usec)
        return x->end_usec < y->end_usec ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void conn_emit(struct zeek_reader *r, const struct conn_entry *e)
{
    struct flow *f = &r->flow;
    struct detect_log_evidence evidence;
    memset(f, 0, sizeof(*f));
    memset(&evidence, 0, sizeof(evidence));
    f->ip_version = e->ip_version;
    f->proto = e->proto;
    f->orig_port = e->port[0];
    f->resp_port = e->port[1];
    memcpy(f->orig_addr, e->addr[0], PACKET_ADDR_LEN);
    memcpy(f->resp_addr, e->addr[1], PACKET_ADDR_LEN);
    f->tcp_state = e->tcp_state;
    f->start_ts_usec = f->total_start_ts_usec = e->start_usec;
    f->last_ts_usec = e->end_usec;
    for (int d = 0; d < 2; d++) {
        struct flow_direction_stats *s = &f->dir[d];
        s->packets = e->packets[d];
        s->payload_bytes = e->bytes[d];
        /* Zeek counts IP bytes; the packet path's wire bytes add the Ethernet header. */
        s->bytes = e->ip_bytes[d] + 14 * e->packets[d];
        if (e->packets[d] > 0 || e->bytes[d] > 0) {
            s->first_ts_usec = e->start_usec;
            s->last_ts_usec = e->end_usec;
        }
    }
    f->id = e->seq + 1;
    f->labels.detection_done = true;
    snprintf(f->labels.master_protocol, sizeof(f->labels.master_protocol), "%s", e->master);

    const struct side_entry *side = side_find(&r->uids, e->uid);
    if (side != NULL && side->has_ssl) {
        snprintf(f->labels.server_name, sizeof(f->labels.server_name), "%s", side->server_name);
        r->stats.joined_ssl++;
    }
    if (side != NULL && side->has_http) {
        evidence.http_upload_requests = side->http_upload_requests;
        evidence.http_body_bytes = side->http_body_bytes;
        snprintf(evidence.http_host, sizeof(evidence.http_host), "%s", side->http_host);
        if (f->labels.server_name[0] == '\0')
            snprintf(f->labels.server_name, sizeof(f->labels.server_name), "%s", side->http_host);
        r->stats.joined_http++;
    }
    if (side != NULL && side->has_file) {
        snprintf(evidence.upload_mime_type, sizeof(evidence.upload_mime_type), "%s", side->upload_mime);
        snprintf(evidence.upload_filename, sizeof(evidence.upload_filename), "%s", side->upload_name);
        r->stats.joined_files++;
    }
    if (side != NULL && side->dns_len > 0) {
        evidence.dns_messages = side->dns;
        evidence.dns_messages_len = side->dns_len;
        r->stats.joined_dns++;
    }
    char orig[64], resp[64], key[ZEEK_KEY_LEN];
    geo_addr_to_string(e->ip_version, e->addr[0], orig, sizeof(orig));
    geo_addr_to_string(e->ip_version, e->addr[1], resp, sizeof(resp));
    snprintf(key, sizeof(key), "%.50s|%.50s|%u", orig, resp, (unsigned)e->port[1]);
    const struct side_entry *channel = side_find(&r->ftp_channels, key);
    if (channel != NULL) {
        evidence.ftp_data = true;
        evidence.ftp_active = channel->ftp_active;
        evidence.ftp_upload = channel->ftp_upload;
        snprintf(evidence.ftp_dest_name, sizeof(evidence.ftp_dest_name), "%s", channel->ftp_dest);
        r->stats.joined_ftp++;
    }
    r->stats.flows_out++;
    r->on_record(r->user, f, e->end_reason, &evidence);
}

void zeek_reader_flush(struct zeek_reader *r)
{
    if (r->conn_count == 0)
        return;   /* and no qsort of a NULL array */
    qsort(r->conns, r->conn_count, sizeof(*r->conns), conn_end_order);
    for (size_t i = 0; i < r->conn_count; i++)
        conn_emit(r, &r->conns[i]);
    r->conn_count = 0;
}

/* ---- dns.log ---------------------------------------------------------------------------- */

#define DNS_MESSAGE_MAX (12 + 255 + 4)   /* header, a QNAME of at most 255 bytes, type, class */

/* One DNS message with the question only: header, QNAME from the name's labels, QTYPE,
 * class IN. What the DNS tunnel detector reads of a message (the name, its type, query or
 * response) is all there. Returns its length, 0 when the name cannot be a QNAME. */
static size_t dns_message(const char *name, uint16_t qtype, bool response, uint8_t *out, size_t out_len)
{
    size_t used = 12;
    if (out_len < DNS_MESSAGE_MAX)
        return 0;
    memset(out, 0, used);
    out[2] = response ? 0x81 : 0x01;   /* QR, RD */
    out[5] = 1;                        /* QDCOUNT */
    for (const char *label = name; *label != '\0';) {
        size_t n = strcspn(label, ".");
        if (n == 0 || n > 63 || used + 1 + n > 12 + 254)
            return 0;
        out[used++] = (uint8_t)n;
        memcpy(out + used, label, n);
        used += n;
        label += n;
        if (*label == '.')
            label++;
    }
    out[used++] = 0;
    out[used++] = (uint8_t)(qtype >> 8);
    out[used++] = (uint8_t)qtype;
    out[used++] = 0;
    out[used++] = 1;
    return used;
}

/* Appends a message to the connection's, within ZEEK_DNS_BYTES per connection and
 * ZEEK_DNS_TOTAL over all; the buffer grows by doubling. */
static void dns_append(struct zeek_reader *r, struct side_entry *e, const uint8_t *msg, size_t len)
{
    size_t need = e->dns_len + 2 + len;
    if (need > ZEEK_DNS_BYTES) {
        r->stats.dns_dropped++;
        return;
    }
    if (need > e->dns_cap) {
        size_t cap = e->dns_cap ? e->dns_cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > ZEEK_DNS_BYTES)
            cap = ZEEK_DNS_BYTES;
        uint8_t *grown = r->dns_bytes + (cap - e->dns_cap) <= ZEEK_DNS_TOTAL ? realloc(e->dns, cap) : NULL;
        if (grown == NULL) {
            r->stats.dns_dropped++;
            return;
        }
        r->dns_bytes += cap - e->dns_cap;
        e->dns = grown;
        e->dns_cap = (uint32_t)cap;
    }
    e->dns[e->dns_len] = (uint8_t)(len >> 8);
    e->dns[e->dns_len + 1] = (uint8_t)len;
    memcpy(e->dns + e->dns_len + 2, msg, len);
    e->dns_len += (uint32_t)(2 + len);
}

/* A dns.log entry: the query, and its response when one came (an rcode is logged). */
static bool dns_line(struct zeek_reader *r, const struct line_values *v)
{
    struct side_entry *e = uid_entry(r, v);
    if (e == NULL || !v->present[F_QUERY])
        return e != NULL;   /* a lookup without a name (a bare response) says nothing */
    uint64_t qtype = 1;
    if (v->present[F_QTYPE] && (!parse_u64(v->text[F_QTYPE], &qtype) || qtype > 0xffff))
        return false;
    uint8_t msg[DNS_MESSAGE_MAX];
    size_t len = dns_message(v->text[F_QUERY], (uint16_t)qtype, false, msg, sizeof(msg));
    if (len == 0)
        return false;
    dns_append(r, e, msg, len);
    if (v->present[F_RCODE]) {
        msg[2] |= 0x80;
        dns_append(r, e, msg, len);
    }
    return true;
}

/* ---- files.log -------------------------------------------------------------------------- */

/* A file the connection's originator sent (is_orig): its MIME type and name, for archive
 * evidence. The connection is `uid` (Zeek 5.1 on) or the first of `conn_uids` (before). */
static bool files_line(struct zeek_reader *r, const struct line_values *v)
{
    char uid[ZEEK_UID_LEN];
    if (v->present[F_UID])
        snprintf(uid, sizeof(uid), "%.*s", ZEEK_UID_LEN - 1, v->text[F_UID]);
    else if (v->present[F_CONN_UIDS])
        snprintf(uid, sizeof(uid), "%.*s", (int)strcspn(v->text[F_CONN_UIDS], ","),
                 v->text[F_CONN_UIDS]);
    else
        return false;
    if (!v->present[F_IS_ORIG] || strcmp(v->text[F_IS_ORIG], "T") != 0 || uid[0] == '\0')
        return true;   /* a download, or a file whose direction is not known: no upload */
    struct side_entry *e = side_get(r, &r->uids, uid);
    if (e == NULL || e->has_file)
        return e != NULL;
    if (v->present[F_MIME_TYPE])
        snprintf(e->upload_mime, sizeof(e->upload_mime), "%.63s", v->text[F_MIME_TYPE]);
    if (v->present[F_FILENAME])
        memcpy(e->upload_name, v->text[F_FILENAME], sizeof(e->upload_name));
    e->has_file = e->upload_mime[0] != '\0' || e->upload_name[0] != '\0';
    return true;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void header_reset(struct tsv_header *h)
{
    memset(h, 0, sizeof(*h));
    h->separator = '\t';
    snprintf(h->unset, sizeof(h->unset), "-");
    snprintf(h->empty, sizeof(h->empty), "(empty)");
}

/* One line of a log of this kind (without its newline). */
static void log_line(struct zeek_reader *r, enum log_kind kind, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return;
    if (line[0] == '#') {
        tsv_header_line(&r->header, line, len);
        return;
    }
    r->stats.lines++;
    struct line_values *v = &r->values;
    memset(v->present, 0, sizeof(v->present));
    bool ok = line[0] == '{' ? json_data_line(line, len, v) : tsv_data_line(&r->header, line, len, v);
    if (ok) {
        switch (kind) {
        case LOG_CONN: ok = conn_line(r, v); break;
        case LOG_SSL: ok = ssl_line(r, v); break;
        case LOG_HTTP: ok = http_line(r, v); break;
        case LOG_FTP: ok = ftp_line(r, v); break;
        case LOG_DNS: ok = dns_line(r, v); break;
        case LOG_FILES: ok = files_line(r, v); break;
        default: break;
        }
    }
    if (!ok)
        r->stats.bad_lines++;
}

static int kind_of(const char *kind)
{
    for (int k = 0; k < LOG_KIND_COUNT; k++)
        if (strcmp(kind, kind_names[k]) == 0)
            return k;
    return -1;
}

void zeek_reader_feed(struct zeek_reader *r, const char *kind_name, const uint8_t *data, size_t len)
{
    int kind = kind_of(kind_name);
    if (kind < 0)
        return;
    r->kind_seen[kind] = true;
    header_reset(&r->header);
    const char *cur = (const char *)data, *end = cur + len;
    while (cur < end) {
        const char *nl = memchr(cur, '\n', (size_t)(end - cur));
        const char *line_end = nl ? nl : end;
        if ((size_t)(line_end - cur) > ZEEK_LINE_MAX)
            r->stats.bad_lines++;
        else
            log_line(r, (enum log_kind)kind, cur, (size_t)(line_end - cur));
        cur = line_end + 1;
    }
}

/* Reads one file line by line; an over-long line is skipped to its end and counted. */
static bool read_file(struct zeek_reader *r, enum log_kind kind, const char *path)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        LOG_ERROR("%s: %s", path, strerror(errno));
        return false;
    }
    r->stats.files++;
    header_reset(&r->header);
    bool skipping = false;
    while (fgets(r->line, sizeof(r->line), file) != NULL) {
        size_t len = strlen(r->line);
        bool whole = len > 0 && r->line[len - 1] == '\n';
        if (!whole && !feof(file)) {
            if (!skipping)
                r->stats.bad_lines++;
            skipping = true;
            continue;
        }
        if (!skipping)
            log_line(r, kind, r->line, whole ? len - 1 : len);
        skipping = false;
    }
    bool ok = !ferror(file);
    if (!ok)
        LOG_ERROR("%s: read error", path);
    fclose(file);
    return ok;
}

/* The kind a log file is by its name: "conn.log", "conn.09:00:00-10:00:00.log", "ssl.json". */
static int kind_of_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char kind[16];
    size_t n = strcspn(base, ".");
    if (n == 0 || n >= sizeof(kind) || base[n] != '.')
        return -1;
    memcpy(kind, base, n);
    kind[n] = '\0';
    return kind_of(kind);
}

static bool add_file(struct zeek_reader *r, int kind, const char *path, char *err, size_t err_len)
{
    if (r->file_count[kind] == sizeof(r->files[kind]) / sizeof(r->files[kind][0])) {
        snprintf(err, err_len, "--zeek: more than %zu %s logs", sizeof(r->files[kind]) / sizeof(r->files[kind][0]),
                 kind_names[kind]);
        return false;
    }
    r->files[kind][r->file_count[kind]] = strdup(path);
    if (r->files[kind][r->file_count[kind]] == NULL) {
        snprintf(err, err_len, "--zeek: out of memory");
        return false;
    }
    r->file_count[kind]++;
    r->kind_seen[kind] = true;
    return true;
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* A directory: every *.log of a known kind in it, in name order (rotated logs in time order).
 * Compressed logs are skipped: gunzip them first. */
static bool add_directory(struct zeek_reader *r, const char *dir, char *err, size_t err_len)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, name_order);
    if (n < 0) {
        snprintf(err, err_len, "--zeek: %s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        int kind = kind_of_path(name);
        bool log = (len > 4 && strcmp(name + len - 4, ".log") == 0) ||
                   (len > 5 && strcmp(name + len - 5, ".json") == 0);
        if (ok && kind >= 0 && log) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            ok = add_file(r, kind, path, err, err_len);
        }
        free(names[i]);
    }
    free(names);
    return ok;
}

struct zeek_reader *zeek_reader_new_memory(zeek_record_fn on_record, void *user)
{
    struct zeek_reader *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->on_record = on_record;
    r->user = user;
    side_table_init(&r->uids);
    side_table_init(&r->ftp_channels);
    return r;
}

struct zeek_reader *zeek_reader_new(const struct zeek_config *config, zeek_record_fn on_record,
                                    void *user, char *err, size_t err_len)
{
    struct zeek_reader *r = zeek_reader_new_memory(on_record, user);
    if (r == NULL) {
        snprintf(err, err_len, "--zeek: out of memory");
        return NULL;
    }
    r->config = *config;
    for (unsigned i = 0; i < config->path_count; i++) {
        const char *path = config->paths[i];
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(err, err_len, "--zeek: %s: %s", path, strerror(errno));
            goto fail;
        }
        if (S_ISDIR(st.st_mode)) {
            if (!add_directory(r, path, err, err_len))
                goto fail;
            continue;
        }
        int kind = kind_of_path(path);
        if (kind < 0) {
            snprintf(err, err_len, "--zeek: %s: not a log exflow reads (conn, ssl, http, ftp, dns or "
                     "files: the name must start with one of these and a dot)", path);
            goto fail;
        }
        if (!add_file(r, kind, path, err, err_len))
            goto fail;
    }
    if (r->file_count[LOG_CONN] == 0) {
        snprintf(err, err_len, "--zeek: no conn.log found in what was given");
        goto fail;
    }
    return r;
fail:
    zeek_reader_free(r);
    return NULL;
}

bool zeek_reader_run(struct zeek_reader *r, volatile sig_atomic_t *stop)
{
    /* Side logs first: conn.log entries are joined as they leave. */
    static const enum log_kind order[] = { LOG_SSL, LOG_HTTP, LOG_FTP, LOG_DNS, LOG_FILES, LOG_CONN };
    bool ok = true;
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        for (unsigned i = 0; i < r->file_count[order[k]] && !(stop && *stop); i++)
            ok = read_file(r, order[k], r->files[order[k]][i]) && ok;
    zeek_reader_flush(r);
    return ok;
}

uint32_t zeek_reader_unavailable_evidence(const struct zeek_reader *r)
{
    /* ICMP tunnels and SMTP are judged on payload bytes no log carries; DNS tunnels on
     * query names, which dns.log has; archives on file types and names, files.log's. */
    uint32_t missing = EVIDENCE_ICMP_TUNNEL | EVIDENCE_SMTP_EXFIL;
    if (!r->kind_seen[LOG_DNS])
        missing |= EVIDENCE_DNS_TUNNEL;
    if (!r->kind_seen[LOG_FILES])
        missing |= EVIDENCE_PACKED_DATA;
    if (!r->kind_seen[LOG_HTTP])
        missing |= EVIDENCE_HTTP_UPLOAD;
    if (!r->kind_seen[LOG_FTP])
        missing |= EVIDENCE_FTP_STOR;
    if (!r->kind_seen[LOG_SSL] && !r->kind_seen[LOG_HTTP])
        missing |= EVIDENCE_CLOUD_STORAGE;
    return missing;
}

void zeek_reader_get_stats(const struct zeek_reader *r, struct zeek_stats *stats)
{
    *stats = r->stats;
}

void zeek_reader_free(struct zeek_reader *r)
{
    if (r == NULL)
        return;
    for (int k = 0; k < LOG_KIND_COUNT; k++)
        for (unsigned i = 0; i < r->file_count[k]; i++)
            free(r->files[k][i]);
    for (uint32_t i = 0; i < r->uids.count; i++)
        free(r->uids.entries[i].dns);
    free(r->uids.entries);
    free(r->ftp_channels.entries);
    free(r->conns);
    free(r);
}
