/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * pcap_loop: the practical upper limit for any libpcap-based reader of a file.
 *
 *   pcap_loop FILE
 *
 * Opens FILE as exflow does (a 1 MiB stdio buffer handed to pcap_fopen_offline: the limit
 * should not be slower than exflow's own reading) and reads it with pcap_next_ex, touching every packet
 * (sums one byte from the middle of each frame, so the data is really pulled through the
 * cache, and the lengths), then prints packets, bytes, seconds, packets/s and Gbit/s.
 * The benchmark divides exflow's rate by this one.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_BUFFER (1 << 20) /* as capture/'s CAPTURE_FILE_BUFFER */

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pcap_loop FILE\n");
        return 2;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    double start = monotonic_seconds();
    FILE *stream = fopen(argv[1], "rb");
    static char buffer[FILE_BUFFER];
    if (stream == NULL) {
        perror(argv[1]);
        return 2;
    }
    setvbuf(stream, buffer, _IOFBF, sizeof(buffer));
    pcap_t *pcap = pcap_fopen_offline(stream, errbuf);
    if (pcap == NULL) {
        fprintf(stderr, "pcap_loop: %s\n", errbuf);
        fclose(stream);
        return 2;
    }
    uint64_t packets = 0, bytes = 0, captured = 0, touch = 0;
    struct pcap_pkthdr *header;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(pcap, &header, &data)) == 1) {
        packets++;
        bytes += header->len;
        captured += header->caplen;
        if (header->caplen > 0)
            touch += data[header->caplen / 2];
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(pcap));
        pcap_close(pcap);
        return 1;
    }
    pcap_close(pcap);
    double seconds = monotonic_seconds() - start;
    if (seconds <= 0)
        seconds = 1e-9;
    printf("packets %" PRIu64 " bytes %" PRIu64 " seconds %.3f pps %.0f gbps %.3f"
           " (captured %" PRIu64 ", checksum %" PRIu64 ")\n",
           packets, bytes, seconds, (double)packets / seconds,
           (double)bytes * 8.0 / seconds / 1e9, captured, touch);
    return 0;
}
