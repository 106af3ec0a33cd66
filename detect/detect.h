/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * detect/: turns flow records into exfiltration alerts. Keeps per-host baselines, beacon
 * (schedule) statistics per source host -> destination, first-seen times of destinations
 * (persisted in a state file), and protocol evidence (FTP STOR/APPE with its data channel,
 * HTTP POST/PUT, SSH/SFTP, cloud storage by SNI/Host). Every alert carries the numbers
 * behind it. All clocks are packet time.
 */
#ifndef EXFLOW_DETECT_H
#define EXFLOW_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../flows/flows.h"
#include "../geo/geo.h"

/* Protocol evidence bits, combined in alert.evidence. */
#define EVIDENCE_FTP_STOR        (1u << 0)  /* FTP STOR/STOU/APPE with its data channel */
#define EVIDENCE_HTTP_UPLOAD     (1u << 1)  /* HTTP POST/PUT/BITS_POST with a body */
#define EVIDENCE_SSH_UPLOAD      (1u << 2)  /* upload-heavy SSH/SFTP/SCP session */
#define EVIDENCE_CLOUD_STORAGE   (1u << 3)  /* TLS/HTTP to a cloud storage or file-drop service */
#define EVIDENCE_PARALLEL_STREAMS (1u << 4) /* several concurrent uploads to one destination */
#define EVIDENCE_NEW_DESTINATION (1u << 5)  /* destination first seen recently */
#define EVIDENCE_PERIODIC        (1u << 6)  /* regular schedule */
#define EVIDENCE_VOLUME_ANOMALY  (1u << 7)  /* far above the host's baseline */
#define EVIDENCE_DNS_TUNNEL      (1u << 8)  /* many long random names under one domain */
#define EVIDENCE_ICMP_TUNNEL     (1u << 9)  /* echo payloads that are not a ping's pattern */
#define EVIDENCE_SMTP_EXFIL      (1u << 10) /* SMTP message from a host that is no mail server */
#define EVIDENCE_SMALL_UPLOAD    (1u << 11) /* below --min-upload, on rare protocol evidence */
#define EVIDENCE_PACKED_DATA     (1u << 12) /* archive magic, type or file name in a cleartext upload */
#define EVIDENCE_BULK_UPLOAD     (1u << 13) /* one upload over the site floor to a new destination */
#define EVIDENCE_PERSISTENT      (1u << 14) /* uploads in most hours, too jittered to be regular */
#define EVIDENCE_COUNT 15
const char *detect_evidence_name(unsigned bit_index);

enum alert_severity { SEVERITY_LOW = 0, SEVERITY_MEDIUM, SEVERITY_HIGH, SEVERITY_CRITICAL };
const char *alert_severity_name(enum alert_severity severity);

#define ALERT_MAX_TECHNIQUES 4

/* Why an alert scored what it did: each part's value in [0,1] (bulk_volume may pass 1: the
 * volume scale has no cap) and its weight; the score is the larger of the two models' sums
 * plus the flagged-geography bonus, cut to 1. */
#define SCORE_MAX_PARTS 12
struct score_part {
    const char *name;               /* static string: "volume", "bulk_volume", ... */
    const char *model;              /* "pattern" or "bulk" */
    double value;
    double weight;
};
struct score_breakdown {
    const char *model;              /* the model that gave the score */
    double pattern;                 /* weighted sum of the pattern parts */
    double bulk;                    /* bulk-upload sum; 0 when it does not apply */
    double geo_bonus;               /* flagged country or ASN */
    double evidence_floor;          /* least score rare protocol evidence guarantees (a covert
                                     * channel, a host's first small FTP upload); 0 none */
    uint32_t count;
    struct score_part part[SCORE_MAX_PARTS];
};
#define ALERT_TEXT_LEN 512

struct alert {
    uint64_t id;                    /* unique within a run */
    uint64_t ts_usec;               /* packet time of the record that raised it */
    uint64_t first_ts_usec;         /* start of the first transfer in the series */
    enum alert_severity severity;
    double score;                   /* combined score in [0,1] */
    bool is_update;                 /* re-alert of a series already reported */

