/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Covert channels: the module's state and the hooks the detector calls (see covert.h).
 * Owns the registered-domain rules (libpsl, Debian's publicsuffix file), the list of heavy
 * long-name users that never alert, the mail servers (listed or learned), and the DNS
 * windows per (client, registered domain).
 */
#include "covert.h"
#include "detect_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/tunables.h"

#define SMTP_PORT 25
#define SUBMISSION_PORT 587
#define SMTPS_PORT 465
#define DNS_PORT 53

/* DNS evidence of one client for one registered domain: this window and the last. */
struct dns_window {
    struct table_entry entry;       /* key: "<client> <domain>" */
    uint64_t start_usec;            /* start of the current window */
    uint64_t first_usec;            /* first record of the series */
    struct dns_domain_evidence current, previous;
    int ip_version;
    uint8_t client[GEO_ADDR_LEN];
    uint8_t resolver[GEO_ADDR_LEN]; /* the last resolver asked */
    uint16_t resolver_port;
    bool alerted;
    enum alert_severity last_severity;
    uint64_t last_alert_usec;
};

/* Registered domains of recent names: libpsl spends ~16 k instructions on one name, and
 * most DNS names repeat (a response carries its query's name; clients ask again). Short
 * names go in a direct-mapped cache keyed by the masked name. Long ones (a tunnel's, each
 * asked once) would only push those out: they go in a few slots of their own, enough for
 * a response to find its query's. */
#define REGISTERED_CACHE_SLOTS 1024
#define REGISTERED_SHORT_NAME 64       /* shorter names go in the direct-mapped cache */
#define REGISTERED_LONG_SLOTS 16
#define REGISTERED_NONE 0xff           /* offset: the name has no registered domain */

/* What a slot says about the name it holds. */
struct registered_tag {
    uint8_t len;                    /* of the name; 0: empty slot */
    uint8_t offset;                 /* of the registered domain in it, or REGISTERED_NONE */
};

struct registered_slot {
    struct registered_tag tag;
    char name[REGISTERED_SHORT_NAME];
};

struct registered_long_slot {
    uint64_t hash;
    struct registered_tag tag;
    char name[256];                 /* as covert_registered's copy */
};

struct registered_cache {
    struct registered_slot slot[REGISTERED_CACHE_SLOTS];
    struct registered_long_slot long_slot[REGISTERED_LONG_SLOTS];
    unsigned long_next;             /* the long slot to fill next, round robin */
};

struct covert {
    psl_ctx_t *psl;                 /* NULL: no rules found, the last two labels are used */
    struct table heavy;             /* listed registered domains */
    struct cidr_set *mail_listed;   /* --mail-servers; NULL when none */
    struct table mail_learned;      /* internal hosts seen accepting SMTP */
    struct table dns_windows;
    const struct cidr_set *home_net;
    uint64_t suppress_usec;
    struct covert_stats stats;
    char domain[DNS_DOMAIN_MAX];    /* covert_registered's answer */
    struct registered_cache *registered; /* NULL: none */
};

static void covert_free_entry(struct table_entry *entry)
{
    free(entry);
}

/* Reads the heavy-user list: one registered domain a line, '#' comments. */
static bool covert_load_heavy(struct covert *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return false;
    }
    char line[512];
    unsigned line_no = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), f) != NULL) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        size_t n = strlen(p);
        while (n > 0 && isspace((unsigned char)p[n - 1]))
            p[--n] = '\0';
        if (n == 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)tolower((unsigned char)p[i]);
            if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_') {
                snprintf(err, err_len, "%s:%u: '%s' is not a domain name", path, line_no, p);
                ok = false;
                goto out;
            }
            p[i] = (char)ch;
        }
        if (table_get(&c->heavy, p, strlen(p), sizeof(struct table_entry), SIZE_MAX, covert_free_entry) == NULL) {
            snprintf(err, err_len, "%s: out of memory", path);
            ok = false;
            goto out;
        }
    }
out:
    fclose(f);
    return ok;
}

