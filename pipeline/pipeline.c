/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The pipeline: one capture thread, N workers, one consumer.
 *
 * Rings. Each worker has an input ring of packet bytes (single producer: the capture thread)
 * and an output ring of records (single consumer: the consumer thread). Both are lock-free
 * SPSC rings on C11 atomics: the producer publishes its head with a release store, the
 * consumer its tail, each keeps a private copy of the other's index and reloads it only when
 * the ring looks full or empty, and input indices are published in batches. A thread that
 * must wait backs off (yield, then sleeps up to ~1 ms): no locks on the packet path.
 *
 * Order. Every item the capture thread sends has a global sequence number (seq): a packet
 * goes to one worker, a marker ("time is T", end of input) to all. A record is tagged with
 * (seq of the item that caused it, order1, order2): for a packet (only its worker can emit
 * for that seq) order2 counts the records it caused; for a marker, order1 is the flow's
 * deadline (or 2^63 + its last ageing time at end of input) and order2 its age_seq, the order in
 * which one table holding every flow would have ended them. Each worker emits in tag order;
 * after finishing an item it publishes that seq as its watermark. The consumer hands on the
 * smallest head among the output rings once every worker with an empty ring has a watermark
 * at or past that seq. That is a k-way merge whose result does not depend on N.
 *
 * Progress. The consumer may wait for an idle worker's watermark. When the capture thread
 * would block on a full input ring, and on every tick, it first sends the other workers an
 * "advance" item (nothing below this seq will come to you), so no cycle of waits can form.
 */
#include "pipeline.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/tunables.h"

#define CACHE_LINE          64
#define INPUT_RING_BYTES    (4u << 20) /* per worker: ~2,800 full-size frames of backlog */
#define OUTPUT_RING_EVENTS  1024       /* per worker: records waiting for the merge (~2.3 MiB) */
#define ITEM_ALIGN          64         /* input items start on a cache line */
#define PUBLISH_EVERY       32         /* input items between index and watermark publications */
#define CONSUMER_WAKE_RECORDS 64       /* records a busy worker batches before waking the consumer */
#define CONSUMER_WAKE_ITEMS 4096       /* or input items, for the watermark other workers' wait on */
#define WORKER_BATCH        8          /* input items whose flow lookups a worker overlaps */
#define TICK_MSEC           1000       /* the sink's on_tick period, wall time */
#define ORDER_EOF           (1ULL << 63) /* end-of-input records sort after timeouts */

enum item_kind { ITEM_PAD = 0, ITEM_PACKET, ITEM_TIME, ITEM_FLUSH, ITEM_ADVANCE };

/* One input item. A packet's IP bytes follow the header; its pointers point at them. */
struct item {
    uint32_t size;          /* bytes in the ring, this header included; first, as in a pad */
    uint32_t kind;          /* enum item_kind */
    uint64_t seq;
    uint64_t time_usec;     /* TIME, FLUSH: the packet time that has come */
    uint32_t flow_hash;     /* PACKET: flow_table_hash, filled in by the worker */
    struct packet pkt;      /* PACKET */
};
#define ITEM_HEADER_SIZE ((sizeof(struct item) + 15) & ~(size_t)15)
#define ITEM_ROUND(n) (((n) + ITEM_ALIGN - 1) & ~(size_t)(ITEM_ALIGN - 1))

/* Wakes a thread that sleeps for want of work (a futex eventcount, as in folly's and
 * Linux's own): the sleeper counts itself in, looks once more for work, then sleeps unless
 * the bell rang since it counted itself in. A ring costs one atomic add while nobody
 * sleeps, so it goes with every publication. */
struct doorbell {
    _Alignas(CACHE_LINE) _Atomic uint32_t rings; /* futex word */
    _Atomic uint32_t sleepers;
};

/* Each side's fields sit on a cache line of their own, and what both only read (the buffer)
 * on another: a pointer beside the other side's index would be fetched anew from that
 * side's core after its every write. */
struct byte_ring {
    _Alignas(CACHE_LINE) uint8_t *buf;           /* read-only once set */
    _Alignas(CACHE_LINE) _Atomic uint64_t head;  /* bytes ever written, published */
    _Alignas(CACHE_LINE) _Atomic uint64_t tail;  /* bytes ever consumed, published */
    _Alignas(CACHE_LINE) uint64_t prod_head;     /* producer's private view */
    uint64_t prod_tail_seen;
    unsigned prod_unpublished;
    struct doorbell *bell;                       /* rung at each publication */
    _Alignas(CACHE_LINE) uint64_t cons_tail;     /* consumer's private view */
    uint64_t cons_head_seen;
    unsigned cons_unpublished;
    struct doorbell *space_bell;                 /* rung by the consumer when a quarter is free */
};

/* A record on its way to the consumer; flow is a copy, state the observer state it carries. */
struct record_event {
    uint64_t seq, order1, order2;   /* the merge tag */
    struct flow flow;
    void *state;
    char *text;                     /* from sink.encode, or NULL */
    enum flow_end_reason reason;
    bool final;
};

struct event_ring {             /* laid out as struct byte_ring */
    _Alignas(CACHE_LINE) struct record_event *slot;
    uint8_t *state_buf;             /* OUTPUT_RING_EVENTS copies of an interim record's state */
    _Alignas(CACHE_LINE) _Atomic uint64_t head;
    _Alignas(CACHE_LINE) _Atomic uint64_t tail;
    _Alignas(CACHE_LINE) uint64_t prod_head, prod_tail_seen;
    _Alignas(CACHE_LINE) uint64_t cons_tail, cons_head_seen;
};

