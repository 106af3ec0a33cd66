/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * zeek/: flow input from Zeek logs instead of packets. Reads conn.log, and ssl.log,
 * http.log, ftp.log, dns.log and files.log when present, in Zeek's TSV (#separator/#fields headers, '-' unset,
 * '(empty)', \xHH escapes) or JSON (one object a line) format, joins them by uid, and turns
 * each conn.log entry into the same struct flow the packet path hands to detection, with the
 * evidence the side logs carry (TLS SNI, HTTP Host and uploads, FTP STOR data channels).
 * Records leave in connection end-time order, as the packet path's do. Lines are bounded;
 * a bad line is counted and skipped.
 */
#ifndef EXFLOW_ZEEK_H
#define EXFLOW_ZEEK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../detect/detect.h"
#include "../flows/flows.h"

#define ZEEK_MAX_PATHS 16

struct zeek_config {
    const char *paths[ZEEK_MAX_PATHS]; /* directories holding *.log, or single log files */
    unsigned path_count;
};

struct zeek_stats {
    uint64_t files;             /* log files read */
    uint64_t lines;             /* data lines read, all logs */
    uint64_t bad_lines;         /* unparsable, over-long, or missing a needed field: skipped */
    uint64_t conn_entries;      /* conn.log entries turned into records */
    uint64_t joined_ssl, joined_http, joined_ftp, joined_dns, joined_files; /* records given
                                 * evidence by a side log */
    uint64_t dns_dropped;       /* dns.log lookups past a connection's ZEEK_DNS_BYTES: not scored */
    uint64_t uid_overflow;      /* side-log entries dropped at the uid table cap */
    uint64_t reorder_overflow;  /* times the end-time sort buffer was full and emptied early */
    uint64_t flows_out;
};

/* One finished record with its log evidence; both are the reader's, valid during the call. */
typedef void (*zeek_record_fn)(void *user, struct flow *flow, enum flow_end_reason reason,
                               const struct detect_log_evidence *evidence);

struct zeek_reader;

/* Finds the logs (a directory's conn*.log, ssl*.log, ...; or the files given, recognised by
 * name or #path). NULL and a message in err when no conn.log is found or a path cannot be read. */
struct zeek_reader *zeek_reader_new(const struct zeek_config *config, zeek_record_fn on_record,
                                    void *user, char *err, size_t err_len);

/* A reader of logs given as bytes only (zeek_reader_feed): tests and the fuzz harness. */
struct zeek_reader *zeek_reader_new_memory(zeek_record_fn on_record, void *user);

/* Reads everything and hands on every record; returns false when a file fails mid-way (the
 * records read are still handed on). */
bool zeek_reader_run(struct zeek_reader *reader, volatile sig_atomic_t *stop);

/* The EVIDENCE_* bits detection cannot get from the logs found (for alerts to name). */
uint32_t zeek_reader_unavailable_evidence(const struct zeek_reader *reader);

/* Feeds one log given as bytes (name decides the kind: "conn", "ssl", "http", "ftp"), then
 * hands on its records: the fuzz harness and unit tests use it without files. */
void zeek_reader_feed(struct zeek_reader *reader, const char *kind, const uint8_t *data, size_t len);
void zeek_reader_flush(struct zeek_reader *reader);

void zeek_reader_get_stats(const struct zeek_reader *reader, struct zeek_stats *stats);
void zeek_reader_free(struct zeek_reader *reader);

#endif