struct covert *covert_new(const struct covert_config *config, char *err, size_t err_len)
{
    char message[512];
    struct covert *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, err_len, "covert: out of memory");
        return NULL;
    }
    c->home_net = config->home_net;
    c->suppress_usec = config->suppress_usec;
    /* Without it every name goes to libpsl: slower, same answers. */
    c->registered = calloc(1, sizeof(*c->registered));
    if (!table_init(&c->heavy, 256) || !table_init(&c->mail_learned, 64) ||
        !table_init(&c->dns_windows, 1024)) {
        snprintf(err, err_len, "covert: out of memory");
        goto fail;
    }
    /* The newest of libpsl's built-in list and Debian's publicsuffix file. */
    c->psl = psl_latest(NULL);
    if (c->psl == NULL)
        c->psl = (psl_ctx_t *)psl_builtin();
    if (config->dns_heavy_users_file && !covert_load_heavy(c, config->dns_heavy_users_file, err, err_len))
        goto fail;
    if (config->mail_servers && config->mail_servers[0]) {
        c->mail_listed = cidr_set_new();
        if (c->mail_listed == NULL ||
            !cidr_set_add_list(c->mail_listed, config->mail_servers, message, sizeof(message))) {
            snprintf(err, err_len, "--mail-servers: %s", c->mail_listed ? message : "out of memory");
            goto fail;
        }
    }
    return c;
fail:
    covert_free(c);
    return NULL;
}

void covert_free(struct covert *c)
{
    if (c == NULL)
        return;
    /* psl_builtin() is static: psl_free ignores it. */
    psl_free(c->psl);
    if (c->heavy.buckets)
        table_destroy(&c->heavy, covert_free_entry);
    if (c->mail_learned.buckets)
        table_destroy(&c->mail_learned, covert_free_entry);
    if (c->dns_windows.buckets)
        table_destroy(&c->dns_windows, covert_free_entry);
    if (c->mail_listed)
        cidr_set_free(c->mail_listed);
    free(c->registered);
    free(c);
}

void covert_get_stats(const struct covert *c, struct covert_stats *stats)
{
    *stats = c->stats;
}

/* ---- packet side -------------------------------------------------------------------- */

/* DNS over UDP port 53, ICMP echo, SMTP/submission: the flows this module reads. */
bool covert_flow_wanted(const struct flow *flow, const struct packet *pkt)
{
    (void)pkt;
    if (flow->proto == 17)
        return flow->resp_port == DNS_PORT;
    if (flow->proto == 1 || flow->proto == 58)
        return true;
    if (flow->proto == 6)
        return flow->resp_port == SMTP_PORT || flow->resp_port == SUBMISSION_PORT ||
               flow->resp_port == SMTPS_PORT;
    return false;
}

void covert_flow_init(struct covert_flow *state, const struct flow *flow)
{
    memset(state, 0, sizeof(*state));
    if (flow->proto == 17) {
        state->kind = COVERT_DNS;
    } else if (flow->proto == 6) {
        state->kind = COVERT_SMTP;
        smtp_flow_start(&state->u.smtp, flow->resp_port == SMTPS_PORT);
    } else {
        state->kind = COVERT_ICMP;
    }
}

/* Where libpsl (or the last-two-labels rule) puts the registered domain of clean, or NULL. */
static const char *covert_registered_lookup(const struct covert *c, const char *clean)
{
    if (c->psl)
        return psl_registrable_domain(c->psl, clean);
    /* No rules at all: the last two labels. */
    const char *last = strrchr(clean, '.');
    if (last == NULL)
        return NULL;
    const char *p = last;
    while (p > clean && p[-1] != '.')
        p--;
    return p > clean ? p : (last > clean ? clean : NULL);
}

/* The slot of clean (n bytes, hashing to hash) in the cache, its name in *name: returns
 * true when it holds clean's answer already; else it is the one to fill. */
