/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests for geo/: address classes, CIDR sets, MaxMind DB lookups and their errors. */
#include <arpa/inet.h>
#include <pthread.h>

#include "unit.h"

#include "../../geo/geo.h"

#define TESTDATA "geo/testdata/"

struct class_case {
    const char *address;
    enum addr_class expected;
};

UNIT_TEST(test_addr_classes)
{
    static const struct class_case cases[] = {
        { "8.8.8.8", ADDR_PUBLIC },
        { "1.1.1.1", ADDR_PUBLIC },
        { "0.0.0.0", ADDR_RESERVED },
        { "0.255.255.255", ADDR_RESERVED },
        { "1.0.0.0", ADDR_PUBLIC },
        { "9.255.255.255", ADDR_PUBLIC },
        { "10.0.0.0", ADDR_PRIVATE },
        { "10.255.255.255", ADDR_PRIVATE },
        { "11.0.0.0", ADDR_PUBLIC },
        { "100.63.255.255", ADDR_PUBLIC },
        { "100.64.0.0", ADDR_SHARED },
        { "100.127.255.255", ADDR_SHARED },
        { "100.128.0.0", ADDR_PUBLIC },
        { "127.0.0.1", ADDR_LOOPBACK },
        { "127.255.255.254", ADDR_LOOPBACK },
        { "169.254.1.1", ADDR_LINK_LOCAL },
        { "169.255.0.1", ADDR_PUBLIC },
        { "172.15.255.255", ADDR_PUBLIC },
        { "172.16.0.0", ADDR_PRIVATE },
        { "172.31.255.255", ADDR_PRIVATE },
        { "172.32.0.0", ADDR_PUBLIC },
        { "192.0.0.8", ADDR_RESERVED },
        { "192.0.1.1", ADDR_PUBLIC },
        { "192.0.2.1", ADDR_DOCUMENTATION },
        { "192.88.99.1", ADDR_RESERVED },
        { "192.167.255.255", ADDR_PUBLIC },
        { "192.168.0.1", ADDR_PRIVATE },
        { "192.169.0.0", ADDR_PUBLIC },
        { "198.17.255.255", ADDR_PUBLIC },
        { "198.18.0.0", ADDR_RESERVED },
        { "198.19.255.255", ADDR_RESERVED },
        { "198.20.0.0", ADDR_PUBLIC },
        { "198.51.100.7", ADDR_DOCUMENTATION },
        { "203.0.113.255", ADDR_DOCUMENTATION },
        { "203.0.114.0", ADDR_PUBLIC },
        { "223.255.255.255", ADDR_PUBLIC },
        { "224.0.0.1", ADDR_MULTICAST },
        { "239.255.255.250", ADDR_MULTICAST },
        { "240.0.0.1", ADDR_RESERVED },
        { "255.255.255.254", ADDR_RESERVED },
        { "255.255.255.255", ADDR_BROADCAST },
        { "::", ADDR_RESERVED },
        { "::1", ADDR_LOOPBACK },
        { "::2", ADDR_RESERVED },
        { "2001:4860:4860::8888", ADDR_PUBLIC },
        { "2a00:1450::1", ADDR_PUBLIC },
        { "2001:db8::1", ADDR_DOCUMENTATION },
        { "2001:db9::1", ADDR_PUBLIC },
        { "3fff::1", ADDR_DOCUMENTATION },
        { "2001::1", ADDR_RESERVED },
        { "2001:1ff::1", ADDR_RESERVED },
        { "2001:200::1", ADDR_PUBLIC },
        { "fc00::1", ADDR_UNIQUE_LOCAL },
        { "fdff:ffff::1", ADDR_UNIQUE_LOCAL },
        { "fe80::1", ADDR_LINK_LOCAL },
        { "febf::1", ADDR_LINK_LOCAL },
        { "fec0::1", ADDR_RESERVED },
        { "ff02::1", ADDR_MULTICAST },
        { "4000::1", ADDR_RESERVED },
        { "100::1", ADDR_RESERVED },
        { "::ffff:10.1.2.3", ADDR_PRIVATE },
        { "::ffff:8.8.8.8", ADDR_PUBLIC },
        { "::ffff:127.0.0.1", ADDR_LOOPBACK },
        { "::ffff:255.255.255.255", ADDR_BROADCAST },
        { "64:ff9b::8.8.8.8", ADDR_PUBLIC },
        { "64:ff9b::192.168.1.1", ADDR_PRIVATE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t addr[GEO_ADDR_LEN];
        int version = geo_addr_parse(cases[i].address, addr);
        CHECK(version == 4 || version == 6);
        enum addr_class got = geo_addr_class(version, addr);
        if (got != cases[i].expected)
            fprintf(stderr, "  %s: %s, expected %s\n", cases[i].address,
                    geo_addr_class_name(got), geo_addr_class_name(cases[i].expected));
        CHECK_EQ_U(got, cases[i].expected);
    }
    uint8_t addr[GEO_ADDR_LEN];
    CHECK_EQ_U(geo_addr_parse("8.8.8.8", addr), 4);
    CHECK(geo_addr_is_public(4, addr));
    CHECK_EQ_U(geo_addr_class(0, addr), ADDR_RESERVED);
    CHECK_STR(geo_addr_class_name(ADDR_LINK_LOCAL), "link-local");
    CHECK_STR(geo_addr_class_name(ADDR_CLASS_COUNT), "unknown");
}

UNIT_TEST(test_addr_text)
{
    uint8_t addr[GEO_ADDR_LEN];
    char buf[46];
    CHECK_EQ_U(geo_addr_parse("192.0.2.33", addr), 4);
    CHECK_EQ_U(addr[0], 192);
    CHECK_EQ_U(addr[3], 33);
    CHECK_EQ_U(addr[4], 0);
    CHECK_EQ_U(addr[15], 0);
    CHECK_STR(geo_addr_to_string(4, addr, buf, sizeof(buf)), "192.0.2.33");
    CHECK_EQ_U(geo_addr_parse("2001:DB8:0:0::1", addr), 6);
    CHECK_STR(geo_addr_to_string(6, addr, buf, sizeof(buf)), "2001:db8::1");
    CHECK_EQ_U(geo_addr_parse("", addr), 0);
    CHECK_EQ_U(geo_addr_parse("1.2.3", addr), 0);
    CHECK_EQ_U(geo_addr_parse("1.2.3.4/8", addr), 0);
    CHECK_EQ_U(geo_addr_parse("256.1.1.1", addr), 0);
    CHECK_EQ_U(geo_addr_parse("example.com", addr), 0);
    CHECK_STR(geo_addr_to_string(5, addr, buf, sizeof(buf)), "?");
}

/* The hand-written IPv4 text must be inet_ntop's, octet for octet, and refuse a short
 * buffer the way inet_ntop does ("?"). */
UNIT_TEST(test_addr_text_ipv4_like_inet_ntop)
{
    static const uint8_t octets[] = { 0, 1, 9, 10, 42, 99, 100, 101, 199, 200, 250, 255 };
    const size_t n = sizeof(octets);
    int same = 0, total = 0;
    for (size_t i = 0; i < n * n * n * n; i += 7) {
        uint8_t addr[GEO_ADDR_LEN] = { octets[i % n], octets[i / n % n], octets[i / n / n % n],
                                       octets[i / n / n / n % n] };
        char ours[INET_ADDRSTRLEN], libc[INET_ADDRSTRLEN];
        geo_addr_to_string(4, addr, ours, sizeof(ours));
        inet_ntop(AF_INET, addr, libc, sizeof(libc));
        same += strcmp(ours, libc) == 0;
        total++;
    }
    CHECK_EQ_U(same, total);
    uint8_t longest[GEO_ADDR_LEN] = { 255, 255, 255, 255 };
    char exact[16], short_buf[15];
    CHECK_STR(geo_addr_to_string(4, longest, exact, sizeof(exact)), "255.255.255.255");
    CHECK_STR(geo_addr_to_string(4, longest, short_buf, sizeof(short_buf)), "?");
}

static bool set_has(const struct cidr_set *set, const char *text)
{
    uint8_t addr[GEO_ADDR_LEN];
    int version = geo_addr_parse(text, addr);
    return version != 0 && cidr_set_contains(set, version, addr);
}

UNIT_TEST(test_cidr_set)
{
    char err[256] = "";
    struct cidr_set *set = cidr_set_new();
    CHECK(set != NULL);
    CHECK(cidr_set_add_list(set, GEO_DEFAULT_HOME_NET, err, sizeof(err)));
    CHECK_EQ_U(cidr_set_count(set), 9);
    CHECK(set_has(set, "10.0.0.1"));
    CHECK(set_has(set, "10.255.255.255"));
    CHECK(!set_has(set, "11.0.0.0"));
    CHECK(set_has(set, "172.31.0.1"));
    CHECK(!set_has(set, "172.32.0.1"));
    CHECK(set_has(set, "192.168.200.1"));
    CHECK(set_has(set, "100.127.0.1"));
    CHECK(!set_has(set, "100.128.0.1"));
    CHECK(set_has(set, "127.0.0.1"));
    CHECK(!set_has(set, "8.8.8.8"));
    CHECK(set_has(set, "fd12:3456::1"));
    CHECK(set_has(set, "fe80::1"));
    CHECK(set_has(set, "::1"));
    CHECK(!set_has(set, "::2"));
    CHECK(!set_has(set, "2001:db8::1"));
    CHECK(set_has(set, "::ffff:192.168.1.1"));
    CHECK(!set_has(set, "::ffff:8.8.8.8"));
    /* An IPv4 prefix never matches the IPv6 address with the same leading bytes. */
    CHECK(!set_has(set, "a00::1"));

    /* Host addresses, host bits, duplicates, spaces. */
    CHECK(cidr_set_add_list(set, " 8.8.8.8 , 1.2.3.77/24,,1.2.3.0/24, 2001:db8:aa::/48", err,
                            sizeof(err)));
    CHECK_EQ_U(cidr_set_count(set), 12);
    CHECK(set_has(set, "8.8.8.8"));
    CHECK(!set_has(set, "8.8.8.9"));
    CHECK(set_has(set, "1.2.3.200"));
    CHECK(set_has(set, "2001:db8:aa:ffff::1"));
    CHECK(!set_has(set, "2001:db8:ab::1"));
    CHECK(cidr_set_add(set, "0.0.0.0/0", err, sizeof(err)));
    CHECK(set_has(set, "8.8.4.4"));
    CHECK(!set_has(set, "2001:db8:ab::1"));

    /* Errors name the bad item. */
    CHECK(!cidr_set_add(set, "10.0.0.0/33", err, sizeof(err)));
    CHECK(strstr(err, "10.0.0.0/33") != NULL);
    CHECK(!cidr_set_add(set, "2001:db8::/129", err, sizeof(err)));
    CHECK(!cidr_set_add(set, "10.0.0.0/", err, sizeof(err)));
    CHECK(!cidr_set_add(set, "10.0.0.0/-1", err, sizeof(err)));
    CHECK(!cidr_set_add(set, "10.0.0.0/8x", err, sizeof(err)));
    CHECK(!cidr_set_add(set, "", err, sizeof(err)));
    CHECK(!cidr_set_add_list(set, "10.0.0.0/8,bogus", err, sizeof(err)));
    CHECK(strstr(err, "bogus") != NULL);
    cidr_set_free(set);
    cidr_set_free(NULL);
}

UNIT_TEST(test_cidr_set_many)
{
    /* Many prefixes of many lengths: every inserted network is found, its neighbours not. */
    char err[256];
    struct cidr_set *set = cidr_set_new();
    for (unsigned i = 0; i < 2000; i++) {
        char text[64];
        unsigned length = 16 + i % 17;
        snprintf(text, sizeof(text), "%u.%u.%u.0/%u", 20 + i % 150, (i * 7) % 256, 0u, length);
        CHECK(cidr_set_add(set, text, err, sizeof(err)));
    }
    CHECK(set_has(set, "20.0.0.1"));
    CHECK(!set_has(set, "19.0.0.1"));
    for (unsigned i = 0; i < 300; i++) {
        char text[64];
        snprintf(text, sizeof(text), "2001:db8:%x::/48", i);
        CHECK(cidr_set_add(set, text, err, sizeof(err)));
    }
    CHECK(set_has(set, "2001:db8:12b::5"));
    CHECK(!set_has(set, "2001:db8:12c::5"));
    cidr_set_free(set);
}

static void lookup_text(struct geo *geo, const char *text, struct geo_info *info)
{
    uint8_t addr[GEO_ADDR_LEN];
    int version = geo_addr_parse(text, addr);
    geo_lookup(geo, version, addr, info);
}

UNIT_TEST(test_geo_city_and_asn)
{
    char err[256] = "";
    struct geo *geo = geo_open(TESTDATA "GeoIP2-City-Test.mmdb", TESTDATA "GeoLite2-ASN-Test.mmdb",
                               err, sizeof(err));
    CHECK(geo != NULL);
    if (geo == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    struct geo_info info;
    lookup_text(geo, "81.2.69.142", &info);
    CHECK(info.found);
    CHECK_STR(info.country_code, "GB");
    CHECK_STR(info.country_name, "United Kingdom");
    CHECK_STR(info.city, "London");
    CHECK_EQ_U(info.asn, 0);

    /* 1.128.0.0/11 is Telstra (AS1221) in GeoLite2-ASN-Test.json; not in the City db. */
    lookup_text(geo, "1.128.0.1", &info);
    CHECK(info.found);
    CHECK_EQ_U(info.asn, 1221);
    CHECK_STR(info.as_org, "Telstra Pty Ltd");
    CHECK_STR(info.country_code, "");

    /* IPv6 in both: 2001:218::/32 is JP in the City db. */
    lookup_text(geo, "2001:218::1", &info);
    CHECK(info.found);
    CHECK_STR(info.country_code, "JP");

    /* An IPv4-mapped address is the IPv4 host. */
    lookup_text(geo, "::ffff:81.2.69.142", &info);
    CHECK_STR(info.city, "London");

    /* Not in either database. */
    CHECK(!geo_lookup(geo, 4, (const uint8_t[GEO_ADDR_LEN]){ 10, 0, 0, 1 }, &info));
    CHECK(!info.found);

    /* A second lookup is a cache hit with the same answer. */
    struct geo_stats before, after;
    geo_get_stats(geo, &before);
    struct geo_info again;
    lookup_text(geo, "81.2.69.142", &again);
    geo_get_stats(geo, &after);
    CHECK_EQ_U(after.cache_hits, before.cache_hits + 1);
    CHECK_EQ_U(after.lookups, before.lookups + 1);
    CHECK(memcmp(&again.country_code, "GB", 3) == 0);
    CHECK_STR(again.city, "London");
    CHECK_EQ_U(after.errors, 0);
    geo_close(geo);
}

UNIT_TEST(test_geo_single_isp_db)
{
    /* An ISP (or Enterprise) database alone carries the ASN fields: read what is there. */
    char err[256] = "";
    struct geo *geo = geo_open(NULL, TESTDATA "GeoIP2-ISP-Test.mmdb", err, sizeof(err));
    CHECK(geo != NULL);
    if (geo == NULL)
        return;
    struct geo_info info;
    lookup_text(geo, "1.128.0.1", &info);
    CHECK(info.found);
    CHECK_EQ_U(info.asn, 1221);
    CHECK_STR(info.as_org, "Telstra Pty Ltd");
    geo_close(geo);

    /* No database at all is allowed: nothing is ever found. */
    geo = geo_open(NULL, NULL, err, sizeof(err));
    CHECK(geo != NULL);
    lookup_text(geo, "81.2.69.142", &info);
    CHECK(!info.found);
    geo_close(geo);
    geo_close(NULL);
}

static void check_open_fails(const char *city, const char *asn, const char *expected_words)
{
    char err[512] = "";
    struct geo *geo = geo_open(city, asn, err, sizeof(err));
    CHECK(geo == NULL);
    geo_close(geo);
    if (strstr(err, expected_words) == NULL)
        fprintf(stderr, "  message was: %s\n", err);
    CHECK(strstr(err, expected_words) != NULL);
    /* The message names the file at fault (the last one given). */
    const char *path = asn ? asn : city;
    CHECK(strstr(err, path) != NULL);
}

UNIT_TEST(test_geo_errors)
{
    check_open_fails(TESTDATA "no-such-file.mmdb", NULL, "No such file");
    check_open_fails(NULL, TESTDATA "README.md", "not a valid MaxMind DB");
    check_open_fails(TESTDATA "GeoIP2-City-Test-Invalid-Node-Count.mmdb", NULL,
                     "not a valid MaxMind DB");
    check_open_fails(TESTDATA "GeoIP2-City-Test-Broken-Double-Format.mmdb", NULL, "corrupt");
    check_open_fails(TESTDATA "MaxMind-DB-test-broken-pointers-24.mmdb", NULL, "corrupt");
    check_open_fails(TESTDATA "MaxMind-DB-test-broken-search-tree-24.mmdb", NULL, "corrupt");
    /* The second database failing closes the first one (ASan/valgrind see no leak). */
    check_open_fails(TESTDATA "GeoIP2-City-Test.mmdb", TESTDATA "no-such-file.mmdb", "No such file");
    check_open_fails(TESTDATA, NULL, "GeoIP database");
}

/* Views share the databases, not the cache: two threads look up at once through views of
 * their own (ThreadSanitizer runs this), a view answers as geo does, and closing views
 * leaves geo working. */
struct view_job {
    struct geo *view;
    unsigned london, telstra;
};

static void *view_lookups(void *arg)
{
    struct view_job *job = arg;
    uint8_t london[GEO_ADDR_LEN] = { 81, 2, 69, 142 }, telstra[GEO_ADDR_LEN] = { 1, 128, 0, 1 };
    for (int i = 0; i < 2000; i++) {
        struct geo_info info;
        telstra[3] = (uint8_t)i; /* different addresses: misses as well as cache hits */
        if (geo_lookup(job->view, 4, london, &info) && strcmp(info.city, "London") == 0)
            job->london++;
        if (geo_lookup(job->view, 4, telstra, &info) && info.asn == 1221)
            job->telstra++;
    }
    return NULL;
}

UNIT_TEST(test_geo_views)
{
    char err[256] = "";
    struct geo *geo = geo_open(TESTDATA "GeoIP2-City-Test.mmdb", TESTDATA "GeoLite2-ASN-Test.mmdb",
                               err, sizeof(err));
    CHECK(geo != NULL);
    if (geo == NULL)
        return;
    struct view_job jobs[2] = { { geo_view(geo, err, sizeof(err)), 0, 0 },
                                { geo_view(geo, err, sizeof(err)), 0, 0 } };
    CHECK(jobs[0].view != NULL && jobs[1].view != NULL);
    if (jobs[0].view != NULL && jobs[1].view != NULL) {
        pthread_t threads[2];
        for (int i = 0; i < 2; i++)
            CHECK(pthread_create(&threads[i], NULL, view_lookups, &jobs[i]) == 0);
        for (int i = 0; i < 2; i++)
            pthread_join(threads[i], NULL);
        for (int i = 0; i < 2; i++) {
            CHECK_EQ_U(jobs[i].london, 2000);
            CHECK_EQ_U(jobs[i].telstra, 2000);
            struct geo_stats stats;
            geo_get_stats(jobs[i].view, &stats);
            CHECK_EQ_U(stats.lookups, 4000);
        }
        struct geo_stats stats;
        geo_get_stats(geo, &stats);
        CHECK_EQ_U(stats.lookups, 0); /* the views counted their own */
    }
    geo_close(jobs[0].view);
    geo_close(jobs[1].view);
    struct geo_info info;
    lookup_text(geo, "81.2.69.142", &info);
    CHECK_STR(info.city, "London");
    geo_close(geo);
}

UNIT_MAIN("geo",
          UNIT_CASE(test_addr_classes),
          UNIT_CASE(test_addr_text),
          UNIT_CASE(test_addr_text_ipv4_like_inet_ntop),
          UNIT_CASE(test_cidr_set),
          UNIT_CASE(test_cidr_set_many),
          UNIT_CASE(test_geo_city_and_asn),
          UNIT_CASE(test_geo_single_isp_db),
          UNIT_CASE(test_geo_errors),
          UNIT_CASE(test_geo_views))