struct worker {
    struct byte_ring in;
    struct event_ring out;
    struct doorbell in_bell;        /* rung by the capture thread when it publishes input */
    struct doorbell space_bell;     /* rung by the worker when a full ring is a quarter free */
    _Alignas(CACHE_LINE) _Atomic uint64_t watermark; /* no record with seq <= this will come */
    _Alignas(CACHE_LINE) struct pipeline *pipeline;
    pthread_t thread;
    bool started;
    _Atomic double cpu_at_exit;     /* its CPU seconds, once it returned */
    struct flow_table *flows;
    void *stage;                    /* the packet stage's instance for this worker, or NULL */
    void *encoder;                  /* sink.new_encoder's, or NULL */
    struct capture *capture;        /* fanout: the capture this worker reads itself */
    unsigned index;
    uint64_t packets_read;          /* fanout: packets from its capture, for their seq */
    struct item fanout_item;        /* fanout: what w->current points at */
    struct flow_clock clock;        /* fanout: ageing time of its packets and ticks */
    _Atomic int capture_status;     /* fanout: -1 while running, then capture_run's status */
    struct capture_stats capture_stats; /* fanout: snapshot under stats_lock */
    const struct item *current;     /* the item being processed */
    uint64_t records_for_item;      /* order2 of the next record a packet causes */
    uint64_t done_seq;              /* watermark not yet published */
    uint64_t announced_seq;         /* done_seq when the consumer was last woken */
    unsigned records_unannounced;   /* records committed since then */
    pthread_mutex_t stats_lock;     /* guards stats: snapshot for pipeline_get_flow_stats */
    struct flow_table_stats stats;
    _Alignas(CACHE_LINE) uint64_t last_sent; /* capture thread only: seq of the last item sent */
};

struct pipeline {
    struct pipeline_sink sink;
    struct pipeline_packet_stage stage; /* all NULL/0 when there is none */
    bool fanout;                    /* workers read their own captures (pipeline_config) */
    unsigned next_worker;           /* fanout, consumer: where the next scan for records starts */
    unsigned worker_count;
    struct worker *workers[PIPELINE_MAX_WORKERS];
    size_t state_size;
    pthread_t consumer;
    bool consumer_started;
    _Atomic double consumer_cpu_at_exit;
    struct doorbell consumer_bell;  /* rung by workers when they publish records or watermarks */
    _Atomic bool abort;
    /* Capture thread only, written per packet: kept off the lines the others read (the
     * padding keeps whatever precedes them a whole line away). */
    char capture_side_apart[CACHE_LINE];
    const struct cidr_set *home_net; /* pipeline_config's, for worker_of */
    uint64_t seq;                   /* last seq handed out */
    bool seen_packet;
    uint64_t marker_sec;            /* second of the last time marker */
    uint64_t last_time_usec;        /* latest ageing time of a packet or marker */
    /* Packet time made monotonic, for every worker alike: one clock here, not one per
     * table, so that a step back shifts every flow the same way whatever the worker count. */
    struct flow_clock clock;
    bool finished;
};

/* ---- CPU time ---- */

