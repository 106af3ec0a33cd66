/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Private to report/: the collected events and the summary computed from them. */
#ifndef EXFLOW_REPORT_INTERNAL_H
#define EXFLOW_REPORT_INTERNAL_H

#include <jansson.h>

#include "report.h"

#define REPORT_MAX_FLOWS      4000000 /* flow records kept for charts (48 B each); past it
                                       * they are counted in flows_not_charted */
#define REPORT_MAX_COUNTERS   64
#define REPORT_TOP_HOSTS      10      /* internal hosts in the upload table */
#define REPORT_TOP_DESTS      3       /* destinations listed per host */
#define REPORT_TOP_NEW_DESTS  20
#define REPORT_MAX_URLS       5       /* distinct URLs listed per alert card */
#define REPORT_MAX_GRID_LINES 400     /* learned-period grid lines drawn per timeline */

/* Interned strings: flow records repeat the same addresses and names thousands of times. */
struct strtab {
    char **strings;
    size_t count, capacity;
    uint32_t *slots;             /* open addressing: index + 1, 0 = empty */
    size_t slot_count;
};

struct report_flow {
    uint64_t start_usec;
    uint64_t bytes_out, bytes_in;
    uint32_t src, dest, name;   /* strtab ids; name 0 = none (id 0 is "") */
    uint32_t url;               /* strtab id of the HTTP URL; 0 = none */
    uint16_t port;
    bool remote_public;         /* the far end is outside the home networks */
};

struct report_alert {
    json_t *event;              /* the alert as read, owned */
    uint64_t ts_usec;
    uint32_t src, dest;
    uint16_t port;
};

struct report_counter {
    char name[48];
    uint64_t value;
};

struct report {
    struct strtab strings;
    struct report_flow *flows;
    size_t flow_count, flow_capacity;
    struct report_alert *alerts;
    size_t alert_count, alert_capacity;
    struct report_counter counters[REPORT_MAX_COUNTERS];
    size_t counter_count;
    uint64_t bad_lines;
    uint64_t flows_not_charted;
    uint64_t first_usec, last_usec;   /* time span of the events */
};

/* The summary both renderings show. */
struct report_dest_total {
    uint32_t dest;               /* strtab id of the label (name, else address) */
    uint64_t bytes_out;
};

struct report_host {
    uint32_t src;
    uint64_t bytes_out, bytes_in, connections;
    uint64_t first_usec, last_usec;
    struct report_dest_total top[REPORT_TOP_DESTS];
    uint64_t by_hour[24];        /* bytes out by hour of day (UTC) */
};

struct report_summary {
    uint64_t by_severity[4];     /* low, medium, high, critical */
    uint64_t other_severity;
    struct report_host hosts[REPORT_TOP_HOSTS];
    size_t host_count;
    size_t new_dests[REPORT_TOP_NEW_DESTS];   /* indexes into report->alerts */
    size_t new_dest_count;
};

extern const char *const report_severity_names[4];

const char *strtab_get(const struct strtab *table, uint32_t id);
/* The strtab id of text, or UINT32_MAX when text was never seen. */
uint32_t strtab_find(const struct strtab *table, const char *text);

/* summary.c */
bool report_summarize(const struct report *report, struct report_summary *summary);
/* The evidence of the host's alerts, each name once, joined with ", ". */
const char *report_host_evidence(const struct report *report, uint32_t src, char *buf, size_t len);
/* "1.2 MB", "512 B" */
const char *report_format_bytes(uint64_t bytes, char *buf, size_t len);
/* "2026-03-09 11:05:07" (UTC); "-" for 0. */
const char *report_format_time(uint64_t usec, char *buf, size_t len);
/* The alert's evidence joined with ", " into buf. */
const char *report_alert_list(const json_t *alert, const char *key, char *buf, size_t len);
const char *report_json_string(const json_t *object, const char *key);
/* The label a host's destination is shown under: SNI/host name, else the address. */
uint32_t report_flow_label(const struct report_flow *flow);
/* Whether a flow belongs to the alert's series (same host, destination address and port). */
bool report_flow_in_series(const struct report_flow *flow, const struct report_alert *alert);

#endif
