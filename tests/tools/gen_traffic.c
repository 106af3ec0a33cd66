/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * gen_traffic: writes a large, realistic, deterministic Ethernet pcap for the benchmark.
 *
 *   gen_traffic OUT.pcap PACKETS [--flows N] [--seed S] [--duration SEC] [--flood]
 *
 * Normal mode keeps N concurrent sessions (default 4000) and interleaves their packets:
 * DNS over UDP, HTTP GET/POST with real request lines and Host headers, TLS with a real
 * ClientHello carrying SNI (so nDPI does its real work), large uploads and downloads in
 * full-size 1514-byte frames with delayed ACKs, long chatty SSH/TLS sessions of small
 * packets, full TCP handshakes and FIN (sometimes RST) closes, about 12% IPv6. Which session
 * sends next is chosen by a virtual clock (bulk transfers send more often than interactive
 * ones); the written timestamps are a separate wall clock that rises by a jittered step so
 * the whole capture spans --duration seconds (default one hour), strictly increasing.
 * PACKETS / duration sets the packet rate; with N sessions each one sends about every
 * N * duration / PACKETS seconds, so keep that well under the 60 s UDP idle timeout if
 * DNS responses should land in the same flow as their queries.
 *
 * --flood writes a SYN scan instead: every packet is a new 5-tuple (distinct destination
 * address for the first 2^24 packets, random ports), spanning one minute, to exercise the
 * flow-table memory cap.
 *
 * IPv4 header, TCP and UDP checksums are all valid. Same arguments, same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FLOWS      4000
#define DEFAULT_SEED       1
#define CAPTURE_START_SEC  1768467600ULL /* 2026-01-15 09:00:00 UTC */
#define DEFAULT_SPAN_SEC   3600    /* normal capture: one hour of packet time */
#define FLOOD_SPAN_SEC     60      /* flood: one minute */
#define SNAPLEN            65535
#define MAX_FRAME          1514
#define MIN_FRAME          60      /* Ethernet minimum without FCS, as a SPAN port delivers */
#define MSS_V4             1460
#define MSS_V6             1440
#define HEAD_MAX           1400    /* protocol bytes built at the start of one message */
#define MAX_MESSAGES       12
#define TLS_RECORD_MAX     16384

/* ---- deterministic random numbers (splitmix64) ---- */

struct rng {
    uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static uint32_t rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* Log-uniform in [lo, hi]: many small, few large, as object sizes on the web are. */
static uint32_t rng_log_range(struct rng *r, uint32_t lo, uint32_t hi)
{
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    double value = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
    if (value > (double)hi)
        value = (double)hi;
    return (uint32_t)value;
}

static void rng_fill(struct rng *r, uint8_t *out, size_t len)
{
    while (len >= 8) {
        uint64_t v = rng_next(r);
        memcpy(out, &v, 8);
        out += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t v = rng_next(r);
        memcpy(out, &v, len);
    }
}

/* ---- byte writers ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Ones-complement sum (RFC 1071) of data, added to an running 32-bit accumulator. */
static uint32_t checksum_add(uint32_t sum, const uint8_t *data, size_t len)
{
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)((data[i] << 8) | data[i + 1]);
    if (i < len)
        sum += (uint32_t)(data[i] << 8);
    return sum;
}

static uint16_t checksum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- the names and hosts traffic goes to ---- */

static const char *const host_names[] = {
    "www.google.com", "www.youtube.com", "www.facebook.com", "www.wikipedia.org",
    "www.amazon.com", "api.github.com", "github.com", "raw.githubusercontent.com",
    "login.microsoftonline.com", "outlook.office365.com", "teams.microsoft.com",
    "www.dropbox.com", "content.dropboxapi.com", "s3.amazonaws.com",
    "storage.googleapis.com", "drive.google.com", "www.netflix.com", "www.linkedin.com",
    "twitter.com", "www.instagram.com", "slack.com", "zoom.us", "cdn.jsdelivr.net",
    "ajax.googleapis.com", "update.googleapis.com", "deb.debian.org",
    "security.debian.org", "www.apple.com", "icloud.com", "www.bbc.co.uk",
    "news.ycombinator.com", "stackoverflow.com", "www.reddit.com", "mega.nz",
    "transfer.sh", "pastebin.com", "api.telegram.org", "discord.com",
    "intranet-sync.example.com", "backup.example.net", "telemetry.example.org",
    "www.nytimes.com",
};
#define HOST_COUNT (sizeof(host_names) / sizeof(host_names[0]))

static const char *const url_paths[] = {
    "/", "/index.html", "/static/js/app.js", "/static/css/main.css", "/images/logo.png",
    "/api/v1/status", "/api/v2/items", "/search", "/favicon.ico", "/news/latest",
    "/debian/dists/bookworm/InRelease", "/assets/fonts/roboto.woff2",
};
#define PATH_COUNT (sizeof(url_paths) / sizeof(url_paths[0]))

static const char *const content_types[] = {
    "text/html; charset=utf-8", "application/javascript", "text/css", "image/png",
    "application/json", "application/octet-stream",
};
#define CONTENT_TYPE_COUNT (sizeof(content_types) / sizeof(content_types[0]))

/* Public /8s the server addresses are drawn from (no private or reserved space). */
static const uint8_t public_first_octets[] = {
    13, 23, 31, 34, 35, 44, 52, 54, 64, 66, 72, 93, 104, 142, 151, 157, 185, 199, 208,
};

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Each host name has a fixed IPv4 and IPv6 server address, so flows repeat destinations. */
static void host_address(unsigned host, bool v6, uint8_t out[16])
{
    uint64_t h = hash64(host + 0x51ed);
    memset(out, 0, 16);
    if (!v6) {
        out[0] = public_first_octets[h % sizeof(public_first_octets)];
        out[1] = (uint8_t)(h >> 8);
        out[2] = (uint8_t)(h >> 16);
        out[3] = (uint8_t)(1 + (h >> 24) % 253);
    } else {
        static const uint8_t prefix[6] = { 0x2a, 0x00, 0x14, 0x50, 0x40, 0x01 };
        memcpy(out, prefix, sizeof(prefix));
        for (int i = 6; i < 16; i++)
            out[i] = (uint8_t)(h >> ((i % 8) * 8));
        out[15] |= 1;
    }
}

