/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * pipeline/: spreads the per-packet work over worker threads and merges what they report
 * back into one order that does not depend on how many workers there are.
 *
 *   capture thread --packets--> N workers (flow table + nDPI + the packet stage each,
 *                                          and the sink's per-record encoding)
 *                  <--records-- one consumer thread (the sink: detection, output) in seq order
 *
 * The pipeline knows no detector: the caller hands it a packet stage (per-packet evidence,
 * one instance per worker) and a sink (what runs on merged records).
 *
 * The capture thread numbers every packet (pkt->seq) and sends it to the worker chosen by a
 * fixed hash of its home address (or of its address pair when none or both are home), so all
 * flows between two hosts (an FTP control channel and its data channels) live in one worker
 * and the same input goes the same way on every run. Flows time out only at "time is now T" markers
 * the capture thread sends every whole second of packet time to all workers. Each record is
 * tagged with the packet or marker that caused it; the consumer hands records on in tag order
 * once every worker has passed that tag, so the output is the same for 1 or N workers.
 */
#ifndef EXFLOW_PIPELINE_H
#define EXFLOW_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../capture/capture.h"
#include "../flows/flows.h"
#include "../geo/geo.h"

#define PIPELINE_MAX_WORKERS 64

/* Per-packet work the workers run on their own flows, one instance per worker: it may keep
 * per-flow state behind flow->observer_state (state_size bytes, which an interim record
 * carries as a copy). All hooks run on the worker's thread except new_worker/free_worker
 * (pipeline_new/pipeline_free's). */
struct pipeline_packet_stage {
    void *(*new_worker)(void *user, char *err, size_t err_len);   /* NULL and err: failure */
    void (*on_packet)(void *ctx, struct flow *flow, const struct packet *pkt,
                      enum flow_direction direction);
    /* Settles what the record needs from the instance's per-packet tables before the
     * record leaves the worker. */
    void (*prepare_record)(void *ctx, struct flow *flow);
    void (*free_worker)(void *ctx);
    size_t state_size;
    void *user;
};

struct pipeline_config {
    unsigned workers;                  /* worker threads, 1..PIPELINE_MAX_WORKERS */
    struct flow_table_config flows;    /* each worker's table; the memory cap, less the rings'
                                        * fixed size when it is 4x that, is split evenly */
    const struct pipeline_packet_stage *stage; /* NULL: flows and nDPI only */
    /* The home networks (the caller's, read only): a packet with exactly one home address
     * goes to the worker of that address, so all of an internal host's conversations with
     * the outside share one nDPI instance and its per-host caches (STUN/Teams, Zoom, TLS
     * certificates), as they do with one worker. NULL: by the address pair only. */
    const struct cidr_set *home_net;
    /* Live fanout: `workers` open captures in one fanout group (capture_config.fanout),
     * one per worker. Each worker then reads its own in its own thread, with no capture
     * thread and no copy in between; flows expire on the workers' own wall-clock ticks and
     * the consumer takes records as they come (a live run is not replayable, so the order
     * that does not depend on N is given up). NULL: the capture thread feeds the workers.
     * The captures stay the caller's: it stops them (capture_stop) to end the run. */
    struct capture *const *captures;
};

/* Where merged records go. on_record and on_tick run on the consumer thread. */
struct pipeline_sink {
    /* In tag order. flow is a copy owned by the pipeline; observer_state is the worker's
     * (final) or a copy of it (interim): the callee frees it when final, as detect/ does.
     * text is what encode made of the record (NULL: nothing), the callee's to free. */
    void (*on_record)(void *user, struct flow *flow, enum flow_end_reason reason, bool final,
                      char *text);
    /* About once a second of wall time, also while no records come (syslog retries...). */
    void (*on_tick)(void *user);
    void *user;
    /* Optional: per-record work done on the workers instead of the one consumer thread.
     * new_encoder runs once per worker in pipeline_new (NULL: that worker encodes nothing),
     * encode on that worker's thread as each record leaves it, free_encoder at
     * pipeline_free. */
    void *(*new_encoder)(void *user);
    char *(*encode)(void *encoder, const struct flow *flow, enum flow_end_reason reason);
    void (*free_encoder)(void *encoder);
};

struct pipeline;

/* Starts the workers and the consumer. NULL and a message in err on failure. */
struct pipeline *pipeline_new(const struct pipeline_config *config, const struct pipeline_sink *sink,
                              char *err, size_t err_len);

/* Fanout: true while any worker's capture still runs. *failed is set when one ended in an
 * error (the interface went away), so the caller stops the others. */
bool pipeline_captures_running(struct pipeline *pipeline, bool *failed);

/* Fanout: the workers' capture counters added up, as of their last tick; exact after
 * pipeline_finish. Any thread. */
void pipeline_get_capture_stats(struct pipeline *pipeline, struct capture_stats *stats);

/* Capture thread: numbers the packet, copies its IP bytes to its worker. Blocks while that
 * worker is a full ring behind. */
void pipeline_packet(struct pipeline *pipeline, const struct packet *pkt);

/* Capture thread, live ticks: flows quiet since before now_usec time out although no packet
 * moves packet time; also lets the consumer catch up while input is idle. */
void pipeline_expire(struct pipeline *pipeline, uint64_t now_usec);

/* Capture thread, ticks: hands over what is batched so the consumer catches up while idle. */
void pipeline_sync(struct pipeline *pipeline);

/* End of input: every flow ends (FLOW_END_EOF), every record reaches the sink, the threads
 * exit. Call once, from the capture thread. Fanout: after stopping every capture; it waits
 * for the workers to end their flows. */
void pipeline_finish(struct pipeline *pipeline);

/* Sum of the workers' flow table stats: as of their last marker while running, exact after
 * pipeline_finish. Any thread. */
void pipeline_get_flow_stats(struct pipeline *pipeline, struct flow_table_stats *stats);

/* CPU seconds each thread has used so far (each thread's own clock), to show which stage
 * bounds the rate: the capture thread is the caller. A thread waiting on a full or empty
 * ring yields before it sleeps, and those yields count too (about 3% of the bench's CPU):
 * timing every wait would cost more than it tells. */
struct pipeline_cpu {
    double capture;        /* the calling thread */
    double consumer;
    double workers;        /* all workers together */
    double busiest_worker;
};
void pipeline_get_cpu(struct pipeline *pipeline, struct pipeline_cpu *cpu);

/* Stops the threads if pipeline_finish was not called (records may be lost) and frees all. */
void pipeline_free(struct pipeline *pipeline);

/* The default worker count: online cores - 1, at least 1. */
unsigned pipeline_default_workers(void);

#endif
