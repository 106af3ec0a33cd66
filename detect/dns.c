/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * DNS tunnel evidence. A tunnel (iodine, dnscat2, DNSExfiltrator) carries data in the
 * names it asks for: many distinct, long, random-looking subdomains of one domain it
 * controls, often with TXT/NULL/CNAME answers to carry the way back. The answers echo the
 * questions, so the byte ratio says nothing; the names do. They are scored by the
 * registered domain (eTLD+1, Public Suffix List) whichever resolver the client asks, so
 * workstations behind an internal resolver are caught too.
 */
#include "covert.h"
#include "detect_internal.h"

#include <math.h>
#include <string.h>

#include "../common/tunables.h"

#define DNS_HEADER_LEN 12
#define DNS_NAME_MAX 255         /* RFC 1035 section 2.3.4: names are 255 bytes at most */

/* RFC 1035 3.2.2 / RFC 3596 / RFC 9460: the types ordinary lookups use. */
#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_HTTPS 65
#define DNS_TYPE_PTR 12

/* A bounded read cursor over one message (as capture/decode.c does for headers). */
struct dns_cursor {
    const uint8_t *cur, *end;
};

static bool dns_read_u8(struct dns_cursor *c, uint8_t *out)
{
    if (c->cur >= c->end)
        return false;
    *out = *c->cur++;
    return true;
}

static bool dns_read_be16(struct dns_cursor *c, uint16_t *out)
{
    if (c->end - c->cur < 2)
        return false;
    *out = (uint16_t)(c->cur[0] << 8 | c->cur[1]);
    c->cur += 2;
    return true;
}

/* First question of a query or answer: name, type, and whether it is an answer. */
bool dns_parse_question(const uint8_t *data, size_t len, char *name, size_t name_len,
                        size_t *name_out_len, uint16_t *qtype, bool *is_response)
{
    struct dns_cursor c = { data, data + len };
    size_t n = 0;
    if (len < DNS_HEADER_LEN || name_len == 0)
        return false;
    uint16_t qdcount = (uint16_t)(data[4] << 8 | data[5]);
    *is_response = (data[2] & 0x80) != 0;
    if (qdcount == 0 || (data[2] & 0x78) != 0) /* no question, or not a standard QUERY */
        return false;
    c.cur += DNS_HEADER_LEN;
    size_t wire = 0;
    for (;;) {
        uint8_t label_len;
        if (!dns_read_u8(&c, &label_len))
            return false;
        wire += 1u + label_len;
        /* Compression pointers (0xC0) and the reserved 0x40/0x80 forms never start a
         * question's name in practice (RFC 1035 4.1.4 allows them only after it). */
        if (label_len & 0xC0 || wire > DNS_NAME_MAX)
            return false;
        if (label_len == 0)
            break;
        if (c.end - c.cur < label_len)
            return false;
        if (n > 0 && n + 1 < name_len)
            name[n++] = '.';
        for (uint8_t i = 0; i < label_len; i++) {
            uint8_t b = c.cur[i];
            if (b >= 'A' && b <= 'Z')
                b = (uint8_t)(b - 'A' + 'a');
            else if (b == '.' || b == 0)
                b = '_';   /* keeps label boundaries unambiguous in the text */
            if (n + 1 < name_len)
                name[n++] = (char)b;
        }
        c.cur += label_len;
    }
    name[n] = '\0';
    *name_out_len = n;
    uint16_t qclass;
    return n > 0 && dns_read_be16(&c, qtype) && dns_read_be16(&c, &qclass);
}

#define ENTROPY_TERMS_MAX 256 /* longest input remembered: ICMP samples, DNS names */

/* p log2 p for p = count / len, as covert_entropy adds them up: remembered per thread for
 * the last len seen, since an ICMP flow's echoes mostly share one size and log2 is most of
 * the cost (~30 calls of it per sampled echo). The same expression gives the same bits. */
struct entropy_terms {
    size_t len;                     /* 0: nothing remembered */
    uint64_t known[(ENTROPY_TERMS_MAX + 1 + 63) / 64];
    double term[ENTROPY_TERMS_MAX + 1];
};
static _Thread_local struct entropy_terms entropy_terms;

static double entropy_term(uint32_t count, size_t len)
{
    double p = (double)count / (double)len;
    return p * log2(p);
}

/* Bits per byte over the byte histogram. The terms are added in byte-value order, the
 * values present found through a bitmap rather than by a look at all 256 counts. */
double covert_entropy(const uint8_t *data, size_t len)
{
    uint32_t counts[256] = { 0 };
    uint64_t present[4] = { 0 };
    if (len == 0)
        return 0.0;
    for (size_t i = 0; i < len; i++) {
        counts[data[i]]++;
        present[data[i] / 64] |= 1ull << (data[i] % 64);
    }
    struct entropy_terms *memo = len <= ENTROPY_TERMS_MAX ? &entropy_terms : NULL;
    if (memo != NULL && memo->len != len) {
        memset(memo->known, 0, sizeof(memo->known));
        memo->len = len;
    }
    double h = 0.0;
    for (unsigned word = 0; word < 4; word++) {
        for (uint64_t bits = present[word]; bits != 0; bits &= bits - 1) {
            uint32_t c = counts[word * 64 + (unsigned)__builtin_ctzll(bits)];
            if (memo == NULL) {
                h -= entropy_term(c, len);
                continue;
            }
            if (!(memo->known[c / 64] & (1ull << (c % 64)))) {
                memo->term[c] = entropy_term(c, len);
                memo->known[c / 64] |= 1ull << (c % 64);
            }
            h -= memo->term[c];
        }
    }
    return h;
}

