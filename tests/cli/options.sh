#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The option table and what is built from it: the config file (--config), the man page, and
# proof that the table, --help, the config keys and the man page list the same options.
set -u
: "${EXFLOW:=./exflow}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# run NAME STATUS STDERR-PATTERN -- ARGS...: exit status and the error line
run() {
    name=$1 want=$2 pattern=$3; shift 4
    "$EXFLOW" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$name: exit $rc, wanted $want"; head -n 5 "$tmp/err"
    elif [ -n "$pattern" ] && ! grep -q -E -e "$pattern" "$tmp/err"; then
        fail "$name: stderr lacks /$pattern/"; head -n 5 "$tmp/err"
    elif grep -q -E 'Sanitizer|runtime error' "$tmp/err"; then
        fail "$name: crashed"; head -n 20 "$tmp/err"
    else
        ok "$name"
    fi
}

# ---- config file ----------------------------------------------------------------------
cat >"$tmp/ftp.conf" <<EOF
# reads the FTP capture, control channel only, alerts and flows to a file
read = pcaps/golden/ftp.pcap
filter = tcp port 21
write = $tmp/from-config.jsonl
  ; another comment style
quiet = yes
no-flows = no
idle-timeout = 10m
run-id = 6a0f3c1e-5b7d-4e2a-9c4f-1d2e3f4a5b6c
EOF
run config-sets-options 0 "" -- --config "$tmp/ftp.conf"
if grep -q '"dest_port":21' "$tmp/from-config.jsonl" && ! grep -q '"proto":"UDP"' "$tmp/from-config.jsonl" \
    && [ ! -s "$tmp/err" ]; then ok "config: read, filter, write and quiet applied"; else
    fail "config: options not applied"; fi
# The same run from flags gives the same records.
"$EXFLOW" -q -r pcaps/golden/ftp.pcap -f "tcp port 21" --idle-timeout 10m \
    --run-id 6a0f3c1e-5b7d-4e2a-9c4f-1d2e3f4a5b6c >"$tmp/flags.jsonl" 2>/dev/null
cmp -s "$tmp/flags.jsonl" "$tmp/from-config.jsonl" && ok "config: same records as the flags" \
    || fail "config: records differ from the same flags"

# Flags override the file: another output, and an input on the command line replaces the file's.
run flag-overrides-config 0 "" -- --config "$tmp/ftp.conf" -w "$tmp/from-flag.jsonl" \
    -r pcaps/golden/ssh.pcap -f "tcp port 22"
if [ ! -e "$tmp/from-flag.jsonl.unused" ] && grep -q '"dest_port":22' "$tmp/from-flag.jsonl" \
    && ! grep -q '"dest_port":21' "$tmp/from-flag.jsonl"; then ok "config: -w, -r and -f override the file"
else fail "config: flags did not override"; fi
printf 'no-flows = yes\nread = pcaps/golden/ftp.pcap\nquiet = yes\n' >"$tmp/noflows.conf"
run config-flag-key 0 "" -- --config "$tmp/noflows.conf"
grep -q '"event_type":"flow"' "$tmp/out" && fail "config: no-flows = yes ignored" \
    || ok "config: no-flows = yes drops flow records"

printf 'read = pcaps/golden/ftp.pcap\n\nno-such-key = 1\n' >"$tmp/badkey.conf"
run config-bad-key 2 "badkey\.conf:3: no-such-key: unknown key" -- --config "$tmp/badkey.conf"
printf 'read = pcaps/golden/ftp.pcap\nidle-timeout = 5x\n' >"$tmp/badvalue.conf"
run config-bad-value 2 "badvalue\.conf:2: idle-timeout: '5x' is not a duration" -- --config "$tmp/badvalue.conf"
printf 'no-flows = maybe\n' >"$tmp/badflag.conf"
run config-bad-flag 2 "badflag\.conf:1: no-flows: 'maybe' is not yes or no" -- --config "$tmp/badflag.conf"
printf 'help = yes\n' >"$tmp/cli-only.conf"
run config-cli-only-key 2 "cli-only\.conf:1: help: unknown key" -- --config "$tmp/cli-only.conf"
printf '[main]\nquiet = yes\n' >"$tmp/section.conf"
run config-section 2 "section\.conf:2: \[main\]: sections are not used" -- --config "$tmp/section.conf"
printf 'quiet\n' >"$tmp/noequals.conf"
run config-not-key-value 2 "noequals\.conf:1: not a 'key = value' line" -- --config "$tmp/noequals.conf"
run config-missing 2 "--config .*nope\.conf: No such file" -- --config "$tmp/nope.conf"

# ---- validation, once, naming the option ----------------------------------------------
run size-overflow 2 "--min-upload: '99999999999G' is not a size" -- -r pcaps/golden/ftp.pcap --min-upload 99999999999G
run size-negative 2 "--rotate-bytes: '-1' is not a size" -- -r pcaps/golden/ftp.pcap --rotate-bytes -1
run duration-huge 2 "--learn: '99999999999d' is out of range" -- -r pcaps/golden/ftp.pcap --learn 99999999999d
run duration-exponent 2 "--learn: '1e3d' is not a duration" -- -r pcaps/golden/ftp.pcap --learn 1e3d
run duration-nan 2 "--suppress: 'nan' is not a duration" -- -r pcaps/golden/ftp.pcap --suppress nan
run number-range 2 "--alert-threshold: '1.5' is out of range" -- -r pcaps/golden/ftp.pcap --alert-threshold 1.5
run integer-junk 2 "--threads: '2x' is not a whole number" -- -r pcaps/golden/ftp.pcap --threads 2x
run choice 2 "--syslog-format: 'xml' is not one of json\|cef" -- -r pcaps/golden/ftp.pcap --syslog-format xml

