/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ end to end: synthetic flow records (and packets for FTP/HTTP) through
 * detector_on_packet / detector_on_record, checked by the alerts that come out. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../detect/detect_internal.h"

#define SEC 1000000ULL
#define MB 1000000ULL
#define T0 (1700000000ULL * SEC)

#define MAX_ALERTS 32

struct collected {
    struct alert alerts[MAX_ALERTS];
    int count;
};

static void on_alert(void *user, const struct alert *alert)
{
    struct collected *c = user;
    if (c->count < MAX_ALERTS)
        c->alerts[c->count] = *alert;
    c->count++;
}

static bool has_technique(const struct alert *a, const char *id)
{
    for (int i = 0; i < a->technique_count; i++)
        if (strcmp(a->techniques[i], id) == 0)
            return true;
    return false;
}

static void flow_make(struct flow *f, uint64_t id, const char *orig, uint16_t orig_port,
                      const char *resp, uint16_t resp_port, uint64_t start, uint64_t end,
                      uint64_t orig_bytes, uint64_t resp_bytes)
{
    memset(f, 0, sizeof(*f));
    f->id = id;
    f->ip_version = (uint8_t)geo_addr_parse(orig, f->orig_addr);
    geo_addr_parse(resp, f->resp_addr);
    f->proto = 6;
    f->orig_port = orig_port;
    f->resp_port = resp_port;
    f->start_ts_usec = start;
    f->last_ts_usec = end;
    f->dir[0].payload_bytes = orig_bytes;
    f->dir[1].payload_bytes = resp_bytes;
    /* No packets yet when no bytes: flows fed packet by packet start from zero. */
    f->dir[0].packets = orig_bytes ? orig_bytes / 1400 + 3 : 0;
    f->dir[1].packets = resp_bytes ? resp_bytes / 1400 + 3 : 0;
    f->dir[0].first_ts_usec = f->dir[1].first_ts_usec = start;
    f->dir[0].last_ts_usec = f->dir[1].last_ts_usec = end;
    f->tcp_state = TCP_STATE_CLOSED;
}

static struct detector *make_detector(struct detect_config *config, struct collected *c)
{
    char err[512] = "";
    memset(c, 0, sizeof(*c));
    struct detector *d = detector_new(config, on_alert, c, err, sizeof(err));
    if (d == NULL)
        fprintf(stderr, "  detector_new: %s\n", err);
    return d;
}

static void record(struct detector *d, struct flow *f)
{
    detector_on_record(d, f, FLOW_END_TCP_CLOSE, true);
}

/* An hourly job uploading 5-12 MB to one name served from two addresses. */
static void run_hourly_upload(struct detector *d, const char *src, const char *server_name,
                              int connections, uint64_t first_id)
{
    static const int jitter[] = { 0, 40, -30, 20, -10, 50, -40, 10, 30, -20 };
    static const uint64_t sizes[] = { 8, 5, 12, 7, 9, 6, 11, 10, 5, 8 };
    for (int i = 0; i < connections; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)(3600 * i + jitter[i % 10] + 100) * SEC;
        flow_make(&f, first_id + (uint64_t)i, src, 40000, i % 2 ? "93.184.216.21" : "93.184.216.22",
                  443, start, start + 30 * SEC, sizes[i % 10] * MB, 60000);
        snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "TLS");
        snprintf(f.labels.server_name, sizeof(f.labels.server_name), "%s", server_name);
        record(d, &f);
    }
}

/* Run i (0-based) of the same hourly job as run_hourly_upload, for a series continued later,
 * uploading mb megabytes. */
static void run_hourly_upload_from(struct detector *d, int i, uint64_t first_id, uint64_t mb)
{
    static const int jitter[] = { 0, 40, -30, 20, -10, 50, -40, 10, 30, -20 };
    struct flow f;
    uint64_t start = T0 + (uint64_t)(3600 * i + jitter[i % 10] + 100) * SEC;
    flow_make(&f, first_id + (uint64_t)i, "10.1.1.5", 40000, "93.184.216.21", 443, start,
              start + 30 * SEC, mb * MB, 60000);
    snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "TLS");
    snprintf(f.labels.server_name, sizeof(f.labels.server_name), "files.example-drop.net");
    record(d, &f);
}