/* A random public address outside the host list (random web servers, CDNs). */
static void random_public_address(struct rng *r, bool v6, uint8_t out[16])
{
    memset(out, 0, 16);
    if (!v6) {
        out[0] = public_first_octets[rng_below(r, sizeof(public_first_octets))];
        out[1] = (uint8_t)rng_below(r, 256);
        out[2] = (uint8_t)rng_below(r, 256);
        out[3] = (uint8_t)rng_range(r, 1, 254);
    } else {
        static const uint8_t prefix[4] = { 0x26, 0x06, 0x47, 0x00 };
        memcpy(out, prefix, sizeof(prefix));
        rng_fill(r, out + 4, 12);
    }
}

/* Internal clients: 192.168.1-4.x and 10.20.x.y; IPv6 ULA fd00:10:20::/64. */
static void client_address(struct rng *r, bool v6, uint8_t out[16])
{
    memset(out, 0, 16);
    unsigned client = rng_below(r, 600);
    if (!v6) {
        if (client < 400) {
            out[0] = 192;
            out[1] = 168;
            out[2] = (uint8_t)(1 + client / 100);
            out[3] = (uint8_t)(10 + client % 100);
        } else {
            out[0] = 10;
            out[1] = 20;
            out[2] = (uint8_t)(client / 200);
            out[3] = (uint8_t)(20 + client % 200);
        }
    } else {
        static const uint8_t prefix[8] = { 0xfd, 0x00, 0x00, 0x10, 0x00, 0x20, 0, 0 };
        memcpy(out, prefix, sizeof(prefix));
        out[14] = (uint8_t)(client >> 8);
        out[15] = (uint8_t)(client | 1);
    }
}

/* ---- application messages ---- */

static size_t dns_encode_name(uint8_t *out, const char *name)
{
    size_t n = 0;
    const char *label = name;
    while (*label != '\0') {
        const char *dot = strchr(label, '.');
        size_t len = dot != NULL ? (size_t)(dot - label) : strlen(label);
        out[n++] = (uint8_t)len;
        memcpy(out + n, label, len);
        n += len;
        label += len;
        if (*label == '.')
            label++;
    }
    out[n++] = 0;
    return n;
}

/* RFC 1035 section 4.1: header, one question; a response adds one answer by name pointer. */
static size_t dns_message(uint8_t *out, uint16_t id, const char *name, bool aaaa,
                          bool response, const uint8_t answer[16])
{
    put_u16(out, id);
    put_u16(out + 2, response ? 0x8180 : 0x0100);
    put_u16(out + 4, 1);
    put_u16(out + 6, response ? 1 : 0);
    put_u16(out + 8, 0);
    put_u16(out + 10, 0);
    size_t n = 12 + dns_encode_name(out + 12, name);
    put_u16(out + n, aaaa ? 28 : 1);
    put_u16(out + n + 2, 1);
    n += 4;
    if (response) {
        put_u16(out + n, 0xc00c);
        put_u16(out + n + 2, aaaa ? 28 : 1);
        put_u16(out + n + 4, 1);
        put_u32(out + n + 6, 300);
        put_u16(out + n + 10, aaaa ? 16 : 4);
        n += 12;
        memcpy(out + n, answer, aaaa ? 16 : 4);
        n += aaaa ? 16 : 4;
    }
    return n;
}

/* A Chrome-like TLS 1.3 ClientHello (RFC 8446 section 4.1.2) with SNI, ALPN and key share. */
static size_t tls_client_hello(uint8_t *out, struct rng *r, const char *sni)
{
    static const uint16_t ciphers[] = {
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
        0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    };
    uint8_t *p = out;
    p[0] = 0x16;            /* handshake record */
    put_u16(p + 1, 0x0301);
    uint8_t *record_len = p + 3;
    p += 5;
    uint8_t *handshake = p;
    p[0] = 0x01;            /* ClientHello */
    p += 4;
    put_u16(p, 0x0303);
    p += 2;
    rng_fill(r, p, 32);     /* random */
    p += 32;
    *p++ = 32;              /* legacy session id */
    rng_fill(r, p, 32);
    p += 32;
    put_u16(p, (uint16_t)(2 * (sizeof(ciphers) / sizeof(ciphers[0]))));
    p += 2;
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++, p += 2)
        put_u16(p, ciphers[i]);
    *p++ = 1;               /* compression methods: null */
    *p++ = 0;
    uint8_t *extensions_len = p;
    p += 2;
    uint8_t *extensions = p;

    size_t sni_len = strlen(sni);
    put_u16(p, 0x0000);     /* server_name (RFC 6066 section 3) */
    put_u16(p + 2, (uint16_t)(sni_len + 5));
    put_u16(p + 4, (uint16_t)(sni_len + 3));
    p[6] = 0;               /* host_name */
    put_u16(p + 7, (uint16_t)sni_len);
    memcpy(p + 9, sni, sni_len);
    p += 9 + sni_len;

    static const uint8_t fixed_extensions[] = {
        0x00, 0x17, 0x00, 0x00,                                     /* extended_master_secret */
        0xff, 0x01, 0x00, 0x01, 0x00,                               /* renegotiation_info */
        0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, /* groups */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                         /* ec_point_formats */
        0x00, 0x23, 0x00, 0x00,                                     /* session_ticket */
        0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2',         /* ALPN */
        0x08, 'h', 't', 't', 'p', '/', '1', '.', '1',
        0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00,       /* status_request */
        0x00, 0x0d, 0x00, 0x12, 0x00, 0x10, 0x04, 0x03, 0x08, 0x04, /* signature_algorithms */
        0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,
        0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03,       /* supported_versions */
        0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,                         /* psk_key_exchange_modes */
    };
    memcpy(p, fixed_extensions, sizeof(fixed_extensions));
    p += sizeof(fixed_extensions);

    put_u16(p, 0x0033);     /* key_share: one x25519 share */
    put_u16(p + 2, 38);
    put_u16(p + 4, 36);
    put_u16(p + 6, 0x001d);
    put_u16(p + 8, 32);
    rng_fill(r, p + 10, 32);
    p += 42;

    /* padding (RFC 7685) to a 512-byte ClientHello, as browsers do */
    size_t so_far = (size_t)(p - handshake);
    if (so_far + 4 < 512) {
        size_t pad = 512 - so_far - 4;
        put_u16(p, 0x0015);
        put_u16(p + 2, (uint16_t)pad);
        memset(p + 4, 0, pad);
        p += 4 + pad;
    }
    put_u16(extensions_len, (uint16_t)(p - extensions));
    put_u24(handshake + 1, (uint32_t)(p - handshake - 4));
    put_u16(record_len, (uint16_t)(p - handshake));
    return (size_t)(p - out);
}

