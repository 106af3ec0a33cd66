/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to detect/: the pieces detector.c combines. Each block is one file's interface.
 * Unit tests include this header to check each statistic and parser on its own.
 */
#ifndef EXFLOW_DETECT_INTERNAL_H
#define EXFLOW_DETECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "covert.h"

/* ---- stats.c: robust statistics ---------------------------------------------------- */

/* Sorts values ascending in place. */
void stats_sort(double *values, size_t count);
/* Median of sorted values; 0 for none. */
double stats_median_sorted(const double *values, size_t count);
/* Median of values, sorting a copy in scratch (count doubles). */
double stats_median(const double *values, size_t count, double *scratch);
/* Median absolute deviation from median, using scratch (count doubles). */
double stats_mad(const double *values, size_t count, double median, double *scratch);
/* Quartiles of sorted values: Q2 is the median, Q1/Q3 the medians of the lower and upper
 * halves, the median itself left out when count is odd (Tukey's hinges without it). */
void stats_quartiles_sorted(const double *values, size_t count, double *q1, double *q2, double *q3);
/* Bowley (quartile) skew (Q3 + Q1 - 2 Q2) / (Q3 - Q1) in [-1,1]; 0 when Q3 == Q1. */
double stats_bowley_skew(double q1, double q2, double q3);

/* Exponentially weighted mean and variance (Finch 2009, "Incremental calculation..."). */
struct stats_ewma {
    double mean;
    double variance;
    bool started;
};
void stats_ewma_update(struct stats_ewma *ewma, double value, double alpha);

/* PCR = (out - in) / (out + in); 0 when both are zero. */
double stats_pcr(uint64_t bytes_out, uint64_t bytes_in);

/* ---- beacon.c: connection schedules per (host, destination) ------------------------ */

#define BEACON_RING_MAX 64   /* connections kept per series: enough for 2+ days of hourly jobs */

struct beacon_conn {
    uint64_t flow_id;
    uint64_t start_usec;
    uint64_t end_usec;
    uint64_t bytes_out;
    uint64_t bytes_in;
};

/* A ring of the last connections, grown on demand (most series only ever see one). */
struct beacon_series {
    struct beacon_conn *conn;
    uint32_t capacity;
    uint32_t count;
    uint32_t head;          /* next slot to write */
    uint64_t total_connections; /* ever added */
    bool fetched;           /* a connection ever fetched a file (BEACON_DOWNLOAD_MIN_BYTES) */
};

struct beacon_params {
    uint32_t min_connections;   /* sessions before a schedule is scored */
    double min_period_sec;      /* starts closer than this belong to one session */
    double max_period_sec;
    double min_score;           /* regularity at or above which the series is periodic */
    double persist_bin_sec;     /* width of a persistence bin; 0 turns persistence off */
    double persist_min;         /* share of bins with a session from which it is persistent */
};

/* Persistence looks at the last this many bins (RITA's 24 hourly buckets) and needs at
 * least the minimum before it says anything. */
#define BEACON_PERSIST_WINDOW_BINS 24
#define BEACON_PERSIST_MIN_BINS 4
/* A connection that fetched a file: this many bytes in, and more in than out. A two-way
 * file store (sync clients, collaboration tools) sends files back; a drop does not. */
#define BEACON_DOWNLOAD_MIN_BYTES (64 * 1024)

struct beacon_result {
    uint32_t connections;   /* in the ring */
    uint32_t sessions;      /* after merging starts closer than min_period */
    uint32_t gaps;
    double period_sec;      /* median gap */
    double mad_sec;         /* MAD of the gaps */
    double skew;            /* Bowley skew of the gaps */
    double dispersion;      /* MAD / median */
    double score;           /* regularity in [0,1] */
    double persistence;     /* share of bins in the window that hold a session start */
    uint32_t persist_bins;  /* bins in that window */
    bool regular;           /* the gaps are regular (score >= min_score) */
    bool persistent;        /* sessions in most bins, however jittered the gaps */
    bool periodic;          /* regular or persistent: a schedule */
    double median_bytes_out;/* per connection */
    uint64_t bytes_out;     /* sums over the ring */
    uint64_t bytes_in;
    uint64_t first_start_usec;
    bool fetched;           /* the series ever fetched a file: a two-way store */
};