UNIT_TEST(test_periodic_upload_alerts_once)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    run_hourly_upload(d, "10.1.1.5", "Files.Example-Drop.net", 8, 1);
    CHECK_EQ_U(c.count, 1);                     /* one alert for the series, not eight */
    if (c.count >= 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(has_technique(a, "T1020"));
        CHECK(has_technique(a, "T1029"));
        CHECK_STR(a->dest_name, "files.example-drop.net");
        CHECK(!a->is_update);
        CHECK(a->score >= config.alert_threshold && a->score <= 1.0);
        CHECK_EQ_U(a->connections, 4);          /* flagged after four periods */
        CHECK_NEAR(a->period_sec, 3600.0, 60.0);
        CHECK(a->period_mad_sec < 60.0);
        CHECK(a->beacon_score > 0.8);
        CHECK(a->pcr > 0.98);
        CHECK_EQ_U(a->bytes_out, (8 + 5 + 12 + 7) * MB);
        CHECK(a->evidence & EVIDENCE_PERIODIC);
        CHECK(a->evidence & EVIDENCE_NEW_DESTINATION);
        CHECK(a->first_seen_age_sec > 3 * 3600.0 - 120 && a->first_seen_age_sec < 3 * 3600.0 + 120);
        CHECK_EQ_U(a->ip_version, 4);
        CHECK_EQ_U(a->src_addr[3], 5);
        CHECK_EQ_U(a->dest_port, 443);
        CHECK_STR(a->app_protocol, "TLS");
        CHECK(a->first_ts_usec == T0 + 100 * SEC);
        CHECK(strstr(a->reason, "10.1.1.5 uploaded 32.0 MB in 4 connections every 60.") != NULL);
        CHECK(strstr(a->reason, "files.example-drop.net (new destination, first seen 3.0 h ago)") != NULL);
        printf("     reason: %s\n", a->reason);
    }
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK_EQ_U(stats.records, 8);
    CHECK_EQ_U(stats.alerts, 1);
    CHECK(stats.suppressed >= 1);
    CHECK_EQ_U(stats.hosts, 1);
    /* Two addresses, one name, one series; and the series of its group, example-drop.net. */
    CHECK_EQ_U(stats.destinations, 2);
    detector_free(d);
}

UNIT_TEST(test_suppression_window)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.suppress_usec = 3600 * SEC;
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Alert at the 4th run (3 h). The same job repeating is no news: runs 5-7 say nothing,
     * though the configured window (1 h) and two periods (7280 s) pass. */
    run_hourly_upload(d, "10.1.1.5", "files.example-drop.net", 4, 1);
    CHECK_EQ_U(c.count, 1);
    for (int i = 4; i < 7; i++)
        run_hourly_upload_from(d, i, 1, 8);
    CHECK_EQ_U(c.count, 1);
    /* Run 8 sends 40 MB, five times a usual run: a new shape, and after the window (at
     * least two periods since the alert), so it is said again, as an update. */
    run_hourly_upload_from(d, 7, 1, 40);
    CHECK_EQ_U(c.count, 2);
    if (c.count == 2) {
        CHECK(!c.alerts[0].is_update);
        CHECK(c.alerts[1].is_update);
        CHECK_EQ_U(c.alerts[1].connections, 8);
        CHECK(c.alerts[1].id > c.alerts[0].id);
    }
    /* Run 9 at 40 MB again: changed from the first alert's shape, not from the second's. */
    run_hourly_upload_from(d, 8, 1, 40);
    CHECK_EQ_U(c.count, 2);
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK_EQ_U(stats.suppressed, 4);
    detector_free(d);
}

UNIT_TEST(test_changed_shape_waits_for_window)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* A changed shape at the same severity still waits out the window (a day by default):
     * run 5 at 40 MB, an hour after the alert, is counted and not said. */
    run_hourly_upload(d, "10.1.1.5", "files.example-drop.net", 4, 1);
    CHECK_EQ_U(c.count, 1);
    run_hourly_upload_from(d, 4, 1, 40);
    CHECK_EQ_U(c.count, 1);
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK_EQ_U(stats.suppressed, 1);
    detector_free(d);
}

