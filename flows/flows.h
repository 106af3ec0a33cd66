/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * flows/: the bidirectional flow table. One canonical key per connection (5-tuple + VLAN),
 * the originator is the side that sent the first packet (the SYN when seen). Counts packets,
 * wire bytes and payload bytes per direction, follows TCP state, labels the flow with nDPI,
 * and ends flows on idle/active timeouts, TCP close, memory pressure or end of input, all by
 * packet time. Ended flows (and interim records of long ones) go to a flow_observer, and so
 * do the upload bursts a TCP client's pauses cut its flow into (struct flow_burst).
 */
#ifndef EXFLOW_FLOWS_H
#define EXFLOW_FLOWS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../capture/capture.h"

enum flow_direction { FLOW_DIR_ORIG = 0, FLOW_DIR_RESP = 1 };

enum flow_end_reason {
    FLOW_END_IDLE = 0,     /* no packet for the idle timeout */
    FLOW_END_ACTIVE,       /* interim record: active timeout, the flow goes on */
    FLOW_END_TCP_CLOSE,    /* FIN seen from both sides */
    FLOW_END_TCP_RESET,    /* RST */
    FLOW_END_EVICTED,      /* memory cap reached, oldest flow pushed out */
    FLOW_END_EOF,          /* end of input or shutdown */
    /* Not an end: an upload burst inside the flow closed (struct flow_burst). Detection
     * scores it; it is written as a flow event of its own (end_reason "burst", with the
     * burst's bytes) so that saved events can be scored again, but the flow's counters go
     * on: its next record counts them again. */
    FLOW_END_BURST,
};
const char *flow_end_reason_name(enum flow_end_reason reason);

enum tcp_state {
    TCP_STATE_NONE = 0,    /* not TCP */
    TCP_STATE_SYN_SENT,
    TCP_STATE_SYN_RECEIVED,
    TCP_STATE_ESTABLISHED, /* three-way handshake seen */
    TCP_STATE_MIDSTREAM,   /* first packet was not a SYN: joined late */
    TCP_STATE_FIN_WAIT,    /* FIN from one side */
    TCP_STATE_CLOSED,      /* FIN from both sides */
    TCP_STATE_RESET,
};
const char *tcp_state_name(enum tcp_state state);

struct flow_direction_stats {
    uint64_t packets;
    uint64_t bytes;          /* wire bytes (pcap len) */
    uint64_t payload_bytes;  /* transport payload bytes, by IP length */
    uint64_t first_ts_usec;  /* 0 when this side sent nothing */
    uint64_t last_ts_usec;
    uint8_t tcp_flags;       /* OR of flags seen from this side */
};

/* Upload bursts inside one connection: the originator's payload, cut where it pauses for
 * flow_table_config.burst_gap_usec. When the originator sends again after such a pause, the
 * burst before is reported (FLOW_END_BURST) and a new one starts, so a keep-alive connection
 * that uploads every few minutes is a series of transfers while it is still open. Fixed
 * size: a flow never holds more than the burst in progress. */
struct flow_burst {
    uint64_t start_ts_usec;       /* first originator payload of the burst in progress */
    uint64_t last_orig_ts_usec;   /* latest originator payload; 0 before the first */
    uint64_t payload_bytes[2];    /* by enum flow_direction, since the last record of any kind */
    uint32_t seq;                 /* bursts closed so far: 0 until the first pause */
};

#define FLOW_NAME_LEN 256
#define FLOW_LABEL_LEN 48

/* What nDPI told us, copied out so the nDPI state can be freed early. Empty string = absent. */
struct flow_labels {
    bool detection_done;                  /* first: read on every packet of the flow */
    char master_protocol[FLOW_LABEL_LEN]; /* e.g. "TLS", "HTTP" */
    char app_protocol[FLOW_LABEL_LEN];    /* e.g. "Dropbox", "MEGA"; "Unknown" when none */
    char category[FLOW_LABEL_LEN];        /* nDPI category name */
    char server_name[FLOW_NAME_LEN];      /* TLS SNI or HTTP Host */
    char http_method[16];
    char http_url[FLOW_NAME_LEN];
    char http_content_type[FLOW_LABEL_LEN]; /* request content type, e.g. of a POST */
    uint16_t http_status;
    char ssh_client[FLOW_LABEL_LEN];
    char ssh_server[FLOW_LABEL_LEN];
};

