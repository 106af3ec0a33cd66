/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ allowlist parsing and matching, and the first-seen state file: round trip,
 * corrupt files, atomic replacement, and how detector_new reacts to each. */
#include "unit.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../detect/detect_internal.h"

static const char good_rules[] =
    "# exflow allowlist\n"
    "src=10.0.0.0/8 dest_domain=*.backup.example.com proto=SSH   # backup agent\n"
    "\n"
    "   # only a comment\n"
    "port=9997 # splunk\n"
    "app=Dropbox,MS_OneDrive\n"
    "dest=203.0.113.0/24 port=443,8443\t\n";

static struct allow_query query_for(const char *src, const char *dest, const char *name,
                                    const char *app, const char *master, uint16_t port,
                                    uint8_t *src_buf, uint8_t *dest_buf)
{
    struct allow_query q = { 0 };
    q.ip_version = geo_addr_parse(src, src_buf);
    geo_addr_parse(dest, dest_buf);
    q.src_addr = src_buf;
    q.dest_addr = dest_buf;
    q.dest_name = name;
    q.app_protocol = app;
    q.master_protocol = master;
    q.dest_port = port;
    return q;
}

UNIT_TEST(test_allowlist_good)
{
    char err[256] = "";
    struct allowlist *list = allowlist_parse(good_rules, "allow.txt", err, sizeof(err));
    CHECK(list != NULL);
    if (list == NULL) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_EQ_U(allowlist_count(list), 4);
    uint8_t s[16], d[16];
    const char *why = NULL;
    struct allow_query q = query_for("10.1.2.3", "198.51.100.9", "nas.backup.example.com", "Unknown",
                                     "SSH", 22, s, d);
    CHECK(allowlist_match(list, &q, &why));
    CHECK_STR(why, "backup agent");
    q.dest_name = "backup.example.com";            /* *.x matches x itself too */
    CHECK(allowlist_match(list, &q, NULL));
    q.dest_name = "evilbackup.example.com";         /* but only at a label boundary */
    CHECK(!allowlist_match(list, &q, NULL));
    q = query_for("192.168.1.1", "198.51.100.9", "nas.backup.example.com", NULL, "SSH", 22, s, d);
    CHECK(!allowlist_match(list, &q, NULL));        /* fields AND: wrong source */
    q = query_for("10.1.2.3", "198.51.100.9", "nas.backup.example.com", NULL, "TLS", 443, s, d);
    CHECK(!allowlist_match(list, &q, NULL));        /* wrong protocol */
    q = query_for("192.168.1.1", "198.51.100.9", NULL, NULL, NULL, 9997, s, d);
    CHECK(allowlist_match(list, &q, &why));
    CHECK_STR(why, "splunk");
    q = query_for("192.168.1.1", "198.51.100.9", "x.example", "ms_onedrive", "TLS", 443, s, d);
    CHECK(allowlist_match(list, &q, &why));         /* app names case-insensitive */
    CHECK_STR(why, "allowlist rule");               /* no comment on that line */
    q = query_for("192.168.1.1", "203.0.113.9", NULL, NULL, NULL, 8443, s, d);
    CHECK(allowlist_match(list, &q, NULL));
    q.dest_port = 80;
    CHECK(!allowlist_match(list, &q, NULL));
    CHECK(!allowlist_match(NULL, &q, NULL));
    allowlist_free(list);

    struct allowlist *empty = allowlist_parse("# nothing\n\n", "empty", err, sizeof(err));
    CHECK(empty != NULL);
    CHECK_EQ_U(allowlist_count(empty), 0);
    allowlist_free(empty);
}

static void check_bad(const char *text, const char *expect_in_error)
{
    char err[256] = "";
    struct allowlist *list = allowlist_parse(text, "allow.txt", err, sizeof(err));
    CHECK(list == NULL);
    if (strstr(err, expect_in_error) == NULL) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, expect_in_error);
        unit_current_failed = 1;
    }
    allowlist_free(list);
}