static double cpu_seconds(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return -1.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A thread's CPU time: from its clock while it runs, else what it left at its exit. */
static double thread_cpu_seconds(pthread_t thread, bool started, _Atomic double *at_exit)
{
    clockid_t clock;
    double seconds = -1.0;
    if (started && pthread_getcpuclockid(thread, &clock) == 0)
        seconds = cpu_seconds(clock);
    double left = atomic_load(at_exit);
    return seconds > left ? seconds : left;
}

/* ---- waiting ---- */

struct backoff {
    unsigned rounds;
};

#define BACKOFF_YIELDS 8
/* After a batch of records the consumer's first wait is a sleep of 20 << 5 = 640 us: a
 * record is not urgent, and each wakeup costs a few us of CPU. Live, with a record every
 * few hundred us, the yields and short sleeps were half to two thirds of the consumer's CPU
 * (make soak: 150 -> 49-60 ns a packet with --fanout, 85 -> 35-43 without). 640 us of
 * records fit in the rings (OUTPUT_RING_EVENTS a worker) at any rate a worker reaches. */
#define BACKOFF_CONSUMER_FIRST (BACKOFF_YIELDS + 5)

/* After this many rounds (~4 ms with nothing to do) a thread that waits for work sleeps on a
 * doorbell instead, so that an idle sensor does not wake ~800 times a second per thread.
 * The backoff before it keeps the bell's syscalls off the busy path. */
#define BACKOFF_IDLE_ROUNDS (BACKOFF_YIELDS + 8)
/* The longest an idle worker sleeps without a ring: a safety net, not a clock. */
#define IDLE_SLEEP_MAX_MSEC 1000
/* The longest the capture thread sleeps on a full ring without a ring of its bell: a safety
 * net, not a clock (a worker waiting on the consumer frees nothing meanwhile). */
#define SPACE_SLEEP_MAX_MSEC 100

static bool backoff_idle(const struct backoff *b)
{
    return b->rounds >= BACKOFF_IDLE_ROUNDS;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t value, const struct timespec *timeout)
{
    return syscall(SYS_futex, (uint32_t *)word, op, value, timeout, NULL, 0);
}

/* Producer side, after publishing with a release store. */
static void doorbell_ring(struct doorbell *bell)
{
    /* A read-modify-write, not a load: in the order of writes to sleepers it comes either
     * after the sleeper's (and sees it) or before (and the sleeper's increment then
     * acquires the publication, so its last look finds the work). No fence: ThreadSanitizer
     * does not model them. */
    if (atomic_fetch_add(&bell->sleepers, 0) == 0)
        return;
    atomic_fetch_add(&bell->rings, 1);
    futex(&bell->rings, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

/* Sleeper side, before its last look for work: returns the ticket for doorbell_sleep. */
static uint32_t doorbell_prepare(struct doorbell *bell)
{
    atomic_fetch_add(&bell->sleepers, 1);
    return atomic_load(&bell->rings);
}

/* Sleeps unless the bell rang since doorbell_prepare, at most timeout_msec; or, with
 * sleep false (work was found), only counts the sleeper out. */
static void doorbell_sleep(struct doorbell *bell, uint32_t ticket, bool sleep, uint64_t timeout_msec)
{
    if (sleep) {
        struct timespec ts = { (time_t)(timeout_msec / 1000), (long)(timeout_msec % 1000) * 1000000L };
        futex(&bell->rings, FUTEX_WAIT_PRIVATE, ticket, &ts);
    }
    atomic_fetch_sub(&bell->sleepers, 1);
}

/* Yields a few times, then sleeps 20 us doubling to ~1.3 ms: cheap while the other side is
 * about to move, and no spinning core while input is idle. */
static void backoff_wait(struct backoff *b)
{
    if (b->rounds < BACKOFF_YIELDS) {
        b->rounds++;
        sched_yield();
        return;
    }
    unsigned shift = b->rounds - BACKOFF_YIELDS < 6 ? b->rounds - BACKOFF_YIELDS : 6;
    b->rounds++;
    struct timespec ts = { 0, 20000L << shift };
    nanosleep(&ts, NULL);
}

/* ---- input ring: variable-size items, one producer, one consumer ---- */

/* Room for an item of need bytes (a multiple of ITEM_ALIGN, at most half the ring), or
 * NULL when full. An item never wraps: the end of the ring is skipped with a pad item. */
static struct item *byte_ring_reserve(struct byte_ring *r, uint32_t need)
{
    uint64_t offset = r->prod_head % INPUT_RING_BYTES;
    uint64_t pad = offset + need > INPUT_RING_BYTES ? INPUT_RING_BYTES - offset : 0;
    if (INPUT_RING_BYTES - (r->prod_head - r->prod_tail_seen) < pad + need) {
        r->prod_tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (INPUT_RING_BYTES - (r->prod_head - r->prod_tail_seen) < pad + need)
            return NULL;
    }
    if (pad > 0) {
        struct item *skip = (struct item *)(r->buf + offset);
        skip->size = (uint32_t)pad;
        skip->kind = ITEM_PAD;
        r->prod_head += pad;
    }
    return (struct item *)(r->buf + r->prod_head % INPUT_RING_BYTES);
}

static void byte_ring_publish(struct byte_ring *r)
{
    if (r->prod_unpublished == 0)
        return;
    atomic_store_explicit(&r->head, r->prod_head, memory_order_release);
    r->prod_unpublished = 0;
    doorbell_ring(r->bell);
}

static void byte_ring_commit(struct byte_ring *r, uint32_t size)
{
    r->prod_head += size;
    if (++r->prod_unpublished >= PUBLISH_EVERY)
        byte_ring_publish(r);
}

/* Up to max of the oldest published items, in order, pads skipped; at[i] is where batch[i]
 * starts, for byte_ring_release. Returns how many. */
static unsigned byte_ring_peek_batch(struct byte_ring *r, struct item **batch, uint64_t *at,
                                     unsigned max)
{
    if (r->cons_tail == r->cons_head_seen)
        r->cons_head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
    unsigned n = 0;
    uint64_t pos = r->cons_tail;
    while (n < max && pos != r->cons_head_seen) {
        struct item *item = (struct item *)(r->buf + pos % INPUT_RING_BYTES);
        if (item->kind != ITEM_PAD) {
            batch[n] = item;
            at[n++] = pos;
        }
        pos += item->size;
    }
    if (n == 0)
        r->cons_tail = pos; /* only pads: consumed, so that the next call reloads head */
    /* The next batch was written on another core: ask for it now, as many bytes as this
     * one took, so that reading it later does not wait for the transfer. */
    uint64_t end = pos + (pos - r->cons_tail);
    if (end > r->cons_head_seen)
        end = r->cons_head_seen;
    for (uint64_t line = pos; line < end; line += CACHE_LINE)
        __builtin_prefetch(r->buf + line % INPUT_RING_BYTES);
    return n;
}

static void byte_ring_release_publish(struct byte_ring *r)
{
    atomic_store_explicit(&r->tail, r->cons_tail, memory_order_release);
    r->cons_unpublished = 0;
    /* A producer that found the ring full sleeps until a quarter of it is free (the read-
     * modify-write orders this after the tail's store, as in doorbell_ring): the other three
     * quarters keep this side busy while the producer is scheduled again. */
    if (r->space_bell == NULL || atomic_fetch_add(&r->space_bell->sleepers, 0) == 0)
        return;
    if (atomic_load_explicit(&r->head, memory_order_acquire) - r->cons_tail >
        INPUT_RING_BYTES / 4 * 3)
        return;
    atomic_fetch_add(&r->space_bell->rings, 1);
    futex(&r->space_bell->rings, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

/* Frees the item that starts at pos, and any pad before it. */
static void byte_ring_release(struct byte_ring *r, const struct item *item, uint64_t pos)
{
    r->cons_tail = pos + item->size;
    if (++r->cons_unpublished >= PUBLISH_EVERY)
        byte_ring_release_publish(r);
}

/* ---- output ring: fixed record slots ---- */

static struct record_event *event_ring_reserve(struct event_ring *r)
{
    if (r->prod_head - r->prod_tail_seen >= OUTPUT_RING_EVENTS) {
        r->prod_tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->prod_head - r->prod_tail_seen >= OUTPUT_RING_EVENTS)
            return NULL;
    }
    return &r->slot[r->prod_head % OUTPUT_RING_EVENTS];
}

static void event_ring_commit(struct event_ring *r)
{
    r->prod_head++;
    atomic_store_explicit(&r->head, r->prod_head, memory_order_release);
}

static struct record_event *event_ring_peek(struct event_ring *r)
{
    if (r->cons_tail == r->cons_head_seen) {
        r->cons_head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->cons_tail == r->cons_head_seen)
            return NULL;
    }
    return &r->slot[r->cons_tail % OUTPUT_RING_EVENTS];
}

static void event_ring_pop(struct event_ring *r)
{
    r->cons_tail++;
    atomic_store_explicit(&r->tail, r->cons_tail, memory_order_release);
}

/* ---- workers ---- */

/* Hands over consumed input space and the watermark. A busy worker wakes a sleeping
 * consumer only once CONSUMER_WAKE_RECORDS records or CONSUMER_WAKE_ITEMS items have passed
 * since it last did: woken at every publication, the consumer slept and woke again for each
 * record or two (a futex call and two context switches each). A worker out of work or
 * waiting for room for records (now) always wakes it. */
static void worker_publish(struct worker *w, bool now)
{
    byte_ring_release_publish(&w->in);
    /* The consumer waits for records and watermarks; records come with a watermark move. */
    if (atomic_load_explicit(&w->watermark, memory_order_relaxed) == w->done_seq)
        return;
    atomic_store_explicit(&w->watermark, w->done_seq, memory_order_release);
    if (!now && w->records_unannounced < CONSUMER_WAKE_RECORDS &&
        w->done_seq - w->announced_seq < CONSUMER_WAKE_ITEMS)
        return;
    w->records_unannounced = 0;
    w->announced_seq = w->done_seq;
    doorbell_ring(&w->pipeline->consumer_bell);
}

/* A worker's watermark set outside worker_publish (fanout ticks, the end). */
static void worker_set_watermark(struct worker *w, uint64_t seq)
{
    atomic_store_explicit(&w->watermark, seq, memory_order_release);
    doorbell_ring(&w->pipeline->consumer_bell);
}

/* Sleeps until the capture thread publishes input (or a second passed), unless some is
 * there already. Returns true when it slept. */
static bool worker_sleep(struct worker *w)
{
    uint32_t ticket = doorbell_prepare(&w->in_bell);
    bool empty = atomic_load_explicit(&w->in.head, memory_order_acquire) == w->in.cons_tail &&
                 !atomic_load_explicit(&w->pipeline->abort, memory_order_relaxed);
    doorbell_sleep(&w->in_bell, ticket, empty, IDLE_SLEEP_MAX_MSEC);
    return empty;
}

static void worker_snapshot_stats(struct worker *w)
{
    pthread_mutex_lock(&w->stats_lock);
    flow_table_get_stats(w->flows, &w->stats);
    pthread_mutex_unlock(&w->stats_lock);
}

static void worker_on_packet(void *user, struct flow *flow, const struct packet *pkt,
                             enum flow_direction direction)
{
    struct worker *w = user;
    w->pipeline->stage.on_packet(w->stage, flow, pkt, direction);
}

/* A record leaves the worker: tagged, copied by value with its observer state. */
static void worker_on_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final)
{
    struct worker *w = user;
    struct pipeline *p = w->pipeline;
    if (w->stage != NULL)
        p->stage.prepare_record(w->stage, flow);

    struct record_event *event = event_ring_reserve(&w->out);
    if (event == NULL) {
        struct backoff wait = { 0 };
        worker_publish(w, true);
        while ((event = event_ring_reserve(&w->out)) == NULL) {
            if (atomic_load_explicit(&p->abort, memory_order_relaxed)) {
                if (final)
                    free(flow->observer_state);
                flow->observer_state = NULL;
                return;
            }
            backoff_wait(&wait);
        }
    }
    const struct item *item = w->current;
    event->seq = item->seq;
    if (item->kind == ITEM_PACKET) {
        event->order1 = 0;
        event->order2 = w->records_for_item++;
    } else {
        uint64_t key = reason == FLOW_END_EOF ? flow->age_ts_usec : flow_table_deadline(w->flows, flow);
        if (key >= ORDER_EOF)
            key = ORDER_EOF - 1;
        event->order1 = reason == FLOW_END_EOF ? ORDER_EOF | key : key;
        event->order2 = flow->age_seq;
    }
    event->flow = *flow;
    event->flow.hash_next = event->flow.age_prev = event->flow.age_next = NULL;
    event->flow.ndpi_flow = NULL;
    event->flow.observer_state = NULL;
    event->state = NULL;
    if (flow->observer_state != NULL) {
        if (final) {
            /* The flow is about to be freed: its state moves with the record. */
            event->state = flow->observer_state;
            flow->observer_state = NULL;
        } else {
            /* The flow goes on and so do its parsers: the record takes a snapshot. */
            event->state = w->out.state_buf + (w->out.prod_head % OUTPUT_RING_EVENTS) * p->state_size;
            memcpy(event->state, flow->observer_state, p->state_size);
        }
    }
    /* The encoder reads the record's detection evidence (flow events carry it). */
    event->flow.observer_state = event->state;
    event->text = w->encoder != NULL ? p->sink.encode(w->encoder, &event->flow, reason) : NULL;
    event->flow.observer_state = NULL;
    event->reason = reason;
    event->final = final;
    event_ring_commit(&w->out);
    w->records_unannounced++;
    /* Fanout: the consumer takes records as they come, not at watermark moves. */
    if (p->fanout)
        doorbell_ring(&p->consumer_bell);
}

/* Does what one input item asks. Returns true at the end of input. */
static bool worker_do(struct worker *w, struct item *item)
{
    w->current = item;
    w->records_for_item = 0;
    switch ((enum item_kind)item->kind) {
    case ITEM_PACKET:
        flow_table_process_at(w->flows, &item->pkt, item->flow_hash, item->time_usec);
        return false;
    case ITEM_TIME:
        flow_table_expire_at(w->flows, item->time_usec);
        worker_snapshot_stats(w);
        return false;
    case ITEM_FLUSH:
        flow_table_expire_at(w->flows, item->time_usec);
        flow_table_flush(w->flows);
        worker_snapshot_stats(w);
        return true;
    case ITEM_ADVANCE:
    case ITEM_PAD:
        break;
    }
    return false;
}

/* Items are taken a batch at a time so the flow lookups of the batch overlap: every hash
 * bucket is asked of memory first, then every flow at a bucket's head, and only then is the
 * first packet processed. One packet alone would wait for both loads in turn. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pipeline *p = w->pipeline;
    struct backoff idle = { 0 };
    bool woken = false;
    unsigned since_publish = 0;
    struct item *batch[WORKER_BATCH];
    uint64_t at[WORKER_BATCH];
    bool last = false;
    while (!last) {
        unsigned n = byte_ring_peek_batch(&w->in, batch, at, WORKER_BATCH);
        if (n == 0) {
            worker_publish(w, true);
            since_publish = 0;
            if (atomic_load_explicit(&p->abort, memory_order_relaxed))
                break;
            if (backoff_idle(&idle))
                woken = worker_sleep(w);
            else
                backoff_wait(&idle);
            continue;
        }
        /* Work after a sleep may be a lone live tick: back to sleep soon after it, without
         * the yields and short sleeps of a busy worker. Work found again after that is a
         * stream of packets: wait as a busy worker does. */
        idle.rounds = woken ? BACKOFF_IDLE_ROUNDS - 2 : 0;
        woken = false;
        for (unsigned i = 0; i < n; i++) {
            if (batch[i]->kind == ITEM_PACKET) {
                batch[i]->flow_hash = flow_table_hash(w->flows, &batch[i]->pkt);
                flow_table_prefetch_bucket(w->flows, batch[i]->flow_hash);
            }
        }
        for (unsigned i = 0; i < n; i++) {
            if (batch[i]->kind == ITEM_PACKET)
                flow_table_prefetch_flow(w->flows, batch[i]->flow_hash);
        }
        for (unsigned i = 0; i < n && !last; i++) {
            last = worker_do(w, batch[i]);
            w->done_seq = batch[i]->seq;
            byte_ring_release(&w->in, batch[i], at[i]);
            if (++since_publish >= PUBLISH_EVERY) {
                worker_publish(w, false);
                since_publish = 0;
            }
        }
    }
    byte_ring_release_publish(&w->in);
    atomic_store(&w->cpu_at_exit, cpu_seconds(CLOCK_THREAD_CPUTIME_ID));
    /* Every record it will ever emit is in its ring. */
    worker_set_watermark(w, UINT64_MAX);
    return NULL;
}

