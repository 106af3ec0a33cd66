/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Flow export collection: UDP sockets and TCP sessions, exporter sessions (libfixbuf decodes IPFIX; NetFlow
 * v9 is rewritten to IPFIX framing first), sequence accounting, and the pairing table that
 * turns one-way records into bidirectional ones.
 */
#include "collect.h"

#include <errno.h>
#include <fcntl.h>
#include <fixbuf/public.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tunables.h"
#include "../detect/detect.h"

#define DATAGRAM_MAX 65535
#define PAIR_NONE UINT32_MAX
#define INTERNAL_TID 0x9999        /* our internal template's id in every session */
#define PEN_CERT 6871               /* YAF's elements */
#define PEN_NTOP 35632              /* nProbe's elements */

/* Enterprise elements that name what payload showed: nProbe's L7_PROTO_NAME (nDPI's
 * "MASTER.APP"), HTTP_HOST and SSL_SERVER_NAME (ids as nProbe numbers them under its PEN),
 * YAF's silkAppLabel (the application's well-known port) and httpHost when a template
 * carries them at top level. Added to the information model so that fixbuf transcodes
 * them by (PEN, id). */
static fbInfoElement_t enterprise_elements[] = {
    FB_IE_INIT_FULL("ntopL7ProtoName", PEN_NTOP, 119, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("ntopHttpHost", PEN_NTOP, 187, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("ntopSslServerName", PEN_NTOP, 188, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("silkAppLabel", PEN_CERT, 33, 2, FB_IE_F_ENDIAN, 0, 0, FB_UINT_16, NULL),
    FB_IE_INIT_FULL("httpHost", PEN_CERT, 117, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_NULL
};

/* What we read from any record: libfixbuf transcodes each exporter template into this
 * layout, leaving absent elements zero. Largest fields first: fixbuf packs without gaps. */
struct export_record {
    uint8_t src6[16], dst6[16];
    fbVarfield_t app_name, http_host, tls_name, yaf_http_host; /* into the message; len 0: absent */
    uint64_t start_ms, end_ms;          /* flowStart/EndMilliseconds */
    uint64_t system_init_ms;            /* systemInitTimeMilliseconds (options records) */
    uint64_t octets, packets;           /* deltas */
    uint64_t octets_total, packets_total;
    uint64_t rev_octets, rev_packets;   /* RFC 5103 */
    uint32_t start_sec, end_sec;        /* flowStart/EndSeconds */
    uint32_t start_uptime, end_uptime;  /* flowStart/EndSysUpTime, ms since system init */
    uint32_t src4, dst4;                /* host order */
    uint16_t sport, dport;
    uint16_t tcp_flags, rev_tcp_flags;
    uint16_t app_label;                 /* YAF silkAppLabel */
    uint8_t proto, end_reason, ip_version;
    uint8_t padding[3];
};

static fbInfoElementSpec_t record_spec[] = {
    { "sourceIPv6Address", 16, 0 },        { "destinationIPv6Address", 16, 0 },
    { "ntopL7ProtoName", FB_IE_VARLEN, 0 }, { "ntopHttpHost", FB_IE_VARLEN, 0 },
    { "ntopSslServerName", FB_IE_VARLEN, 0 }, { "httpHost", FB_IE_VARLEN, 0 },
    { "flowStartMilliseconds", 8, 0 },     { "flowEndMilliseconds", 8, 0 },
    { "systemInitTimeMilliseconds", 8, 0 },
    { "octetDeltaCount", 8, 0 },           { "packetDeltaCount", 8, 0 },
    { "octetTotalCount", 8, 0 },           { "packetTotalCount", 8, 0 },
    { "reverseOctetDeltaCount", 8, 0 },    { "reversePacketDeltaCount", 8, 0 },
    { "flowStartSeconds", 4, 0 },          { "flowEndSeconds", 4, 0 },
    { "flowStartSysUpTime", 4, 0 },        { "flowEndSysUpTime", 4, 0 },
    { "sourceIPv4Address", 4, 0 },         { "destinationIPv4Address", 4, 0 },
    { "sourceTransportPort", 2, 0 },       { "destinationTransportPort", 2, 0 },
    { "tcpControlBits", 2, 0 },            { "reverseTcpControlBits", 2, 0 },
    { "silkAppLabel", 2, 0 },
    { "protocolIdentifier", 1, 0 },        { "flowEndReason", 1, 0 },
    { "ipVersion", 1, 0 },                 { "paddingOctets", 3, 0 },
    FB_IESPEC_NULL
};

/* Sequence state of one observation domain of one exporter. */
struct domain {
    uint32_t id;
    bool seen;
    uint32_t next_seq;          /* what the next message should carry */
    uint64_t system_init_ms;    /* from an options record: the base of SysUpTime fields */
    unsigned template_count;    /* templates this domain defined, their ids and field counts */
    uint16_t template_id[COLLECT_MAX_TEMPLATES];
    uint16_t template_fields[COLLECT_MAX_TEMPLATES];
    bool template_withdrawn[COLLECT_MAX_TEMPLATES]; /* until defined again */
    unsigned withdrawn_count;
};

/* One transport session (RFC 7011 §10.3.1: source address and port, our socket). */
struct exporter {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    uint64_t last_heard;        /* collector's datagram counter: least recently heard goes */
    /* Owns the fixbuf session and its templates. fixbuf does not cap templates per domain
     * (an exporter could define 65,280 before ids repeat; the fuzzer once held a few hundred
     * MiB over four exporters): domain_admit_templates caps them before fixbuf sees them. */
    fBuf_t *fbuf;
    uint64_t template_fields;   /* fields of the templates it holds: its share of the budget */
    bool refusal_logged;
    struct domain domains[COLLECT_MAX_DOMAINS];
    unsigned domain_count;
};

struct pair_dir {
    uint64_t packets, octets, first_usec, last_usec;
    uint8_t tcp_flags;
    bool seen;
};

/* A record waiting for its reverse or for its turn to leave. addr[0]/port[0] is the
 * source of the first record seen. */
struct pair_entry {
    uint32_t next;              /* hash chain, or free list */
    uint32_t hash;
    uint8_t ip_version, proto, end_reason;
    bool used, complete;        /* complete: both directions known, nothing to pair */
    bool named;                 /* its names are in the collector's names[] at its index */
    uint16_t port[2];
    uint8_t addr[2][16];
    struct pair_dir dir[2];
};

/* One IPFIX-over-TCP connection: a stream of messages, each framed by its header's length
 * (RFC 7011 §10.4). The connection is the transport session: its templates end with it. */
struct tcp_session {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    size_t have;                        /* bytes of the next message(s) read so far */
    uint8_t buf[DATAGRAM_MAX];          /* a message's length field caps it at 65,535 */
};

/* What an exporter's enterprise elements named; "" when absent. */
struct flow_names {
    char server[FLOW_NAME_LEN];         /* TLS SNI, else HTTP Host */
    char master[FLOW_LABEL_LEN], app[FLOW_LABEL_LEN];
};

struct collector {
    struct collect_config config;
    collect_record_fn on_record;
    void *user;
    int sockets[COLLECT_MAX_URLS];
    bool listening[COLLECT_MAX_URLS];   /* tcp:// listener, else a UDP socket */
    unsigned socket_count;
    struct tcp_session *tcp[COLLECT_MAX_TCP];
    unsigned tcp_count;
    fbInfoModel_t *model;
    struct exporter *exporters[COLLECT_MAX_EXPORTERS];
    unsigned exporter_count;
    uint8_t datagram[DATAGRAM_MAX + 1]; /* as received (one more byte: a longer one is cut) */
    uint8_t message[DATAGRAM_MAX + 16]; /* the datagram in IPFIX framing, for fixbuf */
    uint64_t datagram_counter;
    uint64_t flow_clock_usec;           /* latest flow end seen: the pairing window's clock */
    uint64_t flow_ids;
    uint64_t template_fields;           /* held by all exporters: COLLECT_TEMPLATE_BUDGET */
    uint32_t hash_seed;
    struct pair_entry *entries;         /* COLLECT_PAIR_MAX */
    uint32_t *buckets;                  /* COLLECT_PAIR_MAX chains */
    uint32_t *due;                      /* scratch for a release pass */
    struct flow_names *names;           /* COLLECT_PAIR_MAX, allocated with the first name */
    uint32_t free_head, used_count;
    struct flow flow;                   /* the record being handed on */
    struct collect_stats stats;
};

/* ---- libfixbuf's log ---------------------------------------------------------------- */

/* fixbuf reports per-message trouble (sequence, missing templates) through glib's log;
 * for us those are counters, not log lines on the operator's console. */
static void fixbuf_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
                       gpointer user)
{
    (void)domain; (void)level; (void)message; (void)user;
    LOG_DEBUG("fixbuf: %s", message);
}

/* ---- exporters ---------------------------------------------------------------------- */

static fBuf_t *exporter_fbuf_new(fbInfoModel_t *model)
{
    GError *error = NULL;
    fbSession_t *session = fbSessionAlloc(model);
    fbTemplate_t *tmpl = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(tmpl, record_spec, UINT32_MAX, &error) ||
        !fbSessionAddTemplate(session, TRUE, INTERNAL_TID, tmpl, &error)) {
        LOG_ERROR("fixbuf internal template: %s", error ? error->message : "?");
        g_clear_error(&error);
        fbTemplateFreeUnused(tmpl);
        fbSessionFree(session);
        return NULL;
    }
    fBuf_t *fbuf = fBufAllocForCollection(session, NULL);
    fBufSetAutomaticMode(fbuf, FALSE);
    if (!fBufSetInternalTemplate(fbuf, INTERNAL_TID, &error)) {
        g_clear_error(&error);
        fBufFree(fbuf);
        return NULL;
    }
    return fbuf;
}

static void exporter_free(struct exporter *exporter)
{
    if (exporter == NULL)
        return;
    if (exporter->fbuf != NULL)
        fBufFree(exporter->fbuf);   /* and its session */
    free(exporter);
}

/* An exporter leaves while the collector runs: its templates leave the budget. */
static void exporter_release(struct collector *c, struct exporter *e)
{
    c->template_fields -= e->template_fields;
    for (unsigned i = 0; i < e->domain_count; i++)
        c->stats.templates -= e->domains[i].template_count;
    exporter_free(e);
}

/* The exporter for this source, created when new; at the cap the least recently heard
 * one is dropped (its templates go: it resends them, as exporters do periodically). */
static struct exporter *exporter_get(struct collector *c, const struct sockaddr *from,
                                     socklen_t from_len)
{
    unsigned oldest = 0;
    for (unsigned i = 0; i < c->exporter_count; i++) {
        struct exporter *e = c->exporters[i];
        if (e->addr_len == from_len && memcmp(&e->addr, from, from_len) == 0) {
            e->last_heard = c->datagram_counter;
            return e;
        }
        if (e->last_heard < c->exporters[oldest]->last_heard)
            oldest = i;
    }
    if (from_len > sizeof(struct sockaddr_storage))
        return NULL;
    struct exporter *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->fbuf = exporter_fbuf_new(c->model)) == NULL) {
        free(e);
        return NULL;
    }
    memcpy(&e->addr, from, from_len);
    e->addr_len = from_len;
    e->last_heard = c->datagram_counter;
    if (c->exporter_count == COLLECT_MAX_EXPORTERS) {
        exporter_release(c, c->exporters[oldest]);
        c->exporters[oldest] = e;
        c->stats.exporters_evicted++;
    } else {
        c->exporters[c->exporter_count++] = e;
    }
    return e;
}