/* Adds a connection, or adds bytes to it when flow_id is already in the ring (interim
 * records of one long flow). Returns false only when memory runs out. */
bool beacon_add(struct beacon_series *series, uint64_t flow_id, uint64_t start_usec,
                uint64_t end_usec, uint64_t bytes_out, uint64_t bytes_in);
/* Adds a connection of its own even when flow_id is in the ring (connections restored from
 * a checkpoint all carry id 0). Returns false only when memory runs out. */
bool beacon_append(struct beacon_series *series, uint64_t flow_id, uint64_t start_usec,
                   uint64_t end_usec, uint64_t bytes_out, uint64_t bytes_in);
/* The ring entry for flow_id, NULL when not there. */
const struct beacon_conn *beacon_find(const struct beacon_series *series, uint64_t flow_id);
/* Scores regularity of connection starts (RITA-like: Bowley skew + MAD/median of gaps). */
void beacon_evaluate(const struct beacon_series *series, const struct beacon_params *params,
                     struct beacon_result *result);
/* Regularity from gaps alone (sorted in place); exposed for tests. */
double beacon_score_gaps(double *gaps, size_t count, double *median, double *mad, double *skew);
/* How many ring connections overlap [start,end] and each sent at least min_bytes_out with
 * PCR >= min_pcr (the connection itself included when it qualifies). */
uint32_t beacon_concurrent_uploads(const struct beacon_series *series, uint64_t start_usec,
                                   uint64_t end_usec, uint64_t min_bytes_out, double min_pcr);
void beacon_free(struct beacon_series *series);

/* ---- baseline.c: per-host hourly bytes out ------------------------------------------ */

#define BASELINE_HOURS 72       /* hours of history kept per host */
#define BASELINE_MIN_HOURS 6    /* past hours before the baseline is trusted */

struct host_baseline {
    uint64_t hour_bytes[BASELINE_HOURS]; /* indexed by hour % BASELINE_HOURS */
    uint64_t first_hour;
    uint64_t current_hour;
    bool started;
};

/* Adds bytes out at packet time ts_usec (records may come slightly out of order: bytes
 * older than the current hour go to their own hour while it is still kept). */
void baseline_add(struct host_baseline *baseline, uint64_t ts_usec, uint64_t bytes_out);
/* Current hour's bytes over the usual hourly bytes (median of past hours, at least floor).
 * 0 when fewer than BASELINE_MIN_HOURS past hours are known. anomalous: the hour is above
 * median + 3 * 1.4826 * MAD (the robust 3-sigma line). */
double baseline_ratio(const struct host_baseline *baseline, uint64_t ts_usec, uint64_t floor_bytes,
                      bool *anomalous, double *usual_bytes);

/* ---- table.c: hash table keyed by byte strings, with LRU order ----------------------- */

struct table_entry {
    struct table_entry *hash_next;
    struct table_entry *lru_prev, *lru_next; /* prev: newer, next: older */
    uint64_t hash;
    char *key;                               /* key_len bytes, then a NUL */
    size_t key_len;
};

struct table {
    struct table_entry **buckets;
    size_t bucket_count;
    size_t count;
    struct table_entry *newest, *oldest;
};

bool table_init(struct table *table, size_t initial_buckets);
struct table_entry *table_find(const struct table *table, const void *key, size_t key_len);
/* A new zeroed entry (struct table_entry first in a struct of entry_size bytes) under a copy
 * of the key_len bytes of key kept in the same block; at max_entries the least recently
 * used one goes to free_entry first. NULL: no memory. */
struct table_entry *table_insert_new(struct table *table, const void *key, size_t key_len,
                                     size_t entry_size, size_t max_entries,
                                     void (*free_entry)(struct table_entry *entry));
/* table_find + table_touch, or table_insert_new when the key is not there. */
struct table_entry *table_get(struct table *table, const void *key, size_t key_len,
                              size_t entry_size, size_t max_entries,
                              void (*free_entry)(struct table_entry *entry));
