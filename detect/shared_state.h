/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Site-wide first-seen state shared by several sensors through Redis (--shared-state).
 *
 * Redis is never on the scoring path. The local first-seen store (destinations.c) answers
 * every lookup at once; what it learns goes into a bounded queue that a thread of this
 * module sends to Redis, and what Redis knows (the earliest first-seen time any sensor
 * claimed) comes back through a second queue that the store drains on its next lookup.
 * Redis down: the queue holds the updates (oldest dropped and counted at the cap) and the
 * thread replays them on reconnect. See docs/shared-state.md.
 */
#ifndef EXFLOW_SHARED_STATE_H
#define EXFLOW_SHARED_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the bounded queue (public for its unit test) ------------------------------------ */

struct shared_update {
    char *key;              /* "host destination" as in destinations.c, host "*" site-wide */
    uint64_t first_usec;
    uint64_t seq;           /* position in the queue's history: survives eviction */
};

/* A FIFO of updates with a hard cap: a push at the cap drops the oldest and counts it. */
struct shared_queue {
    struct shared_update *ring;
    size_t capacity, head, count;
    uint64_t next_seq;
    uint64_t dropped;
};

bool shared_queue_init(struct shared_queue *q, size_t capacity);
void shared_queue_destroy(struct shared_queue *q);
/* Copies key. False only on out of memory (counted as dropped). */
bool shared_queue_push(struct shared_queue *q, const char *key, uint64_t first_usec);
/* Copies up to max of the oldest updates into out (keys copied into out[i].key, caller
 * frees) without removing them: they stay queued until shared_queue_release confirms them. */
size_t shared_queue_peek(const struct shared_queue *q, struct shared_update *out, size_t max);
/* Removes the queued updates with seq <= last_seq (those sent), whatever was evicted since. */
void shared_queue_release(struct shared_queue *q, uint64_t last_seq);
/* Removes and returns the oldest (key owned by the caller); false when empty. */
bool shared_queue_pop(struct shared_queue *q, struct shared_update *out);

/* ---- the shared state ---------------------------------------------------------------- */

struct shared_state_config {
    const char *url;            /* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] */
    uint64_t expire_sec;        /* 0: keys never expire */
    size_t queue_max;           /* updates waiting for Redis; 0: SHARED_STATE_QUEUE_MAX */
};

struct shared_state_stats {
    uint64_t errors;            /* failed connects and commands */
    uint64_t queued;            /* updates waiting for Redis now */
    uint64_t dropped;           /* updates dropped at the queue's cap */
    uint64_t sent;              /* updates Redis confirmed */
    uint64_t learned;           /* first-seen times that came from Redis */
};

struct shared_state;

/* Parses the URL and starts the thread; Redis need not be up. NULL and err on a bad URL. */
struct shared_state *shared_state_new(const struct shared_state_config *config, char *err,
                                      size_t err_len);
/* Waits at most timeout_ms for the first connection attempt and its warm-up (the site's
 * known destinations loaded), so a replay starts from what the site knows. True if done. */
bool shared_state_wait_ready(struct shared_state *state, unsigned timeout_ms);
/* Queues a local first-seen time for Redis. Never blocks on the network. */
void shared_state_publish(struct shared_state *state, const char *key, uint64_t first_usec);
/* Takes one first-seen time Redis knows; false when none is waiting. Cheap when empty. */
bool shared_state_take(struct shared_state *state, struct shared_update *out);
void shared_state_get_stats(struct shared_state *state, struct shared_state_stats *stats);
/* At the end of a run: waits at most timeout_ms for the queue to reach Redis (not at all
 * while Redis is down), so the final stats show what was left. */
void shared_state_flush(struct shared_state *state, unsigned timeout_ms);
/* Sends what is queued (for at most a few seconds), stops the thread, frees. NULL is fine. */
void shared_state_free(struct shared_state *state);

#endif
