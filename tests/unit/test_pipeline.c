/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * pipeline/: the same packets give the same records, in the same order, for any number of
 * workers; records carry their observer state; full rings and skewed traffic do not stall it.
 */
#include <dirent.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../detect/detect.h"
#include "../../pipeline/pipeline.h"
#include "unit.h"

#define SEC 1000000ULL
#define T0 (1700000000ULL * SEC)
#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04

/* What a record says, compactly: enough to tell two runs apart. */
struct seen_record {
    uint64_t id, start, last, orig_packets, resp_packets, orig_payload;
    uint32_t record_seq;
    uint8_t reason, final, has_state, orig_last;
};

struct recorder {
    struct seen_record *records;
    size_t count, capacity;
    size_t ticks;
    size_t with_text, text_mismatch, text_from_consumer;
};

/* ---- the sink's encoder: what a record was when its worker made it, and which thread ---- */

static _Atomic unsigned thread_tags, encoders_made, encoders_freed, encoder_moved_thread;
static __thread unsigned thread_tag; /* 0 until this thread first asks */

static unsigned this_thread_tag(void)
{
    if (thread_tag == 0)
        thread_tag = atomic_fetch_add(&thread_tags, 1) + 1;
    return thread_tag;
}

struct test_encoder {
    unsigned thread;             /* tag of the thread that encodes with it; 0: not yet */
};

static void *test_new_encoder(void *user)
{
    (void)user;
    atomic_fetch_add(&encoders_made, 1);
    return calloc(1, sizeof(struct test_encoder));
}

static void record_text(const struct flow *flow, enum flow_end_reason reason, unsigned thread,
                        char *out, size_t len)
{
    snprintf(out, len, "%llu %u %u %llu %llu thread %u", (unsigned long long)flow->id,
             (unsigned)reason, (unsigned)flow->record_seq,
             (unsigned long long)flow->dir[FLOW_DIR_ORIG].packets,
             (unsigned long long)flow->dir[FLOW_DIR_RESP].bytes, thread);
}

static char *test_encode(void *encoder, const struct flow *flow, enum flow_end_reason reason)
{
    struct test_encoder *e = encoder;
    if (e->thread == 0)
        e->thread = this_thread_tag();
    else if (e->thread != this_thread_tag())
        atomic_fetch_add(&encoder_moved_thread, 1);
    char *text = malloc(128);
    if (text != NULL)
        record_text(flow, reason, e->thread, text, 128);
    return text;
}

static void test_free_encoder(void *encoder)
{
    atomic_fetch_add(&encoders_freed, 1);
    free(encoder);
}

/* The text must say what the delivered copy says, and come from another thread. */
static void check_text(struct recorder *rec, const struct flow *flow, enum flow_end_reason reason,
                       char *text)
{
    if (text == NULL)
        return;
    rec->with_text++;
    unsigned thread = 0;
    const char *tag = strstr(text, "thread ");
    if (tag != NULL)
        thread = (unsigned)strtoul(tag + 7, NULL, 10);
    char want[128];
    record_text(flow, reason, thread, want, sizeof(want));
    if (strcmp(want, text) != 0)
        rec->text_mismatch++;
    if (thread == this_thread_tag())
        rec->text_from_consumer++;
    free(text);
}

static void on_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final,
                      char *text)
{
    struct recorder *rec = user;
    check_text(rec, flow, reason, text);
    if (rec->count == rec->capacity) {
        rec->capacity = rec->capacity ? rec->capacity * 2 : 1024;
        rec->records = realloc(rec->records, rec->capacity * sizeof(*rec->records));
        if (rec->records == NULL)
            abort();
    }
    struct seen_record *r = &rec->records[rec->count++];
    memset(r, 0, sizeof(*r));
    r->id = flow->id;
    r->start = flow->start_ts_usec;
    r->last = flow->last_ts_usec;
    r->orig_packets = flow->dir[FLOW_DIR_ORIG].packets;
    r->resp_packets = flow->dir[FLOW_DIR_RESP].packets;
    r->orig_payload = flow->dir[FLOW_DIR_ORIG].payload_bytes;
    r->record_seq = flow->record_seq;
    r->reason = (uint8_t)reason;
    r->final = final;
    r->has_state = flow->observer_state != NULL;
    r->orig_last = flow->orig_addr[3];
    if (final) {
        /* The sink owns a final record's state (detect/ frees it in detector_on_record). */
        free(flow->observer_state);
        flow->observer_state = NULL;
    }
}

