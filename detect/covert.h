/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to detect/: covert channels and small uploads with strong evidence.
 *
 *   dns.c   DNS tunnels: per client and registered domain (eTLD+1), query names' volume,
 *           unique subdomains, entropy and record types over a sliding window.
 *   icmp.c  ICMP tunnels: echo payload volume, entropy, sizes, and whether it is a ping's
 *           fixed pattern.
 *   smtp.c  SMTP from a host that is not a mail server: MAIL FROM, RCPT TO, DATA size,
 *           STARTTLS, attachments.
 *   covert.c the module's state (registered-domain rules, the heavy-user list, mail servers)
 *           and the hooks the detector calls.
 *
 * Hooks (all the detector needs to know):
 *   packet side   covert_flow_wanted() when a flow is first classified, covert_flow_init(),
 *                 then covert_on_packet() for each packet of such a flow. The per-flow
 *                 state (struct covert_flow) holds no pointers: the pipeline copies it.
 *   record side   covert_on_record() for every record, before the (host, destination) roles
 *                 are settled: learns mail servers, scores DNS tunnels (their destination is
 *                 the queried domain, whichever resolver was asked) and may fill an alert;
 *                 covert_evidence() for records scored as (host, public destination): the
 *                 ICMP/SMTP/small-FTP evidence bits, which lift a small upload to a finding.
 */
#ifndef EXFLOW_DETECT_COVERT_H
#define EXFLOW_DETECT_COVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect.h"

/* ---- per-flow evidence gathered on the packet side ---------------------------------- */

#define DNS_DOMAIN_MAX 96          /* registered domain text (eTLD+1); longer ones are cut */
#define DNS_UNIQUE_BITS 512        /* linear-counting bitmap of distinct query names */
#define DNS_FLOW_SLOTS 2           /* registered domains followed per DNS flow */

/* What one flow's queries for one registered domain looked like. */
struct dns_domain_evidence {
    char domain[DNS_DOMAIN_MAX];  /* "" : free slot */
    uint32_t queries;
    uint32_t responses;
    uint32_t long_names;          /* subdomain part of DNS_LONG_NAME_LEN bytes or more */
    uint32_t odd_types;           /* TXT, NULL, CNAME, MX, SRV, ANY... (not A/AAAA/HTTPS) */
    uint64_t name_bytes;          /* bytes of the subdomain parts of the queries */
    uint64_t response_bytes;      /* DNS payload bytes of the answers */
    double entropy_sum;           /* Shannon entropy (bits/byte) of each subdomain part */
    uint8_t unique[DNS_UNIQUE_BITS / 8];
};

struct dns_flow {
    struct dns_domain_evidence slot[DNS_FLOW_SLOTS];
    uint32_t dropped_queries;     /* queries for a third domain while both slots were busy */
    uint32_t malformed;           /* messages that did not parse */
};

struct icmp_flow {
    uint64_t echo_bytes[2];       /* echo payload bytes by enum flow_direction */
    uint32_t echo_packets[2];
    uint32_t odd_size_packets;    /* payload size none of the usual ping tools send */
    uint32_t pattern_packets;     /* payload after the timestamp is a ping's fixed pattern */
    uint32_t sampled_packets;     /* packets whose entropy was measured */
    double entropy_sum;
    uint64_t first_tail_hash;     /* the first echo's payload after its timestamp */
    bool have_first_tail;
};

#define SMTP_ADDR_MAX 80
#define SMTP_LINE_MAX 160

enum smtp_phase { SMTP_PHASE_COMMANDS = 0, SMTP_PHASE_DATA, SMTP_PHASE_TLS, SMTP_PHASE_STOPPED };

struct smtp_flow {
    uint8_t phase;                /* enum smtp_phase */
    bool line_overflow;
    bool starttls;                /* STARTTLS sent: what follows is TLS */
    bool implicit_tls;            /* port 465: TLS from the start */
    uint16_t line_len;
    uint32_t messages;            /* DATA/BDAT messages sent */
    uint32_t recipients;
    uint32_t attachments;         /* MIME parts with Content-Disposition: attachment */
    uint32_t parse_budget;        /* command bytes left to read */
    uint64_t data_bytes;          /* message bytes (cleartext DATA/BDAT) */
    uint64_t tls_bytes;           /* client bytes after STARTTLS or on implicit TLS */
    uint64_t bdat_left;           /* bytes left of a BDAT chunk (RFC 3030) */
    char mail_from[SMTP_ADDR_MAX];
    char rcpt_to[SMTP_ADDR_MAX];  /* the first recipient */
    char filename[SMTP_ADDR_MAX]; /* the first attachment's file name */
    char line[SMTP_LINE_MAX];
};

