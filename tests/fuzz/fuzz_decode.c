/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for capture_decode(). The first input byte picks a link type from the
 * supported list, the next picks how much of the frame the "wire" had beyond the capture
 * (so snapped frames are explored too), and the rest is the frame. The frame is copied to
 * a buffer of its exact size so ASan flags a read one byte past the end.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_decode.c \
 *       capture/decode.c common/log.c $(pkg-config --cflags libpcap) -o fuzz_decode
 *   ./fuzz_decode -max_total_time=60 tests/fuzz/regressions/decode
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/dlt.h>

#include "capture/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int fuzz_linktypes[] = {
    DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 14, 101, DLT_IPV4, DLT_IPV6,
    DLT_NULL, DLT_LOOP, DLT_PPP, DLT_PPP_SERIAL, DLT_C_HDLC,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int linktype = fuzz_linktypes[data[0] % (sizeof(fuzz_linktypes) / sizeof(fuzz_linktypes[0]))];
    uint32_t snapped = data[1] & 0x80 ? (uint32_t)(data[1] & 0x7f) * 64 : 0;
    size_t caplen = size - 2;
    uint8_t *frame = malloc(caplen > 0 ? caplen : 1);
    if (frame == NULL)
        return 0;
    memcpy(frame, data + 2, caplen);

    struct packet packet;
    enum decode_reason reason = capture_decode(linktype, caplen > 0 ? frame : NULL,
                                               (uint32_t)caplen, (uint32_t)caplen + snapped,
                                               1, &packet);
    if (reason >= DECODE_REASON_COUNT || decode_reason_name(reason) == NULL)
        abort();
    if (reason == DECODE_OK) {
        /* The packet's views must lie inside the frame and agree with each other. */
        const uint8_t *end = frame + caplen;
        if (packet.l3 < frame || packet.l3 + packet.l3_len > end)
            abort();
        if (packet.payload < packet.l3 || packet.payload + packet.payload_len > end ||
            packet.payload + packet.payload_len > packet.l3 + packet.l3_len)
            abort();
        if (packet.payload_len > packet.payload_wire_len)
            abort();
        if (packet.ip_version != 4 && packet.ip_version != 6)
            abort();
        /* Touch every byte the caller may read, so ASan checks the whole range. */
        volatile uint8_t sink = 0;
        for (uint32_t i = 0; i < packet.l3_len; i++)
            sink ^= packet.l3[i];
        (void)sink;
    }
    free(frame);
    return 0;
}