static void on_tick(void *user)
{
    struct recorder *rec = user;
    rec->ticks++;
}

/* A packet between 10.0.<a/256>.<a%256> and 8.8.<b/256>.<b%256> (b = 0: the other way). */
static struct packet pkt_make(uint8_t proto, uint16_t src, uint16_t sport, uint16_t dst,
                              uint16_t dport, uint8_t flags, uint64_t ts, uint32_t payload,
                              bool src_internal)
{
    struct packet pkt;
    memset(&pkt, 0, sizeof(pkt));
    pkt.ts_usec = ts;
    pkt.ip_version = 4;
    pkt.proto = proto;
    uint8_t *in = src_internal ? pkt.src : pkt.dst, *out = src_internal ? pkt.dst : pkt.src;
    uint16_t in_host = src_internal ? src : dst, out_host = src_internal ? dst : src;
    in[0] = 10, in[2] = (uint8_t)(in_host >> 8), in[3] = (uint8_t)in_host;
    out[0] = 8, out[1] = 8, out[2] = (uint8_t)(out_host >> 8), out[3] = (uint8_t)out_host;
    pkt.sport = sport;
    pkt.dport = dport;
    pkt.tcp_flags = proto == IPPROTO_TCP ? flags : 0;
    uint32_t headers = 20 + (proto == IPPROTO_TCP ? 20 : 8);
    pkt.wire_len = 14 + headers + payload;
    pkt.caplen = pkt.wire_len;
    pkt.payload_len = 0;
    pkt.payload_wire_len = payload;
    return pkt;
}

/* Feeds pkt with bytes behind it: an IP header's worth of zeros, then payload text. */
static void feed(struct pipeline *p, struct packet *pkt, const char *payload)
{
    static uint8_t bytes[2048];
    uint32_t headers = 20 + (pkt->proto == IPPROTO_TCP ? 20 : 8);
    size_t len = payload != NULL ? strlen(payload) : 0;
    memset(bytes, 0, headers);
    if (len > 0)
        memcpy(bytes + headers, payload, len);
    pkt->l3 = bytes;
    pkt->l3_len = headers + (uint32_t)len;
    pkt->payload = bytes + headers;
    pkt->payload_len = (uint32_t)len;
    if (len > 0 && pkt->payload_wire_len < len)
        pkt->payload_wire_len = (uint32_t)len;
    pipeline_packet(p, pkt);
}

static struct pipeline_config config_for(unsigned workers)
{
    struct pipeline_config config;
    memset(&config, 0, sizeof(config));
    config.workers = workers;
    flow_table_config_defaults(&config.flows);
    config.flows.ndpi_enabled = false;
    config.flows.hash_seed = 0x5eed;
    config.flows.idle_timeout_tcp_usec = 20 * SEC;
    config.flows.idle_timeout_other_usec = 5 * SEC;
    config.flows.active_timeout_usec = 30 * SEC;
    config.flows.closed_linger_usec = 2 * SEC;
    return config;
}

static uint64_t rng_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Minutes of mixed traffic among 10 internal and 6 outside hosts: handshakes, data,
 * FIN and RST closes, flows left open, UDP, many equal timestamps. */
static void run_mix(struct pipeline *p, uint64_t seed, unsigned packets)
{
    uint64_t state = seed, ts = T0;
    for (unsigned i = 0; i < packets; i++) {
        uint64_t r = rng_next(&state);
        /* Equal timestamps often (ties), gaps of up to ~6 s now and then (expiry). */
        if (r % 4 != 0)
            ts += (r >> 8) % 200 == 0 ? ((r >> 16) % 25 * SEC) : (r >> 20) % 3000;
        uint16_t in = (uint16_t)(1 + (r >> 24) % 10), out = (uint16_t)(1 + (r >> 32) % 6);
        uint16_t port = (uint16_t)(40000 + (r >> 40) % 4);
        bool from_in = (r >> 48) & 1;
        uint8_t flags = ACK;
        switch ((r >> 50) % 16) {
        case 0: flags = SYN; break;
        case 1: flags = SYN | ACK; break;
        case 2: flags = FIN | ACK; break;
        case 3: flags = RST; break;
        default: break;
        }
        struct packet pkt;
        if ((r >> 56) % 5 == 0)
            pkt = pkt_make(IPPROTO_UDP, from_in ? in : out, from_in ? port : 53, from_in ? out : in,
                           from_in ? 53 : port, 0, ts, 40, from_in);
        else
            pkt = pkt_make(IPPROTO_TCP, from_in ? in : out, from_in ? port : 443, from_in ? out : in,
                           from_in ? 443 : port, flags, ts, (uint32_t)(r >> 58) * 100, from_in);
        feed(p, &pkt, NULL);
    }
}