/* ServerHello + ChangeCipherSpec + the header of the first encrypted record (TLS 1.3). */
static size_t tls_server_flight_head(uint8_t *out, struct rng *r, uint32_t total)
{
    uint8_t *p = out;
    p[0] = 0x16;
    put_u16(p + 1, 0x0303);
    uint8_t *record_len = p + 3;
    p += 5;
    uint8_t *handshake = p;
    p[0] = 0x02;            /* ServerHello */
    p += 4;
    put_u16(p, 0x0303);
    p += 2;
    rng_fill(r, p, 32);
    p += 32;
    *p++ = 32;
    rng_fill(r, p, 32);
    p += 32;
    put_u16(p, 0x1301);     /* TLS_AES_128_GCM_SHA256 */
    p[2] = 0;
    p += 3;
    put_u16(p, 46);         /* extensions: supported_versions + key_share */
    p += 2;
    put_u16(p, 0x002b);
    put_u16(p + 2, 2);
    put_u16(p + 4, 0x0304);
    p += 6;
    put_u16(p, 0x0033);
    put_u16(p + 2, 36);
    put_u16(p + 4, 0x001d);
    put_u16(p + 6, 32);
    rng_fill(r, p + 8, 32);
    p += 40;
    put_u24(handshake + 1, (uint32_t)(p - handshake - 4));
    put_u16(record_len, (uint16_t)(p - handshake));
    static const uint8_t ccs[] = { 0x14, 0x03, 0x03, 0x00, 0x01, 0x01 };
    memcpy(p, ccs, sizeof(ccs));
    p += sizeof(ccs);
    size_t used = (size_t)(p - out) + 5;
    uint32_t encrypted = total > used ? (uint32_t)(total - used) : 1;
    p[0] = 0x17;            /* encrypted extensions, certificate, verify, finished */
    put_u16(p + 1, 0x0303);
    put_u16(p + 3, (uint16_t)encrypted);
    p += 5;
    return (size_t)(p - out);
}

/* ---- sessions ---- */

enum session_kind {
    KIND_DNS,
    KIND_HTTP_GET,
    KIND_TLS_BROWSE,
    KIND_DOWNLOAD,
    KIND_UPLOAD,
    KIND_BEACON,
    KIND_INTERACTIVE,
    KIND_COUNT
};

static const char *const kind_names[KIND_COUNT] = {
    "dns", "http-get", "tls-browse", "download", "upload", "beacon", "interactive",
};

/* Relative share of new sessions, and the virtual time between a session's packets. */
static const unsigned kind_weight[KIND_COUNT] = { 600, 200, 500, 4, 3, 200, 450 };
static const unsigned kind_vgap[KIND_COUNT] = { 6, 6, 6, 2, 2, 10, 25 };

enum message_kind {
    MSG_RAW,                /* opaque bytes (SSH after the banners) */
    MSG_DNS_QUERY,
    MSG_DNS_RESPONSE,
    MSG_HTTP_GET,
    MSG_HTTP_POST,          /* headers, then len bytes of body */
    MSG_HTTP_RESPONSE,      /* headers, then len bytes of body */
    MSG_TLS_CLIENT_HELLO,
    MSG_TLS_SERVER_FLIGHT,  /* len bytes in all */
    MSG_TLS_APP,            /* len bytes of application data records */
    MSG_SSH_BANNER,
};

#define DIR_CLIENT 0        /* client to server */
#define DIR_SERVER 1        /* server to client */

struct message {
    uint8_t dir;
    uint8_t kind;
    uint32_t len;
};

enum tcp_state { TCP_SYN, TCP_SYN_ACK, TCP_ACK, TCP_DATA, TCP_FIN1, TCP_FIN2, TCP_FIN3,
                 TCP_RST, TCP_DONE };

enum close_style { CLOSE_FIN, CLOSE_RST, CLOSE_NONE };

struct session {
    uint64_t vtime;
    uint32_t vgap;
    uint8_t kind;
    bool v6;
    bool udp;
    uint8_t state;
    uint8_t close;
    uint8_t ttl_server;
    uint16_t client_port, server_port;
    uint8_t client_ip[16], server_ip[16];
    uint32_t seq[2];        /* next sequence number each direction sends */
    uint16_t ip_id[2];
    unsigned host;
    uint16_t dns_id;
    struct message messages[MAX_MESSAGES];
    uint8_t message_count, message_index;
    uint32_t interactive_rounds;   /* small messages still to alternate after the list */
    uint32_t offset;        /* bytes of the current message sent */
    uint32_t total;         /* bytes of the current message (head included) */
    uint8_t unacked;        /* full segments the receiver has not acknowledged */
    bool ack_pending;
    uint8_t ack_dir;        /* who owes the pending ACK */
    bool message_started;
    uint16_t head_len;
    uint8_t head[HEAD_MAX];
};

struct generator {
    struct rng rng;
    pcap_dumper_t *dumper;
    uint64_t ts_usec;       /* wall clock written into the pcap */
    uint64_t gap_usec_x16;  /* mean wall step, in 1/16 microsecond */
    uint64_t step_accum;
    uint64_t packets, bytes;
    uint64_t packets_v6, frames_full, frames_small;
    uint64_t sessions[KIND_COUNT];
    uint64_t session_count;
    uint8_t frame[MAX_FRAME + 64];
};

