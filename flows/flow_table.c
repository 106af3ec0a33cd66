/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The flow table: a seeded hash of canonical 5-tuple+VLAN keys, one lookup per packet, and
 * three age lists (open TCP, other, closed TCP) whose flows share one timeout each, so
 * expiry walks each from its oldest flow and stops at the first live one. Flows are filed by
 * an ageing clock that never goes back (struct flow_clock), so filing is O(1) a packet
 * whatever order the timestamps come in.
 */
#include "flows.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/tunables.h"
#include "labels.h"
#include "spares.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* Flows ended per packet by timeouts: bounded so one packet never pays for a burst of
 * expiries; the rest go on later packets (a flow found already due is ended on lookup). */
#define EXPIRE_BUDGET_PER_PACKET 16
/* Ticks come about once a second of wall time and may follow a long silence. */
#define EXPIRE_BUDGET_PER_TICK   65536

/* Ended flows (and their nDPI states) kept for the next ones, so that a steady churn of flows
 * neither goes through malloc for each nor faults in fresh heap pages: at most this many,
 * and at most an eighth of the flows the cap allows, which the cap then holds. */
#define FLOW_SPARES_MAX 1024

/* Hash buckets: the array doubles whenever flows outnumber buckets, up to enough for the
 * flows the memory cap allows (and BUCKETS_MAX). Sized by the flows there are, not by the
 * cap, it stays small enough to sit in the CPU caches on most links. */
#define BUCKETS_MIN 1024
#define BUCKETS_MAX (1u << 22)

/* Each age list holds flows with one timeout, in order of their last packet. */
enum age_list_id {
    AGE_LIST_TCP = 0,   /* open TCP: idle_timeout_tcp_usec */
    AGE_LIST_OTHER,     /* UDP, ICMP...: idle_timeout_other_usec */
    AGE_LIST_CLOSED,    /* TCP closed or reset: closed_linger_usec */
    AGE_LIST_COUNT
};

struct age_list {
    struct flow *oldest, *newest;
};

struct flow_table {
    struct flow_table_config config;
    struct flow_observer observer;
    struct flow **buckets;
    uint32_t bucket_mask;
    uint32_t buckets_max;         /* the most buckets the cap calls for */
    struct spares spares;         /* ended flows for reuse */
    struct age_list age[AGE_LIST_COUNT];
    struct labeler *labeler;      /* NULL when nDPI is disabled */
    size_t ndpi_flow_size;        /* bytes of one flow's nDPI state; 0 when nDPI is disabled */
    uint64_t next_id;
    struct flow_clock clock;      /* ageing time of packets, unless the caller gives it */
    uint64_t now_usec;            /* latest ageing time seen */
    bool cap_warned;
    struct flow_table_stats stats;
};

const char *flow_end_reason_name(enum flow_end_reason reason)
{
    switch (reason) {
    case FLOW_END_IDLE: return "idle";
    case FLOW_END_ACTIVE: return "active";
    case FLOW_END_TCP_CLOSE: return "tcp_close";
    case FLOW_END_TCP_RESET: return "tcp_reset";
    case FLOW_END_EVICTED: return "evicted";
    case FLOW_END_EOF: return "eof";
    case FLOW_END_BURST: return "burst";
    }
    return "unknown";
}

const char *tcp_state_name(enum tcp_state state)
{
    switch (state) {
    case TCP_STATE_NONE: return "none";
    case TCP_STATE_SYN_SENT: return "syn_sent";
    case TCP_STATE_SYN_RECEIVED: return "syn_received";
    case TCP_STATE_ESTABLISHED: return "established";
    case TCP_STATE_MIDSTREAM: return "midstream";
    case TCP_STATE_FIN_WAIT: return "fin_wait";
    case TCP_STATE_CLOSED: return "closed";
    case TCP_STATE_RESET: return "reset";
    }
    return "unknown";
}

