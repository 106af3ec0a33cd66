#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Part of `make test`: what exflow must not do to files that are not its own, and what two
# exflows or a SIGHUP must not break (docs/security.md). Run as root: an unprivileged user
# ("nobody") plants symlinks and hard links at the names exflow writes, pointing to a
# root-only mode-600 file; that file must come out untouched and exflow must stop with a
# clear error (or, where the name is unpredictable now, simply not be fooled).
# Also: the state lock, a NUL-filled state file, out-of-range durations and sizes, and
# SIGHUP with --flag-country/--flag-asn (a use-after-free once; the ASan variant catches it).
# Prints "security: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${EXFLOW:=build/default/exflow}"
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d)
bg_pids=""
cleanup() {
    for p in $bg_pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
passed=0; failed=0; skipped=0
ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
skip() { echo "skip $1"; skipped=$((skipped + 1)); }
clean() { ! grep -q -E 'Sanitizer|runtime error|Segmentation|Aborted|core dumped|double free' "$1"; }
wait_for() {
    limit=$(($1 * 10)); shift
    i=0
    while [ "$i" -lt "$limit" ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}
pcap=pcaps/golden/ssh.pcap
geo="--geoip-city geo/testdata/GeoIP2-City-Test.mmdb --geoip-asn geo/testdata/GeoLite2-ASN-Test.mmdb"

# run NAME ARGS...: exflow with stdin closed; status in $rc, stderr in $tmp/NAME.err.
run() {
    name=$1; shift
    "$EXFLOW" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    rc=$?
}

# verdict NAME WANT-STATUS STDERR-PATTERN: judges the last run.
verdict() {
    if [ "$rc" -ne "$2" ]; then
        fail "$1: exit $rc, wanted $2"; head -n 5 "$tmp/$1.err"
    elif ! clean "$tmp/$1.err"; then
        fail "$1: crashed"; head -n 30 "$tmp/$1.err"
    elif [ -n "$3" ] && ! grep -q -E -e "$3" "$tmp/$1.err"; then
        fail "$1: stderr lacks /$3/"; head -n 5 "$tmp/$1.err"
    else
        ok "$1"
    fi
}

# ---- out-of-range durations and sizes: refused, the option named ----------------------
for args in "--learn 99999999999999999d" "--suppress 1e400" "--idle-timeout inf" \
            "--active-timeout nan" "--udp-idle-timeout 0x10" "--learn 366d" \
            "--rotate-bytes 99999999999999999999" "--spool-max-bytes 2000000G" \
            "--min-upload 18446744073709551615"; do
    opt=${args%% *}
    # shellcheck disable=SC2086
    run range -q -r "$pcap" -w /dev/null $args
    if [ "$rc" -eq 2 ] && grep -q -e "$opt: " "$tmp/range.err" && clean "$tmp/range.err"; then
        ok "range: $args refused, naming $opt"
    else
        fail "range: $args: exit $rc"; head -n 3 "$tmp/range.err"
    fi
done
run range-ok -q -r "$pcap" -w /dev/null --learn 365d --suppress 1.5h --rotate-bytes 1048576G
verdict range-ok 0 ""
run range-msg -q -r "$pcap" -w /dev/null --learn 99999999999999999d
verdict range-msg 2 "^.*--learn: '99999999999999999d' is out of range"

# ---- the state file: strict loader, one writer ----------------------------------------
{ printf 'exflow-state 1\nlearn_start 1\n'; head -c 1048576 /dev/zero; } >"$tmp/nul.state"
run nul-state -q -r "$pcap" -w /dev/null --state-file "$tmp/nul.state"
verdict nul-state 2 "nul\.state:3: NUL or control byte.*--reset-state"

if [ "$(id -u)" -ne 0 ]; then
    skip "root-only checks (symlinks planted by nobody, live runs on lo): not root"
    echo "security: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]; exit
fi
if ! id nobody >/dev/null 2>&1; then
    skip "no user nobody"
    echo "security: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]; exit
fi
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"; }

# Two exflows, one --state-file: the second is refused while the first runs.
state_dir="$tmp/state-lock"; mkdir "$state_dir"
"$EXFLOW" -q -i lo -w /dev/null --state-file "$state_dir/state" --stats-interval 0 \
    >/dev/null 2>"$tmp/lock-first.err" &
first=$!
bg_pids="$bg_pids $first"
if wait_for 15 test -s "$state_dir/state"; then
    run lock-second -q -r "$pcap" -w /dev/null --state-file "$state_dir/state"
    verdict lock-second 2 "state file .*/state is in use by another exflow"
else
    fail "lock: the first exflow never wrote its state"; head -n 5 "$tmp/lock-first.err"
fi
kill -TERM "$first"; wait "$first"; rc=$?
verdict lock-first 0 ""
run lock-after -q -r "$pcap" -w /dev/null --state-file "$state_dir/state"
verdict lock-after 0 ""

# ---- files planted by another user -------------------------------------------------------
# A root-only secret, and a directory that nobody owns and writes (not group/world-writable:
# only the links planted in it are the attack).
secret_dir=$(mktemp -d); chmod 700 "$secret_dir"
secret="$secret_dir/secret"
printf 'root only\n' >"$secret"; chmod 600 "$secret"
secret_sum=$(cksum <"$secret")
untouched() {   # untouched NAME: the secret is as it was
    if [ "$(cksum <"$secret")" = "$secret_sum" ] && [ "$(stat -c %a "$secret")" = 600 ]; then
        ok "$1: the root-only file is untouched"
    else
        fail "$1: the root-only file was changed"
        printf 'root only\n' >"$secret"; chmod 600 "$secret"
    fi
}
d=$(mktemp -d); chown nobody "$d"; chmod 755 "$d"
plant() { as_nobody ln -s "$secret" "$1"; }

# -w through a symlink.
plant "$d/out.json"
run json-symlink -q -r "$pcap" -w "$d/out.json"
verdict json-symlink 2 "out\.json: is a symbolic link; refusing to follow it"
untouched json-symlink

# -w through a hard link (as if fs.protected_hardlinks were off).
if ln "$secret" "$d/hard.json" 2>/dev/null; then
    run json-hardlink -q -r "$pcap" -w "$d/hard.json"
    verdict json-hardlink 2 "hard\.json: has 2 hard links; refusing"
    rm -f "$d/hard.json"
    untouched json-hardlink
else
    skip "json-hardlink: cannot link across file systems"
fi

# --pidfile through a symlink (written as root, before --user).
plant "$d/exflow.pid"
run pid-symlink -q -r "$pcap" -w /dev/null --pidfile "$d/exflow.pid"
verdict pid-symlink 2 "exflow\.pid: is a symbolic link; refusing"
untouched pid-symlink
# A stale pidfile (its process is gone) is replaced; a live one is refused.
dead=$(sh -c 'echo $$')
printf '%s\n' "$dead" >"$d/stale.pid"
run pid-stale -r "$pcap" -w /dev/null --pidfile "$d/stale.pid"
verdict pid-stale 0 "removing a stale pidfile"
printf '%s\n' "$$" >"$d/live.pid"
run pid-live -q -r "$pcap" -w /dev/null --pidfile "$d/live.pid"
verdict pid-live 2 "live\.pid: process $$ is running"

# The state file's temp file: it was STATE.tmp.<pid>, so a link planted under the pid the
# next exflow gets (exec keeps the shell's pid) caught the save. Now mkstemp names it.
sh -c 'setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- ln -s "$1" "$2.tmp.$$"
       exec "$3" -q -r "$4" -w /dev/null --state-file "$2"' sh \
    "$secret" "$d/first.state" "$EXFLOW" "$pcap" >/dev/null 2>"$tmp/state-temp.err" </dev/null
rc=$?
verdict state-temp 0 ""
untouched state-temp
[ -f "$d/first.state" ] && [ ! -L "$d/first.state" ] && ok "state-temp: the state file is a new plain file" \
    || fail "state-temp: no plain state file"
# The state lock file through a symlink.
plant "$d/second.state.lock"
run state-lock-symlink -q -r "$pcap" -w /dev/null --state-file "$d/second.state"
verdict state-lock-symlink 2 "second\.state\.lock: is a symbolic link"
untouched state-lock-symlink

# The syslog spool's offset temp file (a fixed name once).
port_file="$tmp/port"
python3 - "$port_file" <<'EOF' &
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(4)
open(sys.argv[1] + '.tmp', 'w').write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
s.settimeout(60)
try:
    while True:
        c, _ = s.accept()
        while c.recv(65536):
            pass
except OSError:
    pass
EOF
sink=$!
bg_pids="$bg_pids $sink"
if wait_for 10 test -s "$port_file"; then
    spool="$d/spool"; as_nobody mkdir "$spool"; chmod 755 "$spool"
    plant "$spool/exflow-syslog.offset.tmp"
    # shellcheck disable=SC2086
    run spool-offset -q -r pcaps/golden/ftp.pcap -w /dev/null $geo --min-upload 1K \
        --syslog "tcp://127.0.0.1:$(cat "$port_file")" --spool-dir "$spool"
    verdict spool-offset 0 ""
    untouched spool-offset
    grep -q . "$spool/exflow-syslog.offset" 2>/dev/null && ok "spool-offset: the offset was written" \
        || fail "spool-offset: no offset file"
else
    fail "spool-offset: no TCP sink"
fi
kill "$sink" 2>/dev/null

# SIGHUP reopens -w: a link planted after the move is refused, not followed.
live=$(mktemp -d); chown nobody "$live"; chmod 755 "$live"
printf 'port=9997\n' >"$tmp/allow"
# shellcheck disable=SC2086
"$EXFLOW" -i lo -w "$live/out.json" --allowlist "$tmp/allow" $geo --flag-country RU,KP \
    --flag-asn 64500,15169 --stats-interval 0 >/dev/null 2>"$tmp/hup.err" &
pid=$!
bg_pids="$bg_pids $pid"
if wait_for 15 test -f "$live/out.json"; then
    mv "$live/out.json" "$live/out.json.1"
    as_nobody ln -s "$secret" "$live/out.json"
    kill -HUP "$pid"
    wait_for 10 grep -q 'out\.json: is a symbolic link' "$tmp/hup.err" \
        && ok "json-reopen: SIGHUP refuses a planted link" || fail "json-reopen: no refusal logged"
    # SIGHUP again with --flag-country/--flag-asn: the flagged sets must survive each reload.
    kill -HUP "$pid"
    wait_for 10 test "$(grep -c 'allowlist reloaded' "$tmp/hup.err")" -ge 2
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20): s.sendto(b"x" * 100, ("127.0.0.1", 9))'
    kill -TERM "$pid"; wait "$pid"; rc=$?
    verdict hup 0 ""
    [ "$(grep -c 'allowlist reloaded' "$tmp/hup.err")" -ge 2 ] && ok "hup: two reloads with flagged geo" \
        || fail "hup: reloads not seen"
    untouched json-reopen
else
    fail "hup: no -w file"; head -n 5 "$tmp/hup.err"; kill -9 "$pid"
fi

# ---- directories other users can write -------------------------------------------------
open_dir=$(mktemp -d); chmod 777 "$open_dir"
run open-dir -q -r "$pcap" -w "$open_dir/out.json"
verdict open-dir 2 "refusing to write in .*: the directory is writable by other users \(mode 0777\)"
run open-dir-state -q -r "$pcap" -w /dev/null --state-file "$open_dir/state"
verdict open-dir-state 2 "refusing to write in"
[ -z "$(ls -A "$open_dir")" ] && ok "open-dir: nothing created there" || fail "open-dir: files created"
# A sticky shared directory (/tmp-like) is allowed, but not a file another user made there.
sticky=$(mktemp -d); chmod 1777 "$sticky"
as_nobody touch "$sticky/theirs.json"
run sticky-other -q -r "$pcap" -w "$sticky/theirs.json"
verdict sticky-other 2 "theirs\.json: owned by uid"
run sticky-own -q -r "$pcap" -w "$sticky/mine.json"
verdict sticky-own 0 ""
rm -rf "$open_dir" "$sticky" "$d" "$live" "$secret_dir"

echo "security: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
