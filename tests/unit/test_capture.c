/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * capture_open/capture_run on real captures in pcaps/unit (public ones, copied with their
 * sources in pcaps/unit/SOURCES.md; tests run from the repository root). Every expected count below was measured with tshark 4.0.17 and
 * capinfos on these files: frames = `capinfos -c`, IP frames = `tshark -r F -Y "ip or ipv6"
 * | wc -l`, first timestamps = `tshark -T fields -e frame.time_epoch -c 1`.
 */
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../capture/capture.h"
#include "../../common/log.h"
#include "unit.h"

#define PCAPS "pcaps/unit/"

/* What the callbacks saw during one run. */
struct seen {
    uint64_t packets;
    uint64_t ticks;
    uint64_t first_ts_usec;
    uint64_t vlan_packets;
    uint64_t stop_after;      /* call capture_stop at this many packets (0: never) */
    uint64_t stop_after_ticks;
    struct capture *capture;
};

static void on_packet(void *user, const struct packet *pkt)
{
    struct seen *seen = user;
    if (seen->packets == 0)
        seen->first_ts_usec = pkt->ts_usec;
    seen->packets++;
    if (pkt->vlan != 0)
        seen->vlan_packets++;
    if (seen->stop_after != 0 && seen->packets == seen->stop_after)
        capture_stop(seen->capture);
}

static void on_tick(void *user)
{
    struct seen *seen = user;
    seen->ticks++;
    if (seen->stop_after_ticks != 0 && seen->ticks >= seen->stop_after_ticks)
        capture_stop(seen->capture);
}

/* Reads files with an optional filter; returns capture_run's status (or -1 if open failed)
 * and fills stats and seen. */
static int read_files(const char *const *files, int count, const char *filter,
                      struct capture_stats *stats, struct seen *seen)
{
    char err[512] = "";
    struct capture_config config = { .files = files, .file_count = count, .bpf_filter = filter };
    memset(seen, 0, sizeof(*seen));
    memset(stats, 0, sizeof(*stats));
    struct capture *capture = capture_open(&config, err, sizeof(err));
    if (capture == NULL) {
        fprintf(stderr, "  open failed: %s\n", err);
        return -1;
    }
    seen->capture = capture;
    struct capture_callbacks callbacks = { on_packet, on_tick, seen, NULL };
    int status = capture_run(capture, &callbacks);
    capture_get_stats(capture, stats);
    capture_close(capture);
    return status;
}

static int read_one(const char *file, struct capture_stats *stats, struct seen *seen)
{
    const char *files[] = { file };
    return read_files(files, 1, NULL, stats, seen);
}

/* capture_open must fail with a message for this file. */
static void check_open_fails(int line, const char *file)
{
    char err[512] = "";
    const char *files[] = { file };
    struct capture_config config = { .files = files, .file_count = 1 };
    struct capture *capture = capture_open(&config, err, sizeof(err));
    if (capture != NULL || err[0] == '\0' || strstr(err, file) == NULL)
        fprintf(stderr, "  %s (line %d): capture=%p err=\"%s\"\n", file, line, (void *)capture,
                err);
    CHECK(capture == NULL);
    CHECK(err[0] != '\0');
    CHECK(strstr(err, file) != NULL); /* the message names the file */
    capture_close(capture);
}

UNIT_TEST(test_open_errors)
{
    char dir[] = "/tmp/exflow-test-capture-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char text[sizeof(dir) + 32], empty[sizeof(dir) + 32], header_only[sizeof(dir) + 32];
    snprintf(text, sizeof(text), "%s/notes.pcap", dir);
    snprintf(empty, sizeof(empty), "%s/empty.pcap", dir);
    snprintf(header_only, sizeof(header_only), "%s/short.pcap", dir);
    FILE *f = fopen(text, "w");
    fputs("this is not a capture file, just some text\n", f);
    fclose(f);
    f = fopen(empty, "w");
    fclose(f);
    f = fopen(header_only, "w");
    fwrite("\xd4\xc3\xb2\xa1\x02\x00", 1, 6, f); /* a pcap magic and nothing more */
    fclose(f);

    check_open_fails(__LINE__, "/nonexistent/exflow/missing.pcap");
    check_open_fails(__LINE__, text);
    check_open_fails(__LINE__, empty);
    check_open_fails(__LINE__, header_only);
    check_open_fails(__LINE__, "/dev/null");
    check_open_fails(__LINE__, dir);

    unlink(text);
    unlink(empty);
    unlink(header_only);
    rmdir(dir);
}

