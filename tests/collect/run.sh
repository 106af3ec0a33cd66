#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Flow collection with a real exporter: softflowd replays scenario pcaps as IPFIX (uniflows
# and RFC 5103 biflows), NetFlow v9 and v5 into `exflow --collect`; the alert must match the
# pcap-mode alert on destination, volume, ratio, schedule and destination evidence. Then
# hand-built IPFIX checks sequence gaps and restarts, and garbage datagrams are counted.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

command -v softflowd >/dev/null && command -v softflowctl >/dev/null || {
    echo "collect: softflowd missing (scripts/deps.sh --test)"; echo "collect: 0 passed, 1 failed"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A clean run's stderr holds the stats line and nothing else.
clean_stderr() { ! grep -v -E '^exflow: stats\(' "$1" | grep -q .; }

# export NAME PCAP SOFTFLOWD-ARGS...: runs exflow --collect and softflowd into it. softflowd
# 1.1.0's -r mode waits on its control socket before it reads the file and does not exit at
# its end: a `statistics` request starts the replay, `shutdown` exports every flow and ends it.
export_pcap() {
    name=$1 pcap=$2; shift 2
    port=$(free_port)
    "$EXFLOW" --collect "udp://127.0.0.1:$port" --collect-idle-exit 2 --no-flows \
        >"$tmp/$name.json" 2>"$tmp/$name.err" &
    ex=$!; pids="$pids $ex"
    sleep 0.3
    softflowd -d -r "$pcap" -n "127.0.0.1:$port" -p "$tmp/$name.pid" -c "$tmp/$name.ctl" "$@" \
        >/dev/null 2>&1 &
    sf=$!; pids="$pids $sf"
    i=0
    while [ ! -S "$tmp/$name.ctl" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    softflowctl -c "$tmp/$name.ctl" statistics >/dev/null 2>&1
    sleep 0.3
    softflowctl -c "$tmp/$name.ctl" shutdown >/dev/null 2>&1
    wait "$sf"
    wait "$ex"; rc=$?
    [ "$rc" -eq 0 ] || echo "exflow exited $rc"
}

# Compare the first alert of each run on what flow records can carry.
compare() {
    python3 - "$1" "$2" <<'PY'
import json, sys
def first(path):
    for line in open(path):
        e = json.loads(line)
        if e.get("event_type") == "alert":
            return e
    return None
want, got = first(sys.argv[1]), first(sys.argv[2])
if want is None or got is None:
    sys.exit("no alert: pcap %s, collect %s" % (want is not None, got is not None))
flow_evidence = {"new_destination", "periodic", "volume_anomaly", "parallel_streams"}
problems = []
for key in ("src_ip", "dest_ip", "dest_port", "connections"):
    if want[key] != got[key]:
        problems.append("%s %r != %r" % (key, got[key], want[key]))
if abs(got["bytes_out"] - want["bytes_out"]) > 0.03 * want["bytes_out"]:
    problems.append("bytes_out %d vs %d" % (got["bytes_out"], want["bytes_out"]))
if abs(got["pcr"] - want["pcr"]) > 0.02:
    problems.append("pcr %.3f vs %.3f" % (got["pcr"], want["pcr"]))
if abs(got["period_sec"] - want["period_sec"]) > 1.0:
    problems.append("period %.3f vs %.3f" % (got["period_sec"], want["period_sec"]))
if set(got["evidence"]) & flow_evidence != set(want["evidence"]) & flow_evidence:
    problems.append("evidence %s vs %s" % (got["evidence"], want["evidence"]))
# Flow input names what it cannot see, less what it saw anyway; packets name nothing.
blind = {"http_upload", "ftp_stor", "cloud_storage", "dns_tunnel", "icmp_tunnel", "smtp_exfil",
         "packed_data"}
if set(got.get("evidence_unavailable", [])) != blind - set(got["evidence"]):
    problems.append("evidence_unavailable %s" % got.get("evidence_unavailable"))
if "evidence_unavailable" in want:
    problems.append("pcap alert has evidence_unavailable")
from datetime import datetime
def when(e):
    return datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
# NetFlow v9 headers carry whole seconds: record times are good to a second.
if abs(when(got) - when(want)) > 1.0:
    problems.append("time %s vs %s" % (got["timestamp"], want["timestamp"]))
if problems:
    sys.exit("; ".join(problems))
PY
}

# Each scenario through the export formats that matter most for it (the run is slow:
# softflowd and the idle exit take seconds each).
runs="curl_form_loop:ipfix curl_form_loop:ipfix-biflow curl_form_loop:netflow9 py_zip_post:ipfix \
py_zip_post:netflow5"
# Under the sanitizers: uniflows, biflows and v5 once each (v9 is the IPFIX path again).
[ "$(basename "${BUILD:-build/default}")" = default ] ||
    runs="curl_form_loop:ipfix curl_form_loop:ipfix-biflow py_zip_post:netflow5"
for run in $runs; do
    scenario=${run%%:*} mode=${run#*:}
    pcap=pcaps/scenarios/$scenario.pcap
    [ -f "$tmp/$scenario.pcap.json" ] ||
        "$EXFLOW" -r "$pcap" --no-flows -q >"$tmp/$scenario.pcap.json" 2>/dev/null
    case $mode in
        ipfix) args="-v 10 -A milli" ;;
        ipfix-biflow) args="-v 10 -b -A milli" ;;
        netflow9) args="-v 9 -a" ;;
        netflow5) args="-v 5 -a" ;;
    esac
    {
        name=$scenario-$mode
        # shellcheck disable=SC2086
        export_pcap "$name" "$pcap" $args
        if ! why=$(compare "$tmp/$scenario.pcap.json" "$tmp/$name.json" 2>&1); then
            fail "$name: $why"; tail -n 3 "$tmp/$name.err"
        elif ! clean_stderr "$tmp/$name.err"; then
            fail "$name: unexpected stderr"; head -n 5 "$tmp/$name.err"
        else
            ok "$name"
        fi
    }