/* ---- fanout: a worker reads its own capture ---- */

static void worker_snapshot_capture(struct worker *w)
{
    struct capture_stats stats;
    capture_get_stats(w->capture, &stats);
    pthread_mutex_lock(&w->stats_lock);
    w->capture_stats = stats;
    pthread_mutex_unlock(&w->stats_lock);
}

/* A worker that reads its own capture does each packet and each moment as the item the
 * capture thread would have sent it (worker_do), in fanout_item. */
static void worker_capture_packet(void *user, const struct packet *pkt)
{
    struct worker *w = user;
    struct item *item = &w->fanout_item;
    item->kind = ITEM_PACKET;
    item->pkt = *pkt;
    /* Flow ids are packet numbers, unique across workers: this worker's count, interleaved. */
    item->seq = item->pkt.seq = w->packets_read++ * w->pipeline->worker_count + w->index + 1;
    item->time_usec = flow_clock_advance(&w->clock, pkt->ts_usec);
    item->flow_hash = flow_table_hash(w->flows, &item->pkt);
    worker_do(w, item);
    w->done_seq = item->seq;
}

/* A time marker (live expiry by wall clock, as pipeline_expire sends) or the end of input. */
static void worker_capture_marker(struct worker *w, enum item_kind kind)
{
    struct item *item = &w->fanout_item;
    item->kind = kind;
    item->seq = w->done_seq;
    item->time_usec = flow_clock_advance(&w->clock, (uint64_t)time(NULL) * USEC_PER_SEC);
    worker_do(w, item);
    worker_snapshot_capture(w);
}