UNIT_TEST(test_allowlist_bad_lines)
{
    check_bad("src=10.0.0.0/33\n", "allow.txt:1:");
    check_bad("# ok\nport=9997\nfoo=bar\n", "allow.txt:3: unknown key \"foo\"");
    check_bad("port=70000\n", "allow.txt:1: port=70000");
    check_bad("port=abc\n", "allow.txt:1:");
    check_bad("\n\nsrc\n", "allow.txt:3: expected key=value");
    check_bad("dest_domain=exa$mple.com\n", "allow.txt:1: dest_domain");
    check_bad("dest_domain=*.\n", "allow.txt:1:");
    check_bad("app=Drop box\n", "allow.txt:1:");   /* "box" alone is not key=value */
    check_bad("port=1 port=2\n", "given twice");
    check_bad("dest=\n", "allow.txt:1: expected key=value");
}

static char temp_dir[] = "/tmp/exflow-detect-XXXXXX";

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL; )
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

UNIT_TEST(test_state_round_trip)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/state", temp_dir);
    struct destinations *store = destinations_new(100);
    CHECK_EQ_U(destinations_touch(store, "10.1.1.5", "mega.nz", 100), 0);   /* new */
    CHECK_EQ_U(destinations_touch(store, "*", "mega.nz", 100), 0);
    CHECK_EQ_U(destinations_touch(store, "10.1.1.6", "203.0.113.9", 200), 0);
    CHECK_EQ_U(destinations_touch(store, "10.1.1.5", "mega.nz", 50), 50);   /* earlier start wins */
    CHECK(destinations_save(store, path, 42, err, sizeof(err)));
    CHECK(destinations_save(store, path, 42, err, sizeof(err)));            /* replace in place */
    CHECK_EQ_U(count_dir_entries(temp_dir), 1);                              /* no temp file left */
    destinations_free(store);

    struct destinations *loaded = destinations_new(100);
    uint64_t learn_start = 0;
    CHECK_EQ_U(destinations_load(loaded, path, &learn_start, err, sizeof(err)), 1);
    CHECK_EQ_U(learn_start, 42);
    CHECK_EQ_U(destinations_count(loaded), 3);
    CHECK_EQ_U(destinations_touch(loaded, "10.1.1.5", "mega.nz", 500), 50);
    CHECK_EQ_U(destinations_touch(loaded, "*", "mega.nz", 500), 100);
    CHECK_EQ_U(destinations_touch(loaded, "10.1.1.6", "203.0.113.9", 500), 200);
    destinations_free(loaded);

    /* The cap evicts the least recently used entry. */
    struct destinations *small = destinations_new(2);
    destinations_touch(small, "h", "a", 1);
    destinations_touch(small, "h", "b", 2);
    destinations_touch(small, "h", "a", 3);
    destinations_touch(small, "h", "c", 4);    /* evicts b */
    CHECK_EQ_U(destinations_count(small), 2);
    CHECK_EQ_U(destinations_touch(small, "h", "a", 5), 1);
    CHECK_EQ_U(destinations_touch(small, "h", "b", 6), 0);
    destinations_free(small);
    unlink(path);
}

/* Pairs are keyed by the binary address: a record's key and the text a state file holds
 * name the same pair, and the file's text comes back out unchanged, including hosts that
 * are not addresses as exflow writes them. */
