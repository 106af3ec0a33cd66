#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Cross-checks exflow's per-flow packet and byte counts against tshark on the same pcaps:
# an independent dissector must agree with our decoder and flow keying.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
command -v tshark >/dev/null 2>&1 || { echo "tshark not installed (scripts/deps.sh --test)"; echo "tshark: 0 passed, 1 failed"; exit 1; }
out_dir="tests/out/tshark-$(basename "$(dirname "$EXFLOW")")"
mkdir -p "$out_dir"
passed=0; failed=0
for pcap in ftp ssh dropbox linux_dlt_sll2 q-in-q mpls-in-vlan pppoe pppoe-session pppoe-over-qinq bsd-null-selfsigned \
            raw-ip-psiphon3 sll-dns2tcp http-ipv6 webdav; do
    file="pcaps/golden/$pcap.pcap"
    "$EXFLOW" -q --no-dpi -r "$file" >"$out_dir/$pcap.jsonl" 2>"$out_dir/$pcap.err" || true
    if python3 tests/golden/tshark_compare.py "$file" "$out_dir/$pcap.jsonl" >"$out_dir/$pcap.cmp" 2>&1; then
        echo "ok   $pcap ($(tail -n 1 "$out_dir/$pcap.cmp"))"; passed=$((passed + 1))
    else
        echo "FAIL $pcap"; head -n 20 "$out_dir/$pcap.cmp"; failed=$((failed + 1))
    fi
done
echo "tshark: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