static bool registered_slot_of(struct registered_cache *cache, const char *clean, size_t n,
                               uint64_t hash, struct registered_tag **tag, char **name)
{
    if (n < REGISTERED_SHORT_NAME) {
        struct registered_slot *slot = &cache->slot[(hash ^ (hash >> 32)) % REGISTERED_CACHE_SLOTS];
        *tag = &slot->tag;
        *name = slot->name;
        return slot->tag.len == n && memcmp(slot->name, clean, n) == 0;
    }
    for (unsigned i = 0; i < REGISTERED_LONG_SLOTS; i++) {
        struct registered_long_slot *slot = &cache->long_slot[i];
        if (slot->hash == hash && slot->tag.len == n && memcmp(slot->name, clean, n) == 0) {
            *tag = &slot->tag;
            *name = slot->name;
            return true;
        }
    }
    struct registered_long_slot *slot = &cache->long_slot[cache->long_next];
    cache->long_next = (cache->long_next + 1) % REGISTERED_LONG_SLOTS;
    slot->hash = hash;
    *tag = &slot->tag;
    *name = slot->name;
    return false;
}

/* covert_registered_lookup through the cache: clean is n bytes long and hashes to hash. */
static const char *covert_registered_cached(struct covert *c, const char *clean, size_t n,
                                            uint64_t hash)
{
    if (c->registered == NULL || n == 0 || n > 255)
        return covert_registered_lookup(c, clean);
    struct registered_tag *tag;
    char *name;
    if (registered_slot_of(c->registered, clean, n, hash, &tag, &name))
        return tag->offset != REGISTERED_NONE ? clean + tag->offset : NULL;
    const char *domain = covert_registered_lookup(c, clean);
    /* libpsl answers with a pointer into the name it was given. */
    if (domain != NULL && (domain < clean || domain >= clean + n)) {
        tag->len = 0;
        return domain;
    }
    tag->len = (uint8_t)n;
    tag->offset = domain != NULL ? (uint8_t)(domain - clean) : REGISTERED_NONE;
    memcpy(name, clean, n);
    return domain;
}

/* The registered domain of a name from a packet. Bytes a tunnel puts in its labels are
 * not for libpsl (it wants UTF-8): they are masked in a copy, the domain's own labels are
 * plain LDH. */
static const char *covert_registered(void *user, const char *name)
{
    struct covert *c = user;
    char clean[256];
    size_t n = 0;
    uint64_t hash = 0xcbf29ce484222325u; /* FNV-1a over the masked name */
    for (; name[n] && n + 1 < sizeof(clean); n++) {
        unsigned char ch = (unsigned char)name[n];
        clean[n] = (char)(isalnum(ch) || ch == '.' || ch == '-' || ch == '_' ? ch : 'x');
        hash = (hash ^ (unsigned char)clean[n]) * 0x100000001b3u;
    }
    clean[n] = '\0';
    const char *domain = covert_registered_cached(c, clean, n, hash);
    if (domain == NULL || domain[0] == '\0')
        return NULL;
    size_t len = strnlen(domain, sizeof(c->domain) - 1);
    memcpy(c->domain, domain, len);
    c->domain[len] = '\0';
    return c->domain;
}

/* Listed heavy users: the domain itself or a parent of it. */
static bool covert_heavy(void *user, const char *domain)
{
    struct covert *c = user;
    if (c->heavy.count == 0)
        return false;
    for (const char *p = domain; p != NULL; p = strchr(p, '.')) {
        if (*p == '.')
            p++;
        if (table_find(&c->heavy, p, strlen(p)) != NULL)
            return true;
    }
    return false;
}

