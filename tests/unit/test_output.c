/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for output/: event JSON, RFC 5424 and CEF formatting, framing, the spool, and
 * TCP delivery to an in-process collector that goes away and comes back. */
#include "unit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../output/output_internal.h"

#define TS_2024 1704164645123456ULL /* 2024-01-02T03:04:05.123456Z */

static void make_flow(struct flow *flow)
{
    memset(flow, 0, sizeof(*flow));
    flow->id = 42;
    flow->ip_version = 4;
    flow->proto = 6;
    geo_addr_parse("10.1.2.3", flow->orig_addr);
    geo_addr_parse("81.2.69.142", flow->resp_addr);
    flow->orig_port = 51000;
    flow->resp_port = 443;
    flow->start_ts_usec = TS_2024;
    flow->last_ts_usec = TS_2024 + 2500000; /* 2.5 s later */
    flow->record_seq = 1;
    flow->dir[FLOW_DIR_ORIG] = (struct flow_direction_stats){ .packets = 10, .bytes = 5000,
                                                              .payload_bytes = 4200 };
    flow->dir[FLOW_DIR_RESP] = (struct flow_direction_stats){ .packets = 8, .bytes = 900,
                                                              .payload_bytes = 300 };
    flow->tcp_state = TCP_STATE_CLOSED;
    strcpy(flow->labels.master_protocol, "TLS");
    strcpy(flow->labels.app_protocol, "Dropbox");
    strcpy(flow->labels.category, "Cloud");
    strcpy(flow->labels.server_name, "content.dropboxapi.com");
}

static void make_alert(struct alert *alert)
{
    memset(alert, 0, sizeof(*alert));
    alert->id = 7;
    alert->ts_usec = TS_2024;
    alert->first_ts_usec = TS_2024 - 3600ULL * 1000000;
    alert->severity = SEVERITY_HIGH;
    alert->score = 0.87654;
    alert->ip_version = 4;
    geo_addr_parse("10.1.2.3", alert->src_addr);
    geo_addr_parse("81.2.69.142", alert->dest_addr);
    alert->src_port = 51000;
    alert->dest_port = 443;
    alert->proto = 6;
    strcpy(alert->dest_name, "content.dropboxapi.com");
    strcpy(alert->app_protocol, "Dropbox");
    alert->bytes_out = 52428800;
    alert->bytes_in = 20480;
    alert->pcr = (52428800.0 - 20480.0) / (52428800.0 + 20480.0);
    alert->connections = 6;
    alert->period_sec = 300.0004;
    alert->period_mad_sec = 1.5;
    alert->beacon_score = 0.9;
    alert->baseline_ratio = 0;
    alert->first_seen_age_sec = -1;
    alert->evidence = EVIDENCE_CLOUD_STORAGE | EVIDENCE_PERIODIC;
    alert->flow_id = 42;
    alert->techniques[0] = "T1567.002";
    alert->techniques[1] = "T1029";
    alert->technique_count = 2;
    strcpy(alert->reason, "10.1.2.3 sent 50 MiB to \"content.dropboxapi.com\" every 5 min");
}

/* A fixed run id and sensor: event ids are then those Python's uuid.uuid5 gives. */
#define TEST_RUN_ID "00000000-0000-4000-8000-000000000000"
static struct event_identity test_identity(void)
{
    struct event_identity identity;
    char err[256];
    CHECK(event_identity_init(&identity, "sensor-1", TEST_RUN_ID, err, sizeof(err)));
    return identity;
}

UNIT_TEST(test_time_and_proto)
{
    char buf[32];
    CHECK_STR(output_format_time(TS_2024, buf, sizeof(buf)), "2024-01-02T03:04:05.123456Z");
    CHECK_STR(output_format_time(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000000Z");
    /* The text of recent seconds is cached: repeats, alternations and cache slot clashes
     * (seconds two apart) must all give what gmtime_r + strftime give. */
    static const uint64_t seconds[] = { 1704164645, 1704164645, 1704164646, 1704164645,
                                        1704164647, 1704164645, 951782400 /* 2000-02-29 */,
                                        4107542399 /* 2100-02-28T23:59:59 */, 1704164645,
                                        253402300799ULL /* 9999-12-31T23:59:59 */ };
    for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
        uint64_t usec = (uint64_t)(i * 104729) % 1000000;
        time_t t = (time_t)seconds[i];
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64], date[32];
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "%s.%06uZ", date, (unsigned)usec);
        CHECK_STR(output_format_time(seconds[i] * 1000000 + usec, buf, sizeof(buf)), want);
    }
    /* Past year 9999, and into a buffer too short for the whole text: cut, never overrun. */
    CHECK_STR(output_format_time(253402300800ULL * 1000000, buf, sizeof(buf)),
              "10000-01-01T00:00:00.000000Z");
    char small[12];
    CHECK_STR(output_format_time(TS_2024, small, sizeof(small)), "2024-01-02T");
    CHECK_STR(output_proto_name(6, buf, sizeof(buf)), "TCP");
    CHECK_STR(output_proto_name(17, buf, sizeof(buf)), "UDP");
    CHECK_STR(output_proto_name(1, buf, sizeof(buf)), "ICMP");
    CHECK_STR(output_proto_name(58, buf, sizeof(buf)), "ICMPv6");
    CHECK_STR(output_proto_name(132, buf, sizeof(buf)), "132");
}

