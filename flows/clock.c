/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The clock flows age by: packet time made monotonic. Expiry walks each age list from its
 * oldest flow, so the lists must stay sorted; filing each packet at a time that never goes
 * back keeps every insertion at the newest end, O(1) whatever order the timestamps come in.
 */
#include "flows.h"

#include <stdatomic.h>

#include "../common/log.h"

/* One warning per process: a clock that stepped once will step again (NTP, VM resumes), and
 * the count in the stats line says how often. */
static atomic_bool step_warned;

uint64_t flow_clock_advance(struct flow_clock *clock, uint64_t ts_usec)
{
    if (!clock->started) {
        clock->started = true;
        clock->now_usec = ts_usec;
        return ts_usec;
    }
    uint64_t aged = ts_usec + clock->offset_usec;
    if (aged >= clock->now_usec) {
        clock->now_usec = aged;
        return aged;
    }
    uint64_t back = clock->now_usec - aged;
    if (back >= FLOW_CLOCK_STEP_USEC) {
        /* A step (NTP, VM resume, captures given out of order): ageing goes on from the
         * latest time instead of freezing until packet time catches up, which could take
         * hours in which no flow would time out. */
        clock->offset_usec += back;
        atomic_fetch_add_explicit(&clock->steps_back, 1, memory_order_relaxed);
        if (!atomic_exchange(&step_warned, true))
            LOG_WARN("packet time stepped back by %llu s: flows keep ageing from the latest "
                     "time seen (further steps are counted as clock_steps_back)",
                     (unsigned long long)(back / 1000000));
    }
    /* Jitter (merged captures, a tick ahead of buffered packets): clamped to the latest. */
    return clock->now_usec;
}
