/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * --shared-state: first-seen times shared by the sensors of a site through Redis.
 *
 * One thread owns the Redis connection (hiredis, blocking calls with timeouts: the thread
 * may wait, the detector never does). Keys are "exflow:fs:HOST DEST" (HOST "*" for the
 * site-wide entry), each holding the earliest first-seen time in microseconds that any
 * sensor claimed. A claim is one Lua script run atomically by Redis: keep the smaller of
 * the stored and the claimed time, return the winner. So the earliest first-seen wins
 * whatever order sensors report in, and replaying a claim after an outage is harmless.
 */
#include "shared_state.h"

#include <errno.h>
#include <hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/tunables.h"
#include "../flows/flows.h"

#define KEY_PREFIX "exflow:fs:"

/* KEYS[1] key, ARGV[1] claimed first-seen usec, ARGV[2] expiry seconds (0: none). Numbers
 * below 2^53 are exact in Lua's doubles: microseconds until the year 2255. */
static const char claim_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v or tonumber(ARGV[1]) < tonumber(v) then "
    "  redis.call('SET', KEYS[1], ARGV[1]) v = ARGV[1] end "
    "if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
    "return v";

/* ---- bounded queue ------------------------------------------------------------------- */

bool shared_queue_init(struct shared_queue *q, size_t capacity)
{
    memset(q, 0, sizeof(*q));
    q->capacity = capacity ? capacity : 1;
    q->ring = calloc(q->capacity, sizeof(*q->ring));
    q->next_seq = 1;
    return q->ring != NULL;
}

void shared_queue_destroy(struct shared_queue *q)
{
    for (size_t i = 0; i < q->count; i++)
        free(q->ring[(q->head + i) % q->capacity].key);
    free(q->ring);
    memset(q, 0, sizeof(*q));
}

bool shared_queue_push(struct shared_queue *q, const char *key, uint64_t first_usec)
{
    char *copy = strdup(key);
    if (copy == NULL) {
        q->dropped++;
        return false;
    }
    if (q->count == q->capacity) {   /* full: the oldest goes, counted */
        free(q->ring[q->head].key);
        q->head = (q->head + 1) % q->capacity;
        q->count--;
        q->dropped++;
    }
    struct shared_update *u = &q->ring[(q->head + q->count) % q->capacity];
    u->key = copy;
    u->first_usec = first_usec;
    u->seq = q->next_seq++;
    q->count++;
    return true;
}

size_t shared_queue_peek(const struct shared_queue *q, struct shared_update *out, size_t max)
{
    size_t n = 0;
    for (; n < max && n < q->count; n++) {
        const struct shared_update *u = &q->ring[(q->head + n) % q->capacity];
        out[n] = *u;
        out[n].key = strdup(u->key);
        if (out[n].key == NULL)
            break;
    }
    return n;
}

void shared_queue_release(struct shared_queue *q, uint64_t last_seq)
{
    while (q->count > 0 && q->ring[q->head].seq <= last_seq) {
        free(q->ring[q->head].key);
        q->head = (q->head + 1) % q->capacity;
        q->count--;
    }
}

bool shared_queue_pop(struct shared_queue *q, struct shared_update *out)
{
    if (q->count == 0)
        return false;
    *out = q->ring[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    return true;
}

/* ---- URL ----------------------------------------------------------------------------- */

struct redis_address {
    char user[128];         /* "": the default user (Redis before 6 has no others) */
    char password[256];     /* "": no AUTH */
    char host[256];
    int port;
    int db;
};

/* The [[USER]:PASSWORD@] part of the URL, if any; p moves past it. */
static bool parse_userinfo(const char **p, struct redis_address *a)
{
    const char *at = strchr(*p, '@');
    if (at == NULL)
        return true;
    const char *colon = memchr(*p, ':', (size_t)(at - *p));
    if (colon == NULL)
        return false;                        /* USER@ alone: Redis has no password-less AUTH */
    size_t user_len = (size_t)(colon - *p), password_len = (size_t)(at - colon - 1);
    if (user_len >= sizeof(a->user) || password_len == 0 || password_len >= sizeof(a->password))
        return false;
    memcpy(a->user, *p, user_len);
    a->user[user_len] = '\0';
    memcpy(a->password, colon + 1, password_len);
    a->password[password_len] = '\0';
    *p = at + 1;
    return true;
}

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], HOST a name, an IPv4 address or [IPv6]. */
static bool parse_url(const char *url, struct redis_address *a, char *err, size_t err_len)
{
    const char *p = url;
    a->port = 6379;
    a->db = 0;
    if (strncmp(p, "redis://", 8) != 0)
        goto bad;
    p += 8;
    if (!parse_userinfo(&p, a))
        goto bad;
    size_t host_len;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (close == NULL)
            goto bad;
        host_len = (size_t)(close - p - 1);
        if (host_len == 0 || host_len >= sizeof(a->host))
            goto bad;
        memcpy(a->host, p + 1, host_len);
        p = close + 1;
    } else {
        host_len = strcspn(p, ":/");
        if (host_len == 0 || host_len >= sizeof(a->host))
            goto bad;
        memcpy(a->host, p, host_len);
        p += host_len;
    }
    a->host[host_len] = '\0';
    char *end;
    if (*p == ':') {
        errno = 0;
        long port = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || port < 1 || port > 65535)
            goto bad;
        a->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1] != '\0') {
        errno = 0;
        long db = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || db < 0 || db > 1000000)
            goto bad;
        a->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    if (*p != '\0')
        goto bad;
    return true;
