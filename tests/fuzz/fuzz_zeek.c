/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for Zeek log input (zeek/). The input is up to six logs separated by a
 * line holding only "\x01": ssl.log, http.log, ftp.log, conn.log, then dns.log and files.log
 * (joined when the records leave, at the end), in TSV or JSON or anything else. Every record goes through detection. Checks, beyond "no crash":
 *   - records leave in end-time order, each ending no earlier than it starts;
 *   - every record the reader counts reaches the callback.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_zeek
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "detect/detect.h"
#include "zeek/zeek.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct detector *detector;
    uint64_t last_end;
    uint64_t records;
};

static void on_record(void *user, struct flow *flow, enum flow_end_reason reason,
                      const struct detect_log_evidence *evidence)
{
    struct run *run = user;
    if (flow->last_ts_usec < flow->start_ts_usec || flow->last_ts_usec < run->last_end)
        abort();
    run->last_end = flow->last_ts_usec;
    run->records++;
    detector_on_log_record(run->detector, flow, reason, evidence);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = { "ssl", "http", "ftp", "conn", "dns", "files" };
    log_threshold = LOG_LEVEL_ERROR;
    struct detect_config dc;
    detect_config_defaults(&dc);
    char err[256];
    struct run run = { 0 };
    run.detector = detector_new(&dc, NULL, NULL, err, sizeof(err));
    if (run.detector == NULL)
        abort();
    struct zeek_reader *reader = zeek_reader_new_memory(on_record, &run);
    if (reader == NULL)
        abort();
    const uint8_t *cur = data, *end = data + size;
    for (size_t k = 0; k < 6 && cur <= end; k++) {
        const uint8_t *cut = NULL;
        for (const uint8_t *p = cur; p + 2 < end; p++)
            if (p[0] == '\n' && p[1] == 0x01 && p[2] == '\n') {
                cut = p;
                break;
            }
        const uint8_t *stop = cut != NULL && k < 5 ? cut : end;
        zeek_reader_feed(reader, kinds[k], cur, (size_t)(stop - cur));
        if (stop == end)
            break;
        cur = stop + 3;
    }
    zeek_reader_flush(reader);
    struct zeek_stats stats;
    zeek_reader_get_stats(reader, &stats);
    if (stats.flows_out != run.records)
        abort();
    zeek_reader_free(reader);
    detector_free(run.detector);
    return 0;
}