UNIT_TEST(test_cloud_storage_upload)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    run_hourly_upload(d, "10.1.1.7", "g.api.mega.co.nz", 6, 100);
    CHECK(c.count >= 1 && c.count <= 2);        /* the first upload, then the schedule */
    if (c.count >= 1) {
        CHECK(has_technique(&c.alerts[0], "T1567.002"));
        CHECK(c.alerts[0].evidence & EVIDENCE_CLOUD_STORAGE);
        CHECK(strstr(c.alerts[0].reason, "cloud storage MEGA") != NULL);
    }
    if (c.count == 2) {
        CHECK(c.alerts[1].is_update);
        CHECK(c.alerts[1].severity > c.alerts[0].severity);
        CHECK(has_technique(&c.alerts[1], "T1029"));
    }
    detector_free(d);
}

UNIT_TEST(test_big_download_no_alert)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    for (int i = 0; i < 6; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 3600 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", 40000, "151.101.64.80", 443, start,
                  start + 60 * SEC, 200000, 700 * MB);
        snprintf(f.labels.server_name, sizeof(f.labels.server_name), "dl.mega.nz");
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 0);
    detector_free(d);
}

UNIT_TEST(test_periodic_small_polling_no_alert)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Every minute, 600 bytes up and 2 kB down: a poller. */
    for (int i = 0; i < 200; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 60 * SEC + (uint64_t)(i % 3) * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", 40000, "151.101.64.10", 443, start,
                  start + SEC, 600, 2000);
        record(d, &f);
    }
    /* Every 5 min for a day, a 2-3 kB heartbeat up: upload-heavy and regular, but each
     * check-in is under the 8 KiB a scheduled upload needs, though the day adds up to
     * more than the minimum upload. */
    for (int i = 0; i < 288; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 300 * SEC;
        flow_make(&f, 1000 + (uint64_t)i, "10.1.1.6", 40000, "151.101.64.11", 443, start,
                  start + SEC, 2000 + (uint64_t)(i % 7) * 150, 900);
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 0);
    detector_free(d);
}

static void send_empty(struct detector *d, struct flow *f, enum flow_direction dir, uint64_t ts);
static void send_payload(struct detector *d, struct flow *f, enum flow_direction dir, uint64_t ts,
                         const char *text);

UNIT_TEST(test_slow_drip_alerts)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* 10-16 KB POSTed every 5 min (+-10 s) for 12 h: no single upload is big, the
     * schedule is. It alerts once the series has sent the minimum upload (40 drips). */
    uint64_t sent = 0;
    int alerted_at = -1;
    for (int i = 0; i < 144; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 300 * SEC + (uint64_t)((i * 7) % 21) * SEC;
        uint64_t size = 10000 + (uint64_t)((i * 37) % 7) * 1000;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.43", 40000, "37.120.198.40", 80, start, start, 0, 0);
        send_empty(d, &f, FLOW_DIR_ORIG, start);
        send_payload(d, &f, FLOW_DIR_ORIG, start + 1000,
                     "POST /v1/metrics HTTP/1.1\r\nHost: telemetry.cdn-metrics.io\r\n"
                     "Content-Length: 12000\r\n\r\n");
        f.dir[FLOW_DIR_ORIG].payload_bytes = size;
        f.dir[FLOW_DIR_RESP].payload_bytes = 300;
        f.last_ts_usec = start + SEC;
        record(d, &f);
        sent += size;
        if (c.count == 1 && alerted_at < 0) {
            alerted_at = i;
            CHECK(sent >= config.min_upload_bytes);
        }
    }
    CHECK_EQ_U(c.count, 1);
    CHECK(alerted_at >= 30 && alerted_at <= 60);
    if (c.count == 1) {
        CHECK(has_technique(&c.alerts[0], "T1029"));
        CHECK(c.alerts[0].evidence & EVIDENCE_HTTP_UPLOAD);
        CHECK_NEAR(c.alerts[0].period_sec, 300.0, 15.0);
        CHECK_STR(c.alerts[0].dest_name, "telemetry.cdn-metrics.io");
        printf("     reason: %s\n", c.alerts[0].reason);
    }
    detector_free(d);
}

UNIT_TEST(test_internal_backup_no_alert)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    for (int i = 0; i < 8; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 3600 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", 40000, "10.9.9.9", 22, start,
                  start + 600 * SEC, 900 * MB, 1 * MB);
        snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "SSH");
        record(d, &f);
    }
    /* Also not to documentation or other non-public space outside the home net. */
    struct flow f;
    flow_make(&f, 99, "10.1.1.5", 40000, "192.0.2.1", 22, T0, T0 + 600 * SEC, 900 * MB, MB);
    record(d, &f);
    CHECK_EQ_U(c.count, 0);
    detector_free(d);
}