UNIT_TEST(test_flow_json)
{
    struct output_config config;
    output_config_defaults(&config);
    struct flow flow;
    make_flow(&flow);
    struct event_identity identity = test_identity();
    char *json = output_flow_json(&config, &identity, &flow, FLOW_END_TCP_CLOSE);
    CHECK_STR(json,
        "{\"timestamp\":\"2024-01-02T03:04:07.623456Z\",\"event_type\":\"flow\","
        "\"schema_version\":\"1.1\",\"sensor\":\"sensor-1\","
        "\"event_id\":\"62191427-3759-539b-a08e-f0f26c9d4e1e\",\"flow_id\":42,"
        "\"record_seq\":1,\"community_id\":\"1:II7+pVkERo9UDtqhaWFQ8qOr0so=\",\"start\":\"2024-01-02T03:04:05.123456Z\","
        "\"end\":\"2024-01-02T03:04:07.623456Z\",\"duration\":2.5,"
        "\"src_ip\":\"10.1.2.3\",\"src_port\":51000,\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,"
        "\"proto\":\"TCP\",\"master_protocol\":\"TLS\",\"app_protocol\":\"Dropbox\","
        "\"category\":\"Cloud\",\"server_name\":\"content.dropboxapi.com\","
        "\"pkts_toserver\":10,\"pkts_toclient\":8,\"bytes_toserver\":5000,\"bytes_toclient\":900,"
        "\"payload_bytes_toserver\":4200,\"payload_bytes_toclient\":300,"
        "\"tcp_state\":\"closed\",\"end_reason\":\"tcp_close\",\"remote_ip_class\":\"public\"}");
    free(json);

    /* UDP, VLAN, HTTP labels, hostile bytes, IPv6, public originator, with geo. */
    char err[256];
    config.geo = geo_open("geo/testdata/GeoIP2-City-Test.mmdb", "geo/testdata/GeoLite2-ASN-Test.mmdb",
                          err, sizeof(err));
    CHECK(config.geo != NULL);
    memset(&flow.labels, 0, sizeof(flow.labels));
    flow.proto = 17;
    flow.vlan = 12;
    flow.record_seq = 0;
    flow.start_ts_usec = flow.last_ts_usec = TS_2024;
    strcpy(flow.labels.http_method, "POST");
    strcpy(flow.labels.http_url, "/up?\"x\"\\\n\xff\xc3\xa9");
    flow.labels.http_status = 201;
    strcpy(flow.labels.http_content_type, "application/octet-stream");
    strcpy(flow.labels.ssh_client, "SSH-2.0-OpenSSH_9.2");
    /* Remote is the originator when only it is public. */
    geo_addr_parse("81.2.69.142", flow.orig_addr);
    geo_addr_parse("192.168.1.5", flow.resp_addr);
    json = output_flow_json(&config, &identity, &flow, FLOW_END_IDLE);
    CHECK_STR(json,
        "{\"timestamp\":\"2024-01-02T03:04:05.123456Z\",\"event_type\":\"flow\","
        "\"schema_version\":\"1.1\",\"sensor\":\"sensor-1\","
        "\"event_id\":\"ffab9c7e-03e5-53f5-9809-2c4390dd6d10\",\"flow_id\":42,"
        "\"record_seq\":0,\"community_id\":\"1:ysYYV5J8720gOg+eTc7xdintLTM=\",\"start\":\"2024-01-02T03:04:05.123456Z\","
        "\"end\":\"2024-01-02T03:04:05.123456Z\",\"duration\":0.0,\"vlan\":12,"
        "\"src_ip\":\"81.2.69.142\",\"src_port\":51000,\"dest_ip\":\"192.168.1.5\",\"dest_port\":443,"
        "\"proto\":\"UDP\",\"http_method\":\"POST\",\"http_url\":\"/up?\\\"x\\\"\\\\\\n?\\u00E9\","
        "\"http_status\":201,\"http_content_type\":\"application/octet-stream\","
        "\"ssh_client\":\"SSH-2.0-OpenSSH_9.2\","
        "\"pkts_toserver\":10,\"pkts_toclient\":8,\"bytes_toserver\":5000,\"bytes_toclient\":900,"
        "\"payload_bytes_toserver\":4200,\"payload_bytes_toclient\":300,"
        "\"end_reason\":\"idle\",\"geo\":{\"country_code\":\"GB\",\"country_name\":\"United Kingdom\","
        "\"city\":\"London\"},\"remote_ip_class\":\"public\"}");
    free(json);

    /* Neither side public: no geo, the responder's class. IPv6 addresses. */
    flow.ip_version = 6;
    geo_addr_parse("fd00::1", flow.orig_addr);
    geo_addr_parse("2001:db8::2", flow.resp_addr);
    flow.proto = 58;
    memset(&flow.labels, 0, sizeof(flow.labels));
    json = output_flow_json(&config, &identity, &flow, FLOW_END_EOF);
    /* ICMP flows carry no type and code, which the Community ID needs: none rather than wrong. */
    CHECK(json != NULL && strstr(json, "community_id") == NULL);
    CHECK(json != NULL && strstr(json, "\"src_ip\":\"fd00::1\",\"src_port\":51000,"
                                       "\"dest_ip\":\"2001:db8::2\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"proto\":\"ICMPv6\"") != NULL);
    CHECK(json != NULL && strstr(json, "tcp_state") == NULL);
    CHECK(json != NULL && strstr(json, "\"geo\"") == NULL);
    CHECK(json != NULL && strstr(json, "\"end_reason\":\"eof\",\"remote_ip_class\":\"documentation\"}"));
    free(json);
    geo_close(config.geo);
}

/* Upload bursts of a keep-alive connection: the burst record and the flow's later records
 * carry the burst, each with an event id of its own; the record a burst ends with has the
 * same record_seq as the one after it. */
UNIT_TEST(test_flow_burst_json)
{
    struct output_config config;
    output_config_defaults(&config);
    struct flow flow;
    make_flow(&flow);
    struct event_identity identity = test_identity();
    char *plain = output_flow_json(&config, &identity, &flow, FLOW_END_TCP_CLOSE);
    CHECK(plain != NULL && strstr(plain, "\"burst\"") == NULL);

    flow.burst.seq = 0;
    flow.burst.start_ts_usec = TS_2024 + 1000000;
    flow.burst.payload_bytes[FLOW_DIR_ORIG] = 4100;
    flow.burst.payload_bytes[FLOW_DIR_RESP] = 250;
    char *first = output_flow_json(&config, &identity, &flow, FLOW_END_BURST);
    CHECK(first != NULL && strstr(first, "\"end_reason\":\"burst\",\"remote_ip_class\":\"public\","
                                         "\"burst\":{\"seq\":0,\"start\":\"2024-01-02T03:04:06.123456Z\","
                                         "\"payload_bytes_toserver\":4100,"
                                         "\"payload_bytes_toclient\":250}}") != NULL);
    flow.burst.seq = 1;
    char *second = output_flow_json(&config, &identity, &flow, FLOW_END_BURST);
    char *last = output_flow_json(&config, &identity, &flow, FLOW_END_TCP_CLOSE);
    CHECK(last != NULL && strstr(last, "\"end_reason\":\"tcp_close\",\"remote_ip_class\":\"public\","
                                       "\"burst\":{\"seq\":1,") != NULL);
    /* The final record keeps the event id a flow without bursts has. */
    CHECK(plain != NULL && last != NULL && strncmp(plain, last, 140) == 0);
    const char *records[] = { first, second, last };
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            CHECK(records[i] != NULL && records[j] != NULL &&
                  strncmp(strstr(records[i], "event_id"), strstr(records[j], "event_id"), 50) != 0);
    free(plain);
    free(first);
    free(second);
    free(last);
}

UNIT_TEST(test_alert_json)
{
    struct output_config config;
    output_config_defaults(&config);
    struct alert alert;
    make_alert(&alert);
    struct event_identity identity = test_identity();
    struct event_ids ids;
    output_alert_ids(&identity, &alert, &ids);
    char *json = output_alert_json(&identity, &ids, &alert);
    CHECK_STR(json,
        "{\"timestamp\":\"2024-01-02T03:04:05.123456Z\",\"event_type\":\"alert\","
        "\"schema_version\":\"1.1\",\"sensor\":\"sensor-1\","
        "\"event_id\":\"d9e03b64-10ad-5570-b775-53c9d944bc71\",\"alert_id\":7,"
        "\"flow_id\":42,\"community_id\":\"1:II7+pVkERo9UDtqhaWFQ8qOr0so=\",\"severity\":\"high\","
        "\"score\":0.877,\"is_update\":false,"
        "\"src_ip\":\"10.1.2.3\",\"src_port\":51000,\"dest_ip\":\"81.2.69.142\",\"dest_port\":443,\"proto\":\"TCP\","
        "\"dest_name\":\"content.dropboxapi.com\",\"app_protocol\":\"Dropbox\","
        "\"techniques\":[\"T1567.002\",\"T1029\"],\"evidence\":[\"cloud_storage\",\"periodic\"],"
        "\"bytes_out\":52428800,\"bytes_in\":20480,\"pcr\":0.999,\"connections\":6,"
        "\"period_sec\":300.0,\"period_mad_sec\":1.5,\"beacon_score\":0.9,\"baseline_ratio\":0.0,"
        "\"first_seen_age_sec\":-1.0,\"first_seen\":\"2024-01-02T02:04:05.123456Z\","
        "\"reason\":\"10.1.2.3 sent 50 MiB to \\\"content.dropboxapi.com\\\" every 5 min\"}");
    free(json);

    /* Geo from the alert itself (detect/ filled it). */
    alert.dest_geo.found = true;
    strcpy(alert.dest_geo.country_code, "GB");
    alert.dest_geo.asn = 64500;
    strcpy(alert.dest_geo.as_org, "Example Org");
    alert.is_update = true;
    alert.technique_count = 0;
    alert.evidence = 0;
    json = output_alert_json(&identity, &ids, &alert);
    CHECK(json != NULL && strstr(json, "\"is_update\":true") != NULL);
    CHECK(json != NULL && strstr(json, "\"techniques\":[],\"evidence\":[]") != NULL);
    CHECK(json != NULL && strstr(json, ",\"geo\":{\"country_code\":\"GB\",\"asn\":64500,"
                                       "\"as_org\":\"Example Org\"}}") != NULL);
    free(json);
}

