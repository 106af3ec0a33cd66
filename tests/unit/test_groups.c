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

/* Hourly uploads rotated over eight networks of one autonomous system (1.128.0.0/11 is
 * AS1221, Telstra, in MaxMind's test ASN database): no address, /24 or name has a schedule;
 * the AS does, and only with the ASN database given. */
static int rotation_over_an_asn(struct geo *geo, struct collected *c)
{
    struct detect_config config;
    char err[512] = "";
    memset(c, 0, sizeof(*c));
    detect_config_defaults(&config);
    config.geo = geo;
    struct detector *d = detector_new(&config, on_alert, c, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return -1;
    for (uint64_t i = 0; i < 12; i++) {
        char server[32];
        snprintf(server, sizeof(server), "1.%u.%u.9", (unsigned)(128 + 4 * (i % 8)), (unsigned)(i % 8));
        upload(d, i, server, "");
    }
    struct detect_stats stats;
    detector_get_stats(d, &stats);
    detector_free(d);
    return (int)stats.group_findings;
}

UNIT_TEST(test_rotation_over_an_asn)
{
    char err[256] = "", key[64], name[160];
    struct collected c;
    CHECK_EQ_U(rotation_over_an_asn(NULL, &c), 0);
    CHECK_EQ_U(c.count, 0);
    struct geo *geo = geo_open(NULL, "geo/testdata/GeoLite2-ASN-Test.mmdb", err, sizeof(err));
    CHECK(geo != NULL);
    if (geo == NULL) {
        fprintf(stderr, "  %s (run from the repository root)\n", err);
        return;
    }
    CHECK(rotation_over_an_asn(geo, &c) >= 1);
    CHECK(c.count >= 1);
    if (c.count >= 1) {
        CHECK_STR(c.last.group, "AS1221 Telstra Pty Ltd");
        CHECK_STR(c.last.dest_name, "AS1221 Telstra Pty Ltd");
        CHECK(c.last.evidence & EVIDENCE_PERIODIC);
        CHECK(strstr(c.last.group_members, "1.128.0.9,1.132.1.9") != NULL);
        CHECK(c.last.connections >= 4);
        CHECK(c.last.dest_geo.asn == 1221);
    }
    /* The organisation's group is keyed by its name as keys are made everywhere. */
    struct geo_info info;
    memset(&info, 0, sizeof(info));
    info.asn = 1221;
    snprintf(info.as_org, sizeof(info.as_org), "Telstra Pty Ltd");
    CHECK(groups_of_network_owner(&info, GROUP_LEVEL_ASN, key, sizeof(key), name, sizeof(name)));
    CHECK_STR(key, "AS1221");
    CHECK(groups_of_network_owner(&info, GROUP_LEVEL_ORG, key, sizeof(key), name, sizeof(name)));
    CHECK_STR(key, "org:telstra_pty_ltd");
    CHECK_STR(name, "Telstra Pty Ltd");
    info.asn = 0;
    info.as_org[0] = '\0';
    CHECK(!groups_of_network_owner(&info, GROUP_LEVEL_ASN, key, sizeof(key), name, sizeof(name)));
    CHECK(!groups_of_network_owner(&info, GROUP_LEVEL_ORG, key, sizeof(key), name, sizeof(name)));
    geo_close(geo);
}

UNIT_MAIN("groups", UNIT_CASE(test_group_keys), UNIT_CASE(test_rotation_over_a_network),
          UNIT_CASE(test_rotation_over_a_domain), UNIT_CASE(test_rotation_over_an_asn))
