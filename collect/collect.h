/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * collect/: flow input from exporters instead of packets. Receives IPFIX (RFC 7011) and
 * NetFlow v9 (RFC 3954) and v5 over UDP, and IPFIX over TCP (RFC 7011 §10.4), decodes them with libfixbuf (templates per exporter and
 * observation domain), and turns each record into the same struct flow the packet path
 * hands to detection. Flow times come from the records, never from arrival time. Biflows
 * (RFC 5103 reverse IEs) pass as they are; uniflows are paired with their reverse within a
 * window of flow time, in a table of bounded size. Records leave in flow end-time order
 * within that window, as the packet path's records do. nProbe's and YAF's enterprise
 * elements, when a template carries them, give the record its server name and labels.
 */
#ifndef EXFLOW_COLLECT_H
#define EXFLOW_COLLECT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../flows/flows.h"

#define COLLECT_MAX_URLS 16

struct collect_config {
    const char *urls[COLLECT_MAX_URLS]; /* udp://HOST:PORT or tcp://HOST:PORT */
    unsigned url_count;
    uint64_t idle_exit_usec;    /* end the run after this long without a datagram; 0: never */
};

struct collect_stats {
    uint64_t datagrams;
    uint64_t garbage;           /* datagrams that were neither IPFIX nor NetFlow v9, or broken */
    uint64_t records;           /* data records decoded */
    uint64_t records_skipped;   /* without addresses or times (options records, odd templates) */
    uint64_t sequence_lost;     /* exports missing by the sequence numbers (v9: datagrams,
                                 * IPFIX: records) */
    uint64_t sequence_resets;   /* sequence went back: an exporter restart or reordering */
    uint64_t biflows;           /* records that carried both directions */
    uint64_t uniflows_paired;   /* one-way records merged with their reverse */
    uint64_t uniflows_single;   /* one-way records whose reverse never came */
    uint64_t pair_overflow;     /* times the pairing table was full and flushed early */
    uint64_t exporters;         /* exporters known now */
    uint64_t exporters_evicted; /* least recently heard exporters dropped at the cap */
    uint64_t flows_out;         /* records handed on */
    uint64_t records_named;     /* records whose enterprise elements named the server or app */
    uint64_t templates;         /* templates held now, all exporters */
    uint64_t templates_refused; /* template records refused at a cap: their message is skipped */
    uint64_t templates_withdrawn; /* templates an exporter withdrew (IPFIX over TCP) */
    uint64_t tcp_sessions;      /* IPFIX-over-TCP connections accepted */
    uint64_t tcp_open;          /* ... open now */
    uint64_t tcp_broken;        /* ... closed by us: a stream that is not IPFIX messages */
    uint64_t tcp_refused;       /* ... refused at the COLLECT_MAX_TCP cap */
};

/* One finished bidirectional record; the flow is the collector's, valid during the call. */
typedef void (*collect_record_fn)(void *user, struct flow *flow, enum flow_end_reason reason);

struct collector;

/* Binds (and for tcp:// listens on) every URL. NULL and a message in err on a bad URL or a port that cannot be bound. */
struct collector *collector_new(const struct collect_config *config, collect_record_fn on_record,
                                void *user, char *err, size_t err_len);

/* Receives until *stop is set or the idle exit is reached; on_tick(tick_user) about once a
 * second of wall time. Pending records are flushed before it returns. */
void collector_run(struct collector *collector, volatile sig_atomic_t *stop,
                   void (*on_tick)(void *user), void *tick_user);

/* One datagram as if it came from `from` (the fuzz harness and tests use it directly). */
void collector_datagram(struct collector *collector, const uint8_t *data, size_t len,
                        const struct sockaddr *from, socklen_t from_len);

/* One whole IPFIX message as if it came on a TCP session from `from`, where template
 * withdrawals are allowed (the fuzz harness uses it). */
void collector_stream_message(struct collector *collector, const uint8_t *data, size_t len,
                              const struct sockaddr *from, socklen_t from_len);

/* Hands on every pending record, in end-time order (end of input). */
void collector_flush(struct collector *collector);

/* The EVIDENCE_* bits (detect/detect.h) that flow records cannot carry, judged as they are
 * on payload bytes; alerts name them so that their absence says nothing about the traffic. */
uint32_t collector_unavailable_evidence(const struct collector *collector);

void collector_get_stats(const struct collector *collector, struct collect_stats *stats);
void collector_free(struct collector *collector);

#endif