UNIT_TEST(test_syslog_format)
{
    char buf[1024];
    size_t len = 0;
    buf[0] = '\0';
    CHECK(syslog_append_param(buf, sizeof(buf), &len, "k", "a\"b\\c]d=e"));
    CHECK_STR(buf, " k=\"a\\\"b\\\\c\\]d=e\"");
    CHECK_EQ_U(len, strlen(buf));
    /* Too small: nothing appended, false. */
    char small[8] = "";
    size_t small_len = 0;
    CHECK(!syslog_append_param(small, sizeof(small), &small_len, "key", "long value"));
    CHECK_EQ_U(small_len, 0);

    struct syslog_header header = { .facility = 13, .severity = 3, .ts_usec = TS_2024,
                                    .hostname = "sensor-1", .procid = 1234, .msgid = "ALERT" };
    len = syslog_format(buf, sizeof(buf), &header, "[exflow@32473 a=\"1\"]", "{\"x\":1}");
    CHECK_STR(buf, "<107>1 2024-01-02T03:04:05.123456Z sensor-1 exflow 1234 ALERT "
                   "[exflow@32473 a=\"1\"] {\"x\":1}");
    CHECK_EQ_U(len, strlen(buf));
    /* No hostname, no SD, non-ASCII body: NILVALUEs and a BOM (RFC 5424 6.4). */
    header.hostname = "";
    header.facility = 4;
    header.severity = 2;
    len = syslog_format(buf, sizeof(buf), &header, NULL, "caf\xc3\xa9");
    CHECK_STR(buf, "<34>1 2024-01-02T03:04:05.123456Z - exflow 1234 ALERT - \xef\xbb\xbf" "caf\xc3\xa9");
    /* A hostname with spaces keeps only PRINTUSASCII. */
    header.hostname = "my host";
    syslog_format(buf, sizeof(buf), &header, NULL, NULL);
    CHECK_STR(buf, "<34>1 2024-01-02T03:04:05.123456Z myhost exflow 1234 ALERT -");
    CHECK_EQ_U(syslog_format(buf, 20, &header, NULL, "x"), 0);

    CHECK_EQ_U(syslog_severity(SEVERITY_CRITICAL), 2);
    CHECK_EQ_U(syslog_severity(SEVERITY_HIGH), 3);
    CHECK_EQ_U(syslog_severity(SEVERITY_MEDIUM), 4);
    CHECK_EQ_U(syslog_severity(SEVERITY_LOW), 5);

    /* The mapping is configurable for SIEMs that rank differently. */
    int map[SEVERITY_CRITICAL + 1];
    char err[256];
    CHECK(syslog_parse_severities(NULL, map, err, sizeof(err)));
    CHECK_EQ_U(map[SEVERITY_LOW], 5);
    CHECK_EQ_U(map[SEVERITY_CRITICAL], 2);
    CHECK(syslog_parse_severities("6,5,1,0", map, err, sizeof(err)));
    CHECK_EQ_U(map[SEVERITY_LOW], 6);
    CHECK_EQ_U(map[SEVERITY_MEDIUM], 5);
    CHECK_EQ_U(map[SEVERITY_HIGH], 1);
    CHECK_EQ_U(map[SEVERITY_CRITICAL], 0);
    CHECK(!syslog_parse_severities("6,5,1", map, err, sizeof(err)));
    CHECK(strstr(err, "--syslog-severities") != NULL);
    CHECK(!syslog_parse_severities("6,5,1,8", map, err, sizeof(err)));
    CHECK(!syslog_parse_severities("6,5,1,0,", map, err, sizeof(err)));
}

UNIT_TEST(test_syslog_alert_sd_and_cef)
{
    struct alert alert;
    make_alert(&alert);
    strcpy(alert.dest_name, "evil]\"host\\\n");
    char buf[4096];
    CHECK(syslog_alert_sd(buf, sizeof(buf), &alert) > 0);
    CHECK_STR(buf, "[exflow@32473 alert_id=\"7\" severity=\"high\" score=\"0.877\" "
                   "src_ip=\"10.1.2.3\" dest_ip=\"81.2.69.142\" dest_port=\"443\" proto=\"TCP\" "
                   "dest_name=\"evil\\]\\\"host\\\\?\" app_protocol=\"Dropbox\" "
                   "techniques=\"T1567.002,T1029\" evidence=\"cloud_storage,periodic\" "
                   "bytes_out=\"52428800\" connections=\"6\"]");
    CHECK_EQ_U(syslog_alert_sd(buf, 64, &alert), 0);

    strcpy(alert.dest_name, "a=b|c");
    strcpy(alert.reason, "line1\nx=y \\ end");
    struct event_identity identity = test_identity();
    struct event_ids ids;
    output_alert_ids(&identity, &alert, &ids);
    CHECK(syslog_alert_cef(buf, sizeof(buf), &alert, &ids, "sensor-1") > 0);
    CHECK_STR(buf, "CEF:0|exflow|exflow|" EXFLOW_VERSION "|T1567.002|Exfiltration to cloud storage|8|"
                   "rt=1704164645123 externalId=7 dvchost=sensor-1 src=10.1.2.3 spt=51000 dst=81.2.69.142 dpt=443 proto=TCP "
                   "dhost=a\\=b|c app=Dropbox out=52428800 in=20480 cnt=6 cs1Label=techniques "
                   "cs1=T1567.002,T1029 cs2Label=evidence cs2=cloud_storage,periodic "
                   "cs3Label=communityId cs3=1:II7+pVkERo9UDtqhaWFQ8qOr0so\\= "
                   "cs4Label=eventId cs4=d9e03b64-10ad-5570-b775-53c9d944bc71 "
                   "cn1Label=score_milli cn1=877 "
                   "msg=line1\\nx\\=y \\\\ end");
}

/* CEF: the class is the alert's main technique, whatever order detect/ listed them in, and
 * UTF-8 text (the reason's "±") arrives intact while broken bytes and controls do not. */
