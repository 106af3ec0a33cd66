/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Private to flows/: the nDPI glue. One labeler (one nDPI detection module) per flow table.
 * A flow's nDPI state lives only while detection runs; its results are copied into
 * flow->labels and the state is freed, so a long upload costs nDPI nothing after its first
 * packets.
 */
#ifndef EXFLOW_FLOWS_LABELS_H
#define EXFLOW_FLOWS_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "flows.h"

struct labeler;

/* NULL and a message in err when nDPI or the protocols file (may be NULL) cannot be set up.
 * Up to spares_max freed nDPI states are kept for reuse: not counted as held by
 * labeler_process/labeler_finish, so the caller leaves room for them under its cap. */
struct labeler *labeler_new(const char *protocols_file, unsigned spares_max, char *err,
                            size_t err_len);

void labeler_free(struct labeler *labeler);

/* Bytes one flow's nDPI state costs while allocated (counted against the memory cap). */
size_t labeler_flow_size(void);

/* Feeds one packet of the flow, sent by direction's side, to nDPI (allocating its state on
 * the first one) and refreshes flow->labels. Frees the state once detection is done, once
 * the labels exflow keeps can no longer change (TLS SNI matched, both SSH banners) though
 * nDPI would dissect on, or after NDPI_MAX_PACKETS_PER_FLOW packets. Returns the change in bytes held (+labeler_flow_size(), 0, or -labeler_flow_size()).
 * Returns 0 and does nothing when labels are final or the packet has no IP header. */
long labeler_process(struct labeler *labeler, struct flow *flow, const struct packet *pkt,
                     enum flow_direction direction);

/* The flow ends: takes nDPI's best guess if detection did not finish, copies the labels and
 * frees the state. Returns the bytes released (0 when no state was held). */
size_t labeler_finish(struct labeler *labeler, struct flow *flow);

#endif
