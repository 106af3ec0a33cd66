/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/: writes flow records, alerts and stats as JSON events to one or several sinks: JSON
 * lines to stdout or a file, and syslog RFC 5424 over UDP, TCP (RFC 6587 octet counting), TLS
 * (RFC 5425) or RELP, with an on-disk spool so no alert is lost while the SIEM is down. The
 * JSON of every event starts with the same head (timestamp, event_type, schema_version,
 * sensor, event_id), built in one place; docs/schema/exflow-events.schema.json is its contract.
 */
#ifndef EXFLOW_OUTPUT_H
#define EXFLOW_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../detect/detect.h"
#include "../flows/flows.h"
#include "../geo/geo.h"

struct output_config {
    const char *json_path;       /* "-" = stdout; NULL = no JSON lines sink */
    uint64_t json_rotate_bytes;  /* rotate the file past this size; 0 = never */
    bool write_flows;            /* flow records to the JSON sink (alerts always) */
    const char *syslog_url;      /* udp://, tcp:// or tls://host:port; NULL = none */
    const char *syslog_ca;       /* tls://: PEM CA file; NULL = the system trust store */
    const char *syslog_cert;     /* tls://: PEM client certificate (mutual TLS); NULL = none */
    const char *syslog_key;      /* tls://: its PEM private key */
    const char *syslog_format;   /* "json" (default) or "cef" */
    int syslog_facility;         /* 0..23, default 13 (log audit) */
    const char *syslog_severities; /* "L,M,H,C": syslog severities 0-7 for exflow's low, medium,
                                    * high, critical; NULL: 5,4,3,2 (notice ... crit) */
    const char *spool_dir;       /* TCP syslog spool; NULL = default under the state dir */
    uint64_t spool_max_bytes;
    struct geo *geo;             /* may be NULL: no geo fields in flow records */
    const char *sensor_name;     /* "sensor" of every event; NULL = the host name */
    const char *run_id;          /* UUID under which event ids are made; NULL = random */
    /* Also hands every event's JSON to this observer (the investigation report), flow
     * records included even when no sink writes them; NULL = none. Called on the thread
     * that writes events. */
    void (*on_event)(void *user, const char *json, size_t len);
    void *on_event_user;
};

void output_config_defaults(struct output_config *config);

struct output_stats {
    uint64_t flows_written;
    uint64_t alerts_written;
    uint64_t syslog_sent;        /* UDP: handed to the kernel; TCP: acknowledged by the collector */
    uint64_t syslog_retried;     /* TCP: written to a connection lost before acknowledging it */
    uint64_t syslog_spooled;     /* waited in the spool instead of going out at once */
    uint64_t syslog_dropped;     /* never to be sent: spool full or unwritable, too large */
    uint64_t syslog_corrupt;     /* spool frames skipped for a failed CRC32C check */
    uint64_t write_errors;
    uint64_t stats_written;
    uint64_t syslog_queue_frames; /* gauge: alerts waiting for the collector (TCP spool) */
    uint64_t syslog_spool_bytes;  /* gauge: bytes of them on disk */
};

/* Everything the periodic stats line says, as numbers: main gathers it from every stage,
 * output/ writes it as a stats event and as a Prometheus textfile. */
struct output_run_stats {
    uint64_t uptime_sec;            /* wall time since start */
    uint64_t packets, bytes, decoded, skipped, read_errors;
    uint64_t pcap_received, pcap_dropped, pcap_if_dropped;
    uint64_t flows_active, flows_created, flows_evicted, flow_memory_bytes;
    uint64_t flow_clock_steps_back;   /* packet time stepped back >= 1 s (flows/) */
    uint64_t flow_bursts;             /* upload bursts closed inside open flows (flows/) */
    struct detect_stats detect;       /* the record stages' counters, as detect/ keeps them */
    bool shared_state;                /* --shared-state in use: the four below are printed */
    uint64_t shared_state_errors, shared_state_queued, shared_state_dropped;
    uint64_t shared_state_learned;
    struct output_stats output;
    long max_rss_kib;
    double cpu_capture_sec, cpu_workers_sec, cpu_busiest_worker_sec, cpu_consumer_sec;
};

struct output;

/* NULL and a message in err when a file cannot be opened or the syslog URL is bad. */
struct output *output_open(const struct output_config *config, char *err, size_t err_len);

/* Writes a flow record (when flow records are written at all). json: the record's text from
 * output_flow_encode, taken over and freed here; NULL: it is encoded here. */
void output_flow(struct output *output, const struct flow *flow, enum flow_end_reason reason,
                 char *json);
void output_alert(struct output *output, const struct alert *alert);
/* Writes an end-of-run `summary` event (JSON object text, no newline, built by report/) to
 * the JSON lines sink; syslog sinks carry alerts only. */
void output_summary(struct output *output, const char *json);

/* Flow records are encoded where they are made, on the worker threads: the JSON is the
 * costliest per-record work and output_flow runs on one thread for all of them. An encoder
 * belongs to one thread; it copies what it needs from output at creation (its own GeoIP
 * view) and shares nothing that output_flow changes. */
struct flow_encoder;
/* NULL when flow records are not written (--no-flows, no JSON sink) or memory ran out: the
 * records then go to output_flow without text, which does what is needed. */
struct flow_encoder *output_flow_encoder_new(const struct output *output);
/* The record's JSON (one line, no newline), to pass to output_flow; NULL on out of memory. */
char *output_flow_encode(struct flow_encoder *encoder, const struct flow *flow,
                         enum flow_end_reason reason);
/* Before the output (and the geo) it came from are closed. */
void output_flow_encoder_free(struct flow_encoder *encoder);

/* Writes a stats event to the JSON sink (not to syslog: a SIEM alert channel is not for
 * metrics). On the thread that writes every other event. */
void output_stats_event(struct output *output, const struct output_run_stats *stats);

/* --metrics-file: the numbers in Prometheus text format (node_exporter's textfile
 * collector), written to a temporary file in the same folder and renamed over path, so a
 * scraper never reads half a file. False and a message in err when it cannot be written. */
bool output_write_metrics(const char *path, const char *sensor,
                          const struct output_run_stats *stats, char *err, size_t err_len);

/* The "sensor" of every event: --sensor-name or the host name. Fixed once output is open. */
const char *output_sensor_name(const struct output *output);

/* Periodic work: syslog reconnect/back-off and spool replay. Never blocks for long. */
void output_tick(struct output *output);

/* SIGHUP: reopen files (after logrotate moved them). */
void output_reopen(struct output *output);

void output_get_stats(const struct output *output, struct output_stats *stats);

/* Flushes and closes every sink, trying for at most a few seconds to deliver spooled alerts. */
void output_close(struct output *output);

#endif