/* The packet stage main/ hands the pipeline: a packet-side detector per worker. */
static void *stage_new(void *user, char *err, size_t err_len)
{
    return detector_new_packet_side(user, err, err_len);
}

static void stage_packet(void *ctx, struct flow *flow, const struct packet *pkt,
                         enum flow_direction direction)
{
    detector_on_packet(ctx, flow, pkt, direction);
}

static void stage_prepare(void *ctx, struct flow *flow)
{
    detector_prepare_record(ctx, flow);
}

static void stage_free(void *ctx)
{
    detector_free(ctx);
}

static struct recorder run_workers(unsigned workers, void (*load)(struct pipeline *, uint64_t),
                                   uint64_t arg, const struct detect_config *detect)
{
    struct recorder rec;
    memset(&rec, 0, sizeof(rec));
    struct pipeline_config config = config_for(workers);
    struct pipeline_packet_stage stage = { stage_new, stage_packet, stage_prepare, stage_free,
                                           detector_flow_state_size(), (void *)detect };
    config.stage = detect != NULL ? &stage : NULL;
    struct pipeline_sink sink = { on_record, on_tick, &rec,
                                  test_new_encoder, test_encode, test_free_encoder };
    unsigned made = atomic_load(&encoders_made), freed = atomic_load(&encoders_freed);
    char err[256] = "";
    struct pipeline *p = pipeline_new(&config, &sink, err, sizeof(err));
    CHECK(p != NULL);
    if (p == NULL) {
        fprintf(stderr, "  %s\n", err);
        return rec;
    }
    load(p, arg);
    pipeline_finish(p);
    struct flow_table_stats stats;
    pipeline_get_flow_stats(p, &stats);
    CHECK_EQ_U(stats.active, 0);
    CHECK_EQ_U(stats.memory_bytes, 0);
    /* Every thread did some work; the workers' CPU adds up from the busiest one. */
    struct pipeline_cpu cpu;
    pipeline_get_cpu(p, &cpu);
    CHECK(cpu.capture > 0.0);
    CHECK(cpu.consumer > 0.0);
    CHECK(cpu.busiest_worker > 0.0);
    CHECK(cpu.workers >= cpu.busiest_worker);
    CHECK(workers > 1 || cpu.workers == cpu.busiest_worker);
    pipeline_free(p);
    /* One encoder per worker, each used on one thread only, every record encoded there
     * with what the consumer then received. */
    CHECK_EQ_U(atomic_load(&encoders_made) - made, workers);
    CHECK_EQ_U(atomic_load(&encoders_freed) - freed, workers);
    CHECK_EQ_U(atomic_load(&encoder_moved_thread), 0);
    CHECK_EQ_U(rec.with_text, rec.count);
    CHECK_EQ_U(rec.text_mismatch, 0);
    CHECK_EQ_U(rec.text_from_consumer, 0);
    return rec;
}

static void same_records(const struct recorder *a, const struct recorder *b)
{
    CHECK_EQ_U(a->count, b->count);
    size_t n = a->count < b->count ? a->count : b->count;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a->records[i], &b->records[i], sizeof(a->records[i])) != 0) {
            fprintf(stderr, "  record %zu differs: id %llu/%llu reason %u/%u\n", i,
                    (unsigned long long)a->records[i].id, (unsigned long long)b->records[i].id,
                    a->records[i].reason, b->records[i].reason);
            CHECK(!"records differ");
            return;
        }
    }
}