/* Moves entry to the newest end. */
void table_touch(struct table *table, struct table_entry *entry);
/* Unlinks entry; its key goes with it (the caller frees the entry). */
void table_remove(struct table *table, struct table_entry *entry);
/* Frees every entry with free_entry, and the buckets. */
void table_destroy(struct table *table, void (*free_entry)(struct table_entry *entry));
uint64_t table_hash(const void *key, size_t key_len);
/* Writes "a b" into key (cut to key_len - 1 bytes); false when it had to be cut. */
bool table_key_join(char *key, size_t key_len, const char *a, const char *b);

/* A host's key in the host and series tables: its IP version byte (4 or 6) and its 4 or 16
 * address bytes, so no record formats an address to find its host. A series key is the
 * host key followed by the destination's name (detector.c). HOST_KEY_MAX bytes at most. */
#define HOST_KEY_MAX (FLOW_NAME_LEN + 2)
size_t host_key_from_addr(uint8_t *key, size_t key_cap, int ip_version, const uint8_t *addr);
/* The key of a host as text (checkpoints): an address when it is one as exflow writes it. */
size_t host_key_from_text(uint8_t *key, size_t key_cap, const char *text);
/* The host's text from a key (or a series key's start); returns the host key's length. */
size_t host_key_to_text(const uint8_t *key, size_t key_len, char *text, size_t text_len);

/* ---- destinations.c: first-seen store, persisted ---------------------------------- */

#define DESTINATION_SITE "*"    /* host part of the site-wide entry */

struct destinations;

struct destinations *destinations_new(size_t max_entries);
/* Records a use of dest by host ("*" for site-wide) at ts_usec. Returns the first-seen time
 * known before this call, or 0 when the pair is new (it is then stored with ts_usec). */
uint64_t destinations_touch(struct destinations *store, const char *host, const char *dest,
                            uint64_t ts_usec);
/* The same with the host's key (table.c); host_key NULL: site-wide. */
uint64_t destinations_touch_key(struct destinations *store, const uint8_t *host_key,
                                size_t host_key_len, const char *dest, uint64_t ts_usec);
size_t destinations_count(const struct destinations *store);
struct shared_state;
/* Shares the store's first-seen times with other sensors (shared_state.h; not owned, NULL
 * to stop): each lookup first takes what Redis answered, and each pair the store learns or
 * dates earlier is queued for Redis. */
void destinations_share(struct destinations *store, struct shared_state *shared);
/* 1: loaded; 0: no such file (fresh start); -1: unreadable or corrupt (message in err). */
int destinations_load(struct destinations *store, const char *path, uint64_t *learn_start_usec,
                      char *err, size_t err_len);
/* Temp file in the same directory, fsync, rename, fsync of the directory. */
bool destinations_save(const struct destinations *store, const char *path,
                       uint64_t learn_start_usec, char *err, size_t err_len);
void destinations_free(struct destinations *store);
/* Locks PATH.lock for the process's life (flock) and removes stale temp files; the fd, or
 * -1 with err set when another exflow holds it. */
int destinations_lock(const char *path, char *err, size_t err_len);

/* ---- ftp.c: FTP control channel (RFC 959, RFC 2428) -------------------------------- */

enum ftp_command {
    FTP_CMD_NONE = 0,
    FTP_CMD_OTHER,
    FTP_CMD_STOR,
    FTP_CMD_STOU,
    FTP_CMD_APPE,
    FTP_CMD_RETR,
    FTP_CMD_PORT,
    FTP_CMD_EPRT,
    FTP_CMD_PASV,
    FTP_CMD_EPSV,
};
const char *ftp_command_name(enum ftp_command command);
static inline bool ftp_command_is_upload(enum ftp_command command)
{
    return command == FTP_CMD_STOR || command == FTP_CMD_STOU || command == FTP_CMD_APPE;
}

struct ftp_endpoint {
    int ip_version;             /* 0: EPSV/EPRT left the address out: use the control peer */
    uint8_t addr[GEO_ADDR_LEN];
    uint16_t port;
};

