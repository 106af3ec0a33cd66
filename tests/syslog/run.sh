#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Syslog delivery against a real rsyslog (Debian packages rsyslog, rsyslog-gnutls for tls://,
# rsyslog-relp for relp://, and gnutls-bin's certtool for test certificates), unprivileged, on
# loopback:
# each test starts its own rsyslogd with imtcp + imudp on free high ports, its own config and
# work directory, and a template that writes each raw message to a file, which
# check_received.py then validates (RFC 5424, exflow's SD, ids each once and in order).
#
# The sender is build/*/tools/syslog_driver (synthetic alerts at a controlled pace, through
# output/ exactly as exflow uses it) and, when a pcap under pcaps/ makes exflow alert, exflow.
# Prints "syslog: N passed, N failed"; exits non-zero on failure.
set -u
: "${BUILD:=build/default}" "${EXFLOW:=$BUILD/exflow}" "${DRIVER:=$BUILD/tools/syslog_driver}"
export TZ=UTC LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
check="$here/check_received.py"
passed=0; failed=0; skipped=0

RSYSLOGD=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
if [ ! -x "$RSYSLOGD" ] || ! command -v python3 >/dev/null; then
    echo "syslog: rsyslogd or python3 missing (apt-get install rsyslog python3)"
    echo "syslog: 0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$DRIVER" ]; then
    echo "syslog: $DRIVER missing (make $DRIVER)"
    echo "syslog: 0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d /tmp/exflow-syslog-test.XXXXXX)