UNIT_TEST(test_learning_period)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.learn_usec = 2 * 86400 * SEC;
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    run_hourly_upload(d, "10.1.1.5", "files.example-drop.net", 8, 1);
    CHECK_EQ_U(c.count, 0);                     /* learning: quiet */
    /* After learning the job's destination is known, so the same job stays quiet... */
    struct flow f;
    uint64_t later = T0 + 3 * 86400 * SEC;
    flow_make(&f, 50, "10.1.1.5", 40000, "93.184.216.21", 443, later, later + 30 * SEC, 9 * MB, 60000);
    snprintf(f.labels.server_name, sizeof(f.labels.server_name), "files.example-drop.net");
    record(d, &f);
    CHECK_EQ_U(c.count, 0);
    /* ...and a new destination learned nothing about alerts as usual. */
    for (int i = 0; i < 5; i++) {
        uint64_t start = later + (uint64_t)i * 1800 * SEC;
        flow_make(&f, 60 + (uint64_t)i, "10.1.1.5", 40000, "151.101.64.99", 443, start,
                  start + 30 * SEC, 6 * MB, 30000);
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1)
        CHECK_STR(c.alerts[0].dest_name, "151.101.64.99");
    detector_free(d);
}

UNIT_TEST(test_allowlisted_no_alert)
{
    char path[] = "/tmp/exflow-allow-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *rules = "src=10.0.0.0/8 dest_domain=*.example-drop.net   # nightly sync job\n";
    CHECK(write(fd, rules, strlen(rules)) == (ssize_t)strlen(rules));
    close(fd);
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.allowlist_file = path;
    struct detector *d = make_detector(&config, &c);
    if (d) {
        run_hourly_upload(d, "10.1.1.5", "files.example-drop.net", 8, 1);
        CHECK_EQ_U(c.count, 0);
        struct detect_stats stats;
        detector_get_stats(d, &stats);
        CHECK(stats.allowlisted >= 1);
        detector_free(d);
    }
    unlink(path);
}

UNIT_TEST(test_c2_like_channel)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Check-ins every 5 min to a bare IP, then a 30 MB upload on the same channel. */
    struct flow f;
    for (int i = 0; i < 10; i++) {
        uint64_t start = T0 + (uint64_t)i * 300 * SEC + (uint64_t)(i % 2) * 2 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.9", 50000, "151.101.64.50", 8080, start,
                  start + SEC, 2000, 1000);
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 0);
    uint64_t start = T0 + 10 * 300 * SEC;
    flow_make(&f, 11, "10.1.1.9", 50000, "151.101.64.50", 8080, start, start + 60 * SEC, 30 * MB, 4000);
    record(d, &f);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(has_technique(a, "T1041"));
        CHECK(has_technique(a, "T1029"));
        CHECK_EQ_U(a->connections, 1);
        CHECK_EQ_U(a->bytes_out, 30 * MB);
        CHECK_NEAR(a->period_sec, 300.0, 5.0);
        CHECK(strstr(a->reason, "C2-like") != NULL);
    }
    detector_free(d);
}

UNIT_TEST(test_parallel_streams)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.bulk_min_bytes = 0;  /* the pattern model alone: each 50 MB stream is a bulk upload */
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    for (int i = 0; i < 4; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", (uint16_t)(40000 + i), "151.101.64.60", 443, start,
                  start + 300 * SEC, 50 * MB, 200000);
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        CHECK(c.alerts[0].evidence & EVIDENCE_PARALLEL_STREAMS);
        CHECK_EQ_U(c.alerts[0].connections, 3);
        CHECK_EQ_U(c.alerts[0].bytes_out, 150 * MB);
    }
    detector_free(d);
}