static void add_message(struct session *s, uint8_t dir, uint8_t kind, uint32_t len)
{
    if (s->message_count < MAX_MESSAGES) {
        s->messages[s->message_count].dir = dir;
        s->messages[s->message_count].kind = kind;
        s->messages[s->message_count].len = len;
        s->message_count++;
    }
}

static void add_tls_handshake(struct session *s, struct rng *r)
{
    add_message(s, DIR_CLIENT, MSG_TLS_CLIENT_HELLO, 0);
    add_message(s, DIR_SERVER, MSG_TLS_SERVER_FLIGHT, rng_range(r, 2400, 5200));
    add_message(s, DIR_CLIENT, MSG_TLS_APP, rng_range(r, 64, 90)); /* CCS + Finished */
}

static enum session_kind pick_kind(struct rng *r)
{
    unsigned total = 0;
    for (int k = 0; k < KIND_COUNT; k++)
        total += kind_weight[k];
    unsigned x = rng_below(r, total);
    for (int k = 0; k < KIND_COUNT; k++) {
        if (x < kind_weight[k])
            return (enum session_kind)k;
        x -= kind_weight[k];
    }
    return KIND_DNS;
}

/* Plans a new session: endpoints, the message list and how it closes. */
static void session_start(struct generator *g, struct session *s, uint64_t vnow)
{
    struct rng *r = &g->rng;
    memset(s, 0, offsetof(struct session, head));
    s->kind = (uint8_t)pick_kind(r);
    s->v6 = rng_below(r, 100) < 12;
    s->vgap = kind_vgap[s->kind];
    s->vtime = vnow + rng_below(r, 4 * s->vgap + 1);
    s->host = rng_below(r, HOST_COUNT);
    s->client_port = (uint16_t)rng_range(r, 32768, 60999);
    s->seq[DIR_CLIENT] = (uint32_t)rng_next(r);
    s->seq[DIR_SERVER] = (uint32_t)rng_next(r);
    s->ip_id[0] = (uint16_t)rng_next(r);
    s->ip_id[1] = (uint16_t)rng_next(r);
    s->ttl_server = (uint8_t)rng_range(r, 44, 58);
    s->dns_id = (uint16_t)rng_next(r);
    client_address(r, s->v6, s->client_ip);
    if (rng_below(r, 100) < 70 || s->kind == KIND_BEACON)
        host_address(s->host, s->v6, s->server_ip);
    else
        random_public_address(r, s->v6, s->server_ip);
    s->close = CLOSE_FIN;
    unsigned c = rng_below(r, 100);
    if (c < 6)
        s->close = CLOSE_RST;
    else if (c < 8)
        s->close = CLOSE_NONE;
    s->state = TCP_SYN;

    bool tls = rng_below(r, 100) < 70;
    switch ((enum session_kind)s->kind) {
    case KIND_DNS: {
        static const uint8_t resolvers_v4[][4] = { {8, 8, 8, 8}, {1, 1, 1, 1}, {9, 9, 9, 9} };
        static const uint8_t resolver_v6[16] = { 0x20, 0x01, 0x48, 0x60, 0x48, 0x60, 0, 0,
                                                 0, 0, 0, 0, 0, 0, 0x88, 0x88 };
        s->udp = true;
        s->server_port = 53;
        memset(s->server_ip, 0, 16);
        if (s->v6)
            memcpy(s->server_ip, resolver_v6, 16);
        else
            memcpy(s->server_ip, resolvers_v4[rng_below(r, 3)], 4);
        add_message(s, DIR_CLIENT, MSG_DNS_QUERY, 0);
        add_message(s, DIR_SERVER, MSG_DNS_RESPONSE, 0);
        s->state = TCP_DATA;
        break;
    }
    case KIND_HTTP_GET: {
        s->server_port = 80;
        unsigned requests = rng_range(r, 1, 3);
        for (unsigned i = 0; i < requests; i++) {
            add_message(s, DIR_CLIENT, MSG_HTTP_GET, 0);
            add_message(s, DIR_SERVER, MSG_HTTP_RESPONSE, rng_log_range(r, 200, 60000));
        }
        break;
    }
    case KIND_TLS_BROWSE: {
        s->server_port = 443;
        add_tls_handshake(s, r);
        unsigned requests = rng_range(r, 1, 4);
        for (unsigned i = 0; i < requests; i++) {
            add_message(s, DIR_CLIENT, MSG_TLS_APP, rng_range(r, 90, 900));
            add_message(s, DIR_SERVER, MSG_TLS_APP, rng_log_range(r, 150, 40000));
        }
        break;
    }
    case KIND_DOWNLOAD:
        if (tls) {
            s->server_port = 443;
            add_tls_handshake(s, r);
            add_message(s, DIR_CLIENT, MSG_TLS_APP, rng_range(r, 200, 700));
            add_message(s, DIR_SERVER, MSG_TLS_APP, rng_log_range(r, 100000, 3000000));
        } else {
            s->server_port = 80;
            add_message(s, DIR_CLIENT, MSG_HTTP_GET, 0);
            add_message(s, DIR_SERVER, MSG_HTTP_RESPONSE, rng_log_range(r, 100000, 3000000));
        }
        break;
    case KIND_UPLOAD:
        if (tls) {
            s->server_port = 443;
            add_tls_handshake(s, r);
            add_message(s, DIR_CLIENT, MSG_TLS_APP, rng_log_range(r, 100000, 2000000));
            add_message(s, DIR_SERVER, MSG_TLS_APP, rng_range(r, 100, 600));
        } else {
            s->server_port = 80;
            add_message(s, DIR_CLIENT, MSG_HTTP_POST, rng_log_range(r, 100000, 2000000));
            add_message(s, DIR_SERVER, MSG_HTTP_RESPONSE, rng_range(r, 20, 300));
        }
        break;
    case KIND_BEACON:
        /* a few hosts, small check-ins: what periodic exfiltration looks like on the wire */
        s->host = HOST_COUNT - 1 - rng_below(r, 4);
        host_address(s->host, s->v6, s->server_ip);
        if (tls) {
            s->server_port = 443;
            add_tls_handshake(s, r);
            add_message(s, DIR_CLIENT, MSG_TLS_APP, rng_range(r, 200, 3000));
            add_message(s, DIR_SERVER, MSG_TLS_APP, rng_range(r, 80, 400));
        } else {
            s->server_port = 80;
            add_message(s, DIR_CLIENT, MSG_HTTP_POST, rng_range(r, 200, 3000));
            add_message(s, DIR_SERVER, MSG_HTTP_RESPONSE, rng_range(r, 2, 100));
        }
        break;
    case KIND_INTERACTIVE:
        if (rng_below(r, 2) == 0) {
            s->server_port = 22;
            add_message(s, DIR_SERVER, MSG_SSH_BANNER, 0);
            add_message(s, DIR_CLIENT, MSG_SSH_BANNER, 0);
            add_message(s, DIR_CLIENT, MSG_RAW, rng_range(r, 1200, 1600)); /* KEXINIT */
            add_message(s, DIR_SERVER, MSG_RAW, rng_range(r, 1000, 1200));
            add_message(s, DIR_CLIENT, MSG_RAW, 48);                       /* KEX_ECDH_INIT */
            add_message(s, DIR_SERVER, MSG_RAW, rng_range(r, 500, 1100));  /* reply + keys */
        } else {
            s->server_port = 443;
            add_tls_handshake(s, r);
        }
        s->interactive_rounds = rng_log_range(r, 20, 600);
        break;
    case KIND_COUNT:
        break;
    }
    if (s->udp)
        s->client_port = (uint16_t)rng_range(r, 1024, 65535);
    g->sessions[s->kind]++;
    g->session_count++;
}

