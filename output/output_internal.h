/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to output/: the sink vtable, the event that every sink receives, and the pieces the
 * unit tests reach directly (event JSON, RFC 5424 formatting, framing, the spool).
 */
#ifndef EXFLOW_OUTPUT_INTERNAL_H
#define EXFLOW_OUTPUT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "output.h"

/* Defaults and bounds of output/ live in common/tunables.h with every other tunable. */
#include "../common/tunables.h"
#define SYSLOG_SD_ID              "exflow@32473" /* RFC 5424 7.2.2: name@PEN; 32473 is the
                                                    documentation PEN of RFC 5612 */

enum event_type { EVENT_FLOW, EVENT_ALERT, EVENT_STATS, EVENT_SUMMARY };

/* The version of the event schema (docs/schema/exflow-events.schema.json): MAJOR.MINOR, the
 * minor part grows when fields are added, the major part when one changes or goes. */
#define EVENT_SCHEMA_VERSION "1.1"

/* identity.c: who wrote an event, fixed for the whole run. */
struct event_identity {
    char sensor[256];            /* --sensor-name, else the host name */
    uint8_t run_id[16];          /* random UUID v4, or --run-id */
    char run_id_text[40];
};

/* What sets one event apart, computed once per event and shared by every sink. */
struct event_ids {
    char event_id[40];           /* UUID text */
    char community_id[32];       /* "1:<base64>"; "" when the event has none */
};

/* NULL sensor_name: the host name; NULL run_id: a fresh random one. False and a message in
 * err when one given is bad. */
bool event_identity_init(struct event_identity *identity, const char *sensor_name,
                         const char *run_id, char *err, size_t err_len);
/* The UUID (version 5) of name ("flow/ID/SEQ", "alert/ID", "stats/N") under the run id. */
void event_id_format(const struct event_identity *identity, const char *name, char *out,
                     size_t out_len);
/* Community ID v1, base64, "1:..." into out (32 bytes is enough). For ICMP and ICMPv6 the
 * ports are type and code. Returns the length, 0 when out is too short. */
size_t community_id_v1(char *out, size_t out_len, uint16_t seed, int ip_version,
                       const uint8_t *src_addr, const uint8_t *dest_addr, uint8_t proto,
                       uint16_t src_port, uint16_t dest_port);

/* One event as every sink sees it: the JSON text is built once, the structs are there for
 * sinks that need fields of their own (syslog's structured data and CEF). */
struct event {
    enum event_type type;
    const struct flow *flow;     /* EVENT_FLOW */
    const struct alert *alert;   /* EVENT_ALERT */
    const struct event_ids *ids; /* EVENT_ALERT; NULL for the others */
    const struct event_identity *identity;
    const char *json;            /* compact, no newline */
    size_t json_len;
};

struct sink;

/* masscan's OutputType: how output/ talks to any sink. */
struct sink_ops {
    const char *name;
    /* NULL and a message in err when the sink cannot start. */
    struct sink *(*open)(const struct output_config *config, struct output_stats *stats,
                         char *err, size_t err_len);
    void (*write_event)(struct sink *sink, const struct event *event);
    void (*tick)(struct sink *sink);      /* optional */
    void (*reopen)(struct sink *sink);    /* optional */
    void (*close)(struct sink *sink);
};

/* Each sink's own struct starts with this. */
struct sink {
    const struct sink_ops *ops;
    struct output_stats *stats;  /* shared counters of the struct output that owns the sink */
};

extern const struct sink_ops json_sink_ops;
extern const struct sink_ops syslog_sink_ops;

/* event.c: the JSON of each event; malloc'ed, compact, no newline. NULL only out of memory. */
char *output_flow_json(const struct output_config *config, const struct event_identity *identity,
                       const struct flow *flow, enum flow_end_reason reason);
/* The ids of an alert: its event_id under the run and its connection's Community ID. */
void output_alert_ids(const struct event_identity *identity, const struct alert *alert,
                      struct event_ids *ids);
char *output_alert_json(const struct event_identity *identity, const struct event_ids *ids,
                        const struct alert *alert);
char *output_stats_json(const struct event_identity *identity, uint64_t seq,
                        const struct output_run_stats *stats);