static void worker_capture_tick(void *user)
{
    struct worker *w = user;
    worker_capture_marker(w, ITEM_TIME);
    worker_set_watermark(w, w->done_seq);
    if (atomic_load_explicit(&w->pipeline->abort, memory_order_relaxed))
        capture_stop(w->capture);
}

static void *worker_capture_main(void *arg)
{
    struct worker *w = arg;
    struct capture_callbacks callbacks = { worker_capture_packet, worker_capture_tick, w, NULL };
    int status = capture_run(w->capture, &callbacks);
    /* Stopped or failed: every flow of this worker ends now, as at the end of a file. */
    worker_capture_marker(w, ITEM_FLUSH);
    atomic_store(&w->capture_status, status);
    atomic_store(&w->cpu_at_exit, cpu_seconds(CLOCK_THREAD_CPUTIME_ID));
    worker_set_watermark(w, UINT64_MAX);
    return NULL;
}

bool pipeline_captures_running(struct pipeline *p, bool *failed)
{
    bool running = false;
    *failed = false;
    for (unsigned i = 0; i < p->worker_count && p->fanout; i++) {
        int status = atomic_load(&p->workers[i]->capture_status);
        if (status < 0)
            running = true;
        else if (status != 0)
            *failed = true;
    }
    return running;
}

void pipeline_get_capture_stats(struct pipeline *p, struct capture_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    for (unsigned i = 0; i < p->worker_count && p->fanout; i++) {
        struct worker *w = p->workers[i];
        pthread_mutex_lock(&w->stats_lock);
        struct capture_stats one = w->capture_stats;
        pthread_mutex_unlock(&w->stats_lock);
        capture_stats_add(stats, &one);
    }
}

/* ---- consumer ---- */

static bool tag_before(const struct record_event *a, const struct record_event *b)
{
    if (a->seq != b->seq)
        return a->seq < b->seq;
    if (a->order1 != b->order1)
        return a->order1 < b->order1;
    return a->order2 < b->order2;
}

static uint64_t monotonic_msec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum merge_step { MERGE_DELIVERED, MERGE_RETRY, MERGE_WAIT, MERGE_DONE };

/* Hands one record to the sink and frees its slot. */
static void consumer_deliver(struct pipeline *p, struct record_event *event, unsigned worker)
{
    event->flow.observer_state = event->state;
    if (p->sink.on_record != NULL) {
        p->sink.on_record(p->sink.user, &event->flow, event->reason, event->final, event->text);
    } else {
        if (event->final)
            free(event->state);
        free(event->text);
    }
    event_ring_pop(&p->workers[worker]->out);
}

/* One step of the k-way merge: hands on the smallest head if no worker can still produce a
 * smaller one. */
static enum merge_step consumer_step(struct pipeline *p)
{
    struct record_event *best = NULL;
    unsigned best_index = 0;
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct record_event *event = event_ring_peek(&p->workers[i]->out);
        if (event != NULL && (best == NULL || tag_before(event, best))) {
            best = event;
            best_index = i;
        }
    }
    bool all_done = true;
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        if (best != NULL && i == best_index)
            continue;
        /* The watermark first, then the ring: a record pushed before the watermark moved
         * past it is then visible in the ring. */
        uint64_t watermark = atomic_load_explicit(&w->watermark, memory_order_acquire);
        struct record_event *head = event_ring_peek(&w->out);
        if (head != NULL) {
            if (best == NULL || tag_before(head, best))
                return MERGE_RETRY; /* came in after the scan */
            continue;               /* its later records sort after its head */
        }
        if (watermark != UINT64_MAX)
            all_done = false;
        if (best != NULL && watermark < best->seq)
            return MERGE_WAIT;
    }
    if (best == NULL)
        return all_done ? MERGE_DONE : MERGE_WAIT;
    consumer_deliver(p, best, best_index);
    return MERGE_DELIVERED;
}

/* Fanout: records as they come, each worker's in its own order, the workers in turn. */
static enum merge_step consumer_step_unordered(struct pipeline *p)
{
    bool all_done = true;
    for (unsigned k = 0; k < p->worker_count; k++) {
        unsigned i = (p->next_worker + k) % p->worker_count;
        struct worker *w = p->workers[i];
        /* The watermark first: a worker done before the peek has all its records in. */
        uint64_t watermark = atomic_load_explicit(&w->watermark, memory_order_acquire);
        struct record_event *event = event_ring_peek(&w->out);
        if (event != NULL) {
            consumer_deliver(p, event, i);
            p->next_worker = i + 1;
            return MERGE_DELIVERED;
        }
        if (watermark != UINT64_MAX)
            all_done = false;
    }
    return all_done ? MERGE_DONE : MERGE_WAIT;
}

