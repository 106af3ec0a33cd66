#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# compose-covert.sh WORKDIR: turns capture-covert.sh's raw captures into the covert-channel
# scenarios in pcaps/scenarios/: the client side (192.168.53.2) becomes the scenario's
# internal host, the server side (192.168.53.1) its resolver or public server
# (tcprewrite --pnat, checksums fixed), and each capture is moved to its start time on
# Monday 2026-03-09 (editcap -t), after the three days of baseline.pcap.
set -euo pipefail
WORK=${1:?usage: compose-covert.sh WORKDIR}
OUT=$(cd "$(dirname "$0")/../.." && pwd)/pcaps/scenarios
TMP=$WORK/composed; mkdir -p "$TMP"

# one RAW CLIENT SERVER START_UTC [OUTNAME]
one() {
    local raw=$WORK/raw/$1.pcap out=$TMP/${5:-$1}.pcap
    tcprewrite --infile="$raw" --outfile="$TMP/$1.nat.pcap" --fixcsum \
        --pnat=192.168.53.2/32:$2/32,192.168.53.1/32:$3/32
    local first
    first=$(capinfos -a -T -r -S "$TMP/$1.nat.pcap" | awk -F'\t' '{print int($2)}')
    editcap -t $(( $(date -u -d "$4" +%s) - first )) "$TMP/$1.nat.pcap" "$out"
}

one dns_iodine      10.20.1.60 10.0.0.53      2026-03-09T12:00:00Z
one dns_lookups     10.20.1.61 10.0.0.53      2026-03-09T09:00:00Z
one icmp_ptunnel    10.20.1.62 45.33.20.10    2026-03-09T13:00:00Z
one icmp_ping       10.20.1.63 45.33.20.11    2026-03-09T10:00:00Z
one smtp_stealer    10.20.1.64 45.33.20.12    2026-03-09T14:05:00Z
one ftp_small_stor  10.20.1.66 45.33.20.15    2026-03-09T14:30:00Z
one ftp_download    10.20.1.67 45.33.20.16    2026-03-09T11:00:00Z
# The mail server 10.20.1.65 accepts a mail from outside (in that capture the server side
# sent it), then relays one out.
one smtp_relay_in   10.20.1.65 45.33.20.13    2026-03-09T15:00:00Z
one smtp_relay_out  10.20.1.65 45.33.20.14    2026-03-09T15:00:30Z
mergecap -F pcap -w "$TMP/smtp_relay.pcap" "$TMP/smtp_relay_in.pcap" "$TMP/smtp_relay_out.pcap"

for n in dns_iodine dns_lookups icmp_ptunnel icmp_ping smtp_stealer smtp_relay ftp_small_stor ftp_download; do
    cp "$TMP/$n.pcap" "$OUT/$n.pcap"
done
ls -l "$OUT"/{dns_iodine,dns_lookups,icmp_ptunnel,icmp_ping,smtp_stealer,smtp_relay,ftp_small_stor,ftp_download}.pcap