/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when the bytes there are not one. */
size_t output_utf8_length(const unsigned char *s);
/* "2024-01-02T03:04:05.123456Z"; buf holds 32 bytes. */
const char *output_format_time(uint64_t ts_usec, char *buf, size_t len);
const char *output_proto_name(uint8_t proto, char *buf, size_t len);

/* syslog.c: RFC 5424 pieces. */
struct syslog_header {
    int facility;                /* 0..23 */
    int severity;                /* 0..7 */
    uint64_t ts_usec;            /* message time */
    const char *hostname;        /* NULL or empty: "-" */
    long procid;
    const char *msgid;
};
/* Appends `"value"` with RFC 5424 section 6.3.3 escaping of '"', '\' and ']'. Returns false
 * when it does not fit. */
bool syslog_append_param(char *buf, size_t cap, size_t *len, const char *name, const char *value);
/* Formats the whole message: header, structured data (pre-built "[...]" or NULL for "-"),
 * message body. Returns the length, or 0 when it would not fit in cap. */
size_t syslog_format(char *buf, size_t cap, const struct syslog_header *header,
                     const char *structured_data, const char *message);
/* The structured data element of an alert: [exflow@32473 key="value" ...]. */
size_t syslog_alert_sd(char *buf, size_t cap, const struct alert *alert);
/* The CEF message body of an alert. Returns the length, 0 when it does not fit. */
size_t syslog_alert_cef(char *buf, size_t cap, const struct alert *alert,
                        const struct event_ids *ids, const char *sensor);
/* The ATT&CK technique that names the alert's class (the CEF Signature ID): the most specific
 * one it carries. */
const char *syslog_main_technique(const struct alert *alert);
int syslog_severity(enum alert_severity severity);
bool syslog_parse_severities(const char *text, int map[SEVERITY_CRITICAL + 1], char *err,
                             size_t err_len);
/* RFC 6587 3.4.1 octet counting: "LEN SP MSG". Returns the frame length, 0 if it won't fit. */
size_t syslog_frame(char *buf, size_t cap, const char *message, size_t message_len);

/* relp.c: RELP frames for the TCP sink (relp://). */
#define RELP_MAX_DATA 131072u   /* a longer reply is a broken collector */
struct relp_frame {
    uint32_t txnr;
    char command[33];
    const char *data;           /* into the parsed buffer */
    size_t data_len;
};
enum relp_parse { RELP_NEED_MORE, RELP_FRAME, RELP_BAD };
/* One frame; 0 when it does not fit in cap. */
size_t relp_encode(char *buf, size_t cap, uint32_t txnr, const char *command, const char *data,
                   size_t data_len);
/* The session offer, transaction 1. */
size_t relp_encode_open(char *buf, size_t cap);
/* The first frame of buf; *consumed: its length when RELP_FRAME. */
enum relp_parse relp_parse(const char *buf, size_t len, struct relp_frame *frame,
                           size_t *consumed);
/* The status of an "rsp" frame (200 = OK); -1 for anything else. */
int relp_response_code(const struct relp_frame *frame);

/* syslog_tls.c: RFC 5425 for the TCP sink; credentials once, one session per connection. */
struct syslog_tls;
#define SYSLOG_TLS_AGAIN  (-1)  /* the socket is full: call again with the same data */
#define SYSLOG_TLS_FAILED (-2)  /* the session is dead: why says what happened */
/* NULL and a message naming the option when a certificate file or the trust store fails. */
struct syslog_tls *syslog_tls_new(const struct output_config *config, const char *host,
                                  char *err, size_t err_len);
/* A new session over a connected socket; the handshake follows. */
bool syslog_tls_start(struct syslog_tls *tls, int fd, char *why, size_t why_len);
/* 1: done and verified; 0: call again when the socket is ready; -1: failed, why says why. */
int syslog_tls_handshake(struct syslog_tls *tls, char *why, size_t why_len);
/* Plaintext bytes taken (>= 0), SYSLOG_TLS_AGAIN or SYSLOG_TLS_FAILED. */
ssize_t syslog_tls_send(struct syslog_tls *tls, const void *data, size_t len, char *why,
                        size_t why_len);