UNIT_TEST(test_config_errors)
{
    char err[512] = "";
    struct capture_config config = { .file_count = 0 };
    CHECK(capture_open(&config, err, sizeof(err)) == NULL);
    CHECK(err[0] != '\0');

    const char *files[] = { PCAPS "ndpi/selfsigned.pcap" };
    config = (struct capture_config){ .files = files, .file_count = 1,
                                      .bpf_filter = "tcp port nonsense" };
    err[0] = '\0';
    CHECK(capture_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "filter") != NULL);
    CHECK(strstr(err, "tcp port nonsense") != NULL);

    config = (struct capture_config){ .files = files, .file_count = 1, .interface = "lo" };
    err[0] = '\0';
    CHECK(capture_open(&config, err, sizeof(err)) == NULL);
    CHECK(err[0] != '\0');
}

/* One file per link type and encapsulation: frames as capinfos counts them, packets as
 * tshark's "ip or ipv6" counts them. */
UNIT_TEST(test_link_types)
{
    static const struct {
        const char *file;
        int linktype;
        uint64_t frames, packets, vlan_packets;
    } cases[] = {
        { PCAPS "zeek/linux_dlt_sll2.pcap", 276, 6, 4, 0 },      /* LINUX_SLL2, 2 ARP */
        { PCAPS "ndpi/dns2tcp_tunnel.pcap", 113, 50, 50, 0 },    /* LINUX_SLL */
        { PCAPS "zeek/q-in-q.pcap", 1, 5, 4, 4 },                /* QinQ, 1 ARP */
        { PCAPS "zeek/vlan-qinqinq.pcap", 1, 14, 14, 14 },       /* three tags */
        { PCAPS "zeek/mpls-in-vlan.pcap", 1, 3, 3, 2 },          /* MPLS in 802.1Q; one VLAN 0 */
        { PCAPS "zeek/mixed-vlan-mpls.pcap", 1, 47, 47, 14 },
        { PCAPS "zeek/pppoe.pcap", 1, 65, 25, 0 },               /* 40 discovery/LCP/IPCP */
        { PCAPS "suricata-verify/pppoe/input.pcap", 1, 37, 0, 0 }, /* PPPoE control only */
        { PCAPS "zeek/pppoe-over-qinq.pcap", 1, 86, 86, 86 },
        { PCAPS "ndpi/selfsigned.pcap", 0, 20, 20, 0 },          /* DLT_NULL */
        { PCAPS "ndpi/psiphon3.pcap", 12, 62, 62, 0 },           /* raw IP */
        { PCAPS "suricata-verify/linktype-228/flow-test-01.pcap", 228, 7, 7, 0 }, /* DLT_IPV4 */
        { PCAPS "ndpi/dlt_ppp.pcap", 9, 1, 1, 0 },               /* PPP */
        { PCAPS "ndpi/BGP_Cisco_hdlc_slarp.pcap", 9, 14, 14, 0 }, /* Cisco HDLC under DLT_PPP */
        { PCAPS "ndpi/BGP_redist.pcap", 104, 2, 2, 0 },          /* C_HDLC */
        { PCAPS "zeek/snap-tcp.pcap", 1, 8, 8, 0 },              /* 802.3 LLC/SNAP */
        { PCAPS "zeek/vntag.pcap", 1, 3, 3, 3 },                 /* VN-Tag, nanosecond pcap */
        { PCAPS "zeek/pbb.pcap", 1, 12, 10, 10 },                /* 802.1ah */
        { PCAPS "zeek/cisco-fabric-path.pcap", 1, 130, 128, 0 }, /* FabricPath */
        { PCAPS "zeek/empty.pcap", 1, 0, 0, 0 },                 /* header only */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct capture_stats stats;
        struct seen seen;
        int failed_before = unit_current_failed;
        unit_current_failed = 0;
        CHECK_EQ_U(read_one(cases[i].file, &stats, &seen), 0);
        CHECK_EQ_U(stats.frames, cases[i].frames);
        CHECK_EQ_U(stats.decoded, cases[i].packets);
        CHECK_EQ_U(seen.packets, cases[i].packets);
        CHECK_EQ_U(seen.vlan_packets, cases[i].vlan_packets);
        CHECK_EQ_U(stats.read_errors, 0);
        CHECK_EQ_U(seen.ticks, 1); /* one after the file */
        uint64_t skipped = 0;
        for (int r = 0; r < DECODE_REASON_COUNT; r++)
            skipped += stats.skipped[r];
        CHECK_EQ_U(stats.decoded + skipped, stats.frames);
        if (unit_current_failed)
            fprintf(stderr, "  (%s)\n", cases[i].file);
        unit_current_failed |= failed_before;
    }
}