/* Builds the first bytes of a message into s->head and sets s->total. */
static void message_begin(struct generator *g, struct session *s, const struct message *m)
{
    struct rng *r = &g->rng;
    const char *host = host_names[s->host];
    int n = 0;
    s->head_len = 0;
    s->total = m->len;
    switch ((enum message_kind)m->kind) {
    case MSG_RAW:
        break;
    case MSG_DNS_QUERY:
    case MSG_DNS_RESPONSE: {
        uint8_t answer[16];
        host_address(s->host, s->v6, answer);
        s->head_len = (uint16_t)dns_message(s->head, s->dns_id, host, s->v6,
                                            m->kind == MSG_DNS_RESPONSE, answer);
        s->total = s->head_len;
        break;
    }
    case MSG_HTTP_GET:
        n = snprintf((char *)s->head, HEAD_MAX,
                     "GET %s?r=%08" PRIx32 " HTTP/1.1\r\nHost: %s\r\n"
                     "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
                     "Firefox/121.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\n"
                     "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
                     url_paths[rng_below(r, PATH_COUNT)], (uint32_t)rng_next(r), host);
        s->head_len = (uint16_t)n;
        s->total = s->head_len;
        break;
    case MSG_HTTP_POST:
        n = snprintf((char *)s->head, HEAD_MAX,
                     "POST /upload/%08" PRIx32 " HTTP/1.1\r\nHost: %s\r\n"
                     "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %" PRIu32
                     "\r\n\r\n", (uint32_t)rng_next(r), host, m->len);
        s->head_len = (uint16_t)n;
        s->total = s->head_len + m->len;
        break;
    case MSG_HTTP_RESPONSE:
        n = snprintf((char *)s->head, HEAD_MAX,
                     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 15 Jan 2026 "
                     "09:00:00 GMT\r\nContent-Type: %s\r\nContent-Length: %" PRIu32
                     "\r\nConnection: keep-alive\r\n\r\n",
                     content_types[rng_below(r, CONTENT_TYPE_COUNT)], m->len);
        s->head_len = (uint16_t)n;
        s->total = s->head_len + m->len;
        break;
    case MSG_TLS_CLIENT_HELLO:
        s->head_len = (uint16_t)tls_client_hello(s->head, r, host);
        s->total = s->head_len;
        break;
    case MSG_TLS_SERVER_FLIGHT:
        s->head_len = (uint16_t)tls_server_flight_head(s->head, r, m->len);
        if (s->total < (uint32_t)s->head_len + 1)
            s->total = (uint32_t)s->head_len + 1;
        break;
    case MSG_TLS_APP:
        if (s->total < 6)
            s->total = 6;
        break;
    case MSG_SSH_BANNER:
        n = snprintf((char *)s->head, HEAD_MAX, "%s",
                     m->dir == DIR_SERVER ? "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n"
                                          : "SSH-2.0-OpenSSH_9.6\r\n");
        s->head_len = (uint16_t)n;
        s->total = s->head_len;
        break;
    }
    s->offset = 0;
    s->message_started = true;
}

/* Fills payload bytes [offset, offset+len) of the current message. */
static void message_fill(struct generator *g, const struct session *s, const struct message *m,
                         uint32_t offset, uint8_t *out, uint32_t len)
{
    uint32_t from_head = 0;
    if (offset < s->head_len) {
        from_head = s->head_len - offset;
        if (from_head > len)
            from_head = len;
        memcpy(out, s->head + offset, from_head);
    }
    rng_fill(&g->rng, out + from_head, len - from_head);
    if (m->kind == MSG_TLS_APP) {
        /* TLS 1.3 application_data records of at most 16 KiB: overlay each record header */
        const uint32_t record = TLS_RECORD_MAX + 5;
        uint32_t first = offset / record;
        for (uint32_t k = first; k * record < offset + len; k++) {
            uint32_t start = k * record;
            uint32_t body = s->total - start - 5 < TLS_RECORD_MAX ? s->total - start - 5
                                                                  : TLS_RECORD_MAX;
            uint8_t header[5] = { 0x17, 0x03, 0x03, (uint8_t)(body >> 8), (uint8_t)body };
            for (uint32_t i = 0; i < 5; i++)
                if (start + i >= offset && start + i < offset + len)
                    out[start + i - offset] = header[i];
        }
    }
}

