/* SPDX-License-Identifier: GPL-3.0-or-later */
/* checkpoint.c: detection state (series, baselines, suppression) survives a restart, and a
 * file of another version or a damaged one is refused with a clear message. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../detect/detect_internal.h"

#define SEC 1000000ULL
#define MB 1000000ULL
#define T0 (1700000000ULL * SEC)

static char temp_dir[] = "/tmp/exflow-checkpoint-XXXXXX";
static char state_path[256], detect_path[300];

struct collected {
    int count;
    struct alert last;
};

static void on_alert(void *user, const struct alert *alert)
{
    struct collected *c = user;
    c->count++;
    c->last = *alert;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_state(void)
{
    unlink(state_path);
    unlink(detect_path);
}

/* One TLS upload of out bytes from 10.1.1.5 to name at start. */
static void upload(struct detector *d, uint64_t id, const char *name, uint64_t start, uint64_t out)
{
    struct flow f;
    memset(&f, 0, sizeof(f));
    f.id = id;
    f.ip_version = (uint8_t)geo_addr_parse("10.1.1.5", f.orig_addr);
    geo_addr_parse("151.101.64.20", f.resp_addr);
    f.proto = 6;
    f.orig_port = 40000;
    f.resp_port = 443;
    f.start_ts_usec = start;
    f.last_ts_usec = start + 20 * SEC;
    f.dir[0].payload_bytes = out;
    f.dir[1].payload_bytes = 20000;
    snprintf(f.labels.server_name, sizeof(f.labels.server_name), "%s", name);
    detector_on_record(d, &f, FLOW_END_TCP_CLOSE, true);
}

/* The same day of traffic, once in one detector and once split over a restart: same
 * alerts (count, score, severity, evidence, suppression). The host's baseline of small
 * hourly uploads is learned before the restart; the hourly job after it is only
 * anomalous against that baseline. */
static void run_day(struct detector **d, struct detect_config *config, struct collected *c,
                    bool restart)
{
    char err[512] = "";
    for (int i = 0; i < 12; i++)
        upload(*d, (uint64_t)i + 1, "known.example.net", T0 + (uint64_t)i * 3600 * SEC, 100000);
    if (restart) {
        CHECK(detector_save_state(*d, err, sizeof(err)));
        detector_free(*d);
        *d = detector_new(config, on_alert, c, err, sizeof(err));
        CHECK(*d != NULL);
        if (*d == NULL)
            return;
    }
    for (int i = 0; i < 6; i++)
        upload(*d, (uint64_t)i + 1, "drop.example.org", T0 + (uint64_t)(12 + i) * 3600 * SEC, 6 * MB);
}

UNIT_TEST(test_restart_gives_same_alerts)
{
    struct detect_config config;
    struct collected whole, split;
    char err[512] = "";
    detect_config_defaults(&config);
    config.state_file = state_path;
    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));

    remove_state();
    struct detector *d = detector_new(&config, on_alert, &whole, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    run_day(&d, &config, &whole, false);
    detector_free(d);
    remove_state();
    d = detector_new(&config, on_alert, &split, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    run_day(&d, &config, &split, true);
    struct detect_stats stats;
    if (d)
        detector_get_stats(d, &stats);
    detector_free(d);
    CHECK(whole.count >= 1);
    CHECK_EQ_U(split.count, whole.count);
    CHECK(whole.last.evidence & EVIDENCE_VOLUME_ANOMALY);   /* needs the restored baseline */
    CHECK_EQ_U(split.last.evidence, whole.last.evidence);
    CHECK_NEAR(split.last.score, whole.last.score, 1e-9);
    CHECK_NEAR(split.last.baseline_ratio, whole.last.baseline_ratio, 1e-9);
    CHECK_EQ_U(split.last.connections, whole.last.connections);
    CHECK_EQ_U(stats.hosts, 1);
    CHECK_EQ_U(stats.destinations, 4);     /* two names and their two groups */
    remove_state();
}

/* An hourly job that starts before a restart and goes on after it: the ring comes back
 * connection by connection, so the schedule is found at the same upload as in one run. */
static int hourly_across_restart(struct detect_config *config, struct collected *c, bool restart)
{
    char err[512] = "";
    remove_state();
    memset(c, 0, sizeof(*c));
    struct detector *d = detector_new(config, on_alert, c, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (restart && i == 3) {
            CHECK(detector_save_state(d, err, sizeof(err)));
            detector_free(d);
            d = detector_new(config, on_alert, c, err, sizeof(err));
            CHECK(d != NULL);
            if (d == NULL)
                return -1;
        }
        upload(d, (uint64_t)i + 1, "drop.example.org", T0 + (uint64_t)i * 3600 * SEC, 2 * MB);
        if (c->count > 0) {
            detector_free(d);
            remove_state();
            return i;
        }
    }
    detector_free(d);
    remove_state();
    return -1;
}

UNIT_TEST(test_restart_mid_schedule)
{
    struct detect_config config;
    struct collected whole, split;
    detect_config_defaults(&config);
    config.state_file = state_path;
    int at_whole = hourly_across_restart(&config, &whole, false);
    int at_split = hourly_across_restart(&config, &split, true);
    CHECK(at_whole >= 3);
    CHECK_EQ_U(at_split, at_whole);
    CHECK_EQ_U(split.last.connections, whole.last.connections);
    CHECK_NEAR(split.last.period_sec, whole.last.period_sec, 1e-6);
}

UNIT_TEST(test_checkpoint_refuses_other_version)
{
    struct detect_config config;
    char err[512] = "";
    detect_config_defaults(&config);
    config.state_file = state_path;
    remove_state();
    struct detector *d = detector_new(&config, NULL, NULL, err, sizeof(err));   /* a good pair */
    CHECK(d != NULL);
    detector_free(d);
    write_file(detect_path, "exflow-detect-state 99\n");
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, "format version 99") != NULL);
    CHECK(strstr(err, "--reset-state") != NULL);
    write_file(detect_path, "exflow-detect-state 1\nseries zz\n");
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, "line 2: malformed") != NULL);
    /* A truncated ring (the series says 3 connections, the file ends). */
    write_file(detect_path, "exflow-detect-state 1\n"
               "series 31302e312e312e35 782e6f7267 4 0a010105000000000000000000000000 "
               "97654014000000000000000000000000 443 6 - - 1 1 1 0 0 0 0 0 0 0 0 0 3 3 0 -\n"
               "conn 1 2 3 4\n");
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    config.state_reset_if_corrupt = true;
    log_threshold = LOG_LEVEL_ERROR;        /* the reset warning is expected */
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    if (d) {
        struct detect_stats stats;
        detector_get_stats(d, &stats);
        CHECK_EQ_U(stats.destinations, 0);  /* started fresh */
    }
    detector_free(d);
    remove_state();
}