UNIT_TEST(test_volume_anomaly)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Ten hours of 100 kB an hour to a known site (downloading 300 kB each time), then
     * 80 MB over SFTP in one hour. */
    struct flow f;
    for (int i = 0; i < 10; i++) {
        uint64_t start = T0 + (uint64_t)i * 3600 * SEC + (uint64_t)(i * 7 % 13) * 60 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", 40000, "151.101.64.1", 443, start, start + SEC,
                  100000, 300000);
        record(d, &f);
    }
    uint64_t start = T0 + 10 * 3600 * SEC + 600 * SEC;
    flow_make(&f, 20, "10.1.1.5", 40000, "151.101.64.99", 22, start, start + 600 * SEC, 80 * MB, MB);
    snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "SSH");
    record(d, &f);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(a->evidence & EVIDENCE_VOLUME_ANOMALY);
        CHECK_NEAR(a->baseline_ratio, 80.0e6 / 100000.0, 1.0);   /* 800x the usual hour */
        CHECK(strstr(a->reason, "800.0x the host's usual hourly upload") != NULL);
        /* PCR of each earlier transfer: (100000 - 300000) / 400000 = -0.5 */
        CHECK(strstr(a->reason, "the host usually downloads (typical ratio -0.50)") != NULL);
        printf("     reason: %s\n", a->reason);
    }
    detector_free(d);
}

UNIT_TEST(test_ssh_upload)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    struct flow f;
    flow_make(&f, 1, "10.1.1.5", 40000, "151.101.64.70", 2222, T0, T0 + 900 * SEC, 400 * MB, 2 * MB);
    snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "SSH");
    record(d, &f);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        CHECK(has_technique(&c.alerts[0], "T1048.002"));
        CHECK(!has_technique(&c.alerts[0], "T1029"));
        CHECK(c.alerts[0].evidence & EVIDENCE_SSH_UPLOAD);
        CHECK_NEAR(c.alerts[0].first_seen_age_sec, -1.0, 1e-9);
        CHECK(strstr(c.alerts[0].reason, "first seen now") != NULL);
    }
    /* A one-off big upload with no protocol evidence and no schedule: the bulk model
     * alerts on its volume alone (test_bulk.c checks the scale). */
    flow_make(&f, 2, "10.1.1.6", 40000, "151.101.64.71", 443, T0, T0 + 900 * SEC, 400 * MB, 2 * MB);
    record(d, &f);
    CHECK_EQ_U(c.count, 2);
    if (c.count == 2) {
        CHECK(c.alerts[1].evidence & EVIDENCE_BULK_UPLOAD);
        CHECK_STR(c.alerts[1].breakdown.model, "bulk");
    }
    detector_free(d);
}

UNIT_TEST(test_geo_and_ipv6)
{
    char err[256] = "";
    struct geo *geo = geo_open("geo/testdata/GeoIP2-City-Test.mmdb", "geo/testdata/GeoLite2-ASN-Test.mmdb",
                               err, sizeof(err));
    CHECK(geo != NULL);
    if (geo == NULL) {
        fprintf(stderr, "  %s (run from the repository root)\n", err);
        return;
    }
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.geo = geo;
    struct detector *d = make_detector(&config, &c);
    if (d) {
        struct flow f;
        flow_make(&f, 1, "10.1.1.5", 40000, "81.2.69.142", 22, T0, T0 + 900 * SEC, 400 * MB, 2 * MB);
        record(d, &f);
        flow_make(&f, 2, "fd00::5", 40000, "2001:218::1", 22, T0, T0 + 900 * SEC, 400 * MB, 2 * MB);
        record(d, &f);
        /* A ULA or link-local destination is internal whatever its prefix. */
        flow_make(&f, 3, "fd00::5", 40000, "fd12::9", 22, T0, T0 + 900 * SEC, 400 * MB, 2 * MB);
        record(d, &f);
        CHECK_EQ_U(c.count, 2);
        if (c.count == 2) {
            CHECK(c.alerts[0].dest_geo.found);
            CHECK_STR(c.alerts[0].dest_geo.country_code, "GB");
            CHECK_STR(c.alerts[0].dest_geo.city, "London");
            CHECK_EQ_U(c.alerts[1].ip_version, 6);
            CHECK_STR(c.alerts[1].dest_name, "2001:218::1");
            CHECK_STR(c.alerts[1].dest_geo.country_code, "JP");
            CHECK(strstr(c.alerts[1].reason, "fd00::5 uploaded 400.0 MB") != NULL);
        }
        detector_free(d);
    }
    geo_close(geo);
}