UNIT_TEST(test_linktype_and_timestamps)
{
    char err[512] = "";
    const char *files[] = { PCAPS "zeek/linux_dlt_sll2.pcap" };
    struct capture_config config = { .files = files, .file_count = 1 };
    struct capture *capture = capture_open(&config, err, sizeof(err));
    CHECK(capture != NULL);
    if (capture != NULL) {
        CHECK_EQ_U(capture_linktype(capture), 276);
        capture_close(capture);
    }

    struct capture_stats stats;
    struct seen seen;
    read_one(PCAPS "ndpi/selfsigned.pcap", &stats, &seen);
    CHECK_EQ_U(seen.first_ts_usec, 1588921646472768ULL);
    /* Nanosecond file: 1342606813.729856830, truncated to microseconds. */
    read_one(PCAPS "zeek/vntag.pcap", &stats, &seen);
    CHECK_EQ_U(seen.first_ts_usec, 1342606813729856ULL);
}

/* The malformed captures of Zeek's trunc/ folder: each frame lands in its reason. */
UNIT_TEST(test_malformed_frames)
{
    struct capture_stats stats;
    struct seen seen;
    CHECK_EQ_U(read_one(PCAPS "zeek/trunc/trunc-hdr.pcap", &stats, &seen), 0);
    CHECK_EQ_U(stats.skipped[DECODE_TRUNCATED_LINK], 1);
    CHECK_EQ_U(read_one(PCAPS "zeek/trunc/ip4-trunc.pcap", &stats, &seen), 0);
    CHECK_EQ_U(stats.skipped[DECODE_TRUNCATED_IP], 1);
    CHECK_EQ_U(read_one(PCAPS "zeek/trunc/ip6-trunc.pcap", &stats, &seen), 0);
    CHECK_EQ_U(stats.skipped[DECODE_TRUNCATED_IP], 1);
    /* "Bogus IP length (20, less than header length 60)" in tshark. */
    CHECK_EQ_U(read_one(PCAPS "zeek/trunc/ipv4-truncated-broken-header.pcap", &stats, &seen), 0);
    CHECK_EQ_U(stats.skipped[DECODE_BAD_IP_HEADER], 1);
    /* Snapped ICMP echoes are still packets. */
    CHECK_EQ_U(read_one(PCAPS "zeek/trunc/icmp-header-trunc.pcap", &stats, &seen), 0);
    CHECK_EQ_U(stats.decoded, 2);
    /* A frame with more layers than the decoder walks. */
    CHECK_EQ_U(read_one(PCAPS "suricata-verify/decode-too-many-layers/input.pcap", &stats,
                        &seen), 0);
    CHECK_EQ_U(stats.skipped[DECODE_TOO_MANY_LAYERS], 1);
}

/* A file cut short: what was read counts, the error is counted, nothing crashes. */
UNIT_TEST(test_truncated_files)
{
    struct capture_stats stats;
    struct seen seen;
    log_threshold = LOG_LEVEL_ERROR; /* the expected warnings are not test output */
    /* capinfos: "An error occurred after reading 1 packets" (cut in a record header). */
    CHECK_EQ_U(read_one(PCAPS "ndpi/fuzz-2021-10-13.pcap", &stats, &seen), 1);
    CHECK_EQ_U(stats.frames, 1);
    CHECK_EQ_U(stats.read_errors, 1);
    /* 6 records, then one claiming a 4325376-byte capture length (bigger than snaplen). */
    CHECK_EQ_U(read_one(PCAPS "suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap",
                        &stats, &seen), 1);
    CHECK_EQ_U(stats.frames, 6);
    CHECK_EQ_U(stats.read_errors, 1);
    CHECK_EQ_U(seen.ticks, 1);
    log_threshold = LOG_LEVEL_INFO;
}