    /* Who and where. */
    int ip_version;
    uint8_t src_addr[GEO_ADDR_LEN]; /* the internal host that sends */
    uint8_t dest_addr[GEO_ADDR_LEN];/* the last destination address used */
    uint16_t src_port;              /* of the flow that raised it (for its Community ID) */
    uint16_t dest_port;
    uint8_t proto;
    char dest_name[FLOW_NAME_LEN];  /* SNI/Host when known, else the address as text */
    char app_protocol[FLOW_LABEL_LEN];
    struct geo_info dest_geo;

    /* The numbers behind it. */
    uint64_t bytes_out;             /* payload bytes sent to the destination in the series */
    uint64_t bytes_in;
    double pcr;                     /* (out - in) / (out + in) */
    uint32_t connections;           /* flows in the series */
    double period_sec;              /* median gap between connection starts; 0 when not periodic */
    double period_mad_sec;          /* median absolute deviation of the gaps */
    double beacon_score;            /* regularity in [0,1] */
    double baseline_ratio;          /* bytes out this hour / host's usual hourly bytes; 0 unknown */
    double first_seen_age_sec;      /* how long the destination had been known when used; -1 new */
    uint32_t evidence;              /* EVIDENCE_* bits */
    const char *packed_kind;        /* "zip", "7z", ...; "" when no packed data was seen */
    char group[FLOW_NAME_LEN];      /* group alerts: the registered domain or network; "" else */
    char group_members[512];        /* comma-joined destinations seen in the group */
    struct score_breakdown breakdown;
    uint32_t evidence_unavailable;  /* EVIDENCE_* bits the input could not provide (flow or
                                     * log input: no payload seen); 0 with packets */
    uint64_t flow_id;               /* the flow record that raised it */

    const char *techniques[ALERT_MAX_TECHNIQUES]; /* static strings: "T1020", "T1029", ... */
    int technique_count;
    char reason[ALERT_TEXT_LEN];    /* one human sentence */
};

typedef void (*alert_fn)(void *user, const struct alert *alert);

struct shared_state;

struct detect_config {
    const char *home_net;            /* comma-separated CIDRs; NULL: GEO_DEFAULT_HOME_NET */
    const char *state_file;          /* first-seen persistence; NULL: in memory only */
    bool state_reset_if_corrupt;     /* start fresh when the state file cannot be read */
    const char *allowlist_file;      /* NULL: none */
    uint64_t learn_usec;             /* packet time from the first record: learn, never alert */
    uint64_t min_upload_bytes;
    double pcr_threshold;
    uint32_t beacon_min_connections;
    double beacon_min_period_sec;
    double beacon_max_period_sec;
    double alert_threshold;
    uint64_t suppress_usec;
    struct geo *geo;                 /* may be NULL: alerts carry no geo fields */
    double beacon_min_score;         /* regularity from which a series is a schedule */
    uint64_t beacon_min_conn_bytes;  /* median upload per session before a schedule is uploads */
    uint64_t new_destination_usec;   /* how long a destination counts as new after first use */
    const char *flag_countries;      /* comma list of ISO codes whose destinations score higher */
    const char *flag_asns;           /* comma list of AS numbers likewise; both need geo */
    /* An FTP data channel is tied to its control channel only when both run between the
     * same two hosts. The pipeline sets it: it keeps each host pair on one worker, so the
     * result does not depend on the worker count.
     * THREAT: a data channel to a third address (FXP, a separate data server) loses its
     * FTP evidence; it is still scored as an upload of its own. */
    bool ftp_same_hosts_only;
    const char *dns_heavy_users_file;/* registered domains whose long names never alert */
    const char *mail_servers;        /* comma-separated CIDRs allowed to send SMTP out */
    /* Site-wide floor of one unscheduled upload to a new destination that alerts on volume
     * alone; 0 turns the bulk model off. */
    uint64_t bulk_min_bytes;
    /* Public suffix list for destination groups by registered domain; NULL or "": groups
     * by network only. Must load when set. */
    const char *psl_file;
    uint32_t evidence_unavailable;   /* EVIDENCE_* bits the input cannot carry, named in alerts */
    struct shared_state *shared_state; /* --shared-state (shared_state.h); not owned; NULL: none */
};

void detect_config_defaults(struct detect_config *config);