/* What the consumer waits for, in one number: it changes whenever a worker publishes a
 * record or moves its watermark (both only grow). */
static uint64_t consumer_progress(struct pipeline *p)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        sum += atomic_load_explicit(&w->watermark, memory_order_acquire);
        sum += atomic_load_explicit(&w->out.head, memory_order_acquire);
    }
    return sum;
}

/* Sleeps until a worker publishes something new since progress was taken, or the next tick. */
static void consumer_sleep(struct pipeline *p, uint64_t progress, uint64_t next_tick)
{
    uint64_t now = monotonic_msec();
    uint64_t timeout = next_tick > now ? next_tick - now : 0;
    uint32_t ticket = doorbell_prepare(&p->consumer_bell);
    bool nothing = consumer_progress(p) == progress &&
                   !atomic_load_explicit(&p->abort, memory_order_relaxed);
    doorbell_sleep(&p->consumer_bell, ticket, nothing && timeout > 0, timeout);
}

static void *consumer_main(void *arg)
{
    struct pipeline *p = arg;
    struct backoff idle = { 0 };
    uint64_t next_tick = monotonic_msec() + TICK_MSEC;
    unsigned since_clock = 0;
    for (;;) {
        /* Taken before the step, so that what a worker publishes during it wakes us. */
        uint64_t progress = backoff_idle(&idle) ? consumer_progress(p) : 0;
        enum merge_step step = p->fanout ? consumer_step_unordered(p) : consumer_step(p);
        if (step == MERGE_DONE)
            break;
        if (step == MERGE_DELIVERED) {
            idle.rounds = BACKOFF_CONSUMER_FIRST;
            if (++since_clock < 256)
                continue;
        }
        if (step == MERGE_RETRY)
            continue;
        since_clock = 0;
        uint64_t now = monotonic_msec();
        if (now >= next_tick) {
            if (p->sink.on_tick != NULL)
                p->sink.on_tick(p->sink.user);
            next_tick = now + TICK_MSEC;
        }
        if (step == MERGE_WAIT) {
            if (atomic_load_explicit(&p->abort, memory_order_relaxed))
                break;
            if (backoff_idle(&idle))
                consumer_sleep(p, progress, next_tick);
            else
                backoff_wait(&idle);
        }
    }
    atomic_store(&p->consumer_cpu_at_exit, cpu_seconds(CLOCK_THREAD_CPUTIME_ID));
    return NULL;
}

/* ---- capture side ---- */

static uint32_t hash_word(uint32_t h, uint32_t k)
{
    k *= 0xcc9e2d51u;
    k = (k << 15) | (k >> 17);
    k *= 0x1b873593u;
    h ^= k;
    h = (h << 13) | (h >> 19);
    return h * 5 + 0xe6546b64u;
}

/* Worker choice is not seeded per run: the flow tables' own hashes are (against hash
 * flooding), but the split over workers must be the same on every run for the output to be
 * (nDPI keeps per-host caches in each instance, so which flows share one shows in labels). */
#define WORKER_HASH_SEED 0x6578666cu

/* The worker of a packet: a hash of its home address when exactly one of its two addresses
 * is home (pipeline_config.home_net), else of both in a fixed order; either way both
 * directions and every port pair between two hosts go to the same worker. */
static unsigned worker_of(const struct pipeline *p, const struct packet *pkt)
{
    if (p->worker_count == 1)
        return 0;
    /* Any fixed order of the two addresses will do: two word compares, not a memcmp call. */
    _Static_assert(PACKET_ADDR_LEN == 2 * sizeof(uint64_t), "an address is two words");
    _Static_assert(PACKET_ADDR_LEN == GEO_ADDR_LEN, "packet and geo addresses agree");
    uint64_t src[2], dst[2];
    memcpy(src, pkt->src, sizeof(src));
    memcpy(dst, pkt->dst, sizeof(dst));
    const uint8_t *low = pkt->src, *high = pkt->dst;
    if (src[0] > dst[0] || (src[0] == dst[0] && src[1] > dst[1]))
        low = pkt->dst, high = pkt->src;
    if (p->home_net != NULL) {
        bool src_home = cidr_set_contains(p->home_net, pkt->ip_version, pkt->src);
        bool dst_home = cidr_set_contains(p->home_net, pkt->ip_version, pkt->dst);
        if (src_home != dst_home)
            low = high = src_home ? pkt->src : pkt->dst;
    }
    uint32_t h = hash_word(WORKER_HASH_SEED, pkt->ip_version);
    for (int i = 0; i < PACKET_ADDR_LEN; i += 4) {
        uint32_t a, b;
        memcpy(&a, low + i, sizeof(a));
        memcpy(&b, high + i, sizeof(b));
        h = hash_word(hash_word(h, a), b);
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return (unsigned)(((uint64_t)h * p->worker_count) >> 32);
}

/* Tells every worker that was sent nothing since below seq upto that nothing below it will
 * come, so the consumer need not wait for it; and publishes every batched item. Never
 * blocks: a worker whose ring is full is busy and will move its watermark itself. */
static void pipeline_advance(struct pipeline *p, uint64_t upto)
{
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        if (w->last_sent < upto) {
            uint32_t need = (uint32_t)ITEM_ROUND(ITEM_HEADER_SIZE);
            struct item *item = byte_ring_reserve(&w->in, need);
            if (item != NULL) {
                item->size = need;
                item->kind = ITEM_ADVANCE;
                item->seq = upto;
                item->time_usec = 0;
                byte_ring_commit(&w->in, need);
                w->last_sent = upto;
            }
        }
        byte_ring_publish(&w->in);
    }
}

/* Room in w's ring for the item numbered seq; waits while it is full. The wait is a sleep
 * until the worker has emptied a quarter of the ring: reading a file, the capture thread is faster
 * than a worker and finds the ring full again and again, and yields or short sleeps there
 * cost two syscalls and a context switch every few packets. */
