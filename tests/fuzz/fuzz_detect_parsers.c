/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the protocol parsers in detect/ (FTP control channel, FTP data
 * channel matching, HTTP/1.x request side) as the detector meets them: packets through the
 * flow table (nDPI off, so only the port and first bytes decide), detector_on_packet on each,
 * then detector_on_record as the flows end, scored with thresholds at zero so every finding
 * goes through scoring and the alert text. Input format in fuzz_packets.h; connections:
 *   0  FTP control, client -> 81.2.69.160:21
 *   1  HTTP, client -> :80
 *   2  an FTP data channel: the record's first two bytes are the server port (big endian),
 *      so a PASV/EPSV reply seen earlier can be answered; direction 1 on its first packet
 *      opens it from the server (active mode, PORT/EPRT)
 *   3  HTTP on 8080 (HTTP is recognised by its request line, not the port)
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_detect_parsers
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "detect/detect.h"
#include "flows/flows.h"
#include "tests/fuzz/fuzz_packets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_flow_packet(void *user, struct flow *flow, const struct packet *pkt,
                           enum flow_direction direction)
{
    detector_on_packet(user, flow, pkt, direction);
}

static void on_flow_record(void *user, struct flow *flow, enum flow_end_reason reason, bool final)
{
    detector_on_record(user, flow, reason, final);
}

static void on_alert(void *user, const struct alert *alert)
{
    (void)user;
    if (strnlen(alert->reason, sizeof(alert->reason)) == sizeof(alert->reason) ||
        strnlen(alert->dest_name, sizeof(alert->dest_name)) == sizeof(alert->dest_name) ||
        strnlen(alert->app_protocol, sizeof(alert->app_protocol)) == sizeof(alert->app_protocol) ||
        alert->technique_count < 0 || alert->technique_count > ALERT_MAX_TECHNIQUES)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    log_threshold = LOG_LEVEL_ERROR;

    struct detect_config dconfig;
    detect_config_defaults(&dconfig);
    dconfig.min_upload_bytes = 1;
    dconfig.alert_threshold = 0;
    dconfig.beacon_min_period_sec = 0;
    struct detector *detector = detector_new(&dconfig, on_alert, NULL, err, sizeof(err));
    if (detector == NULL)
        abort();
    struct flow_table_config fconfig;
    flow_table_config_defaults(&fconfig);
    fconfig.ndpi_enabled = false;
    fconfig.memory_cap_bytes = 4 * 1024 * 1024;
    fconfig.hash_seed = 1;
    struct flow_observer observer = { on_flow_packet, on_flow_record, detector };
    struct flow_table *table = flow_table_new(&fconfig, &observer, err, sizeof(err));
    if (table == NULL)
        abort();

    static const struct fuzz_connection fixed[4] = {
        { 6, 40001, 21 }, { 6, 40002, 80 }, { 6, 40003, 0 }, { 6, 40004, 8080 },
    };
    struct fuzz_stream stream;
    struct fuzz_record record;
    fuzz_stream_init(&stream, data, size);
    while (fuzz_stream_next(&stream, &record)) {
        if (record.kind == FUZZ_TIME_JUMP) {
            fuzz_time_jump(&stream, &record);
            flow_table_expire(table, stream.now_usec);
            continue;
        }
        struct fuzz_connection conn = fixed[record.connection];
        if (record.connection == 2 && !record.raw) {
            if (record.len < 2)
                continue;
            conn.server_port = (uint16_t)(record.bytes[0] << 8 | record.bytes[1]);
            record.bytes += 2;
            record.len -= 2;
        }
        uint8_t *frame;
        uint32_t wire_len;
        size_t caplen = fuzz_build(&stream, &record, &conn, &frame, &wire_len);
        struct packet pkt;
        if (fuzz_decode(&stream, frame, caplen, wire_len, &pkt))
            flow_table_process(table, &pkt);
        free(frame);
    }
    flow_table_flush(table);
    flow_table_free(table);
    detector_free(detector);
    return 0;
}
