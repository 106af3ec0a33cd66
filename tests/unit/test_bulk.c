/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ stages added for issue 14: packed-data recognition, the bulk-upload model and its
 * log scale, the score breakdown, learned destinations and schedules, cloud weight. Flow
 * records and packets are built in memory and go through the detector's public hooks. */
#include "unit.h"

#include <stdlib.h>

#include "../../detect/detect_internal.h"

#define SEC 1000000ULL
#define MB 1000000ULL
#define T0 (1700000000ULL * SEC)
#define MAX_ALERTS 16

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

static struct detector *make_detector(const struct detect_config *config, struct collected *c)
{
    char err[512] = "";
    memset(c, 0, sizeof(*c));
    struct detector *d = detector_new(config, on_alert, c, err, sizeof(err));
    if (d == NULL)
        fprintf(stderr, "  detector_new: %s\n", err);
    return d;
}

static void flow_make(struct flow *f, uint64_t id, const char *orig, const char *resp,
                      uint16_t resp_port, uint64_t start, uint64_t end, uint64_t out, uint64_t in)
{
    memset(f, 0, sizeof(*f));
    f->id = id;
    f->ip_version = (uint8_t)geo_addr_parse(orig, f->orig_addr);
    geo_addr_parse(resp, f->resp_addr);
    f->proto = 6;
    f->orig_port = 40000;
    f->resp_port = resp_port;
    f->start_ts_usec = start;
    f->last_ts_usec = end;
    f->dir[0].payload_bytes = out;
    f->dir[1].payload_bytes = in;
    f->dir[0].packets = out ? out / 1400 + 3 : 0;
    f->dir[1].packets = in ? in / 1400 + 3 : 0;
    f->tcp_state = TCP_STATE_CLOSED;
}

/* One TLS upload of `out` bytes with this SNI (empty: none) from 10.1.1.5. */
static void tls_upload(struct detector *d, uint64_t id, const char *server, const char *sni,
                       uint64_t start, uint64_t out)
{
    struct flow f;
    flow_make(&f, id, "10.1.1.5", server, 443, start, start + 300 * SEC, out, out / 100);
    snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "TLS");
    snprintf(f.labels.server_name, sizeof(f.labels.server_name), "%s", sni);
    detector_on_record(d, &f, FLOW_END_TCP_CLOSE, true);
}

static void send_payload(struct detector *d, struct flow *f, enum flow_direction dir, uint64_t ts,
                         const void *data, size_t len)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = f->ip_version;
    pkt.proto = 6;
    pkt.payload = data;
    pkt.payload_len = pkt.payload_wire_len = (uint32_t)len;
    f->dir[dir].packets++;
    f->dir[dir].payload_bytes += len;
    f->last_ts_usec = ts;
    detector_on_packet(d, f, &pkt, dir);
}

UNIT_TEST(test_packed_recognition)
{
    CHECK(packed_magic((const uint8_t *)"PK\x03\x04rest", 8) == PACKED_ZIP);
    CHECK(packed_magic((const uint8_t *)"7z\xbc\xaf\x27\x1c\x00\x04", 8) == PACKED_7Z);
    CHECK(packed_magic((const uint8_t *)"Rar!\x1a\x07\x01\x00", 8) == PACKED_RAR);
    CHECK(packed_magic((const uint8_t *)"\x1f\x8b\x08\x00", 4) == PACKED_GZIP);
    CHECK(packed_magic((const uint8_t *)"\xfd" "7zXZ\x00\x00", 7) == PACKED_XZ);
    CHECK(packed_magic((const uint8_t *)"PK\x03", 3) == PACKED_NONE);   /* too short */
    CHECK(packed_magic((const uint8_t *)"{\"a\":1}", 7) == PACKED_NONE);
    CHECK(packed_content_type("application/zip", 15) == PACKED_ZIP);
    CHECK(packed_content_type("Application/X-7z-Compressed; q=1", 32) == PACKED_7Z);
    CHECK(packed_content_type("application/json", 16) == PACKED_NONE);
    CHECK(packed_content_type("application/zipx", 16) == PACKED_NONE);
    CHECK(packed_filename("payroll.TGZ", 11) == PACKED_GZIP);
    CHECK(packed_filename(".zip", 4) == PACKED_NONE);   /* nothing before the extension */
    CHECK(packed_filename("notes.txt", 9) == PACKED_NONE);
    static const char part[] = "--b\r\nContent-Disposition: form-data; name=\"f\"; "
                               "filename=\"q3.rar\"\r\nContent-Type: application/octet-stream"
                               "\r\n\r\nxxxx";
    CHECK(packed_multipart((const uint8_t *)part, sizeof(part) - 1) == PACKED_RAR);
    static const char magic_part[] = "--b\r\nContent-Disposition: form-data; name=\"f\"; "
                                     "filename=\"blob\"\r\n\r\nPK\x03\x04zzzz";
    CHECK(packed_multipart((const uint8_t *)magic_part, sizeof(magic_part) - 1) == PACKED_ZIP);
    CHECK(strcmp(packed_kind_name(PACKED_XZ), "xz") == 0);
}

