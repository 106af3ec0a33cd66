/* SPDX-License-Identifier: GPL-3.0-or-later */
/* groups.c and the group stage: registered domains by the public suffix list, /24 and /48
 * networks, and a schedule rotated over a group's members found as one series. */
#include "unit.h"

#include "../../common/tunables.h"
#include "../../detect/detect_internal.h"

#define SEC 1000000ULL
#define MB 1000000ULL
#define T0 (1700000000ULL * SEC)

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

/* An hourly 1 MB TLS upload from 10.1.1.5, the i-th of a job rotating over destinations. */
static void upload(struct detector *d, uint64_t i, const char *server, const char *sni)
{
    static const int jitter[] = { 0, 40, -30, 20, -10, 50, -40, 10 };
    struct flow f;
    memset(&f, 0, sizeof(f));
    uint64_t start = T0 + (uint64_t)((int64_t)i * 3600 + jitter[i % 8] + 100) * SEC;
    f.id = i + 1;
    f.ip_version = (uint8_t)geo_addr_parse("10.1.1.5", f.orig_addr);
    geo_addr_parse(server, f.resp_addr);
    f.proto = 6;
    f.orig_port = 40000;
    f.resp_port = 443;
    f.start_ts_usec = start;
    f.last_ts_usec = start + 20 * SEC;
    f.dir[0].payload_bytes = 1 * MB;
    f.dir[1].payload_bytes = 8000;
    snprintf(f.labels.master_protocol, sizeof(f.labels.master_protocol), "TLS");
    snprintf(f.labels.server_name, sizeof(f.labels.server_name), "%s", sni);
    detector_on_record(d, &f, FLOW_END_TCP_CLOSE, true);
}

UNIT_TEST(test_group_keys)
{
    char err[256] = "", out[128];
    struct groups *g = groups_new(DEFAULT_PSL_FILE, err, sizeof(err));
    CHECK(g != NULL);
    if (g == NULL)
        return;
    uint8_t addr[GEO_ADDR_LEN];
    groups_of(g, "files3.example-drop.co.uk", true, 4, addr, out, sizeof(out));
    CHECK_STR(out, "example-drop.co.uk");
    groups_of(g, "bucket.s3.amazonaws.com", true, 4, addr, out, sizeof(out));
    CHECK_STR(out, "bucket.s3.amazonaws.com");  /* s3.amazonaws.com is a public suffix */
    geo_addr_parse("203.0.113.77", addr);
    groups_of(g, "203.0.113.77", false, 4, addr, out, sizeof(out));
    CHECK_STR(out, "203.0.113.0/24");
    geo_addr_parse("2001:db8:1:2::5", addr);
    groups_of(g, "2001:db8:1:2::5", false, 6, addr, out, sizeof(out));
    CHECK_STR(out, "2001:db8:1::/48");
    groups_free(g);
    /* The list must load: a missing file is a clear set-up error. */
    g = groups_new("/nonexistent/public_suffix_list.dat", err, sizeof(err));
    CHECK(g == NULL);
    CHECK(strstr(err, "--psl-file") != NULL);
    CHECK(strstr(err, "publicsuffix") != NULL);
}

/* Hourly uploads rotated over eight addresses of one /24 with no name: no single address
 * has a schedule (each sees one upload in eight hours), the /24 does. */
UNIT_TEST(test_rotation_over_a_network)
{
    struct detect_config config;
    struct collected c;
    char err[512] = "";
    memset(&c, 0, sizeof(c));
    detect_config_defaults(&config);
    struct detector *d = detector_new(&config, on_alert, &c, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    for (uint64_t i = 0; i < 12; i++) {
        char server[32];
        snprintf(server, sizeof(server), "151.101.64.%u", (unsigned)(10 + i % 8));
        upload(d, i, server, "");
    }
    CHECK(c.count >= 1);
    if (c.count >= 1) {
        CHECK_STR(c.last.group, "151.101.64.0/24");
        CHECK_STR(c.last.dest_name, "151.101.64.0/24");
        CHECK(c.last.evidence & EVIDENCE_PERIODIC);
        CHECK(strstr(c.last.group_members, "151.101.64.10,151.101.64.11") != NULL);
        CHECK(c.last.connections >= 4);
    }
    detector_free(d);
}

/* The same with eight names of one registered domain on eight unrelated addresses. */
UNIT_TEST(test_rotation_over_a_domain)
{
    struct detect_config config;
    struct collected c;
    char err[512] = "";
    memset(&c, 0, sizeof(c));
    detect_config_defaults(&config);
    struct detector *d = detector_new(&config, on_alert, &c, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    for (uint64_t i = 0; i < 12; i++) {
        char server[32], name[64];
        snprintf(server, sizeof(server), "%u.184.216.%u", (unsigned)(60 + i % 8), (unsigned)(i % 8));
        snprintf(name, sizeof(name), "n%u.sync-example.co.uk", (unsigned)(i % 8));
        upload(d, i, server, name);
    }
    CHECK(c.count >= 1);
    if (c.count >= 1) {
        CHECK_STR(c.last.group, "sync-example.co.uk");
        CHECK(c.last.evidence & EVIDENCE_PERIODIC);
        CHECK(strstr(c.last.group_members, "n0.sync-example.co.uk") != NULL);
    }
    /* Without the group stage there is nothing: each name alone has no schedule. */
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    CHECK(stats.group_findings >= 1);
    detector_free(d);
}

UNIT_MAIN("groups", UNIT_CASE(test_group_keys), UNIT_CASE(test_rotation_over_a_network),
          UNIT_CASE(test_rotation_over_a_domain))