bad:
    /* The URL may hold a password: it is not repeated in the message. */
    snprintf(err, err_len, "--shared-state: expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
    return false;
}

/* ---- the shared state ---------------------------------------------------------------- */

struct shared_state {
    struct redis_address address;
    char label[300];                /* HOST:PORT/DB for log lines */
    uint64_t expire_sec;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t lock;           /* guards everything below down to the counters */
    pthread_cond_t wake;            /* work queued or stop asked */
    pthread_cond_t ready_cond;
    struct shared_queue out;        /* local first-seen times for Redis */
    struct shared_queue in;         /* Redis's earlier times for the local store */
    bool stop, ready;
    bool connected;                 /* the thread holds a working connection */
    uint64_t errors, sent, learned;
    atomic_size_t in_count;         /* in.count, read without the lock by shared_state_take */

    /* The thread's own. */
    redisContext *redis;
    bool in_outage;
};

static void set_ready(struct shared_state *s)
{
    pthread_mutex_lock(&s->lock);
    s->ready = true;
    pthread_cond_broadcast(&s->ready_cond);
    pthread_mutex_unlock(&s->lock);
}

/* Counts a failure and logs it once per outage; drops the connection. */
static void note_failure(struct shared_state *s, const char *what)
{
    pthread_mutex_lock(&s->lock);
    s->errors++;
    size_t queued = s->out.count, cap = s->out.capacity;
    pthread_mutex_unlock(&s->lock);
    if (!s->in_outage)
        LOG_WARN("shared state: redis %s: %s; detection goes on with local first-seen state, "
                 "%zu updates queued (at most %zu, then the oldest are dropped)",
                 s->label, what, queued, cap);
    s->in_outage = true;
    pthread_mutex_lock(&s->lock);
    s->connected = false;
    pthread_mutex_unlock(&s->lock);
    if (s->redis) {
        redisFree(s->redis);
        s->redis = NULL;
    }
}

/* Hands a first-seen time learned from Redis to the local store. False when the hand-over
 * queue is full (the store has not drained it yet): the time is skipped, not queued over an
 * older one, since Redis still holds it and the next claim or connect brings it back. */
static bool learn(struct shared_state *s, const char *redis_key, const char *value)
{
    char *end;
    errno = 0;
    unsigned long long first = strtoull(value, &end, 10);
    if (errno || *end != '\0' || first == 0 || strncmp(redis_key, KEY_PREFIX, 10) != 0)
        return true;   /* not ours: another tool's key under our prefix is skipped */
    pthread_mutex_lock(&s->lock);
    bool room = s->in.count < s->in.capacity;
    if (room) {
        shared_queue_push(&s->in, redis_key + strlen(KEY_PREFIX), first);
        s->learned++;
        atomic_store(&s->in_count, s->in.count);
    }
    pthread_mutex_unlock(&s->lock);
    return room;
}

/* One SCAN pass over pattern, each key's value handed to the store; at most *budget keys.
 * False on a Redis error. */
static bool warm_up_pattern(struct shared_state *s, const char *pattern, size_t *budget)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(s->redis, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            if (r)
                freeReplyObject(r);
            return false;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        size_t asked = 0;
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element[i]->type == REDIS_REPLY_STRING) {
                redisAppendCommand(s->redis, "GET %b", keys->element[i]->str,
                                   (size_t)keys->element[i]->len);
                asked++;
            }
        bool ok = true;
        for (size_t i = 0, got = 0; got < asked && i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING)
                continue;
            got++;
            redisReply *v = NULL;
            if (redisGetReply(s->redis, (void **)&v) != REDIS_OK || v == NULL) {
                ok = false;
                break;
            }
            /* A key deleted or expired between SCAN and GET answers nil: skipped. */
            if (v->type == REDIS_REPLY_STRING && *budget > 0 &&
                learn(s, keys->element[i]->str, v->str))
                --*budget;
            freeReplyObject(v);
        }
        freeReplyObject(r);
        if (!ok)
            return false;
    } while (strcmp(cursor, "0") != 0 && *budget > 0);
    return true;
}