enum covert_kind { COVERT_DNS = 1, COVERT_ICMP, COVERT_SMTP };

struct covert_flow {
    uint8_t kind;                 /* enum covert_kind */
    union {
        struct dns_flow dns;
        struct icmp_flow icmp;
        struct smtp_flow smtp;
    } u;
};

/* ---- the module --------------------------------------------------------------------- */

struct covert_config {
    const char *dns_heavy_users_file; /* registered domains that never alert; NULL: none */
    const char *mail_servers;         /* comma list of CIDRs allowed to send SMTP out */
    const struct cidr_set *home_net;  /* not owned */
    uint64_t suppress_usec;           /* a DNS series re-alerts only after this, or worse */
};

struct covert_stats {
    uint64_t dns_queries;
    uint64_t dns_malformed;
    uint64_t dns_heavy_user_queries;  /* for listed domains: counted, never scored */
    uint64_t smtp_messages;
    uint64_t icmp_echo_packets;
};

struct covert;

/* NULL and a message in err when a file or list cannot be read. */
struct covert *covert_new(const struct covert_config *config, char *err, size_t err_len);
void covert_free(struct covert *covert);
void covert_get_stats(const struct covert *covert, struct covert_stats *stats);

/* Packet side. */
bool covert_flow_wanted(const struct flow *flow, const struct packet *pkt);
void covert_flow_init(struct covert_flow *state, const struct flow *flow);
void covert_on_packet(struct covert *covert, struct covert_flow *state, const struct flow *flow,
                      const struct packet *pkt, enum flow_direction direction);

/* Record side, every record (state may be NULL). True when alert was filled: the caller
 * numbers it, applies learning and the allowlist, and delivers it. */
bool covert_on_record(struct covert *covert, const struct flow *flow,
                      const struct covert_flow *state, struct alert *alert);

/* What covert_evidence says about a record from an internal host to a public destination. */
struct covert_finding {
    uint32_t evidence;            /* EVIDENCE_ICMP_TUNNEL, EVIDENCE_SMTP_EXFIL */
    double min_score;             /* the finding scores at least this (0: no floor) */
    const char *techniques[ALERT_MAX_TECHNIQUES];
    char reason[ALERT_TEXT_LEN / 2];
};
/* False when the record holds no covert evidence. src_dir: the direction whose bytes go out. */
bool covert_evidence(struct covert *covert, const struct flow *flow, const struct covert_flow *state,
                     int src_dir, struct covert_finding *finding);

/* ---- pieces, exposed for unit tests ------------------------------------------------- */

/* Parses a DNS message (RFC 1035 section 4.1) through a bounded cursor: the first
 * question's name as text (labels joined by '.', other bytes kept), its type, and the QR
 * bit. False when the message does not hold one well-formed question. */
bool dns_parse_question(const uint8_t *data, size_t len, char *name, size_t name_len,
                        size_t *name_out_len, uint16_t *qtype, bool *is_response);
/* Shannon entropy of bytes in bits per byte (0 for none). */
double covert_entropy(const uint8_t *data, size_t len);
/* Distinct items estimated from a linear-counting bitmap of bits bits. */
double covert_unique_estimate(const uint8_t *bitmap, size_t bits);
/* True when an ICMP echo payload tail is a ping's incrementing or alphabet pattern. */
bool icmp_payload_is_ping_pattern(const uint8_t *payload, size_t len);
/* Feeds the SMTP client's bytes. */
void smtp_flow_feed(struct smtp_flow *smtp, const uint8_t *data, size_t len);

/* dns.c: one DNS message of a flow. registered() gives the registered domain of a name
 * (NULL: none), heavy() says whether a domain is a listed heavy user. */
void dns_on_message(struct dns_flow *dns, const uint8_t *data, size_t len, uint32_t wire_len,
                    const char *(*registered)(void *user, const char *name), void *user,
                    bool (*heavy)(void *user, const char *domain), uint64_t *queries_seen,
                    uint64_t *malformed, uint64_t *heavy_queries);
void dns_evidence_merge(struct dns_domain_evidence *into, const struct dns_domain_evidence *from);
/* 0 when the window's totals are no tunnel, else the score; the measures come back. */
double dns_tunnel_score(const struct dns_domain_evidence *window, double *unique,
                        double *mean_len, double *entropy);

/* smtp.c: a new flow's parser; port 465 speaks TLS from the first byte. */
void smtp_flow_start(struct smtp_flow *smtp, bool implicit_tls);

/* icmp.c */
void icmp_on_packet(struct icmp_flow *icmp, const struct packet *pkt, enum flow_direction direction);
bool icmp_tunnel_judge(const struct icmp_flow *icmp, double *pattern_share, double *entropy);

#endif