/* Several files in order, each with its own link type; an unsupported link type is warned
 * about, counted, and the run goes on. A missing file anywhere in the list stops the run
 * before anything is read. */
UNIT_TEST(test_several_files)
{
    struct capture_stats stats;
    struct seen seen;
    log_threshold = LOG_LEVEL_ERROR;
    const char *with_missing[] = { PCAPS "zeek/q-in-q.pcap", PCAPS "no-such-file.pcap" };
    char err[256] = "";
    struct capture_config config = { .files = with_missing, .file_count = 2,
                                     .snaplen = 65535 };
    CHECK(capture_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no-such-file.pcap") != NULL);

    const char *files[] = {
        PCAPS "zeek/linux_dlt_sll2.pcap",   /* SLL2: 6 frames, 4 IP */
        PCAPS "zeek/llc.pcap",              /* FDDI: 1333 frames, not decoded */
        PCAPS "zeek/q-in-q.pcap",           /* Ethernet: 5 frames, 4 IP */
        PCAPS "ndpi/selfsigned.pcap",       /* NULL: 20 frames */
    };
    CHECK_EQ_U(read_files(files, 4, NULL, &stats, &seen), 1);
    CHECK_EQ_U(stats.frames, 6 + 1333 + 5 + 20);
    CHECK_EQ_U(stats.decoded, 4 + 4 + 20);
    CHECK_EQ_U(seen.packets, 4 + 4 + 20);
    CHECK_EQ_U(stats.read_errors, 0);
    CHECK_EQ_U(stats.skipped[DECODE_UNSUPPORTED_LINK], 1333);
    CHECK_EQ_U(stats.skipped[DECODE_NOT_IP], 2 + 1);
    CHECK_EQ_U(seen.ticks, 4); /* one after each file */

    /* All good: status 0. */
    const char *good[] = { PCAPS "zeek/q-in-q.pcap", PCAPS "zeek/linux_dlt_sll2.pcap" };
    CHECK_EQ_U(read_files(good, 2, NULL, &stats, &seen), 0);
    CHECK_EQ_U(stats.frames, 11);
    log_threshold = LOG_LEVEL_INFO;
}

UNIT_TEST(test_bpf_filter)
{
    struct capture_stats stats;
    struct seen seen;
    /* tshark -Y ipv6: 2 frames. */
    const char *sll2[] = { PCAPS "zeek/linux_dlt_sll2.pcap" };
    CHECK_EQ_U(read_files(sll2, 1, "ip6", &stats, &seen), 0);
    CHECK_EQ_U(stats.frames, 2);
    CHECK_EQ_U(stats.decoded, 2);

    /* The filter is compiled again for each file's link type; where it cannot be (no
     * Ethernet addresses in raw IP), that file is skipped with a warning. */
    log_threshold = LOG_LEVEL_ERROR;
    const char *files[] = { PCAPS "zeek/q-in-q.pcap", PCAPS "ndpi/psiphon3.pcap",
                            PCAPS "ndpi/selfsigned.pcap" };
    CHECK_EQ_U(read_files(files, 3, "ether multicast", &stats, &seen), 1);
    CHECK_EQ_U(stats.read_errors, 2);
    log_threshold = LOG_LEVEL_INFO;
    /* Every frame of q-in-q.pcap goes to a group address (tshark -Y "eth.dst.ig == 1"). */
    CHECK_EQ_U(stats.frames, 5);
}

UNIT_TEST(test_stdin)
{
    struct capture_stats stats;
    struct seen seen;
    int saved = dup(0);
    CHECK(freopen(PCAPS "ndpi/selfsigned.pcap", "rb", stdin) != NULL);
    const char *files[] = { "-" };
    CHECK_EQ_U(read_files(files, 1, NULL, &stats, &seen), 0);
    CHECK_EQ_U(stats.frames, 20);
    CHECK_EQ_U(stats.decoded, 20);
    dup2(saved, 0);
    close(saved);
}

/* capture_stop from the packet callback ends the run after that packet. */
UNIT_TEST(test_stop)
{
    char err[512] = "";
    const char *files[] = { PCAPS "zeek/pppoe-over-qinq.pcap", PCAPS "zeek/q-in-q.pcap" };
    struct capture_config config = { .files = files, .file_count = 2 };
    struct capture *capture = capture_open(&config, err, sizeof(err));
    CHECK(capture != NULL);
    if (capture == NULL)
        return;
    struct seen seen = { .stop_after = 3, .capture = capture };
    struct capture_callbacks callbacks = { on_packet, on_tick, &seen, NULL };
    CHECK_EQ_U(capture_run(capture, &callbacks), 0);
    struct capture_stats stats;
    capture_get_stats(capture, &stats);
    CHECK_EQ_U(stats.frames, 3);
    CHECK_EQ_U(seen.packets, 3);
    capture_close(capture);
}

static struct capture *alarm_capture;

static void on_alarm(int signo)
{
    (void)signo;
    capture_stop(alarm_capture);
}

/* Live capture on the loopback interface where the test may open it (root or
 * CAP_NET_RAW): ticks arrive about once a second with no traffic, and capture_stop from a
 * signal handler ends the run. Elsewhere it checks only the error for a missing interface. */
UNIT_TEST(test_live)
{
    char err[512] = "";
    struct capture_config config = { .interface = "exflow-no-such0", .snaplen = 0 };
    CHECK(capture_open(&config, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "exflow-no-such0") != NULL);

    config = (struct capture_config){ .interface = "lo", .bpf_filter = "udp port 9",
                                      .promiscuous = false, .immediate = true };
    err[0] = '\0';
    struct capture *capture = capture_open(&config, err, sizeof(err));
    if (capture == NULL) {
        printf("     (live part skipped: %s)\n", err);
        return;
    }
    CHECK_EQ_U(capture_linktype(capture), 1);
    CHECK(capture_fanout_group(capture) == -1); /* no --fanout, no group */
    alarm_capture = capture;
    struct sigaction action = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &action, NULL);
    struct seen seen = { .stop_after_ticks = 10, .capture = capture };
    struct capture_callbacks callbacks = { on_packet, on_tick, &seen, NULL };
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    alarm(3);
    CHECK_EQ_U(capture_run(capture, &callbacks), 0);
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double elapsed = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    CHECK(elapsed > 2.5 && elapsed < 4.0);   /* stopped by the alarm, promptly */
    CHECK(seen.ticks >= 2 && seen.ticks <= 3);
    struct capture_stats stats;
    capture_get_stats(capture, &stats);
    CHECK_EQ_U(stats.read_errors, 0);
    capture_close(capture);
    signal(SIGALRM, SIG_DFL);
}

