/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * report/: events in, summary and HTML out. Hostile text is escaped, missing and unknown
 * fields are tolerated, bad lines are counted, the summary adds up what the flows say.
 */
#include <stdlib.h>
#include <unistd.h>

#include "../../report/report.h"
#include "unit.h"

#define ADD(report, text) report_add_event(report, text, strlen(text))

static const char flow_a[] =
    "{\"event_type\":\"flow\",\"start\":\"2026-03-09T03:00:00.000000Z\",\"src_ip\":\"10.0.0.1\","
    "\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,\"server_name\":\"a<b>\\\"'.example\","
    "\"bytes_toserver\":300000,\"bytes_toclient\":1000,\"remote_ip_class\":\"public\"}";
static const char flow_b[] =
    "{\"event_type\":\"flow\",\"start\":\"2026-03-09T04:00:00.500000Z\",\"src_ip\":\"10.0.0.1\","
    "\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,\"bytes_toserver\":200000,"
    "\"bytes_toclient\":1000,\"remote_ip_class\":\"public\",\"http_url\":\"/x?<script>\"}";
static const char flow_internal[] =
    "{\"event_type\":\"flow\",\"start\":\"2026-03-09T04:00:00Z\",\"src_ip\":\"10.0.0.2\","
    "\"dest_ip\":\"10.0.0.50\",\"dest_port\":22,\"bytes_toserver\":9000000,"
    "\"remote_ip_class\":\"private\"}";
/* A burst of flow_b's connection: its counters are flow_b's again, not more bytes. */
static const char flow_b_burst[] =
    "{\"event_type\":\"flow\",\"start\":\"2026-03-09T04:00:00.500000Z\",\"src_ip\":\"10.0.0.1\","
    "\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,\"bytes_toserver\":150000,"
    "\"bytes_toclient\":600,\"remote_ip_class\":\"public\",\"end_reason\":\"burst\","
    "\"burst\":{\"seq\":0,\"start\":\"2026-03-09T04:00:00.600000Z\","
    "\"payload_bytes_toserver\":140000,\"payload_bytes_toclient\":300}}";
/* No geo, a breakdown object of unknown shape, an unknown field: all fine. */
static const char alert_a[] =
    "{\"timestamp\":\"2026-03-09T04:00:01Z\",\"event_type\":\"alert\",\"severity\":\"high\","
    "\"score\":0.9,\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,"
    "\"dest_name\":\"a_b_.example\",\"evidence\":[\"periodic\",\"new_destination\"],"
    "\"techniques\":[\"T1029\"],\"period_sec\":3600,\"reason\":\"uploaded <i>it</i> & more\","
    "\"score_breakdown\":{\"periodic\":0.5,\"new<dest>\":0.4},\"future_field\":[1,2]}";

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *text = calloc(1, 1 << 20);
    if (text != NULL)
        text[fread(text, 1, (1 << 20) - 1, f)] = '\0';
    fclose(f);
    return text;
}

static char *render(struct report *report)
{
    char path[] = "/tmp/exflow-test-report-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    close(fd);
    char err[256];
    bool ok = report_write_html(report, path, err, sizeof(err));
    char *html = ok ? read_all(path) : NULL;
    unlink(path);
    return html;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

UNIT_TEST(test_report_escapes_network_text)
{
    struct report *report = report_new();
    ADD(report, flow_a);
    ADD(report, flow_b);
    ADD(report, alert_a);
    char *html = render(report);
    CHECK(html != NULL);
    if (html != NULL) {
        CHECK(strstr(html, "a&lt;b&gt;&quot;&#39;.example") != NULL);
        CHECK(strstr(html, "/x?&lt;script&gt;") != NULL);
        CHECK(strstr(html, "uploaded &lt;i&gt;it&lt;/i&gt; &amp; more") != NULL);
        CHECK(strstr(html, "new&lt;dest&gt;") != NULL);     /* breakdown keys too */
        CHECK_EQ_U(count(html, "<script"), 0);
        CHECK_EQ_U(count(html, "<section class=\"card"), 1);
        CHECK_EQ_U(count(html, "<svg class=\"timeline\""), 1);
        CHECK_EQ_U(count(html, "class=\"mark\""), 2);       /* both connections of the series */
        CHECK(strstr(html, "class=\"grid\"") != NULL);     /* period_sec drew a grid */
    }
    free(html);
    report_free(report);
}

UNIT_TEST(test_report_summary_adds_up)
{
    struct report *report = report_new();
    ADD(report, flow_a);
    ADD(report, flow_b_burst);
    ADD(report, flow_b);
    ADD(report, flow_internal);
    ADD(report, alert_a);
    ADD(report, "{\"event_type\":\"stats\",\"capture\":{\"skipped_truncated_ip\":7,\"frames\":9}}");
    report_add_counter(report, "pcap_dropped", 0);       /* zero: not listed */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    report_write_summary(report, out);
    fclose(out);
    CHECK(strstr(buf, "1 alerts, 3 flow records") != NULL);
    CHECK(strstr(buf, "  high           1") != NULL);
    /* 10.0.0.2's 9 MB went to a private address: not an upload to the outside */
    CHECK(strstr(buf, "10.0.0.2 ") == NULL);
    CHECK(strstr(buf, "500.0 kB") != NULL);             /* 10.0.0.1: 300 kB + 200 kB, the
                                                         * burst record not counted again */
    CHECK(strstr(buf, "skipped_truncated_ip") != NULL);
    CHECK(strstr(buf, "pcap_dropped") == NULL);
    free(buf);
    char *json = report_summary_json(report);
    CHECK(json != NULL && strstr(json, "\"event_type\":\"summary\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"bytes_out\":500000") != NULL);
    free(json);
    report_free(report);
}

UNIT_TEST(test_report_bad_lines)
{
    struct report *report = report_new();
    ADD(report, "not json");
    ADD(report, "[1]");
    ADD(report, "{\"event_type\":\"alert\"}");              /* no fields at all: still a card */
    ADD(report, "{\"event_type\":\"flow\",\"start\":\"garbage\"}");
    CHECK_EQ_U(report_bad_lines(report), 2);
    CHECK_EQ_U(report_alert_count(report), 1);
    char *html = render(report);
    CHECK(html != NULL && count(html, "<svg class=\"timeline\"") == 1);
    free(html);
    report_free(report);
}

UNIT_MAIN("report",
          UNIT_CASE(test_report_escapes_network_text),
          UNIT_CASE(test_report_summary_adds_up),
          UNIT_CASE(test_report_bad_lines))