/* After each connect: the site's known first-seen times, so a sensor that starts (or comes
 * back) does not call the site's old destinations new. Site-wide entries first, then host
 * pairs, together at most half the local store: the rest stays for this sensor's own. */
static bool warm_up(struct shared_state *s)
{
    size_t budget = DETECT_MAX_DESTINATIONS / 2, start = budget;
    if (!warm_up_pattern(s, KEY_PREFIX "\\* *", &budget) ||
        !warm_up_pattern(s, KEY_PREFIX "[^*]*", &budget))
        return false;
    LOG_INFO("shared state: redis %s: %zu first-seen entries read", s->label, start - budget);
    return true;
}

static bool connect_redis(struct shared_state *s)
{
    struct timeval timeout = { SHARED_STATE_TIMEOUT_MS / 1000,
                               (SHARED_STATE_TIMEOUT_MS % 1000) * 1000 };
    s->redis = redisConnectWithTimeout(s->address.host, s->address.port, timeout);
    if (s->redis == NULL || s->redis->err) {
        char what[256];
        snprintf(what, sizeof(what), "cannot connect: %s",
                 s->redis ? s->redis->errstr : "out of memory");
        note_failure(s, what);
        return false;
    }
    redisSetTimeout(s->redis, timeout);
    if (s->address.password[0] != '\0') {
        redisReply *r = s->address.user[0] != '\0'
            ? redisCommand(s->redis, "AUTH %s %s", s->address.user, s->address.password)
            : redisCommand(s->redis, "AUTH %s", s->address.password);
        char what[256];
        snprintf(what, sizeof(what), "AUTH failed: %s",
                 r == NULL ? s->redis->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "?");
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            note_failure(s, what);
            return false;
        }
    }
    if (s->address.db != 0) {
        redisReply *r = redisCommand(s->redis, "SELECT %d", s->address.db);
        bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            note_failure(s, "SELECT failed");
            return false;
        }
    }
    if (!warm_up(s)) {
        note_failure(s, s->redis && s->redis->err ? s->redis->errstr : "SCAN failed");
        return false;
    }
    if (s->in_outage) {
        pthread_mutex_lock(&s->lock);
        size_t queued = s->out.count;
        pthread_mutex_unlock(&s->lock);
        LOG_INFO("shared state: redis %s reachable again; replaying %zu queued updates",
                 s->label, queued);
        s->in_outage = false;
    }
    pthread_mutex_lock(&s->lock);
    s->connected = true;
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* Sends one batch as a pipeline of claims. Returns the count sent, or -1 on failure (the
 * batch stays queued and is sent again after reconnecting). */
static long send_batch(struct shared_state *s)
{
    struct shared_update batch[SHARED_STATE_BATCH];
    pthread_mutex_lock(&s->lock);
    size_t n = shared_queue_peek(&s->out, batch, SHARED_STATE_BATCH);
    pthread_mutex_unlock(&s->lock);
    if (n == 0)
        return 0;
    char expire[32];
    snprintf(expire, sizeof(expire), "%" PRIu64, s->expire_sec);
    for (size_t i = 0; i < n; i++) {
        char key[16 + 2 * FLOW_NAME_LEN], first[32];
        snprintf(key, sizeof(key), KEY_PREFIX "%s", batch[i].key);
        snprintf(first, sizeof(first), "%" PRIu64, batch[i].first_usec);
        const char *argv[] = { "EVAL", claim_script, "1", key, first, expire };
        redisAppendCommandArgv(s->redis, 6, argv, NULL);
    }
    long result = (long)n;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->redis, (void **)&r) != REDIS_OK || r == NULL) {
            result = -1;
            break;
        }
        if (r->type == REDIS_REPLY_STRING) {
            unsigned long long winner = strtoull(r->str, NULL, 10);
            if (winner != 0 && winner < batch[i].first_usec) {   /* another sensor was earlier */
                char key[16 + 2 * FLOW_NAME_LEN];
                snprintf(key, sizeof(key), KEY_PREFIX "%s", batch[i].key);
                learn(s, key, r->str);
            }
        } else if (r->type == REDIS_REPLY_ERROR) {
            LOG_WARN("shared state: redis %s: %s", s->label, r->str);
            result = -1;
        }
        freeReplyObject(r);
        if (result < 0)
            break;
    }
    if (result > 0) {
        pthread_mutex_lock(&s->lock);
        shared_queue_release(&s->out, batch[n - 1].seq);
        s->sent += n;
        pthread_mutex_unlock(&s->lock);
    }
    for (size_t i = 0; i < n; i++)
        free(batch[i].key);
    return result;
}

/* Waits for a stop, ms milliseconds, or (idle only) queued work: while Redis is down,
 * queued work must not cut the retry interval short. */