void flow_table_config_defaults(struct flow_table_config *config)
{
    memset(config, 0, sizeof(*config));
    config->idle_timeout_tcp_usec = DEFAULT_IDLE_TIMEOUT_TCP * USEC_PER_SEC;
    config->idle_timeout_other_usec = DEFAULT_IDLE_TIMEOUT_OTHER * USEC_PER_SEC;
    config->active_timeout_usec = DEFAULT_ACTIVE_TIMEOUT * USEC_PER_SEC;
    config->closed_linger_usec = DEFAULT_TCP_CLOSED_LINGER * USEC_PER_SEC;
    config->burst_gap_usec = DEFAULT_BURST_GAP * USEC_PER_SEC;
    config->memory_cap_bytes = (size_t)DEFAULT_FLOW_MEMORY_MB * 1024 * 1024;
    config->ndpi_enabled = true;
    config->custom_protocols_file = NULL;
    config->hash_seed = 0;
}

/* ---- keys and hashing ---- */

/* One 64-bit word into the hash: a multiply and a rotate (the round of xxHash64). */
static uint64_t hash_round(uint64_t h, uint64_t word)
{
    h ^= word * 0xc2b2ae3d27d4eb4fULL;
    h = (h << 31) | (h >> 33);
    return h * 0x9e3779b97f4a7c15ULL;
}

/* Both directions of a connection hash the same: endpoints are ordered before hashing, by
 * their words and port (any fixed order does). Five 64-bit rounds and a 64-bit finaliser
 * (MurmurHash3's fmix64), keyed by the per-run seed: a third of the instructions of the
 * 32-bit MurmurHash3 steps it replaces, which profiled at 4% of exflow's on real traffic.
 * THREAT: not a keyed PRF like SipHash; seed-independent collisions are harder to build
 * here than against an unseeded hash but not impossible. Chains stay correct, only slower. */