/* A TCP session ended: its templates go with it (RFC 7011 §10.4.2), and a new connection
 * from the same address and port starts afresh. */
static void exporter_forget(struct collector *c, const struct sockaddr *from, socklen_t from_len)
{
    for (unsigned i = 0; i < c->exporter_count; i++) {
        struct exporter *e = c->exporters[i];
        if (e->addr_len == from_len && memcmp(&e->addr, from, from_len) == 0) {
            exporter_release(c, e);
            c->exporters[i] = c->exporters[--c->exporter_count];
            return;
        }
    }
}

/* NULL when the exporter already uses COLLECT_MAX_DOMAINS others. */
static struct domain *exporter_domain(struct exporter *e, uint32_t id)
{
    for (unsigned i = 0; i < e->domain_count; i++)
        if (e->domains[i].id == id)
            return &e->domains[i];
    if (e->domain_count == COLLECT_MAX_DOMAINS)
        return NULL;
    struct domain *d = &e->domains[e->domain_count++];
    memset(d, 0, sizeof(*d));
    d->id = id;
    return d;
}

/* Counts exports lost between messages. A sequence that goes back (an exporter restart,
 * reordering) is counted apart and restarts the count. */
static void domain_check_sequence(struct collector *c, struct domain *d, uint32_t seq)
{
    if (d->seen && seq != d->next_seq) {
        uint32_t ahead = seq - d->next_seq;
        if (ahead < 0x80000000u)
            c->stats.sequence_lost += ahead;
        else
            c->stats.sequence_resets++;
    }
    d->seen = true;
    d->next_seq = seq;
}

/* ---- bounded reads ------------------------------------------------------------------ */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Copies a v9 template FlowSet's records, retyping vendor fields (high bit set, which
 * means "enterprise number follows" in IPFIX) to an unassigned id so that fixbuf reads
 * them as opaque fields of the same length. False when the set is malformed. */
static bool v9_copy_templates(const uint8_t *cur, const uint8_t *end, uint8_t *out)
{
    memcpy(out, cur, (size_t)(end - cur));
    uint8_t *w = out;
    while (end - cur >= 4) {
        uint16_t template_id = get_u16(cur), field_count = get_u16(cur + 2);
        if (template_id < 256)
            return false;   /* records are whole 4-byte words: no room for padding */
        if ((size_t)(end - cur - 4) < (size_t)field_count * 4)
            return false;
        for (uint16_t i = 0; i < field_count; i++) {
            const uint8_t *field = cur + 4 + 4 * i;
            if (get_u16(field) & 0x8000)
                put_u16(w + 4 + 4 * i, 0x7fff);
        }
        cur += 4 + 4 * (size_t)field_count;
        w += 4 + 4 * (size_t)field_count;
    }
    return true;
}

