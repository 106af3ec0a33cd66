/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the flow table with nDPI on, behind it the detector and the JSON
 * output (to /dev/null): the whole path a packet takes after decoding. Input format in
 * fuzz_packets.h; connections are TLS 443, HTTP 80, DNS 53/udp and FTP 21. The first byte
 * picks the memory cap (tiny caps make every new flow evict the oldest).
 *
 * nDPI's module takes a while to build, so each cap's table is made once and flushed after
 * every input; flows never outlive an input.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_flows
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "detect/detect.h"
#include "flows/flows.h"
#include "geo/geo.h"
#include "output/output.h"
#include "tests/fuzz/fuzz_packets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const struct fuzz_connection connections[4] = {
    { 6, 40001, 443 }, { 6, 40002, 80 }, { 17, 40003, 53 }, { 6, 40004, 21 },
};

struct fuzz_pipeline {
    struct detector *detector;
    struct output *output;
};

static struct fuzz_pipeline pipeline;
static struct flow_table *tables[2];
static struct geo *geo;

/* Every label must be a terminated string: output/ and detect/ print them. */
static void check_labels(const struct flow *flow)
{
    const struct flow_labels *l = &flow->labels;
    if (strnlen(l->master_protocol, sizeof(l->master_protocol)) == sizeof(l->master_protocol) ||
        strnlen(l->app_protocol, sizeof(l->app_protocol)) == sizeof(l->app_protocol) ||
        strnlen(l->category, sizeof(l->category)) == sizeof(l->category) ||
        strnlen(l->server_name, sizeof(l->server_name)) == sizeof(l->server_name) ||
        strnlen(l->http_method, sizeof(l->http_method)) == sizeof(l->http_method) ||
        strnlen(l->http_url, sizeof(l->http_url)) == sizeof(l->http_url) ||
        strnlen(l->http_content_type, sizeof(l->http_content_type)) == sizeof(l->http_content_type) ||
        strnlen(l->ssh_client, sizeof(l->ssh_client)) == sizeof(l->ssh_client) ||
        strnlen(l->ssh_server, sizeof(l->ssh_server)) == sizeof(l->ssh_server))
        abort();
}

static void on_flow_packet(void *user, struct flow *flow, const struct packet *pkt,
                           enum flow_direction direction)
{
    struct fuzz_pipeline *p = user;
    check_labels(flow);
    detector_on_packet(p->detector, flow, pkt, direction);
}

static void on_flow_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final)
{
    struct fuzz_pipeline *p = user;
    check_labels(flow);
    output_flow(p->output, flow, reason, NULL);
    detector_on_record(p->detector, flow, reason, final);
}

static void on_alert(void *user, const struct alert *alert)
{
    struct fuzz_pipeline *p = user;
    if (strnlen(alert->reason, sizeof(alert->reason)) == sizeof(alert->reason) ||
        strnlen(alert->dest_name, sizeof(alert->dest_name)) == sizeof(alert->dest_name))
        abort();
    output_alert(p->output, alert);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    log_threshold = LOG_LEVEL_ERROR;
    geo = geo_open("geo/testdata/GeoIP2-City-Test.mmdb", NULL, err, sizeof(err));
    /* Without the test database (run from elsewhere) the harness still runs, geo-less. */
    static const size_t caps[2] = { 64 * 1024, 64 * 1024 * 1024 };
    for (int i = 0; i < 2; i++) {
        struct flow_table_config config;
        flow_table_config_defaults(&config);
        config.memory_cap_bytes = caps[i];
        config.hash_seed = 1;
        config.custom_protocols_file = getenv("EXFLOW_PROTOCOLS") ? getenv("EXFLOW_PROTOCOLS")
                                                                  : "flows/protocols.txt";
        struct flow_observer observer = { on_flow_packet, on_flow_record, &pipeline };
        tables[i] = flow_table_new(&config, &observer, err, sizeof(err));
        if (tables[i] == NULL) {
            fprintf(stderr, "fuzz_flows: %s (run from the repository root)\n", err);
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (size < 1)
        return 0;
    struct flow_table *table = tables[data[0] & 1];

    struct detect_config dconfig;
    detect_config_defaults(&dconfig);
    dconfig.geo = geo;
    dconfig.min_upload_bytes = 1;      /* score everything: the alert path runs too */
    dconfig.alert_threshold = 0;
    dconfig.beacon_min_period_sec = 0;
    pipeline.detector = detector_new(&dconfig, on_alert, &pipeline, err, sizeof(err));
    struct output_config oconfig;
    output_config_defaults(&oconfig);
    oconfig.json_path = "/dev/null";
    oconfig.write_flows = true;
    oconfig.geo = geo;
    pipeline.output = output_open(&oconfig, err, sizeof(err));
    if (pipeline.detector == NULL || pipeline.output == NULL)
        abort();

    struct fuzz_stream stream;
    struct fuzz_record record;
    fuzz_stream_init(&stream, data + 1, size - 1);
    /* Packet time keeps moving forward across inputs, as the long-lived table expects. */
    static uint64_t clock_usec = FUZZ_START_USEC;
    stream.now_usec = clock_usec;
    uint64_t latest_usec = clock_usec;
    while (fuzz_stream_next(&stream, &record)) {
        if (stream.now_usec > latest_usec)
            latest_usec = stream.now_usec;
        if (record.kind == FUZZ_TIME_JUMP) {
            fuzz_time_jump(&stream, &record);
            flow_table_expire(table, stream.now_usec);
            continue;
        }
        uint8_t *frame;
        uint32_t wire_len;
        size_t caplen = fuzz_build(&stream, &record, &connections[record.connection], &frame, &wire_len);
        struct packet pkt;
        if (fuzz_decode(&stream, frame, caplen, wire_len, &pkt))
            flow_table_process(table, &pkt);
        free(frame);
    }
    flow_table_flush(table);
    clock_usec = (stream.now_usec > latest_usec ? stream.now_usec : latest_usec) + 3600 * 1000000ULL;
    struct flow_table_stats stats;
    flow_table_get_stats(table, &stats);
    if (stats.active != 0)
        abort();
    output_close(pipeline.output);
    detector_free(pipeline.detector);
    return 0;
}