/* The file's text (up to len - 1 bytes). */
static void read_text(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(out, 1, len - 1, f);
        out[n] = '\0';
        fclose(f);
    }
}

/* A version 1 file (before alert shapes) loads: an alerted series takes its evidence and
 * largest connection as the shape of its last alert, and is written back as version 2. A
 * version 2 series' shape and two-way flag survive a save unchanged. */
UNIT_TEST(test_checkpoint_migrates_version_1)
{
    static const char series_v1[] =
        "series 31302e312e312e35 782e6f7267 4 0a010105000000000000000000000000 "
        "97654014000000000000000000000000 443 6 - - 10000000 40000 1700000000000000 %u 0 0 0 "
        "0 0 1 1 1700003620000000 2 2 0 -%s\n"
        "conn 1700000000000000 1700000020000000 4000000 20000\n"
        "conn 1700003600000000 1700003620000000 6000000 20000\n";
    struct detect_config config;
    char err[512] = "", text[4096], line[1024], expect[128];
    detect_config_defaults(&config);
    config.state_file = state_path;
    remove_state();
    struct detector *d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    detector_free(d);
    snprintf(line, sizeof(line), series_v1, EVIDENCE_PERIODIC | EVIDENCE_HTTP_UPLOAD, "");
    snprintf(text, sizeof(text), "exflow-detect-state 1\n%s", line);
    write_file(detect_path, text);
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    if (d)
        CHECK(detector_save_state(d, err, sizeof(err)));
    detector_free(d);
    read_text(detect_path, text, sizeof(text));
    CHECK(strncmp(text, "exflow-detect-state 2\n", 22) == 0);
    snprintf(expect, sizeof(expect), " 0 - %u 6000000 0x0p+0 0\n", EVIDENCE_HTTP_UPLOAD);
    CHECK(strstr(text, expect) != NULL);

    snprintf(line, sizeof(line), series_v1, 0u, " 2 7000000 0x1p+10 1");
    snprintf(text, sizeof(text), "exflow-detect-state 2\n%s", line);
    write_file(detect_path, text);
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    if (d)
        CHECK(detector_save_state(d, err, sizeof(err)));
    detector_free(d);
    read_text(detect_path, text, sizeof(text));
    CHECK(strstr(text, " 0 - 2 7000000 0x1p+10 1\n") != NULL);
    remove_state();
}

static void setup(void)
{
    if (mkdtemp(temp_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(state_path, sizeof(state_path), "%s/state", temp_dir);
    snprintf(detect_path, sizeof(detect_path), "%s%s", state_path, CHECKPOINT_SUFFIX);
}

int main(void)
{
    setup();
    static const struct unit_case cases[] = {
        UNIT_CASE(test_restart_gives_same_alerts), UNIT_CASE(test_restart_mid_schedule),
        UNIT_CASE(test_checkpoint_refuses_other_version),
        UNIT_CASE(test_checkpoint_migrates_version_1),
    };
    int rc = unit_run("checkpoint", cases, (int)(sizeof(cases) / sizeof(cases[0])));
    rmdir(temp_dir);
    return rc;
}