/* Packets for on_packet: only the fields the detector reads. */
static void send_payload(struct detector *d, struct flow *f, enum flow_direction dir, uint64_t ts,
                         const char *text)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = f->ip_version;
    pkt.proto = 6;
    pkt.payload = (const uint8_t *)text;
    pkt.payload_len = pkt.payload_wire_len = (uint32_t)strlen(text);
    f->dir[dir].packets++;
    f->dir[dir].payload_bytes += pkt.payload_len;
    f->last_ts_usec = ts;
    detector_on_packet(d, f, &pkt, dir);
}

static void send_empty(struct detector *d, struct flow *f, enum flow_direction dir, uint64_t ts)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = f->ip_version;
    pkt.proto = 6;
    f->dir[dir].packets++;
    f->last_ts_usec = ts;
    detector_on_packet(d, f, &pkt, dir);
}

static void ftp_session(bool active, struct collected *c)
{
    struct detect_config config;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, c);
    if (!d)
        return;
    struct flow control;
    flow_make(&control, 1, "10.1.1.5", 41000, "93.184.216.7", 21, T0, T0, 0, 0);
    send_empty(d, &control, FLOW_DIR_ORIG, T0);
    send_payload(d, &control, FLOW_DIR_RESP, T0 + 1000, "220 FTP ready\r\n");
    send_payload(d, &control, FLOW_DIR_ORIG, T0 + 2000, "USER bob\r\n");
    send_payload(d, &control, FLOW_DIR_RESP, T0 + 3000, "230 ok\r\n");
    if (active) {
        send_payload(d, &control, FLOW_DIR_ORIG, T0 + 4000, "PORT 10,1,1,5,7,");
        send_payload(d, &control, FLOW_DIR_ORIG, T0 + 4500, "138\r\n");
        send_payload(d, &control, FLOW_DIR_RESP, T0 + 5000, "200 PORT ok\r\n");
    } else {
        send_payload(d, &control, FLOW_DIR_ORIG, T0 + 4000, "PASV\r\n");
        send_payload(d, &control, FLOW_DIR_RESP, T0 + 5000,
                     "227 Entering Passive Mode (93,184,216,7,195,80).\r\n");
    }
    /* The data connection opens before STOR is seen (curl does this); the command still
     * reaches it through the expectation. */
    struct flow data;
    if (active)
        flow_make(&data, 2, "93.184.216.7", 20, "10.1.1.5", 1930, T0 + 6000, T0 + 6000, 0, 0);
    else
        flow_make(&data, 2, "10.1.1.5", 41001, "93.184.216.7", 50000, T0 + 6000, T0 + 6000, 0, 0);
    send_empty(d, &data, FLOW_DIR_ORIG, T0 + 6000);
    CHECK(data.observer_state != NULL);
    send_payload(d, &control, FLOW_DIR_ORIG, T0 + 7000, "STOR payroll.7z\r\n");
    send_payload(d, &control, FLOW_DIR_RESP, T0 + 8000, "150 Opening\r\n");
    /* The upload itself: from the client, which is the responder in active mode. */
    data.dir[active ? FLOW_DIR_RESP : FLOW_DIR_ORIG].payload_bytes = 20 * MB;
    data.last_ts_usec = T0 + 60 * SEC;
    record(d, &data);
    CHECK(data.observer_state == NULL);         /* freed on the final record */
    control.last_ts_usec = T0 + 61 * SEC;
    record(d, &control);
    detector_free(d);
}

UNIT_TEST(test_ftp_stor_passive)
{
    struct collected c;
    ftp_session(false, &c);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(a->evidence & EVIDENCE_FTP_STOR);
        CHECK(has_technique(a, "T1048.003"));
        CHECK_STR(a->dest_name, "93.184.216.7");
        CHECK_EQ_U(a->src_addr[3], 5);
        CHECK_EQ_U(a->bytes_out, 20 * MB);
        CHECK_EQ_U(a->dest_port, 50000);
        CHECK(strstr(a->reason, "FTP STOR") != NULL);
    }
}

UNIT_TEST(test_ftp_stor_active)
{
    struct collected c;
    ftp_session(true, &c);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(a->evidence & EVIDENCE_FTP_STOR);
        CHECK_EQ_U(a->src_addr[0], 10);          /* the internal client, though responder */
        CHECK_EQ_U(a->src_addr[3], 5);
        CHECK_EQ_U(a->dest_addr[0], 93);
        CHECK_EQ_U(a->bytes_out, 20 * MB);
        CHECK(a->pcr > 0.99);
    }
}