done
# nfdump as a second exporter: nfpcapd turns the capture into nfcapd files, nfreplay sends
# them as NetFlow v9 and v5 (Debian nfdump).
if command -v nfpcapd >/dev/null && command -v nfreplay >/dev/null; then
    mkdir -p "$tmp/nfcap"
    nfpcapd -r pcaps/scenarios/curl_form_loop.pcap -w "$tmp/nfcap" >/dev/null 2>&1
    nfdump -R "$tmp/nfcap" -w "$tmp/curl_form_loop.nf" >/dev/null 2>&1
    for v in 9 5; do
        name=curl_form_loop-nfreplay$v
        port=$(free_port)
        "$EXFLOW" --collect "udp://127.0.0.1:$port" --collect-idle-exit 2 --no-flows \
            >"$tmp/$name.json" 2>"$tmp/$name.err" &
        ex=$!; pids="$pids $ex"
        sleep 0.3
        nfreplay -r "$tmp/curl_form_loop.nf" -H 127.0.0.1 -p "$port" -v "$v" >/dev/null 2>&1
        wait "$ex"
        if why=$(compare "$tmp/curl_form_loop.pcap.json" "$tmp/$name.json" 2>&1); then ok "$name"
        else fail "$name: $why"; fi
    done
else
    fail "nfdump missing (scripts/deps.sh --test)"
fi
grep -q 'biflows=[1-9]' "$tmp/curl_form_loop-ipfix-biflow.err" && ok "biflows counted" || fail "biflows counted"
grep -q 'uniflows_paired=[1-9]' "$tmp/curl_form_loop-ipfix.err" && ok "uniflows paired" || fail "uniflows paired"

# Hand-built exports: sequence gaps, an exporter restart, garbage, into one listener.
port=$(free_port)
"$EXFLOW" --collect "udp://127.0.0.1:$port" --collect-idle-exit 2 >"$tmp/seq.json" 2>"$tmp/seq.err" &
ex=$!; pids="$pids $ex"
sleep 0.3
python3 tests/collect/send.py "$port"
wait "$ex"
stats=$(grep 'stats(final)' "$tmp/seq.err")
for want in datagrams=10 garbage=4 sequence_lost=4 sequence_resets=1 biflows=5; do
    case " $stats " in
        *" $want "*) ok "stats $want" ;;
        *) fail "stats $want: $stats" ;;
    esac
done
if grep -q '"src_ip":"10.20.1.5","src_port":40009,"dest_ip":"45.137.21.9","dest_port":443' "$tmp/seq.json"; then
    ok "template changed mid-stream"
else
    fail "template changed mid-stream"; grep 40009 "$tmp/seq.json" | head -n 1
fi
# Record times, never arrival time: the first flow starts at the time in its record.
if grep -q '"event_type":"flow".*"start":"2026-03-09T11:00:00' "$tmp/seq.json" ||
   grep -q '2026-03-09T11:00:00.250' "$tmp/seq.json"; then
    ok "flow times from the records"
else
    fail "flow times from the records"; head -n 2 "$tmp/seq.json"
fi

# Bounded template memory: a template flood from one exporter is capped and counted; the
# templates it already had still work, and another exporter still gets its own.
port=$(free_port)
"$EXFLOW" --collect "udp://127.0.0.1:$port" --collect-idle-exit 2 >"$tmp/flood.json" 2>"$tmp/flood.err" &
ex=$!; pids="$pids $ex"
sleep 0.3
python3 tests/collect/send.py flood "$port"
wait "$ex"
stats=$(grep 'stats(final)' "$tmp/flood.err")
for want in templates=65 templates_refused=37 export_records=2 garbage=0; do
    case " $stats " in
        *" $want "*) ok "template flood: stats $want" ;;
        *) fail "template flood: stats $want: $stats" ;;
    esac
done
[ "$(grep -c 'refused with its message' "$tmp/flood.err")" -eq 1 ] &&
    ok "template flood: logged once" || fail "template flood: logged once"