/* ---- frames ---- */

static void write_frame(struct generator *g, uint32_t len, bool v6)
{
    uint32_t caplen = len < MIN_FRAME ? MIN_FRAME : len;
    if (caplen > len)
        memset(g->frame + len, 0, caplen - len);
    /* wall clock: a jittered step around the mean, never zero, so time strictly rises */
    uint64_t step_x16 = g->gap_usec_x16 / 2 + rng_next(&g->rng) % (g->gap_usec_x16 + 1);
    g->step_accum += step_x16;
    uint64_t step = g->step_accum / 16;
    g->step_accum %= 16;
    g->ts_usec += step > 0 ? step : 1;

    struct pcap_pkthdr header;
    header.ts.tv_sec = (time_t)(g->ts_usec / 1000000);
    header.ts.tv_usec = (suseconds_t)(g->ts_usec % 1000000);
    header.caplen = caplen;
    header.len = caplen;
    pcap_dump((u_char *)g->dumper, &header, g->frame);
    g->packets++;
    g->bytes += caplen;
    if (v6)
        g->packets_v6++;
    if (caplen >= MAX_FRAME)
        g->frames_full++;
    else if (caplen <= 100)
        g->frames_small++;
}

static void mac_for(const uint8_t ip[16], bool v6, uint8_t mac[6])
{
    mac[0] = 0x02;
    mac[1] = 0x1b;
    mac[2] = 0x21;
    mac[3] = v6 ? ip[13] : ip[1];
    mac[4] = v6 ? ip[14] : ip[2];
    mac[5] = v6 ? ip[15] : ip[3];
}

static const uint8_t router_mac[6] = { 0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01 };

/*
 * Writes one frame of the session in direction dir: Ethernet, IPv4 or IPv6, TCP or UDP, and
 * payload bytes [offset, offset+payload_len) of the current message (payload_len may be 0).
 */
static void session_emit(struct generator *g, struct session *s, int dir, uint8_t flags,
                         const struct message *m, uint32_t payload_len)
{
    uint8_t *f = g->frame;
    const uint8_t *src_ip = dir == DIR_CLIENT ? s->client_ip : s->server_ip;
    const uint8_t *dst_ip = dir == DIR_CLIENT ? s->server_ip : s->client_ip;
    uint8_t client_mac[6];
    mac_for(s->client_ip, s->v6, client_mac);
    memcpy(f, dir == DIR_CLIENT ? router_mac : client_mac, 6);
    memcpy(f + 6, dir == DIR_CLIENT ? client_mac : router_mac, 6);
    put_u16(f + 12, s->v6 ? 0x86dd : 0x0800);

    bool syn = (flags & 0x02) != 0;
    uint32_t l4_header = s->udp ? 8 : (syn ? 32 : 20);
    uint32_t l4_len = l4_header + payload_len;
    uint8_t *ip = f + 14;
    uint8_t *l4;
    uint8_t ttl = dir == DIR_CLIENT ? 64 : s->ttl_server;
    uint8_t proto = s->udp ? 17 : 6;
    if (!s->v6) {
        ip[0] = 0x45;
        ip[1] = 0;
        put_u16(ip + 2, (uint16_t)(20 + l4_len));
        put_u16(ip + 4, s->ip_id[dir]++);
        put_u16(ip + 6, 0x4000);        /* DF */
        ip[8] = ttl;
        ip[9] = proto;
        put_u16(ip + 10, 0);
        memcpy(ip + 12, src_ip, 4);
        memcpy(ip + 16, dst_ip, 4);
        put_u16(ip + 10, checksum_fold(checksum_add(0, ip, 20)));
        l4 = ip + 20;
    } else {
        put_u32(ip, 0x60000000u | ((uint32_t)(s->client_port * 2654435761u) & 0xfffff));
        put_u16(ip + 4, (uint16_t)l4_len);
        ip[6] = proto;
        ip[7] = ttl;
        memcpy(ip + 8, src_ip, 16);
        memcpy(ip + 24, dst_ip, 16);
        l4 = ip + 40;
    }
    uint16_t sport = dir == DIR_CLIENT ? s->client_port : s->server_port;
    uint16_t dport = dir == DIR_CLIENT ? s->server_port : s->client_port;
    put_u16(l4, sport);
    put_u16(l4 + 2, dport);
    uint8_t *payload = l4 + l4_header;
    if (payload_len > 0)
        message_fill(g, s, m, s->offset, payload, payload_len);
    if (s->udp) {
        put_u16(l4 + 4, (uint16_t)l4_len);
        put_u16(l4 + 6, 0);
    } else {
        put_u32(l4 + 4, s->seq[dir]);
        put_u32(l4 + 8, (flags & 0x10) ? s->seq[1 - dir] : 0);
        l4[12] = (uint8_t)((l4_header / 4) << 4);
        l4[13] = flags;
        put_u16(l4 + 14, dir == DIR_CLIENT ? 64240 : 65160);
        put_u16(l4 + 16, 0);
        put_u16(l4 + 18, 0);
        if (syn) {
            /* MSS, NOP, window scale 7, NOP, NOP, SACK permitted */
            static const uint8_t options[12] = { 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03,
                                                 0x07, 0x01, 0x01, 0x04, 0x02 };
            memcpy(l4 + 20, options, sizeof(options));
            if (s->v6)
                l4[23] = 0xa0;                  /* MSS 1440 */
        }
    }
    /* pseudo-header (RFC 793 section 3.1, RFC 8200 section 8.1) */
    uint32_t sum = 0;
    sum = checksum_add(sum, src_ip, s->v6 ? 16 : 4);
    sum = checksum_add(sum, dst_ip, s->v6 ? 16 : 4);
    sum += proto;
    sum += l4_len;
    sum = checksum_add(sum, l4, l4_len);
    uint16_t csum = checksum_fold(sum);
    if (s->udp && csum == 0)
        csum = 0xffff;
    put_u16(l4 + (s->udp ? 6 : 16), csum);

    if (!s->udp)
        s->seq[dir] += payload_len + (syn || (flags & 0x01) ? 1 : 0);
    write_frame(g, (uint32_t)(l4 - f) + l4_len, s->v6);
}