/* RFC 7011 §3.4.1-2: the template records of one (options) template set. Template ids
 * are 256 and up, at least one field, scope counts 1..field count, every field inside the
 * set; what is left is padding, shorter than a record. libfixbuf 2.4 trusts some of this (a template id
 * under 256 crashed it): a set that breaks a rule makes the datagram garbage. */
static bool ipfix_templates_valid(const uint8_t *cur, const uint8_t *end, bool options)
{
    while (end - cur >= 4) {
        uint16_t template_id = get_u16(cur), field_count = get_u16(cur + 2);
        if (template_id < 256)
            return false;
        cur += 4;
        /* A withdrawal: never sent over UDP (RFC 7011 §8.4), and libfixbuf 2.4 then read
         * data for that id as empty records without end. */
        if (field_count == 0)
            return false;
        if (options) {
            if (end - cur < 2)
                return false;
            uint16_t scope_count = get_u16(cur);
            if (scope_count == 0 || scope_count > field_count)
                return false;
            cur += 2;
        }
        for (uint16_t i = 0; i < field_count; i++) {
            if (end - cur < 4)
                return false;
            size_t field_len = get_u16(cur) & 0x8000 ? 8 : 4;   /* enterprise number follows */
            if (get_u16(cur + 2) == 0 || (size_t)(end - cur) < field_len)
                return false;
            cur += field_len;
        }
    }
    return true;
}

/* RFC 7011 §3.3.1: every set header fits, its length covers the header and stays inside
 * the message (fixbuf would stop at such a set without saying so), and template sets
 * follow the rules above. */
static bool ipfix_sets_valid(const uint8_t *message, size_t len)
{
    const uint8_t *cur = message + 16, *end = message + len;
    while (end - cur >= 4) {
        uint16_t set_id = get_u16(cur), set_len = get_u16(cur + 2);
        if (set_len < 4 || set_len > end - cur)
            return false;
        if ((set_id == 2 || set_id == 3) &&
            !ipfix_templates_valid(cur + 4, cur + set_len, set_id == 3))
            return false;
        if (set_id < 2 || (set_id > 3 && set_id < 256))
            return false;                       /* reserved set ids */
        cur += set_len;
    }
    return cur == end;
}

/* RFC 3954 §5 to RFC 7011 §3 framing, into c->message: the 20-byte header becomes IPFIX's
 * 16, template FlowSets (id 0) become template sets (id 2), data FlowSets pass as they
 * are, options templates are dropped (their layout differs; we read nothing from them).
 * *base_ms is the system init time that SysUpTime fields count from. Returns the message
 * length, 0 for a malformed datagram. */
static size_t v9_to_ipfix(struct collector *c, const uint8_t *data, size_t len, uint64_t *base_ms)
{
    if (len < 20)
        return 0;
    uint32_t uptime_ms = get_u32(data + 4), unix_secs = get_u32(data + 8);
    *base_ms = (uint64_t)unix_secs * 1000 - uptime_ms;
    uint8_t *out = c->message;
    put_u16(out, 10);
    put_u32(out + 4, unix_secs);
    put_u32(out + 8, 0);                    /* sequence: checked by us, from the v9 header */
    put_u32(out + 12, get_u32(data + 16));  /* source id = observation domain */
    size_t used = 16;
    const uint8_t *cur = data + 20, *end = data + len;
    while (end - cur >= 4) {
        uint16_t set_id = get_u16(cur), set_len = get_u16(cur + 2);
        if (set_len < 4 || set_len > end - cur)
            return 0;
        if (set_id == 0 || set_id >= 256) {
            put_u16(out + used, set_id == 0 ? 2 : set_id);
            put_u16(out + used + 2, set_len);
            if (set_id == 0) {
                if (!v9_copy_templates(cur + 4, cur + set_len, out + used + 4))
                    return 0;
            } else {
                memcpy(out + used + 4, cur + 4, set_len - 4u);
            }
            used += set_len;
        }
        cur += set_len;
    }
    put_u16(out + 2, (uint16_t)used);
    return used;
}

/* ---- pairing ------------------------------------------------------------------------ */

static uint32_t pair_hash(const struct collector *c, uint8_t ip_version, uint8_t proto,
                          const uint8_t *a, uint16_t a_port, const uint8_t *b, uint16_t b_port)
{
    /* Either direction hashes alike: the endpoints go in a fixed order. */
    int order = memcmp(a, b, 16);
    if (order > 0 || (order == 0 && a_port > b_port)) {
        const uint8_t *t = a; a = b; b = t;
        uint16_t p = a_port; a_port = b_port; b_port = p;
    }
    uint32_t h = c->hash_seed ^ (uint32_t)(ip_version << 8 | proto);
    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 16777619u;
    for (int i = 0; i < 16; i++)
        h = (h ^ b[i]) * 16777619u;
    h = (h ^ a_port) * 16777619u;
    h = (h ^ b_port) * 16777619u;
    return h;
}

/* One direction of a record, as decoded. */
struct one_way {
    uint8_t ip_version, proto, end_reason;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    struct pair_dir forward, reverse;   /* reverse.seen only for a biflow */
    bool named;
    struct flow_names names;
};

static struct pair_entry *pair_find_reverse(struct collector *c, const struct one_way *w,
                                            uint32_t hash)
{
    uint64_t window = COLLECT_PAIR_WINDOW * USEC_PER_SEC;
    for (uint32_t i = c->buckets[hash % COLLECT_PAIR_MAX]; i != PAIR_NONE; i = c->entries[i].next) {
        struct pair_entry *e = &c->entries[i];
        if (e->complete || e->hash != hash || e->proto != w->proto ||
            e->ip_version != w->ip_version || e->port[0] != w->dport || e->port[1] != w->sport ||
            memcmp(e->addr[0], w->dst, 16) != 0 || memcmp(e->addr[1], w->src, 16) != 0)
            continue;
        /* The two halves of one connection overlap in time, give or take the window. */
        if (w->forward.first_usec <= e->dir[0].last_usec + window &&
            e->dir[0].first_usec <= w->forward.last_usec + window)
            return e;
    }
    return NULL;
}