/* Parses one client command line (no CR/LF). PORT/EPRT fill endpoint; a malformed
 * PORT/EPRT is FTP_CMD_OTHER. */
enum ftp_command ftp_parse_command(const char *line, size_t len, struct ftp_endpoint *endpoint);
/* Parses one server reply line: true for a well-formed 227 (PASV) or 229 (EPSV) reply,
 * with the endpoint the client is to connect to (ip_version 0 for 229: control server). */
bool ftp_parse_reply(const char *line, size_t len, struct ftp_endpoint *endpoint);

#define FTP_LINE_MAX 128        /* longer lines are cut: commands and 227/229 fit */

/* Line assembly for one direction of the control channel (across packets). */
struct ftp_line {
    char text[FTP_LINE_MAX];
    uint16_t len;
    bool overflow;
};
/* Feeds bytes; calls on_line for each complete line (CR/LF stripped). */
void ftp_line_feed(struct ftp_line *line, const uint8_t *data, size_t len,
                   void (*on_line)(void *user, const char *text, size_t text_len), void *user);

/* Data channels announced on control channels, waiting for their connection. */
#define FTP_EXPECT_MAX 256

struct ftp_expectation {
    uint64_t created_usec;      /* 0: free slot */
    uint64_t control_flow_id;
    int ip_version;
    uint8_t listen_addr[GEO_ADDR_LEN]; /* who accepts the data connection */
    uint16_t listen_port;
    bool active;                /* PORT/EPRT: the server connects to the client */
    uint8_t client_addr[GEO_ADDR_LEN]; /* the control channel's client */
    uint8_t server_addr[GEO_ADDR_LEN];
    enum ftp_command command;   /* transfer command that followed, FTP_CMD_NONE until seen */
    uint32_t generation;
    char dest_name[FLOW_NAME_LEN]; /* the control channel's destination */
};

struct ftp_expectations {
    struct ftp_expectation slot[FTP_EXPECT_MAX];
    uint32_t next;
    uint32_t generation;
    uint32_t live;
    bool same_hosts_only;       /* match only data flows between the control channel's hosts */
};

/* Adds (overwriting the oldest slot); returns the slot index. */
uint32_t ftp_expect_add(struct ftp_expectations *table, const struct ftp_expectation *expectation);
/* Finds the expectation a new flow answers: the flow's responder is the listening side.
 * Expectations older than max_age_usec are dropped. -1 when none. */
int ftp_expect_match(struct ftp_expectations *table, int ip_version,
                     const uint8_t orig_addr[GEO_ADDR_LEN], const uint8_t resp_addr[GEO_ADDR_LEN],
                     uint16_t resp_port, uint64_t now_usec, uint64_t max_age_usec);
/* The latest expectation of this control flow takes the transfer command. */
void ftp_expect_set_command(struct ftp_expectations *table, uint64_t control_flow_id,
                            enum ftp_command command);

/* ---- packed.c: archives in cleartext uploads ---------------------------------------- */

enum packed_kind { PACKED_NONE = 0, PACKED_ZIP, PACKED_7Z, PACKED_RAR, PACKED_GZIP, PACKED_XZ };

/* How many body bytes of a packet are looked at for a multipart part's headers. */
#define PACKED_SCAN_BYTES 1024

const char *packed_kind_name(enum packed_kind kind);
enum packed_kind packed_magic(const uint8_t *data, size_t len);
enum packed_kind packed_content_type(const char *value, size_t len);
enum packed_kind packed_filename(const char *name, size_t len);
enum packed_kind packed_multipart(const uint8_t *data, size_t len);

/* ---- http.c: HTTP/1.x request side (RFC 9112) -------------------------------------- */

#define HTTP_LINE_MAX 160
#define HTTP_HOST_MAX 96

enum http_state {
    HTTP_STATE_REQUEST_LINE = 0,
    HTTP_STATE_HEADERS,
    HTTP_STATE_BODY,
    HTTP_STATE_CHUNK_SIZE,
    HTTP_STATE_CHUNK_DATA,
    HTTP_STATE_CHUNK_END,
    HTTP_STATE_TRAILERS,
    HTTP_STATE_STOPPED,     /* not HTTP, out of budget, or lost sync */
};

