/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Per-host baseline of bytes sent outside per hour: a ring of hourly totals, judged by
 * median and MAD so one past burst does not raise the bar for ever (as a mean would).
 */
#include "detect_internal.h"

#include <string.h>

#define USEC_PER_HOUR (3600ULL * 1000000ULL)

/* Moves the current hour forward, clearing the hours skipped (a silent host sends 0). */
static void baseline_advance(struct host_baseline *baseline, uint64_t hour)
{
    if (hour <= baseline->current_hour)
        return;
    uint64_t steps = hour - baseline->current_hour;
    if (steps >= BASELINE_HOURS) {
        memset(baseline->hour_bytes, 0, sizeof(baseline->hour_bytes));
    } else {
        for (uint64_t h = baseline->current_hour + 1; h <= hour; h++)
            baseline->hour_bytes[h % BASELINE_HOURS] = 0;
    }
    baseline->current_hour = hour;
}

/* Adds bytes out at packet time ts_usec. */
void baseline_add(struct host_baseline *baseline, uint64_t ts_usec, uint64_t bytes_out)
{
    uint64_t hour = ts_usec / USEC_PER_HOUR;
    if (!baseline->started) {
        memset(baseline->hour_bytes, 0, sizeof(baseline->hour_bytes));
        baseline->started = true;
        baseline->first_hour = hour;
        baseline->current_hour = hour;
    }
    baseline_advance(baseline, hour);
    /* A record for an hour still in the ring lands there; older ones are dropped. */
    if (baseline->current_hour - hour >= BASELINE_HOURS)
        return;
    if (hour < baseline->first_hour)
        baseline->first_hour = hour;
    baseline->hour_bytes[hour % BASELINE_HOURS] += bytes_out;
}

/* Current hour against the usual hour. */
double baseline_ratio(const struct host_baseline *baseline, uint64_t ts_usec, uint64_t floor_bytes,
                      bool *anomalous, double *usual_bytes)
{
    double past[BASELINE_HOURS];
    double scratch[BASELINE_HOURS];
    *anomalous = false;
    *usual_bytes = 0.0;
    if (!baseline->started)
        return 0.0;
    uint64_t hour = ts_usec / USEC_PER_HOUR;
    if (hour < baseline->current_hour)
        hour = baseline->current_hour;
    if (hour - baseline->current_hour >= BASELINE_HOURS)
        return 0.0;
    /* Past hours: from the first hour seen (or the ring's reach) up to the hour before. */
    uint64_t from = baseline->first_hour;
    if (hour >= BASELINE_HOURS - 1 && from < hour - (BASELINE_HOURS - 1))
        from = hour - (BASELINE_HOURS - 1);
    size_t count = 0;
    for (uint64_t h = from; h < hour; h++) {
        bool recorded = h <= baseline->current_hour;
        past[count++] = recorded ? (double)baseline->hour_bytes[h % BASELINE_HOURS] : 0.0;
    }
    if (count < BASELINE_MIN_HOURS)
        return 0.0;
    double current = 0.0;
    if (hour <= baseline->current_hour)
        current = (double)baseline->hour_bytes[hour % BASELINE_HOURS];
    double median = stats_median(past, count, scratch);
    double mad = stats_mad(past, count, median, scratch);
    *usual_bytes = median;
    double usual = median > (double)floor_bytes ? median : (double)floor_bytes;
    if (usual <= 0.0)
        usual = 1.0;
    /* 1.4826 * MAD estimates the standard deviation of normal data. */
    *anomalous = current > median + 3.0 * 1.4826 * mad && current > usual;
    return current / usual;
}
