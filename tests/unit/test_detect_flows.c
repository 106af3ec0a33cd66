/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ behind the real flow table (nDPI off): packets built in memory go through
 * flow_table_process, and the detector hears them as flows/ delivers them in main. */
#include "unit.h"

#include "../../detect/detect_internal.h"

#define SEC 1000000ULL
#define T0 (1700000000ULL * SEC)

struct rig {
    struct flow_table *table;
    struct detector *detector;
    int alerts;
    int updates;                /* alerts that were is_update */
    struct alert first;
    struct alert last;
    int burst_records;          /* FLOW_END_BURST records heard */
    uint64_t final_out;         /* originator payload of the last final record */
};

static void rig_alert(void *user, const struct alert *alert)
{
    struct rig *rig = user;
    if (rig->alerts == 0)
        rig->first = *alert;
    rig->alerts++;
    rig->updates += alert->is_update;
    rig->last = *alert;
}

static void rig_packet(void *user, struct flow *flow, const struct packet *pkt, enum flow_direction dir)
{
    struct rig *rig = user;
    detector_on_packet(rig->detector, flow, pkt, dir);
}

static void rig_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final)
{
    struct rig *rig = user;
    rig->burst_records += reason == FLOW_END_BURST;
    if (final)
        rig->final_out = flow->dir[FLOW_DIR_ORIG].payload_bytes;
    detector_on_record(rig->detector, flow, reason, final);
}

static bool rig_open_with(struct rig *rig, uint64_t active_timeout_usec)
{
    char err[512] = "";
    memset(rig, 0, sizeof(*rig));
    struct detect_config dconfig;
    detect_config_defaults(&dconfig);
    rig->detector = detector_new(&dconfig, rig_alert, rig, err, sizeof(err));
    struct flow_table_config fconfig;
    flow_table_config_defaults(&fconfig);
    fconfig.ndpi_enabled = false;
    fconfig.hash_seed = 1;
    if (active_timeout_usec)
        fconfig.active_timeout_usec = active_timeout_usec;
    struct flow_observer observer = { rig_packet, rig_record, rig };
    rig->table = flow_table_new(&fconfig, &observer, err, sizeof(err));
    if (rig->detector == NULL || rig->table == NULL) {
        fprintf(stderr, "  setup: %s\n", err);
        return false;
    }
    return true;
}

static bool rig_open(struct rig *rig)
{
    return rig_open_with(rig, 0);
}

static void rig_close(struct rig *rig)
{
    if (rig->table) {
        flow_table_flush(rig->table);
        flow_table_free(rig->table);
    }
    detector_free(rig->detector);
}

/* One TCP segment; wire_payload may exceed the text (a snapped bulk segment). */
static void send_tcp(struct rig *rig, uint64_t ts, const char *src, uint16_t sport, const char *dst,
                     uint16_t dport, uint8_t flags, const char *text, uint32_t wire_payload)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = (uint8_t)geo_addr_parse(src, pkt.src);
    geo_addr_parse(dst, pkt.dst);
    pkt.proto = 6;
    pkt.sport = sport;
    pkt.dport = dport;
    pkt.tcp_flags = flags;
    pkt.payload = (const uint8_t *)text;
    pkt.payload_len = text ? (uint32_t)strlen(text) : 0;
    pkt.payload_wire_len = wire_payload > pkt.payload_len ? wire_payload : pkt.payload_len;
    pkt.wire_len = 54 + pkt.payload_wire_len;
    pkt.caplen = 54 + pkt.payload_len;
    flow_table_process(rig->table, &pkt);
}

#define SYN 0x02
#define ACK 0x10
#define PSH 0x08
#define FIN 0x01

static void handshake(struct rig *rig, uint64_t ts, const char *c, uint16_t cp, const char *s, uint16_t sp)
{
    send_tcp(rig, ts, c, cp, s, sp, SYN, NULL, 0);
    send_tcp(rig, ts + 100, s, sp, c, cp, SYN | ACK, NULL, 0);
    send_tcp(rig, ts + 200, c, cp, s, sp, ACK, NULL, 0);
}

static void close_both(struct rig *rig, uint64_t ts, const char *c, uint16_t cp, const char *s, uint16_t sp)
{
    send_tcp(rig, ts, c, cp, s, sp, FIN | ACK, NULL, 0);
    send_tcp(rig, ts + 100, s, sp, c, cp, FIN | ACK, NULL, 0);
    send_tcp(rig, ts + 200, c, cp, s, sp, ACK, NULL, 0);
}