static void load_mix(struct pipeline *p, uint64_t seed)
{
    run_mix(p, seed, 60000);
}

UNIT_TEST(same_records_for_any_worker_count)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct recorder one = run_workers(1, load_mix, seed, NULL);
        CHECK(one.count > 1000);
        unsigned reasons = 0;
        for (size_t i = 0; i < one.count; i++)
            reasons |= 1u << one.records[i].reason;
        /* Idle, active, close, reset and end of input all happen in the mix. */
        CHECK_EQ_U(reasons & 0x2f, 0x2f);
        static const unsigned counts[] = { 2, 3, 4, 7 };
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            struct recorder many = run_workers(counts[c], load_mix, seed, NULL);
            same_records(&one, &many);
            free(many.records);
        }
        free(one.records);
    }
}

/* The mix three times, each restarting at T0: packet time steps back by minutes twice, as
 * when capture files are given out of order. */
static void load_mix_stepping_back(struct pipeline *p, uint64_t seed)
{
    for (uint64_t part = 0; part < 3; part++)
        run_mix(p, seed + part * 100, 20000);
}

UNIT_TEST(same_records_for_any_worker_count_after_clock_steps)
{
    struct recorder one = run_workers(1, load_mix_stepping_back, 11, NULL);
    CHECK(one.count > 1000);
    static const unsigned counts[] = { 2, 4 };
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        struct recorder many = run_workers(counts[c], load_mix_stepping_back, 11, NULL);
        same_records(&one, &many);
        free(many.records);
    }
    free(one.records);
}

/* Flow ids are the seq of the packet that made the flow: the same for any worker count. */
static void load_two_flows(struct pipeline *p, uint64_t unused)
{
    (void)unused;
    struct packet a = pkt_make(IPPROTO_UDP, 1, 1000, 1, 53, 0, T0, 10, true);
    struct packet b = pkt_make(IPPROTO_UDP, 2, 1000, 2, 53, 0, T0 + 10, 10, true);
    feed(p, &a, NULL);
    feed(p, &a, NULL);
    feed(p, &b, NULL);
}

UNIT_TEST(flow_ids_are_packet_numbers)
{
    struct recorder rec = run_workers(3, load_two_flows, 0, NULL);
    CHECK_EQ_U(rec.count, 2);
    if (rec.count == 2) {
        CHECK_EQ_U(rec.records[0].id, 1);
        CHECK_EQ_U(rec.records[0].orig_packets, 2);
        CHECK_EQ_U(rec.records[1].id, 3);
        CHECK_EQ_U(rec.records[0].reason, FLOW_END_EOF);
    }
    free(rec.records);
}

/* Thousands of flows that time out at the same second (more records at one marker than an
 * output ring holds), then one host pair sending a long burst (one worker's input ring full
 * while the others idle): the merge must neither stall nor reorder. */
static void load_burst(struct pipeline *p, uint64_t unused)
{
    (void)unused;
    for (unsigned i = 0; i < 6000; i++) {
        struct packet pkt = pkt_make(IPPROTO_UDP, (uint16_t)(1 + i % 4000), (uint16_t)(1024 + i / 4000),
                                     (uint16_t)(1 + i % 300), 53, 0, T0 + i, 20, true);
        feed(p, &pkt, NULL);
    }
    static char chunk[1200];
    memset(chunk, 'x', sizeof(chunk) - 1);
    for (unsigned i = 0; i < 20000; i++) {
        struct packet pkt = pkt_make(IPPROTO_TCP, 7, 40000, 7, 443, ACK, T0 + 10 * SEC + i * 10,
                                     sizeof(chunk) - 1, true);
        feed(p, &pkt, chunk);
    }
}

UNIT_TEST(full_rings_and_skewed_traffic)
{
    struct recorder one = run_workers(1, load_burst, 0, NULL);
    CHECK_EQ_U(one.count, 6000 + 1);
    struct recorder four = run_workers(4, load_burst, 0, NULL);
    same_records(&one, &four);
    if (one.count == 6001) {
        CHECK_EQ_U(one.records[6000].orig_packets, 20000);
        CHECK_EQ_U(one.records[6000].orig_payload, 20000ULL * 1199);
    }
    free(one.records);
    free(four.records);
}