struct detect_stats {
    uint64_t records;       /* flow records seen */
    uint64_t alerts;
    uint64_t suppressed;    /* findings inside the suppression window */
    uint64_t allowlisted;   /* findings dropped by the allowlist */
    uint64_t hosts;         /* internal hosts with a baseline */
    uint64_t destinations;  /* series tracked: (host, destination) and (host, group) */
    uint64_t outbound;      /* records from a home host to a public address (scored) */
    uint64_t findings;      /* upload-heavy findings that were scored */
    uint64_t below_threshold; /* findings under --alert-threshold */
    uint64_t learning;      /* findings above it during --learn */
    uint64_t group_findings;/* schedules found only over a group of destinations */
};

struct detector;

/* NULL and a message in err on a bad home net, allowlist or state file. */
struct detector *detector_new(const struct detect_config *config, alert_fn on_alert, void *user,
                              char *err, size_t err_len);

/* A worker's packet-side detector: per-packet evidence only, no state file, allowlist,
 * groups, shared state or alerts (those belong to the one detector that reads records). */
struct detector *detector_new_packet_side(const struct detect_config *config, char *err,
                                          size_t err_len);

/* flows/ observer hooks: wire them into struct flow_observer (main does). */
void detector_on_packet(struct detector *detector, struct flow *flow, const struct packet *pkt,
                        enum flow_direction direction);
void detector_on_record(struct detector *detector, struct flow *flow, enum flow_end_reason reason,
                        bool final);

/* Protocol evidence read from logs instead of seen in packets (zeek/): what the packet
 * path's FTP and HTTP parsers would have found in this flow. */
struct detect_log_evidence {
    uint32_t http_upload_requests;   /* POST/PUT/... requests that carried a body */
    uint64_t http_body_bytes;        /* request body bytes of those */
    char http_host[FLOW_NAME_LEN];   /* Host of the first request; "" when none */
    bool ftp_data;                   /* an FTP data channel announced on a control channel */
    bool ftp_active;                 /* ... opened by the server (PORT/EPRT) */
    bool ftp_upload;                 /* ... carrying STOR/STOU/APPE */
    char ftp_dest_name[FLOW_NAME_LEN]; /* the control channel's server, as the alert names it */
    /* Saved flow events (rescore/) carry the packet side's evidence in full: when set, it is
     * used and the fields above are not. NULL for Zeek logs. */
    const struct detect_flow_evidence *saved;
    /* A UDP flow's DNS messages (Zeek's dns.log), each after a 2-byte big-endian length, in
     * wire format: scored by the DNS tunnel detector as the packets' would be. */
    const uint8_t *dns_messages;
    size_t dns_messages_len;
    /* The first file the originator sent (Zeek's files.log): an archive by type or name is
     * the packed_data evidence of an HTTP or FTP upload. "" when none. */
    char upload_mime_type[64];
    char upload_filename[FLOW_NAME_LEN];
};

/* What detection reads of a flow record beyond struct flow: the protocol evidence the packet
 * side parsed (evidence.c, covert.h) and left in flow->observer_state. Flow events carry it
 * (output/) and saved flow events give it back (rescore/), so that a saved record scores as
 * the packets that made it did. Text is NUL-terminated; "" means absent. */
enum detect_payload_kind {
    DETECT_PAYLOAD_NONE = 0,
    DETECT_PAYLOAD_HTTP,          /* HTTP request side parsed */
    DETECT_PAYLOAD_FTP_CONTROL,   /* an FTP control channel */
    DETECT_PAYLOAD_FTP_DATA,      /* an FTP data channel announced on a control channel */
    DETECT_PAYLOAD_DNS,
    DETECT_PAYLOAD_ICMP,
    DETECT_PAYLOAD_SMTP,
};
#define DETECT_PAYLOAD_KIND_COUNT 7
/* "http", "ftp_control", ...; "" for NONE. */
const char *detect_payload_kind_name(enum detect_payload_kind kind);
/* DETECT_PAYLOAD_NONE for an unknown name. */
enum detect_payload_kind detect_payload_kind_parse(const char *name);

#define DETECT_SAVED_DNS_DOMAINS 2      /* registered domains followed per DNS flow */
#define DETECT_SAVED_DNS_UNIQUE 64      /* bytes of the distinct-names bitmap (512 bits) */
#define DETECT_SAVED_NAME_LEN 96        /* HTTP Host, DNS registered domain */
#define DETECT_SAVED_SMTP_LEN 80        /* SMTP envelope addresses, attachment name */

