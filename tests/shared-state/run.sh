#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# --shared-state against a real redis-server (Debian redis-server), started by the test on a
# free loopback port with its own directory:
#   two sensors: a destination first seen by sensor A is not new to sensor B; the earliest
#     first-seen time wins in Redis whatever order the sensors report in;
#   outage: Redis absent when exflow starts, started mid-run, killed mid-run, restarted:
#     detection goes on, each outage is logged once and counted, the queued updates are
#     replayed, and Redis ends with exactly what an uninterrupted run leaves there.
# Scenario pcaps are moved in time with editcap (a copy of the same traffic N days earlier).
# Prints "shared-state: N passed, N failed"; exits non-zero on failure.
set -u
: "${BUILD:=build/default}" "${EXFLOW:=$BUILD/exflow}"
export TZ=UTC LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
pcaps=pcaps/scenarios
passed=0; failed=0

for tool in redis-server redis-cli editcap python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "shared-state: $tool missing (scripts/deps.sh --test)"
        echo "shared-state: 0 passed, 1 failed"
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/exflow-shared-state-test.XXXXXX)
cleanup() {
    for pidfile in "$tmp"/*/pid; do [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null; done
    [ -n "${feed_pid:-}" ] && kill "$feed_pid" 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else fail "$1"; fi; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# redis_start NAME PORT: a redis-server in $tmp/NAME (append-only file on, so a kill -9 and a
# restart keep what Redis had acknowledged, as a production Redis would).
redis_start() {
    mkdir -p "$tmp/$1"
    echo "$2" >"$tmp/$1/port"
    redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly yes \
        --appendfsync always --dir "$tmp/$1" --daemonize yes --pidfile "$tmp/$1/pid" \
        --logfile "$tmp/$1/redis.log"
    for _ in $(seq 100); do
        redis-cli -p "$2" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "redis-server on port $2 did not start:"; cat "$tmp/$1/redis.log"
    return 1
}
# redis_kill NAME: kill -9 (no shutdown save), and wait until the port is closed.
redis_kill() {
    [ -f "$tmp/$1/pid" ] && kill -9 "$(cat "$tmp/$1/pid")" 2>/dev/null
    for _ in $(seq 100); do
        redis-cli -p "$(cat "$tmp/$1/port")" ping >/dev/null 2>&1 || break
        sleep 0.05
    done
    rm -f "$tmp/$1/pid"
}

# dump PORT: every key and value, sorted, for comparison.
dump() {
    redis-cli -p "$1" --scan --pattern 'exflow:fs:*' | sort | while IFS= read -r key; do
        printf '%s = %s\n' "$key" "$(redis-cli -p "$1" get "$key")"
    done
}

# shift IN DAYS OUT: the same capture DAYS days earlier.
shift_days() { editcap -F pcap -t "-$(($2 * 86400))" "$1" "$3" >/dev/null; }

alert_field() { grep '"event_type":"alert"' "$1" | grep -o "\"$2\":\(\[[^]]*\]\|[^,]*\)" | head -1; }

# ---- two sensors ------------------------------------------------------------------------
port=$(free_port)
redis_start two "$port" || { echo "shared-state: 0 passed, 1 failed"; exit 1; }
url="redis://127.0.0.1:$port"
dest=193.29.57.14
shift_days $pcaps/bulk_ip_50m.pcap 10 "$tmp/bulk-10d.pcap"
shift_days $pcaps/bulk_ip_50m.pcap 20 "$tmp/bulk-20d.pcap"
first_10d=$(( ($(date -d '2026-03-09T14:20:00Z' +%s) - 10 * 86400) * 1000000 ))

# Control: on its own, sensor B calls the destination new.
"$EXFLOW" -r $pcaps/bulk_ip_50m.pcap --no-flows -w "$tmp/alone.json" 2>"$tmp/alone.err"
check "control: alone, the upload's destination is new" \
    'alert_field "$tmp/alone.json" evidence | grep -q new_destination'

# Sensor A saw the same host upload there ten days earlier.
"$EXFLOW" -r "$tmp/bulk-10d.pcap" --no-flows -w "$tmp/a.json" --shared-state "$url" 2>"$tmp/a.err"
check "sensor A: runs and publishes (site-wide and per-pair keys)" \
    '[ "$(redis-cli -p $port get "exflow:fs:* $dest")" = "$first_10d" ] &&
     [ "$(redis-cli -p $port get "exflow:fs:10.20.1.55 $dest")" = "$first_10d" ]'
"$EXFLOW" -r $pcaps/bulk_ip_50m.pcap --no-flows -w "$tmp/b.json" --shared-state "$url" 2>"$tmp/b.err"
check "sensor B: no alert (the upload alone, to a known destination, scores below 0.5)" \
    '! grep -q "\"event_type\":\"alert\"" "$tmp/b.json"'
"$EXFLOW" -r $pcaps/bulk_ip_50m.pcap --no-flows -w "$tmp/b3.json" --shared-state "$url" \
    --alert-threshold 0.3 2>/dev/null
check "sensor B, --alert-threshold 0.3: the alert, without new_destination" \
    'alert_field "$tmp/b3.json" evidence | grep -q http_upload &&
     ! alert_field "$tmp/b3.json" evidence | grep -q new_destination'
age=$(alert_field "$tmp/b3.json" first_seen_age_sec | cut -d: -f2)
check "sensor B: first_seen_age_sec is sensor A's ten days ($age)" \
    'awk -v a="$age" "BEGIN { exit !(a >= 864000 && a < 864000 + 3600) }"'
check "sensor B: learned from Redis, no errors" \
    'grep -q "shared_state_errors=0 shared_state_queued=0 shared_state_dropped=0 shared_state_learned=[1-9]" "$tmp/b.err"'
check "earliest wins: sensor B's later claim did not overwrite A's" \
    '[ "$(redis-cli -p $port get "exflow:fs:* $dest")" = "$first_10d" ]'
"$EXFLOW" -r "$tmp/bulk-20d.pcap" --no-flows -w /dev/null --shared-state "$url" 2>"$tmp/c.err"
check "earliest wins: an earlier claim replaces it" \
    '[ "$(redis-cli -p $port get "exflow:fs:* $dest")" = "$((first_10d - 10 * 86400 * 1000000))" ]'
check "no stderr beyond info and the stats line" \
    '! grep -v -h -E "^exflow: (info|stats)" "$tmp/a.err" "$tmp/b.err" "$tmp/c.err" | grep -q .'
"$EXFLOW" -r $pcaps/bulk_ip_50m.pcap --no-flows -w /dev/null \
    --shared-state "redis://127.0.0.1:$port/1" --shared-state-expire 1h 2>/dev/null
ttl=$(redis-cli -p "$port" -n 1 ttl "exflow:fs:* $dest")
check "database number and --shared-state-expire (ttl $ttl)" '[ "$ttl" -gt 3500 ] && [ "$ttl" -le 3600 ]'
check "bad URL is a set-up error" \
    '! "$EXFLOW" -r $pcaps/form_post.pcap -w /dev/null --shared-state "http://x" 2>"$tmp/bad.err" &&
     grep -q "redis://\[\[USER\]:PASSWORD@\]HOST" "$tmp/bad.err"'
# A sensor joining with a state file offers what it already knew.
"$EXFLOW" -r "$tmp/bulk-10d.pcap" --no-flows -w /dev/null --state-file "$tmp/joiner.state" 2>/dev/null
"$EXFLOW" -r $pcaps/form_post.pcap --no-flows -w /dev/null --state-file "$tmp/joiner.state" \
    --shared-state "redis://127.0.0.1:$port/3" 2>/dev/null
check "a sensor's state-file history reaches Redis when it joins" \
    '[ "$(redis-cli -p $port -n 3 get "exflow:fs:* $dest")" = "$first_10d" ]'

# Redis is writable by more than exflow: keys that are not "host destination" are skipped
# and never reach the state file.
printf 'SET "exflow:fs:* evil\\nseen 1 2 x y" 5\r\nSET "exflow:fs:nospace" 5\r\nSET "exflow:fs:* n" x\r\n' |
    redis-cli -p "$port" >/dev/null
"$EXFLOW" -r $pcaps/form_post.pcap -w /dev/null --state-file "$tmp/state" --shared-state "$url" 2>/dev/null
check "hostile keys from Redis are skipped; the state file stays clean and loadable" \
    '! grep -q -E "evil|nospace|^seen [0-9]+ [0-9]+ \* n$" "$tmp/state" &&
     grep -q "^seen [0-9]* [0-9]* \* $dest$" "$tmp/state" &&
     "$EXFLOW" -r $pcaps/form_post.pcap -w /dev/null --state-file "$tmp/state" 2>/dev/null'
redis_kill two

# ---- a Redis with a password (requirepass) ---------------------------------------------
port=$(free_port)
redis_start auth "$port" || exit 1
redis-cli -p "$port" config set requirepass s3cret-pw >/dev/null
"$EXFLOW" -r $pcaps/form_post.pcap -w /dev/null \
    --shared-state "redis://:s3cret-pw@127.0.0.1:$port" 2>"$tmp/auth-ok.err"
check "password: claims land" \
    '[ "$(redis-cli -p $port -a s3cret-pw --no-auth-warning dbsize)" -eq 2 ] &&
     grep -q "shared_state_errors=0" "$tmp/auth-ok.err"'
"$EXFLOW" -r $pcaps/form_post.pcap -w /dev/null \
    --shared-state "redis://:wrong-pw@127.0.0.1:$port" 2>"$tmp/auth-bad.err"; rc=$?
check "wrong password: runs, logs AUTH failed once, counts, never prints the password" \
    '[ "$rc" -eq 0 ] && [ "$(grep -c "AUTH failed" "$tmp/auth-bad.err")" -eq 1 ] &&
     grep -q "shared_state_errors=[1-9]" "$tmp/auth-bad.err" && ! grep -q wrong-pw "$tmp/auth-bad.err"'
redis_kill auth

# ---- outage: absent at start, started, killed, restarted ----------------------------------
shift_days $pcaps/form_post.pcap 2 "$tmp/p1.pcap"
shift_days $pcaps/ftp_small_stor.pcap 1 "$tmp/p2.pcap"
shift_days $pcaps/smtp_stealer.pcap 0 "$tmp/p3.pcap"

# What an uninterrupted run leaves in Redis.
ref_port=$(free_port)
redis_start ref "$ref_port" || exit 1
"$EXFLOW" -r "$tmp/p1.pcap" -r "$tmp/p2.pcap" -r "$tmp/p3.pcap" --no-flows -w /dev/null \
    --shared-state "redis://127.0.0.1:$ref_port" 2>/dev/null
dump "$ref_port" >"$tmp/expected"
redis_kill ref

port=$(free_port)
ctl="$tmp/ctl"; mkdir -p "$ctl"
wait_file() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
# keys_match PATTERN: waits (10 s at most) until Redis holds the expected keys for PATTERN.
keys_match() {
    for _ in $(seq 100); do
        [ "$(dump "$port" | grep -c "$1")" -eq "$(grep -c "$1" "$tmp/expected")" ] &&
            [ "$(grep -c "$1" "$tmp/expected")" -gt 0 ] && return 0
        sleep 0.1
    done
    return 1
}
python3 "$here/feed.py" "$ctl" "$tmp/p1.pcap" "$tmp/p2.pcap" "$tmp/p3.pcap" |
    "$EXFLOW" -r - --no-flows -w "$tmp/outage.json" --shared-state "redis://127.0.0.1:$port" \
        2>"$tmp/outage.err" &
feed_pid=$!
wait_file "$ctl/done1"; touch "$ctl/go2"; wait_file "$ctl/done2"   # part 1's records: no Redis
sleep 0.5
redis_start outage "$port" || exit 1
check "Redis absent at start: caught up once it came (www.example-shop.com)" \
    'keys_match www.example-shop.com'
redis_kill outage
touch "$ctl/go3"; wait_file "$ctl/done3"                        # part 2's records: Redis killed
sleep 1.5
redis_start outage "$port" || exit 1
check "Redis killed and restarted: queued updates replayed (45.33.20.15)" \
    'keys_match 45.33.20.15'
touch "$ctl/end"
wait "$feed_pid"; rc=$?
feed_pid=""
check "exflow exits 0 through the outages" '[ "$rc" -eq 0 ]'
dump "$port" >"$tmp/got"
check "nothing lost: Redis holds what an uninterrupted run leaves" \
    'diff "$tmp/expected" "$tmp/got"'
check "each outage logged once (2 warnings)" \
    '[ "$(grep -c "shared state: redis .*detection goes on with local" "$tmp/outage.err")" -eq 2 ]'
check "recovery logged with the replay count" \
    'grep -q "reachable again; replaying [1-9][0-9]* queued updates" "$tmp/outage.err"'
check "stats line: errors counted, nothing dropped or left queued" \
    'grep "stats(final)" "$tmp/outage.err" |
     grep -q -E "shared_state_errors=[1-9][0-9]* shared_state_queued=0 shared_state_dropped=0"'
check "detection went on during the outage (the stealer mail alerts)" \
    'grep -q "\"event_type\":\"alert\"" "$tmp/outage.json"'
redis_kill outage

echo "shared-state: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