/* ---- live delivery: how late a packet on a quiet link reaches the callback ---- */

struct delivery {
    struct capture *capture;
    int sock;
    uint64_t ticks;
    double sent_at, received_at;   /* monotonic seconds; 0 = not yet */
    bool stop_when_sent;           /* stop right after sending, before it can arrive */
};

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void delivery_on_packet(void *user, const struct packet *pkt)
{
    (void)pkt;
    struct delivery *d = user;
    if (d->sent_at > 0 && d->received_at == 0) {
        d->received_at = monotonic_seconds();
        capture_stop(d->capture);
    }
}

/* One datagram at the first tick, so the link has been quiet for a second before it. */
static void delivery_on_tick(void *user)
{
    struct delivery *d = user;
    d->ticks++;
    if (d->ticks == 1) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        d->sent_at = monotonic_seconds();
        if (sendto(d->sock, "exflow", 6, 0, (struct sockaddr *)&to, sizeof(to)) != 6)
            d->sent_at = -1;
        if (d->stop_when_sent)
            capture_stop(d->capture);
    }
    if (d->ticks >= 4)
        capture_stop(d->capture);   /* never received: the checks below say so */
}

/* A lone packet is handed over within the block timeout (100 ms) by default, and at once
 * with --immediate; with the one-second ticks, ~1 s would mean the timeout is not applied. */