struct http_parser {
    uint8_t state;
    bool upload;            /* current request is POST/PUT/PATCH/BITS_POST */
    bool chunked;
    bool line_overflow;
    bool seen_request;
    uint16_t line_len;
    uint32_t parse_budget;  /* header/line bytes left to look at */
    uint64_t remaining;     /* body or chunk bytes left */
    uint64_t content_length;
    uint32_t requests;
    uint32_t upload_requests;
    uint64_t upload_body_bytes;
    bool multipart;         /* current request's body is multipart/form-data */
    bool body_start;        /* the next body byte is the first of the current request */
    uint8_t packed;         /* enum packed_kind of the first archive uploaded, 0 none */
    char line[HTTP_LINE_MAX];
    char host[HTTP_HOST_MAX]; /* Host of the first request, lowercase, port stripped */
};

void http_parser_init(struct http_parser *parser, uint32_t parse_budget);
/* True when data starts like an HTTP request line (a known method and a space). */
bool http_looks_like_request(const uint8_t *data, size_t len);
/* Feeds the client's bytes in order. */
void http_parser_feed(struct http_parser *parser, const uint8_t *data, size_t len);
/* Client bytes the capture cut (payload_wire_len - payload_len): body if inside one. */
void http_parser_skip(struct http_parser *parser, uint64_t len);

/* ---- evidence.c: per-packet protocol evidence (runs where the packets are) ---------- */

enum flow_kind { FLOW_KIND_HTTP = 1, FLOW_KIND_FTP_CONTROL, FLOW_KIND_FTP_DATA, FLOW_KIND_COVERT };

/* flow->observer_state: only for flows with parsed protocol state (HTTP, FTP, covert.h). */
struct flow_state {
    uint8_t kind;
    union {
        struct http_parser http;
        struct {
            struct ftp_line line[2];    /* by enum flow_direction */
            uint32_t budget[2];
        } ftp_control;
        struct {
            int slot;
            uint32_t generation;
            bool active;                /* server opened it: the client is the responder */
            enum ftp_command command;
            uint8_t packed;             /* enum packed_kind of the first uploaded bytes */
            char dest_name[FLOW_NAME_LEN];
        } ftp_data;
        struct covert_flow covert;      /* DNS, ICMP, SMTP: covert.h */
    } u;
};

/* What the per-packet part keeps between flows: FTP data channels announced on control
 * channels and not yet opened. One per worker (or per detector when single-threaded). */
struct evidence_context {
    struct ftp_expectations ftp;
    struct covert *covert;      /* the detector's covert-channel module; not owned */
};

/* Classifies the flow on its first packets, then feeds its parser. */
void evidence_on_packet(struct evidence_context *evidence, struct flow *flow,
                        const struct packet *pkt, enum flow_direction direction);
/* Settles what the record needs from the packet side (a late FTP transfer command). */
void evidence_prepare_record(struct evidence_context *evidence, struct flow *flow);
/* Case-insensitive label comparison, cheap for the common mismatch. */
bool detect_label_is(const char *label, const char *name);
/* A destination name as keys, the state file and alerts use it: lowercase, no spaces or
 * control bytes (names come from packets). */
void detect_name_sanitize(const char *name, char *out, size_t out_len);

/* ---- saved.c: the per-flow state of a saved flow record -------------------------------- */

/* The state evidence.c and covert.h would have left for this evidence (allocated); NULL for
 * none or out of memory (which only loses that evidence). */
struct flow_state *saved_flow_state(const struct detect_flow_evidence *evidence);

/* ---- allowlist.c -------------------------------------------------------------------- */

struct allowlist;

struct allow_query {
    int ip_version;
    const uint8_t *src_addr;
    const uint8_t *dest_addr;
    const char *dest_name;      /* may be NULL */
    const char *app_protocol;   /* may be NULL */
    const char *master_protocol;/* may be NULL */
    uint16_t dest_port;
    const struct geo_info *dest_geo; /* NULL without GeoIP databases */
};