static void wait_for_work(struct shared_state *s, unsigned ms, bool idle)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->stop && (!idle || s->out.count == 0))
        pthread_cond_timedwait(&s->wake, &s->lock, &until);
    pthread_mutex_unlock(&s->lock);
}

static double now_sec(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The thread: connect (retrying), warm up, send what is queued. On stop it keeps sending
 * for up to SHARED_STATE_FLUSH_MS so that a replay's last claims reach Redis. */
static void *shared_state_run(void *arg)
{
    struct shared_state *s = arg;
    double stop_deadline = 0;
    bool tried_since_stop = false;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stop = s->stop;
        bool pending = s->out.count > 0;
        pthread_mutex_unlock(&s->lock);
        if (stop && stop_deadline == 0)
            stop_deadline = now_sec() + SHARED_STATE_FLUSH_MS / 1000.0;
        if (stop && (!pending || now_sec() > stop_deadline))
            break;
        if (s->redis == NULL) {
            if (stop && tried_since_stop)
                break;            /* Redis down at exit: one last try only */
            tried_since_stop = stop;
            bool ok = connect_redis(s);
            set_ready(s);
            if (!ok) {
                if (!stop)
                    wait_for_work(s, SHARED_STATE_RETRY_MS, false);
                continue;
            }
        }
        long sent = send_batch(s);
        if (sent < 0)
            note_failure(s, s->redis && s->redis->err ? s->redis->errstr : "command failed");
        else if (sent == 0 && !stop)
            wait_for_work(s, 1000, true);
    }
    if (s->redis)
        redisFree(s->redis);
    s->redis = NULL;
    return NULL;
}

struct shared_state *shared_state_new(const struct shared_state_config *config, char *err,
                                      size_t err_len)
{
    struct shared_state *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_len, "shared state: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    /* Waits are timed on the monotonic clock: a wall-clock step must not stall a retry. */
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &monotonic);
    pthread_cond_init(&s->ready_cond, &monotonic);
    pthread_condattr_destroy(&monotonic);
    if (!parse_url(config->url, &s->address, err, err_len))
        goto fail;
    snprintf(s->label, sizeof(s->label), "%s:%d/%d", s->address.host, s->address.port,
             s->address.db);
    s->expire_sec = config->expire_sec;
    if (!shared_queue_init(&s->out, config->queue_max ? config->queue_max
                                                      : SHARED_STATE_QUEUE_MAX) ||
        !shared_queue_init(&s->in, DETECT_MAX_DESTINATIONS)) {
        snprintf(err, err_len, "shared state: out of memory");
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, shared_state_run, s) != 0) {
        snprintf(err, err_len, "shared state: cannot start its thread");
        goto fail;
    }
    s->thread_started = true;
    return s;
fail:
    shared_state_free(s);
    return NULL;
}

bool shared_state_wait_ready(struct shared_state *s, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->ready)
        if (pthread_cond_timedwait(&s->ready_cond, &s->lock, &until) != 0)
            break;
    bool ready = s->ready;
    pthread_mutex_unlock(&s->lock);
    return ready;
}

void shared_state_publish(struct shared_state *s, const char *key, uint64_t first_usec)
{
    pthread_mutex_lock(&s->lock);
    shared_queue_push(&s->out, key, first_usec);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

bool shared_state_take(struct shared_state *s, struct shared_update *out)
{
    if (atomic_load_explicit(&s->in_count, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&s->lock);
    bool got = shared_queue_pop(&s->in, out);
    atomic_store(&s->in_count, s->in.count);
    pthread_mutex_unlock(&s->lock);
    return got;
}

void shared_state_get_stats(struct shared_state *s, struct shared_state_stats *stats)
{
    pthread_mutex_lock(&s->lock);
    stats->errors = s->errors;
    stats->queued = s->out.count;
    stats->dropped = s->out.dropped;
    stats->sent = s->sent;
    stats->learned = s->learned;
    pthread_mutex_unlock(&s->lock);
}

void shared_state_flush(struct shared_state *s, unsigned timeout_ms)
{
    for (unsigned waited = 0; waited < timeout_ms; waited += 10) {
        pthread_mutex_lock(&s->lock);
        bool done = s->out.count == 0 || !s->connected;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        if (done)
            return;
        nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
    }
}

void shared_state_free(struct shared_state *s)
{
    if (s == NULL)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        struct shared_state_stats st;
        shared_state_get_stats(s, &st);
        if (st.queued)
            LOG_WARN("shared state: redis %s: %" PRIu64 " updates not sent at exit", s->label,
                     st.queued);
    }
    if (s->out.ring)
        shared_queue_destroy(&s->out);
    if (s->in.ring)
        shared_queue_destroy(&s->in);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->ready_cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
