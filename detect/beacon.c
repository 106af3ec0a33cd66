/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Schedule scoring per (internal host -> destination): the ring of recent connections, the
 * gaps between their starts, and how regular those gaps are.
 *
 * Like RITA, regularity is Bowley skew and MAD/median of the gaps and needs a minimum number
 * of connections. Unlike RITA, payload sizes are not scored for sameness: constant small
 * payloads are polling, and a schedule of varying-size uploads is the exfiltration case, so
 * sizes feed the volume part of the score instead (score.c).
 */
#include "detect_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Relative spread of gaps (MAD / median) at which regularity reaches 0. Jitter of a few
 * percent (cron, systemd timers) scores above 0.9, C2 sleep jitter of 20 % passes, +-10 min
 * on an hour is borderline (its quartile skew decides; see test_large_jitter), and Poisson
 * arrivals (MAD/median about 0.7) score 0. */
#define BEACON_DISPERSION_LIMIT 0.3
/* The skew of a tight set of gaps is noise (a few seconds either way), so it weighs
 * nothing while the quartile spread is under 5 % of the period and fully from 20 %. */
#define BEACON_SKEW_MIN_SPREAD 0.05
#define BEACON_SKEW_FULL_SPREAD 0.20

/* Marks the series two-way once a connection of it fetched a file. Kept for the series'
 * life: the connection leaves the ring, the destination's role does not. */
static void beacon_note_fetch(struct beacon_series *series, const struct beacon_conn *conn)
{
    if (conn->bytes_in >= BEACON_DOWNLOAD_MIN_BYTES && conn->bytes_in > conn->bytes_out)
        series->fetched = true;
}

/* Adds a connection, or its bytes when this flow id is already in the ring. */
bool beacon_add(struct beacon_series *series, uint64_t flow_id, uint64_t start_usec,
                uint64_t end_usec, uint64_t bytes_out, uint64_t bytes_in)
{
    /* Interim records of one long flow: same connection, more bytes. Flow id 0 is a
     * connection restored from the state file: each is its own. */
    for (uint32_t i = 0; flow_id != 0 && i < series->count; i++) {
        struct beacon_conn *conn = &series->conn[i];
        if (conn->flow_id == flow_id) {
            conn->bytes_out += bytes_out;
            conn->bytes_in += bytes_in;
            if (end_usec > conn->end_usec)
                conn->end_usec = end_usec;
            beacon_note_fetch(series, conn);
            return true;
        }
    }
    return beacon_append(series, flow_id, start_usec, end_usec, bytes_out, bytes_in);
}

/* Adds a connection of its own, whatever ids the ring holds. */
bool beacon_append(struct beacon_series *series, uint64_t flow_id, uint64_t start_usec,
                   uint64_t end_usec, uint64_t bytes_out, uint64_t bytes_in)
{
    if (series->count == series->capacity && series->capacity < BEACON_RING_MAX) {
        /* Grow: the ring is linear until it first fills at BEACON_RING_MAX. */
        uint32_t capacity = series->capacity ? series->capacity * 4 : 2;
        if (capacity > BEACON_RING_MAX)
            capacity = BEACON_RING_MAX;
        struct beacon_conn *grown = realloc(series->conn, capacity * sizeof(*grown));
        if (grown == NULL)
            return false;
        series->conn = grown;
        series->capacity = capacity;
        series->head = series->count;
    }
    struct beacon_conn *slot = &series->conn[series->head];
    slot->flow_id = flow_id;
    slot->start_usec = start_usec;
    slot->end_usec = end_usec > start_usec ? end_usec : start_usec;
    slot->bytes_out = bytes_out;
    slot->bytes_in = bytes_in;
    beacon_note_fetch(series, slot);
    series->head = (series->head + 1) % series->capacity;
    if (series->count < series->capacity)
        series->count++;
    series->total_connections++;
    return true;
}

/* The ring entry of flow_id, or NULL. */
const struct beacon_conn *beacon_find(const struct beacon_series *series, uint64_t flow_id)
{
    for (uint32_t i = 0; i < series->count; i++)
        if (series->conn[i].flow_id == flow_id)
            return &series->conn[i];
    return NULL;
}

/* Clamps to [0,1]. */
static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);
}

/* Regularity of gaps in [0,1]: dispersion (MAD/median) scaled by how symmetric the gaps are. */
double beacon_score_gaps(double *gaps, size_t count, double *median, double *mad, double *skew)
{
    double scratch[BEACON_RING_MAX];
    *median = *mad = *skew = 0.0;
    if (count == 0 || count > BEACON_RING_MAX)
        return 0.0;
    stats_sort(gaps, count);
    double q1, q2, q3;
    stats_quartiles_sorted(gaps, count, &q1, &q2, &q3);
    *median = q2;
    *mad = stats_mad(gaps, count, q2, scratch);
    *skew = stats_bowley_skew(q1, q2, q3);
    if (q2 <= 0.0)
        return 0.0;
    double dispersion_score = clamp01(1.0 - (*mad / q2) / BEACON_DISPERSION_LIMIT);
    double skew_weight = clamp01(((q3 - q1) / q2 - BEACON_SKEW_MIN_SPREAD) /
                                 (BEACON_SKEW_FULL_SPREAD - BEACON_SKEW_MIN_SPREAD));
    return dispersion_score * (1.0 - 0.5 * skew_weight * fabs(*skew));
}

struct start_bytes {
    double start_sec;
    uint64_t bytes_out;
};

/* Orders by start time: records arrive when flows end, so starts taken oldest first come
 * nearly in order and insertion costs a few compares each (BEACON_RING_MAX is 64). Ties
 * may leave in any order: they merge into one session, and byte sums are exact. */