/* Parses rules from text; name is used in messages ("file:line: ..."). */
struct allowlist *allowlist_parse(const char *text, const char *name, char *err, size_t err_len);
struct allowlist *allowlist_load(const char *path, char *err, size_t err_len);
/* True when any rule matches; *comment gets the rule's comment (or "line N"). */
bool allowlist_match(const struct allowlist *list, const struct allow_query *query,
                     const char **comment);
size_t allowlist_count(const struct allowlist *list);
void allowlist_free(struct allowlist *list);
/* Domain pattern match: "*.example.com" matches example.com and its subdomains; other
 * patterns match exactly. Case-insensitive. */
bool allowlist_domain_match(const char *pattern, const char *name);

/* ---- cloud.c: cloud storage and file-drop services ---------------------------------- */

/* The service name when the SNI/Host or nDPI app says cloud storage, else NULL. When the
 * service spreads uploads over shard hosts (gfs270n105.userstorage.mega.co.nz), *site (if
 * site is not NULL) gets the name to use as the one destination ("mega.co.nz"). */
const char *cloud_storage_service(const char *server_name, const char *app_protocol,
                                  const char **site);
/* True when name ends with suffix at a label boundary (or equals it). Case-insensitive. */
bool cloud_name_has_suffix(const char *name, const char *suffix);

/* ---- score.c: combining the signals ------------------------------------------------- */

/* Everything known about one finding on one series. */
struct finding {
    uint64_t bytes_out, bytes_in;  /* scope: the series (periodic) or the flow(s) */
    uint32_t connections;
    uint64_t first_ts_usec;
    double pcr;
    bool periodic;                 /* regular schedule of uploads */
    bool c2_like;                  /* regular small beacons, then an upload */
    struct beacon_result beacon;
    double baseline_ratio;         /* 0 unknown */
    bool baseline_anomalous;
    bool host_pcr_known;           /* enough sizeable transfers to know the host's habit */
    double host_pcr;               /* the host's typical PCR (EWMA) before this finding */
    bool pair_new;                 /* this host never used the destination before */
    bool site_new;                 /* no host did */
    double first_seen_age_sec;     /* -1: first use is this record */
    uint32_t evidence;
    bool http_plain_upload;        /* parsed HTTP POST/PUT (cleartext) */
    bool http_bare_ip;             /* ... to a bare IP address */
    bool ssh;
    const char *cloud_service;     /* NULL when not cloud storage */
    enum ftp_command ftp_command;  /* FTP_CMD_NONE when not FTP */
    uint32_t http_upload_requests;
    uint64_t http_body_bytes;      /* request body bytes of those uploads */
    uint32_t parallel_streams;
    uint8_t packed;                /* enum packed_kind seen in the upload, 0 none */
    bool learned_schedule;         /* periodic to a destination learned during --learn */
    uint64_t conn_bytes_out;       /* this record's connection alone (interim records add up) */
};

struct score_parts {
    double volume, upload, automation, new_destination, protocol, baseline;
};

/* Weights of the parts (sum 1). A finding with neither a schedule, a parallel burst nor
 * protocol evidence tops out at 0.55, under the default alert threshold: one-off big
 * uploads by people are not what exflow is for. */
#define SCORE_WEIGHT_VOLUME     0.15
#define SCORE_WEIGHT_UPLOAD     0.10
#define SCORE_WEIGHT_AUTOMATION 0.25
#define SCORE_WEIGHT_NEW_DEST   0.20
#define SCORE_WEIGHT_PROTOCOL   0.20
#define SCORE_WEIGHT_BASELINE   0.10
/* Automation part of a parallel burst without a schedule: tools open parallel streams,
 * people rarely do, but browsers uploading several files can. */
#define SCORE_PARALLEL_AUTOMATION 0.4

/* Strength of a cloud storage name in the protocol part: a generic HTTP POST's, so the
 * part (0.20 x 0.6) stays under an unknown destination's newness (0.20 x 1.0). */
#define SCORE_CLOUD_STRENGTH 0.6

/* parts and breakdown may be NULL. */
double score_finding(const struct finding *finding, const struct detect_config *config,
                     struct score_parts *parts, struct score_breakdown *breakdown);