/* An HTTP POST whose body starts with a zip's magic, to a host no one used before. */
UNIT_TEST(test_http_zip_post_is_packed)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    struct flow f;
    flow_make(&f, 1, "10.1.1.5", "151.101.64.90", 80, T0, T0, 0, 0);
    static const char head[] = "POST /u HTTP/1.1\r\nHost: collect.example.org\r\n"
                               "Content-Length: 5000000\r\n\r\n";
    send_payload(d, &f, FLOW_DIR_ORIG, T0 + 1000, head, sizeof(head) - 1);
    send_payload(d, &f, FLOW_DIR_ORIG, T0 + 2000, "PK\x03\x04\x14\x00\x00\x00", 8);
    f.dir[FLOW_DIR_ORIG].payload_bytes += 5 * MB;
    f.dir[FLOW_DIR_RESP].payload_bytes = 300;
    f.last_ts_usec = T0 + 20 * SEC;
    detector_on_record(d, &f, FLOW_END_TCP_CLOSE, true);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        CHECK(c.alerts[0].evidence & EVIDENCE_PACKED_DATA);
        CHECK(c.alerts[0].evidence & EVIDENCE_HTTP_UPLOAD);
        CHECK_STR(c.alerts[0].packed_kind, "zip");
        CHECK(strstr(c.alerts[0].reason, "zip archive in the upload") != NULL);
    }
    detector_free(d);
}

/* The bulk model: 5 MB stays quiet, 50 MB alerts, 500 MB ranks clearly higher and is
 * high, and the volume scale does not stop. */
UNIT_TEST(test_bulk_upload_log_scale)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    tls_upload(d, 1, "151.101.64.77", "", T0, 5 * MB);
    CHECK_EQ_U(c.count, 0);
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK_EQ_U(stats.outbound, 1);
    CHECK_EQ_U(stats.findings, 1);              /* upload-heavy, scored ... */
    CHECK_EQ_U(stats.below_threshold, 1);       /* ... and under the threshold */
    tls_upload(d, 2, "151.101.64.1", "", T0 + 3600 * SEC, 50 * MB);
    tls_upload(d, 3, "151.101.64.2", "", T0 + 7200 * SEC, 500 * MB);
    tls_upload(d, 4, "151.101.64.3", "", T0 + 9000 * SEC, 5000 * MB);
    CHECK_EQ_U(c.count, 3);
    if (c.count == 3) {
        const struct alert *a50 = &c.alerts[0], *a500 = &c.alerts[1], *a5000 = &c.alerts[2];
        CHECK(a50->evidence & EVIDENCE_BULK_UPLOAD);
        CHECK(a500->score >= a50->score + 0.15);
        CHECK(a500->severity >= SEVERITY_HIGH);
        CHECK(a5000->score > a500->score);
        CHECK(a5000->severity == SEVERITY_CRITICAL);
        /* The breakdown adds up to the score. */
        const struct score_breakdown *b = &a500->breakdown;
        CHECK_STR(b->model, "bulk");
        double bulk = 0.0, pattern = 0.0;
        for (uint32_t i = 0; i < b->count; i++) {
            double points = b->part[i].value * b->part[i].weight;
            if (strcmp(b->part[i].model, "bulk") == 0)
                bulk += points;
            else
                pattern += points;
        }
        CHECK_NEAR(bulk, b->bulk, 1e-9);
        CHECK_NEAR(pattern, b->pattern, 1e-9);
        CHECK_NEAR(a500->score, b->bulk, 1e-9);
    }
    detector_free(d);
}

/* A destination first used during --learn is never new: the same 50 MB upload to it after
 * learning does not alert from volume, to a fresh destination it does. */
UNIT_TEST(test_learned_destination_not_bulk)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.learn_usec = 86400 * SEC;
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    tls_upload(d, 1, "151.101.64.1", "backup.example.net", T0, 40 * MB);
    tls_upload(d, 2, "151.101.64.1", "backup.example.net", T0 + 2 * 86400 * SEC, 50 * MB);
    CHECK_EQ_U(c.count, 0);
    tls_upload(d, 3, "151.101.64.9", "drop.example.com", T0 + 2 * 86400 * SEC + 600 * SEC,
               50 * MB);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1)
        CHECK_STR(c.alerts[0].dest_name, "drop.example.com");
    detector_free(d);
}