# IPFIX over TCP: libfixbuf's own exporter (tests/collect/exporter.c) connects twice (an
# exporter restart: each session sends its templates), then hand-made sessions.
if cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/exporter" tests/collect/exporter.c \
        $(pkg-config --cflags --libs libfixbuf) 2>"$tmp/cc.err"; then
    port=$(free_port)
    "$EXFLOW" --collect "tcp://127.0.0.1:$port" --collect-idle-exit 2 >"$tmp/tcp.json" 2>"$tmp/tcp.err" &
    ex=$!; pids="$pids $ex"
    i=0
    while ! "$tmp/exporter" tcp 127.0.0.1 "$port" 0 4 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1; i=$((i + 1)); done
    "$tmp/exporter" tcp 127.0.0.1 "$port" 4 4
    python3 tests/collect/send.py tcp "$port"
    wait "$ex"
    stats=$(grep 'stats(final)' "$tmp/tcp.err")
    # 8 records from the exporter, 1 from the split message, 1 between the withdrawals; the
    # template-less and withdrawn ones are not read.
    for want in tcp_sessions=6 tcp_open=0 tcp_broken=1 export_records=10 biflows=10 garbage=1 \
        templates_withdrawn=2 sequence_resets=0; do
        case " $stats " in
            *" $want "*) ok "tcp: stats $want" ;;
            *) fail "tcp: stats $want: $stats" ;;
        esac
    done
    n=$(grep -c '"event_type":"flow".*"src_ip":"10.20.1.5"' "$tmp/tcp.json")
    [ "$n" -eq 10 ] && ok "tcp: 10 flow records" || fail "tcp: $n flow records, not 10"
    grep -q '"src_port":40023' "$tmp/tcp.json" && ! grep -q '"src_port":4002[24]' "$tmp/tcp.json" &&
        ok "tcp: withdrawn template not used" || fail "tcp: withdrawn template not used"
    grep -q '"event_type":"alert".*"dest_ip":"45.137.21.9"' "$tmp/tcp.json" &&
        ok "tcp: alert on the exported series" || fail "tcp: no alert"

    # Enterprise elements (nProbe's, YAF's) name the server and the application as the
    # packet path's labels do: alerts then carry the name and cloud_storage evidence.
    named_run() {
        port=$(free_port)
        "$EXFLOW" --collect "udp://127.0.0.1:$port" --collect-idle-exit 2 >"$tmp/$1.json" 2>"$tmp/$1.err" &
        ex=$!; pids="$pids $ex"
        sleep 0.3
        "$tmp/exporter" udp 127.0.0.1 "$port" 0 8 "$1"
        wait "$ex"
    }
    expect() {
        name=$1 file=$2 pattern=$3
        if grep -q -e "$pattern" "$file"; then ok "$name"; else fail "$name"; grep alert "$file" | head -n 1; fi
    }
    named_run nprobe
    expect "nprobe: flow labels" "$tmp/nprobe.json" \
        '"event_type":"flow".*"master_protocol":"TLS","app_protocol":"Dropbox","server_name":"content.dropboxapi.com"'
    expect "nprobe: alert names the service" "$tmp/nprobe.json" \
        '"event_type":"alert".*"dest_name":"content.dropboxapi.com","app_protocol":"TLS.Dropbox"'
    expect "nprobe: cloud_storage evidence, not listed unavailable" "$tmp/nprobe.json" \
        '"evidence":\["cloud_storage".*"evidence_unavailable":\["ftp_stor","http_upload","dns_tunnel"'
    expect "nprobe: stats export_records_named=8" "$tmp/nprobe.err" 'export_records_named=8'
    named_run yaf
    expect "yaf: flow labels" "$tmp/yaf.json" \
        '"event_type":"flow".*"master_protocol":"HTTP","app_protocol":"HTTP","server_name":"upload.example-drop.net"'
    expect "yaf: alert names the host" "$tmp/yaf.json" '"event_type":"alert".*"dest_name":"upload.example-drop.net"'
else
    fail "tcp: test exporter does not build"; head -n 3 "$tmp/cc.err"
fi

# Set-up errors: one line naming the option, exit status 2 (usage), nothing processed.
usage_error() {
    name=$1 pattern=$2; shift 2
    "$EXFLOW" "$@" >/dev/null 2>"$tmp/usage.err" </dev/null
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q -E -e "$pattern" "$tmp/usage.err"; then ok "$name"
    else fail "$name: exit $rc"; head -n 3 "$tmp/usage.err"; fi
}
usage_error "bad url" "--collect tcp://x: expected udp://HOST:PORT" --collect tcp://x
usage_error "bad host" "--collect udp://no.such.host.invalid:1" --collect udp://no.such.host.invalid:1
usage_error "with -r" "not with -r, -i or --zeek" --collect udp://127.0.0.1:1 -r pcaps/golden/ftp.pcap
busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); open(sys.argv[2], "w").close(); time.sleep(10)' "$busy" "$tmp/bound" &
pids="$pids $!"
i=0
while [ ! -e "$tmp/bound" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
usage_error "port in use" "Address already in use" --collect "udp://127.0.0.1:$busy" --collect-idle-exit 1

echo "collect: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
