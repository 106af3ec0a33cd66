/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the text of an alert as it leaves exflow (output/event.c,
 * output/syslog.c, output/identity.c): packet-chosen bytes as the destination name, the
 * application label and the reason go through the JSON event, the CEF record and the RFC 5424
 * structured data. Whatever the bytes, the JSON must parse back, the CEF record must be valid
 * UTF-8 on one line, and the Community ID must not depend on the direction.
 * Input: 2 bytes of ports, 1 byte of protocol, 32 bytes of two addresses, then the texts
 * separated by NUL bytes.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_event
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "output/output_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies the next NUL-terminated piece of the input into out (cut to fit). */
static void take_text(const uint8_t **cur, const uint8_t *end, char *out, size_t out_len)
{
    size_t used = 0;
    while (*cur < end && **cur != 0) {
        if (used + 1 < out_len)
            out[used++] = (char)**cur;
        (*cur)++;
    }
    if (*cur < end)
        (*cur)++;
    out[used] = '\0';
}

static bool utf8_one_line(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + len;
    while (p < end) {
        size_t n = output_utf8_length(p);
        if (n == 0 || *p == '\n' || *p == '\r')
            return false;
        p += n;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_threshold = LOG_LEVEL_ERROR;
    if (size < 35)
        return 0;
    struct alert alert;
    memset(&alert, 0, sizeof(alert));
    alert.id = 1;
    alert.ip_version = (data[2] & 1) ? 6 : 4;
    alert.src_port = (uint16_t)(data[0] << 8 | data[1]);
    alert.dest_port = (uint16_t)(data[1] << 8 | data[0]);
    alert.proto = data[2] >> 1;
    memcpy(alert.src_addr, data + 3, GEO_ADDR_LEN);
    memcpy(alert.dest_addr, data + 3 + GEO_ADDR_LEN, GEO_ADDR_LEN);
    alert.techniques[0] = "T1020";
    alert.technique_count = 1;
    const uint8_t *cur = data + 35, *end = data + size;
    take_text(&cur, end, alert.dest_name, sizeof(alert.dest_name));
    take_text(&cur, end, alert.app_protocol, sizeof(alert.app_protocol));
    take_text(&cur, end, alert.reason, sizeof(alert.reason));

    struct event_identity identity;
    char err[256];
    if (!event_identity_init(&identity, "fuzz", "00000000-0000-4000-8000-000000000000", err,
                             sizeof(err)))
        abort();
    struct event_ids ids;
    output_alert_ids(&identity, &alert, &ids);

    /* The Community ID is the same from either end. */
    char reverse[32];
    community_id_v1(reverse, sizeof(reverse), 0, alert.ip_version, alert.dest_addr,
                    alert.src_addr, alert.proto, alert.dest_port, alert.src_port);
    bool icmp = alert.proto == 1 || alert.proto == 58;
    if (!icmp && strcmp(reverse, ids.community_id) != 0)
        abort();

    char *json = output_alert_json(&identity, &ids, &alert);
    if (json != NULL) {
        json_error_t error;
        json_t *back = json_loads(json, 0, &error);
        if (back == NULL)
            abort();
        json_decref(back);
        free(json);
    }
    static char buf[16384];
    size_t len = syslog_alert_cef(buf, sizeof(buf), &alert, &ids, identity.sensor);
    if (len > 0 && (len != strlen(buf) || !utf8_one_line(buf, len)))
        abort();
    len = syslog_alert_sd(buf, sizeof(buf), &alert);
    if (len > 0 && !utf8_one_line(buf, len))
        abort();
    return 0;
}
