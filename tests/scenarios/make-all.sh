#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make-all.sh: regenerates every scenario capture in pcaps/scenarios/ from real tools' traffic.
#
#   tests/scenarios/make-all.sh [--keep-work] [--only REGEX] [--compose-only]
#
# 1. capture.sh runs inside a private network and mount namespace (unshare): curl, lftp,
#    sftp/rsync over OpenSSH, python3 urllib and rclone talk to local servers on 127.0.0.1
#    high ports; tcpdump -i lo records them (WORK/raw/*.pcap).
# 2. compose.py splits each raw capture into its repetitions, rewrites addresses (internal
#    clients, public-looking servers) and ports, puts each repetition at its scheduled time
#    and writes pcaps/scenarios/*.pcap, the baseline, and manifest.tsv's first_transfer times.
# Needs root (unshare, tcpdump) and the Debian packages listed in tests/scenarios/README.md.
# Nothing is sent to any address other than 127.0.0.1: the namespace has no other interface.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}/exflow-scenarios-work}
KEEP=0 ONLY= COMPOSE_ONLY=0
while [ $# -gt 0 ]; do
    case $1 in
        --keep-work) KEEP=1 ;;
        --only) ONLY=$2; shift ;;
        --compose-only) COMPOSE_ONLY=1 ;;
        -h|--help) sed -n 2,14p "$0"; exit 0 ;;
        *) echo "make-all.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

missing=()
for tool in unshare tcpdump curl lftp sftp rsync rclone openssl ssh-keygen ethtool ss git; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /usr/sbin/sshd ] || missing+=(sshd)
/usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null || missing+=(python3-pyftpdlib)
if [ ${#missing[@]} -gt 0 ]; then
    echo "make-all.sh: missing: ${missing[*]}" >&2
    echo "  apt-get install -y tcpdump curl lftp openssh-server openssh-client rsync rclone python3-pyftpdlib openssl ethtool iproute2 util-linux git" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "make-all.sh: needs root (private network namespace, tcpdump)" >&2
    exit 1
fi

if [ $COMPOSE_ONLY = 0 ]; then
    [ -n "$ONLY" ] || rm -rf "$WORK"
    mkdir -p "$WORK"
    unshare --net --mount --propagation private "$HERE/capture.sh" "$WORK" "$ONLY"
fi
mkdir -p "$ROOT/pcaps/scenarios"
python3 "$HERE/compose.py" --raw "$WORK/raw" --out "$ROOT/pcaps/scenarios" --manifest "$HERE/manifest.tsv" ${ONLY:+--only "$ONLY"}
[ $KEEP = 1 ] || [ -n "$ONLY" ] || [ $COMPOSE_ONLY = 1 ] || rm -rf "$WORK"
du -sh "$ROOT/pcaps/scenarios"