static void sort_by_start(struct start_bytes *starts, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        struct start_bytes v = starts[i];
        uint32_t j = i;
        for (; j > 0 && starts[j - 1].start_sec > v.start_sec; j--)
            starts[j] = starts[j - 1];
        starts[j] = v;
    }
}

/* Share of time bins, over the last BEACON_PERSIST_WINDOW_BINS ending at the latest
 * session, that hold at least one session start (sorted starts in seconds). Jitter moves an
 * upload within its period but rarely out of every bin, where it wrecks gap regularity. */
static double beacon_persistence(const double *session_start, uint32_t sessions, double bin_sec,
                                 uint32_t *bins_out)
{
    bool seen[BEACON_PERSIST_WINDOW_BINS] = { false };
    *bins_out = 0;
    if (sessions == 0 || bin_sec <= 0.0)
        return 0.0;
    double last_bin = floor(session_start[sessions - 1] / bin_sec);
    double first_bin = floor(session_start[0] / bin_sec);
    double span = last_bin - first_bin + 1.0;
    uint32_t bins = span > BEACON_PERSIST_WINDOW_BINS ? BEACON_PERSIST_WINDOW_BINS : (uint32_t)span;
    uint32_t hit = 0;
    for (uint32_t i = 0; i < sessions; i++) {
        double back = last_bin - floor(session_start[i] / bin_sec);
        if (back < 0.0 || back >= (double)bins)
            continue;
        uint32_t slot = (uint32_t)back;
        if (!seen[slot]) {
            seen[slot] = true;
            hit++;
        }
    }
    *bins_out = bins;
    return (double)hit / (double)bins;
}

/* Merges starts closer than min_period into sessions, then scores the gaps between sessions. */
void beacon_evaluate(const struct beacon_series *series, const struct beacon_params *params,
                     struct beacon_result *result)
{
    struct start_bytes starts[BEACON_RING_MAX];
    double session_bytes[BEACON_RING_MAX];
    double session_start[BEACON_RING_MAX];
    double gaps[BEACON_RING_MAX];

    memset(result, 0, sizeof(*result));
    result->fetched = series->fetched;
    uint32_t n = series->count;
    result->connections = n;
    if (n == 0)
        return;
    result->first_start_usec = UINT64_MAX;
    /* Oldest first (a full ring's oldest is at head): nearly in start order already. */
    uint32_t oldest = n == series->capacity ? series->head : 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct beacon_conn *conn = &series->conn[(oldest + i) % n];
        /* Start times as seconds relative to nothing in particular: doubles keep usec
         * precision for any epoch time, which is plenty for schedules. */
        starts[i].start_sec = (double)conn->start_usec / 1e6;
        starts[i].bytes_out = conn->bytes_out;
        result->bytes_out += conn->bytes_out;
        result->bytes_in += conn->bytes_in;
        if (conn->start_usec < result->first_start_usec)
            result->first_start_usec = conn->start_usec;
    }
    /* Records arrive when flows end, not when they start: order by start. */
    sort_by_start(starts, n);

    /* A start closer than min_period to the previous start continues its session (chained,
     * so a connection every 10 s is one long session, not a 30 s schedule). */
    uint32_t sessions = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool same_session = sessions > 0 &&
                            starts[i].start_sec - starts[i - 1].start_sec < params->min_period_sec;
        if (same_session) {
            session_bytes[sessions - 1] += (double)starts[i].bytes_out;
            continue;
        }
        session_start[sessions] = starts[i].start_sec;
        session_bytes[sessions] = (double)starts[i].bytes_out;
        sessions++;
    }
    result->sessions = sessions;
    double scratch[BEACON_RING_MAX];
    result->median_bytes_out = stats_median(session_bytes, sessions, scratch);

    if (sessions < 2)
        return;
    for (uint32_t i = 1; i < sessions; i++)
        gaps[i - 1] = session_start[i] - session_start[i - 1];
    result->gaps = sessions - 1;
    result->score = beacon_score_gaps(gaps, result->gaps, &result->period_sec, &result->mad_sec,
                                      &result->skew);
    result->dispersion = result->period_sec > 0.0 ? result->mad_sec / result->period_sec : 0.0;
    bool schedule_shape = sessions >= params->min_connections &&
                          result->period_sec >= params->min_period_sec &&
                          result->period_sec <= params->max_period_sec;
    result->regular = schedule_shape && result->score >= params->min_score;
    result->persistence = beacon_persistence(session_start, sessions, params->persist_bin_sec,
                                             &result->persist_bins);
    result->persistent = schedule_shape && params->persist_min > 0.0 &&
                         result->persist_bins >= BEACON_PERSIST_MIN_BINS &&
                         result->persistence >= params->persist_min;
    result->periodic = result->regular || result->persistent;
}

/* Parallel uploads (rclone, multi-part): connections whose lifetimes overlap this one's. */
uint32_t beacon_concurrent_uploads(const struct beacon_series *series, uint64_t start_usec,
                                   uint64_t end_usec, uint64_t min_bytes_out, double min_pcr)
{
    uint32_t concurrent = 0;
    for (uint32_t i = 0; i < series->count; i++) {
        const struct beacon_conn *conn = &series->conn[i];
        if (conn->start_usec > end_usec || conn->end_usec < start_usec)
            continue;
        if (conn->bytes_out < min_bytes_out || stats_pcr(conn->bytes_out, conn->bytes_in) < min_pcr)
            continue;
        concurrent++;
    }
    return concurrent;
}

/* Frees the ring and resets the series. */
void beacon_free(struct beacon_series *series)
{
    free(series->conn);
    memset(series, 0, sizeof(*series));
}
