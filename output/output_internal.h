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

#include "output.h"

/* Defaults and bounds of output/ live in common/tunables.h with every other tunable. */
#include "../common/tunables.h"
#define SYSLOG_SD_ID              "exflow@32473" /* RFC 5424 7.2.2: name@PEN; 32473 is the
                                                    documentation PEN of RFC 5612 */

enum event_type { EVENT_FLOW, EVENT_ALERT, EVENT_SUMMARY };

/* One event as every sink sees it: the JSON text is built once, the structs are there for
 * sinks that need fields of their own (syslog's structured data and CEF). */
struct event {
    enum event_type type;
    const struct flow *flow;     /* EVENT_FLOW */
    const struct alert *alert;   /* EVENT_ALERT */
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
char *output_flow_json(const struct output_config *config, const struct flow *flow,
                       enum flow_end_reason reason);
char *output_alert_json(const struct alert *alert);
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
size_t syslog_alert_cef(char *buf, size_t cap, const struct alert *alert);
int syslog_severity(enum alert_severity severity);
bool syslog_parse_severities(const char *text, int map[SEVERITY_CRITICAL + 1], char *err,
                             size_t err_len);
/* RFC 6587 3.4.1 octet counting: "LEN SP MSG". Returns the frame length, 0 if it won't fit. */
size_t syslog_frame(char *buf, size_t cap, const char *message, size_t message_len);

/*
 * spool.c: the TCP sink's queue on disk. The file holds RFC 6587 frames exactly as they go on
 * the wire, after a 16-byte header (magic + generation). A separate offset file holds
 * "GENERATION OFFSET": everything before OFFSET was acknowledged by the collector.
 */
struct spool {
    int fd;
    int lock_fd;
    char *path;
    char *offset_path;
    uint64_t generation;
    uint64_t base;             /* logical offset of the first frame byte in the current file */
    uint64_t size;             /* file size: where the next frame goes */
    uint64_t delivered;        /* acknowledged up to here (a frame boundary) */
    uint64_t saved_delivered;  /* what the offset file says */
    uint64_t max_bytes;        /* bound on undelivered bytes */
    /* Ends of the frames after `delivered`, in order: boundaries for replay and counting. */
    uint64_t *frame_ends;
    size_t frame_head, frame_count, frame_capacity;
};

/* Opens (creating dir and files) and loads what an earlier run left: frames after the saved
 * offset are pending. A torn last frame (crash mid-write) is cut off. */
bool spool_open(struct spool *spool, const char *dir, uint64_t max_bytes, char *err, size_t err_len);
/* Appends one frame; false when it would push the undelivered bytes past max_bytes. */
bool spool_append(struct spool *spool, const char *frame, size_t len);
/* Reads up to len bytes from offset; returns bytes read (0 at end), -1 on error. */
long spool_read(struct spool *spool, uint64_t offset, char *buf, size_t len);
/* Frames from `delivered` on are acknowledged up to byte `acked` (rounded down to a frame). */
void spool_mark_delivered(struct spool *spool, uint64_t acked);
/* Writes the offset file if it changed (atomically), and starts a fresh file once everything
 * was delivered, so the spool does not grow for ever. */
bool spool_checkpoint(struct spool *spool);
uint64_t spool_pending_bytes(const struct spool *spool);
size_t spool_pending_frames(const struct spool *spool);
void spool_close(struct spool *spool);

#endif