UNIT_TEST(test_http_post_evidence)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Hourly HTTP PUTs of a few MB to a named host over plain HTTP. */
    for (int i = 0; i < 5; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 3600 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.5", 40000, "151.101.64.90", 80, start, start, 0, 0);
        send_empty(d, &f, FLOW_DIR_ORIG, start);
        send_payload(d, &f, FLOW_DIR_ORIG, start + 1000,
                     "PUT /dav/dump.tar HTTP/1.1\r\nHost: dav.example.org\r\nContent-Length: 3000000\r\n\r\n");
        CHECK(f.observer_state != NULL);
        f.dir[FLOW_DIR_ORIG].payload_bytes += 3 * MB;
        f.dir[FLOW_DIR_RESP].payload_bytes = 300;
        f.last_ts_usec = start + 20 * SEC;
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(a->evidence & EVIDENCE_HTTP_UPLOAD);
        CHECK(has_technique(a, "T1048.003"));
        CHECK(has_technique(a, "T1029"));
        CHECK_STR(a->dest_name, "dav.example.org");   /* from the parsed Host */
        CHECK(strstr(a->reason, "HTTP upload request") != NULL);
    }
    detector_free(d);
}

UNIT_TEST(test_http_post_to_bare_ip)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    /* Every 30 min a POST of a few MB to an address, no name: C2-style exfiltration. */
    for (int i = 0; i < 4; i++) {
        struct flow f;
        uint64_t start = T0 + (uint64_t)i * 1800 * SEC + (uint64_t)(i % 2) * 5 * SEC;
        flow_make(&f, (uint64_t)i + 1, "10.1.1.20", 40000, "45.33.32.156", 80, start, start, 0, 0);
        send_empty(d, &f, FLOW_DIR_ORIG, start);
        send_payload(d, &f, FLOW_DIR_ORIG, start + 1000,
                     "POST /gate.php HTTP/1.1\r\nHost: 45.33.32.156\r\nContent-Length: 2000000\r\n\r\n");
        /* The body arrives in the next segments: count it as the parser would see it. */
        CHECK(f.observer_state != NULL);
        char chunk[1001];
        memset(chunk, 'x', 1000);
        chunk[1000] = '\0';
        for (int k = 0; k < 2000; k++)
            send_payload(d, &f, FLOW_DIR_ORIG, start + 2000 + (uint64_t)k, chunk);
        f.dir[FLOW_DIR_RESP].payload_bytes = 200;
        f.last_ts_usec = start + 10 * SEC;
        record(d, &f);
    }
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(has_technique(a, "T1041"));
        CHECK(has_technique(a, "T1029"));
        CHECK(!has_technique(a, "T1048.003"));
        CHECK_STR(a->dest_name, "45.33.32.156");
        CHECK(strstr(a->reason, "4 HTTP upload requests (8.0 MB of bodies) to a bare IP") != NULL);
        printf("     reason: %s\n", a->reason);
    }
    detector_free(d);
}

UNIT_TEST(test_state_persists_across_restart)
{
    char dir[] = "/tmp/exflow-detect-e2e-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/state", dir);
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.state_file = path;
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    run_hourly_upload(d, "10.1.1.5", "files.example-drop.net", 3, 1);
    char err[512];
    CHECK(detector_save_state(d, err, sizeof(err)));   /* as main does once at exit */
    detector_free(d);
    /* Ten days later the destination is no longer new: it was remembered. */
    d = make_detector(&config, &c);
    if (d) {
        struct flow f;
        uint64_t later = T0 + 10 * 86400 * SEC;
        for (int i = 0; i < 5; i++) {
            uint64_t start = later + (uint64_t)i * 3600 * SEC;
            flow_make(&f, 100 + (uint64_t)i, "10.1.1.5", 40000, "93.184.216.21", 443, start,
                      start + 30 * SEC, 8 * MB, 60000);
            snprintf(f.labels.server_name, sizeof(f.labels.server_name), "files.example-drop.net");
            record(d, &f);
        }
        CHECK_EQ_U(c.count, 0);
        detector_free(d);
    }
    unlink(path);
    char lock[300];
    snprintf(lock, sizeof(lock), "%s.lock", path);
    unlink(lock);
    strncat(path, CHECKPOINT_SUFFIX, sizeof(path) - strlen(path) - 1);
    unlink(path);
    CHECK(rmdir(dir) == 0);
}