UNIT_TEST(test_state_binary_keys)
{
    char path[256], path2[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/state-keys", temp_dir);
    snprintf(path2, sizeof(path2), "%s/state-keys2", temp_dir);
    const char *text = "exflow-state 1\nlearn_start 7\n"
                       "seen 10 20 10.1.1.5 mega.nz\n"
                       "seen 11 21 2001:db8::1 203.0.113.9\n"
                       "seen 12 22 2001:DB8::1 x.example\n"
                       "seen 13 23 010.1.1.5 y.example\n"
                       "seen 14 24 * mega.nz\n";
    write_file(path, text);
    struct destinations *store = destinations_new(100);
    uint64_t learn_start = 0;
    CHECK_EQ_U(destinations_load(store, path, &learn_start, err, sizeof(err)), 1);
    uint8_t addr[GEO_ADDR_LEN] = { 10, 1, 1, 5 }, key[HOST_KEY_MAX];
    size_t key_len = host_key_from_addr(key, sizeof(key), 4, addr);
    CHECK_EQ_U(key_len, 5);
    CHECK_EQ_U(destinations_touch_key(store, key, key_len, "mega.nz", 30), 10);
    CHECK_EQ_U(destinations_touch_key(store, NULL, 0, "mega.nz", 30), 14);
    CHECK(geo_addr_parse("2001:db8::1", addr) == 6);
    key_len = host_key_from_addr(key, sizeof(key), 6, addr);
    CHECK_EQ_U(destinations_touch_key(store, key, key_len, "203.0.113.9", 30), 11);
    CHECK_EQ_U(destinations_touch_key(store, key, key_len, "x.example", 30), 0);  /* not "2001:DB8::1" */
    CHECK(destinations_save(store, path2, learn_start, err, sizeof(err)));
    destinations_free(store);
    FILE *f = fopen(path2, "r");
    char saved[2048] = "";
    size_t n = f ? fread(saved, 1, sizeof(saved) - 1, f) : 0;
    saved[n] = '\0';
    if (f)
        fclose(f);
    CHECK(strstr(saved, "seen 12 22 2001:DB8::1 x.example\n") != NULL);
    CHECK(strstr(saved, "seen 13 23 010.1.1.5 y.example\n") != NULL);
    CHECK(strstr(saved, "seen 10 30 10.1.1.5 mega.nz\n") != NULL);
    CHECK(strstr(saved, "seen 11 30 2001:db8::1 203.0.113.9\n") != NULL);
    CHECK(strstr(saved, "seen 30 30 2001:db8::1 x.example\n") != NULL);
    unlink(path);
    unlink(path2);
}

/* text may hold NULs: its length comes from the array, not strlen. */
#define check_corrupt(text, expect) check_corrupt_bytes(text, sizeof(text) - 1, expect)

static void check_corrupt_bytes(const char *text, size_t len, const char *expect_in_error)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/corrupt", temp_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_U(fwrite(text, 1, len, f), len);
        fclose(f);
    }
    struct destinations *store = destinations_new(100);
    uint64_t learn_start = 0;
    CHECK_EQ_U(destinations_load(store, path, &learn_start, err, sizeof(err)), (uint64_t)-1);
    if (strstr(err, expect_in_error) == NULL) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, expect_in_error);
        unit_current_failed = 1;
    }
    destinations_free(store);
    unlink(path);
}