static struct item *pipeline_reserve(struct pipeline *p, struct worker *w, uint32_t need,
                                     uint64_t seq)
{
    struct item *item = byte_ring_reserve(&w->in, need);
    while (item == NULL) {
        /* The other workers will only ever get seq or later: say so, or the consumer may
         * wait for one of them while this worker waits for the consumer. */
        pipeline_advance(p, seq - 1);
        uint32_t ticket = doorbell_prepare(&w->space_bell);
        item = byte_ring_reserve(&w->in, need);
        doorbell_sleep(&w->space_bell, ticket, item == NULL, SPACE_SLEEP_MAX_MSEC);
        if (item == NULL)
            item = byte_ring_reserve(&w->in, need);
    }
    return item;
}

/* A marker: same seq to every worker. */
static void pipeline_broadcast(struct pipeline *p, enum item_kind kind, uint64_t time_usec)
{
    uint64_t seq = ++p->seq;
    uint32_t need = (uint32_t)ITEM_ROUND(ITEM_HEADER_SIZE);
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        struct item *item = pipeline_reserve(p, w, need, seq);
        item->size = need;
        item->kind = kind;
        item->seq = seq;
        item->time_usec = time_usec;
        byte_ring_commit(&w->in, need);
        w->last_sent = seq;
    }
    for (unsigned i = 0; i < p->worker_count; i++)
        byte_ring_publish(&p->workers[i]->in);
}

void pipeline_packet(struct pipeline *p, const struct packet *pkt)
{
    /* Expiry by packet time, the same moments for every worker: a marker at each new
     * second of the ageing clock, before the packet that starts it. */
    uint64_t age = flow_clock_advance(&p->clock, pkt->ts_usec);
    uint64_t sec = age / USEC_PER_SEC;
    if (!p->seen_packet) {
        p->seen_packet = true;
        p->marker_sec = sec;
    } else if (sec > p->marker_sec) {
        p->marker_sec = sec;
        pipeline_broadcast(p, ITEM_TIME, sec * USEC_PER_SEC);
    }
    p->last_time_usec = age;

    uint64_t seq = ++p->seq;
    struct worker *w = p->workers[worker_of(p, pkt)];
    uint32_t l3_len = pkt->l3 != NULL ? pkt->l3_len : 0;
    uint32_t need = (uint32_t)ITEM_ROUND(ITEM_HEADER_SIZE + l3_len);
    struct item *item = pipeline_reserve(p, w, need, seq);
    uint8_t *bytes = (uint8_t *)item + ITEM_HEADER_SIZE;
    item->size = need;
    item->kind = ITEM_PACKET;
    item->seq = seq;
    item->time_usec = age;
    item->pkt = *pkt;
    item->pkt.seq = seq;
    item->pkt.l3 = NULL;
    if (l3_len > 0) {
        memcpy(bytes, pkt->l3, l3_len);
        item->pkt.l3 = bytes;
    }
    /* The payload lies inside the IP bytes (capture/ decodes forward from l3). */
    uintptr_t l3_start = (uintptr_t)pkt->l3, payload = (uintptr_t)pkt->payload;
    if (pkt->payload != NULL && payload >= l3_start &&
        payload - l3_start + pkt->payload_len <= l3_len) {
        item->pkt.payload = bytes + (payload - l3_start);
    } else {
        item->pkt.payload = NULL;
        item->pkt.payload_len = 0;
    }
    byte_ring_commit(&w->in, need);
    w->last_sent = seq;
}

void pipeline_expire(struct pipeline *p, uint64_t now_usec)
{
    uint64_t age = flow_clock_advance(&p->clock, now_usec);
    uint64_t sec = age / USEC_PER_SEC;
    if (sec > p->marker_sec) {
        p->marker_sec = sec;
        p->seen_packet = true;
        p->last_time_usec = age;
        pipeline_broadcast(p, ITEM_TIME, age);
    }
    pipeline_advance(p, p->seq);
}

void pipeline_sync(struct pipeline *p)
{
    pipeline_advance(p, p->seq);
}

static void pipeline_join(struct pipeline *p)
{
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        if (w != NULL && w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
    if (p->consumer_started) {
        pthread_join(p->consumer, NULL);
        p->consumer_started = false;
    }
}

void pipeline_finish(struct pipeline *p)
{
    if (p->finished)
        return;
    if (!p->fanout) /* fanout workers end their flows when their capture stops */
        pipeline_broadcast(p, ITEM_FLUSH, p->last_time_usec);
    pipeline_join(p);
    p->finished = true;
}

void pipeline_get_flow_stats(struct pipeline *p, struct flow_table_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        struct flow_table_stats one;
        pthread_mutex_lock(&w->stats_lock);
        one = w->stats;
        pthread_mutex_unlock(&w->stats_lock);
        stats->active += one.active;
        stats->created += one.created;
        for (int r = 0; r <= FLOW_END_EOF; r++)
            stats->ended[r] += one.ended[r];
        stats->evicted += one.evicted;
        stats->memory_bytes += one.memory_bytes;
        stats->skipped_fragments += one.skipped_fragments;
        stats->bursts += one.bursts;
        stats->clock_steps_back += one.clock_steps_back +
                                   atomic_load_explicit(&w->clock.steps_back, memory_order_relaxed);
    }
    stats->clock_steps_back += atomic_load_explicit(&p->clock.steps_back, memory_order_relaxed);
}

void pipeline_get_cpu(struct pipeline *p, struct pipeline_cpu *cpu)
{
    memset(cpu, 0, sizeof(*cpu));
    cpu->capture = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    cpu->consumer = thread_cpu_seconds(p->consumer, p->consumer_started, &p->consumer_cpu_at_exit);
    for (unsigned i = 0; i < p->worker_count; i++) {
        struct worker *w = p->workers[i];
        double seconds = thread_cpu_seconds(w->thread, w->started, &w->cpu_at_exit);
        cpu->workers += seconds;
        if (seconds > cpu->busiest_worker)
            cpu->busiest_worker = seconds;
    }
}

unsigned pipeline_default_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 2)
        return 1;
    return cores - 1 > PIPELINE_MAX_WORKERS ? PIPELINE_MAX_WORKERS : (unsigned)(cores - 1);
}

