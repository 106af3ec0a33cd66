/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report/html.c: the report as one self-contained HTML file: inline CSS and SVG, no scripts,
 * no fetches, readable on a laptop and printable. Every text that came from the network
 * (names, URLs, addresses, the alert sentence) goes through html_text.
 */
#include "report_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMELINE_WIDTH  720
#define TIMELINE_HEIGHT 150
#define PLOT_LEFT       60
#define PLOT_RIGHT      (TIMELINE_WIDTH - 10)
#define PLOT_TOP        10
#define PLOT_BOTTOM     (TIMELINE_HEIGHT - 30)

static const char html_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.5em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid #eee;vertical-align:top}td.n,th.n{text-align:right}"
    ".card{border:1px solid #bbb;border-left:6px solid #888;border-radius:4px;padding:.5em 1em;"
    "margin:1em 0;break-inside:avoid}.sev-critical{border-left-color:#8b0000}"
    ".sev-high{border-left-color:#d9480f}.sev-medium{border-left-color:#e8a317}"
    ".sev-low{border-left-color:#4a7ab5}.sentence{font-size:1.05em}"
    ".card h3{margin:.2em 0;font-size:1.05em;overflow-wrap:anywhere}"
    "svg{display:block;max-width:100%;height:auto}svg text{font:11px sans-serif;fill:#444}"
    ".muted{color:#666}code{overflow-wrap:anywhere}"
    "@media print{body{max-width:none;margin:0}.card{page-break-inside:avoid}}";

/* Writes text as HTML character data or attribute value: the five special characters as
 * entities, control bytes as U+FFFD. Input is UTF-8 (jansson checked it). */
static void html_text(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                fputs("&#xFFFD;", out);
            else
                fputc(*p, out);
        }
    }
}

static void html_row(FILE *out, const char *label, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    fprintf(out, "<tr><th>%s</th><td>", label);
    html_text(out, value);
    fputs("</td></tr>\n", out);
}