/* HTTP uploads: the packet-side detector parses them on the workers; records, interim ones
 * included, reach the sink with the parser state. */
static void load_http(struct pipeline *p, uint64_t unused)
{
    (void)unused;
    static const char request[] = "POST /upload HTTP/1.1\r\nHost: files.example.com\r\n"
                                  "Content-Length: 100000\r\n\r\n";
    for (uint16_t h = 1; h <= 6; h++) {
        uint64_t t = T0 + h * SEC;
        struct packet syn = pkt_make(IPPROTO_TCP, h, 50000, h, 80, SYN, t, 0, true);
        struct packet synack = pkt_make(IPPROTO_TCP, h, 80, h, 50000, SYN | ACK, t + 100, 0, false);
        struct packet ack = pkt_make(IPPROTO_TCP, h, 50000, h, 80, ACK, t + 200, 0, true);
        struct packet req = pkt_make(IPPROTO_TCP, h, 50000, h, 80, ACK, t + 300, 0, true);
        feed(p, &syn, NULL);
        feed(p, &synack, NULL);
        feed(p, &ack, NULL);
        feed(p, &req, request);
    }
    /* Body every 11 s (under the 20 s idle timeout); the third is past the 30 s active
     * timeout: each flow gives an interim record, then goes on. */
    for (uint64_t k = 1; k <= 3; k++) {
        for (uint16_t h = 1; h <= 6; h++) {
            struct packet more = pkt_make(IPPROTO_TCP, h, 50000, h, 80, ACK,
                                          T0 + h * SEC + k * 11 * SEC, 0, true);
            feed(p, &more, "body bytes");
        }
    }
}

UNIT_TEST(records_carry_observer_state)
{
    struct detect_config detect;
    detect_config_defaults(&detect);
    struct recorder one = run_workers(1, load_http, 0, &detect);
    struct recorder three = run_workers(3, load_http, 0, &detect);
    same_records(&one, &three);
    CHECK_EQ_U(one.count, 12);
    size_t interim = 0, with_state = 0;
    for (size_t i = 0; i < one.count; i++) {
        interim += one.records[i].reason == FLOW_END_ACTIVE;
        with_state += one.records[i].has_state;
    }
    CHECK_EQ_U(interim, 6);
    CHECK_EQ_U(with_state, 12);
    free(one.records);
    free(three.records);
}

UNIT_TEST(default_worker_count)
{
    unsigned n = pipeline_default_workers();
    CHECK(n >= 1 && n <= PIPELINE_MAX_WORKERS);
}

/* top -H, ps -L and perf show which stage is busy by thread name. */
UNIT_TEST(threads_are_named)
{
    struct pipeline_config config = config_for(2);
    struct recorder rec;
    memset(&rec, 0, sizeof(rec));
    struct pipeline_sink sink = { .on_record = on_record, .on_tick = on_tick, .user = &rec };
    char err[256] = "";
    struct pipeline *p = pipeline_new(&config, &sink, err, sizeof(err));
    CHECK(p != NULL);
    if (p == NULL)
        return;
    bool w0 = false, w1 = false, output = false;
    DIR *tasks = opendir("/proc/self/task");
    CHECK(tasks != NULL);
    for (struct dirent *e; tasks != NULL && (e = readdir(tasks)) != NULL;) {
        char path[300], name[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(name, sizeof(name), f) != NULL)
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        w0 |= strcmp(name, "exflow-w0") == 0;
        w1 |= strcmp(name, "exflow-w1") == 0;
        output |= strcmp(name, "exflow-output") == 0;
    }
    if (tasks != NULL)
        closedir(tasks);
    CHECK(w0);
    CHECK(w1);
    CHECK(output);
    pipeline_finish(p);
    pipeline_free(p);
    free(rec.records);
}

UNIT_MAIN("pipeline",
          UNIT_CASE(same_records_for_any_worker_count),
          UNIT_CASE(same_records_for_any_worker_count_after_clock_steps),
          UNIT_CASE(flow_ids_are_packet_numbers),
          UNIT_CASE(full_rings_and_skewed_traffic),
          UNIT_CASE(records_carry_observer_state),
          UNIT_CASE(default_worker_count),
          UNIT_CASE(threads_are_named))