UNIT_TEST(test_state_corrupt)
{
    check_corrupt("garbage\n", "corrupt:1: not an exflow state file");
    check_corrupt("", "empty or truncated");
    check_corrupt("exflow-state 1\nlearn_start 5\nseen 1 2 host\n", "corrupt:3: malformed");
    check_corrupt("exflow-state 1\nseen 9 2 host dest\n", "corrupt:2: malformed");   /* first > last */
    check_corrupt("exflow-state 1\nseen x 2 host dest\n", "corrupt:2:");
    check_corrupt("exflow-state 1\nlearn_start -1\n", "corrupt:2:");
    /* Strict: what exflow never writes is corruption, not something to skip. */
    check_corrupt("exflow-state 1\nlearn_start 5\n\0\0\0\n", "corrupt:3: NUL or control");
    check_corrupt("exflow-state 1\nlearn_start 5\nseen 1 2 h d\r\n", "corrupt:3: NUL or control");
    check_corrupt("exflow-state 1\nlearn_start 5\nseen 1 2 h d", "corrupt:3: last line cut short");
    check_corrupt("exflow-state 1\nseen  1 2 h d\n", "corrupt:2: malformed");
    check_corrupt("exflow-state 1\nseen 1 2 h d \n", "corrupt:2: malformed");
    check_corrupt("exflow-state 1\nlearn_start 5\nlearn_start 6\n", "corrupt:3: malformed");
    check_corrupt("exflow-state 1\nlearn_start 99999999999999999999\n", "corrupt:2: malformed");

    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/missing", temp_dir);
    struct destinations *store = destinations_new(10);
    uint64_t learn_start = 0;
    CHECK_EQ_U(destinations_load(store, path, &learn_start, err, sizeof(err)), 0);  /* fresh */
    snprintf(path, sizeof(path), "%s/no/such/dir/state", temp_dir);
    CHECK(!destinations_save(store, path, 0, err, sizeof(err)));
    CHECK(strstr(err, "cannot create") != NULL);
    destinations_free(store);
}

UNIT_TEST(test_detector_new_state_errors)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/detector-state", temp_dir);
    write_file(path, "not a state file\n");
    struct detect_config config;
    detect_config_defaults(&config);
    config.state_file = path;
    struct detector *d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, "--reset-state") != NULL);
    CHECK(strstr(err, path) != NULL);
    config.state_reset_if_corrupt = true;
    log_threshold = LOG_LEVEL_ERROR;        /* the reset warning is expected here */
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    detector_free(d);                       /* set-up saved a good state file */
    config.state_reset_if_corrupt = false;
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    detector_free(d);
    unlink(path);
    char detect_path[300];
    snprintf(detect_path, sizeof(detect_path), "%s%s", path, CHECKPOINT_SUFFIX);
    unlink(detect_path);

    /* A state file that cannot be written is refused at set-up. */
    snprintf(path, sizeof(path), "%s/no/such/dir/state", temp_dir);
    config.state_file = path;
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, "cannot create") != NULL);

    config.state_file = NULL;
    config.home_net = "10.0.0.0/8,bogus";
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, "--home-net") != NULL);

    config.home_net = NULL;
    snprintf(path, sizeof(path), "%s/allow", temp_dir);
    write_file(path, "port=9997\nsrc=nonsense\n");
    config.allowlist_file = path;
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d == NULL);
    CHECK(strstr(err, ":2:") != NULL);

    /* SIGHUP reload: a broken file keeps the old list. */
    write_file(path, "port=9997\n");
    d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    write_file(path, "port=99999\n");
    CHECK(!detector_reload_allowlist(d, err, sizeof(err)));
    CHECK(strstr(err, ":1:") != NULL);
    write_file(path, "port=5044\n");
    CHECK(detector_reload_allowlist(d, err, sizeof(err)));
    detector_free(d);
    unlink(path);
}

/* A header and a megabyte of NULs once loaded as a good empty state. */
UNIT_TEST(test_state_nul_flood)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/nul-flood", temp_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("exflow-state 1\nlearn_start 7\n", f);
    static const char zeros[4096];
    for (int i = 0; i < 256; i++)
        fwrite(zeros, 1, sizeof(zeros), f);
    fclose(f);
    struct destinations *store = destinations_new(10);
    uint64_t learn_start = 0;
    CHECK_EQ_U(destinations_load(store, path, &learn_start, err, sizeof(err)), (uint64_t)-1);
    CHECK(strstr(err, "nul-flood:3: NUL") != NULL);
    destinations_free(store);
    unlink(path);
}