cleanup() {
    for pidfile in "$tmp"/*/rsyslog.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket,sys
t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p)); print(p)'
}

# collector_setup NAME [tls|mtls]: a directory with an rsyslog config listening on TCP and
# UDP port P; with tls, TCP is RFC 5425 (rsyslog's gtls driver, certificates from make_pki);
# with mtls it also requires a client certificate signed by the test CA.
collector_setup() {
    dir="$tmp/$1"
    mkdir -p "$dir/work"
    port=$(free_port)
    echo "$port" >"$dir/port"
    tls_global="" tcp_module='module(load="imtcp")' relp_input=""
    case "${2:-}" in
    relp)
        # Direct queue: rsyslog writes a message before it acknowledges it, so what it
        # acknowledged survives a kill -9.
        tls_global=""
        tcp_module="module(load=\"imtcp\")
module(load=\"imrelp\")
main_queue(queue.type=\"direct\")"
        relp_input="input(type=\"imrelp\" address=\"127.0.0.1\" port=\"$port\" ruleset=\"in\")"
        ;;
    tls|mtls)
        tls_global="defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"$tmp/pki/ca.pem\"
       defaultNetstreamDriverCertFile=\"$tmp/pki/server.pem\"
       defaultNetstreamDriverKeyFile=\"$tmp/pki/server-key.pem\""
        auth=anon
        [ "$2" = mtls ] && auth=x509/certvalid
        tcp_module="module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\"
       streamDriver.authMode=\"$auth\")" ;;
    esac
    cat >"$dir/rsyslog.conf" <<EOF
global(workDirectory="$dir/work" maxMessageSize="64k" $tls_global)
$tcp_module
module(load="imudp")
template(name="raw" type="string" string="%rawmsg%\n")
template(name="parsed" type="string" string="%protocol-version%|%app-name%|%msgid%|%procid%\n")
ruleset(name="in") {
    action(type="omfile" file="$dir/raw.log" template="raw")
    action(type="omfile" file="$dir/parsed.log" template="parsed")
}
input(type="imtcp" address="127.0.0.1" port="$port" ruleset="in")
input(type="imudp" address="127.0.0.1" port="$port" ruleset="in")
$relp_input
EOF
}

# collector_start NAME: rsyslogd in the foreground (-n), as this user, until it listens.
collector_start() {
    dir="$tmp/$1"
    "$RSYSLOGD" -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" >>"$dir/rsyslogd.out" 2>&1 &
    echo $! >"$dir/rsyslog.pid.shell"
    port=$(cat "$dir/port")
    for _ in $(seq 1 100); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" \
            2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "rsyslogd did not start:"; cat "$dir/rsyslogd.out"
    return 1
}

# collector_stop NAME: SIGTERM, as a service stop does, and wait until it is gone.
collector_stop() {
    dir="$tmp/$1"
    pid=$(cat "$dir/rsyslog.pid.shell")
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$dir/rsyslog.pid"
}

# wait_lines NAME N: until rsyslog wrote N raw lines (it writes asynchronously), at most 10 s.
wait_lines() {
    for _ in $(seq 1 100); do
        [ "$(cat "$tmp/$1/raw.log" 2>/dev/null | wc -l)" -ge "$2" ] && break
        sleep 0.1
    done
    sleep 0.3 # and a moment for anything extra (a duplicate) to show up
}

# verdict NAME RESULT-LINE: counts the check's one-line answer.
verdict() {
    if [ -f "$tmp/$1/driver.failed" ]; then
        set -- "$1" "FAIL: $(cat "$tmp/$1/driver.failed")"
    fi
    case "$2" in
        ok:*) echo "ok   $1: ${2#ok: }"; passed=$((passed + 1)) ;;
        *) echo "FAIL $1: ${2#FAIL: }"; failed=$((failed + 1))
           [ -f "$tmp/$1/driver.err" ] && sed 's/^/    driver: /' "$tmp/$1/driver.err" | tail -n 8 ;;
    esac
}

url() { echo "$1://127.0.0.1:$(cat "$tmp/$2/port")"; }

# drive NAME ARGS...: runs the driver for test NAME; a non-zero exit (a sanitizer report, a
# failed open) fails the test whatever rsyslog received.
drive() {
    name=$1; shift
    "$DRIVER" "$@" 2>>"$tmp/$name/driver.err"
    rc=$?
    [ "$rc" -eq 0 ] || echo "driver exited $rc" >>"$tmp/$name/driver.failed"
}

# --- UDP: one datagram per alert, JSON body. ---
t=udp_json
collector_setup $t && collector_start $t
drive $t --syslog "$(url udp $t)" --first-id 1 --count 5 --interval-ms 20
wait_lines $t 5
verdict $t "$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 1 5 json)"
collector_stop $t

# --- TCP, octet counting, JSON and CEF bodies. ---
t=tcp_json
collector_setup $t && collector_start $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --first-id 1 --count 50
wait_lines $t 50
verdict $t "$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 1 50 json)"
collector_stop $t

t=tcp_cef
collector_setup $t && collector_start $t
drive $t --syslog "$(url tcp $t)" --format cef --spool-dir "$tmp/$t/spool" --first-id 7 \
    --count 5
wait_lines $t 5
verdict $t "$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 7 11 cef)"
collector_stop $t

# --- Fault: the collector is stopped mid-run and comes back; every alert once, in order. ---
t=collector_restart
collector_setup $t && collector_start $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --first-id 1001 --count 60 \
    --interval-ms 50 --linger-ms 9000 &
driver=$!
sleep 0.8
collector_stop $t
sleep 1.5
collector_start $t
wait "$driver"
wait_lines $t 60
grep 'sent=' "$tmp/$t/driver.err" | sed 's/^/    driver counters: /'
result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 1001 1060 json)
# The outage must have been real: something waited in the spool.
if [ "${result#ok}" != "$result" ] && ! grep -q -E 'spooled=[1-9]' "$tmp/$t/driver.err"; then
    result="FAIL: the collector stop did not make anything wait in the spool"
fi
verdict $t "$result"
collector_stop $t

# --- Fault: exflow stops with alerts in the spool; the next run sends them first. ---
t=sender_restart
collector_setup $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --first-id 2001 --count 10
spool_bytes=$(stat -c %s "$tmp/$t/spool/exflow-syslog.spool" 2>/dev/null || echo 0)
collector_start $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --first-id 2011 --count 10 \
    --linger-ms 2500
# A third run with nothing new must send nothing again.
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --count 0 --linger-ms 1500
wait_lines $t 20
result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 2001 2020 json)
if [ "$spool_bytes" -le 16 ]; then
    result="FAIL: the first run left nothing in the spool ($spool_bytes bytes)"
fi
verdict $t "$result"
collector_stop $t

# --- Spool full: loud warning, drops counted, nothing blocks. ---
t=spool_full
collector_setup $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --spool-max-bytes 3000 \
    --first-id 1 --count 10
# About 1 KB an alert: two or three fit, the rest are dropped, and the warning comes once.
counts=$(sed -n 's/.*spooled=\([0-9]*\) dropped=\([0-9]*\).*/\1 \2/p' "$tmp/$t/driver.err")
if [ "$(grep -c 'DROPPED' "$tmp/$t/driver.err")" -eq 1 ] && [ -n "$counts" ] &&
   [ $(( ${counts% *} + ${counts#* } )) -eq 10 ] && [ "${counts#* }" -ge 6 ]; then
    verdict $t "ok: ${counts% *} alerts spooled, ${counts#* } dropped, warned once"
else
    verdict $t "FAIL: no warning or wrong counters"
fi

# --- Fault: a collector that accepts, never reads, then resets (a crash with a full receive
# buffer). Plain TCP cannot save what that collector's kernel acknowledged; syslog_sent must
# not claim more than that, and every other alert must reach the next collector, once. ---
# Slow (seconds of waiting on purpose): the default build only.
slow=no
[ "$(basename "$BUILD")" = default ] && slow=yes
t=silent_reset
if [ $slow = yes ]; then
collector_setup $t
python3 "$here/silent_collector.py" "$tmp/$t/silent.port" "$tmp/$t/silent.result" 2 &
silent=$!
for _ in $(seq 1 50); do [ -s "$tmp/$t/silent.port" ] && break; sleep 0.1; done
drive $t --syslog "tcp://127.0.0.1:$(cat "$tmp/$t/silent.port")" --spool-dir "$tmp/$t/spool" \
    --first-id 1 --count 200 --linger-ms 3500
wait "$silent"
sent=$(sed -n 's/.*sent=\([0-9]*\) .*/\1/p' "$tmp/$t/driver.err" | head -n 1)
read -r held held_frames <"$tmp/$t/silent.result" || held_frames=""
collector_start $t
drive $t --syslog "$(url tcp $t)" --spool-dir "$tmp/$t/spool" --count 0 --linger-ms 2500
wait_lines $t $((200 - ${sent:-0}))
result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" $((${sent:-0} + 1)) 200 json)
if [ -z "$sent" ] || [ -z "$held_frames" ]; then
    result="FAIL: no counters from the driver or no result from the silent collector"
elif [ "$sent" -gt "$held_frames" ]; then
    result="FAIL: syslog_sent=$sent but the collector's kernel held only $held_frames frames"
elif [ "$held_frames" -eq 0 ] || [ "$sent" -eq 0 ]; then
    result="FAIL: nothing was acknowledged before the reset ($held bytes held): no test"
fi
verdict $t "${result/ok: /ok: sent=$sent of $held_frames frames lost in the reset collector, then }"
collector_stop $t
fi

# --- Syslog over TLS (RFC 5425) against rsyslog's gtls driver, certificates made here. ---
# make_pki: a test CA, a server certificate for 127.0.0.1/localhost, a client certificate,
# and a second CA that signed none of them.
make_pki() {
    pki="$tmp/pki"
    mkdir -p "$pki"
    printf 'cn = "exflow test CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$pki/ca.tmpl"
    printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nencryption_key\nexpiration_days = 2\n' >"$pki/server.tmpl"
    printf 'cn = "exflow sensor"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' >"$pki/client.tmpl"
    for k in ca other-ca server client; do
        certtool --generate-privkey --key-type=ecdsa --outfile "$pki/$k-key.pem" || return 1
    done
    for ca in ca other-ca; do
        certtool --generate-self-signed --load-privkey "$pki/$ca-key.pem" \
            --template "$pki/ca.tmpl" --outfile "$pki/$ca.pem" || return 1
    done
    for leaf in server client; do
        certtool --generate-certificate --load-privkey "$pki/$leaf-key.pem" \
            --load-ca-certificate "$pki/ca.pem" --load-ca-privkey "$pki/ca-key.pem" \
            --template "$pki/$leaf.tmpl" --outfile "$pki/$leaf.pem" || return 1
    done
}

# counter NAME FIELD: the driver's first counter line's FIELD (sent, spooled...).
counter() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$tmp/$1/driver.err" | head -n 1; }

if ! command -v certtool >/dev/null || ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then
    echo "FAIL tls: certtool or rsyslog's gtls driver missing (apt-get install gnutls-bin rsyslog-gnutls)"
    failed=$((failed + 1))
elif ! make_pki >"$tmp/pki.log" 2>&1; then
    echo "FAIL tls: certtool could not make the test certificates:"; tail -n 5 "$tmp/pki.log"
    failed=$((failed + 1))
else
    # A good CA: every alert arrives, once, in order.
    t=tls_good_ca
    collector_setup $t tls && collector_start $t
    drive $t --syslog "$(url tls $t)" --ca "$pki/ca.pem" --spool-dir "$tmp/$t/spool" \
        --first-id 1 --count 30
    wait_lines $t 30
    verdict $t "$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 1 30 json)"
    collector_stop $t

    # The wrong CA: no alert reaches the collector, the error says why, the alerts wait in the
    # spool; with the right CA the next run delivers them.
    t=tls_wrong_ca
    collector_setup $t tls && collector_start $t
    drive $t --syslog "$(url tls $t)" --ca "$pki/other-ca.pem" --spool-dir "$tmp/$t/spool" \
        --first-id 101 --count 5 --linger-ms 500
    sleep 0.5
    got=$(cat "$tmp/$t/raw.log" 2>/dev/null | wc -l)
    sent=$(counter $t sent) spooled=$(counter $t spooled)
    if [ "$got" -ne 0 ]; then
        result="FAIL: $got messages reached the collector with an untrusted certificate"
    elif ! grep -qi "certificate for 127.0.0.1 was rejected: .*not trusted" "$tmp/$t/driver.err"; then
        result="FAIL: no error naming the certificate problem"
    elif [ "$sent" != 0 ] || [ "$spooled" != 5 ]; then
        result="FAIL: counters sent=$sent spooled=$spooled, expected 0 and 5"
    else
        rm -f "$tmp/$t/driver.failed"
        drive $t --syslog "$(url tls $t)" --ca "$pki/ca.pem" --spool-dir "$tmp/$t/spool" \
            --count 0 --linger-ms 1500
        wait_lines $t 5
        result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 101 105 json)
        result=${result/ok: /ok: refused with \"$(grep -o 'rejected: [^.]*' "$tmp/$t/driver.err" | head -n 1)\", then }
    fi
    verdict $t "$result"
    collector_stop $t

    # Mutual TLS: without a client certificate the collector refuses; with one it accepts.
    t=tls_mutual
    collector_setup $t mtls && collector_start $t
    drive $t --syslog "$(url tls $t)" --ca "$pki/ca.pem" --spool-dir "$tmp/$t/spool" \
        --first-id 201 --count 3 --linger-ms 800
    sleep 0.5
    got=$(cat "$tmp/$t/raw.log" 2>/dev/null | wc -l)
    if [ "$got" -ne 0 ] || [ "$(counter $t sent)" != 0 ]; then
        result="FAIL: $got messages accepted, sent=$(counter $t sent) without a client certificate"
    elif ! grep -q "refused this client (does it require a client certificate" "$tmp/$t/driver.err"; then
        result="FAIL: no error saying the collector wants a client certificate"
    else
        drive $t --syslog "$(url tls $t)" --ca "$pki/ca.pem" --cert "$pki/client.pem" \
            --key "$pki/client-key.pem" --spool-dir "$tmp/$t/spool" --first-id 204 --count 3
        wait_lines $t 6
        result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 201 206 json)
        result=${result/ok: /ok: refused without a client certificate, then }
    fi
    verdict $t "$result"
    collector_stop $t
fi

# --- RELP: the collector is killed (-9) mid-stream and restarted. Each alert leaves the
# spool only on the collector's "rsp 200"; what was in flight is sent again: at-least-once,
# none lost. ---
if ! ls /usr/lib/*/rsyslog/imrelp.so >/dev/null 2>&1; then
    echo "FAIL relp: rsyslog's imrelp missing (apt-get install rsyslog-relp)"
    failed=$((failed + 1))
else
t=relp_collector_killed
if [ $slow = yes ]; then
collector_setup $t relp
# imrelp listens on the RELP port only; imtcp's port is another free one.
sed -i "s/input(type=\"imtcp\" address=\"127.0.0.1\" port=\"[0-9]*\"/input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$(free_port)\"/" "$tmp/$t/rsyslog.conf"
collector_start $t
drive $t --syslog "$(url relp $t)" --spool-dir "$tmp/$t/spool" --first-id 1 --count 150 \
    --interval-ms 10 --linger-ms 5000 &
driver=$!
sleep 0.8
kill -9 "$(cat "$tmp/$t/rsyslog.pid.shell")"
wait "$(cat "$tmp/$t/rsyslog.pid.shell")" 2>/dev/null
rm -f "$tmp/$t/rsyslog.pid"
before=$(cat "$tmp/$t/raw.log" 2>/dev/null | wc -l)
sleep 1
collector_start $t
wait "$driver"
wait_lines $t 150
result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 1 150 json --at-least-once)
if [ "${result#ok}" != "$result" ] && { [ "$before" -eq 0 ] || [ "$before" -ge 150 ]; }; then
    result="FAIL: the kill did not land mid-stream ($before of 150 before it)"
elif [ "${result#ok}" != "$result" ] && [ "$(counter $t sent)" != 150 ]; then
    result="FAIL: sent=$(counter $t sent) after everything was acknowledged, expected 150"
fi
verdict $t "${result/ok: /ok: killed after $before, }"
collector_stop $t
fi

# --- RELP across an exflow restart: alerts spooled while the collector is down are sent
# by the next run, once each. ---
t=relp_sender_restart
collector_setup $t relp
sed -i "s/input(type=\"imtcp\" address=\"127.0.0.1\" port=\"[0-9]*\"/input(type=\"imtcp\" address=\"127.0.0.1\" port=\"$(free_port)\"/" "$tmp/$t/rsyslog.conf"
drive $t --syslog "$(url relp $t)" --spool-dir "$tmp/$t/spool" --first-id 301 --count 10
collector_start $t
drive $t --syslog "$(url relp $t)" --spool-dir "$tmp/$t/spool" --first-id 311 --count 5 \
    --linger-ms 1500
drive $t --syslog "$(url relp $t)" --spool-dir "$tmp/$t/spool" --count 0 --linger-ms 800
wait_lines $t 15
verdict $t "$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" 301 315 json)"
collector_stop $t
fi

# --- exflow itself on a pcap that alerts (skipped until one does). ---
t=exflow_pcap
if [ -x "$EXFLOW" ]; then
    collector_setup $t && collector_start $t
    found=""
    for pcap in ${ALERT_PCAP:-pcaps/*/*.pcap}; do
        [ -f "$pcap" ] || continue
        rm -rf "$tmp/$t/spool"
        "$EXFLOW" -r "$pcap" --no-flows -w "$tmp/$t/exflow.json" --syslog "$(url tcp $t)" \
            --spool-dir "$tmp/$t/spool" ${EXFLOW_ARGS:-} >/dev/null 2>"$tmp/$t/driver.err" || continue
        if grep -q '"event_type":"alert"' "$tmp/$t/exflow.json" 2>/dev/null; then
            found=$pcap
            break
        fi
        rm -f "$tmp/$t/exflow.json"
    done
    if [ -n "$found" ]; then
        n=$(grep -c '"event_type":"alert"' "$tmp/$t/exflow.json")
        wait_lines $t "$n"
        result=$(python3 "$check" "$tmp/$t/raw.log" "$tmp/$t/parsed.log" --ids-from \
            "$tmp/$t/exflow.json" json)
        verdict "$t" "${result/ok: /ok: $found: }"
    else
        echo "skip $t: no pcap under pcaps/ makes exflow alert yet (set ALERT_PCAP)"
        skipped=$((skipped + 1))
    fi
    collector_stop $t
else
    echo "skip $t: $EXFLOW not built"
    skipped=$((skipped + 1))
fi

echo "syslog: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