/* A daily 30 MB backup to S3 learned on day 1 and repeated for six more days: the schedule
 * repeats what was learned and does not reach high, nor re-alert every day. */
UNIT_TEST(test_learned_daily_backup_stays_low)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.learn_usec = 86400 * SEC;
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    for (int day = 0; day < 7; day++)
        tls_upload(d, (uint64_t)day + 1, "52.216.8.1", "backups.s3.amazonaws.com",
                   T0 + (uint64_t)day * 86400 * SEC + (uint64_t)(day * 37 % 11) * 60 * SEC,
                   30 * MB);
    for (int i = 0; i < c.count && i < MAX_ALERTS; i++)
        CHECK(c.alerts[i].severity < SEVERITY_HIGH);
    CHECK(c.count <= 1);
    detector_free(d);
}

/* Cloud storage alone is worth no more than an unknown destination: the same one-off
 * 20 MB scores the same to a cloud service as to a name never seen. */
UNIT_TEST(test_cloud_not_above_unknown)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    config.alert_threshold = 0.0;   /* see every score */
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    tls_upload(d, 1, "142.250.1.1", "storage.googleapis.com", T0, 20 * MB);
    tls_upload(d, 2, "151.101.64.9", "files.unknown-example.net", T0 + 60 * SEC, 20 * MB);
    CHECK_EQ_U(c.count, 2);
    if (c.count == 2) {
        CHECK(c.alerts[0].evidence & EVIDENCE_CLOUD_STORAGE);
        double cloud_protocol = 0.0, unknown_new = 0.0;
        for (uint32_t i = 0; i < c.alerts[0].breakdown.count; i++)
            if (strcmp(c.alerts[0].breakdown.part[i].name, "protocol") == 0)
                cloud_protocol = c.alerts[0].breakdown.part[i].value *
                                 c.alerts[0].breakdown.part[i].weight;
        for (uint32_t i = 0; i < c.alerts[1].breakdown.count; i++)
            if (strcmp(c.alerts[1].breakdown.part[i].name, "new_destination") == 0)
                unknown_new = c.alerts[1].breakdown.part[i].value *
                              c.alerts[1].breakdown.part[i].weight;
        /* New and cloud do not stack: the name adds nothing to the newness. */
        CHECK_NEAR(cloud_protocol, 0.0, 1e-9);
        CHECK(unknown_new > 0.0);
        CHECK_NEAR(c.alerts[0].score, c.alerts[1].score, 1e-9);
    }
    detector_free(d);
}

/* Deterministic uniform jitter in [-1,1] (a fixed LCG: the test is the same every run). */
static double jitter_unit(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return ((double)((*state >> 8) & 0xffff) / 65535.0) * 2.0 - 1.0;
}

/* 1 MB every 30 min with +-50% uniform jitter over 12 h to a new TLS name with no SNI
 * evidence: the gaps are too irregular for the interval score, but every hour carries an
 * upload, so the series is a schedule (persistent). The same number of uploads spread at
 * random over four days is not. */
UNIT_TEST(test_jittered_schedule_is_persistent)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    uint32_t rng = 7;
    double t = 0.0;
    for (uint64_t i = 0; i < 24; i++) {
        t += 1800.0 * (1.0 + 0.5 * jitter_unit(&rng));
        tls_upload(d, i + 1, "151.101.64.1", "sync.jitter-example.net",
                   T0 + (uint64_t)(t * 1e6), 1 * MB);
    }
    CHECK(c.count >= 1);
    if (c.count >= 1) {
        const struct alert *a = &c.alerts[0];
        CHECK(a->evidence & EVIDENCE_PERIODIC);
        CHECK(a->evidence & EVIDENCE_PERSISTENT);
        CHECK(a->beacon_score < config.beacon_min_score);   /* not regular by intervals */
    }
    int jittered_alerts = c.count;
    /* Sparse: 24 uploads at random over 96 h to another name. */
    t = 0.0;
    for (uint64_t i = 0; i < 24; i++) {
        t += 4.0 * 3600.0 * (1.0 + 0.9 * jitter_unit(&rng));
        tls_upload(d, i + 100, "151.101.64.2", "sparse.example.net",
                   T0 + 200000 * SEC + (uint64_t)(t * 1e6), 1 * MB);
    }
    CHECK_EQ_U(c.count, jittered_alerts);
    detector_free(d);
}