/* True when the bulk model scores this finding. */
bool score_bulk_applies(const struct finding *finding, const struct detect_config *config);
enum alert_severity score_severity(double score);
/* Fills alert->techniques from the finding. */
void score_techniques(const struct finding *finding, struct alert *alert);
/* One human sentence with the numbers. */
void score_reason(const struct finding *finding, const char *src_text, const char *dest_name,
                  char *out, size_t out_len);
/* "48.2 MB" style (decimal units, as file managers show). */
void score_format_bytes(uint64_t bytes, char *out, size_t out_len);
/* "60.0 min" / "6.0 h" / "45 s" style. */
void score_format_duration(double seconds, char *out, size_t out_len);

/* ---- groups.c: destination groups ------------------------------------------------------ */

#define GROUP_MAX_MEMBERS 8     /* members named in a group's alert */
#define GROUP_MEMBERS_LEN 512
#define GROUP_KEY_PREFIX "group:"

struct groups;

/* NULL and a message in err when psl_file cannot be loaded; psl_file NULL or "": no
 * domain groups. */
struct groups *groups_new(const char *psl_file, char *err, size_t err_len);
void groups_free(struct groups *groups);
/* The group of a destination: its registered domain when dest_is_name, else its /24
 * (IPv4) or /48 (IPv6) network. */
void groups_of(const struct groups *groups, const char *dest_name, bool dest_is_name,
               int ip_version, const uint8_t *dest_addr, char *out, size_t out_len);

/* The wider groups an ASN database puts a destination in, widest last: its autonomous
 * system ("AS64500 Example Networks"), then the organisation that runs it (one group over
 * all of an organisation's AS numbers). key: the stable part of the series key ("AS64500",
 * "org:example_networks"); name: as alerts show it. */
enum group_level { GROUP_LEVEL_ASN = 0, GROUP_LEVEL_ORG, GROUP_LEVEL_COUNT };
/* False when the database named no such group for the destination (no ASN, no
 * organisation). */
bool groups_of_network_owner(const struct geo_info *geo, enum group_level level, char *key,
                             size_t key_len, char *name, size_t name_len);

/* ---- alert.c: the shape a series showed when it alerted ----------------------------- */

/* A series that has alerted alerts again only when this changes materially: repetition of
 * the same job is no news, however often it repeats (docs/detection.md, "Suppression"). */
struct alert_shape {
    uint32_t evidence;              /* EVIDENCE_* kinds that are news (ALERT_SHAPE_NEWS) */
    uint64_t transfer_bytes;        /* bytes of one transfer: a session of the schedule, the
                                     * parallel burst, or the connection */
    double rate;                    /* bytes per second: of the schedule, or one transfer per
                                     * suppression window when unscheduled */
};

/* Evidence kinds whose first appearance is news. Left out: what repetition of one job
 * earns by itself (a schedule, persistence, a busy hour for the host, the first one-shot),
 * and newness, which only fades. */
#define ALERT_SHAPE_NEWS                                                                   \
    (~(EVIDENCE_NEW_DESTINATION | EVIDENCE_PERIODIC | EVIDENCE_PERSISTENT |                \
       EVIDENCE_VOLUME_ANOMALY | EVIDENCE_BULK_UPLOAD | EVIDENCE_SMALL_UPLOAD))
/* Growth of bytes per transfer, or of a schedule's rate, that counts as a new shape: a
 * job's own night-to-night variation stays well under it. */
#define ALERT_SHAPE_GROWTH 2.0

/* ---- detector.c's tables: what checkpoint.c saves and restores --------------------- */