/* One DNS flow's queries for one registered domain. */
struct detect_saved_dns {
    char domain[DETECT_SAVED_NAME_LEN];
    uint32_t queries, responses;
    uint32_t long_names;          /* subdomain part long enough to carry data */
    uint32_t odd_types;           /* TXT, NULL, CNAME, MX... */
    uint64_t name_bytes;          /* bytes of the subdomain parts */
    uint64_t response_bytes;
    double entropy_sum;           /* sum of each subdomain part's entropy, bits/byte */
    uint8_t unique[DETECT_SAVED_DNS_UNIQUE]; /* linear-counting bitmap of distinct names */
};

struct detect_flow_evidence {
    enum detect_payload_kind kind;
    /* HTTP: requests that carried a body, their body bytes, Host of the first request. */
    uint32_t http_upload_requests;
    uint64_t http_body_bytes;
    char http_host[DETECT_SAVED_NAME_LEN];
    /* HTTP and FTP data: archive kind seen in the upload ("zip", "7z", ...). */
    char packed[8];
    /* FTP data: opened by the server (PORT/EPRT), its transfer command ("STOR", "RETR",
     * "other"), and the control channel's server as alerts name it. */
    bool ftp_active;
    char ftp_command[8];
    char ftp_dest_name[FLOW_NAME_LEN];
    /* DNS: in the order the flow met the domains. */
    uint32_t dns_domain_count;
    struct detect_saved_dns dns[DETECT_SAVED_DNS_DOMAINS];
    /* ICMP echoes, by enum flow_direction. */
    uint64_t icmp_echo_bytes[2];
    uint32_t icmp_echo_packets[2];
    uint32_t icmp_odd_size_packets;  /* sizes no usual ping tool sends */
    uint32_t icmp_pattern_packets;   /* a ping's fixed pattern after the timestamp */
    uint32_t icmp_sampled_packets;   /* payloads whose entropy was measured */
    double icmp_entropy_sum;
    /* SMTP client side. */
    uint32_t smtp_messages, smtp_recipients, smtp_attachments;
    uint64_t smtp_data_bytes;        /* cleartext message bytes */
    uint64_t smtp_tls_bytes;         /* client bytes after STARTTLS or on implicit TLS */
    bool smtp_starttls, smtp_implicit_tls;
    char smtp_mail_from[DETECT_SAVED_SMTP_LEN];
    char smtp_rcpt_to[DETECT_SAVED_SMTP_LEN];
    char smtp_filename[DETECT_SAVED_SMTP_LEN];
};

/* The evidence of a record about to be handed to detector_on_record (after
 * detector_prepare_record on the thread that saw its packets). False when it has none. */
bool detect_flow_evidence_get(const struct flow *flow, struct detect_flow_evidence *out);

/* A whole flow from logs (final record, no packets before it): scored as detector_on_record
 * scores a packet flow that carried this evidence. evidence may be NULL. */
void detector_on_log_record(struct detector *detector, struct flow *flow,
                            enum flow_end_reason reason, const struct detect_log_evidence *evidence);
/* Its first half: gives the flow (no packets seen, no state yet) the per-flow state the
 * evidence stands for, for a caller that writes the record with its evidence before
 * detector_on_record(final=true) scores it and frees the state. */
void detector_log_attach(struct flow *flow, const struct detect_log_evidence *evidence);

/* For records scored on another thread than the one that saw the flow's packets
 * (pipeline/): settles, on the packet side, what the record needs from this detector's
 * per-packet tables (an FTP transfer command that came after its data channel opened).
 * Call it with the detector that ran detector_on_packet for the flow, before handing the
 * record over; detector_on_record then reads only the flow and its observer_state. */
void detector_prepare_record(struct detector *detector, struct flow *flow);

/* Bytes behind a non-NULL flow->observer_state: an interim record handed to another thread
 * carries a copy, since the flow (and its state) goes on changing. */
size_t detector_flow_state_size(void);

/* Re-reads the allowlist file (SIGHUP). On error keeps the old list and returns false. */
bool detector_reload_allowlist(struct detector *detector, char *err, size_t err_len);

/* Writes the state file atomically (mkstemp temp file + rename, common/safe_file.h). */
bool detector_save_state(struct detector *detector, char *err, size_t err_len);

void detector_get_stats(const struct detector *detector, struct detect_stats *stats);

/* Frees everything and releases the state lock. It does not save: whoever decides the run
 * is over calls detector_save_state once. */
void detector_free(struct detector *detector);

#endif