static uint32_t packet_hash(const struct flow_table *table, const struct packet *pkt)
{
    uint64_t src[2], dst[2];
    memcpy(src, pkt->src, sizeof(src));
    memcpy(dst, pkt->dst, sizeof(dst));
    uint64_t lo0 = src[0], lo1 = src[1], hi0 = dst[0], hi1 = dst[1];
    uint64_t ports = (uint64_t)pkt->sport << 16 | pkt->dport;
    if (src[0] > dst[0] || (src[0] == dst[0] && (src[1] > dst[1] ||
                                                   (src[1] == dst[1] && pkt->sport > pkt->dport)))) {
        lo0 = dst[0], lo1 = dst[1], hi0 = src[0], hi1 = src[1];
        ports = (uint64_t)pkt->dport << 16 | pkt->sport;
    }
    uint64_t h = table->config.hash_seed * 0x9e3779b97f4a7c15ULL;
    h = hash_round(h, lo0);
    h = hash_round(h, lo1);
    h = hash_round(h, hi0);
    h = hash_round(h, hi1);
    h = hash_round(h, ports << 32 | (uint64_t)pkt->ip_version << 24 |
                          (uint64_t)pkt->proto << 16 | pkt->vlan);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* True when the packet belongs to the flow; *direction says which side sent it. */
static bool flow_matches(const struct flow *flow, const struct packet *pkt,
                         enum flow_direction *direction)
{
    if (flow->proto != pkt->proto || flow->vlan != pkt->vlan ||
        flow->ip_version != pkt->ip_version)
        return false;
    if (flow->orig_port == pkt->sport && flow->resp_port == pkt->dport &&
        memcmp(flow->orig_addr, pkt->src, PACKET_ADDR_LEN) == 0 &&
        memcmp(flow->resp_addr, pkt->dst, PACKET_ADDR_LEN) == 0) {
        *direction = FLOW_DIR_ORIG;
        return true;
    }
    if (flow->orig_port == pkt->dport && flow->resp_port == pkt->sport &&
        memcmp(flow->orig_addr, pkt->dst, PACKET_ADDR_LEN) == 0 &&
        memcmp(flow->resp_addr, pkt->src, PACKET_ADDR_LEN) == 0) {
        *direction = FLOW_DIR_RESP;
        return true;
    }
    return false;
}

/* ---- age lists ---- */

static enum age_list_id flow_age_list(const struct flow *flow)
{
    if (flow->proto != IPPROTO_TCP)
        return AGE_LIST_OTHER;
    if (flow->tcp_state == TCP_STATE_CLOSED || flow->tcp_state == TCP_STATE_RESET)
        return AGE_LIST_CLOSED;
    return AGE_LIST_TCP;
}

static void age_list_unlink(struct age_list *list, struct flow *flow)
{
    if (flow->age_prev != NULL)
        flow->age_prev->age_next = flow->age_next;
    else
        list->oldest = flow->age_next;
    if (flow->age_next != NULL)
        flow->age_next->age_prev = flow->age_prev;
    else
        list->newest = flow->age_prev;
    flow->age_prev = flow->age_next = NULL;
}

/* Files the flow as the list's newest: its age_ts_usec is the table's latest ageing time,
 * which never goes back, so each list stays sorted as expiry and flush need. */
static void age_list_append(struct age_list *list, struct flow *flow)
{
    flow->age_prev = list->newest;
    flow->age_next = NULL;
    if (list->newest != NULL)
        list->newest->age_next = flow;
    else
        list->oldest = flow;
    list->newest = flow;
}

/* Packet time at which the flow ends by its list's timeout. */
static uint64_t flow_deadline(const struct flow_table *table, const struct flow *flow)
{
    switch (flow_age_list(flow)) {
    case AGE_LIST_TCP: return flow->age_ts_usec + table->config.idle_timeout_tcp_usec;
    case AGE_LIST_OTHER: return flow->age_ts_usec + table->config.idle_timeout_other_usec;
    case AGE_LIST_CLOSED: return flow->age_ts_usec + table->config.closed_linger_usec;
    case AGE_LIST_COUNT: break;
    }
    return flow->age_ts_usec;
}

uint64_t flow_table_deadline(const struct flow_table *table, const struct flow *flow)
{
    return flow_deadline(table, flow);
}

/* Why a flow whose deadline passed ends. */
static enum flow_end_reason flow_timeout_reason(const struct flow *flow)
{
    if (flow->tcp_state == TCP_STATE_CLOSED)
        return FLOW_END_TCP_CLOSE;
    if (flow->tcp_state == TCP_STATE_RESET)
        return FLOW_END_TCP_RESET;
    return FLOW_END_IDLE;
}

/* Between two flows of equal time: the one filed first (each list is in that order), then
 * the older id. Without packet numbers (unit tests) age_seq is 0 and only the id counts. */
static bool flow_filed_before(const struct flow *a, const struct flow *b)
{
    if (a->age_seq != b->age_seq)
        return a->age_seq < b->age_seq;
    return a->id < b->id;
}

/* The least recently active flow of all lists (ties: filed first), or NULL. */
static struct flow *flow_table_oldest(const struct flow_table *table)
{
    struct flow *oldest = NULL;
    for (int i = 0; i < AGE_LIST_COUNT; i++) {
        struct flow *head = table->age[i].oldest;
        if (head == NULL)
            continue;
        if (oldest == NULL || head->age_ts_usec < oldest->age_ts_usec ||
            (head->age_ts_usec == oldest->age_ts_usec && flow_filed_before(head, oldest)))
            oldest = head;
    }
    return oldest;
}

/* ---- flow life ---- */

/* A zeroed flow: a spare if there is one. */
static struct flow *flow_alloc(struct flow_table *table)
{
    struct flow *flow = spares_take(&table->spares);
    if (flow == NULL)
        return calloc(1, sizeof(*flow));
    memset(flow, 0, sizeof(*flow));
    return flow;
}

static void flow_release(struct flow_table *table, struct flow *flow)
{
    if (!spares_put(&table->spares, flow))
        free(flow);
}

static void flow_emit(struct flow_table *table, struct flow *flow, enum flow_end_reason reason,
                      bool final)
{
    table->stats.ended[reason]++;
    if (reason == FLOW_END_EVICTED)
        table->stats.evicted++;
    if (table->observer.on_record != NULL)
        table->observer.on_record(table->observer.user, flow, reason, final);
}

/* Emits the final record and frees the flow: labels are completed first so a flow that ends
 * before nDPI is done still carries nDPI's best guess. */
static void flow_end(struct flow_table *table, struct flow *flow, enum flow_end_reason reason)
{
    if (table->labeler != NULL)
        table->stats.memory_bytes -= labeler_finish(table->labeler, flow);
    flow_emit(table, flow, reason, true);

    struct flow **link = &table->buckets[flow->hash & table->bucket_mask];
    while (*link != flow)
        link = &(*link)->hash_next;
    *link = flow->hash_next;
    age_list_unlink(&table->age[flow_age_list(flow)], flow);
    table->stats.memory_bytes -= FLOW_BYTES;
    table->stats.active--;
    flow_release(table, flow);
}

/* Ends up to budget flows whose timeout passed by now, soonest deadline first. */
static void flow_table_expire_budget(struct flow_table *table, uint64_t now_usec,
                                     unsigned budget)
{
    while (budget-- > 0) {
        struct flow *due = NULL;
        uint64_t due_deadline = 0;
        for (int i = 0; i < AGE_LIST_COUNT; i++) {
            struct flow *head = table->age[i].oldest;
            if (head == NULL)
                continue;
            uint64_t deadline = flow_deadline(table, head);
            if (deadline > now_usec)
                continue; /* the head is the list's oldest: the rest are live too */
            if (due == NULL || deadline < due_deadline ||
                (deadline == due_deadline && flow_filed_before(head, due)))
                due = head, due_deadline = deadline;
        }
        if (due == NULL)
            return;
        flow_end(table, due, flow_timeout_reason(due));
    }
}

/* Makes room under the memory cap for a flow of the given size by ending the oldest flows:
 * with their own reason when already due, else as evicted. Never refuses the new flow. */
static void flow_table_make_room(struct flow_table *table, size_t needed)
{
    while (table->stats.memory_bytes + needed > table->config.memory_cap_bytes) {
        struct flow *oldest = flow_table_oldest(table);
        if (oldest == NULL)
            return;
        if (flow_deadline(table, oldest) <= table->now_usec) {
            flow_end(table, oldest, flow_timeout_reason(oldest));
            continue;
        }
        if (!table->cap_warned) {
            size_t cap = table->config.memory_cap_reported_bytes != 0
                             ? table->config.memory_cap_reported_bytes
                             : table->config.memory_cap_bytes;
            LOG_WARN("flow table reached its memory cap of %zu %s: evicting the oldest flows "
                     "(raise it with --flow-memory)",
                     cap >= 1024 * 1024 ? cap / (1024 * 1024) : cap,
                     cap >= 1024 * 1024 ? "MiB" : "bytes");
            table->cap_warned = true;
        }
        flow_end(table, oldest, FLOW_END_EVICTED);
    }
}

/* Doubles the hash array and files every flow anew (each is on exactly one age list). When
 * memory for it is short the table goes on with longer chains. */
static void flow_table_grow(struct flow_table *table)
{
    uint32_t count = table->bucket_mask + 1;
    if (count >= table->buckets_max)
        return;
    struct flow **buckets = calloc((size_t)count * 2, sizeof(*buckets));
    if (buckets == NULL) {
        LOG_WARN("flow table: no memory to grow the hash to %u buckets: lookups get slower",
                 count * 2);
        table->buckets_max = count;
        return;
    }
    uint32_t mask = count * 2 - 1;
    for (int i = 0; i < AGE_LIST_COUNT; i++) {
        for (struct flow *flow = table->age[i].oldest; flow != NULL; flow = flow->age_next) {
            flow->hash_next = buckets[flow->hash & mask];
            buckets[flow->hash & mask] = flow;
        }
    }
    free(table->buckets);
    table->buckets = buckets;
    table->bucket_mask = mask;
}

/* A new flow for this packet. The originator is the sender, except for a SYN-ACK: then the
 * receiver sent the SYN we missed. *direction is this packet's side. */
static struct flow *flow_create(struct flow_table *table, const struct packet *pkt,
                                uint32_t hash, uint64_t age_usec, enum flow_direction *direction)
{
    size_t needed = FLOW_BYTES + table->ndpi_flow_size; /* 0 without nDPI */
    flow_table_make_room(table, needed);

    struct flow *flow = flow_alloc(table);
    if (flow == NULL)
        return NULL;
    flow->id = pkt->seq != 0 ? pkt->seq : table->next_id++;
    flow->age_seq = pkt->seq;
    flow->ip_version = pkt->ip_version;
    flow->proto = pkt->proto;
    flow->vlan = pkt->vlan;
    flow->hash = hash;
    bool syn_ack = pkt->proto == IPPROTO_TCP &&
                   (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) ==
                       (TCP_FLAG_SYN | TCP_FLAG_ACK);
    if (syn_ack) {
        memcpy(flow->orig_addr, pkt->dst, PACKET_ADDR_LEN);
        memcpy(flow->resp_addr, pkt->src, PACKET_ADDR_LEN);
        flow->orig_port = pkt->dport, flow->resp_port = pkt->sport;
        *direction = FLOW_DIR_RESP;
    } else {
        memcpy(flow->orig_addr, pkt->src, PACKET_ADDR_LEN);
        memcpy(flow->resp_addr, pkt->dst, PACKET_ADDR_LEN);
        flow->orig_port = pkt->sport, flow->resp_port = pkt->dport;
        *direction = FLOW_DIR_ORIG;
    }
    flow->start_ts_usec = flow->total_start_ts_usec = pkt->ts_usec;
    flow->last_ts_usec = pkt->ts_usec;
    flow->age_ts_usec = age_usec;
    /* The TCP state is set from this first packet by tcp_state_update. */
    flow->tcp_state = TCP_STATE_NONE;

    struct flow **bucket = &table->buckets[hash & table->bucket_mask];
    flow->hash_next = *bucket;
    *bucket = flow;
    age_list_append(&table->age[flow_age_list(flow)], flow);
    table->stats.memory_bytes += FLOW_BYTES;
    table->stats.active++;
    table->stats.created++;
    if (table->stats.active > (uint64_t)table->bucket_mask + 1)
        flow_table_grow(table);
    return flow;
}

/* Follows the TCP handshake and teardown (RFC 9293 section 3.3.2, seen from the wire: we
 * track what both sides said, not either endpoint's own state). */
static void tcp_state_update(struct flow *flow, uint8_t flags, enum flow_direction direction)
{
    bool syn = flags & TCP_FLAG_SYN, ack = flags & TCP_FLAG_ACK;
    if (flow->tcp_state == TCP_STATE_NONE) {
        /* First packet of the flow. */
        if (syn && !ack)
            flow->tcp_state = TCP_STATE_SYN_SENT;
        else if (syn && ack)
            flow->tcp_state = TCP_STATE_SYN_RECEIVED; /* SYN missed, orientation known */
        else
            flow->tcp_state = TCP_STATE_MIDSTREAM;
    } else if (syn && ack && direction == FLOW_DIR_RESP &&
               flow->tcp_state == TCP_STATE_SYN_SENT) {
        flow->tcp_state = TCP_STATE_SYN_RECEIVED;
    } else if (!syn && ack && direction == FLOW_DIR_ORIG &&
               (flow->tcp_state == TCP_STATE_SYN_RECEIVED ||
                flow->tcp_state == TCP_STATE_SYN_SENT)) {
        /* From SYN_SENT: the SYN-ACK took a path we do not see (asymmetric routing). */
        flow->tcp_state = TCP_STATE_ESTABLISHED;
    }

    if (flow->tcp_state == TCP_STATE_CLOSED || flow->tcp_state == TCP_STATE_RESET)
        return; /* trailing segments change nothing */
    if (flags & TCP_FLAG_RST) {
        flow->tcp_state = TCP_STATE_RESET;
        return;
    }
    if (flags & TCP_FLAG_FIN) {
        flow->tcp_fin_seen |= (uint8_t)(1u << direction);
        flow->tcp_state = flow->tcp_fin_seen == 3 ? TCP_STATE_CLOSED : TCP_STATE_FIN_WAIT;
    }
}

/* Interim record of a long flow: report it, then count afresh from this packet. */
static void flow_active_timeout(struct flow_table *table, struct flow *flow, uint64_t now_usec)
{
    flow_emit(table, flow, FLOW_END_ACTIVE, false);
    memset(flow->dir, 0, sizeof(flow->dir));
    memset(flow->burst.payload_bytes, 0, sizeof(flow->burst.payload_bytes));
    flow->start_ts_usec = now_usec;
    flow->record_seq++;
}

/* Before an originator payload packet is counted: when the originator paused for the burst
 * gap, the burst so far is reported (unless an interim record just did) and this packet
 * starts the next one. Only the burst counters restart: the flow's own go on. */
static void flow_burst_update(struct flow_table *table, struct flow *flow,
                              const struct packet *pkt, bool interim_sent)
{
    struct flow_burst *burst = &flow->burst;
    bool paused = burst->last_orig_ts_usec != 0 &&
                  pkt->ts_usec >= burst->last_orig_ts_usec + table->config.burst_gap_usec;
    if (paused) {
        if (!interim_sent && table->observer.on_record != NULL)
            table->observer.on_record(table->observer.user, flow, FLOW_END_BURST, false);
        table->stats.bursts++;
        burst->seq++;
        burst->start_ts_usec = pkt->ts_usec;
        memset(burst->payload_bytes, 0, sizeof(burst->payload_bytes));
    } else if (burst->last_orig_ts_usec == 0) {
        burst->start_ts_usec = pkt->ts_usec;
    }
    if (pkt->ts_usec > burst->last_orig_ts_usec)
        burst->last_orig_ts_usec = pkt->ts_usec;
}

struct flow_table *flow_table_new(const struct flow_table_config *config,
                                  const struct flow_observer *observer, char *err,
                                  size_t err_len)
{
    struct flow_table *table = calloc(1, sizeof(*table));
    if (table == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    table->config = *config;
    if (observer != NULL)
        table->observer = *observer;
    table->next_id = 1;
    /* The cap bounds how many flows can exist: the hash grows up to that many buckets. The
     * cap holds the array at that size and the spares too, when it is large enough for them
     * to leave most of it to flows; a tiny cap (tests) keeps no spares at all. */
    table->ndpi_flow_size = config->ndpi_enabled ? labeler_flow_size() : 0;
    size_t flow_size = FLOW_BYTES + table->ndpi_flow_size;
    size_t max_flows = config->memory_cap_bytes / flow_size;
    table->buckets_max = BUCKETS_MIN;
    while (table->buckets_max < max_flows && table->buckets_max < BUCKETS_MAX)
        table->buckets_max <<= 1;
    table->spares.max = max_flows / 8 < FLOW_SPARES_MAX ? (unsigned)(max_flows / 8) : FLOW_SPARES_MAX;
    size_t fixed = (size_t)table->buckets_max * sizeof(*table->buckets) +
                   (size_t)table->spares.max * flow_size;
    if (table->config.memory_cap_bytes >= 4 * fixed)
        table->config.memory_cap_bytes -= fixed;
    else
        table->spares.max = 0;
    if (config->ndpi_enabled) {
        char reason[512] = "";
        table->labeler = labeler_new(config->custom_protocols_file, table->spares.max, reason,
                                     sizeof(reason));
        if (table->labeler == NULL) {
            snprintf(err, err_len, "flows: %s", reason);
            goto fail;
        }
    }
    table->buckets = calloc(BUCKETS_MIN, sizeof(*table->buckets));
    if (table->buckets == NULL) {
        snprintf(err, err_len, "out of memory for the flow hash");
        goto fail;
    }
    table->bucket_mask = BUCKETS_MIN - 1;
    return table;
fail:
    flow_table_free(table);
    return NULL;
}

uint32_t flow_table_hash(const struct flow_table *table, const struct packet *pkt)
{
    return packet_hash(table, pkt);
}

void flow_table_prefetch_bucket(const struct flow_table *table, uint32_t hash)
{
    __builtin_prefetch(&table->buckets[hash & table->bucket_mask]);
}

void flow_table_prefetch_flow(const struct flow_table *table, uint32_t hash)
{
    const struct flow *flow = table->buckets[hash & table->bucket_mask];
    if (flow == NULL)
        return;
    /* The key, the age links, the per-direction counters: what every packet touches. */
    const char *bytes = (const char *)flow;
    for (size_t offset = 0; offset < offsetof(struct flow, labels); offset += 64)
        __builtin_prefetch(bytes + offset, 1);
}

void flow_table_process(struct flow_table *table, const struct packet *pkt)
{
    flow_table_process_hashed(table, pkt, packet_hash(table, pkt));
}

void flow_table_process_hashed(struct flow_table *table, const struct packet *pkt, uint32_t hash)
{
    flow_table_process_at(table, pkt, hash, flow_clock_advance(&table->clock, pkt->ts_usec));
}

void flow_table_process_at(struct flow_table *table, const struct packet *pkt, uint32_t hash,
                           uint64_t age_usec)
{
    bool has_ports = pkt->proto == IPPROTO_TCP || pkt->proto == IPPROTO_UDP ||
                     pkt->proto == IPPROTO_SCTP;
    if (pkt->is_fragment && has_ports && pkt->sport == 0 && pkt->dport == 0) {
        /* A later fragment has no ports and would make a bogus flow; capture/ should not
         * pass these, so this only guards the contract. */
        table->stats.skipped_fragments++;
        return;
    }
    /* A caller's clock that went back is clamped: the age lists must stay sorted. */
    if (age_usec > table->now_usec)
        table->now_usec = age_usec;
    else
        age_usec = table->now_usec;

    enum flow_direction direction = FLOW_DIR_ORIG;
    bool interim_sent = false;
    struct flow *flow = table->buckets[hash & table->bucket_mask];
    while (flow != NULL && (flow->hash != hash || !flow_matches(flow, pkt, &direction)))
        flow = flow->hash_next;

    if (flow != NULL) {
        bool new_syn = pkt->proto == IPPROTO_TCP &&
                       (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
        if (flow_deadline(table, flow) <= age_usec) {
            /* Its timeout passed but expiry's budget had not reached it yet. */
            flow_end(table, flow, flow_timeout_reason(flow));
            flow = NULL;
        } else if (new_syn && flow_age_list(flow) == AGE_LIST_CLOSED) {
            /* Port reuse: a new connection on the tuple of one that closed. */
            flow_end(table, flow, flow_timeout_reason(flow));
            flow = NULL;
        } else if (pkt->ts_usec >= flow->start_ts_usec + table->config.active_timeout_usec &&
                   table->config.active_timeout_usec > 0) {
            flow_active_timeout(table, flow, pkt->ts_usec);
            interim_sent = true;
        }
    }
    if (flow == NULL) {
        flow = flow_create(table, pkt, hash, age_usec, &direction);
        if (flow == NULL)
            return; /* XXX: out of memory: the packet is lost to flow accounting */
    }

    if (direction == FLOW_DIR_ORIG && pkt->payload_wire_len > 0 && pkt->proto == IPPROTO_TCP &&
        table->config.burst_gap_usec > 0)
        flow_burst_update(table, flow, pkt, interim_sent);
    flow->burst.payload_bytes[direction] += pkt->payload_wire_len;

    struct flow_direction_stats *side = &flow->dir[direction];
    if (side->packets == 0)
        side->first_ts_usec = pkt->ts_usec;
    side->packets++;
    side->bytes += pkt->wire_len;
    side->payload_bytes += pkt->payload_wire_len;
    if (pkt->ts_usec > side->last_ts_usec)
        side->last_ts_usec = pkt->ts_usec;
    side->tcp_flags |= pkt->tcp_flags;

    /* Re-file the flow by this packet's ageing time, in its (possibly new) age list. A packet
     * older than the flow's last one (merged captures) leaves last_ts_usec as it is. */
    enum age_list_id old_list = flow_age_list(flow);
    if (pkt->ts_usec > flow->last_ts_usec)
        flow->last_ts_usec = pkt->ts_usec;
    if (pkt->proto == IPPROTO_TCP)
        tcp_state_update(flow, pkt->tcp_flags, direction);
    enum age_list_id new_list = flow_age_list(flow);
    bool stays_newest = new_list == old_list && table->age[old_list].newest == flow;
    if (new_list != old_list || age_usec != flow->age_ts_usec) {
        flow->age_seq = pkt->seq;
        flow->age_ts_usec = age_usec;
        if (!stays_newest) {
            age_list_unlink(&table->age[old_list], flow);
            age_list_append(&table->age[new_list], flow);
        }
    }

    if (table->labeler != NULL) {
        long delta = labeler_process(table->labeler, flow, pkt, direction);
        table->stats.memory_bytes = (uint64_t)((int64_t)table->stats.memory_bytes + delta);
    }
    if (table->observer.on_packet != NULL)
        table->observer.on_packet(table->observer.user, flow, pkt, direction);

    if (!table->config.expire_on_call_only)
        flow_table_expire_budget(table, age_usec, EXPIRE_BUDGET_PER_PACKET);
}

void flow_table_expire(struct flow_table *table, uint64_t now_usec)
{
    flow_table_expire_at(table, flow_clock_advance(&table->clock, now_usec));
}

void flow_table_expire_at(struct flow_table *table, uint64_t now_usec)
{
    if (now_usec > table->now_usec)
        table->now_usec = now_usec;
    /* Without a budget when asked: a budget shared by all flows of a table would make
     * which flows end now depend on what else the table holds. */
    flow_table_expire_budget(table, now_usec,
                             table->config.expire_on_call_only ? UINT32_MAX : EXPIRE_BUDGET_PER_TICK);
}

void flow_table_flush(struct flow_table *table)
{
    /* Flows already due as of the last packet end as they would have with an unbounded
     * expiry budget; the rest end as EOF, least recently active first. */
    flow_table_expire_budget(table, table->now_usec, UINT32_MAX);
    struct flow *oldest;
    while ((oldest = flow_table_oldest(table)) != NULL)
        flow_end(table, oldest, FLOW_END_EOF);
}

void flow_table_get_stats(const struct flow_table *table, struct flow_table_stats *stats)
{
    *stats = table->stats;
    stats->clock_steps_back = atomic_load_explicit(&table->clock.steps_back, memory_order_relaxed);
}

void flow_table_free(struct flow_table *table)
{
    if (table == NULL)
        return;
    for (int i = 0; i < AGE_LIST_COUNT; i++) {
        struct flow *flow = table->age[i].oldest;
        while (flow != NULL) {
            struct flow *next = flow->age_next;
            /* Not a record, only memory: finishing frees the nDPI state; nobody reads the
             * labels it leaves. */
            if (flow->ndpi_flow != NULL)
                labeler_finish(table->labeler, flow);
            free(flow);
            flow = next;
        }
    }
    for (void *spare; (spare = spares_take(&table->spares)) != NULL;)
        free(spare);
    free(table->buckets);
    labeler_free(table->labeler);
    free(table);
}
