#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Part of `make test`: hostile and broken input, and live operation (signals, pidfile,
# --user, stats line, state file under SIGKILL). Each check wants an exit status, a message
# or counter, and no crash or sanitizer report. The CLI basics (missing file, directory,
# empty file, /dev/null, cut file header) are in tests/cli/run.sh and not repeated here.
# Live checks capture on lo and need root; they are skipped otherwise.
# Prints "robustness: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${EXFLOW:=build/default/exflow}"
: "${PUBLIC_PCAPS:=../shared/pcaps/public}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d)
bg_pids=""
netns=""
cleanup() {
    for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
    [ -n "$netns" ] && ip netns del "$netns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
passed=0; failed=0; skipped=0
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
skip() { echo "skip $1"; skipped=$((skipped + 1)); }

# True when a stderr file shows no crash or sanitizer report.
clean() { ! grep -q -E 'Sanitizer|runtime error|Segmentation|Aborted|core dumped' "$1"; }

# expect NAME STATUS STDERR-PATTERN -- ARGS...: runs exflow over a file, JSON to $tmp/NAME.json.
expect() {
    name=$1 want=$2 pattern=$3; shift 4
    "$EXFLOW" -w "$tmp/$name.json" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$name: exit $rc, wanted $want"; head -n 5 "$tmp/$name.err"
    elif ! clean "$tmp/$name.err"; then
        fail "$name: crashed"; head -n 30 "$tmp/$name.err"
    elif [ -n "$pattern" ] && ! grep -q -E -e "$pattern" "$tmp/$name.err"; then
        fail "$name: stderr lacks /$pattern/"; head -n 5 "$tmp/$name.err"
    else
        ok "$name"
    fi
}

# has NAME PATTERN WHAT: a further check on the stderr of the last expect of NAME.
has() {
    if grep -q -E -e "$2" "$tmp/$1.err"; then ok "$1: $3"; else fail "$1: $3 (no /$2/)"; fi
}

# Every output line is JSON and no name is longer than FLOW_NAME_LEN - 1.
json_ok() {
    if python3 - "$tmp/$1.json" <<'EOF'
import json, sys
for n, line in enumerate(open(sys.argv[1], encoding='utf-8'), 1):
    event = json.loads(line)
    for key in ('server_name', 'dest_name', 'http_url'):
        if len(event.get(key, '')) > 255:
            sys.exit('line %d: %s of %d chars' % (n, key, len(event[key])))
EOF
    then ok "$1: output is valid JSON, names bounded"; else fail "$1: output JSON"; fi
}

# counter FIELD NAME: a number from the last stats line of NAME's stderr.
counter() {
    grep 'stats(' "$tmp/$2.err" 2>/dev/null | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# wait_for SECONDS COMMAND...: polls every 0.1 s until the command succeeds.
wait_for() {
    limit=$(($1 * 10)); shift
    i=0
    while [ "$i" -lt "$limit" ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

[ -x "$EXFLOW" ] || { fail "no exflow binary at $EXFLOW"; echo "robustness: $passed passed, $failed failed"; exit 1; }
python3 tests/robustness/craft.py "$tmp" pcaps/golden --flood 60000 --churn 4000 || fail "craft.py"
python3 tests/robustness/craft.py "$tmp/small" pcaps/golden --flood 5000 --churn 10 || fail "craft.py small"

# ---- broken capture files --------------------------------------------------------------
# An offline file that ends early is warned about, counted in read_errors, and what it held
# is processed: exit 0 (README "Exit status").
expect trunc-record-header 0 "trunc-record-header\.pcap: read error.*truncated" -- -r "$tmp/trunc-record-header.pcap"
has trunc-record-header "read_errors=1 " "counted in read_errors"
has trunc-record-header "decoded=20 " "the packets before the cut are processed"
expect trunc-mid-packet 0 "trunc-mid-packet\.pcap: read error.*truncated" -- -r "$tmp/trunc-mid-packet.pcap"
has trunc-mid-packet "decoded=20 " "the packets before the cut are processed"
expect absurd-caplen 0 "absurd-caplen\.pcap: read error.*capture length 2147483647" -- -r "$tmp/absurd-caplen.pcap"
has absurd-caplen "decoded=3 " "the packets before the bad record are processed"
expect caplen-over-wire 0 "" -- -r "$tmp/caplen-over-wire.pcap"
expect huge-snaplen 0 "" -- -r "$tmp/huge-snaplen.pcap"
has huge-snaplen "decoded=5 " "a snaplen of 4 GiB in the header is harmless"
expect linktype-147 0 "link type 147" -- -r "$tmp/linktype-147.pcap"
has linktype-147 "skipped_unsupported_link=5 " "frames counted as skipped_unsupported_link"
# libpcap 1.10 reads a pcapng's interfaces only while they share one link type.
expect multi-interface 0 "multi-interface\.pcapng: read error.*different from the type of the first interface" \
    -- -r "$tmp/multi-interface.pcapng"
expect multi-interface-late 0 "different from the type" -- -r "$tmp/multi-interface-late.pcapng"
has multi-interface-late "decoded=5 " "packets before the second interface are processed"
# A later bad file does not lose the earlier good one.
expect good-then-truncated 0 "trunc-mid-packet\.pcap: read error" -- -r pcaps/golden/ssh.pcap "$tmp/trunc-mid-packet.pcap"
has good-then-truncated "read_errors=1 " "one read error"

# ---- hostile packets -------------------------------------------------------------------
expect lying-lengths 0 "" -- -r "$tmp/lying-lengths.pcap"
for reason in bad_ip_header truncated_transport truncated_ip truncated_link; do
    n=$(counter "skipped_$reason" lying-lengths)
    if [ "${n:-0}" -gt 0 ]; then ok "lying-lengths: skipped_$reason=$n"; else fail "lying-lengths: skipped_$reason not counted"; fi
done
grep -q '"dest_ip":"81.2.69.160","dest_port":443' "$tmp/lying-lengths.json" \
    && ok "lying-lengths: the valid flow after them is recorded" || fail "lying-lengths: valid flow lost"
expect fragments 0 "" -- -r "$tmp/fragments.pcap"
n=$(counter skipped_fragment fragments)
[ "${n:-0}" -ge 200 ] && ok "fragments: skipped_fragment=$n" || fail "fragments: skipped_fragment=${n:-none}"
grep -q '"dest_ip":"81.2.69.160","dest_port":443' "$tmp/fragments.json" \
    && ok "fragments: the valid flow after them is recorded" || fail "fragments: valid flow lost"
expect huge-sni 0 "" -- -r "$tmp/huge-sni.pcap" --min-upload 1K
json_ok huge-sni
expect huge-host 0 "" -- -r "$tmp/huge-host.pcap" --min-upload 1K
json_ok huge-host
expect long-names 0 "" -- -r "$tmp/long-names.pcap"
json_ok long-names
[ "$(grep -c '"server_name"' "$tmp/long-names.json")" -eq 2 ] \
    && ok "long-names: a 1 KB SNI and Host still name their flows" || fail "long-names: server_name missing"

# Packet time that goes back a year, to 1970, to 2106, with tv_usec past a second: series,
# baselines, schedules and the state file see it all; thresholds low so scoring runs.
expect time-travel 0 "" -- -r "$tmp/time-travel.pcap" --min-upload 1K --beacon-min-conns 3 \
    --state-file "$tmp/time-travel.state"
json_ok time-travel
"$EXFLOW" -q -r "$tmp/time-travel.pcap" -w /dev/null --state-file "$tmp/time-travel.state" 2>"$tmp/time-travel2.err" \
    && ok "time-travel: the state it wrote loads again" || { fail "time-travel: state reload"; head -n 5 "$tmp/time-travel2.err"; }

# A flood of unique flows under a 1 MiB flow cap: evictions are counted, named in a warning
# and memory stays flat (12x the flows, not more than 25% more RSS). ASan's quarantine
# would hide the flow table behind freed memory it keeps, so it is kept small here.
flood_run() {
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4" \
        "$EXFLOW" -r "$1" -w /dev/null --flow-memory 1 >/dev/null 2>"$tmp/$2.err"
}
flood_run "$tmp/small/flood.pcap" flood-small; rc_small=$?
flood_run "$tmp/flood.pcap" flood; rc=$?
if [ "$rc" -eq 0 ] && [ "$rc_small" -eq 0 ] && clean "$tmp/flood.err"; then ok "flood: 60000 flows, exit 0"; else
    fail "flood: exit $rc"; head -n 20 "$tmp/flood.err"; fi
has flood "memory cap of 1 MiB.*--flow-memory" "the cap is warned about, naming the option"
evicted=$(counter flows_evicted flood)
[ "${evicted:-0}" -gt 50000 ] && ok "flood: flows_evicted=$evicted in the stats line" || fail "flood: flows_evicted=${evicted:-none}"
rss_small=$(counter max_rss_kib flood-small); rss=$(counter max_rss_kib flood)
if [ -n "$rss" ] && [ -n "$rss_small" ] && [ "$rss" -le $((rss_small * 5 / 4 + 8192)) ]; then
    ok "flood: RSS flat (${rss_small} KiB for 5000 flows, ${rss} KiB for 60000)"
else
    fail "flood: RSS grew (${rss_small:-?} KiB for 5000 flows, ${rss:-?} KiB for 60000)"
fi

# ---- every public capture ----------------------------------------------------------------
# tests/scenarios/public.sh runs them when it exists; this is the fallback.
if [ -x tests/scenarios/public.sh ]; then
    skip "public captures: tests/scenarios/public.sh runs them"
elif [ -d "$PUBLIC_PCAPS" ]; then
    count=0; bad=0
    find "$PUBLIC_PCAPS" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort >"$tmp/public.list"
    while read -r f; do
        count=$((count + 1))
        timeout 120 "$EXFLOW" -q -r "$f" -w /dev/null >/dev/null 2>"$tmp/public.err" </dev/null
        rc=$?
        # 0: read (maybe with a warning); 2: refused at start with a message.
        if { [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; } || ! clean "$tmp/public.err" ||
           { [ "$rc" -eq 2 ] && [ ! -s "$tmp/public.err" ]; }; then
            bad=$((bad + 1)); echo "  $f: exit $rc"; head -n 10 "$tmp/public.err"
        fi
    done <"$tmp/public.list"
    [ "$bad" -eq 0 ] && ok "public captures: $count files, no crash" || fail "public captures: $bad of $count"
else
    skip "public captures: $PUBLIC_PCAPS not here"
fi

# ---- stop signals while reading stdin --------------------------------------------------
# The pcap arrives through a pipe that stays open; the signal must stop the read, flush the
# open flows, save the state and exit 0, without calling the stop a read error. The
# scenario capture is an FTP upload that alerts; the golden FTP session is the fallback.
stdin_pcap=pcaps/scenarios/ftp_stor_active.pcap
[ -f "$stdin_pcap" ] || stdin_pcap=pcaps/golden/ftp.pcap
for sig in TERM INT; do
    name=stdin-sig$sig
    mkfifo "$tmp/$name.fifo"
    "$EXFLOW" -r - --state-file "$tmp/$name.state" -w "$tmp/$name.json" <"$tmp/$name.fifo" \
        >/dev/null 2>"$tmp/$name.err" &
    pid=$!
    { cat "$stdin_pcap"; : >"$tmp/$name.sent"; sleep 30; } >"$tmp/$name.fifo" &
    writer=$!
    bg_pids="$bg_pids $pid $writer"
    # Once cat is done, all but a pipe buffer (64 KiB) has been read; give exflow a moment
    # for the rest, then stop it while it waits for more.
    wait_for 30 test -f "$tmp/$name.sent"
    sleep 1
    kill -"$sig" "$pid"
    wait "$pid"; rc=$?
    kill "$writer" 2>/dev/null
    if [ "$rc" -eq 0 ] && clean "$tmp/$name.err"; then ok "$name: exit 0"; else
        fail "$name: exit $rc"; head -n 20 "$tmp/$name.err"; fi
    has "$name" "stats\(interrupted\)" "the final stats line says interrupted"
    grep -q 'read error' "$tmp/$name.err" && fail "$name: the stop was reported as a read error" \
        || ok "$name: no read error reported for the stop"
    grep -q '"end_reason":"eof"' "$tmp/$name.json" && ok "$name: open flows flushed (end_reason eof)" \
        || fail "$name: open flows not flushed"
    if [ "$stdin_pcap" = pcaps/scenarios/ftp_stor_active.pcap ]; then
        grep -q '"event_type":"alert"' "$tmp/$name.json" && ok "$name: the upload's alert is written" \
            || fail "$name: no alert written"
    fi
    grep -q '^exflow-state 1' "$tmp/$name.state" 2>/dev/null && grep -q '^seen ' "$tmp/$name.state" \
        && ok "$name: state file written" || fail "$name: state file not written"
done

# ---- the split over workers is the same on every run ---------------------------------------
# nDPI keeps per-host caches in each worker's instance (a host's Teams TLS flow labels its
# later STUN flows): which flows share a worker shows in labels. Workers are chosen by a fixed
# hash of the home address, so a capture gives the same output run after run and for any
# worker count above one (docs/design.md says what one worker may label differently).
calls="$PUBLIC_PCAPS/ndpi/teams.pcap $PUBLIC_PCAPS/ndpi/skype-conference-call.pcap $PUBLIC_PCAPS/ndpi/zoom.pcap"
if [ -r "$PUBLIC_PCAPS/ndpi/teams.pcap" ]; then
    for run in a b c; do
        threads=3; [ "$run" = c ] && threads=2
        "$EXFLOW" -q --threads $threads $(for f in $calls; do printf ' -r %s' "$f"; done) -w - \
            2>"$tmp/split-$run.err" | sed 's/"event_id":"[^"]*"//' >"$tmp/split-$run.json"
    done
    if [ -s "$tmp/split-a.json" ] && cmp -s "$tmp/split-a.json" "$tmp/split-b.json" &&
       cmp -s "$tmp/split-a.json" "$tmp/split-c.json"; then
        ok "worker split: calls give the same labels on every run and with 2 or 3 workers"
    else
        fail "worker split: output differs between runs"
        diff "$tmp/split-a.json" "$tmp/split-b.json" | head -n 4 | cut -c 1-300
        diff "$tmp/split-a.json" "$tmp/split-c.json" | head -n 4 | cut -c 1-300
    fi
else
    skip "worker split: $PUBLIC_PCAPS/ndpi/teams.pcap missing"
fi

# ---- live: pidfile, SIGHUP, stats line, --user -------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    skip "live checks on lo: not root"
else
    d="$tmp/live"; mkdir -p "$d"
    printf 'src=10.0.2.0/24 port=9997   # forwarder\n' >"$d/allow"
    "$EXFLOW" -i lo --allowlist "$d/allow" -w "$d/out.json" --pidfile "$d/pid" \
        --stats-interval 1 --udp-idle-timeout 1 >/dev/null 2>"$tmp/live.err" &
    pid=$!
    bg_pids="$bg_pids $pid"
    if wait_for 10 test -s "$d/pid" && [ "$(cat "$d/pid")" = "$pid" ]; then ok "pidfile: holds the pid"; else
        fail "pidfile: not written or wrong"; fi
    # logrotate's move-then-HUP: a new file appears under the old name.
    wait_for 5 test -f "$d/out.json"
    mv "$d/out.json" "$d/out.json.1"
    kill -HUP "$pid"
    wait_for 5 test -f "$d/out.json" && ok "sighup: the -w file is reopened" || fail "sighup: no new -w file"
    wait_for 5 grep -q 'allowlist reloaded' "$tmp/live.err" && ok "sighup: the allowlist is reloaded" \
        || fail "sighup: no reload line"
    printf 'src=not-an-address\n' >"$d/allow"
    kill -HUP "$pid"
    wait_for 5 grep -q 'allowlist not reloaded, keeping the old one' "$tmp/live.err" \
        && ok "sighup: a broken allowlist keeps the old rules" || fail "sighup: broken allowlist not reported"
    # Some traffic, so the counters and a flow record move.
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20): s.sendto(b"x" * 100, ("127.0.0.1", 9))'
    wait_for 5 test "$(grep -c 'stats(periodic)' "$tmp/live.err")" -ge 3
    kill -TERM "$pid"; wait "$pid"; rc=$?
    if [ "$rc" -eq 0 ] && clean "$tmp/live.err"; then ok "live: SIGTERM exits 0"; else
        fail "live: exit $rc"; head -n 20 "$tmp/live.err"; fi
    [ -e "$d/pid" ] && fail "pidfile: left behind" || ok "pidfile: removed at exit"
    n=$(grep -c 'stats(periodic)' "$tmp/live.err")
    [ "$n" -ge 3 ] && ok "stats: $n periodic lines with --stats-interval 1" || fail "stats: $n periodic lines"
    line=$(grep 'stats(periodic)' "$tmp/live.err" | tail -n 1)
    missing=""
    for field in packets bytes decoded read_errors pcap_received pcap_dropped pcap_if_dropped \
                 flows_active flows_created flows_evicted flow_memory records alerts suppressed \
                 allowlisted flows_written alerts_written syslog_sent syslog_spooled syslog_dropped syslog_corrupt \
                 write_errors max_rss_kib; do
        printf '%s\n' "$line" | grep -q " $field=[0-9]" || missing="$missing $field"
    done
    [ -z "$missing" ] && ok "stats: the line has every counter" || fail "stats: missing$missing"
    grep -q '"dest_port":9,' "$d/out.json" && ok "live: flow records reach the reopened file" \
        || fail "live: no flow record in the reopened file"

    # --fanout: each worker reads its own socket; the kernel's group program must keep both
    # directions of every address pair on one socket, so every flow has both sides. A
    # second sensor with --fanout on the same interface has a group of its own (the kernel
    # picks unused ids) and sees all of the traffic too, instead of sharing it.
    d="$tmp/fanout"; mkdir -p "$d"
    "$EXFLOW" -i lo --fanout --threads 3 -f "udp portrange 43000-43099" -w "$d/out.json" \
        --stats-interval 1 >/dev/null 2>"$d/err" &
    pid=$!
    "$EXFLOW" -i lo --fanout --threads 2 -f "udp portrange 43000-43099" -w "$d/second.json" \
        --stats-interval 1 >/dev/null 2>"$d/second.err" &
    second=$!
    bg_pids="$bg_pids $pid $second"
    wait_for 10 grep -q 'stats(periodic)' "$d/err"
    wait_for 10 grep -q 'stats(periodic)' "$d/second.err"
    python3 - <<'PYEOF'
import socket
for x in range(2, 14):   # 127.0.0.1 <-> 127.0.0.x, 4 datagrams each way
    for forward in (True, False):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a, b = ("127.0.0.1", 43000 + x), ("127.0.0.%d" % x, 43050 + x)
        src, dst = (a, b) if forward else (b, a)
        s.bind(src)
        for i in range(4):
            s.sendto(b"f" * 80, dst)
        s.close()
PYEOF
    sleep 1
    kill -TERM "$pid" "$second"; wait "$pid"; rc=$?; wait "$second"; rc2=$?
    if [ "$rc" -eq 0 ] && clean "$d/err"; then ok "fanout: SIGTERM exits 0"; else
        fail "fanout: exit $rc"; head -n 10 "$d/err"; fi
    whole_flows() {
        python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") == "flow" and e.get("proto") == "UDP" and e["pkts_toserver"] == 4 and e["pkts_toclient"] == 4:
        n += 1
print(n)' "$1" 2>/dev/null
    }
    both=$(whole_flows "$d/out.json")
    [ "${both:-0}" -eq 12 ] && ok "fanout: 12 flows, each with both directions" \
        || fail "fanout: ${both:-0} of 12 flows whole"
    grep 'stats(interrupted)' "$d/err" | grep -q ' packets=96 ' && ok "fanout: the stats line adds up the workers' captures" \
        || fail "fanout: stats line: $(grep -o 'stats(interrupted).* packets=[0-9]*' "$d/err")"
    both=$(whole_flows "$d/second.json")
    if [ "$rc2" -eq 0 ] && clean "$d/second.err" && [ "${both:-0}" -eq 12 ] &&
        grep 'stats(interrupted)' "$d/second.err" | grep -q ' packets=96 '; then
        ok "fanout: a second sensor on the same interface sees every packet too"
    else
        fail "fanout: second sensor: exit $rc2, ${both:-0} of 12 flows whole"
        head -n 10 "$d/second.err"
    fi

    # The capture interface disappears (a veth in a namespace of our own is deleted): exit 1
    # with a message naming it, and the flows so far are still written.
    # The same with --fanout: two workers' sockets fail, the run still ends as one.
    for mode in plain fanout; do
        if [ "$mode" = fanout ]; then extra="--fanout --threads 2"; name=interface-gone-fanout; else
            extra=""; name=interface-gone; fi
        if command -v ip >/dev/null 2>&1 && ip netns add "exflow-rt-$$" 2>/dev/null; then
            netns="exflow-rt-$$"
            ip -n "$netns" link add "xrt$$a" type veth peer name "xrt$$b"
            ip -n "$netns" addr add 10.254.1.1/30 dev "xrt$$a"
            ip -n "$netns" link set "xrt$$a" up
            ip -n "$netns" link set "xrt$$b" up
            # shellcheck disable=SC2086  # $extra is a word list on purpose
            ip netns exec "$netns" "$EXFLOW" -i "xrt$$b" $extra -w "$tmp/$name.json" --stats-interval 0 \
                >/dev/null 2>"$tmp/$name.err" &
            pid=$!
            bg_pids="$bg_pids $pid"
            sleep 1
            ip netns exec "$netns" python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5): s.sendto(b"x" * 64, ("10.254.1.2", 9))' 2>/dev/null
            sleep 0.5
            ip -n "$netns" link del "xrt$$a"
            if wait_for 10 sh -c "! kill -0 $pid"; then
                wait "$pid"; rc=$?
                if [ "$rc" -eq 1 ] && clean "$tmp/$name.err"; then ok "$name: exit 1"; else
                    fail "$name: exit $rc"; head -n 10 "$tmp/$name.err"; fi
                has "$name" "xrt$$b: capture failed" "the error names the interface"
                [ -s "$tmp/$name.json" ] && ok "$name: flows so far are written" || fail "$name: no flow written"
            else
                kill -TERM "$pid"; fail "$name: still running 10 s after its interface went"
            fi
            ip netns del "$netns"; netns=""
        else
            skip "$name: no network namespaces here"
        fi
    done

    # --user: the pidfile goes in a root-only directory (as /run), the process runs as nobody.
    # (With --immediate, so that libpcap's other live mode runs end to end too.)
    if id nobody >/dev/null 2>&1; then
        d="$tmp/user"; mkdir -p "$d"; chmod 755 "$d"
        "$EXFLOW" -i lo --immediate --user nobody --pidfile "$d/pid" -w - --stats-interval 0 >/dev/null 2>"$tmp/user.err" &
        pid=$!
        bg_pids="$bg_pids $pid"
        if wait_for 10 test -s "$d/pid"; then ok "user: pidfile written in a root-only directory"; else
            fail "user: no pidfile"; head -n 5 "$tmp/user.err"; fi
        uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        [ "$uid" = "$(id -u nobody)" ] && ok "user: runs as nobody after opening lo" || fail "user: uid ${uid:-gone}"
        kill -TERM "$pid"; wait "$pid"; rc=$?
        if [ "$rc" -eq 0 ] && clean "$tmp/user.err"; then ok "user: SIGTERM exits 0"; else
            fail "user: exit $rc"; head -n 10 "$tmp/user.err"; fi
    else
        skip "user: no user nobody"
    fi
fi

# ---- a corrupt or unwritable state file --------------------------------------------------
printf 'exflow-state 1\nlearn_start 1\nseen 12 34 10.0.0.1\n' >"$tmp/corrupt.state"
expect corrupt-state 2 "corrupt\.state:3: malformed line.*--reset-state" -- -r pcaps/golden/ssh.pcap \
    --state-file "$tmp/corrupt.state"
expect reset-state 0 "corrupt\.state:3: malformed line; starting with empty state" -- -r pcaps/golden/ssh.pcap \
    --state-file "$tmp/corrupt.state" --reset-state
"$EXFLOW" -q -r pcaps/golden/ssh.pcap -w /dev/null --state-file "$tmp/corrupt.state" 2>/dev/null \
    && ok "reset-state: the file is rewritten and loads" || fail "reset-state: file still refused"
expect unwritable-state 2 "no-such-dir/state" -- -r pcaps/golden/ssh.pcap --state-file "$tmp/no-such-dir/state"
expect unwritable-output 2 "no-such-dir/out\.json" -- -r pcaps/golden/ssh.pcap -w "$tmp/no-such-dir/out.json"

# ---- the state file survives SIGKILL mid-save ---------------------------------------------
# state-churn.pcap saves the state every few records (5 min of packet time); SIGKILL lands
# at random points of runs that keep saving. After each kill the file must load: exflow
# reads a copy of it without complaint, and each line has the documented form.
state="$tmp/churn.state"
kills=0; corrupt=0; changed=0; prev=""
for i in 1 2 3 4 5 6 7 8 9 10; do
    "$EXFLOW" -q -r "$tmp/state-churn.pcap" -w /dev/null --state-file "$state" >/dev/null 2>"$tmp/kill.err" &
    pid=$!
    bg_pids="$bg_pids $pid"
    sleep "$(awk -v s="$i$$" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 1.4 }')"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null
    [ -f "$state" ] || continue
    sum=$(cksum <"$state")
    [ "$sum" != "$prev" ] && changed=$((changed + 1)); prev=$sum
    cp "$state" "$tmp/check.state"
    if ! python3 - "$tmp/check.state" <<'EOF'
import re, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
assert lines[-1] == b'', 'no final newline'
body = [l for l in lines[:-1] if l and not l.startswith(b'#')]
assert body and body[0] == b'exflow-state 1', 'no header'
for l in body[1:]:
    assert re.fullmatch(rb'learn_start \d+|seen \d+ \d+ \S+ \S+', l), l
EOF
    then corrupt=$((corrupt + 1)); continue; fi
    if ! "$EXFLOW" -q -r pcaps/golden/ssh.pcap -w /dev/null --state-file "$tmp/check.state" \
            >/dev/null 2>"$tmp/load.err"; then
        corrupt=$((corrupt + 1)); head -n 3 "$tmp/load.err"
    fi
done
if [ "$corrupt" -eq 0 ] && [ "$changed" -ge 2 ]; then
    ok "state: $kills SIGKILLs mid-run, the file always loads ($changed versions seen)"
else
    fail "state: $corrupt corrupt of $kills kills ($changed versions seen)"
fi
left=$(find "$tmp" -maxdepth 1 -name 'churn.state.tmp.*' | wc -l)
echo "     state: $left temporary files left by the killed runs"
# A clean run after the kills still ends with a valid file, and removes the temporary files
# the killed runs left (their writers are gone).
"$EXFLOW" -q -r "$tmp/small/state-churn.pcap" -w /dev/null --state-file "$state" >/dev/null 2>"$tmp/kill.err" \
    && ok "state: a clean run after the kills loads and saves it" || { fail "state: clean run failed"; head -n 5 "$tmp/kill.err"; }
left=$(find "$tmp" -maxdepth 1 -name 'churn.state.tmp.*' | wc -l)
[ "$left" -eq 0 ] && ok "state: no temporary file left after the restart" \
    || fail "state: $left temporary files of killed runs still there after a restart"

echo "robustness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