/* Field order is for the cache: a lookup reads the first 64 bytes (chain link, hash, key),
 * a packet then writes the next 216 (times, age-list links, counters, burst); the ~820 bytes of
 * label strings come last and are touched only while nDPI labels the flow and when a
 * record is written. (Not allocated cache-aligned: posix_memalign's fragments cost ~190
 * bytes a flow, which took the SYN flood of `make bench` 7 MiB past --flow-memory.) */
struct flow {
    /* Cache line 1: what the hash chain walk compares. */
    struct flow *hash_next;       /* private to flows/: hash chain */
    uint32_t hash;                /* private to flows/ */
    uint8_t ip_version;
    uint8_t proto;
    uint16_t vlan;
    uint16_t orig_port, resp_port;
    enum tcp_state tcp_state;
    uint8_t orig_addr[PACKET_ADDR_LEN]; /* originator: sent the first packet / the SYN */
    uint8_t resp_addr[PACKET_ADDR_LEN];
    uint64_t last_ts_usec;

    /* Cache line 2: per-packet bookkeeping. */
    struct flow *age_prev, *age_next; /* private to flows/: age list */
    uint64_t age_seq;             /* private to flows/: pkt->seq when last filed in its age list:
                                   * breaks ties between equal times the same way in one table
                                   * or in several */
    uint64_t start_ts_usec;       /* first packet of this record (interim records restart it) */
    void *ndpi_flow;              /* private to flows/: nDPI state while labelling */
    void *observer_state;         /* owned by the observer (detect/): it frees it in on_record(final) */
    uint64_t id;                  /* unique within a run: the seq of the packet that created it
                                   * when packets are numbered (pipeline/), else creation order */
    uint32_t record_seq;          /* 0 for the first record of a flow, +1 per interim record */
    uint16_t ndpi_packets;        /* private to flows/ */
    uint8_t tcp_fin_seen;         /* private to flows/: bit per direction: which sides sent a FIN
                                   * (survives interim resets) */
    uint64_t age_ts_usec;         /* private to flows/: last packet time on the ageing clock
                                   * (struct flow_clock); the age lists are sorted by it and
                                   * timeouts count from it. Equals last_ts_usec while packet
                                   * time only moves forward. */

    /* Cache lines 3-5: counters, then the burst in progress (written by client payload). */
    struct flow_direction_stats dir[2]; /* indexed by enum flow_direction */
    uint64_t total_start_ts_usec; /* private to flows/ */
    struct flow_burst burst;

    struct flow_labels labels;
};

/* Bytes the memory cap counts for one flow, nDPI's state aside: the struct and the header
 * malloc puts before each block (glibc: 16 bytes on 64-bit), so that the cap bounds what
 * the process really holds. */
#define FLOW_MALLOC_OVERHEAD 16
#define FLOW_BYTES (sizeof(struct flow) + FLOW_MALLOC_OVERHEAD)

/* The clock flows age by: packet time that never goes back, so that the age lists stay sorted
 * with every insertion at their newest end. A step back of FLOW_CLOCK_STEP_USEC or more (an
 * NTP step, a VM resume, captures given out of order) is counted, warned about once, and
 * ageing goes on from the latest time, later packets shifted by the step; a smaller step
 * back (packets reordered by a merge or a buffer) is clamped to the latest time. A step
 * forward moves the clock forward: flows due by then time out. */
#define FLOW_CLOCK_STEP_USEC 1000000ULL /* 1 s: more than reordering, less than a clock step */
struct flow_clock {
    uint64_t now_usec;      /* the latest ageing time handed out */
    uint64_t offset_usec;   /* the steps back so far, added to packet time */
    bool started;
    _Atomic uint64_t steps_back; /* any thread may read it */
};

/* The ageing time of a packet (or tick) with this timestamp. Zero-initialise the clock. */
uint64_t flow_clock_advance(struct flow_clock *clock, uint64_t ts_usec);

/* Who hears about flows. All callbacks are optional. */
struct flow_observer {
    /* After the flow's counters and labels were updated with this packet. */
    void (*on_packet)(void *user, struct flow *flow, const struct packet *pkt,
                      enum flow_direction direction);
    /* A record is due: final=false for interim (active timeout) records, whose counters
     * are reset afterwards; final=true when the flow ends and is about to be freed. */
    void (*on_record)(void *user, struct flow *flow, enum flow_end_reason reason, bool final);
    void *user;
};