/* Linear counting (Whang et al. 1990): n = -m ln(zero bits / m). */
double covert_unique_estimate(const uint8_t *bitmap, size_t bits)
{
    size_t zero = 0;
    for (size_t i = 0; i < bits; i++)
        if (!(bitmap[i / 8] & (1u << (i % 8))))
            zero++;
    if (zero == 0)
        zero = 1;  /* saturated: the estimate's ceiling, m ln m */
    return -(double)bits * log((double)zero / (double)bits);
}

/* FNV-1a over the name, for the distinct-name bitmap. */
static uint64_t dns_name_hash(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)name[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot following domain in this flow: found, a free one, or the busier of the two is
 * kept and the other replaced. NULL: both are busier than a newcomer deserves.
 * THREAT: a client that interleaves two decoy domains on one socket can push a third, the
 * tunnel, out of the flow's slots; each DNS query on its own socket (the usual case) is
 * its own flow. */
static struct dns_domain_evidence *dns_flow_slot(struct dns_flow *dns, const char *domain,
                                                 bool is_response)
{
    struct dns_domain_evidence *free_slot = NULL, *quiet = NULL;
    for (int i = 0; i < DNS_FLOW_SLOTS; i++) {
        struct dns_domain_evidence *s = &dns->slot[i];
        if (s->domain[0] == '\0') {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (strcmp(s->domain, domain) == 0)
            return s;
        if (quiet == NULL || s->queries < quiet->queries)
            quiet = s;
    }
    if (is_response)
        return NULL;   /* an answer to a question we did not follow */
    struct dns_domain_evidence *s = free_slot;
    if (s == NULL && quiet != NULL && quiet->queries <= 1)
        s = quiet;     /* a one-off lookup gives way */
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof(*s));
    size_t len = strnlen(domain, DNS_DOMAIN_MAX - 1);
    memcpy(s->domain, domain, len);
    s->domain[len] = '\0';
    return s;
}

/* Registered domain of name via the rules the caller has (psl), or the last two labels. */
void dns_on_message(struct dns_flow *dns, const uint8_t *data, size_t len, uint32_t wire_len,
                    const char *(*registered)(void *user, const char *name), void *user,
                    bool (*heavy)(void *user, const char *domain), uint64_t *queries_seen,
                    uint64_t *malformed, uint64_t *heavy_queries)
{
    char name[DNS_NAME_MAX + 1];
    size_t name_len;
    uint16_t qtype;
    bool is_response;
    if (!dns_parse_question(data, len, name, sizeof(name), &name_len, &qtype, &is_response)) {
        dns->malformed++;
        (*malformed)++;
        return;
    }
    const char *domain = registered(user, name);
    if (domain == NULL)
        return;        /* a public suffix itself, or a bare TLD: nothing below to carry data */
    if (heavy(user, domain)) {
        if (!is_response)
            (*heavy_queries)++;
        return;
    }
    struct dns_domain_evidence *s = dns_flow_slot(dns, domain, is_response);
    if (s == NULL) {
        if (!is_response)
            dns->dropped_queries++;
        return;
    }
    if (is_response) {
        s->responses++;
        s->response_bytes += wire_len;
        return;
    }
    (*queries_seen)++;
    size_t domain_len = strlen(domain);
    size_t sub_len = name_len > domain_len + 1 ? name_len - domain_len - 1 : 0;
    s->queries++;
    s->name_bytes += sub_len;
    s->entropy_sum += covert_entropy((const uint8_t *)name, sub_len);
    if (sub_len >= DNS_LONG_NAME_LEN)
        s->long_names++;
    if (qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA && qtype != DNS_TYPE_HTTPS &&
        qtype != DNS_TYPE_PTR)
        s->odd_types++;
    uint64_t h = dns_name_hash(name, name_len) % DNS_UNIQUE_BITS;
    s->unique[h / 8] |= (uint8_t)(1u << (h % 8));
}

/* Adds one flow's evidence for a domain into a window's totals. */
void dns_evidence_merge(struct dns_domain_evidence *into, const struct dns_domain_evidence *from)
{
    into->queries += from->queries;
    into->responses += from->responses;
    into->long_names += from->long_names;
    into->odd_types += from->odd_types;
    into->name_bytes += from->name_bytes;
    into->response_bytes += from->response_bytes;
    into->entropy_sum += from->entropy_sum;
    for (size_t i = 0; i < sizeof(into->unique); i++)
        into->unique[i] |= from->unique[i];
}

/* The verdict on a window's totals: 0 when it is no tunnel, else the score. */
double dns_tunnel_score(const struct dns_domain_evidence *w, double *unique_out,
                        double *mean_len_out, double *entropy_out)
{
    double unique = covert_unique_estimate(w->unique, DNS_UNIQUE_BITS);
    double mean_len = w->queries ? (double)w->name_bytes / w->queries : 0.0;
    double entropy = w->queries ? w->entropy_sum / w->queries : 0.0;
    *unique_out = unique;
    *mean_len_out = mean_len;
    *entropy_out = entropy;
    if (unique < DNS_TUNNEL_MIN_UNIQUE || w->name_bytes < DNS_TUNNEL_MIN_NAME_BYTES ||
        mean_len < DNS_TUNNEL_MIN_MEAN_LEN || entropy < DNS_TUNNEL_MIN_ENTROPY)
        return 0.0;
    /* In hundredths, so that the sums land exactly on the severity steps (0.7 + 0.1 is
     * not 0.8 in binary floating point). */
    int points = 70;
    if (w->name_bytes >= DNS_TUNNEL_HIGH_NAME_BYTES)
        points += 10;
    /* TXT/NULL/CNAME answers are how the tunnel's other half comes back. */
    if (w->odd_types * 2 >= w->queries)
        points += 10;
    return points / 100.0;
}
