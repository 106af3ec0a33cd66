#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs what exflow needs from Debian 12 packages, and only what is missing.
#   scripts/deps.sh          build and run (compiler, libpcap, nDPI, libmaxminddb, jansson,
#                            libfixbuf, libpsl and the public suffix list)
#   scripts/deps.sh --test   also what the test suite uses (tshark, valgrind, rsyslog, clang...)
#   scripts/deps.sh --corpus also the tools that regenerate pcaps/scenarios (tests/scenarios/make-all.sh)
set -eu

packages="gcc make pkg-config libc6-dev libpcap-dev libndpi-dev libmaxminddb-dev libjansson-dev libinih-dev \
nettle-dev libpsl-dev publicsuffix libgnutls28-dev libfixbuf-dev libhiredis-dev"
if [ "${1:-}" = "--test" ]; then
    packages="$packages python3 tshark valgrind rsyslog clang libclang-rt-14-dev libndpi-bin \
tcpdump iproute2 procps rsyslog-gnutls rsyslog-relp gnutls-bin \
git dpkg-dev debhelper fakeroot lintian systemd man-db logrotate \
python3-jsonschema python3-prometheus-client chromium softflowd nfdump redis-server"
fi
if [ "${1:-}" = "--corpus" ]; then
    packages="$packages python3 tcpdump curl lftp openssh-server openssh-client rsync rclone python3-pyftpdlib \
git openssl ethtool iproute2 util-linux"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "scripts/deps.sh: installing$missing" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "scripts/deps.sh: run as root or install sudo" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the answer does not matter for tests.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections 2>/dev/null || true
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