UNIT_TEST(test_names)
{
    CHECK_STR(alert_severity_name(SEVERITY_CRITICAL), "critical");
    CHECK_STR(alert_severity_name(SEVERITY_LOW), "low");
    CHECK_STR(detect_evidence_name(0), "ftp_stor");
    CHECK_STR(detect_evidence_name(6), "periodic");
    CHECK_STR(detect_evidence_name(99), "unknown");
    char text[32];
    score_format_bytes(48200000, text, sizeof(text));
    CHECK_STR(text, "48.2 MB");
    score_format_bytes(999, text, sizeof(text));
    CHECK_STR(text, "999 B");
    score_format_duration(3600, text, sizeof(text));
    CHECK_STR(text, "60.0 min");
    score_format_duration(5.9 * 3600, text, sizeof(text));
    CHECK_STR(text, "5.9 h");
    score_format_duration(72, text, sizeof(text));
    CHECK_STR(text, "1.2 min");
}

UNIT_TEST(test_score_formula)
{
    struct detect_config config;
    detect_config_defaults(&config);
    struct finding f;
    memset(&f, 0, sizeof(f));
    struct score_parts p;
    /* 100x the minimum upload, PCR 1, perfectly periodic, new everywhere, FTP STOR,
     * 50x the usual hour: every part 1, score 1. */
    f.bytes_out = 100 * config.min_upload_bytes;
    f.pcr = 1.0;
    f.periodic = true;
    f.beacon.score = 1.0;
    f.pair_new = f.site_new = true;
    f.ftp_command = FTP_CMD_STOR;
    f.evidence = EVIDENCE_FTP_STOR;
    f.baseline_ratio = 50.0;
    f.baseline_anomalous = true;
    CHECK_NEAR(score_finding(&f, &config, &p, NULL), 1.0, 1e-9);
    CHECK(score_severity(1.0) == SEVERITY_CRITICAL);
    config.bulk_min_bytes = 0;  /* the pattern model on its own from here */
    /* No schedule, no protocol: at most 0.15 + 0.10 + 0.20 + 0.10 = 0.55. */
    f.periodic = false;
    f.ftp_command = FTP_CMD_NONE;
    f.evidence = 0;
    CHECK_NEAR(score_finding(&f, &config, &p, NULL), 0.55, 1e-9);
    /* Volume part: 0.5 at the minimum upload. PCR part: 0 at the threshold. */
    f.bytes_out = config.min_upload_bytes;
    f.pcr = config.pcr_threshold;
    f.pair_new = false;
    f.baseline_anomalous = false;
    CHECK_NEAR(score_finding(&f, &config, &p, NULL), 0.15 * 0.5, 1e-9);
    CHECK_NEAR(p.volume, 0.5, 1e-9);
    CHECK_NEAR(p.upload, 0.0, 1e-9);
    CHECK(score_severity(0.65) == SEVERITY_LOW);
    CHECK(score_severity(0.75) == SEVERITY_MEDIUM);
    CHECK(score_severity(0.85) == SEVERITY_HIGH);
}

UNIT_MAIN("detect",
          UNIT_CASE(test_periodic_upload_alerts_once), UNIT_CASE(test_suppression_window),
          UNIT_CASE(test_changed_shape_waits_for_window),
          UNIT_CASE(test_cloud_storage_upload),
          UNIT_CASE(test_big_download_no_alert), UNIT_CASE(test_periodic_small_polling_no_alert),
          UNIT_CASE(test_slow_drip_alerts),
          UNIT_CASE(test_internal_backup_no_alert), UNIT_CASE(test_learning_period),
          UNIT_CASE(test_allowlisted_no_alert), UNIT_CASE(test_c2_like_channel),
          UNIT_CASE(test_parallel_streams), UNIT_CASE(test_volume_anomaly), UNIT_CASE(test_ssh_upload),
          UNIT_CASE(test_geo_and_ipv6),
          UNIT_CASE(test_ftp_stor_passive), UNIT_CASE(test_ftp_stor_active),
          UNIT_CASE(test_http_post_evidence), UNIT_CASE(test_http_post_to_bare_ip),
          UNIT_CASE(test_state_persists_across_restart),
          UNIT_CASE(test_names), UNIT_CASE(test_score_formula))