/* Appends the next alternating small message of an interactive session, if any remain. */
static bool session_next_interactive(struct generator *g, struct session *s)
{
    if (s->interactive_rounds == 0)
        return false;
    s->interactive_rounds--;
    uint8_t last_dir = s->messages[s->message_count - 1].dir;
    s->message_index = 0;
    s->message_count = 0;
    uint8_t dir = (uint8_t)(1 - last_dir);
    uint32_t len = rng_below(&g->rng, 10) < 8 ? rng_range(&g->rng, 36, 140)
                                              : rng_range(&g->rng, 200, 1400);
    add_message(s, dir, s->server_port == 22 ? MSG_RAW : MSG_TLS_APP, len);
    /* think time between keystrokes or pushes */
    s->vtime += s->vgap * rng_range(&g->rng, 1, 8);
    return true;
}

/*
 * Emits the session's next packet. Returns false when the session has finished.
 * TCP data is cut in MSS segments; the receiver ACKs every second full segment and the end
 * of a message unless its own reply carries the ACK.
 */
static bool session_step(struct generator *g, struct session *s)
{
    uint32_t mss = s->v6 ? MSS_V6 : MSS_V4;
    switch ((enum tcp_state)s->state) {
    case TCP_SYN:
        session_emit(g, s, DIR_CLIENT, 0x02, NULL, 0);
        s->state = TCP_SYN_ACK;
        return true;
    case TCP_SYN_ACK:
        session_emit(g, s, DIR_SERVER, 0x12, NULL, 0);
        s->state = TCP_ACK;
        return true;
    case TCP_ACK:
        session_emit(g, s, DIR_CLIENT, 0x10, NULL, 0);
        s->state = TCP_DATA;
        return true;
    case TCP_DATA: {
        if (s->ack_pending) {
            session_emit(g, s, s->ack_dir, 0x10, NULL, 0);
            s->ack_pending = false;
            s->unacked = 0;
            return true;
        }
        if (s->message_index >= s->message_count && !session_next_interactive(g, s)) {
            if (s->udp)
                return false;
            s->state = s->close == CLOSE_FIN ? TCP_FIN1
                     : s->close == CLOSE_RST ? TCP_RST : TCP_DONE;
            return session_step(g, s);
        }
        const struct message *m = &s->messages[s->message_index];
        if (!s->message_started)
            message_begin(g, s, m);
        uint32_t len = s->total - s->offset;
        if (len > mss)
            len = mss;
        uint8_t flags = s->udp ? 0 : (uint8_t)(0x10 | (s->offset + len == s->total ? 0x08 : 0));
        session_emit(g, s, m->dir, flags, m, len);
        s->offset += len;
        if (!s->udp && len == mss && ++s->unacked >= 2) {
            s->ack_pending = true;
            s->ack_dir = (uint8_t)(1 - m->dir);
        }
        if (s->offset >= s->total) {
            uint8_t dir = m->dir;
            s->message_index++;
            s->message_started = false;
            bool reply_next = s->message_index < s->message_count
                              ? s->messages[s->message_index].dir != dir
                              : s->interactive_rounds > 0;
            if (!s->udp && !reply_next) {
                s->ack_pending = true;
                s->ack_dir = (uint8_t)(1 - dir);
            } else if (reply_next) {
                s->unacked = 0;
                if (!s->ack_pending)
                    s->vtime += s->vgap * 3; /* server think time / client parse time */
            }
        }
        return true;
    }
    case TCP_FIN1:
        session_emit(g, s, DIR_CLIENT, 0x11, NULL, 0);
        s->state = TCP_FIN2;
        return true;
    case TCP_FIN2:
        session_emit(g, s, DIR_SERVER, 0x11, NULL, 0);
        s->state = TCP_FIN3;
        return true;
    case TCP_FIN3:
        session_emit(g, s, DIR_CLIENT, 0x10, NULL, 0);
        s->state = TCP_DONE;
        return true;
    case TCP_RST:
        session_emit(g, s, rng_below(&g->rng, 2) ? DIR_CLIENT : DIR_SERVER, 0x14, NULL, 0);
        s->state = TCP_DONE;
        return true;
    case TCP_DONE:
        return false;
    }
    return false;
}

/* ---- the session heap, ordered by virtual time ---- */

static bool heap_less(struct session *const *heap, size_t a, size_t b)
{
    if (heap[a]->vtime != heap[b]->vtime)
        return heap[a]->vtime < heap[b]->vtime;
    return heap[a] < heap[b];
}

static void heap_sift_down(struct session **heap, size_t count, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, least = i;
        if (left < count && heap_less(heap, left, least))
            least = left;
        if (right < count && heap_less(heap, right, least))
            least = right;
        if (least == i)
            return;
        struct session *tmp = heap[i];
        heap[i] = heap[least];
        heap[least] = tmp;
        i = least;
    }
}

static int generate_mix(struct generator *g, uint64_t packets, unsigned flows)
{
    struct session *pool = calloc(flows, sizeof(*pool));
    struct session **heap = calloc(flows, sizeof(*heap));
    if (pool == NULL || heap == NULL) {
        free(pool);
        free(heap);
        fprintf(stderr, "gen_traffic: out of memory for %u sessions\n", flows);
        return -1;
    }
    for (unsigned i = 0; i < flows; i++) {
        session_start(g, &pool[i], rng_below(&g->rng, 2000));
        heap[i] = &pool[i];
    }
    for (size_t i = flows / 2 + 1; i-- > 0;)
        heap_sift_down(heap, flows, i);

    while (g->packets < packets) {
        struct session *s = heap[0];
        uint64_t vnow = s->vtime;
        if (session_step(g, s))
            s->vtime += s->vgap / 2 + rng_below(&g->rng, s->vgap + 1);
        else
            session_start(g, s, vnow);
        heap_sift_down(heap, flows, 0);
    }
    free(pool);
    free(heap);
    return 0;
}