struct flow_table_config {
    uint64_t idle_timeout_tcp_usec;
    uint64_t idle_timeout_other_usec;
    uint64_t active_timeout_usec;
    uint64_t closed_linger_usec;
    size_t memory_cap_bytes;          /* flows + nDPI state; the oldest flow is evicted above it */
    size_t memory_cap_reported_bytes; /* the cap the user set, in the warning, when several tables
                                       * share it (pipeline/); 0: memory_cap_bytes */
    bool ndpi_enabled;                /* false in unit tests that only check keying */
    const char *custom_protocols_file;/* nDPI protocols file (NULL: the bundled one is not loaded) */
    uint32_t hash_seed;               /* random per run; fixed in tests */
    /* true: flows time out only in flow_table_expire() and flow_table_flush(), with no budget,
     * never while a packet is processed (a flow found already due on lookup still ends). The
     * pipeline sets it so that records do not depend on which other flows share a table. */
    bool expire_on_call_only;
    /* Pause in the originator's payload that closes an upload burst of a TCP flow (struct
     * flow_burst); 0: no bursts. */
    uint64_t burst_gap_usec;
};

/* Fills config with the defaults from common/tunables.h. */
void flow_table_config_defaults(struct flow_table_config *config);

struct flow_table_stats {
    uint64_t active;           /* flows in the table now */
    uint64_t created;
    uint64_t ended[FLOW_END_EOF + 1]; /* records emitted by reason */
    uint64_t evicted;          /* same as ended[FLOW_END_EVICTED], kept for the stats line */
    uint64_t memory_bytes;     /* current estimate */
    uint64_t skipped_fragments;
    uint64_t clock_steps_back; /* steps back of packet time (struct flow_clock) */
    uint64_t bursts;           /* FLOW_END_BURST records: bursts closed inside open flows */
};

struct flow_table;

/* NULL and a message in err when nDPI or the protocols file cannot be set up. */
struct flow_table *flow_table_new(const struct flow_table_config *config,
                                  const struct flow_observer *observer, char *err, size_t err_len);

/* One lookup, counters, TCP state, nDPI, then expiry of flows idle as of this packet's time. */
void flow_table_process(struct flow_table *table, const struct packet *pkt);

/* The same with the packet's hash already computed by flow_table_hash. A caller that holds a
 * batch of packets (pipeline/) hashes them all and prefetches every bucket, then the flow
 * at every bucket's head, before processing the first, so that the lookups do not wait for
 * memory one after another. Prefetching is only a hint: any order is correct. */
uint32_t flow_table_hash(const struct flow_table *table, const struct packet *pkt);
void flow_table_prefetch_bucket(const struct flow_table *table, uint32_t hash);
void flow_table_prefetch_flow(const struct flow_table *table, uint32_t hash);
void flow_table_process_hashed(struct flow_table *table, const struct packet *pkt, uint32_t hash);

/* Expires flows by the given packet time (called on ticks when no packets arrive). */
void flow_table_expire(struct flow_table *table, uint64_t now_usec);

/* The same two with the ageing time given by the caller's own flow_clock, for a caller that
 * spreads packets over several tables (pipeline/): each table then ages by the same clock,
 * so that records do not depend on how flows were spread. Times must not go back; one that
 * does is clamped to the table's latest. The table's own clock is then unused. */
void flow_table_process_at(struct flow_table *table, const struct packet *pkt, uint32_t hash,
                           uint64_t age_usec);
void flow_table_expire_at(struct flow_table *table, uint64_t age_usec);

/* Ageing time (struct flow_clock) at which the flow times out as it stands (idle, or linger
 * after a TCP close). Packet time, while packet time has not stepped back. */
uint64_t flow_table_deadline(const struct flow_table *table, const struct flow *flow);

/* Ends every flow with FLOW_END_EOF (end of input, shutdown). */
void flow_table_flush(struct flow_table *table);

void flow_table_get_stats(const struct flow_table *table, struct flow_table_stats *stats);

/* Flushes nothing: call flow_table_flush first if records are wanted. */
void flow_table_free(struct flow_table *table);

#endif
