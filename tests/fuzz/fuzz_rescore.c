/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for saved flow events read back (rescore/): the input is JSON lines, or
 * anything else. Every record goes through detection as `exflow -r EVENTS.jsonl` sends it.
 * Checks, beyond "no crash":
 *   - every record the reader counts reaches the callback, and no line is both counted as
 *     a record and as bad;
 *   - each record ends no earlier than the epoch and carries one address family;
 *   - the evidence a record carried comes back from the per-flow state detection built of
 *     it (detect_flow_evidence_get), kind and counts unchanged: what a flow event written
 *     again would carry.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_rescore
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "detect/detect.h"
#include "rescore/rescore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct detector *detector;
    uint64_t records;
};

static void check_round_trip(const struct detect_flow_evidence *in,
                             const struct detect_flow_evidence *out)
{
    if (in->kind != out->kind)
        abort();
    if (in->http_upload_requests != out->http_upload_requests ||
        in->http_body_bytes != out->http_body_bytes || in->ftp_active != out->ftp_active ||
        memcmp(in->icmp_echo_bytes, out->icmp_echo_bytes, sizeof(in->icmp_echo_bytes)) != 0 ||
        in->smtp_messages != out->smtp_messages || in->smtp_tls_bytes != out->smtp_tls_bytes)
        abort();
    if (in->kind == DETECT_PAYLOAD_DNS && in->dns_domain_count > 0 &&
        (out->dns[0].queries != in->dns[0].queries ||
         memcmp(out->dns[0].unique, in->dns[0].unique, sizeof(in->dns[0].unique)) != 0))
        abort();
}

static void on_record(void *user, struct flow *flow, enum flow_end_reason reason,
                      const struct detect_log_evidence *evidence)
{
    struct run *run = user;
    if (flow->ip_version != 4 && flow->ip_version != 6)
        abort();
    run->records++;
    detector_log_attach(flow, evidence);
    if (evidence != NULL && evidence->saved != NULL) {
        struct detect_flow_evidence back;
        detect_flow_evidence_get(flow, &back);
        check_round_trip(evidence->saved, &back);
    }
    detector_on_record(run->detector, flow, reason, true);
    if (flow->observer_state != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_threshold = LOG_LEVEL_ERROR;
    struct detect_config dc;
    detect_config_defaults(&dc);
    char err[256];
    struct run run = { 0 };
    run.detector = detector_new(&dc, NULL, NULL, err, sizeof(err));
    if (run.detector == NULL)
        abort();
    struct rescore_reader *reader = rescore_reader_new(NULL, 0, on_record, &run, err, sizeof(err));
    if (reader == NULL)
        abort();
    const char *cur = (const char *)data, *end = cur + size;
    while (cur < end) {
        const char *newline = memchr(cur, '\n', (size_t)(end - cur));
        const char *stop = newline ? newline : end;
        rescore_reader_feed_line(reader, cur, (size_t)(stop - cur));
        cur = stop + 1;
    }
    struct rescore_stats stats;
    rescore_reader_get_stats(reader, &stats);
    if (stats.flows_out != run.records || stats.flows_out + stats.bad_lines + stats.other_events > stats.lines)
        abort();
    rescore_reader_free(reader);
    detector_free(run.detector);
    return 0;
}
