/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * rescore/: flow input from saved exflow events instead of packets. Reads JSON lines as
 * exflow writes them (-w, stdout, a SIEM's export), turns each flow event back into the
 * struct flow and the payload evidence (detect.h: struct detect_flow_evidence) the packet
 * path handed to detection, and hands them on in the order of the file: the order in which
 * the run that wrote them scored them. Other events (alerts, stats) are skipped; a line
 * that is not a well-formed flow event is counted and skipped. Lines are bounded.
 */
#ifndef EXFLOW_RESCORE_H
#define EXFLOW_RESCORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../detect/detect.h"
#include "../flows/flows.h"

#define RESCORE_LINE_MAX (256 * 1024)  /* bytes; a flow event is a few KB at most */

struct rescore_stats {
    uint64_t files;             /* files read */
    uint64_t lines;             /* lines read (blank lines aside) */
    uint64_t bad_lines;         /* not JSON, over-long, or a flow event with a missing or
                                 * ill-typed field: skipped */
    uint64_t other_events;      /* alerts, stats, summaries: skipped */
    uint64_t flows_out;         /* flow records handed on */
};

/* One record with its evidence; both are the reader's, valid during the call (the callback
 * may take flow->observer_state, which the reader never sets). */
typedef void (*rescore_record_fn)(void *user, struct flow *flow, enum flow_end_reason reason,
                                  const struct detect_log_evidence *evidence);

struct rescore_reader;

/* True when path is a regular file whose first non-blank byte opens a JSON object: saved
 * events rather than a capture. */
bool rescore_is_events_file(const char *path);

/* NULL and a message in err when a file cannot be opened. */
struct rescore_reader *rescore_reader_new(const char *const *paths, int path_count,
                                          rescore_record_fn on_record, void *user, char *err,
                                          size_t err_len);

/* Reads every file in order and hands on every flow record; false when a file could not be
 * read to its end (the records read are still handed on). */
bool rescore_reader_run(struct rescore_reader *reader, volatile sig_atomic_t *stop);

/* One line given as bytes (no newline): the fuzz harness and tests. */
void rescore_reader_feed_line(struct rescore_reader *reader, const char *line, size_t len);

void rescore_reader_get_stats(const struct rescore_reader *reader, struct rescore_stats *stats);
void rescore_reader_free(struct rescore_reader *reader);

#endif