/* Consumes what the collector sent; false when it closed or the session broke. */
bool syslog_tls_drain(struct syslog_tls *tls, char *why, size_t why_len);
/* Bytes of TLS records this session wrote into the socket. */
uint64_t syslog_tls_pushed(const struct syslog_tls *tls);
void syslog_tls_end(struct syslog_tls *tls);    /* the session only */
void syslog_tls_free(struct syslog_tls *tls);   /* NULL is fine */

/*
 * spool.c: the TCP sink's queue on disk. The file holds records (a CRC32C and an RFC 6587
 * frame as it goes on the wire) after a 16-byte header (magic + generation). A separate
 * offset file holds "GENERATION OFFSET": everything before OFFSET was delivered.
 * Offsets are logical file offsets (records, checksums included); "wire" bytes are the
 * frames alone, as the collector receives them.
 */
#define SPOOL_CRC_LEN   4u
#define SPOOL_MAX_FRAME 65536u                           /* a longer length prefix is damage */
#define SPOOL_MAX_RECORD (SPOOL_CRC_LEN + SPOOL_MAX_FRAME) /* read buffers hold at least this */

struct spool {
    int fd;
    int lock_fd;
    char *path;
    char *offset_path;
    uint64_t generation;
    uint64_t base;             /* logical offset of the first record byte in the current file */
    uint64_t size;             /* file size: where the next record goes */
    uint64_t delivered;        /* delivered up to here (a record boundary) */
    uint64_t saved_delivered;  /* what the offset file says */
    uint64_t max_bytes;        /* bound on undelivered bytes */
    uint64_t corrupt_frames;   /* frames skipped for a bad checksum, this run */
    bool offset_write_failed;  /* the offset file could not be written; said once */
    /* Ends of the records after `delivered`, in order, and whether each failed its checksum:
     * boundaries for replay and counting. */
    uint64_t *frame_ends;
    uint8_t *frame_corrupt;
    size_t frame_head, frame_count, frame_capacity;
};

enum spool_append_result {
    SPOOL_APPEND_OK,
    SPOOL_APPEND_FULL,         /* undelivered bytes would pass max_bytes */
    SPOOL_APPEND_ERROR,        /* the write failed (errno: ENOSPC on a full filesystem) */
};

uint32_t spool_crc32c(const void *data, size_t len);
/* Opens (creating dir and files) and loads what an earlier run left: frames after the saved
 * offset are pending. A torn last record (crash mid-write) is cut off. */
bool spool_open(struct spool *spool, const char *dir, uint64_t max_bytes, char *err, size_t err_len);
/* Appends one frame with its checksum. */
enum spool_append_result spool_append(struct spool *spool, const char *frame, size_t len);
/* Raw file bytes from a logical offset; returns bytes read (0 at end), -1 on error. */
long spool_read(struct spool *spool, uint64_t offset, char *buf, size_t len);
/* The wire bytes of the whole pending frames from `offset` (a record boundary) that fit in
 * cap (>= SPOOL_MAX_RECORD), at most max_frames good ones (0: no limit), checksums verified: a damaged frame is skipped, counted in
 * corrupt_frames and logged. *next: the offset after the last record looked at. Returns the
 * bytes put in buf, -1 on a read error. */
long spool_read_frames(struct spool *spool, uint64_t offset, char *buf, size_t cap,
                       size_t max_frames, uint64_t *next);
/* The collector has the first wire_bytes of the frames after `delivered`: marks the whole
 * ones (and damaged ones among them, which have no wire bytes) delivered, never past limit.
 * *wire_used: the wire bytes of the frames marked. Returns how many good frames it marked. */
size_t spool_ack_wire(struct spool *spool, uint64_t wire_bytes, uint64_t limit,
                      uint64_t *wire_used);
/* How many good frames the first wire_bytes after `delivered` reach into, in part or whole. */
size_t spool_frames_touched(const struct spool *spool, uint64_t wire_bytes);
/* Frames before `acked` (a logical offset) are delivered. */
void spool_mark_delivered(struct spool *spool, uint64_t acked);
/* Writes the offset file if it changed (atomically), and starts a fresh file once everything
 * was delivered, so the spool does not grow for ever. */
bool spool_checkpoint(struct spool *spool);
uint64_t spool_pending_bytes(const struct spool *spool);
size_t spool_pending_frames(const struct spool *spool);
void spool_close(struct spool *spool);

#endif