UNIT_TEST(test_cef_class_and_utf8)
{
    struct alert alert;
    make_alert(&alert);
    char buf[4096];
    static const struct { const char *techniques[4]; int count; const char *main, *name; } cases[] = {
        { { "T1020" }, 1, "T1020", "Automated exfiltration" },
        { { "T1020", "T1029" }, 2, "T1029", "Scheduled transfer" },
        { { "T1020", "T1029", "T1048.002" }, 3, "T1048.002",
          "Exfiltration over asymmetric encrypted non-C2 protocol" },
        { { "T1020", "T1048.003" }, 2, "T1048.003", "Exfiltration over unencrypted non-C2 protocol" },
        { { "T1020", "T1029", "T1041" }, 3, "T1041", "Exfiltration over C2 channel" },
        { { "T1020", "T1029", "T1567.002" }, 3, "T1567.002", "Exfiltration to cloud storage" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(alert.techniques, 0, sizeof(alert.techniques));
        for (int t = 0; t < cases[i].count; t++)
            alert.techniques[t] = cases[i].techniques[t];
        alert.technique_count = cases[i].count;
        CHECK_STR(syslog_main_technique(&alert), cases[i].main);
        CHECK(syslog_alert_cef(buf, sizeof(buf), &alert, NULL, NULL) > 0);
        char want[256];
        snprintf(want, sizeof(want), "|%s|%s|8|", cases[i].main, cases[i].name);
        CHECK(strstr(buf, want) != NULL);
    }
    alert.is_update = true;
    CHECK(syslog_alert_cef(buf, sizeof(buf), &alert, NULL, NULL) > 0);
    CHECK(strstr(buf, "|Exfiltration to cloud storage (update)|") != NULL);

    /* The reason detect/ writes, with U+00B1, and a host name with an accent, invalid UTF-8
     * (a lone continuation byte, an overlong '/'), a tab and DEL. */
    strcpy(alert.reason, "every 60.0 min (\xc2\xb1" "1.0 s)");
    strcpy(alert.dest_name, "caf\xc3\xa9\x80.\xc0\xaf\t\x7f.example");
    CHECK(syslog_alert_cef(buf, sizeof(buf), &alert, NULL, NULL) > 0);
    CHECK(strstr(buf, " msg=every 60.0 min (\xc2\xb1" "1.0 s)") != NULL);
    CHECK(strstr(buf, " dhost=caf\xc3\xa9?.????.example ") != NULL);
    /* A whole RFC 5424 message with a UTF-8 body carries the BOM (6.4). */
    struct syslog_header header = { .facility = 13, .severity = 3, .ts_usec = TS_2024,
                                    .hostname = "h", .procid = 1, .msgid = "ALERT" };
    char message[8192];
    CHECK(syslog_format(message, sizeof(message), &header, NULL, buf) > 0);
    CHECK(strstr(message, "ALERT - \xef\xbb\xbf" "CEF:0|") != NULL);
    /* Too small a buffer: 0, never a cut message. */
    CHECK_EQ_U(syslog_alert_cef(buf, 100, &alert, NULL, NULL), 0);
}

/* The Community ID spec's published vectors (corelight/community-id-spec,
 * baseline/baseline_deflt.json, seed 0): both directions of each connection give one id. */
UNIT_TEST(test_community_id_vectors)
{
    static const struct {
        uint8_t proto;
        const char *saddr, *daddr;
        uint16_t sport, dport;
        const char *id;
    } vectors[] = {
        { 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
        { 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=" },
        { 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=" },
        { 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck=" },
        { 58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=" },
        { 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0=" },
        { 58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=" },
        { 58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=" },
        { 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=" },
        { 58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00=" },
        { 1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
        { 1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=" },
        { 1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=" },
        { 6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=" },
        { 6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=" },
        { 132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=" },
        { 132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=" },
        { 6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
        { 6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=" },
        { 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
        { 17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=" },
        { 46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=" },
        { 46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=" },
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t saddr[GEO_ADDR_LEN] = { 0 }, daddr[GEO_ADDR_LEN] = { 0 };
        int version = geo_addr_parse(vectors[i].saddr, saddr);
        CHECK(version != 0 && geo_addr_parse(vectors[i].daddr, daddr) == version);
        char id[32];
        CHECK_EQ_U(community_id_v1(id, sizeof(id), 0, version, saddr, daddr, vectors[i].proto,
                                   vectors[i].sport, vectors[i].dport), 30);
        CHECK_STR(id, vectors[i].id);
    }
    /* Too small a buffer: 0, nothing half-written past it. */
    uint8_t a[GEO_ADDR_LEN] = { 10, 0, 0, 1 }, b[GEO_ADDR_LEN] = { 10, 0, 0, 2 };
    char small[30];
    CHECK_EQ_U(community_id_v1(small, sizeof(small), 0, 4, a, b, 6, 1, 2), 0);
}

/* Event ids are RFC 9562 version 5 UUIDs under the run id: the same run id gives the same
 * ids, another run id other ones; a random run id is a version 4 UUID. */
UNIT_TEST(test_event_ids)
{
    struct event_identity fixed = test_identity();
    CHECK_STR(fixed.run_id_text, TEST_RUN_ID);
    char id[40], again[40];
    event_id_format(&fixed, "stats/1", id, sizeof(id));
    CHECK_STR(id, "10342466-bfa5-5c4e-8677-ef49c4500088"); /* uuid.uuid5(run id, "stats/1") */

    struct event_identity one, two;
    char err[256];
    CHECK(event_identity_init(&one, NULL, NULL, err, sizeof(err)));
    CHECK(event_identity_init(&two, NULL, NULL, err, sizeof(err)));
    CHECK(strcmp(one.run_id_text, two.run_id_text) != 0);
    CHECK(one.run_id_text[14] == '4' && strchr("89ab", one.run_id_text[19]) != NULL);
    CHECK(one.sensor[0] != '\0'); /* the host name */
    event_id_format(&one, "alert/1", id, sizeof(id));
    event_id_format(&two, "alert/1", again, sizeof(again));
    CHECK(strcmp(id, again) != 0);
    CHECK(strlen(id) == 36 && id[14] == '5' && strchr("89ab", id[19]) != NULL);

    /* Bad options name themselves. */
    CHECK(!event_identity_init(&one, NULL, "not-a-uuid", err, sizeof(err)));
    CHECK(strstr(err, "--run-id") != NULL);
    CHECK(!event_identity_init(&one, NULL, "00000000-0000-4000-8000-00000000000g", err, sizeof(err)));
    CHECK(!event_identity_init(&one, NULL, "00000000-0000-4000-8000-0000000000000", err, sizeof(err)));
    CHECK(!event_identity_init(&one, "", NULL, err, sizeof(err)));
    CHECK(strstr(err, "--sensor-name") != NULL);
    CHECK(!event_identity_init(&one, "edge\n1", NULL, err, sizeof(err)));
    CHECK(!event_identity_init(&one, "edge\xff", NULL, err, sizeof(err)));
    CHECK(event_identity_init(&one, "capteur-\xc3\xa9t\xc3\xa9", NULL, err, sizeof(err)));
    /* Upper-case hex is read, lower-case written. */
    CHECK(event_identity_init(&one, "s", "ABCDEF00-0000-4000-8000-000000000000", err, sizeof(err)));
    CHECK_STR(one.run_id_text, "abcdef00-0000-4000-8000-000000000000");
}

static void make_run_stats(struct output_run_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->uptime_sec = 61;
    stats->packets = 1000;
    stats->bytes = 640000;
    stats->decoded = 990;
    stats->skipped = 10;
    stats->pcap_dropped = 3;
    stats->flows_active = 12;
    stats->detect.alerts = 2;
    stats->detect.findings = 7;
    stats->output.alerts_written = 2;
    stats->output.syslog_queue_frames = 5;
    stats->output.syslog_spool_bytes = 4096;
    stats->max_rss_kib = 2048;
    stats->cpu_workers_sec = 1.25;
}

UNIT_TEST(test_stats_json)
{
    struct event_identity identity = test_identity();
    struct output_run_stats stats;
    make_run_stats(&stats);
    char *json = output_stats_json(&identity, 1, &stats);
    CHECK(json != NULL && strstr(json, "\"event_type\":\"stats\",\"schema_version\":\"1.1\","
                                       "\"sensor\":\"sensor-1\",\"event_id\":"
                                       "\"10342466-bfa5-5c4e-8677-ef49c4500088\",\"run_id\":\""
                                       TEST_RUN_ID "\",\"uptime_sec\":61,") != NULL);
    CHECK(json != NULL && strstr(json, "\"capture\":{\"packets\":1000,\"bytes\":640000,"
                                       "\"decoded\":990,\"skipped\":10,") != NULL);
    CHECK(json != NULL && strstr(json, "\"syslog_queue_frames\":5,\"syslog_spool_bytes\":4096,")
                          != NULL);
    CHECK(json != NULL && strstr(json, "\"workers_sec\":1.25,") != NULL);
    CHECK(json != NULL && strstr(json, "\"findings\":7,") != NULL);
    CHECK(json != NULL && strstr(json, "\"alerts\":2}") != NULL);
    CHECK(json != NULL && strstr(json, "\"max_rss_kib\":2048}") != NULL);
    free(json);
}

UNIT_TEST(test_metrics_file)
{
    char dir[] = "/tmp/exflow-metrics-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/exflow.prom", dir);
    struct output_run_stats stats;
    make_run_stats(&stats);
    CHECK(output_write_metrics(path, "sensor \"1\"", &stats, err, sizeof(err)));
    stats.packets = 2000;
    CHECK(output_write_metrics(path, "sensor \"1\"", &stats, err, sizeof(err)));
    FILE *file = fopen(path, "r");
    CHECK(file != NULL);
    char text[16384] = "";
    size_t len = file ? fread(text, 1, sizeof(text) - 1, file) : 0;
    text[len] = '\0';
    if (file)
        fclose(file);
    CHECK(strstr(text, "# TYPE exflow_packets_total counter\n"
                       "exflow_packets_total{sensor=\"sensor \\\"1\\\"\"} 2000\n") != NULL);
    CHECK(strstr(text, "exflow_syslog_queue_alerts{sensor=\"sensor \\\"1\\\"\"} 5\n") != NULL);
    CHECK(strstr(text, "exflow_cpu_seconds_total{sensor=\"sensor \\\"1\\\"\",stage=\"workers\"} 1.250\n")
          != NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    /* Renamed into place: no temporary file is left behind. */
    char command[256];
    snprintf(command, sizeof(command), "test $(ls %s | wc -l) -eq 1", dir);
    CHECK(system(command) == 0);
    /* A folder that does not exist: an error naming the option, no crash. */
    snprintf(path, sizeof(path), "%s/missing/exflow.prom", dir);
    CHECK(!output_write_metrics(path, "s", &stats, err, sizeof(err)));
    CHECK(strstr(err, "--metrics-file") != NULL);
    snprintf(command, sizeof(command), "rm -rf %s", dir);
    CHECK(system(command) == 0);
}

UNIT_TEST(test_frame)
{
    char buf[64];
    CHECK_EQ_U(syslog_frame(buf, sizeof(buf), "hello", 5), 7);
    CHECK(memcmp(buf, "5 hello", 7) == 0);
    CHECK_EQ_U(syslog_frame(buf, 6, "hello", 5), 0);
    char big[200];
    memset(big, 'x', sizeof(big));
    char framed[256];
    CHECK_EQ_U(syslog_frame(framed, sizeof(framed), big, sizeof(big)), 204);
    CHECK(memcmp(framed, "200 x", 5) == 0);
}

static char *make_temp_dir(void)
{
    char template[] = "/tmp/exflow-test-output-XXXXXX";
    char *dir = mkdtemp(template);
    return dir ? strdup(dir) : NULL;
}

static void remove_dir(const char *dir)
{
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
}

/* The wire bytes of every pending frame, as the sink would send them, into out (a string). */
static void read_pending(struct spool *spool, char *out, size_t cap)
{
    static char buf[SPOOL_MAX_RECORD];
    uint64_t next = 0;
    long n = spool_read_frames(spool, spool->delivered, buf, sizeof(buf), 0, &next);
    CHECK(n >= 0 && (size_t)n < cap);
    CHECK_EQ_U(next, spool->size);
    n = n < 0 || (size_t)n >= cap ? 0 : n;
    memcpy(out, buf, (size_t)n);
    out[n] = '\0';
}

UNIT_TEST(test_spool_crc32c)
{
    /* RFC 3720 B.4 and the usual check value of CRC-32C. */
    CHECK_EQ_U(spool_crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = { 0 };
    CHECK_EQ_U(spool_crc32c(zeros, sizeof(zeros)), 0x8A9136AAu);
}

UNIT_TEST(test_spool_replay_order)
{
    char *dir = make_temp_dir();
    char err[512];
    struct spool spool;
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK(spool_append(&spool, "5 first", 7) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "6 second", 8) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "5 third", 7) == SPOOL_APPEND_OK);
    CHECK_EQ_U(spool_pending_frames(&spool), 3);
    CHECK_EQ_U(spool_pending_bytes(&spool), 22 + 3 * SPOOL_CRC_LEN);
    /* Half of the second frame's wire bytes acknowledged: only the first is delivered. */
    uint64_t used = 0;
    CHECK_EQ_U(spool_ack_wire(&spool, 11, spool.size, &used), 1);
    CHECK_EQ_U(used, 7);
    CHECK_EQ_U(spool.delivered, 7 + SPOOL_CRC_LEN);
    CHECK_EQ_U(spool_pending_frames(&spool), 2);
    CHECK_EQ_U(spool_frames_touched(&spool, 4), 1);
    CHECK_EQ_U(spool_frames_touched(&spool, 9), 2);
    CHECK(spool_checkpoint(&spool));

    /* A second exflow may not use the same spool. */
    struct spool other;
    CHECK(!spool_open(&other, dir, 1 << 20, err, sizeof(err)));
    CHECK(strstr(err, "in use") != NULL);
    spool_close(&spool);

    /* Reopen: the undelivered frames come back, in order, without their checksums. */
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 2);
    char text[64];
    read_pending(&spool, text, sizeof(text));
    CHECK_STR(text, "6 second5 third");
    CHECK(spool_append(&spool, "6 fourth", 8) == SPOOL_APPEND_OK);
    /* Everything delivered: the checkpoint starts a fresh, empty file. */
    spool_mark_delivered(&spool, spool.size);
    CHECK_EQ_U(spool_pending_frames(&spool), 0);
    CHECK(spool_checkpoint(&spool));
    CHECK(spool_append(&spool, "5 fifth", 7) == SPOOL_APPEND_OK);
    read_pending(&spool, text, sizeof(text));
    CHECK_STR(text, "5 fifth");
    spool_close(&spool);

    /* A torn record at the end (a crash mid-write) is cut; the whole ones stay. */
    char path[512];
    snprintf(path, sizeof(path), "%s/exflow-syslog.spool", dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "\1\2\3\0049 sixt", 10) == 10);
    close(fd);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 1);
    read_pending(&spool, text, sizeof(text));
    CHECK_STR(text, "5 fifth");
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 16 + SPOOL_CRC_LEN + 7);
    spool_close(&spool);

    /* Not a spool: refused, not overwritten. */
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "this is not a spool file", 24) == 24);
    close(fd);
    CHECK(!spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK(strstr(err, "not an exflow syslog spool") != NULL);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_spool_corrupt_frame_skipped)
{
    /* A flipped byte inside the second of three frames: that frame is never sent, it is
     * counted, and the frames around it still go out and count as delivered. */
    char *dir = make_temp_dir();
    char err[512], path[512], text[64];
    struct spool spool;
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK(spool_append(&spool, "5 first", 7) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "6 second", 8) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "5 third", 7) == SPOOL_APPEND_OK);
    spool_close(&spool);
    snprintf(path, sizeof(path), "%s/exflow-syslog.spool", dir);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    /* header 16, record 1 is 11 bytes, record 2's frame starts 4 bytes in: 's' of "second" */
    CHECK(pwrite(fd, "S", 1, 16 + 11 + 4 + 2) == 1);
    close(fd);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 3);
    read_pending(&spool, text, sizeof(text));
    CHECK_STR(text, "5 first5 third");
    CHECK_EQ_U(spool.corrupt_frames, 1);
    /* Reading again does not count it twice. */
    read_pending(&spool, text, sizeof(text));
    CHECK_EQ_U(spool.corrupt_frames, 1);
    /* The 14 wire bytes acknowledged: both good frames delivered, the bad one dropped. */
    uint64_t used = 0;
    CHECK_EQ_U(spool_ack_wire(&spool, 14, spool.size, &used), 2);
    CHECK_EQ_U(used, 14);
    CHECK_EQ_U(spool_pending_frames(&spool), 0);
    spool_close(&spool);

    /* A spool of an older exflow (no checksums) is kept aside, and a new one started. */
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "EXFSPOOL\0\0\0\0\0\0\0\0015 first", 23) == 23);
    close(fd);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 0);
    spool_close(&spool);
    char aside[600];
    snprintf(aside, sizeof(aside), "%s.v1", path);
    struct stat st;
    CHECK(stat(aside, &st) == 0 && st.st_size == 23);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_spool_bad_offset_resends)
{
    /* An offset file that does not fit the spool (edited, or from a crash between compaction
     * and its rewrite) must never skip frames: everything is pending again. */
    char *dir = make_temp_dir();
    char err[512], path[512];
    struct spool spool;
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK(spool_append(&spool, "5 first", 7) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "6 second", 8) == SPOOL_APPEND_OK);
    spool_mark_delivered(&spool, 11);
    CHECK(spool_checkpoint(&spool));
    uint64_t generation = spool.generation;
    spool_close(&spool);

    /* Inside a frame, past the end, unreadable. */
    static const char *const offsets[] = { "3", "999", "garbage" };
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        snprintf(path, sizeof(path), "%s/exflow-syslog.offset", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fprintf(f, "%llu %s\n", (unsigned long long)generation, offsets[i]);
        fclose(f);
        CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
        CHECK_EQ_U(spool_pending_frames(&spool), 2);
        CHECK_EQ_U(spool.delivered, 0);
        spool_close(&spool);
    }
    /* The right generation and a frame boundary: honoured. */
    FILE *f = fopen(path, "w");
    fprintf(f, "%llu 11\n", (unsigned long long)generation);
    fclose(f);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 1);
    /* Another generation (the spool was compacted after this offset was written): ignored. */
    spool_close(&spool);
    f = fopen(path, "w");
    fprintf(f, "%llu 11\n", (unsigned long long)generation - 1);
    fclose(f);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 2);
    spool_close(&spool);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_spool_full)
{
    char *dir = make_temp_dir();
    char err[512];
    struct spool spool;
    CHECK(spool_open(&spool, dir, 28, err, sizeof(err)));
    CHECK(spool_append(&spool, "5 first", 7) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "6 second", 8) == SPOOL_APPEND_OK);
    CHECK(spool_append(&spool, "5 third", 7) == SPOOL_APPEND_FULL); /* 34 > 28 */
    CHECK_EQ_U(spool_pending_frames(&spool), 2);
    spool_mark_delivered(&spool, 11);
    CHECK(spool_append(&spool, "5 third", 7) == SPOOL_APPEND_OK);  /* room again */
    spool_close(&spool);

    /* Bad directory: a clear error naming the option. */
    CHECK(!spool_open(&spool, "/nonexistent/dir/spool", 20, err, sizeof(err)));
    CHECK(strstr(err, "--spool-dir") != NULL);
    remove_dir(dir);
    free(dir);
}

/* A collector in the test: a listening socket on a free loopback port. */
static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(*port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 4) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Ticks the output until the collector accepted and read `want` frames (or 3 s pass);
 * returns how many frames it read and copies the alert_id of each into ids. */
static int collect(struct output *output, int listener, int *connection, int want, int *ids)
{
    static char stream[65536];
    size_t used = 0;
    int got = 0;
    for (int round = 0; round < 300 && got < want; round++) {
        output_tick(output);
        if (*connection < 0) {
            struct pollfd pfd = { .fd = listener, .events = POLLIN };
            if (poll(&pfd, 1, 10) > 0)
                *connection = accept(listener, NULL, NULL);
            continue;
        }
        struct pollfd pfd = { .fd = *connection, .events = POLLIN };
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        ssize_t n = recv(*connection, stream + used, sizeof(stream) - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        /* Octet counting: LEN SP MSG, repeated. */
        for (;;) {
            char *space = memchr(stream, ' ', used);
            if (space == NULL)
                break;
            size_t frame_len = strtoul(stream, NULL, 10);
            size_t prefix = (size_t)(space - stream) + 1;
            if (used < prefix + frame_len)
                break;
            char *id = strstr(stream + prefix, "alert_id=\"");
            ids[got++] = id ? atoi(id + 10) : -1;
            memmove(stream, stream + prefix + frame_len, used - prefix - frame_len);
            used -= prefix + frame_len;
        }
    }
    return got;
}

UNIT_TEST(test_tcp_delivery_across_outage)
{
    char *dir = make_temp_dir();
    char err[512], url[64];
    uint16_t port = 0;
    int listener = listen_loopback(&port);
    CHECK(listener >= 0);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);

    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    config.syslog_url = url;
    config.spool_dir = dir;
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    struct alert alert;
    make_alert(&alert);
    int connection = -1, ids[64];
    for (int i = 1; i <= 3; i++) {
        alert.id = (uint64_t)i;
        output_alert(output, &alert);
    }
    CHECK_EQ_U(collect(output, listener, &connection, 3, ids), 3);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);

    /* The collector stops cleanly (close, listener gone); alerts go on. */
    close(connection);
    connection = -1;
    close(listener);
    for (int i = 4; i <= 6; i++) {
        alert.id = (uint64_t)i;
        output_alert(output, &alert);
        output_tick(output);
    }
    struct output_stats stats;
    output_get_stats(output, &stats);
    CHECK(stats.syslog_spooled >= 2);

    /* Back on the same port: the back-off (1 s, 2 s) lets the sink reconnect by itself. */
    listener = listen_loopback(&port);
    CHECK(listener >= 0);
    int got = collect(output, listener, &connection, 3, ids);
    CHECK_EQ_U(got, 3);
    CHECK(ids[0] == 4 && ids[1] == 5 && ids[2] == 6);
    output_get_stats(output, &stats);
    CHECK_EQ_U(stats.alerts_written, 6);
    CHECK_EQ_U(stats.syslog_dropped, 0);

    /* Collector down at exit: the alert stays in the spool, and the next run sends it. */
    close(connection);
    connection = -1;
    close(listener);
    alert.id = 7;
    output_alert(output, &alert);
    output_close(output);
    listener = listen_loopback(&port);
    output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    got = collect(output, listener, &connection, 1, ids);
    CHECK_EQ_U(got, 1);
    CHECK_EQ_U(ids[0], 7);
    output_close(output);
    /* And nothing more arrives: what was delivered is not sent again. */
    output = output_open(&config, err, sizeof(err));
    got = collect(output, listener, &connection, 1, ids);
    CHECK_EQ_U(got, 0);
    output_close(output);
    if (connection >= 0)
        close(connection);
    close(listener);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_output_spool_full_counts_dropped)
{
    char *dir = make_temp_dir();
    char err[512];
    uint16_t port = 0;
    int listener = listen_loopback(&port); /* bound, then closed: nobody listens there */
    close(listener);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    config.syslog_url = url;
    config.spool_dir = dir;
    config.spool_max_bytes = 2500; /* room for two alerts of ~1 KB */
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output == NULL)
        return;
    struct alert alert;
    make_alert(&alert);
    for (int i = 0; i < 5; i++)
        output_alert(output, &alert);
    struct output_stats stats;
    output_get_stats(output, &stats);
    CHECK_EQ_U(stats.syslog_spooled, 2);
    CHECK_EQ_U(stats.syslog_dropped, 3);
    CHECK_EQ_U(stats.syslog_sent, 0);
    CHECK_EQ_U(stats.alerts_written, 5);
    output_close(output);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_relp_frames)
{
    char buf[256];
    size_t n = relp_encode(buf, sizeof(buf), 7, "syslog", "<13>1 x", 7);
    CHECK_EQ_U(n, 19);
    CHECK(memcmp(buf, "7 syslog 7 <13>1 x\n", 19) == 0);
    CHECK_EQ_U(relp_encode(buf, 10, 7, "syslog", "<13>1 x", 7), 0); /* does not fit */
    n = relp_encode_open(buf, sizeof(buf));
    CHECK(n > 0 && strncmp(buf, "1 open ", 7) == 0 && buf[n - 1] == '\n');
    CHECK(memmem(buf, n, "commands=syslog", 15) != NULL);

    /* Replies: whole, in pieces, two in one read, and broken ones. */
    struct relp_frame frame;
    size_t used = 0;
    const char *ok = "2 rsp 6 200 OK\n3 rsp 6 200 OK\n";
    CHECK(relp_parse(ok, strlen(ok), &frame, &used) == RELP_FRAME);
    CHECK_EQ_U(frame.txnr, 2);
    CHECK_STR(frame.command, "rsp");
    CHECK_EQ_U(used, 15);
    CHECK_EQ_U(relp_response_code(&frame), 200);
    CHECK(relp_parse(ok + used, strlen(ok) - used, &frame, &used) == RELP_FRAME);
    CHECK_EQ_U(frame.txnr, 3);
    for (size_t cut = 0; cut < 15; cut++)
        CHECK(relp_parse(ok, cut, &frame, &used) == RELP_NEED_MORE);
    CHECK(relp_parse("0 serverclose 0\n", 16, &frame, &used) == RELP_FRAME);
    CHECK_STR(frame.command, "serverclose");
    CHECK_EQ_U(frame.data_len, 0);
    CHECK_EQ_U(relp_response_code(&frame), -1);
    CHECK(relp_parse("2 rsp 6 500 no\n", 15, &frame, &used) == RELP_FRAME);
    CHECK_EQ_U(relp_response_code(&frame), 500);
    static const char *const bad[] = { "x rsp 0\n", "2 rsp 6 200 OKX", "2  rsp 0\n",
                                       "1234567890 rsp 0\n", "2 rsp 999999999 \n",
                                       "2 rsp 0X", "2 r$p 0\n" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(relp_parse(bad[i], strlen(bad[i]), &frame, &used) == RELP_BAD);
}

UNIT_TEST(test_tcp_unresolvable_host)
{
    /* RFC 6761: .invalid never resolves. Without a chosen spool that is a set-up error... */
    char err[512];
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    config.syslog_url = "tcp://exflow-collector.invalid:6514";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "cannot resolve exflow-collector.invalid") != NULL);
    CHECK(strstr(err, "--spool-dir") != NULL);

    /* ...with --spool-dir, alerts wait in the spool and the name is tried again later. */
    char *dir = make_temp_dir();
    config.spool_dir = dir;
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output != NULL) {
        struct alert alert;
        make_alert(&alert);
        output_alert(output, &alert);
        output_tick(output);
        struct output_stats stats;
        output_get_stats(output, &stats);
        CHECK_EQ_U(stats.syslog_spooled, 1);
        CHECK_EQ_U(stats.syslog_sent, 0);
        CHECK_EQ_U(stats.syslog_dropped, 0);
        output_close(output);
    }
    /* The alert is still there for the run that can reach the collector. */
    struct spool spool;
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK_EQ_U(spool_pending_frames(&spool), 1);
    spool_close(&spool);
    remove_dir(dir);
    free(dir);
}

/* A filesystem that refuses to grow the spool (full disk; here a file size limit, which
 * fails writes the same way without needing a small filesystem). */
static void limit_file_size(rlim_t bytes)
{
    struct rlimit limit;
    CHECK(getrlimit(RLIMIT_FSIZE, &limit) == 0);
    limit.rlim_cur = bytes;
    CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0);
}

UNIT_TEST(test_spool_unwritable)
{
    signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead of killing the process */
    char *dir = make_temp_dir();
    char err[512];
    uint16_t port = 0;
    int listener = listen_loopback(&port); /* bound, then closed: nobody listens there */
    close(listener);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    config.syslog_url = url;
    config.spool_dir = dir;
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output == NULL)
        return;
    struct alert alert;
    make_alert(&alert);
    limit_file_size(2500); /* room for two alerts of ~1 KB after the header */
    for (int i = 1; i <= 5; i++) {
        alert.id = (uint64_t)i;
        output_alert(output, &alert);
    }
    struct output_stats stats;
    output_get_stats(output, &stats);
    CHECK_EQ_U(stats.syslog_spooled, 2);
    CHECK_EQ_U(stats.syslog_dropped, 3);
    limit_file_size(RLIM_INFINITY);
    output_close(output);

    /* The two that fit are whole: the torn third was cut, and a new run delivers them. */
    listener = listen_loopback(&port);
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    int connection = -1, ids[8];
    CHECK_EQ_U(collect(output, listener, &connection, 2, ids), 2);
    CHECK(ids[0] == 1 && ids[1] == 2);

    /* An offset file that cannot be written: the checkpoint fails, is flagged (said once),
     * and recovers when the file can be written again. */
    struct spool spool;
    output_close(output);
    CHECK(spool_open(&spool, dir, 1 << 20, err, sizeof(err)));
    CHECK(spool_append(&spool, "5 first", 7) == SPOOL_APPEND_OK);
    spool_mark_delivered(&spool, spool.size);
    limit_file_size(1);
    CHECK(!spool_checkpoint(&spool));
    CHECK(spool.offset_write_failed);
    CHECK(spool_append(&spool, "6 second", 8) == SPOOL_APPEND_ERROR);
    limit_file_size(RLIM_INFINITY);
    CHECK(spool_checkpoint(&spool));
    CHECK(!spool.offset_write_failed);
    spool_close(&spool);
    if (connection >= 0)
        close(connection);
    close(listener);
    signal(SIGXFSZ, SIG_DFL);
    remove_dir(dir);
    free(dir);
}

UNIT_TEST(test_output_open_errors)
{
    char err[512];
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = "/nonexistent/dir/out.json";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "/nonexistent/dir/out.json") != NULL);
    config.json_path = NULL;
    const char *bad_urls[] = { "http://x:1", "udp://hostonly", "tcp://127.0.0.1:0",
                               "tcp://127.0.0.1:99999", "tcp://[::1]514", "udp://127.0.0.1:" };
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
        config.syslog_url = bad_urls[i];
        struct output *output = output_open(&config, err, sizeof(err));
        CHECK(output == NULL);
        output_close(output);
        CHECK(strstr(err, "--syslog") != NULL);
    }
    /* TLS options: only with tls://, and a file that is not a certificate names the option. */
    char *dir = make_temp_dir();
    config.spool_dir = dir;
    config.syslog_url = "tcp://127.0.0.1:514";
    config.syslog_ca = "/etc/hostname";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "need a tls://") != NULL);
    config.syslog_url = "udp://127.0.0.1:514";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "need a tls://") != NULL);
    config.syslog_url = "tls://127.0.0.1:6514";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "--syslog-ca /etc/hostname: cannot load") != NULL);
    config.syslog_ca = "/nonexistent/ca.pem";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "--syslog-ca /nonexistent/ca.pem") != NULL);
    config.syslog_ca = NULL;
    config.syslog_cert = "/nonexistent/cert.pem";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "--syslog-key go together") != NULL);
    config.syslog_cert = NULL;
    config.spool_dir = NULL;
    remove_dir(dir);
    free(dir);

    config.syslog_url = "udp://127.0.0.1:514";
    config.syslog_format = "xml";
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "--syslog-format") != NULL);
    config.syslog_format = "cef";
    config.syslog_facility = 24;
    CHECK(output_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "--syslog-facility") != NULL);
}

