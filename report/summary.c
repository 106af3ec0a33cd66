/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report/summary.c: what an analyst reads first: alerts by severity, the internal hosts that
 * uploaded most to the outside and where to, the new destinations alerts named, and what the
 * run skipped or dropped. Computed once, shown as text here and as HTML in html.c.
 */
#include "report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const report_severity_names[4] = { "low", "medium", "high", "critical" };

const char *report_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1000 && unit < 4) {
        value /= 1000;
        unit++;
    }
    if (unit == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", value, units[unit]);
    return buf;
}

const char *report_format_time(uint64_t usec, char *buf, size_t len)
{
    if (usec == 0)
        return "-";
    time_t seconds = (time_t)(usec / 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

const char *report_alert_list(const json_t *alert, const char *key, char *buf, size_t len)
{
    size_t used = 0;
    size_t i;
    const json_t *item;
    buf[0] = '\0';
    json_array_foreach(json_object_get(alert, key), i, item) {
        const char *text = json_string_value(item);
        if (text == NULL)
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", text);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

uint32_t report_flow_label(const struct report_flow *flow)
{
    return flow->name != 0 ? flow->name : flow->dest;
}

bool report_flow_in_series(const struct report_flow *flow, const struct report_alert *alert)
{
    return flow->src == alert->src && flow->dest == alert->dest && flow->port == alert->port;
}

static int compare_hosts(const void *a, const void *b)
{
    const struct report_host *x = a, *y = b;
    if (x->bytes_out != y->bytes_out)
        return x->bytes_out < y->bytes_out ? 1 : -1;
    return x->src < y->src ? -1 : x->src > y->src;   /* ties: first seen first */
}

/* Adds a flow's upload to one of the host's top destinations, keeping the list sorted. */
static void host_add_dest(struct report_host *host, uint32_t label, uint64_t bytes,
                          uint64_t *dest_totals)
{
    dest_totals[label] += bytes;
    uint64_t total = dest_totals[label];
    int at = -1;
    for (int i = 0; i < REPORT_TOP_DESTS; i++)
        if (host->top[i].bytes_out > 0 && host->top[i].dest == label)
            at = i;
    if (at < 0) {
        if (total <= host->top[REPORT_TOP_DESTS - 1].bytes_out)
            return;
        at = REPORT_TOP_DESTS - 1;
    }
    host->top[at] = (struct report_dest_total){ label, total };
    for (; at > 0 && host->top[at].bytes_out > host->top[at - 1].bytes_out; at--) {
        struct report_dest_total swap = host->top[at];
        host->top[at] = host->top[at - 1];
        host->top[at - 1] = swap;
    }
}

/* Per-destination totals are kept per host: a second pass over the flows for each of the
 * top hosts, so memory stays one array of totals whatever the number of hosts. */
static bool summarize_host_dests(const struct report *report, struct report_host *host)
{
    uint64_t *dest_totals = calloc(report->strings.count, sizeof(*dest_totals));
    if (dest_totals == NULL)
        return false;
    for (size_t i = 0; i < report->flow_count; i++) {
        const struct report_flow *flow = &report->flows[i];
        if (flow->src != host->src || !flow->remote_public)
            continue;
        host_add_dest(host, report_flow_label(flow), flow->bytes_out, dest_totals);
        time_t seconds = (time_t)(flow->start_usec / 1000000);
        struct tm tm;
        gmtime_r(&seconds, &tm);
        host->by_hour[tm.tm_hour] += flow->bytes_out;
    }
    free(dest_totals);
    return true;
}

static bool summarize_hosts(const struct report *report, struct report_summary *summary)
{
    struct report_host *all = calloc(report->strings.count, sizeof(*all));
    if (all == NULL)
        return false;
    for (size_t i = 0; i < report->flow_count; i++) {
        const struct report_flow *flow = &report->flows[i];
        if (!flow->remote_public)
            continue;
        struct report_host *host = &all[flow->src];
        host->src = flow->src;
        host->bytes_out += flow->bytes_out;
        host->bytes_in += flow->bytes_in;
        host->connections++;
        if (host->first_usec == 0 || flow->start_usec < host->first_usec)
            host->first_usec = flow->start_usec;
        if (flow->start_usec > host->last_usec)
            host->last_usec = flow->start_usec;
    }
    qsort(all, report->strings.count, sizeof(*all), compare_hosts);
    bool ok = true;
    for (size_t i = 0; i < report->strings.count && i < REPORT_TOP_HOSTS; i++) {
        if (all[i].connections == 0)
            break;
        summary->hosts[summary->host_count] = all[i];
        ok = ok && summarize_host_dests(report, &summary->hosts[summary->host_count]);
        summary->host_count++;
    }
    free(all);
    return ok;
}

static bool alert_has(const json_t *alert, const char *key, const char *value)
{
    size_t i;
    const json_t *item;
    json_array_foreach(json_object_get(alert, key), i, item)
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return true;
    return false;
}

/* The destinations alerts called new, once each (alerts of one series repeat them). */
static void summarize_new_dests(const struct report *report, struct report_summary *summary)
{
    for (size_t i = 0; i < report->alert_count; i++) {
        const json_t *alert = report->alerts[i].event;
        if (!alert_has(alert, "evidence", "new_destination"))
            continue;
        bool seen = false;
        for (size_t j = 0; j < summary->new_dest_count && !seen; j++)
            seen = report->alerts[summary->new_dests[j]].dest == report->alerts[i].dest &&
                   strcmp(report_json_string(report->alerts[summary->new_dests[j]].event,
                                             "dest_name"),
                          report_json_string(alert, "dest_name")) == 0;
        if (!seen && summary->new_dest_count < REPORT_TOP_NEW_DESTS)
            summary->new_dests[summary->new_dest_count++] = i;
    }
}

bool report_summarize(const struct report *report, struct report_summary *summary)
{
    memset(summary, 0, sizeof(*summary));
    for (size_t i = 0; i < report->alert_count; i++) {
        const char *severity = report_json_string(report->alerts[i].event, "severity");
        size_t s = 0;
        while (s < 4 && strcmp(severity, report_severity_names[s]) != 0)
            s++;
        if (s < 4)
            summary->by_severity[s]++;
        else
            summary->other_severity++;
    }
    summarize_new_dests(report, summary);
    return summarize_hosts(report, summary);
}

/* Text from the network may hold terminal escapes: control bytes print as '?'. */
static void print_cell(FILE *out, const char *text, int width)
{
    int n = 0;
    for (const char *p = text; *p != '\0'; p++, n++)
        fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
    for (; n < width; n++)
        fputc(' ', out);
}

static void summary_write_hosts(const struct report *report, const struct report_summary *s,
                                FILE *out)
{
    fprintf(out, "\nTop uploading internal hosts (to destinations outside the home networks)\n");
    if (s->host_count == 0) {
        fprintf(out, "  none\n");
        return;
    }
    fprintf(out, "  %-39s %10s %6s %6s  %-19s  %-19s  %s\n", "host", "bytes out", "ratio",
            "conns", "first seen", "last seen", "top destinations");
    for (size_t i = 0; i < s->host_count; i++) {
        const struct report_host *h = &s->hosts[i];
        char bytes[32], first[32], last[32];
        double ratio = (double)h->bytes_out / (double)(h->bytes_out + h->bytes_in + 1);
        fputs("  ", out);
        print_cell(out, strtab_get(&report->strings, h->src), 39);
        fprintf(out, " %10s %6.2f %6llu  %-19s  %-19s  ",
                report_format_bytes(h->bytes_out, bytes, sizeof(bytes)), ratio,
                (unsigned long long)h->connections,
                report_format_time(h->first_usec, first, sizeof(first)),
                report_format_time(h->last_usec, last, sizeof(last)));
        for (int d = 0; d < REPORT_TOP_DESTS && h->top[d].bytes_out > 0; d++) {
            if (d > 0)
                fputs(", ", out);
            print_cell(out, strtab_get(&report->strings, h->top[d].dest), 0);
            fprintf(out, " (%s)", report_format_bytes(h->top[d].bytes_out, bytes, sizeof(bytes)));
        }
        fputc('\n', out);
    }
}

static void summary_write_new_dests(const struct report *report, const struct report_summary *s,
                                    FILE *out)
{
    fprintf(out, "\nNew destinations in alerts\n");
    if (s->new_dest_count == 0) {
        fprintf(out, "  none\n");
        return;
    }
    fprintf(out, "  %-40s %-39s %-19s  %s\n", "destination", "address", "first seen", "by host");
    for (size_t i = 0; i < s->new_dest_count; i++) {
        const json_t *alert = report->alerts[s->new_dests[i]].event;
        const char *when = report_json_string(alert, "first_seen");
        fputs("  ", out);
        print_cell(out, report_json_string(alert, "dest_name"), 40);
        fputc(' ', out);
        print_cell(out, report_json_string(alert, "dest_ip"), 39);
        fputc(' ', out);
        print_cell(out, when[0] != '\0' ? when : "-", 27);
        fputc(' ', out);
        print_cell(out, report_json_string(alert, "src_ip"), 0);
        fputc('\n', out);
    }
}

void report_write_summary(const struct report *report, FILE *out)
{
    struct report_summary s;
    bool complete = report_summarize(report, &s);
    char first[32], last[32];
    fprintf(out, "exflow summary: %zu alerts, %zu flow records, %s .. %s UTC\n",
            report->alert_count, report->flow_count,
            report_format_time(report->first_usec, first, sizeof(first)),
            report_format_time(report->last_usec, last, sizeof(last)));
    fprintf(out, "\nAlerts by severity\n  %-9s %6s\n", "severity", "alerts");
    for (int i = 3; i >= 0; i--)
        fprintf(out, "  %-9s %6llu\n", report_severity_names[i],
                (unsigned long long)s.by_severity[i]);
    if (s.other_severity > 0)
        fprintf(out, "  %-9s %6llu\n", "other", (unsigned long long)s.other_severity);
    summary_write_hosts(report, &s, out);
    summary_write_new_dests(report, &s, out);
    fprintf(out, "\nSkipped or dropped\n");
    if (report->counter_count == 0 && report->bad_lines == 0 && report->flows_not_charted == 0)
        fprintf(out, "  nothing\n");
    for (size_t i = 0; i < report->counter_count; i++)
        fprintf(out, "  %-32s %12llu\n", report->counters[i].name,
                (unsigned long long)report->counters[i].value);
    if (report->bad_lines > 0)
        fprintf(out, "  %-32s %12llu\n", "unreadable_event_lines",
                (unsigned long long)report->bad_lines);
    if (report->flows_not_charted > 0)
        fprintf(out, "  %-32s %12llu\n", "flows_not_charted",
                (unsigned long long)report->flows_not_charted);
    if (!complete)
        fprintf(out, "  (out of memory: host tables incomplete)\n");
}

const char *report_host_evidence(const struct report *report, uint32_t src, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < report->alert_count; i++) {
        if (report->alerts[i].src != src)
            continue;
        size_t k;
        const json_t *item;
        json_array_foreach(json_object_get(report->alerts[i].event, "evidence"), k, item) {
            const char *text = json_string_value(item);
            if (text == NULL)
                continue;
            /* whole-word check: "periodic" must not match inside another name */
            bool known = false;
            for (const char *at = strstr(buf, text); at != NULL && !known; at = strstr(at + 1, text))
                known = (at == buf || at[-1] == ' ') &&
                        (at[strlen(text)] == ',' || at[strlen(text)] == '\0');
            if (known)
                continue;
            int n = snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", text);
            if (n < 0 || (size_t)n >= len - used)
                return buf;
            used += (size_t)n;
        }
    }
    return buf;
}

/* "2026-03-09T11:05:07.564583Z", as output/ writes event times. */
static const char *format_iso_time(uint64_t usec, char *buf, size_t len)
{
    time_t seconds = (time_t)(usec / 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%06uZ", (unsigned)(usec % 1000000));
    return buf;
}

/* The summary as one JSON event for a SIEM: the same numbers as the text tables. */
static json_t *summary_hosts_json(const struct report *report, const struct report_summary *s)
{
    json_t *hosts = json_array();
    for (size_t i = 0; i < s->host_count && hosts != NULL; i++) {
        const struct report_host *h = &s->hosts[i];
        char first[40], last[40], evidence[512];
        json_t *dests = json_array();
        for (int d = 0; d < REPORT_TOP_DESTS && h->top[d].bytes_out > 0; d++)
            json_array_append_new(dests, json_pack("{s:s,s:I}", "dest",
                strtab_get(&report->strings, h->top[d].dest), "bytes_out",
                (json_int_t)h->top[d].bytes_out));
        json_t *evidence_list = json_array();
        report_host_evidence(report, h->src, evidence, sizeof(evidence));
        for (char *word = strtok(evidence, ", "); word != NULL; word = strtok(NULL, ", "))
            json_array_append_new(evidence_list, json_string(word));
        json_array_append_new(hosts, json_pack("{s:s,s:I,s:I,s:f,s:I,s:s,s:s,s:o,s:o}",
            "src_ip", strtab_get(&report->strings, h->src),
            "bytes_out", (json_int_t)h->bytes_out, "bytes_in", (json_int_t)h->bytes_in,
            "upload_ratio", round(1000.0 * (double)h->bytes_out /
                                  (double)(h->bytes_out + h->bytes_in + 1)) / 1000.0,
            "connections", (json_int_t)h->connections,
            "first_seen", format_iso_time(h->first_usec, first, sizeof(first)),
            "last_seen", format_iso_time(h->last_usec, last, sizeof(last)),
            "evidence", evidence_list, "top_destinations", dests));
    }
    return hosts;
}

char *report_summary_json(const struct report *report)
{
    struct report_summary s;
    if (!report_summarize(report, &s))
        return NULL;
    char when[40];
    format_iso_time(report->last_usec, when, sizeof(when));
    json_t *severity = json_object();
    for (int i = 0; i < 4; i++)
        json_object_set_new(severity, report_severity_names[i], json_integer((json_int_t)s.by_severity[i]));
    json_t *new_dests = json_array();
    for (size_t i = 0; i < s.new_dest_count; i++) {
        const json_t *alert = report->alerts[s.new_dests[i]].event;
        json_array_append_new(new_dests, json_pack("{s:s,s:s,s:s,s:s}",
            "dest_name", report_json_string(alert, "dest_name"),
            "dest_ip", report_json_string(alert, "dest_ip"),
            "first_seen", report_json_string(alert, "first_seen"),
            "src_ip", report_json_string(alert, "src_ip")));
    }
    json_t *skipped = json_object();
    for (size_t i = 0; i < report->counter_count; i++)
        json_object_set_new(skipped, report->counters[i].name,
                            json_integer((json_int_t)report->counters[i].value));
    json_t *event = json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o}", "timestamp", when,
        "event_type", "summary", "alerts", (json_int_t)report->alert_count,
        "flow_records", (json_int_t)report->flow_count, "alerts_by_severity", severity,
        "top_hosts", summary_hosts_json(report, &s), "new_destinations", new_dests,
        "skipped", skipped);
    char *text = event != NULL ? json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(event);
    return text;
}
