/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to flows/: a bounded list of freed blocks kept for reuse, for ended flows and
 * finished nDPI states alike, so that a steady churn of flows neither goes through malloc
 * for each nor faults in fresh heap pages. A kept block's first bytes hold the link, so
 * spares_take hands it back unzeroed.
 */
#ifndef EXFLOW_FLOWS_SPARES_H
#define EXFLOW_FLOWS_SPARES_H

#include <stdbool.h>
#include <stddef.h>

struct spare {
    struct spare *next;
};

struct spares {
    struct spare *head;
    unsigned count, max;     /* max 0: nothing is kept */
};

/* A kept block, or NULL when there is none. */
static inline void *spares_take(struct spares *spares)
{
    struct spare *block = spares->head;
    if (block != NULL) {
        spares->head = block->next;
        spares->count--;
    }
    return block;
}

/* Keeps block (at least a pointer's size) when there is room; false: the caller frees it. */
static inline bool spares_put(struct spares *spares, void *block)
{
    if (spares->count >= spares->max)
        return false;
    struct spare *spare = block;
    spare->next = spares->head;
    spares->head = spare;
    spares->count++;
    return true;
}

#endif