# ---- one table: --list-options, --help, --dump-config and the man page agree -----------
"$EXFLOW" --list-options >"$tmp/table" 2>&1
cut -d' ' -f1 "$tmp/table" | sort >"$tmp/table.names"
awk '$2 == "config" {print $1}' "$tmp/table" | sort >"$tmp/table.keys"
"$EXFLOW" --help | grep -o -E '^ +(-[a-zA-Z], )?--[a-z0-9-]+' | sed 's/.*--//' | sort >"$tmp/help.names"
"$EXFLOW" --dump-config | sed -n 's/^#\([a-z0-9-]*\) = .*/\1/p' | sort >"$tmp/config.keys"
"$EXFLOW" --dump-man >"$tmp/exflow.8"
sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$tmp/exflow.8" | grep -A1 '^\.TP' | sed 's/\\-/-/g' \
    | sed -n 's/^\(\\fB-[a-zA-Z]\\fR, \)\{0,1\}\\fB--\([a-z0-9-]*\)\\fR.*/\2/p' | sort >"$tmp/man.names"
n=$(wc -l <"$tmp/table.names")
if [ "$n" -ge 45 ] && cmp -s "$tmp/table.names" "$tmp/help.names" && cmp -s "$tmp/table.names" "$tmp/man.names" \
    && cmp -s "$tmp/table.keys" "$tmp/config.keys"; then ok "one table: $n options in --help and the man page, $(wc -l <"$tmp/config.keys") config keys"
else
    fail "table, --help, man page and config keys disagree"
    diff "$tmp/table.names" "$tmp/help.names" | head -n 5
    diff "$tmp/table.names" "$tmp/man.names" | head -n 5
    diff "$tmp/table.keys" "$tmp/config.keys" | head -n 5
fi
# Every config key --dump-config prints is accepted back (uncommented, with its default).
"$EXFLOW" --dump-config | sed -n 's/^#\([a-z0-9-]* = ..*\)$/\1/p' | grep -v '^read = ' >"$tmp/all.conf"
echo "read = pcaps/golden/ftp.pcap" >>"$tmp/all.conf"
run dump-config-round-trip 0 "" -- --config "$tmp/all.conf" -q
# The help fits a terminal.
"$EXFLOW" --help | awk 'length > 80 { bad = 1 } END { exit bad }' && ok "help: lines fit 80 columns" \
    || fail "help: a line is wider than 80 columns"

# ---- the man page renders without warnings ---------------------------------------------
if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man --warnings -l "$tmp/exflow.8" >"$tmp/man.txt" 2>"$tmp/man.err"
    if [ -s "$tmp/man.txt" ] && [ ! -s "$tmp/man.err" ] && grep -q 'idle-timeout' "$tmp/man.txt"; then
        ok "man: renders with no warnings ($(wc -l <"$tmp/man.txt") lines)"
    else
        fail "man: warnings or empty"; head -n 10 "$tmp/man.err"
    fi
else
    fail "man: man-db is not installed (scripts/deps.sh --test)"
fi

# ---- SIGHUP re-reads the config and names the keys that need a restart -------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "skip sighup-config: live capture on lo needs root"
else
    printf 'interface = lo\nfilter = udp port 9\nwrite = %s\nstats-interval = 0\n' "$tmp/live.jsonl" >"$tmp/live.conf"
    "$EXFLOW" --config "$tmp/live.conf" >/dev/null 2>"$tmp/live.err" &
    pid=$!
    i=0; while [ ! -e "$tmp/live.jsonl" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    printf 'interface = lo\nfilter = udp port 10\nwrite = %s\nstats-interval = 0\nno-flows = yes\n' \
        "$tmp/live.jsonl" >"$tmp/live.conf"
    kill -HUP "$pid"
    i=0; while ! grep -q "no-flows" "$tmp/live.err" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    # A file that would not start now is reported at once; the sensor keeps running.
    printf 'interface = lo\nidle-timeout = soon\n' >"$tmp/live.conf"
    kill -HUP "$pid"
    i=0; while ! grep -q "not re-read" "$tmp/live.err" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -TERM "$pid"; wait "$pid"; rc=$?
    if [ "$rc" -eq 0 ] && grep -q "'filter' changed: takes effect after a restart" "$tmp/live.err" \
        && grep -q "'no-flows' changed" "$tmp/live.err" && ! grep -q "'interface' changed" "$tmp/live.err"; then
        ok "sighup: the changed config keys are named"
    else
        fail "sighup: exit $rc"; head -n 10 "$tmp/live.err"
    fi
    if grep -q "live.conf:2: idle-timeout: 'soon' is not a duration" "$tmp/live.err" \
        && grep -q "not re-read; the running configuration is unchanged" "$tmp/live.err"; then
        ok "sighup: a broken config is reported, the sensor runs on"
    else
        fail "sighup: broken config not reported"; tail -n 5 "$tmp/live.err"
    fi
fi

echo "options: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