/* One (internal host, destination) series: its connections, evidence and alert state. */
struct series {
    struct table_entry entry;       /* key: <src host key><destination name> */
    struct beacon_series beacon;
    int ip_version;
    uint8_t src_addr[GEO_ADDR_LEN];
    uint8_t dest_addr[GEO_ADDR_LEN];
    uint16_t dest_port;
    uint8_t proto;
    char app[FLOW_LABEL_LEN];       /* nDPI application of the last labelled flow */
    char master[FLOW_LABEL_LEN];    /* and its master protocol */
    uint64_t total_out, total_in;   /* payload bytes over the series' life */
    uint64_t first_start_usec;
    uint32_t evidence;              /* protocol evidence seen on any flow of the series */
    enum ftp_command ftp_command;   /* last upload command seen on its data flows */
    const char *cloud_service;
    uint32_t http_upload_requests;
    uint64_t http_body_bytes;
    /* What the latest flow's HTTP parser had counted when its last record (interim or upload
     * burst) joined: its parser counts the whole connection, so a later record of the same
     * flow adds only what came since. Not checkpointed: a flow never outlives the process. */
    uint64_t http_counted_flow;
    uint32_t http_counted_requests;
    uint64_t http_counted_body;
    bool http_bare_ip;
    uint8_t packed;                 /* enum packed_kind of the first archive seen uploaded */
    bool alerted;
    enum alert_severity last_severity;
    uint64_t last_alert_usec;
    struct alert_shape alert_shape; /* what it showed when it last alerted */
    /* Group series only (destination "group:<group>"): the destinations seen in it. */
    uint32_t member_count;
    char *members;                  /* comma-joined, the first GROUP_MAX_MEMBERS; allocated
                                     * (GROUP_MEMBERS_LEN) on the first member, NULL else */
};

struct host {
    struct table_entry entry;       /* key: host key (table.c), binary */
    struct host_baseline baseline;
    struct stats_ewma pcr;          /* typical PCR of its sizeable transfers outside */
    uint32_t pcr_samples;
    uint64_t ftp_first_usec;        /* first FTP use to an outside server; 0: never */
};

/* ---- checkpoint.c: detection state beside the first-seen state file ------------------ */

#define CHECKPOINT_VERSION 2       /* 2: series keep their last alert's shape */
#define CHECKPOINT_SUFFIX ".detect"   /* STATE-FILE.detect */

/* The tables a checkpoint holds, and how to make and free their entries. */
struct checkpoint_tables {
    struct table *series;
    struct table *hosts;
    size_t max_series, max_hosts;
    void (*free_series)(struct table_entry *entry);
    void (*free_host)(struct table_entry *entry);
};

/* Writes series (rings, evidence, suppression) and host baselines to state_path +
 * CHECKPOINT_SUFFIX atomically (temp file in the same folder, fsync, rename). */
bool checkpoint_save(const struct checkpoint_tables *tables, const char *state_path, char *err,
                     size_t err_len);
/* Restores them. 1 loaded, 0 no file (first run), -1 unreadable, corrupt or of another
 * version (err says which). */
int checkpoint_load(const struct checkpoint_tables *tables, const char *state_path, char *err,
                    size_t err_len);

/* ---- alert.c: the alert from a finding ---------------------------------------------- */

/* Who and where, from the record stage. */
struct alert_source {
    const struct flow *flow;
    const uint8_t *src_addr;
    const uint8_t *dest_addr;
    uint16_t src_port;
    uint16_t dest_port;
    const char *src_text;
    const char *dest_name;
    const char *app, *master;       /* the series' nDPI labels */
    const struct geo_info *dest_geo;
    bool flagged_geo;
    /* Rare protocol evidence (covert.h): techniques to add (NULL-ended, may be NULL) and a
     * clause for the sentence ("" or NULL: none). */
    const char *const *extra_techniques;
    const char *extra_reason;
};

/* The shape of a finding, to keep on its series when it alerts. window_sec: the
 * suppression window (--suppress), the time scale of an unscheduled finding's rate. */
void alert_shape_of(const struct finding *f, double window_sec, struct alert_shape *shape);
/* True when now differs materially from then: a kind of evidence that is news, or bytes
 * per transfer or the schedule's rate ALERT_SHAPE_GROWTH times what then showed. */
bool alert_shape_changed(const struct alert_shape *then, const struct alert_shape *now);

/* Fills alert (all but id) from the finding and its score. */
void alert_build(struct alert *alert, const struct alert_source *source, const struct finding *f,
                 double score, bool is_update);

#endif
