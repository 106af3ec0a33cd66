#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# The Debian package, built as a user would build it: from a clean clone of the committed tree
# (uncommitted changes are not in it). Lintian finds no error; the .deb holds the binary, man
# page, conffiles, protocols file, logrotate file and a unit that systemd-analyze verifies and
# scores 3.0 or better; the packaged exflow runs with the packaged config. Slow (a full
# build), so only in the plain build's run.
set -u
: "${BUILD:=build/default}"
export TZ=UTC LC_ALL=C
passed=0; failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
if [ "$(basename "$BUILD")" != default ]; then
    echo "package: runs in the default build only"
    echo "package: 0 passed, 0 failed"; exit 0
fi
for tool in git dpkg-buildpackage dh lintian fakeroot systemd-analyze man; do
    command -v "$tool" >/dev/null 2>&1 || { fail "$tool is not installed (scripts/deps.sh --test)"; \
        echo "package: $passed passed, $failed failed"; exit 1; }
done
top=$(git rev-parse --show-toplevel 2>/dev/null) || { fail "not a git checkout: the package is built from a clone"; \
    echo "package: $passed passed, $failed failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

git clone -q "$top" "$tmp/exflow"
if (cd "$tmp/exflow" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
    ok "dpkg-buildpackage from a clean clone ($(( $(date +%s) - start ))s)"
else
    fail "dpkg-buildpackage"; tail -n 20 "$tmp/build.log"
    echo "package: $passed passed, $failed failed"; exit 1
fi
deb=$(ls "$tmp"/exflow_*_*.deb)

lintian --fail-on error "$deb" >"$tmp/lintian.log" 2>&1 && ! grep -q '^E:' "$tmp/lintian.log" \
    && ok "lintian: no errors ($(grep -c '^W:' "$tmp/lintian.log") warnings)" \
    || { fail "lintian: errors"; grep '^E:' "$tmp/lintian.log" | head -n 10; }

root="$tmp/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$tmp/control"
missing=""
for f in usr/bin/exflow usr/share/man/man8/exflow.8.gz usr/share/exflow/protocols.txt \
         etc/exflow/exflow.conf etc/exflow/allowlist.conf etc/logrotate.d/exflow \
         lib/systemd/system/exflow.service usr/share/doc/exflow/copyright; do
    [ -s "$root/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok "contents: binary, man page, config, protocols, logrotate, unit" \
    || fail "contents: missing$missing"
grep -qx /etc/exflow/exflow.conf "$tmp/control/conffiles" && grep -qx /etc/exflow/allowlist.conf "$tmp/control/conffiles" \
    && ok "conffiles: exflow.conf and allowlist.conf" || fail "conffiles: $(cat "$tmp/control/conffiles")"
MANWIDTH=80 man --warnings -l "$root/usr/share/man/man8/exflow.8.gz" >"$tmp/man.txt" 2>"$tmp/man.err"
[ -s "$tmp/man.txt" ] && [ ! -s "$tmp/man.err" ] && ok "man: the packaged page renders cleanly" \
    || { fail "man: packaged page"; head -n 5 "$tmp/man.err"; }

# systemd-analyze verify resolves ExecStart= and Documentation= on this machine: point them
# at the extracted package.
unit="$tmp/exflow.service"
sed "s|/usr/bin/exflow|$root/usr/bin/exflow|" "$root/lib/systemd/system/exflow.service" >"$unit"
MANPATH="$root/usr/share/man" systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1 && [ ! -s "$tmp/verify.log" ] \
    && ok "systemd-analyze verify: clean" || { fail "systemd-analyze verify"; head -n 5 "$tmp/verify.log"; }
systemd-analyze security --offline=true "$root/lib/systemd/system/exflow.service" >"$tmp/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for exflow.service: \([0-9.]*\).*/\1/p' "$tmp/security.log")
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then
    ok "systemd-analyze security: exposure $score (<= 3.0)"
else
    fail "systemd-analyze security: exposure '${score:-?}'"; tail -n 3 "$tmp/security.log"
fi
grep -qx 'DynamicUser=yes' "$unit" && grep -qx 'CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN' "$unit" \
    && grep -qx 'ProtectSystem=strict' "$unit" && ok "unit: own user, two capabilities, read-only system" \
    || fail "unit: hardening lines missing"

# The packaged binary with the packaged config, its paths moved into the test directory; a
# capture on the command line replaces the configured interface.
mkdir -p "$tmp/log" "$tmp/lib"
sed -e "s|/var/log/exflow|$tmp/log|; s|/var/lib/exflow|$tmp/lib|; s|/etc/exflow|$root/etc/exflow|" \
    "$root/etc/exflow/exflow.conf" >"$tmp/exflow.conf"
"$root/usr/bin/exflow" --config "$tmp/exflow.conf" -r "$top/pcaps/golden/ftp.pcap" >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '"event_type":"flow"' "$tmp/log/exflow.json" && [ -s "$tmp/lib/state" ] \
    && ! grep -q 'protocols.txt not found' "$tmp/run.err"; then
    ok "run: the packaged config writes events and state, finds the packaged protocols"
else
    fail "run: exit $rc"; head -n 5 "$tmp/run.err"
fi
# The unchanged config's interface is what a live run would open.
"$root/usr/bin/exflow" --config "$root/etc/exflow/exflow.conf" -i no-such-if0 >/dev/null 2>"$tmp/live.err"
grep -q 'no-such-if0' "$tmp/live.err" && ok "run: -i on the command line overrides the configured interface" \
    || { fail "run: -i override"; head -n 3 "$tmp/live.err"; }
if command -v logrotate >/dev/null 2>&1; then
    logrotate -d "$root/etc/logrotate.d/exflow" >"$tmp/logrotate.log" 2>&1 \
        && ok "logrotate: the packaged file parses" || { fail "logrotate"; tail -n 5 "$tmp/logrotate.log"; }
fi

# As the service runs it: an unprivileged user holding only CAP_NET_RAW and CAP_NET_ADMIN,
# live on lo with the packaged config; the packaged logrotate file (its paths moved, its
# postrotate signalling this process) rotates the events and exflow reopens them.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! command -v logrotate >/dev/null 2>&1; then
    echo "skip live: needs root, setpriv and logrotate"
else
    svc="$tmp/svc"; mkdir -p "$svc/log" "$svc/lib"
    chmod 755 "$tmp"; chown nobody "$svc/log" "$svc/lib"
    sed -e "s|/var/log/exflow|$svc/log|; s|/var/lib/exflow|$svc/lib|; s|/etc/exflow|$root/etc/exflow|" \
        -e 's|^interface = .*|interface = lo|; s|^stats-interval = .*|stats-interval = 1|' \
        "$root/etc/exflow/exflow.conf" >"$svc/exflow.conf"
    chmod 644 "$svc/exflow.conf"
    setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all,+net_raw,+net_admin \
        --ambient-caps=-all,+net_raw,+net_admin --bounding-set=-all,+net_raw,+net_admin \
        "$root/usr/bin/exflow" --config "$svc/exflow.conf" -f 'udp port 9' --udp-idle-timeout 1 2>"$svc/err" &
    pid=$!
    send() { python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(10): s.sendto(b"x" * 100, ("127.0.0.1", 9))'; }
    wait_stats() { i=0; while [ "$(grep -c 'stats(periodic)' "$svc/err")" -lt "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; }
    wait_stats 1; send
    i=0; while ! grep -q 'flows_written=[1-9]' "$svc/err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    sed -e "s|/var/log/exflow|$svc/log|" -e "s|systemctl kill .*|kill -HUP $pid|" \
        "$root/etc/logrotate.d/exflow" >"$svc/logrotate.conf"
    # The first burst's flow has ended (UDP idle timeout) and been written: rotate.
    logrotate -f -s "$svc/logrotate.state" "$svc/logrotate.conf" >"$svc/logrotate.log" 2>&1; lr=$?
    i=0; while [ ! -e "$svc/log/exflow.json" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    send   # its flow ends at SIGTERM and goes to the reopened file
    sleep 0.3
    kill -TERM "$pid"; wait "$pid"; rc=$?
    owner=$(stat -c %U "$svc/lib/state" 2>/dev/null)
    if [ "$rc" -eq 0 ] && [ "$owner" = nobody ] && [ "$lr" -eq 0 ] && grep -q '"dest_port":9,' "$svc/log/exflow.json.1" \
        && grep -q '"dest_port":9,' "$svc/log/exflow.json" && ! grep -q -E 'error:|warning:' "$svc/err"; then
        ok "live: unprivileged with two capabilities, captures, saves state, logrotate reopens the events"
    else
        fail "live: exit $rc, logrotate $lr, state owner '$owner'"; head -n 5 "$svc/err" "$svc/logrotate.log"
        ls -la "$svc/log"
    fi
fi
echo "package: $(( $(date +%s) - start ))s in all"
echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