static void html_severity_table(FILE *out, const struct report_summary *s)
{
    fputs("<h2>Alerts by severity</h2>\n<table class=\"severity\"><tr><th>severity</th>"
          "<th class=\"n\">alerts</th></tr>\n", out);
    for (int i = 3; i >= 0; i--)
        fprintf(out, "<tr><td>%s</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                report_severity_names[i], s->by_severity[i]);
    if (s->other_severity > 0)
        fprintf(out, "<tr><td>other</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                s->other_severity);
    fputs("</table>\n", out);
}

/* 24 bars: the host's upload by hour of day, UTC. */
static void html_hourly_chart(FILE *out, const struct report_host *host)
{
    uint64_t max = 1;
    for (int h = 0; h < 24; h++)
        if (host->by_hour[h] > max)
            max = host->by_hour[h];
    fputs("<svg class=\"hourly\" viewBox=\"0 0 300 70\" width=\"300\" height=\"70\" "
          "role=\"img\" aria-label=\"upload by hour of day, UTC\">", out);
    for (int h = 0; h < 24; h++) {
        double height = 50.0 * (double)host->by_hour[h] / (double)max;
        char bytes[32];
        fprintf(out, "<rect x=\"%d\" y=\"%.1f\" width=\"10\" height=\"%.1f\" fill=\"#4a7ab5\">"
                "<title>%02d:00 %s</title></rect>", 6 + h * 12, 52 - height, height, h,
                report_format_bytes(host->by_hour[h], bytes, sizeof(bytes)));
    }
    fputs("<text x=\"6\" y=\"66\">00</text><text x=\"150\" y=\"66\">12</text>"
          "<text x=\"280\" y=\"66\">23h</text></svg>", out);
}

static void html_hosts_table(FILE *out, const struct report *report, const struct report_summary *s)
{
    fputs("<h2>Top uploading internal hosts</h2>\n<p class=\"muted\">Uploads to destinations "
          "outside the home networks; the chart is bytes out by hour of day (UTC).</p>\n", out);
    if (s->host_count == 0) {
        fputs("<p>none</p>\n", out);
        return;
    }
    fputs("<table class=\"hosts\"><tr><th>host</th><th class=\"n\">bytes out</th>"
          "<th class=\"n\">ratio</th><th class=\"n\">conns</th><th>first / last seen</th>"
          "<th>top destinations</th><th>alert evidence</th><th>upload by hour</th></tr>\n", out);
    for (size_t i = 0; i < s->host_count; i++) {
        const struct report_host *h = &s->hosts[i];
        char bytes[32], first[32], last[32];
        fputs("<tr><td><code>", out);
        html_text(out, strtab_get(&report->strings, h->src));
        fprintf(out, "</code></td><td class=\"n\">%s</td><td class=\"n\">%.2f</td>"
                "<td class=\"n\">%" PRIu64 "</td><td>%s<br>%s</td><td>",
                report_format_bytes(h->bytes_out, bytes, sizeof(bytes)),
                (double)h->bytes_out / (double)(h->bytes_out + h->bytes_in + 1), h->connections,
                report_format_time(h->first_usec, first, sizeof(first)),
                report_format_time(h->last_usec, last, sizeof(last)));
        for (int d = 0; d < REPORT_TOP_DESTS && h->top[d].bytes_out > 0; d++) {
            fputs("<code>", out);
            html_text(out, strtab_get(&report->strings, h->top[d].dest));
            fprintf(out, "</code> %s<br>", report_format_bytes(h->top[d].bytes_out, bytes,
                                                               sizeof(bytes)));
        }
        char evidence[512];
        fputs("</td><td>", out);
        html_text(out, report_host_evidence(report, h->src, evidence, sizeof(evidence)));
        fputs("</td><td>", out);
        html_hourly_chart(out, h);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void html_new_dests(FILE *out, const struct report *report, const struct report_summary *s)
{
    fputs("<h2>New destinations in alerts</h2>\n", out);
    if (s->new_dest_count == 0) {
        fputs("<p>none</p>\n", out);
        return;
    }
    fputs("<table class=\"new-dests\"><tr><th>destination</th><th>address</th>"
          "<th>first seen</th><th>host</th></tr>\n", out);
    for (size_t i = 0; i < s->new_dest_count; i++) {
        const json_t *alert = report->alerts[s->new_dests[i]].event;
        static const char *const keys[] = { "dest_name", "dest_ip", "first_seen", "src_ip" };
        fputs("<tr>", out);
        for (size_t k = 0; k < 4; k++) {
            fputs("<td>", out);
            html_text(out, report_json_string(alert, keys[k]));
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void html_skipped(FILE *out, const struct report *report)
{
    fputs("<h2>Skipped or dropped</h2>\n<table class=\"skipped\">", out);
    for (size_t i = 0; i < report->counter_count; i++) {
        fputs("<tr><td>", out);
        html_text(out, report->counters[i].name);
        fprintf(out, "</td><td class=\"n\">%" PRIu64 "</td></tr>\n", report->counters[i].value);
    }
    if (report->bad_lines > 0)
        fprintf(out, "<tr><td>unreadable_event_lines</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                report->bad_lines);
    if (report->flows_not_charted > 0)
        fprintf(out, "<tr><td>flows_not_charted</td><td class=\"n\">%" PRIu64 "</td></tr>\n",
                report->flows_not_charted);
    if (report->counter_count == 0 && report->bad_lines == 0 && report->flows_not_charted == 0)
        fputs("<tr><td>nothing</td></tr>\n", out);
    fputs("</table>\n", out);
}

static double timeline_x(uint64_t t, uint64_t t0, uint64_t t1)
{
    return PLOT_LEFT + (double)(t - t0) / (double)(t1 - t0) * (PLOT_RIGHT - PLOT_LEFT);
}

/* The learned period as a grid: a line every period from the series' first connection. */
static void timeline_grid(FILE *out, const json_t *alert, uint64_t first, uint64_t t0, uint64_t t1)
{
    double period = json_number_value(json_object_get(alert, "period_sec"));
    if (!(period > 0))
        return;
    uint64_t step = (uint64_t)(period * 1e6);
    if (step == 0 || (t1 - first) / step > REPORT_MAX_GRID_LINES)
        return;
    fputs("<g class=\"grid\" stroke=\"#9bb\" stroke-dasharray=\"3,3\">", out);
    for (uint64_t t = first; t <= t1; t += step)
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>",
                timeline_x(t, t0, t1), timeline_x(t, t0, t1), PLOT_TOP, PLOT_BOTTOM);
    fputs("</g>", out);
}

/* Each connection of the series as a bar at its start, as high as its upload; the alert's
 * moment as a red line. XXX: each card scans every flow record (alerts x flows); fine for
 * thousands of alerts over millions of records, an index by series would be needed beyond. */
static void html_timeline(FILE *out, const struct report *report, const struct report_alert *alert)
{
    uint64_t t0 = alert->ts_usec, t1 = alert->ts_usec, max = 1;
    size_t marks = 0;
    for (size_t i = 0; i < report->flow_count; i++) {
        const struct report_flow *flow = &report->flows[i];
        if (!report_flow_in_series(flow, alert))
            continue;
        if (t0 == 0 || flow->start_usec < t0)
            t0 = flow->start_usec;
        if (flow->start_usec > t1)
            t1 = flow->start_usec;
        if (flow->bytes_out > max)
            max = flow->bytes_out;
        marks++;
    }
    uint64_t first = t0;
    uint64_t pad = (t1 - t0) / 20 + 1000000;   /* marks off the frame's edges */
    t0 = t0 > pad ? t0 - pad : 0;
    t1 += pad;
    char left[32], right[32], top[32];
    fprintf(out, "<svg class=\"timeline\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
            "role=\"img\" aria-label=\"connections of this series over time\">"
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#ccc\"/>",
            TIMELINE_WIDTH, TIMELINE_HEIGHT, TIMELINE_WIDTH, TIMELINE_HEIGHT, PLOT_LEFT, PLOT_TOP,
            PLOT_RIGHT - PLOT_LEFT, PLOT_BOTTOM - PLOT_TOP);
    timeline_grid(out, alert->event, first, t0, t1);
    for (size_t i = 0; i < report->flow_count; i++) {
        const struct report_flow *flow = &report->flows[i];
        if (!report_flow_in_series(flow, alert))
            continue;
        double height = (PLOT_BOTTOM - PLOT_TOP) * (double)flow->bytes_out / (double)max;
        char when[32], bytes[32];
        fprintf(out, "<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"4\" height=\"%.1f\" "
                "fill=\"#d9480f\"><title>%s UTC, %s out</title></rect>",
                timeline_x(flow->start_usec, t0, t1) - 2, PLOT_BOTTOM - height, height,
                report_format_time(flow->start_usec, when, sizeof(when)),
                report_format_bytes(flow->bytes_out, bytes, sizeof(bytes)));
    }
    double at = timeline_x(alert->ts_usec, t0, t1);
    fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#c00\"/>"
            "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
            "<text x=\"2\" y=\"%d\">%s</text><text x=\"2\" y=\"%d\">0</text>",
            at, at, PLOT_TOP, PLOT_BOTTOM, PLOT_LEFT, PLOT_BOTTOM + 15,
            report_format_time(t0, left, sizeof(left)), PLOT_RIGHT, PLOT_BOTTOM + 15,
            report_format_time(t1, right, sizeof(right)), PLOT_TOP + 10,
            report_format_bytes(max, top, sizeof(top)), PLOT_BOTTOM);
    if (marks == 0)
        fprintf(out, "<text x=\"%d\" y=\"%d\">no flow records of this series in the input"
                "</text>", PLOT_LEFT + 10, PLOT_TOP + 30);
    fputs("</svg>\n", out);
}

/* Any object field but geo is a breakdown (e.g. the score's parts): shown as a table,
 * whatever its keys, so alerts with or without one render. */
static void html_object_table(FILE *out, const char *title, const json_t *object)
{
    const char *key;
    const json_t *value;
    fputs("<table class=\"breakdown\"><tr><th colspan=\"2\">", out);
    html_text(out, title);
    fputs("</th></tr>\n", out);
    json_object_foreach((json_t *)object, key, value) {
        char *text = json_is_string(value) ? strdup(json_string_value(value)) :
            json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(4));
        fputs("<tr><td>", out);
        html_text(out, key);
        fputs("</td><td>", out);
        html_text(out, text != NULL ? text : "");
        fputs("</td></tr>\n", out);
        free(text);
    }
    fputs("</table>\n", out);
}

static void html_geo(FILE *out, const json_t *geo)
{
    if (!json_is_object(geo))
        return;
    fputs("<tr><th>geo</th><td>", out);
    html_text(out, report_json_string(geo, "country_code"));
    fputs(" ", out);
    html_text(out, report_json_string(geo, "country_name"));
    fputs(" ", out);
    html_text(out, report_json_string(geo, "city"));
    if (json_is_integer(json_object_get(geo, "asn")))
        fprintf(out, " AS%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(geo, "asn")));
    fputs(" ", out);
    html_text(out, report_json_string(geo, "as_org"));
    fputs("</td></tr>\n", out);
}

/* The series' distinct server names (SNI, Host) or HTTP URLs, the first few, as the network
 * sent them: alerts carry a sanitised name, the analyst may need the raw one. */
static void html_series_strings(FILE *out, const struct report *report,
                                const struct report_alert *alert, bool urls)
{
    uint32_t seen[REPORT_MAX_URLS];
    size_t count = 0;
    for (size_t i = 0; i < report->flow_count && count < REPORT_MAX_URLS; i++) {
        const struct report_flow *flow = &report->flows[i];
        uint32_t id = urls ? flow->url : flow->name;
        if (id == 0 || !report_flow_in_series(flow, alert))
            continue;
        bool known = false;
        for (size_t j = 0; j < count && !known; j++)
            known = seen[j] == id;
        if (!known)
            seen[count++] = id;
    }
    if (count == 0)
        return;
    fprintf(out, "<tr><th>%s</th><td>", urls ? "URLs" : "server names");
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "<code class=\"%s\">", urls ? "url" : "server-name");
        html_text(out, strtab_get(&report->strings, seen[i]));
        fputs("</code><br>", out);
    }
    fputs("</td></tr>\n", out);
}

static void html_card(FILE *out, const struct report *report, size_t index)
{
    const struct report_alert *alert = &report->alerts[index];
    const json_t *event = alert->event;
    const char *severity = report_json_string(event, "severity");
    char list[512], when[32];
    fprintf(out, "<section class=\"card sev-");
    html_text(out, severity);
    fprintf(out, "\" id=\"alert-%zu\">\n<h3>", index + 1);
    html_text(out, severity);
    fprintf(out, " &middot; %s UTC &middot; ", report_format_time(alert->ts_usec, when, sizeof(when)));
    html_text(out, report_json_string(event, "src_ip"));
    fputs(" &rarr; ", out);
    html_text(out, report_json_string(event, "dest_name"));
    fputs("</h3>\n<p class=\"sentence\">", out);
    html_text(out, report_json_string(event, "reason"));
    fputs("</p>\n<table class=\"fields\">\n", out);
    char score[32], port[16];
    snprintf(score, sizeof(score), "%.3f", json_number_value(json_object_get(event, "score")));
    snprintf(port, sizeof(port), "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(event, "dest_port")));
    html_row(out, "score", score);
    html_row(out, "techniques", report_alert_list(event, "techniques", list, sizeof(list)));
    html_row(out, "evidence", report_alert_list(event, "evidence", list, sizeof(list)));
    html_row(out, "destination", report_json_string(event, "dest_ip"));
    html_row(out, "port", port);
    html_row(out, "protocol", report_json_string(event, "app_protocol"));
    html_row(out, "first seen", report_json_string(event, "first_seen"));
    html_geo(out, json_object_get(event, "geo"));
    html_series_strings(out, report, alert, false);
    html_series_strings(out, report, alert, true);
    fputs("</table>\n", out);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)event, key, value)
        if (json_is_object(value) && strcmp(key, "geo") != 0)
            html_object_table(out, key, value);
    html_timeline(out, report, alert);
    fputs("</section>\n", out);
}

static void html_document(FILE *out, const struct report *report, const struct report_summary *s)
{
    char first[32], last[32];
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            "<title>exflow report</title><style>%s</style></head><body>\n"
            "<h1>exflow report</h1>\n<p>%zu alerts from %zu flow records, %s .. %s UTC.</p>\n",
            html_style, report->alert_count, report->flow_count,
            report_format_time(report->first_usec, first, sizeof(first)),
            report_format_time(report->last_usec, last, sizeof(last)));
    html_severity_table(out, s);
    html_hosts_table(out, report, s);
    html_new_dests(out, report, s);
    html_skipped(out, report);
    fputs("<h2>Alerts</h2>\n", out);
    if (report->alert_count == 0)
        fputs("<p>none</p>\n", out);
    for (size_t i = 0; i < report->alert_count; i++)
        html_card(out, report, i);
    fputs("</body></html>\n", out);
}

bool report_write_html(const struct report *report, const char *path, char *err, size_t err_len)
{
    struct report_summary summary;
    if (!report_summarize(report, &summary)) {
        snprintf(err, err_len, "out of memory");
        return false;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return false;
    }
    FILE *out = fdopen(fd, "w");
    if (out == NULL) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    html_document(out, report, &summary);
    bool ok = !ferror(out);
    if (fclose(out) != 0)
        ok = false;
    if (!ok)
        snprintf(err, err_len, "%s: write failed", path);
    return ok;
}