/* Two detectors (two exflows) on one state file: the second is refused by name. */
UNIT_TEST(test_state_lock)
{
    char path[256], lock[300], err[512] = "";
    snprintf(path, sizeof(path), "%s/locked-state", temp_dir);
    snprintf(lock, sizeof(lock), "%s.lock", path);
    struct detect_config config;
    detect_config_defaults(&config);
    config.state_file = path;
    struct detector *first = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(first != NULL);
    struct detector *second = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(second == NULL);
    CHECK(strstr(err, "in use by another exflow") != NULL);
    CHECK(strstr(err, path) != NULL);
    detector_free(second);
    detector_free(first);                   /* releases the lock */
    second = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(second != NULL);
    detector_free(second);
    unlink(path);
    unlink(lock);
}

/* detector_free frees and nothing else: a state file removed before it stays removed. */
UNIT_TEST(test_detector_free_writes_nothing)
{
    char path[256], lock[300], err[512] = "";
    snprintf(path, sizeof(path), "%s/free-state", temp_dir);
    snprintf(lock, sizeof(lock), "%s.lock", path);
    struct detect_config config;
    detect_config_defaults(&config);
    config.state_file = path;
    struct detector *d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    CHECK(access(path, F_OK) == 0);         /* written once at set-up */
    unlink(path);
    detector_free(d);
    CHECK(access(path, F_OK) != 0);
    unlink(lock);
}

/* SIGHUP with --flag-country/--flag-asn: the reload swaps only the allowlist. Under ASan a
 * freed flagged set shows as a use-after-free in the reload or a double free here. */
UNIT_TEST(test_reload_keeps_flagged_geo)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/allow-geo", temp_dir);
    write_file(path, "port=9997\n");
    struct detect_config config;
    detect_config_defaults(&config);
    config.allowlist_file = path;
    config.flag_countries = "RU,KP";
    config.flag_asns = "64500";
    struct detector *d = detector_new(&config, NULL, NULL, err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(detector_reload_allowlist(d, err, sizeof(err)));
    detector_free(d);
    unlink(path);
}

static void setup(void)
{
    if (mkdtemp(temp_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Removes what the tests left (state locks stay after a run, by design) and the dir. */
static void teardown(void)
{
    DIR *d = opendir(temp_dir);
    if (d != NULL) {
        for (struct dirent *e; (e = readdir(d)) != NULL; )
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    CHECK(rmdir(temp_dir) == 0);
}

/* The keys of the first-seen store and the series: "host destination", cut as snprintf
 * would cut it when the buffer is short, and said so. */
UNIT_TEST(test_table_key_join)
{
    char key[17];
    CHECK(table_key_join(key, sizeof(key), "10.0.0.1", "mega.nz"));
    CHECK_STR(key, "10.0.0.1 mega.nz");
    CHECK(!table_key_join(key, sizeof(key), "10.0.0.1", "mega.nz."));
    CHECK_STR(key, "10.0.0.1 mega.nz");
    CHECK(!table_key_join(key, sizeof(key), "192.168.100.200.1", "x"));
    CHECK_STR(key, "192.168.100.200.");
    CHECK(table_key_join(key, sizeof(key), "*", ""));
    CHECK_STR(key, "* ");
    char tiny[1];
    CHECK(!table_key_join(tiny, sizeof(tiny), "a", "b"));
    CHECK_EQ_U(tiny[0], 0);
}

UNIT_TEST(test_setup)
{
    setup();
}

UNIT_TEST(test_teardown)
{
    teardown();
}

UNIT_MAIN("detect_state",
          UNIT_CASE(test_setup),
          UNIT_CASE(test_allowlist_good), UNIT_CASE(test_allowlist_bad_lines),
          UNIT_CASE(test_state_round_trip), UNIT_CASE(test_state_binary_keys),
          UNIT_CASE(test_state_corrupt),
          UNIT_CASE(test_detector_new_state_errors),
          UNIT_CASE(test_state_nul_flood), UNIT_CASE(test_state_lock),
          UNIT_CASE(test_detector_free_writes_nothing), UNIT_CASE(test_reload_keeps_flagged_geo),
          UNIT_CASE(test_table_key_join),
          UNIT_CASE(test_teardown))