void covert_on_packet(struct covert *c, struct covert_flow *state, const struct flow *flow,
                      const struct packet *pkt, enum flow_direction direction)
{
    (void)flow;
    switch (state->kind) {
    case COVERT_DNS:
        if (pkt->payload_len > 0)
            dns_on_message(&state->u.dns, pkt->payload, pkt->payload_len, pkt->payload_wire_len,
                           covert_registered, c, covert_heavy, &c->stats.dns_queries,
                           &c->stats.dns_malformed, &c->stats.dns_heavy_user_queries);
        break;
    case COVERT_ICMP:
        icmp_on_packet(&state->u.icmp, pkt, direction);
        break;
    case COVERT_SMTP:
        if (direction == FLOW_DIR_ORIG && pkt->payload_len > 0) {
            uint32_t before = state->u.smtp.messages;
            smtp_flow_feed(&state->u.smtp, pkt->payload, pkt->payload_len);
            /* Bytes the snaplen cut are message or TLS bytes all the same. */
            uint64_t cut = pkt->payload_wire_len - pkt->payload_len;
            if (state->u.smtp.phase == SMTP_PHASE_DATA)
                state->u.smtp.data_bytes += cut;
            else if (state->u.smtp.phase == SMTP_PHASE_TLS)
                state->u.smtp.tls_bytes += cut;
            c->stats.smtp_messages += state->u.smtp.messages - before;
        }
        break;
    default:
        break;
    }
}

/* ---- record side -------------------------------------------------------------------- */

static bool covert_is_mail_server(const struct covert *c, int ip_version, const uint8_t *addr)
{
    if (c->mail_listed && cidr_set_contains(c->mail_listed, ip_version, addr))
        return true;
    uint8_t key[HOST_KEY_MAX];
    size_t key_len = host_key_from_addr(key, sizeof(key), ip_version, addr);
    return table_find(&c->mail_learned, key, key_len) != NULL;
}

/* An internal host that accepted SMTP is a mail server: its own SMTP out is relaying. */
static void covert_learn_mail_server(struct covert *c, const struct flow *flow,
                                     const struct covert_flow *state)
{
    if (state->u.smtp.messages == 0 && !state->u.smtp.starttls && !state->u.smtp.implicit_tls)
        return;
    if (!cidr_set_contains(c->home_net, flow->ip_version, flow->resp_addr))
        return;
    uint8_t key[HOST_KEY_MAX];
    size_t key_len = host_key_from_addr(key, sizeof(key), flow->ip_version, flow->resp_addr);
    table_get(&c->mail_learned, key, key_len, sizeof(struct table_entry), MAIL_SERVERS_MAX,
              covert_free_entry);
}

/* Moves the window on to now: the current one becomes the previous one, or both go. */
static void dns_window_roll(struct dns_window *w, uint64_t now)
{
    uint64_t span = DNS_WINDOW * USEC_PER_SEC;
    if (w->start_usec == 0) {
        w->start_usec = now;
        return;
    }
    if (now < w->start_usec + span)
        return;
    if (now < w->start_usec + 2 * span)
        w->previous = w->current;
    else
        memset(&w->previous, 0, sizeof(w->previous));
    memset(&w->current, 0, sizeof(w->current));
    w->start_usec = now;
}

