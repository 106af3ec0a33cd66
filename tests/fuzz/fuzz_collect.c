/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the flow-export datagram path (collect/): IPFIX and NetFlow v9
 * framing, libfixbuf's template handling, sequence accounting and uniflow pairing. The
 * input is a series of datagrams, each `exporter byte, length (2 bytes, big endian),
 * bytes`, so that a template in one datagram meets data in the next. The exporter byte
 * picks one of four source addresses (sessions), and with bit 2 the TCP path (withdrawals). Each datagram is copied to a buffer of its
 * exact size so ASan flags a read one byte past the end.
 *
 *   make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_collect
 *   ./build/fuzz/fuzz_collect -max_total_time=60 tests/fuzz/seeds/collect
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t checksum;

/* Reads every field of every record, so that ASan and UBSan see uninitialised or odd ones. */
static void on_record(void *user, struct flow *flow, enum flow_end_reason reason)
{
    (void)user;
    checksum += flow->dir[0].payload_bytes + flow->dir[1].payload_bytes + flow->start_ts_usec +
                flow->last_ts_usec + flow->orig_port + flow->resp_port + (unsigned)reason;
    /* Names from enterprise elements: must be terminated inside their buffers. */
    checksum += strlen(flow->labels.server_name) + strlen(flow->labels.master_protocol) +
                strlen(flow->labels.app_protocol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct collector *collector;
    if (collector == NULL) {
        /* One collector for the whole run, as in exflow: sessions and pairing carry over
         * from input to input (no listening socket: url_count is 0). */
        struct collect_config config = { .url_count = 0 };
        char err[256];
        collector = collector_new(&config, on_record, NULL, err, sizeof(err));
        if (collector == NULL)
            abort();
    }
    const uint8_t *cur = data, *end = data + size;
    while (end - cur >= 3) {
        struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(2055) };
        from.sin_addr.s_addr = htonl(0x7f000001u + (cur[0] & 3));
        size_t len = (size_t)cur[1] << 8 | cur[2];
        cur += 3;
        if (len > (size_t)(end - cur))
            len = (size_t)(end - cur);
        uint8_t *datagram = malloc(len ? len : 1);
        if (datagram == NULL)
            return 0;
        memcpy(datagram, cur, len);
        if (cur[-3] & 4)   /* as on a TCP session: template withdrawals allowed */
            collector_stream_message(collector, datagram, len, (const struct sockaddr *)&from,
                                     sizeof(from));
        else
            collector_datagram(collector, datagram, len, (const struct sockaddr *)&from, sizeof(from));
        free(datagram);
        cur += len;
    }
    collector_flush(collector);
    return 0;
}