UNIT_TEST(test_ftp_passive_through_flow_table)
{
    struct rig rig;
    if (!rig_open(&rig)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    const char *client = "10.1.1.5", *server = "93.184.216.7";
    uint64_t t = T0;
    handshake(&rig, t, client, 41000, server, 21);
    send_tcp(&rig, t + 1000, server, 21, client, 41000, PSH | ACK, "220 ready\r\n", 0);
    send_tcp(&rig, t + 2000, client, 41000, server, 21, PSH | ACK, "USER u\r\nPASS p\r\n", 0);
    send_tcp(&rig, t + 3000, server, 21, client, 41000, PSH | ACK, "230 in\r\n", 0);
    send_tcp(&rig, t + 4000, client, 41000, server, 21, PSH | ACK, "EPSV\r\n", 0);
    send_tcp(&rig, t + 5000, server, 21, client, 41000, PSH | ACK,
             "229 Entering Extended Passive Mode (|||40123|)\r\n", 0);
    send_tcp(&rig, t + 6000, client, 41000, server, 21, PSH | ACK, "APPE exfil.log\r\n", 0);
    handshake(&rig, t + 7000, client, 41001, server, 40123);
    for (int i = 0; i < 25; i++)   /* 25 MB of upload in 1 MB snapped segments */
        send_tcp(&rig, t + 8000 + (uint64_t)i * 100000, client, 41001, server, 40123, ACK, NULL, 1000000);
    close_both(&rig, t + 3 * SEC, client, 41001, server, 40123);
    send_tcp(&rig, t + 4 * SEC, server, 21, client, 41000, PSH | ACK, "226 done\r\n", 0);
    /* The closed data flow is reported after its linger, by packet time. */
    flow_table_expire(rig.table, t + 60 * SEC);
    CHECK_EQ_U(rig.alerts, 1);
    if (rig.alerts == 1) {
        CHECK(rig.last.evidence & EVIDENCE_FTP_STOR);
        CHECK_EQ_U(rig.last.bytes_out, 25000000);
        CHECK_STR(rig.last.dest_name, "93.184.216.7");
        CHECK(strstr(rig.last.reason, "FTP APPE") != NULL);
        printf("     reason: %s\n", rig.last.reason);
    }
    rig_close(&rig);
}

UNIT_TEST(test_hourly_upload_through_flow_table)
{
    struct rig rig;
    if (!rig_open(&rig)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    const char *client = "192.168.7.20", *server = "151.101.64.9";
    for (int i = 0; i < 6; i++) {
        uint64_t t = T0 + (uint64_t)i * 3600 * SEC + (uint64_t)(i % 3) * 7 * SEC;
        uint16_t port = (uint16_t)(50000 + i);
        handshake(&rig, t, client, port, server, 443);
        for (int k = 0; k < 4 + i; k++)
            send_tcp(&rig, t + SEC + (uint64_t)k * 1000, client, port, server, 443, ACK, NULL, 1000000);
        send_tcp(&rig, t + 2 * SEC, server, 443, client, port, ACK, NULL, 5000);
        close_both(&rig, t + 3 * SEC, client, port, server, 443);
    }
    rig_close(&rig);   /* the flush reports the last one */
    CHECK_EQ_U(rig.alerts, 1);
    if (rig.alerts == 1) {
        CHECK(rig.last.evidence & EVIDENCE_PERIODIC);
        CHECK_NEAR(rig.last.period_sec, 3600.0, 30.0);
    }
}

UNIT_TEST(test_long_upload_interim_records)
{
    /* A 10-minute SFTP-like upload of 120 MB with an active timeout of 2 minutes: the
     * alert comes from an interim record, before the flow ends, and counts all records
     * of the flow as one connection. */
    struct rig rig;
    if (!rig_open_with(&rig, 120 * SEC)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    const char *client = "10.1.1.5", *server = "93.184.216.70";
    uint64_t t = T0;
    handshake(&rig, t, client, 45000, server, 22);
    send_tcp(&rig, t + 1000, client, 45000, server, 22, PSH | ACK, "SSH-2.0-OpenSSH_9.2\r\n", 0);
    send_tcp(&rig, t + 2000, server, 22, client, 45000, PSH | ACK, "SSH-2.0-OpenSSH_9.2\r\n", 0);
    for (int i = 0; i < 600; i++)
        send_tcp(&rig, t + (uint64_t)(i + 1) * SEC, client, 45000, server, 22, ACK, NULL, 200000);
    CHECK(rig.alerts >= 1);
    uint64_t first_alert_ts = rig.first.ts_usec;
    CHECK(first_alert_ts < t + 600 * SEC);
    CHECK_EQ_U(rig.first.connections, 1);
    CHECK(rig.last.evidence & EVIDENCE_SSH_UPLOAD);
    close_both(&rig, t + 601 * SEC, client, 45000, server, 22);
    rig_close(&rig);
    /* One alert for the flow; as its bytes grow the bulk score may rise a severity step,
     * and each step is an update of that alert, never a new one. */
    CHECK_EQ_U(rig.alerts - rig.updates, 1);
    CHECK(rig.last.severity >= rig.first.severity);
}

/* One keep-alive connection: a burst of `segments` client segments of `size` bytes every
 * `period` seconds, each answered by a small server reply, `bursts` times; left open. */
static void keepalive_bursts(struct rig *rig, uint64_t t, const char *client, const char *server,
                             int bursts, uint64_t period, int segments, uint32_t size)
{
    handshake(rig, t, client, 47000, server, 443);
    for (int b = 0; b < bursts; b++) {
        uint64_t at = t + SEC + (uint64_t)b * period * SEC;
        for (int k = 0; k < segments; k++)
            send_tcp(rig, at + (uint64_t)k * 1000, client, 47000, server, 443, ACK, NULL, size);
        send_tcp(rig, at + 2 * SEC, server, 443, client, 47000, ACK, NULL, 400);
    }
}

UNIT_TEST(test_keepalive_bursts_are_series)
{
    /* 1 MB every 5 minutes on one connection: each burst is a transfer of its own, so the
     * schedule alerts while the connection is still open; the flow's own counters (and
     * its flow events) still cover the whole connection (no active timeout here). */
    struct rig rig;
    if (!rig_open_with(&rig, 86400 * SEC)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    const char *client = "10.1.1.9", *server = "93.184.216.80";
    keepalive_bursts(&rig, T0, client, server, 8, 300, 100, 10000);
    CHECK_EQ_U(rig.burst_records, 7);       /* each burst closed when the next began */
    CHECK(rig.alerts >= 1);
    if (rig.alerts >= 1) {
        CHECK(rig.first.evidence & EVIDENCE_PERIODIC);
        CHECK_NEAR(rig.first.period_sec, 300.0, 1.0);
        CHECK(rig.first.connections >= 4);
        CHECK(rig.first.ts_usec < T0 + 8 * 300 * SEC);
        CHECK_EQ_U(rig.first.bytes_out, (uint64_t)rig.first.connections * 1000000);
    }
    close_both(&rig, T0 + 8 * 300 * SEC, client, 47000, server, 443);
    rig_close(&rig);
    CHECK_EQ_U(rig.final_out, 8 * 1000000ULL);
}

UNIT_TEST(test_keepalive_small_bursts_quiet)
{
    /* A log shipper: 2 KB every minute on one connection for two hours. Bursts, each far
     * below --min-upload and the schedule's upload floor: no alert. The default active
     * timeout (30 min) reports three interim records, which close the burst they fall in
     * themselves. */
    struct rig rig;
    if (!rig_open(&rig)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    keepalive_bursts(&rig, T0, "10.1.1.10", "93.184.216.81", 120, 60, 2, 1000);
    close_both(&rig, T0 + 121 * 60 * SEC, "10.1.1.10", 47000, "93.184.216.81", 443);
    rig_close(&rig);
    CHECK_EQ_U(rig.burst_records, 116);
    CHECK_EQ_U(rig.alerts, 0);
}

UNIT_TEST(test_keepalive_http_posts_counted_once)
{
    /* A keep-alive HTTP connection with one 1 MB POST every 5 minutes: the parser counts the
     * whole connection, and each burst adds only its own requests to the series. */
    struct rig rig;
    if (!rig_open_with(&rig, 86400 * SEC)) {
        rig_close(&rig);
        CHECK(0);
        return;
    }
    const char *client = "10.1.1.11", *server = "93.184.216.82";
    const char *post = "POST /up HTTP/1.1\r\nHost: drop.example-vault.net\r\n"
                       "Content-Length: 1000000\r\n\r\n";
    handshake(&rig, T0, client, 47100, server, 80);
    for (int b = 0; b < 6; b++) {
        uint64_t at = T0 + SEC + (uint64_t)b * 300 * SEC;
        send_tcp(&rig, at, client, 47100, server, 80, PSH | ACK, post, 0);
        for (int k = 0; k < 100; k++)
            send_tcp(&rig, at + (uint64_t)(k + 1) * 1000, client, 47100, server, 80, ACK, NULL, 10000);
        send_tcp(&rig, at + 2 * SEC, server, 80, client, 47100, PSH | ACK, "HTTP/1.1 200 OK\r\n\r\n", 0);
    }
    CHECK(rig.alerts >= 1);
    if (rig.alerts >= 1) {
        char expected[64];
        snprintf(expected, sizeof(expected), "; %u HTTP upload requests (%u.0 MB of bodies)",
                 rig.first.connections, rig.first.connections);
        CHECK(rig.first.evidence & EVIDENCE_HTTP_UPLOAD);
        CHECK(rig.first.evidence & EVIDENCE_PERIODIC);
        CHECK(strstr(rig.first.reason, expected) != NULL);
        printf("     reason: %s\n", rig.first.reason);
    }
    rig_close(&rig);
}

UNIT_MAIN("detect_flows",
          UNIT_CASE(test_ftp_passive_through_flow_table),
          UNIT_CASE(test_hourly_upload_through_flow_table),
          UNIT_CASE(test_long_upload_interim_records),
          UNIT_CASE(test_keepalive_bursts_are_series),
          UNIT_CASE(test_keepalive_small_bursts_quiet),
          UNIT_CASE(test_keepalive_http_posts_counted_once))