static void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    /* Records never handed on (pipeline_free without finish) still own their state. */
    for (uint64_t i = w->out.cons_tail; w->out.slot != NULL && i < w->out.prod_head; i++) {
        struct record_event *event = &w->out.slot[i % OUTPUT_RING_EVENTS];
        if (event->final)
            free(event->state);
        free(event->text);
    }
    if (w->encoder != NULL)
        w->pipeline->sink.free_encoder(w->encoder);
    if (w->flows != NULL)
        flow_table_free(w->flows);
    if (w->stage != NULL)
        w->pipeline->stage.free_worker(w->stage);
    pthread_mutex_destroy(&w->stats_lock);
    free(w->in.buf);
    free(w->out.slot);
    free(w->out.state_buf);
    free(w);
}

void pipeline_free(struct pipeline *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->abort, true);
    for (unsigned i = 0; i < p->worker_count; i++)
        if (p->workers[i] != NULL)
            doorbell_ring(&p->workers[i]->in_bell);
    doorbell_ring(&p->consumer_bell);
    pipeline_join(p);
    for (unsigned i = 0; i < p->worker_count; i++)
        worker_free(p->workers[i]);
    free(p);
}

/* Each worker's share of the flow memory cap. The cap bounds the rings too (fixed, ~5.4 MiB
 * a worker) when it is large enough for that to leave most of it to flows. */
static size_t pipeline_flow_cap(const struct pipeline *p, const struct pipeline_config *config)
{
    size_t cap = config->flows.memory_cap_bytes;
    size_t rings = (size_t)config->workers *
                   (INPUT_RING_BYTES + OUTPUT_RING_EVENTS * (sizeof(struct record_event) + p->state_size));
    if (cap >= 4 * rings)
        cap -= rings;
    return cap / config->workers;
}

static struct worker *worker_new(struct pipeline *p, const struct pipeline_config *config,
                                 char *err, size_t err_len)
{
    struct worker *w = NULL;
    if (posix_memalign((void **)&w, CACHE_LINE, sizeof(*w)) != 0 || w == NULL) {
        snprintf(err, err_len, "pipeline: out of memory");
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->stats_lock, NULL);
    atomic_init(&w->capture_status, -1);
    w->pipeline = p;
    w->in.buf = p->fanout ? NULL : malloc(INPUT_RING_BYTES); /* fanout: no input ring */
    w->in.bell = &w->in_bell;
    w->in.space_bell = &w->space_bell;
    w->out.slot = calloc(OUTPUT_RING_EVENTS, sizeof(*w->out.slot));
    w->out.state_buf = calloc(OUTPUT_RING_EVENTS, p->state_size > 0 ? p->state_size : 1);
    if ((w->in.buf == NULL && !p->fanout) || w->out.slot == NULL || w->out.state_buf == NULL) {
        snprintf(err, err_len, "pipeline: out of memory for the rings");
        goto fail;
    }
    if (config->stage != NULL) {
        w->stage = config->stage->new_worker(config->stage->user, err, err_len);
        if (w->stage == NULL)
            goto fail;
    }
    struct flow_table_config flows = config->flows;
    flows.memory_cap_bytes = pipeline_flow_cap(p, config);
    flows.memory_cap_reported_bytes = config->flows.memory_cap_bytes;
    flows.expire_on_call_only = true;
    struct flow_observer observer = { w->stage != NULL ? worker_on_packet : NULL,
                                      worker_on_record, w };
    w->flows = flow_table_new(&flows, &observer, err, err_len);
    if (w->flows == NULL)
        goto fail;
    flow_table_get_stats(w->flows, &w->stats);
    if (p->sink.new_encoder != NULL && p->sink.encode != NULL && p->sink.free_encoder != NULL)
        w->encoder = p->sink.new_encoder(p->sink.user);
    return w;
fail:
    worker_free(w);
    return NULL;
}

/* Named threads show up as such in top -H, ps -L, perf and gdb: an operator can see which
 * stage is busy (Suricata names its threads the same way). Best effort: a name that does
 * not take changes nothing else. */
static void name_thread(pthread_t thread, const char *prefix, int index)
{
    char name[32];
    if (index >= 0)
        snprintf(name, sizeof(name), "%s%d", prefix, index);
    else
        snprintf(name, sizeof(name), "%s", prefix);
    name[15] = '\0'; /* the kernel's limit is 16 bytes, NUL included */
    (void)pthread_setname_np(thread, name);
}

struct pipeline *pipeline_new(const struct pipeline_config *config, const struct pipeline_sink *sink,
                              char *err, size_t err_len)
{
    if (config->workers < 1 || config->workers > PIPELINE_MAX_WORKERS) {
        snprintf(err, err_len, "--threads: %u is not between 1 and %d", config->workers,
                 PIPELINE_MAX_WORKERS);
        return NULL;
    }
    /* Cache-line aligned: the doorbells inside are, so that waking one never touches a
     * line another thread writes. */
    struct pipeline *p = NULL;
    if (posix_memalign((void **)&p, CACHE_LINE, sizeof(*p)) != 0 || p == NULL) {
        snprintf(err, err_len, "pipeline: out of memory");
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    if (sink != NULL)
        p->sink = *sink;
    atomic_init(&p->abort, false);
    p->fanout = config->captures != NULL;
    p->home_net = config->home_net;
    if (config->stage != NULL)
        p->stage = *config->stage;
    p->state_size = p->stage.state_size;
    for (unsigned i = 0; i < config->workers; i++) {
        p->workers[i] = worker_new(p, config, err, err_len);
        if (p->workers[i] == NULL)
            goto fail;
        p->workers[i]->index = i;
        if (p->fanout)
            p->workers[i]->capture = config->captures[i];
        p->worker_count = i + 1;
    }

    /* Signals go to the capture (main) thread, whose reads they are meant to interrupt. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < p->worker_count && rc == 0; i++) {
        rc = pthread_create(&p->workers[i]->thread, NULL,
                            p->fanout ? worker_capture_main : worker_main, p->workers[i]);
        p->workers[i]->started = rc == 0;
        if (rc == 0)
            name_thread(p->workers[i]->thread, "exflow-w", (int)i);
    }
    if (rc == 0) {
        rc = pthread_create(&p->consumer, NULL, consumer_main, p);
        p->consumer_started = rc == 0;
        if (rc == 0)
            name_thread(p->consumer, "exflow-output", -1);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, err_len, "pipeline: cannot start threads: %s", strerror(rc));
        goto fail;
    }
    return p;
fail:
    pipeline_free(p);
    return NULL;
}