/* The benign look-alike of the issue: a nightly 30 MB backup to an S3 bucket for 7 days,
 * with no learning period. It may alert (nothing says it is a backup), but never high or
 * critical, and never above the same schedule to an unknown name. */
UNIT_TEST(test_nightly_s3_backup_not_high)
{
    struct detect_config config;
    struct collected c, unknown;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    double top_cloud = 0.0, top_unknown = 0.0;
    for (int day = 0; day < 7; day++)
        tls_upload(d, (uint64_t)day + 1, "52.216.8.1", "backups.s3.amazonaws.com",
                   T0 + (uint64_t)day * 86400 * SEC + (uint64_t)(day * 37 % 11) * 60 * SEC,
                   30 * MB);
    for (int i = 0; i < c.count && i < MAX_ALERTS; i++) {
        CHECK(c.alerts[i].severity < SEVERITY_HIGH);
        if (c.alerts[i].score > top_cloud)
            top_cloud = c.alerts[i].score;
        printf("     s3 backup alert %d: %s %.3f\n", i, alert_severity_name(c.alerts[i].severity),
               c.alerts[i].score);
    }
    detector_free(d);
    d = make_detector(&config, &unknown);
    if (!d)
        return;
    for (int day = 0; day < 7; day++)
        tls_upload(d, (uint64_t)day + 1, "151.101.64.9", "nightly.unknown-example.net",
                   T0 + (uint64_t)day * 86400 * SEC + (uint64_t)(day * 37 % 11) * 60 * SEC,
                   30 * MB);
    for (int i = 0; i < unknown.count && i < MAX_ALERTS; i++)
        if (unknown.alerts[i].score > top_unknown)
            top_unknown = unknown.alerts[i].score;
    printf("     top s3 %.3f, top unknown %.3f\n", top_cloud, top_unknown);
    CHECK(top_cloud <= top_unknown);
    detector_free(d);
}

/* Passive FTP: STOR on the control channel, then a data channel whose first bytes are a
 * 7z archive's signature. */
UNIT_TEST(test_ftp_data_7z_is_packed)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    struct flow control, data;
    flow_make(&control, 1, "10.1.1.5", "93.184.216.7", 21, T0, T0, 0, 0);
    send_payload(d, &control, FLOW_DIR_RESP, T0 + 1000, "220 ready\r\n", 11);
    send_payload(d, &control, FLOW_DIR_ORIG, T0 + 2000, "PASV\r\n", 6);
    static const char reply[] = "227 Entering Passive Mode (93,184,216,7,195,80).\r\n";
    send_payload(d, &control, FLOW_DIR_RESP, T0 + 3000, reply, sizeof(reply) - 1);
    send_payload(d, &control, FLOW_DIR_ORIG, T0 + 4000, "STOR q3.bin\r\n", 13);
    flow_make(&data, 2, "10.1.1.5", "93.184.216.7", 50000, T0 + 5000, T0 + 5000, 0, 0);
    data.orig_port = 41001;
    struct packet syn;
    memset(&syn, 0, sizeof(syn));
    syn.ts_usec = T0 + 5000;
    syn.ip_version = 4;
    syn.proto = 6;
    data.dir[FLOW_DIR_ORIG].packets = 1;
    detector_on_packet(d, &data, &syn, FLOW_DIR_ORIG);
    CHECK(data.observer_state != NULL);
    send_payload(d, &data, FLOW_DIR_ORIG, T0 + 6000, "7z\xbc\xaf\x27\x1c\x00\x04", 8);
    data.dir[FLOW_DIR_ORIG].payload_bytes = 30 * MB;
    data.last_ts_usec = T0 + 60 * SEC;
    detector_on_record(d, &data, FLOW_END_TCP_CLOSE, true);
    CHECK_EQ_U(c.count, 1);
    if (c.count == 1) {
        CHECK(c.alerts[0].evidence & EVIDENCE_FTP_STOR);
        CHECK(c.alerts[0].evidence & EVIDENCE_PACKED_DATA);
        CHECK_STR(c.alerts[0].packed_kind, "7z");
    }
    control.last_ts_usec = T0 + 61 * SEC;
    detector_on_record(d, &control, FLOW_END_TCP_CLOSE, true);
    detector_free(d);
}

/* A nightly 30 MB backup to a name never seen, first appearing after learning: its first
 * night is a new bulk upload (one low alert), and the job repeating for a week is no news:
 * no escalation when it becomes a schedule, no re-alert when the window passes. */
