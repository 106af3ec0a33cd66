/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report/: the investigation view of a run. It is fed the JSON events exflow writes (flow
 * records, alerts, stats), live or read back from a saved JSON lines file, and renders an
 * end-of-run summary (aligned text tables) and a self-contained HTML report (inline CSS and
 * SVG, no scripts, no network). It reads events only, never detect/ internals, so a saved
 * file and a live run give the same report.
 */
#ifndef EXFLOW_REPORT_H
#define EXFLOW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct report;

/* NULL when out of memory. */
struct report *report_new(void);
void report_free(struct report *report);

/* One event as JSON text (one line, no newline needed). Unknown event types and fields are
 * ignored; a line that is not a JSON object is counted (report_bad_lines) and skipped. */
void report_add_event(struct report *report, const char *json, size_t len);
/* Reads a JSON lines file ("-" = stdin). False and a message in err when it cannot be read. */
bool report_read_file(struct report *report, const char *path, char *err, size_t err_len);
/* A counter of what the run skipped or dropped (name as in the stats line); zero is ignored. */
void report_add_counter(struct report *report, const char *name, uint64_t value);

uint64_t report_bad_lines(const struct report *report);
size_t report_alert_count(const struct report *report);

/* The summary as aligned plain-text tables. */
void report_write_summary(const struct report *report, FILE *out);
/* The summary as one `summary` JSON event (compact, no newline; malloc'ed), NULL out of memory. */
char *report_summary_json(const struct report *report);
/* The HTML report into path, created with O_NOFOLLOW (an existing regular file is replaced).
 * False and a message in err on failure. */
bool report_write_html(const struct report *report, const char *path, char *err, size_t err_len);

#endif