static void check_live_delivery(bool immediate, bool stop_when_sent)
{
    char err[512] = "";
    struct capture_config config = { .interface = "lo", .bpf_filter = "udp dst port 9",
                                     .promiscuous = false, .immediate = immediate };
    struct capture *capture = capture_open(&config, err, sizeof(err));
    if (capture == NULL) {
        printf("     (live delivery skipped: %s)\n", err);
        return;
    }
    struct delivery d = { .capture = capture, .sock = socket(AF_INET, SOCK_DGRAM, 0),
                          .stop_when_sent = stop_when_sent };
    CHECK(d.sock >= 0);
    struct capture_callbacks callbacks = { delivery_on_packet, delivery_on_tick, &d, NULL };
    CHECK_EQ_U(capture_run(capture, &callbacks), 0);
    if (d.sock >= 0)
        close(d.sock);
    capture_close(capture);
    double late = d.received_at - d.sent_at;
    if (!(d.sent_at > 0 && d.received_at > 0 && late < 0.5))
        fprintf(stderr, "  immediate=%d: sent_at=%.3f received_at=%.3f\n", immediate,
                d.sent_at, d.received_at);
    CHECK(d.sent_at > 0);
    CHECK(d.received_at > 0);
    CHECK(late >= 0 && late < 0.5);
}

UNIT_TEST(test_live_delivery)
{
    check_live_delivery(false, false);
    check_live_delivery(true, false);
}

/* A stop just after a packet was captured still reads it: the kernel's unfinished ring
 * block is waited for (SIGTERM on a sensor must not drop the last 100 ms). */
UNIT_TEST(test_live_stop_reads_the_last_block)
{
    check_live_delivery(false, true);
    check_live_delivery(true, true);
}

/* ---- fanout: two handles in one group share the traffic by address pair ---- */

#define FANOUT_PAIRS 8
struct fanout_seen {
    struct capture *capture;
    unsigned packets[FANOUT_PAIRS];  /* by the last byte of the 127.0.0.x side, 2..9 */
};

static void fanout_on_packet(void *user, const struct packet *pkt)
{
    struct fanout_seen *seen = user;
    /* 127.0.0.1 <-> 127.0.0.x: the side that is not .1 names the pair */
    unsigned x = pkt->src[3] != 1 ? pkt->src[3] : pkt->dst[3];
    if (pkt->ip_version == 4 && x >= 2 && x < 2 + FANOUT_PAIRS)
        seen->packets[x - 2]++;
}

/* The packets were sent before the run: the first tick (a second in) ends it. */
static void fanout_on_tick(void *user)
{
    struct fanout_seen *seen = user;
    capture_stop(seen->capture);
}

static void fanout_send(unsigned from_x, unsigned to_x, unsigned short port)
{
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
    from.sin_addr.s_addr = htonl(0x7f000000u | from_x);
    to.sin_addr.s_addr = htonl(0x7f000000u | to_x);
    to.sin_port = htons(port);
    if (sock >= 0 && bind(sock, (struct sockaddr *)&from, sizeof(from)) == 0)
        (void)sendto(sock, "fanout", 6, 0, (struct sockaddr *)&to, sizeof(to));
    if (sock >= 0)
        close(sock);
}