/* Fills a DNS tunnel alert from a window's totals. */
static void dns_fill_alert(const struct dns_window *w, const struct dns_domain_evidence *total,
                           double score, double unique, double mean_len, double entropy,
                           uint64_t now, struct alert *alert)
{
    char src[64], resolver[64], bytes[32];
    memset(alert, 0, sizeof(*alert));
    alert->ts_usec = now;
    alert->first_ts_usec = w->first_usec;
    alert->score = score;
    alert->severity = score_severity(score);
    alert->ip_version = w->ip_version;
    memcpy(alert->src_addr, w->client, GEO_ADDR_LEN);
    memcpy(alert->dest_addr, w->resolver, GEO_ADDR_LEN);
    alert->dest_port = w->resolver_port;
    alert->proto = 17;
    snprintf(alert->dest_name, sizeof(alert->dest_name), "%s", w->entry.key + strcspn(w->entry.key, " ") + 1);
    snprintf(alert->app_protocol, sizeof(alert->app_protocol), "DNS");
    alert->bytes_out = total->name_bytes;
    alert->bytes_in = total->response_bytes;
    alert->pcr = stats_pcr(total->name_bytes, total->response_bytes);
    alert->connections = total->queries;
    alert->first_seen_age_sec = -1.0;
    alert->evidence = EVIDENCE_DNS_TUNNEL;
    alert->techniques[0] = "T1048.003"; /* Exfiltration Over Unencrypted Non-C2 Protocol */
    alert->techniques[1] = "T1071.004"; /* Application Layer Protocol: DNS */
    alert->techniques[2] = "T1572";     /* Protocol Tunneling */
    alert->technique_count = 3;
    geo_addr_to_string(w->ip_version, w->client, src, sizeof(src));
    geo_addr_to_string(w->ip_version, w->resolver, resolver, sizeof(resolver));
    score_format_bytes(total->name_bytes, bytes, sizeof(bytes));
    /* Cut to fit when names are long: the numbers come first. */
    if (snprintf(alert->reason, sizeof(alert->reason),
             "%s sent %s in %u DNS queries with about %.0f distinct names under %s (mean %.0f "
             "bytes and %.1f bits/byte below the domain, %u%% TXT/NULL/CNAME or other odd types) "
             "via resolver %s: DNS tunnel",
             src, bytes, total->queries, unique, alert->dest_name, mean_len, entropy,
             total->queries ? (unsigned)(100ULL * total->odd_types / total->queries) : 0,
             resolver) < 0)
        alert->reason[0] = '\0';
}

/* One DNS flow's evidence into its (client, domain) windows; true with an alert. */
static bool covert_dns_record(struct covert *c, const struct flow *flow,
                              const struct covert_flow *state, struct alert *alert)
{
    uint64_t now = flow->last_ts_usec;
    bool raised = false;
    /* Scored for internal clients only: outside clients asking our own servers are not
     * sending our data out. */
    if (!cidr_set_contains(c->home_net, flow->ip_version, flow->orig_addr))
        return false;
    char client[64], key[64 + DNS_DOMAIN_MAX + 2];
    geo_addr_to_string(flow->ip_version, flow->orig_addr, client, sizeof(client));
    for (int i = 0; i < DNS_FLOW_SLOTS; i++) {
        const struct dns_domain_evidence *slot = &state->u.dns.slot[i];
        if (slot->domain[0] == '\0' || slot->queries == 0)
            continue;
        table_key_join(key, sizeof(key), client, slot->domain);
        struct dns_window *w = (struct dns_window *)table_get(
            &c->dns_windows, key, strlen(key), sizeof(struct dns_window), DNS_MAX_SERIES, covert_free_entry);
        if (w == NULL)
            continue;
        dns_window_roll(w, now);
        if (w->first_usec == 0)
            w->first_usec = flow->start_ts_usec ? flow->start_ts_usec : now;
        w->ip_version = flow->ip_version;
        memcpy(w->client, flow->orig_addr, GEO_ADDR_LEN);
        memcpy(w->resolver, flow->resp_addr, GEO_ADDR_LEN);
        w->resolver_port = flow->resp_port;
        dns_evidence_merge(&w->current, slot);
        struct dns_domain_evidence total = w->previous;
        dns_evidence_merge(&total, &w->current);
        double unique, mean_len, entropy;
        double score = dns_tunnel_score(&total, &unique, &mean_len, &entropy);
        if (score <= 0.0 || raised)
            continue;
        enum alert_severity severity = score_severity(score);
        if (w->alerted && severity <= w->last_severity && now < w->last_alert_usec + c->suppress_usec)
            continue;
        dns_fill_alert(w, &total, score, unique, mean_len, entropy, now, alert);
        alert->is_update = w->alerted;
        alert->flow_id = flow->id;
        w->alerted = true;
        w->last_severity = severity;
        w->last_alert_usec = now;
        raised = true;
    }
    return raised;
}

bool covert_on_record(struct covert *c, const struct flow *flow, const struct covert_flow *state,
                      struct alert *alert)
{
    if (state == NULL)
        return false;
    if (state->kind == COVERT_SMTP) {
        covert_learn_mail_server(c, flow, state);
        return false;
    }
    if (state->kind == COVERT_DNS)
        return covert_dns_record(c, flow, state, alert);
    return false;
}