UNIT_TEST(test_udp_datagrams)
{
    int collector = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    CHECK(bind(collector, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    getsockname(collector, (struct sockaddr *)&sin, &len);
    char url[64], err[512];
    snprintf(url, sizeof(url), "udp://127.0.0.1:%u", ntohs(sin.sin_port));
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = NULL;
    config.syslog_url = url;
    config.syslog_format = "cef";
    config.syslog_facility = 10;
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output == NULL)
        return;
    struct alert alert;
    make_alert(&alert);
    alert.severity = SEVERITY_CRITICAL;
    output_alert(output, &alert);
    char datagram[9000];
    ssize_t n = recv(collector, datagram, sizeof(datagram) - 1, 0);
    CHECK(n > 0);
    datagram[n > 0 ? n : 0] = '\0';
    /* facility 10 * 8 + crit 2 = 82; one datagram, no framing. */
    CHECK(strncmp(datagram, "<82>1 ", 6) == 0);
    CHECK(strstr(datagram, " exflow ") != NULL);
    CHECK(strstr(datagram, " ALERT [exflow@32473 alert_id=\"7\" severity=\"critical\"") != NULL);
    CHECK(strstr(datagram, "] CEF:0|exflow|exflow|") != NULL);
    struct output_stats stats;
    output_get_stats(output, &stats);
    CHECK_EQ_U(stats.syslog_sent, 1);
    output_close(output);
    close(collector);
}

UNIT_TEST(test_json_sink_rotation)
{
    char *dir = make_temp_dir();
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/events.json", dir);
    struct output_config config;
    output_config_defaults(&config);
    config.json_path = path;
    config.json_rotate_bytes = 1000;
    struct output *output = output_open(&config, err, sizeof(err));
    CHECK(output != NULL);
    if (output == NULL)
        return;
    struct alert alert;
    make_alert(&alert);
    for (int i = 0; i < 20; i++)
        output_alert(output, &alert); /* ~700 bytes each: rotates every second alert */
    struct flow flow;
    make_flow(&flow);
    output_flow(output, &flow, FLOW_END_EOF, NULL);
    output_tick(output);
    struct stat st;
    char rotated[600];
    for (int i = 1; i <= JSON_ROTATE_KEEP; i++) {
        snprintf(rotated, sizeof(rotated), "%s.%d", path, i);
        CHECK(stat(rotated, &st) == 0);
    }
    snprintf(rotated, sizeof(rotated), "%s.%d", path, JSON_ROTATE_KEEP + 1);
    CHECK(stat(rotated, &st) != 0);
    CHECK(stat(path, &st) == 0 && st.st_size > 0);

    /* logrotate moved the file away; SIGHUP reopens under the configured name. */
    snprintf(rotated, sizeof(rotated), "%s.moved", path);
    CHECK(rename(path, rotated) == 0);
    output_reopen(output);
    output_alert(output, &alert);
    CHECK(stat(path, &st) == 0 && st.st_size > 0);
    struct output_stats stats;
    output_get_stats(output, &stats);
    CHECK_EQ_U(stats.alerts_written, 21);
    CHECK_EQ_U(stats.flows_written, 1);
    CHECK_EQ_U(stats.write_errors, 0);
    output_close(output);

    /* Every line is one complete JSON event. */
    FILE *f = fopen(path, "r");
    char line[4096];
    CHECK(f != NULL && fgets(line, sizeof(line), f) != NULL);
    CHECK(strncmp(line, "{\"timestamp\":", 13) == 0 && line[strlen(line) - 1] == '\n');
    if (f)
        fclose(f);
    remove_dir(dir);
    free(dir);
}

UNIT_MAIN("output",
          UNIT_CASE(test_time_and_proto),
          UNIT_CASE(test_flow_json),
          UNIT_CASE(test_flow_burst_json),
          UNIT_CASE(test_alert_json),
          UNIT_CASE(test_syslog_format),
          UNIT_CASE(test_syslog_alert_sd_and_cef),
          UNIT_CASE(test_cef_class_and_utf8),
          UNIT_CASE(test_community_id_vectors),
          UNIT_CASE(test_event_ids),
          UNIT_CASE(test_stats_json),
          UNIT_CASE(test_metrics_file),
          UNIT_CASE(test_frame),
          UNIT_CASE(test_spool_crc32c),
          UNIT_CASE(test_spool_replay_order),
          UNIT_CASE(test_spool_corrupt_frame_skipped),
          UNIT_CASE(test_spool_bad_offset_resends),
          UNIT_CASE(test_spool_full),
          UNIT_CASE(test_tcp_delivery_across_outage),
          UNIT_CASE(test_output_spool_full_counts_dropped),
          UNIT_CASE(test_relp_frames),
          UNIT_CASE(test_tcp_unresolvable_host),
          UNIT_CASE(test_spool_unwritable),
          UNIT_CASE(test_output_open_errors),
          UNIT_CASE(test_udp_datagrams),
          UNIT_CASE(test_json_sink_rotation))