/* SYN scan: every packet a new 5-tuple, addresses from a permutation of 10.0.0.0/8. */
static void generate_flood(struct generator *g, uint64_t packets)
{
    struct session s;
    memset(&s, 0, sizeof(s));
    s.state = TCP_SYN;
    for (uint64_t i = 0; i < packets; i++) {
        uint32_t host = (uint32_t)((i * 2654435761ULL) & 0xffffff);
        memset(s.client_ip, 0, 16);
        memset(s.server_ip, 0, 16);
        /* the scanner is the "client" (it sends the SYN); a handful of spoofed sources */
        s.client_ip[0] = 203;
        s.client_ip[1] = 0;
        s.client_ip[2] = 113;
        s.client_ip[3] = (uint8_t)(1 + rng_below(&g->rng, 200));
        s.server_ip[0] = 10;
        s.server_ip[1] = (uint8_t)(host >> 16);
        s.server_ip[2] = (uint8_t)(host >> 8);
        s.server_ip[3] = (uint8_t)host;
        s.client_port = (uint16_t)rng_range(&g->rng, 1024, 65535);
        s.server_port = (uint16_t)rng_range(&g->rng, 1, 65535);
        s.seq[DIR_CLIENT] = (uint32_t)rng_next(&g->rng);
        s.ip_id[DIR_CLIENT] = (uint16_t)rng_next(&g->rng);
        session_emit(g, &s, DIR_CLIENT, 0x02, NULL, 0);
    }
    g->session_count = packets;
}

static void usage(void)
{
    fprintf(stderr, "usage: gen_traffic OUT.pcap PACKETS [--flows N] [--seed S] [--duration SEC]"
                    " [--flood]\n"
                    "  --flows N  concurrent sessions interleaved (default %d)\n"
                    "  --seed S   random seed; same arguments give the same bytes (default %d)\n"
                    "  --duration SEC  packet time the capture spans (default %d; flood %d)\n"
                    "  --flood    SYN scan: every packet a new 5-tuple\n",
            DEFAULT_FLOWS, DEFAULT_SEED, DEFAULT_SPAN_SEC, FLOOD_SPAN_SEC);
}

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || text[0] == '-')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t packets = 0, flows = DEFAULT_FLOWS, seed = DEFAULT_SEED, duration = 0;
    bool flood = false, have_packets = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--flows") == 0 && i + 1 < argc) {
            if (!parse_u64(argv[++i], &flows) || flows == 0 || flows > 10000000) {
                fprintf(stderr, "gen_traffic: --flows must be 1..10000000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            if (!parse_u64(argv[++i], &seed)) {
                fprintf(stderr, "gen_traffic: --seed must be a number\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
            if (!parse_u64(argv[++i], &duration) || duration == 0 || duration > 100000000) {
                fprintf(stderr, "gen_traffic: --duration must be 1..100000000 seconds\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--flood") == 0) {
            flood = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (path == NULL) {
            path = argv[i];
        } else if (!have_packets) {
            if (!parse_u64(argv[i], &packets) || packets == 0) {
                fprintf(stderr, "gen_traffic: PACKETS must be a positive number\n");
                return 2;
            }
            have_packets = true;
        } else {
            usage();
            return 2;
        }
    }
    if (path == NULL || !have_packets) {
        usage();
        return 2;
    }

    static struct generator g;
    g.rng.state = hash64(seed ^ 0x6578666c6f77ULL);  /* "exflow" */
    g.ts_usec = CAPTURE_START_SEC * 1000000ULL;
    if (duration == 0)
        duration = flood ? FLOOD_SPAN_SEC : DEFAULT_SPAN_SEC;
    uint64_t span = duration * 1000000ULL;
    g.gap_usec_x16 = span * 16 / packets;
    if (g.gap_usec_x16 < 16)
        g.gap_usec_x16 = 16;

    FILE *out = fopen(path, "wb");
    if (out == NULL) {
        fprintf(stderr, "gen_traffic: %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char buffer[1 << 20];
    setvbuf(out, buffer, _IOFBF, sizeof(buffer));
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, SNAPLEN);
    g.dumper = dead != NULL ? pcap_dump_fopen(dead, out) : NULL;
    if (g.dumper == NULL) {
        fprintf(stderr, "gen_traffic: cannot start a pcap on %s\n", path);
        fclose(out);
        return 1;
    }

    int rc = 0;
    if (flood)
        generate_flood(&g, packets);
    else
        rc = generate_mix(&g, packets, (unsigned)flows);

    pcap_dump_flush(g.dumper);
    bool write_failed = ferror(out) != 0;
    pcap_dump_close(g.dumper);     /* closes out */
    pcap_close(dead);
    if (rc != 0)
        return 1;
    if (write_failed) {
        fprintf(stderr, "gen_traffic: writing %s failed\n", path);
        return 1;
    }

    fprintf(stderr, "gen_traffic: %s: %" PRIu64 " packets, %" PRIu64 " bytes (avg %.0f B), "
                    "%.1f%% IPv6, %.1f%% full-size, %.1f%% <=100 B, %.0f s span, %" PRIu64
                    " sessions started%s\n",
            path, g.packets, g.bytes, (double)g.bytes / (double)g.packets,
            100.0 * (double)g.packets_v6 / (double)g.packets,
            100.0 * (double)g.frames_full / (double)g.packets,
            100.0 * (double)g.frames_small / (double)g.packets,
            (double)(g.ts_usec - CAPTURE_START_SEC * 1000000ULL) / 1e6, g.session_count,
            flood ? " (flood)" : "");
    if (!flood) {
        fprintf(stderr, "gen_traffic: sessions by kind:");
        for (int k = 0; k < KIND_COUNT; k++)
            fprintf(stderr, " %s=%" PRIu64, kind_names[k], g.sessions[k]);
        fprintf(stderr, "\n");
    }
    return 0;
}