/* SMTP from a workstation: the envelope and what went. */
static bool covert_smtp_evidence(struct covert *c, const struct flow *flow,
                                 const struct smtp_flow *smtp, int src_dir,
                                 struct covert_finding *finding)
{
    const uint8_t *src = src_dir == FLOW_DIR_ORIG ? flow->orig_addr : flow->resp_addr;
    bool tls = smtp->starttls || smtp->implicit_tls;
    bool sent = smtp->messages > 0 || (tls && smtp->tls_bytes >= SMTP_MIN_TLS_BYTES);
    if (!sent || src_dir != FLOW_DIR_ORIG || covert_is_mail_server(c, flow->ip_version, src))
        return false;
    char size[32];
    finding->evidence = EVIDENCE_SMTP_EXFIL;
    bool big = smtp->data_bytes >= SMTP_BIG_MESSAGE_BYTES || smtp->tls_bytes >= SMTP_BIG_MESSAGE_BYTES;
    finding->min_score = smtp->attachments > 0 || big ? SMTP_ATTACHMENT_MIN_SCORE : SMTP_MIN_SCORE;
    finding->techniques[0] = tls ? "T1048.002" : "T1048.003";
    finding->techniques[1] = "T1071.003";   /* Application Layer Protocol: Mail Protocols */
    if (tls) {
        score_format_bytes(smtp->tls_bytes, size, sizeof(size));
        snprintf(finding->reason, sizeof(finding->reason),
                 "; SMTP from a host that is no mail server, %s (%s of TLS after it)",
                 smtp->implicit_tls ? "implicit TLS" : "STARTTLS", size);
    } else {
        score_format_bytes(smtp->data_bytes, size, sizeof(size));
        if (snprintf(finding->reason, sizeof(finding->reason),
                 "; SMTP from a host that is no mail server: MAIL FROM <%s>, %u recipient(s) "
                 "(<%s>), %u message(s) of %s, %u attachment(s)%s%s",
                 smtp->mail_from, smtp->recipients, smtp->rcpt_to, smtp->messages, size,
                 smtp->attachments, smtp->filename[0] ? ": " : "", smtp->filename) < 0)
            finding->reason[0] = '\0';
    }
    return true;
}

bool covert_evidence(struct covert *c, const struct flow *flow, const struct covert_flow *state,
                     int src_dir, struct covert_finding *finding)
{
    memset(finding, 0, sizeof(*finding));
    if (state == NULL)
        return false;
    if (state->kind == COVERT_SMTP)
        return covert_smtp_evidence(c, flow, &state->u.smtp, src_dir, finding);
    if (state->kind == COVERT_ICMP) {
        double pattern_share, entropy;
        if (!icmp_tunnel_judge(&state->u.icmp, &pattern_share, &entropy))
            return false;
        char out[32], in[32];
        score_format_bytes(state->u.icmp.echo_bytes[src_dir], out, sizeof(out));
        score_format_bytes(state->u.icmp.echo_bytes[!src_dir], in, sizeof(in));
        finding->evidence = EVIDENCE_ICMP_TUNNEL;
        finding->min_score = ICMP_TUNNEL_MIN_SCORE;
        finding->techniques[0] = "T1048.003";
        finding->techniques[1] = "T1095";       /* Non-Application Layer Protocol */
        uint32_t packets = state->u.icmp.echo_packets[0] + state->u.icmp.echo_packets[1];
        snprintf(finding->reason, sizeof(finding->reason),
                 "; ICMP echo payloads %s out, %s back, %.0f%% of %u echoes not a ping's fixed "
                 "pattern, %.0f%% of odd sizes, %.1f bits/byte: ICMP tunnel",
                 out, in, 100.0 * (1.0 - pattern_share), packets,
                 packets ? 100.0 * state->u.icmp.odd_size_packets / packets : 0.0, entropy);
        return true;
    }
    return false;
}