UNIT_TEST(test_new_job_alerts_once)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    struct detector *d = make_detector(&config, &c);
    if (!d)
        return;
    for (int day = 0; day < 7; day++)
        tls_upload(d, (uint64_t)day + 1, "151.101.64.9", "nightly.unknown-example.net",
                   T0 + (uint64_t)day * 86400 * SEC + (uint64_t)(day * 37 % 11) * 60 * SEC,
                   30 * MB);
    CHECK_EQ_U(c.count, 1);
    if (c.count >= 1) {
        CHECK_EQ_U(c.alerts[0].severity, SEVERITY_LOW);
        CHECK(c.alerts[0].evidence & EVIDENCE_BULK_UPLOAD);
    }
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK(stats.suppressed >= 1);   /* the schedule scored, and was not said again */
    detector_free(d);
}

/* Score parts straight from a finding: regularity and persistence combine like independent
 * evidence, and a schedule to a destination the host also fetched files from (a two-way
 * store: a sync client) earns nothing for its upload share. */
UNIT_TEST(test_automation_and_two_way_parts)
{
    struct detect_config config;
    detect_config_defaults(&config);
    struct finding f;
    struct score_parts parts;
    memset(&f, 0, sizeof(f));
    f.bytes_out = 5 * MB;
    f.pcr = 0.95;
    f.periodic = true;
    f.beacon.score = 0.5;
    score_finding(&f, &config, &parts, NULL);
    CHECK_NEAR(parts.automation, 0.5, 1e-9);
    CHECK_NEAR(parts.upload, 0.9, 1e-9);
    f.beacon.persistent = true;
    f.beacon.persistence = 0.8;
    score_finding(&f, &config, &parts, NULL);
    CHECK_NEAR(parts.automation, 1.0 - 0.5 * 0.2, 1e-9);   /* above either alone */
    f.beacon.fetched = true;
    score_finding(&f, &config, &parts, NULL);
    CHECK_NEAR(parts.upload, 0.0, 1e-9);
    f.learned_schedule = true;                              /* repeats what was learned */
    score_finding(&f, &config, &parts, NULL);
    CHECK_NEAR(parts.automation, 0.0, 1e-9);
}

/* Four overlapping 270 kB uploads: for a host whose usual hour is tens of kB they are out
 * of character (parallel_streams); from a host with no baseline they are what any sync
 * client's first run looks like, under the bulk floor, and say nothing. */
UNIT_TEST(test_small_parallel_burst_needs_character)
{
    struct detect_config config;
    struct collected c;
    detect_config_defaults(&config);
    for (int known = 0; known < 2; known++) {
        struct detector *d = make_detector(&config, &c);
        if (!d)
            return;
        uint64_t start = T0;
        for (int h = 0; known && h < 12; h++)
            tls_upload(d, (uint64_t)h + 100, "151.101.64.1", "usual.example.net",
                       T0 + (uint64_t)h * 3600 * SEC, 20000);
        if (known)
            start = T0 + 12 * 3600 * SEC;
        for (int i = 0; i < 4; i++) {
            struct flow f;
            uint64_t t = start + (uint64_t)i * SEC / 2;
            flow_make(&f, (uint64_t)i + 1, "10.1.1.5", "151.101.64.70", 443, t, t + 2 * SEC,
                      270000, 3000);
            f.orig_port = (uint16_t)(41000 + i);
            snprintf(f.labels.server_name, sizeof(f.labels.server_name), "dav.burst-example.net");
            detector_on_record(d, &f, FLOW_END_TCP_CLOSE, true);
        }
        if (known) {
            CHECK_EQ_U(c.count, 1);
            if (c.count >= 1)
                CHECK(c.alerts[0].evidence & EVIDENCE_PARALLEL_STREAMS);
        } else {
            CHECK_EQ_U(c.count, 0);
        }
        detector_free(d);
    }
}

UNIT_MAIN("bulk",
          UNIT_CASE(test_packed_recognition), UNIT_CASE(test_http_zip_post_is_packed),
          UNIT_CASE(test_bulk_upload_log_scale), UNIT_CASE(test_learned_destination_not_bulk),
          UNIT_CASE(test_learned_daily_backup_stays_low), UNIT_CASE(test_cloud_not_above_unknown),
          UNIT_CASE(test_jittered_schedule_is_persistent),
          UNIT_CASE(test_nightly_s3_backup_not_high),
          UNIT_CASE(test_ftp_data_7z_is_packed), UNIT_CASE(test_new_job_alerts_once),
          UNIT_CASE(test_automation_and_two_way_parts),
          UNIT_CASE(test_small_parallel_burst_needs_character))