UNIT_TEST(test_fanout_by_address_pair)
{
    char err[512] = "";
    /* The first handle starts a group, as exflow --fanout does; the second joins it. */
    struct capture_config config = { .interface = "lo", .promiscuous = false,
                                     .bpf_filter = "udp portrange 40000-40002",
                                     .fanout = CAPTURE_FANOUT_START };
    struct capture *one = capture_open(&config, err, sizeof(err));
    if (one == NULL) {
        printf("     (fanout skipped: %s)\n", err);
        return;
    }
    int group = capture_fanout_group(one);
    CHECK(group >= 0 && group <= 0xffff);
    /* A second new group never gets the id of one that exists. */
    struct capture *other = capture_open(&config, err, sizeof(err));
    CHECK(other != NULL);
    if (other != NULL) {
        CHECK(capture_fanout_group(other) != group);
        capture_close(other);
    }
    config.fanout = CAPTURE_FANOUT_JOIN;
    config.fanout_group = (uint16_t)group;
    struct capture *two = capture_open(&config, err, sizeof(err));
    CHECK(two != NULL);
    if (two == NULL) {
        fprintf(stderr, "  %s\n", err);
        capture_close(one);
        return;
    }
    CHECK(capture_fanout_group(two) == group);
    /* Every pair both ways, three ports each: 6 packets a pair. */
    for (unsigned x = 2; x < 2 + FANOUT_PAIRS; x++) {
        for (unsigned short port = 40000; port <= 40002; port++) {
            fanout_send(1, x, port);
            fanout_send(x, 1, port);
        }
    }
    struct fanout_seen seen[2] = { { .capture = one }, { .capture = two } };
    struct capture_callbacks callbacks[2] = { { fanout_on_packet, fanout_on_tick, &seen[0], NULL },
                                              { fanout_on_packet, fanout_on_tick, &seen[1], NULL } };
    CHECK_EQ_U(capture_run(one, &callbacks[0]), 0);
    CHECK_EQ_U(capture_run(two, &callbacks[1]), 0);
    unsigned used[2] = { 0, 0 };
    for (unsigned i = 0; i < FANOUT_PAIRS; i++) {
        /* all six of a pair on one handle, none on the other */
        bool on_one = seen[0].packets[i] == 6 && seen[1].packets[i] == 0;
        bool on_two = seen[1].packets[i] == 6 && seen[0].packets[i] == 0;
        if (!on_one && !on_two)
            fprintf(stderr, "  pair 127.0.0.1-127.0.0.%u: %u and %u packets\n", i + 2,
                    seen[0].packets[i], seen[1].packets[i]);
        CHECK(on_one || on_two);
        used[0] += on_one;
        used[1] += on_two;
    }
    CHECK(used[0] > 0 && used[1] > 0); /* and the pairs are spread */
    capture_close(one);
    capture_close(two);
}

/* A group another program started in another mode cannot be joined: a clear error, no
 * capture (exflow only joins the group its own first socket started). */
UNIT_TEST(test_fanout_join_error)
{
    int sock = socket(AF_PACKET, SOCK_RAW, 0);
    struct sockaddr_ll lo = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex("lo") };
    int arg = PACKET_FANOUT_HASH << 16 | PACKET_FANOUT_FLAG_UNIQUEID << 16;
    int group = 0;
    socklen_t group_len = sizeof(group);
    if (sock < 0 || bind(sock, (struct sockaddr *)&lo, sizeof(lo)) != 0 ||
        setsockopt(sock, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0 ||
        getsockopt(sock, SOL_PACKET, PACKET_FANOUT, &group, &group_len) != 0) {
        printf("     (fanout join error skipped: no AF_PACKET fanout here)\n");
        if (sock >= 0)
            close(sock);
        return;
    }
    char err[512] = "", want[64];
    struct capture_config config = { .interface = "lo", .fanout = CAPTURE_FANOUT_JOIN,
                                     .fanout_group = (uint16_t)(group & 0xffff) };
    struct capture *capture = capture_open(&config, err, sizeof(err));
    CHECK(capture == NULL);
    snprintf(want, sizeof(want), "lo: cannot join AF_PACKET fanout group %d: ", group & 0xffff);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    if (capture != NULL)
        capture_close(capture);
    close(sock);
}

UNIT_MAIN("capture",
          UNIT_CASE(test_open_errors),
          UNIT_CASE(test_config_errors),
          UNIT_CASE(test_link_types),
          UNIT_CASE(test_linktype_and_timestamps),
          UNIT_CASE(test_malformed_frames),
          UNIT_CASE(test_truncated_files),
          UNIT_CASE(test_several_files),
          UNIT_CASE(test_bpf_filter),
          UNIT_CASE(test_stdin),
          UNIT_CASE(test_stop),
          UNIT_CASE(test_live),
          UNIT_CASE(test_live_delivery),
          UNIT_CASE(test_live_stop_reads_the_last_block),
          UNIT_CASE(test_fanout_by_address_pair),
          UNIT_CASE(test_fanout_join_error))