static int compare_due(const void *a, const void *b, void *arg)
{
    const struct pair_entry *entries = arg;
    const struct pair_entry *x = &entries[*(const uint32_t *)a], *y = &entries[*(const uint32_t *)b];
    uint64_t xe = x->dir[0].last_usec > x->dir[1].last_usec ? x->dir[0].last_usec : x->dir[1].last_usec;
    uint64_t ye = y->dir[0].last_usec > y->dir[1].last_usec ? y->dir[0].last_usec : y->dir[1].last_usec;
    if (xe != ye)
        return xe < ye ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static void pair_dir_to_flow(const struct pair_dir *d, uint8_t ip_version, uint8_t proto,
                             struct flow_direction_stats *out)
{
    /* Exporters count IP bytes; detection works on payload. Headers without options are
     * taken off each packet, and the link header added for the wire count.
     * XXX: TCP options (timestamps: 12 bytes a packet) stay in the payload estimate. */
    uint64_t header = (ip_version == 6 ? 40 : 20) + (proto == 6 ? 20 : proto == 17 ? 8 : 0);
    out->packets = d->packets;
    out->bytes = d->octets + 14 * d->packets;
    out->payload_bytes = d->octets > header * d->packets ? d->octets - header * d->packets : 0;
    out->first_ts_usec = d->first_usec;
    out->last_ts_usec = d->last_usec;
    out->tcp_flags = d->tcp_flags;
}

static enum tcp_state tcp_state_of(uint8_t orig_flags, uint8_t resp_flags)
{
    if ((orig_flags | resp_flags) & 0x04)
        return TCP_STATE_RESET;
    if ((orig_flags & 0x01) && (resp_flags & 0x01))
        return TCP_STATE_CLOSED;
    if (!(orig_flags & 0x02))
        return TCP_STATE_MIDSTREAM;
    return (resp_flags & 0x12) == 0x12 ? TCP_STATE_ESTABLISHED : TCP_STATE_SYN_SENT;
}

static enum flow_end_reason end_reason_of(uint8_t ipfix_reason)
{
    switch (ipfix_reason) {  /* RFC 5102 flowEndReason */
    case 2: return FLOW_END_ACTIVE;
    case 3: return FLOW_END_TCP_CLOSE;
    case 4: return FLOW_END_EOF;
    case 5: return FLOW_END_EVICTED;
    default: return FLOW_END_IDLE;
    }
}

/* Builds the bidirectional record from an entry and hands it on. The originator is the
 * side that started first (on a tie: the one with the higher, ephemeral port). */
static void pair_emit(struct collector *c, const struct pair_entry *e)
{
    int o = 0;
    if (e->dir[1].seen && (e->dir[1].first_usec < e->dir[0].first_usec ||
                           (e->dir[1].first_usec == e->dir[0].first_usec && e->port[1] > e->port[0])))
        o = 1;
    struct flow *f = &c->flow;
    memset(f, 0, sizeof(*f));
    f->ip_version = e->ip_version;
    f->proto = e->proto;
    f->orig_port = e->port[o];
    f->resp_port = e->port[!o];
    memcpy(f->orig_addr, e->addr[o], 16);
    memcpy(f->resp_addr, e->addr[!o], 16);
    pair_dir_to_flow(&e->dir[o], e->ip_version, e->proto, &f->dir[FLOW_DIR_ORIG]);
    if (e->dir[!o].seen)
        pair_dir_to_flow(&e->dir[!o], e->ip_version, e->proto, &f->dir[FLOW_DIR_RESP]);
    f->start_ts_usec = e->dir[o].first_usec;
    f->last_ts_usec = e->dir[0].last_usec > e->dir[1].last_usec ? e->dir[0].last_usec : e->dir[1].last_usec;
    f->total_start_ts_usec = f->start_ts_usec;
    if (e->proto == 6)
        f->tcp_state = tcp_state_of(e->dir[o].tcp_flags, e->dir[!o].tcp_flags);
    f->id = ++c->flow_ids;
    f->labels.detection_done = true;
    if (e->named) {
        const struct flow_names *n = &c->names[e - c->entries];
        memcpy(f->labels.server_name, n->server, sizeof(n->server));
        memcpy(f->labels.master_protocol, n->master, sizeof(n->master));
        memcpy(f->labels.app_protocol, n->app, sizeof(n->app));
    }
    c->stats.flows_out++;
    c->on_record(c->user, f, end_reason_of(e->end_reason));
}

static void pair_unlink(struct collector *c, uint32_t index)
{
    struct pair_entry *e = &c->entries[index];
    uint32_t *link = &c->buckets[e->hash % COLLECT_PAIR_MAX];
    while (*link != index)
        link = &c->entries[*link].next;
    *link = e->next;
    e->used = false;
    e->next = c->free_head;
    c->free_head = index;
    c->used_count--;
}

/* Hands on, in end-time order, every entry that ended before `before_usec` (all of them
 * for UINT64_MAX). A scan of the whole table: it runs once a second at most. */
static void pair_release(struct collector *c, uint64_t before_usec)
{
    uint32_t due_count = 0;
    for (uint32_t i = 0; i < COLLECT_PAIR_MAX && due_count < c->used_count; i++) {
        const struct pair_entry *e = &c->entries[i];
        if (!e->used)
            continue;
        uint64_t end = e->dir[0].last_usec > e->dir[1].last_usec ? e->dir[0].last_usec : e->dir[1].last_usec;
        if (before_usec == UINT64_MAX || end < before_usec)
            c->due[due_count++] = i;
    }
    qsort_r(c->due, due_count, sizeof(*c->due), compare_due, c->entries);
    for (uint32_t k = 0; k < due_count; k++) {
        const struct pair_entry *e = &c->entries[c->due[k]];
        if (!e->complete)
            c->stats.uniflows_single++;
        pair_emit(c, e);
        pair_unlink(c, c->due[k]);
    }
}

/* Keeps a record's names with its entry (the first that named the connection wins). The
 * table for them is allocated when an exporter first sends names: ~350 bytes an entry. */
static void pair_set_names(struct collector *c, struct pair_entry *e, const struct one_way *w)
{
    if (!w->named || e->named)
        return;
    if (c->names == NULL && (c->names = malloc(COLLECT_PAIR_MAX * sizeof(*c->names))) == NULL)
        return;
    c->names[e - c->entries] = w->names;
    e->named = true;
}

/* Files one decoded record: completes its reverse when that waits, else waits itself. */
static void pair_add(struct collector *c, const struct one_way *w)
{
    uint32_t hash = pair_hash(c, w->ip_version, w->proto, w->src, w->sport, w->dst, w->dport);
    if (!w->reverse.seen) {
        struct pair_entry *e = pair_find_reverse(c, w, hash);
        if (e != NULL) {
            e->dir[1] = w->forward;
            e->complete = true;
            pair_set_names(c, e, w);
            if (w->end_reason > e->end_reason)
                e->end_reason = w->end_reason;
            c->stats.uniflows_paired += 2;
            return;
        }
    } else {
        c->stats.biflows++;
    }
    if (c->free_head == PAIR_NONE) {
        c->stats.pair_overflow++;
        if (c->stats.pair_overflow == 1)
            LOG_WARN("flow pairing table full (%d records): records handed on early",
                     COLLECT_PAIR_MAX);
        pair_release(c, UINT64_MAX);
    }
    uint32_t index = c->free_head;
    struct pair_entry *e = &c->entries[index];
    c->free_head = e->next;
    memset(e, 0, sizeof(*e));
    e->used = true;
    e->complete = w->reverse.seen;
    e->hash = hash;
    e->ip_version = w->ip_version;
    e->proto = w->proto;
    e->end_reason = w->end_reason;
    e->port[0] = w->sport;
    e->port[1] = w->dport;
    memcpy(e->addr[0], w->src, 16);
    memcpy(e->addr[1], w->dst, 16);
    e->dir[0] = w->forward;
    e->dir[1] = w->reverse;
    e->next = c->buckets[hash % COLLECT_PAIR_MAX];
    c->buckets[hash % COLLECT_PAIR_MAX] = index;
    c->used_count++;
    pair_set_names(c, e, w);
}

/* ---- records ------------------------------------------------------------------------ */

/* Flow time in ms from whichever time fields the template had; 0 when none. */
static uint64_t record_time_ms(uint64_t abs_ms, uint32_t secs, uint32_t uptime, uint64_t base_ms)
{
    if (abs_ms != 0)
        return abs_ms;
    if (secs != 0)
        return (uint64_t)secs * 1000;
    if (uptime != 0 && base_ms != 0)
        return base_ms + uptime;
    return 0;
}

/* A string element into a fixed buffer, cut at its size or at a NUL. */
static void varfield_text(const fbVarfield_t *v, char *out, size_t out_len)
{
    size_t n = v->len < out_len - 1 ? v->len : out_len - 1;
    if (n > 0)
        memcpy(out, v->buf, n);
    out[n] = '\0';
}

/* A string cut to the buffer (names longer than a label are cut, as nDPI's are). */
static void copy_text(char *out, size_t out_len, const char *in)
{
    size_t n = strlen(in);
    if (n > out_len - 1)
        n = out_len - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

/* YAF's silkAppLabel is the application's well-known port; the few that matter here. */
static const char *app_label_name(uint16_t label)
{
    switch (label) {
    case 21: return "FTP";
    case 22: return "SSH";
    case 25: return "SMTP";
    case 53: return "DNS";
    case 80: return "HTTP";
    case 443: return "TLS";
    default: return NULL;
    }
}

/* The names a record's enterprise elements carry, as the packet path's labels hold them
 * (nDPI's "MASTER.APP" split in two). */
static void record_names(const struct export_record *r, struct one_way *w)
{
    struct flow_names *n = &w->names;
    const fbVarfield_t *server = r->tls_name.len ? &r->tls_name
                               : r->http_host.len ? &r->http_host : &r->yaf_http_host;
    varfield_text(server, n->server, sizeof(n->server));
    char app[FLOW_LABEL_LEN * 2];
    const char *label = app_label_name(r->app_label);
    if (r->app_name.len)
        varfield_text(&r->app_name, app, sizeof(app));
    else
        copy_text(app, sizeof(app), label ? label : "");
    char *dot = strchr(app, '.');
    if (dot != NULL)
        *dot = '\0';
    copy_text(n->master, sizeof(n->master), app);
    copy_text(n->app, sizeof(n->app), dot ? dot + 1 : app);
    w->named = n->server[0] != '\0' || n->app[0] != '\0';
}

/* One decoded record into a one_way; false when it is not a flow we can use. */
static bool record_to_one_way(const struct export_record *r, uint64_t base_ms, struct one_way *w)
{
    static const uint8_t zero[16];
    memset(w, 0, sizeof(*w));
    if (memcmp(r->src6, zero, 16) != 0 || memcmp(r->dst6, zero, 16) != 0) {
        w->ip_version = 6;
        memcpy(w->src, r->src6, 16);
        memcpy(w->dst, r->dst6, 16);
    } else if (r->src4 != 0 || r->dst4 != 0) {
        w->ip_version = 4;
        put_u32(w->src, r->src4);
        put_u32(w->dst, r->dst4);
    } else {
        return false;
    }
    uint64_t start = record_time_ms(r->start_ms, r->start_sec, r->start_uptime, base_ms);
    uint64_t end = record_time_ms(r->end_ms, r->end_sec, r->end_uptime, base_ms);
    if (start == 0 && end == 0)
        return false;
    if (start == 0 || start > end)
        start = end ? end : start;
    if (end == 0)
        end = start;
    w->proto = r->proto;
    w->end_reason = r->end_reason;
    w->sport = r->sport;
    w->dport = r->dport;
    w->forward.seen = true;
    w->forward.packets = r->packets ? r->packets : r->packets_total;
    w->forward.octets = r->octets ? r->octets : r->octets_total;
    w->forward.first_usec = start * 1000;
    w->forward.last_usec = end * 1000;
    w->forward.tcp_flags = (uint8_t)r->tcp_flags;
    if (r->rev_packets || r->rev_octets) {
        /* RFC 5103: the reverse direction shares the flow's times unless told otherwise. */
        w->reverse = w->forward;
        w->reverse.packets = r->rev_packets;
        w->reverse.octets = r->rev_octets;
        w->reverse.tcp_flags = (uint8_t)r->rev_tcp_flags;
    }
    return true;
}

/* Reads every record of the message in c->message through the exporter's session. Returns
 * the number of records, or -1 when fixbuf found the message broken. */
static long decode_message(struct collector *c, struct exporter *e, struct domain *d, size_t len,
                           uint64_t base_ms)
{
    GError *error = NULL;
    struct export_record r;
    long count = 0;
    fBufSetBuffer(e->fbuf, c->message, len);
    for (;;) {
        size_t size = sizeof(r);
        memset(&r, 0, sizeof(r));
        if (!fBufNext(e->fbuf, (uint8_t *)&r, &size, &error))
            break;
        count++;
        c->stats.records++;
        if (r.system_init_ms != 0 && r.src4 == 0 && r.dst4 == 0)
            d->system_init_ms = r.system_init_ms;   /* an options record: softflowd sends one */
        struct one_way w;
        if (!record_to_one_way(&r, base_ms ? base_ms : d->system_init_ms, &w)) {
            c->stats.records_skipped++;
            continue;
        }
        record_names(&r, &w);
        if (w.named)
            c->stats.records_named++;
        if (w.forward.last_usec > c->flow_clock_usec)
            c->flow_clock_usec = w.forward.last_usec;
        pair_add(c, &w);
    }
    bool end_of_buffer = g_error_matches(error, FB_ERROR_DOMAIN, FB_ERROR_EOM) ||
                         g_error_matches(error, FB_ERROR_DOMAIN, FB_ERROR_BUFSZ);
    g_clear_error(&error);
    return end_of_buffer ? count : -1;
}

/* NetFlow v5 (Cisco's fixed format, no templates): a 24-byte header and `count` 48-byte
 * records, read field by field. Returns the record count, or -1 when the datagram is not
 * exactly that. */
#define V5_HEADER 24
#define V5_RECORD 48
#define V5_MAX_RECORDS 30
static long v5_decode(struct collector *c, const uint8_t *data, size_t len)
{
    uint16_t count = get_u16(data + 2);
    if (len < V5_HEADER || count == 0 || count > V5_MAX_RECORDS ||
        len != V5_HEADER + (size_t)count * V5_RECORD)
        return -1;
    uint32_t uptime_ms = get_u32(data + 4), unix_secs = get_u32(data + 8);
    uint32_t unix_nsecs = get_u32(data + 12);
    uint64_t base_ms = (uint64_t)unix_secs * 1000 + unix_nsecs / 1000000 - uptime_ms;
    for (uint16_t i = 0; i < count; i++) {
        const uint8_t *r = data + V5_HEADER + (size_t)i * V5_RECORD;
        struct export_record record = {
            .src4 = get_u32(r), .dst4 = get_u32(r + 4),
            .packets = get_u32(r + 16), .octets = get_u32(r + 20),
            .start_uptime = get_u32(r + 24), .end_uptime = get_u32(r + 28),
            .sport = get_u16(r + 32), .dport = get_u16(r + 34),
            .tcp_flags = r[37], .proto = r[38],
        };
        c->stats.records++;
        struct one_way w;
        if (!record_to_one_way(&record, base_ms, &w)) {
            c->stats.records_skipped++;
            continue;
        }
        if (w.forward.last_usec > c->flow_clock_usec)
            c->flow_clock_usec = w.forward.last_usec;
        pair_add(c, &w);
    }
    return count;
}

/* One template record (id, field count) against the caps; with commit, it is recorded. */
static bool domain_template(struct collector *c, struct exporter *e, struct domain *d,
                            uint16_t id, uint16_t fields, uint64_t *budget, bool commit)
{
    if (fields > COLLECT_MAX_TEMPLATE_FIELDS)
        return false;
    unsigned i = 0;
    while (i < d->template_count && d->template_id[i] != id)
        i++;
    uint16_t old = i < d->template_count ? d->template_fields[i] : 0;
    if (i == COLLECT_MAX_TEMPLATES || *budget - old + fields > COLLECT_TEMPLATE_BUDGET)
        return false;
    *budget = *budget - old + fields;
    if (commit) {
        if (i == d->template_count) {
            d->template_count++;
            c->stats.templates++;
            d->template_withdrawn[i] = false;
        } else if (d->template_withdrawn[i]) {
            d->template_withdrawn[i] = false;
            d->withdrawn_count--;
        }
        d->template_id[i] = id;
        d->template_fields[i] = fields;
        e->template_fields = e->template_fields - old + fields;
        c->template_fields = c->template_fields - old + fields;
    }
    return true;
}

/* Bounded template memory: every template the message defines must fit this domain's
 * COLLECT_MAX_TEMPLATES ids, COLLECT_MAX_TEMPLATE_FIELDS fields, and the collector's
 * field budget; otherwise the whole message is refused (fixbuf never sees it), counted,
 * and logged once per exporter. The sets were checked by ipfix_sets_valid. */
static bool domain_admit_templates(struct collector *c, struct exporter *e, struct domain *d,
                                   const uint8_t *message, size_t len)
{
    for (int commit = 0; commit < 2; commit++) {
        uint64_t budget = c->template_fields;
        const uint8_t *cur = message + 16, *end = message + len;
        while (end - cur >= 4) {
            uint16_t set_id = get_u16(cur), set_len = get_u16(cur + 2);
            const uint8_t *rec = cur + 4, *set_end = cur + set_len;
            cur = set_end;
            if (set_id != 2 && set_id != 3)
                continue;
            while (set_end - rec >= 4) {
                uint16_t id = get_u16(rec), fields = get_u16(rec + 2);
                rec += set_id == 3 ? 6 : 4;
                for (uint16_t f = 0; f < fields; f++)
                    rec += get_u16(rec) & 0x8000 ? 8 : 4;
                if (!domain_template(c, e, d, id, fields, &budget, commit)) {
                    c->stats.templates_refused++;
                    if (!e->refusal_logged)
                        LOG_WARN("flow exporter: a template past the caps (%d per observation "
                                 "domain, %d fields, %d fields in all) refused with its "
                                 "message; counted in templates_refused from now on",
                                 COLLECT_MAX_TEMPLATES, COLLECT_MAX_TEMPLATE_FIELDS,
                                 COLLECT_TEMPLATE_BUDGET);
                    e->refusal_logged = true;
                    return false;
                }
            }
        }
    }
    return true;
}

/* RFC 7011 §8.1 template withdrawals (IPFIX over TCP): records with no fields, naming one
 * template, or all of a domain's (id 2 or 3). libfixbuf 2.4 misreads them (data for a
 * withdrawn id became endless empty records), so they are taken out of the message here and
 * applied by domain_withdraw. */
#define MAX_WITHDRAWN 64
struct withdrawals {
    uint16_t id[MAX_WITHDRAWN];
    unsigned count;
    bool all;
};

/* Copies one template set's records to out without the withdrawals; NULL when malformed,
 * else where the copy ends. Bytes after the last record (padding) are dropped. */
static uint8_t *set_take_withdrawals(const uint8_t *rec, const uint8_t *set_end, bool options,
                                     uint8_t *out, struct withdrawals *w)
{
    while (set_end - rec >= 4) {
        uint16_t id = get_u16(rec), fields = get_u16(rec + 2);
        if (id < 256 && id != 2 && id != 3)
            break;                          /* padding */
        if (fields == 0) {
            if (id == 2 || id == 3)
                w->all = true;
            else if (w->count < MAX_WITHDRAWN)
                w->id[w->count++] = id;
            else
                return NULL;
            rec += 4;
            continue;
        }
        const uint8_t *r = rec + (options ? 6 : 4);
        for (uint16_t f = 0; f < fields && r <= set_end; f++)
            r += set_end - r >= 4 && (get_u16(r) & 0x8000) ? 8 : 4;
        if (r > set_end)
            return NULL;
        memcpy(out, rec, (size_t)(r - rec));
        out += r - rec;
        rec = r;
    }
    return out;
}

/* The message into c->message without its withdrawals (a set left empty goes too). Returns
 * the new length, 0 when malformed. */
static size_t ipfix_take_withdrawals(struct collector *c, const uint8_t *in, size_t len,
                                     struct withdrawals *w)
{
    uint8_t *out = c->message, *o = out + 16;
    memcpy(out, in, 16);
    const uint8_t *cur = in + 16, *end = in + len;
    while (end - cur >= 4) {
        uint16_t set_id = get_u16(cur), set_len = get_u16(cur + 2);
        if (set_len < 4 || set_len > end - cur)
            return 0;
        if (set_id == 2 || set_id == 3) {
            uint8_t *set_end = set_take_withdrawals(cur + 4, cur + set_len, set_id == 3, o + 4, w);
            if (set_end == NULL)
                return 0;
            if (set_end - o > 4) {
                put_u16(o, set_id);
                put_u16(o + 2, (uint16_t)(set_end - o));
                o = set_end;
            }
        } else {
            memcpy(o, cur, set_len);
            o += set_len;
        }
        cur += set_len;
    }
    if (cur != end)
        return 0;
    put_u16(out + 2, (uint16_t)(o - out));
    return (size_t)(o - out);
}

/* Marks one template of the domain withdrawn (all of them for id 0): its data sets are
 * dropped until it is defined again. fixbuf keeps the template meanwhile (its own removal
 * left dangling state in the fuzzer), still counted against the caps. */
static void domain_withdraw(struct collector *c, struct domain *d, uint16_t id)
{
    for (unsigned i = 0; i < d->template_count; i++) {
        if ((id != 0 && d->template_id[i] != id) || d->template_withdrawn[i])
            continue;
        d->template_withdrawn[i] = true;
        d->withdrawn_count++;
        c->stats.templates_withdrawn++;
    }
}

static bool domain_is_withdrawn(const struct domain *d, uint16_t id)
{
    for (unsigned i = 0; i < d->template_count; i++)
        if (d->template_id[i] == id)
            return d->template_withdrawn[i];
    return false;
}

/* Drops the data sets of withdrawn templates from c->message (checked by ipfix_sets_valid);
 * returns the new length. */
static size_t domain_drop_withdrawn(struct collector *c, const struct domain *d, size_t len)
{
    if (d->withdrawn_count == 0)
        return len;
    uint8_t *m = c->message, *o = m + 16;
    const uint8_t *cur = m + 16, *end = m + len;
    while (end - cur >= 4) {
        uint16_t set_id = get_u16(cur), set_len = get_u16(cur + 2);
        if (set_id < 256 || !domain_is_withdrawn(d, set_id)) {
            memmove(o, cur, set_len);
            o += set_len;
        }
        cur += set_len;
    }
    put_u16(m + 2, (uint16_t)(o - m));
    return (size_t)(o - m);
}

static void collector_message(struct collector *c, const uint8_t *data, size_t len,
                              const struct sockaddr *from, socklen_t from_len, bool stream);

void collector_datagram(struct collector *c, const uint8_t *data, size_t len,
                        const struct sockaddr *from, socklen_t from_len)
{
    collector_message(c, data, len, from, from_len, false);
}

void collector_stream_message(struct collector *c, const uint8_t *data, size_t len,
                              const struct sockaddr *from, socklen_t from_len)
{
    collector_message(c, data, len, from, from_len, true);
}

/* One message; stream: it came over TCP, where withdrawals are allowed. */
static void collector_message(struct collector *c, const uint8_t *data, size_t len,
                              const struct sockaddr *from, socklen_t from_len, bool stream)
{
    struct withdrawals withdrawn = { .count = 0 };
    c->stats.datagrams++;
    c->datagram_counter++;
    if (len < 4 || len > DATAGRAM_MAX)
        goto garbage;
    uint16_t version = get_u16(data);
    uint64_t base_ms = 0;
    size_t message_len;
    uint32_t domain_id, seq;
    if (version == 10) {
        /* RFC 7011 §3.1: the message length must be the datagram's. */
        if (len < 16 || get_u16(data + 2) != len)
            goto garbage;
        if (stream) {
            message_len = ipfix_take_withdrawals(c, data, len, &withdrawn);
        } else {
            memcpy(c->message, data, len);
            message_len = len;
        }
        if (message_len == 0 || !ipfix_sets_valid(c->message, message_len))
            goto garbage;
        domain_id = get_u32(data + 12);
        seq = get_u32(data + 8);
    } else if (version == 5) {
        /* v5 sequence numbers count flows; one domain per engine (type, id). */
        if (len < V5_HEADER)
            goto garbage;
        struct exporter *e5 = exporter_get(c, from, from_len);
        struct domain *d5 = e5 ? exporter_domain(e5, 0x50000u | get_u16(data + 20)) : NULL;
        if (d5 == NULL)
            goto garbage;
        seq = get_u32(data + 16);
        domain_check_sequence(c, d5, seq);
        long flows = v5_decode(c, data, len);
        if (flows < 0)
            goto garbage;
        d5->next_seq = seq + (uint32_t)flows;
        return;
    } else if (version == 9) {
        message_len = v9_to_ipfix(c, data, len, &base_ms);
        if (message_len == 0 || !ipfix_sets_valid(c->message, message_len))
            goto garbage;
        domain_id = get_u32(data + 16);
        seq = get_u32(data + 12);
    } else {
        goto garbage;
    }
    struct exporter *e = exporter_get(c, from, from_len);
    struct domain *d = e ? exporter_domain(e, domain_id) : NULL;
    if (d == NULL)
        goto garbage;
    if (withdrawn.all)
        domain_withdraw(c, d, 0);
    for (unsigned i = 0; i < withdrawn.count; i++)
        domain_withdraw(c, d, withdrawn.id[i]);
    if (!domain_admit_templates(c, e, d, c->message, message_len))
        return;
    message_len = domain_drop_withdrawn(c, d, message_len);
    domain_check_sequence(c, d, seq);
    long records = decode_message(c, e, d, message_len, base_ms);
    if (records < 0)
        c->stats.garbage++;
    /* v9 counts export packets, IPFIX counts data records (RFC 3954 §5.1, RFC 7011 §3.1). */
    d->next_seq = seq + (version == 9 ? 1u : (uint32_t)(records < 0 ? 0 : records));
    return;
garbage:
    c->stats.garbage++;
}

/* ---- sockets and the loop ----------------------------------------------------------- */

/* udp://HOST:PORT or tcp://HOST:PORT, HOST may be [v6]; *tcp tells which. */
static int bind_url(const char *url, bool *tcp, char *err, size_t err_len)
{
    char host[256];
    *tcp = strncmp(url, "tcp://", 6) == 0;
    const char *rest = strncmp(url, "udp://", 6) == 0 || *tcp ? url + 6 : NULL;
    const char *colon = rest ? strrchr(rest, ':') : NULL;
    if (colon == NULL || colon == rest || (size_t)(colon - rest) >= sizeof(host) || colon[1] == '\0') {
        snprintf(err, err_len, "--collect %s: expected udp://HOST:PORT or tcp://HOST:PORT", url);
        return -1;
    }
    memcpy(host, rest, (size_t)(colon - rest));
    host[colon - rest] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    int type = *tcp ? SOCK_STREAM : SOCK_DGRAM;
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = type };
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(strcmp(h, "*") == 0 ? NULL : h, colon + 1, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "--collect %s: %s", url, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && *tcp)   /* a restarted collector rebinds while old sessions linger */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (*tcp && listen(fd, 16) != 0)) {
        snprintf(err, err_len, "--collect %s: %s", url, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    int size = COLLECT_RCVBUF_BYTES;
    /* FORCE passes rmem_max when we may (root); otherwise the kernel's cap applies. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    return fd;
}

struct collector *collector_new(const struct collect_config *config, collect_record_fn on_record,
                                void *user, char *err, size_t err_len)
{
    struct collector *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto oom;
    c->config = *config;
    c->on_record = on_record;
    c->user = user;
    c->entries = calloc(COLLECT_PAIR_MAX, sizeof(*c->entries));
    c->buckets = malloc(COLLECT_PAIR_MAX * sizeof(*c->buckets));
    c->due = malloc(COLLECT_PAIR_MAX * sizeof(*c->due));
    if (c->entries == NULL || c->buckets == NULL || c->due == NULL)
        goto oom;
    for (uint32_t i = 0; i < COLLECT_PAIR_MAX; i++) {
        c->buckets[i] = PAIR_NONE;
        c->entries[i].next = i + 1 < COLLECT_PAIR_MAX ? i + 1 : PAIR_NONE;
    }
    c->free_head = 0;
    c->hash_seed = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
    /* glib's default handler is process-wide; only libfixbuf logs through glib here. */
    g_log_set_default_handler(fixbuf_log, NULL);
    c->model = fbInfoModelAlloc();
    fbInfoModelAddElementArray(c->model, enterprise_elements);
    for (unsigned i = 0; i < config->url_count; i++) {
        bool tcp;
        int fd = bind_url(config->urls[i], &tcp, err, err_len);
        if (fd < 0)
            goto fail;
        c->listening[c->socket_count] = tcp;
        c->sockets[c->socket_count++] = fd;
    }
    return c;
oom:
    snprintf(err, err_len, "out of memory");
fail:
    collector_free(c);
    return NULL;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads what one socket holds now, a bounded number of datagrams at a time. */
static unsigned drain_socket(struct collector *c, int fd)
{
    unsigned count = 0;
    while (count < 1024) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(fd, c->datagram, sizeof(c->datagram), 0, (struct sockaddr *)&from,
                             &from_len);
        if (n < 0)
            break;   /* EAGAIN, or an ICMP error queued on the socket: nothing to read */
        collector_datagram(c, c->datagram, (size_t)n, (struct sockaddr *)&from, from_len);
        count++;
    }
    return count;
}

/* ---- IPFIX over TCP ----------------------------------------------------------------- */

static void tcp_close(struct collector *c, unsigned index, bool broken)
{
    struct tcp_session *t = c->tcp[index];
    if (broken && c->stats.tcp_broken++ == 0)   /* once: a peer could repeat it at will */
        LOG_WARN("IPFIX over TCP: a session sent something that is not an IPFIX message; "
                 "closed (counted in tcp_broken from now on)");
    exporter_forget(c, (const struct sockaddr *)&t->addr, t->addr_len);
    close(t->fd);
    free(t);
    c->tcp[index] = c->tcp[--c->tcp_count];
}

/* A new connection on a tcp:// listener; at the cap it is closed at once, counted. */
static void tcp_accept(struct collector *c, int listener)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        int fd = accept4(listener, (struct sockaddr *)&from, &from_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct tcp_session *t = c->tcp_count < COLLECT_MAX_TCP ? malloc(sizeof(*t)) : NULL;
        if (t == NULL) {
            if (c->stats.tcp_refused++ == 0)
                LOG_WARN("IPFIX over TCP: more than %d sessions at once: refusing more",
                         COLLECT_MAX_TCP);
            close(fd);
            continue;
        }
        t->fd = fd;
        t->addr = from;
        t->addr_len = from_len;
        t->have = 0;
        c->tcp[c->tcp_count++] = t;
        c->stats.tcp_sessions++;
    }
}

enum tcp_result { TCP_OPEN, TCP_ENDED, TCP_BROKEN };

/* Reads what the session holds and decodes every whole message in it. */
static enum tcp_result tcp_read(struct collector *c, struct tcp_session *t)
{
    for (;;) {
        ssize_t n = read(t->fd, t->buf + t->have, sizeof(t->buf) - t->have);
        if (n == 0)
            return TCP_ENDED;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? TCP_OPEN : TCP_ENDED;
        t->have += (size_t)n;
        size_t used = 0;
        while (t->have - used >= 4) {
            const uint8_t *m = t->buf + used;
            size_t len = get_u16(m + 2);
            /* Only IPFIX runs over TCP; a wrong version or length leaves no way to find
             * the next message. */
            if (get_u16(m) != 10 || len < 16) {
                c->stats.garbage++;
                return TCP_BROKEN;
            }
            if (t->have - used < len)
                break;
            collector_message(c, m, len, (const struct sockaddr *)&t->addr, t->addr_len, true);
            used += len;
        }
        memmove(t->buf, t->buf + used, t->have - used);
        t->have -= used;
    }
}

/* Asked to stop: what the kernel has already queued is read first, so that exports sent
 * just before the signal (a replay that has just ended) are scored, not dropped. */
static void drain_queued(struct collector *c)
{
    for (unsigned i = 0; i < c->socket_count; i++)
        if (!c->listening[i])
            while (drain_socket(c, c->sockets[i]) == 1024)
                ;
    for (unsigned i = c->tcp_count; i-- > 0;) {
        enum tcp_result result = tcp_read(c, c->tcp[i]);
        if (result != TCP_OPEN)
            tcp_close(c, i, result == TCP_BROKEN);
    }
}

void collector_run(struct collector *c, volatile sig_atomic_t *stop,
                   void (*on_tick)(void *user), void *tick_user)
{
    struct pollfd fds[COLLECT_MAX_URLS + COLLECT_MAX_TCP];
    uint64_t last_datagram = monotonic_ms(), next_tick = last_datagram + 1000;
    while (!*stop) {
        unsigned nfds = 0, tcp_count = c->tcp_count;
        for (unsigned i = 0; i < c->socket_count; i++)
            fds[nfds++] = (struct pollfd){ .fd = c->sockets[i], .events = POLLIN };
        for (unsigned i = 0; i < tcp_count; i++)
            fds[nfds++] = (struct pollfd){ .fd = c->tcp[i]->fd, .events = POLLIN };
        int ready = poll(fds, nfds, 200);
        uint64_t now = monotonic_ms();
        if (ready > 0) {
            /* Sessions first, from the last: closing one moves the last into its place. */
            for (unsigned i = tcp_count; i-- > 0;) {
                if (!(fds[c->socket_count + i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                last_datagram = now;
                enum tcp_result result = tcp_read(c, c->tcp[i]);
                if (result != TCP_OPEN)
                    tcp_close(c, i, result == TCP_BROKEN);
            }
            for (unsigned i = 0; i < c->socket_count; i++) {
                if (!(fds[i].revents & POLLIN))
                    continue;
                if (c->listening[i])
                    tcp_accept(c, fds[i].fd);
                else if (drain_socket(c, fds[i].fd) > 0)
                    last_datagram = now;
            }
        }
        if (now < next_tick)
            continue;
        next_tick = now + 1000;
        /* Records leave once the flow clock is a window past their end, in end order. */
        uint64_t window = COLLECT_PAIR_WINDOW * USEC_PER_SEC;
        if (now - last_datagram >= COLLECT_IDLE_FLUSH * 1000ull)
            pair_release(c, UINT64_MAX);
        else if (c->flow_clock_usec > window)
            pair_release(c, c->flow_clock_usec - window);
        if (on_tick != NULL)
            on_tick(tick_user);
        if (c->config.idle_exit_usec > 0 && now - last_datagram >= c->config.idle_exit_usec / 1000)
            break;
    }
    if (*stop)
        drain_queued(c);
    collector_flush(c);
}

void collector_flush(struct collector *c)
{
    pair_release(c, UINT64_MAX);
}

uint32_t collector_unavailable_evidence(const struct collector *c)
{
    (void)c;
    /* HTTP methods and bodies, FTP commands, DNS names, ICMP and SMTP payloads, archive
     * magic and TLS/HTTP names are all in packets no exporter forwards. SSH uploads are
     * still found by port and ratio; the rest are volumes, times and addresses. */
    return EVIDENCE_HTTP_UPLOAD | EVIDENCE_FTP_STOR | EVIDENCE_CLOUD_STORAGE |
           EVIDENCE_DNS_TUNNEL | EVIDENCE_ICMP_TUNNEL | EVIDENCE_SMTP_EXFIL |
           EVIDENCE_PACKED_DATA;
}

void collector_get_stats(const struct collector *c, struct collect_stats *stats)
{
    *stats = c->stats;
    stats->exporters = c->exporter_count;
    stats->tcp_open = c->tcp_count;
}

void collector_free(struct collector *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->socket_count; i++)
        close(c->sockets[i]);
    for (unsigned i = 0; i < c->tcp_count; i++) {
        close(c->tcp[i]->fd);
        free(c->tcp[i]);
    }
    for (unsigned i = 0; i < c->exporter_count; i++)
        exporter_free(c->exporters[i]);
    if (c->model != NULL)
        fbInfoModelFree(c->model);
    free(c->entries);
    free(c->buckets);
    free(c->due);
    free(c->names);
    free(c);
}
