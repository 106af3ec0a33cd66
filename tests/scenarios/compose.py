#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""compose.py: builds pcaps/scenarios/*.pcap and manifest.tsv from the raw loopback captures.

  compose.py --raw WORK/raw --out pcaps/scenarios --manifest tests/scenarios/manifest.tsv
  compose.py --manifest-only --manifest tests/scenarios/manifest.tsv
  compose.py ... --only REGEX     only the scenarios whose name matches (the baseline if it matches)

SCENARIOS below is the single source of truth: which raw capture, which addresses, which
schedule, and what exflow is expected to say. Each raw capture holds N repetitions of a
real transfer separated by marker packets; every repetition is rewritten (client ->
internal address, server -> public-looking address, high test ports -> standard ports) and
put at its scheduled time. Schedules are deterministic (seeded jitter), so the manifest's
first-transfer times do not depend on when the captures were taken.

Address plan (the public addresses are illustrative: picked from ordinary public ranges,
not documentation ranges, so exflow classifies them as public; they do not point at the
services named in the SNI/Host fields):
  10.20.1.31-50   internal workstations, one per scenario
  10.0.0.50       internal backup server
  others          public-looking servers
"""

import argparse
import datetime as dt
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaprewrite as pr  # noqa: E402

DAY = 86400
D0 = 1773014400            # 2026-03-09 00:00:00 UTC, a Monday: the scenarios start here
BASELINE_START = D0 - 3 * DAY
LEARN = "3d"               # the baseline is learning time
STRETCH = 40               # loopback timing x40: WAN-like durations

HTTP = dict(server_ports="18080", port_map="18080:80")
TLS = dict(server_ports="18443", port_map="18443:443")
SSH = dict(server_ports="2222", port_map="2222:22")
FTP_PASV = dict(server_ports="2121,30000-30009", port_map="2121:21")
FTP_ACTV = dict(server_ports="2121,2020", client_ports="40000-40009", port_map="2121:21,2020:20")
DAV = dict(server_ports="18444", port_map="18444:443")
UDP = dict(server_ports="13480", port_map="13480:3480")
GITS = dict(server_ports="18445", port_map="18445:443")
UDP2 = dict(server_ports="13481", port_map="13481:3480")
S = "pcaps/scenarios/"


BASELINE_SITES = ["78.46.10.20", "5.9.88.101", "88.198.33.7", "92.204.55.14"]  # same order as capture.sh


def every(start, period, count, jitter=0.0):
    return [("every", start, period, count, jitter)]


# Each scenario: raw capture, client, server, ports, schedule, expectations.
#   alerts: (min, max) alerts expected from exflow whose src_ip is the client and whose
#           destination matches; benign: (0, 0).
#   dest: the dest_name (SNI/Host) or dest_ip the alert must name.
#   techniques: all must appear in the alerts ("T1048*" = any T1048 sub-technique).
#   evidence: all must appear. app: alternatives for app_protocol (substring, any case).
SCENARIOS = [
    # ----------------------------------------------------------------- positives
    dict(name="ps_upload", kind="positive", raw="ps_upload", client="10.20.1.31", server="91.208.197.40",
         net=HTTP, sched=every(D0 + 10 * 3600, 900, 6, 20), alerts=(1, 3), dest="91.208.197.40",
         techniques="T1020,T1029", evidence="http_upload,periodic", app="HTTP",
         desc="PowerShell Invoke-WebRequest/WebClient-style multipart POST (curl -F with the WindowsPowerShell/5.1 "
              "User-Agent) of 170-260 KB files to a bare IP, every 15 min, 6 times"),
    dict(name="curl_form_loop", kind="positive", raw="curl_form_loop", client="10.20.1.32", server="45.137.21.9",
         net=HTTP, sched=every(D0 + 11 * 3600, 300, 8, 5), alerts=(1, 3), dest="files.quickshare-drop.net",
         techniques="T1020,T1029", evidence="http_upload,periodic", app="HTTP",
         desc="the T1020 atomic test's loop: curl -F file=@ of 120-190 KB archives every 5 min, 8 times"),
    dict(name="bits_upload", kind="positive", raw="bits_upload", client="10.20.1.33", server="103.56.17.101",
         net=HTTP, sched=every(D0 + 9 * 3600, 3600, 5, 30), alerts=(1, 5), dest="cdn.winupdate-svc.com",
         techniques="T1020,T1029", evidence="http_upload,periodic", app="HTTP",
         desc="BITS upload protocol (BITS_POST Ping/Create-Session/64 KiB Fragments/Close-Session, "
              "User-Agent Microsoft BITS/7.8) of 200-300 KB files, hourly, 5 times"),
    dict(name="py_zip_post", kind="positive", raw="py_zip_post", client="10.20.1.34", server="89.44.201.77",
         net=HTTP, sched=every(D0 + 1800, 6 * 3600, 5, 60), alerts=(1, 5), dest="collect.docs-archive.org",
         techniques="T1020,T1029", evidence="http_upload,periodic", app="HTTP",
         desc="Python urllib zips a Documents folder (4 files) and POSTs the zip (~200-280 KB), every 6 h, 5 times"),
    dict(name="ftp_stor_passive", kind="positive", raw="ftp_stor_passive", client="10.20.1.35",
         server="62.112.8.60", net=FTP_PASV, sched=every(D0 + 13 * 3600, 1800, 8, 10), alerts=(1, 4),
         dest="62.112.8.60", techniques="T1020,T1029,T1048*", evidence="ftp_stor,periodic", app="FTP",
         desc="lftp put (STOR, passive mode, PASV) of 135-170 KB files to pyftpdlib every 30 min, 8 times"),
    dict(name="ftp_stor_active", kind="positive", raw="ftp_stor_active", client="10.20.1.36",
         server="62.112.8.61", net=FTP_ACTV, sched=every(D0 + 14 * 3600 + 600, 1800, 5, 10), alerts=(1, 3),
         dest="62.112.8.61", techniques="T1020,T1029,T1048*", evidence="ftp_stor,periodic", app="FTP",
         desc="lftp put (STOR, active mode: PORT, the server connects back from port 20) of 200-260 KB files "
              "every 30 min, 5 times"),
    dict(name="sftp_hourly", kind="positive", raw="sftp_hourly", client="10.20.1.37", server="176.124.192.18",
         net=SSH, sched=every(D0 + 8 * 3600 + 300, 3600, 6, 3), alerts=(1, 6), dest="176.124.192.18",
         techniques="T1020,T1029,T1048*", evidence="ssh_upload,periodic", app="SSH",
         desc="OpenSSH sftp -b put of 170-240 KB files every 60 min (the Rover malware's cycle), 6 times"),
    dict(name="tls_mega", kind="positive", raw="tls_mega", client="10.20.1.38", server="185.206.225.31",
         net=TLS, sched=every(D0 + 15 * 3600, 1200, 6, 30), alerts=(1, 3), dest="mega.nz",
         techniques="T1020,T1029,T1567.002", evidence="cloud_storage,periodic", app="TLS|MEGA",
         desc="curl -T (HTTPS PUT) of 170-230 KB files, SNI mega.nz, every 20 min, 6 times"),
    dict(name="tls_pcloud", kind="positive", raw="tls_pcloud", client="10.20.1.39", server="193.178.172.55",
         net=TLS, sched=every(D0 + 16 * 3600, 1800, 5, 30), alerts=(1, 3), dest="api.pcloud.com",
         techniques="T1020,T1029,T1567.002", evidence="cloud_storage,periodic", app="TLS|PCLOUD",
         desc="curl -F (HTTPS multipart POST, pCloud uploadfile style) of 200-280 KB, SNI api.pcloud.com, "
              "every 30 min, 5 times"),
    dict(name="tls_transfersh", kind="positive", raw="tls_transfersh", client="10.20.1.40", server="144.91.70.62",
         net=TLS, sched=every(D0 + 10 * 3600 + 900, 7200, 5, 60), alerts=(1, 5), dest="transfer.sh",
         techniques="T1020,T1029,T1567.002", evidence="cloud_storage,periodic", app="TLS|transfer",
         desc="curl --upload-file to transfer.sh (HTTPS PUT, 200-280 KB), every 2 h, 5 times"),
    dict(name="rclone_multistream", kind="positive", raw="rclone_multistream", client="10.20.1.41",
         server="95.216.30.80", net=DAV, sched=every(D0 + 2 * 3600 + 900, 0, 1), alerts=(1, 2), stretch=1,
         dest="dav.box-archive.net", techniques="T1020", evidence="parallel_streams", app="TLS|HTTP",
         desc="real rclone copy --transfers 4 --bwlimit 1M of 8 files (1.3 MB) to a WebDAV server over TLS "
              "(rclone serve webdav; HTTP/1.1, so 4 parallel connections), once, at night"),
    dict(name="daily_0300", kind="positive", raw="daily_0300", client="10.20.1.42", server="185.81.68.12",
         net=TLS, sched=every(D0 + 3 * 3600, DAY, 5, 90), alerts=(1, 5), dest="sync.docvault-store.net",
         techniques="T1020,T1029", evidence="periodic", app="TLS",
         desc="curl -T (HTTPS PUT) of 215-260 KB at 03:00 (+-90 s) every day for 5 days"),
    dict(name="slow_drip", kind="positive", raw="slow_drip", client="10.20.1.43", server="37.120.198.40",
         net=HTTP, sched=every(D0 + 8 * 3600, 300, 144, 10), alerts=(1, 14), dest="telemetry.cdn-metrics.io",
         techniques="T1020,T1029", evidence="periodic", app="HTTP",
         desc="slow drip: HTTP POST of 7-10 KB every 5 min (+-10 s) for 12 h (144 uploads, 1.2 MB in all)"),
    # Covert channels and small uploads: captured by capture-covert.sh and rewritten by
    # compose-covert.sh (two namespaces and a veth pair: a tunnel needs two hosts), so here
    # only in the manifest ("pcap" names the finished capture).
    dict(name="dns_iodine", kind="positive", pcap="dns_iodine", client="10.20.1.60",
         sched=[("at", D0 + 12 * 3600)], alerts=(1, 1), dest="tunnel-relay.net",
         techniques="T1048.003,T1071.004", evidence="dns_tunnel", app="DNS",
         desc="iodine DNS tunnel (NULL queries, long encoded names under t.tunnel-relay.net) through the "
              "internal resolver 10.0.0.53, carrying a 40 KB file"),
    dict(name="icmp_ptunnel", kind="positive", pcap="icmp_ptunnel", client="10.20.1.62",
         sched=[("at", D0 + 13 * 3600)], alerts=(1, 1), dest="45.33.20.10",
         techniques="T1095", evidence="icmp_tunnel",
         desc="ptunnel-ng ICMP echo tunnel to a public proxy, carrying a 40 KB file over TCP inside it"),
    dict(name="smtp_stealer", kind="positive", pcap="smtp_stealer", client="10.20.1.64",
         sched=[("at", D0 + 14 * 3600 + 300)], alerts=(1, 1), dest="45.33.20.12",
         techniques="T1048.003,T1071.003", evidence="smtp_exfil,small_upload",
         desc="AgentTesla-style stealer mail from a workstation (python smtplib to aiosmtpd): 1.7 kB with "
              "passwords.txt attached, to an outside server"),
    dict(name="ftp_small_stor", kind="positive", pcap="ftp_small_stor", client="10.20.1.66",
         sched=[("at", D0 + 14 * 3600 + 1800)], alerts=(1, 1), dest="45.33.20.15",
         techniques="T1048*", evidence="ftp_stor,small_upload", app="FTP",
         desc="AgentTesla-style FTP upload: lftp STOR of 533 bytes to pyftpdlib, a host's first FTP use"),
    # ----------------------------------------------------------------- benign
    dict(name="big_download", kind="benign", raw="big_download", client="10.20.1.44", server="151.80.40.10",
         net=HTTP, sched=every(D0 + 9 * 3600 + 1800, 0, 1), alerts=(0, 0), dest="dl.linux-mirror.org",
         desc="one HTTP GET of 2 MB (a large download: heavy, but inbound)"),
    dict(name="update_polling", kind="benign", raw="update_polling", client="10.20.1.45", server="212.47.238.21",
         net=TLS, sched=every(D0, 600, 48, 2), alerts=(0, 0), dest="update.softvendor-cdn.com",
         baseline=every(BASELINE_START, 3 * 3600, 24, 2),
         desc="update checks: HTTPS GET with a small JSON answer every 10 min for 8 h (periodic but not uploads); "
              "checks every 3 h in the baseline"),
    dict(name="internal_backup", kind="benign", raw="internal_backup", client="10.20.1.46", server="10.0.0.50",
         net=SSH, sched=every(D0 + 3600, DAY, 5, 60), alerts=(0, 0), dest="10.0.0.50", stretch=5,
         baseline=every(BASELINE_START + 3600, DAY, 3, 60), pieces_baseline=(5, 8), pieces=(0, 5),
         desc="nightly rsync over ssh (130-180 KB) at 01:00 to an internal server, 5 nights (3 more in the baseline)"),
    dict(name="allowlisted_sync", kind="benign", raw="allowlisted_sync", client="10.20.1.47", server="81.19.150.14",
         net=TLS, sched=every(D0 + 12 * 3600, 1800, 6, 20), alerts=(0, 0), dest="sync.example-backup.com",
         pieces=(0, 6), args="--allowlist tests/scenarios/allowlist.txt",
         desc="a newly installed sync client's HTTPS PUT of 170-220 KB every 30 min to sync.example-backup.com, "
              "allowlisted (tests/scenarios/allowlist.txt); sync_without_allowlist shows it alerts otherwise"),
    dict(name="sync_without_allowlist", kind="control", raw="allowlisted_sync", client="10.20.1.47",
         server="81.19.150.14", net=TLS, sched=every(D0 + 12 * 3600, 1800, 6, 20), alerts=(1, 3),
         dest="sync.example-backup.com", pieces=(0, 6), pcap="allowlisted_sync", techniques="T1029",
         evidence="periodic", app="TLS",
         desc="control: the allowlisted_sync capture without --allowlist must alert (so the allowlist is what "
              "keeps allowlisted_sync quiet); not counted in precision/recall"),
    dict(name="browsing", kind="benign", raw="browsing", client="10.20.1.48",
         server=["78.46.10.20", "5.9.88.101", "88.198.33.7", "46.4.66.90"], net=TLS,
         sched=[("at", D0 + 9 * 3600 + s) for s in (0, 420, 1200, 2460)], alerts=(0, 0), dest="-",
         desc="ordinary browsing: 4 sites, 5 HTTPS GETs each (6-48 KB answers)"),
    dict(name="form_post", kind="benign", raw="form_post", client="10.20.1.49", server="46.4.119.33",
         net=TLS, sched=every(D0 + 14 * 3600 + 1320, 0, 1), alerts=(0, 0), dest="www.example-shop.com",
         desc="one small HTTPS form POST (about 2 KB)"),
    dict(name="video_call", kind="benign", raw="video_call", client="10.20.1.50", server="80.158.10.20",
         net=UDP, sched=every(D0 + 10 * 3600, 0, 1), alerts=(0, 0), dest="80.158.10.20", stretch=1,
         desc="video-call-like UDP: 20 datagrams/s of 200 B each way for 60 s (balanced)"),
    # ================================================================= shapes beyond series
    # Cases the detector does not yet get right stay eval-only (gate "eval"): reported by
    # `make eval`, not asserted by `make check`. All are slimmed: bulk payload cut to its
    # headers, wire length kept.
    # ----------------------------------------------------------------- positives
    *[dict(name=f"bulk_{proto}_{size}m", kind="positive", slim=True, raw=f"bulk_{proto}_{size}m",
           client=client, server=server, net=net, sched=every(D0 + 14 * 3600 + 1200, 0, 1),
           alerts=(1, 3), dest=dest, app=app,
           evidence="bulk_upload" if proto == "tls" else "bulk_upload,http_upload",
           desc=f"one {size} MB upload, {what}, one connection, once")
      for proto, net, server, dest, app, what in (
          ("http", HTTP, "185.244.30.10", "upload.filedrop-store.net", "HTTP",
           "HTTP POST to a named host (curl -X POST -T)"),
          ("tls", TLS, "194.87.210.33", "cdn-a7.syncbox-edge.net", "TLS",
           "HTTPS PUT with an unknown SNI, cdn-a7.syncbox-edge.net (curl -T)"),
          ("ip", HTTP, "193.29.57.14", "193.29.57.14", "HTTP",
           "HTTP multipart POST to a bare IP (curl -F)"))
      for size, client in ((50, {"http": "10.20.1.51", "tls": "10.20.1.53", "ip": "10.20.1.55"}[proto]),
                           (500, {"http": "10.20.1.52", "tls": "10.20.1.54", "ip": "10.20.1.56"}[proto]))],
    dict(name="jitter_http_24h", kind="positive", evidence="http_upload,periodic,persistent", slim=True, raw="jitter_http", client="10.20.1.57",
         server="217.12.204.90", net=HTTP, sched=every(D0 + 1800, 1800, 48, 720), alerts=(1, 48),
         dest="api.metrics-relay.net", app="HTTP",
         desc="HTTP POST (curl -X POST -T) of about 1 MB every 30 min +-40% uniform jitter, 24 h (48 uploads)"),
    dict(name="jitter_tls_24h", kind="positive", evidence="periodic,persistent", slim=True, raw="jitter_tls", client="10.20.1.58",
         server="109.70.100.25", net=TLS, sched=every(D0 + 1800, 1800, 48, 720), alerts=(1, 48),
         dest="static.imgcache-cdn.com", app="TLS",
         desc="HTTPS PUT (curl -T) of about 1 MB every 30 min +-40% uniform jitter, 24 h (48 uploads)"),
    dict(name="jitter50_tls_12h", kind="positive", evidence="periodic", slim=True, raw="jitter_tls", pieces=(24, 48),
         client="10.20.1.79", server="109.70.100.26", net=TLS, sched=every(D0 + 8 * 3600, 1800, 24, 900),
         alerts=(1, 24), dest="static.imgcache-cdn.com", app="TLS",
         desc="the jitter_tls uploads with +-50% uniform jitter: about 1 MB every 30 min +-15 min, 12 h (24 uploads)"),
    dict(name="rotate_ip24", kind="positive", evidence="periodic", slim=True, raw="rotate_ip24", client="10.20.1.59",
         server=["45.86.162.%d" % (11 + i) for i in range(8)], net=TLS, sched=every(D0 + 9 * 3600, 1800, 16, 30),
         alerts=(1, 16), dest="-",
         desc="HTTPS PUT of about 1 MB every 30 min for 8 h, rotated over 8 addresses of one /24 "
              "(45.86.162.11-18, bare addresses: no SNI); each address gets 2 uploads"),
    dict(name="rotate_domain", kind="positive", evidence="periodic", slim=True, raw="rotate_domain", client="10.20.1.60",
         server=["31.214.157.4", "79.137.192.8", "91.92.240.17", "141.98.10.60", "176.31.72.9", "188.165.24.33",
                 "195.154.179.2", "212.83.150.71"], net=TLS, sched=every(D0 + 9 * 3600, 1800, 16, 30),
         alerts=(1, 16), dest="-",
         desc="HTTPS PUT of about 1 MB every 30 min for 8 h, rotated over n1..n8.cdn-relay-sync.com (one registered "
              "domain), each name on its own address in a different network"),
    dict(name="keepalive_http_6h", kind="positive", evidence="periodic,http_upload", slim=True, raw="keepalive_http",
         client="10.20.1.61", server="5.188.86.40", net=HTTP, sched=every(D0 + 10 * 3600, 300, 72), alerts=(1, 72),
         dest="bk.vault-drop.net", app="HTTP",
         desc="one keep-alive HTTP connection (python http.client) POSTing about 1 MB every 5 min for 6 h (72 MB)"),
    dict(name="keepalive_tls_6h", kind="positive", evidence="periodic", slim=True, raw="keepalive_tls",
         client="10.20.1.62", server="5.188.86.41", net=TLS, sched=every(D0 + 10 * 3600, 300, 72), alerts=(1, 72),
         dest="edge.vault-drop.net", app="TLS",
         desc="one long-lived TLS connection (python http.client over ssl, SNI edge.vault-drop.net) POSTing about "
              "1 MB every 5 min for 6 h (72 MB)"),
    *[dict(name=f"cloud_{short}", kind="positive", slim=True, evidence="bulk_upload,cloud_storage", raw="cloud_oneshot", pieces=(k, k + 1),
           client=f"10.20.1.{63 + k}", server=f"94.130.5.{11 + k}", net=TLS,
           sched=every(D0 + 13 * 3600 + 600 * k, 0, 1), alerts=(1, 3), dest=host, techniques="T1567.002",
           app="TLS", desc=f"one-shot 20 MB {how} to {host} (curl, SNI {host}), once")
      for k, (short, host, how) in enumerate((
          ("gcs", "storage.googleapis.com", "POST (JSON API media upload)"),
          ("s3", "s3.amazonaws.com", "PUT (path-style bucket)"),
          ("azure", "x.blob.core.windows.net", "PUT (BlockBlob)"),
          ("gdrive", "drive.google.com", "POST (media upload)"),
          ("dropbox", "content.dropboxapi.com", "POST (/2/files/upload)")))],
    dict(name="zip_post_oneshot", kind="positive", evidence="http_upload,packed_data", slim=True, raw="zip_post", pieces=(1, 2),
         client="10.20.1.68", server="185.153.199.7", net=HTTP, sched=every(D0 + 15 * 3600, 0, 1), alerts=(1, 3),
         dest="dl.share-portal.org", app="HTTP",
         desc="a freshly zipped Documents folder (python zipfile, about 5 MB) sent once as a curl -F multipart "
              "POST with the file name Documents.zip"),
    dict(name="restart_zip", kind="positive", evidence="http_upload,packed_data", slim=True, raw="zip_post", pieces=(0, 1),
         client="10.20.1.69", server="185.153.199.8", net=HTTP, sched=every(D0 + DAY + 11 * 3600, 0, 1),
         alerts=(1, 3), dest="dl.share-portal.org", app="HTTP", split=D0 + DAY,
         extra=[dict(raw="day_visits", sched=[("at", D0 + d * DAY + h * 3600) for d in (0, 1) for h in (9, 12, 15)],
                     server=BASELINE_SITES, net=TLS, cycle=True)],
         pcaps=S + "restart_zip-day1.pcap;" + S + "restart_zip-day2.pcap", argv="--learn 1d;",
         desc="learn on day 1, restart, detect on day 2: two exflow runs sharing a state file; day 2 brings one "
              "python urllib POST of a 5 MB zip (Content-Type application/zip) between ordinary HTTPS visits"),
    dict(name="restart_zip_onerun", kind="positive", evidence="http_upload,packed_data", pcap="restart_zip", client="10.20.1.69",
         server="185.153.199.8", net=HTTP, sched=every(D0 + DAY + 11 * 3600, 0, 1), alerts=(1, 3),
         dest="dl.share-portal.org", app="HTTP",
         pcaps=S + "restart_zip-day1.pcap," + S + "restart_zip-day2.pcap", argv="--learn 1d",
         desc="the restart_zip days read by one uninterrupted run (what the restart must reproduce)"),
    # ----------------------------------------------------------------- benign look-alikes
    # new_job: a job that first appears after learning. Its first run IS a new bulk upload to a
    # new destination: at most one alert, low, and never again for the same job (no escalation,
    # no re-alert). Not ranked: the first night cannot be told from a one-shot theft of that size.
    dict(name="backup_s3_nightly", kind="new_job", slim=True, raw="backup_s3", pieces=(0, 7),
         client="10.20.1.70", server="94.130.5.20", net=TLS, sched=every(D0 + 5400, DAY, 7, 300), alerts=(0, 1),
         dest="acme-backups.s3.amazonaws.com", visits=False,
         desc="nightly 30 MB backup (curl -T, User-Agent restic) to the S3 bucket name acme-backups.s3.amazonaws.com "
              "at 01:30 +-5 min, 7 nights, first seen after learning (a new job)"),
    dict(name="backup_s3_learned", kind="benign", slim=True, raw="backup_s3", pieces=(0, 10),
         client="10.20.1.71", server="94.130.5.21", net=TLS, sched=every(BASELINE_START + 5400, DAY, 10, 300),
         alerts=(0, 0), dest="acme-backups.s3.amazonaws.com",
         extra=[dict(raw="day_visits", pieces=(0, 1), sched=[("at", BASELINE_START + 60)], server=BASELINE_SITES[:1],
                     net=TLS)],
         pcaps=S + "backup_s3_learned.pcap", argv="--learn 3d",
         desc="the same nightly 30 MB S3 backup for 10 nights from 2026-03-06: the first 3 are learned "
              "(--learn 3d from its own capture's start), then 7 nights of detection"),
    dict(name="backup_unknown_nightly", kind="new_job", slim=True, raw="backup_unknown", pieces=(0, 7),
         client="10.20.1.72", server="37.187.11.5", net=TLS, sched=every(D0 + 3600, DAY, 7, 300), alerts=(0, 1),
         dest="bk01.nas-offsite.net", visits=False,
         desc="nightly 30 MB backup (curl -T, User-Agent duplicity) to an unknown name, bk01.nas-offsite.net, "
              "at 01:00 +-5 min, 7 nights, first seen after learning (a new job)"),
    dict(name="backup_unknown_learned", kind="benign", client="10.20.1.80", server="37.187.11.6", net=TLS,
         derive=dict(pcap="backup_unknown_nightly", shift=-3 * DAY, server_ports="443"),
         sched=every(BASELINE_START + 3600, DAY, 7, 300), alerts=(0, 0), dest="bk01.nas-offsite.net", visits=False,
         desc="the backup_unknown_nightly job moved 3 days earlier, on its own host and server: nights 1-3 fall in "
              "the learning period (the job existed before), nights 4-7 are detection"),
    dict(name="sync_client", kind="benign", slim=True, raw="sync_client", client="10.20.1.73",
         server="46.105.12.70", net=DAV, sched=every(D0 + 9 * 3600, 1800, 16, 60), pieces=(0, 16), alerts=(0, 0),
         dest="sync.cloudbox-client.com", visits=False,
         desc="a sync client: real rclone (copy down, sync up) against a WebDAV server over TLS every 30 min for "
              "8 h; each run lists, downloads a file changed elsewhere (100-400 KB) and uploads one changed here"),
    dict(name="log_shipper", kind="benign", slim=True, raw="log_shipper", client="10.20.1.74",
         server="51.15.80.14", net=TLS, sched=every(D0 + 8 * 3600, 60, 240, 2), alerts=(0, 0),
         dest="logs.siem-collector.net",
         desc="a log shipper: JSON batches of 1-3 KB POSTed every minute on one long-lived HTTPS connection, 4 h"),
    dict(name="software_update", kind="benign", slim=True, raw="software_update", client="10.20.1.75",
         server="88.99.25.10", net=HTTP, sched=every(D0 + 6 * 3600 + 1500, DAY, 3, 600), alerts=(0, 0),
         dest="deb.mirror-example.net",
         desc="software updates: an apt-like HTTP fetch of an index and four packages (5-25 MB) on one "
              "connection, daily at 06:25 for 3 days (downloads)"),
    dict(name="git_push_ssh", kind="benign", slim=True, raw="git_push_ssh", client="10.20.1.76",
         server="88.99.14.200", net=SSH, sched=[("at", D0 + s) for s in (36300, 42000, 51600, 61000)],
         alerts=(0, 0), dest="88.99.14.200",
         desc="a developer's git pushes over SSH (git and OpenSSH), 4 a day, 0.5-1.8 MB of new objects each"),
    dict(name="git_push_https", kind="benign", slim=True, raw="git_push_https", client="10.20.1.78",
         server="88.99.14.201", net=GITS, sched=[("at", D0 + s) for s in (35100, 44400, 50700, 59800)],
         alerts=(0, 0), dest="git.example-forge.org",
         desc="a developer's git pushes over HTTPS (git smart HTTP, SNI git.example-forge.org), 4 a day, "
              "0.5-1.8 MB of new objects each"),
    dict(name="video_call_long", kind="benign", slim=True, raw="video_call_long", client="10.20.1.77",
         server="80.158.10.21", net=UDP2, sched=every(D0 + 11 * 3600, 0, 1), stretch=1, alerts=(0, 0),
         dest="80.158.10.21",
         desc="a video call: balanced UDP, 30 datagrams/s of 1100 B each way for 2 min (4 MB up)"),
    dict(name="dns_lookups", kind="benign", pcap="dns_lookups", client="10.20.1.61",
         sched=[("at", D0 + 9 * 3600)], alerts=(0, 0), dest="-",
         desc="getent lookups of 50 ordinary names (CDN, anti-virus and DNS blocklist long names among them) "
              "through the internal resolver"),
    dict(name="icmp_ping", kind="benign", pcap="icmp_ping", client="10.20.1.63",
         sched=[("at", D0 + 10 * 3600)], alerts=(0, 0), dest="45.33.20.11",
         desc="iputils ping: 20 echoes of the default size and 20 of 1000 bytes (an MTU check), 40 kB"),
    dict(name="smtp_relay", kind="benign", pcap="smtp_relay", client="10.20.1.65",
         sched=[("at", D0 + 15 * 3600)], alerts=(0, 0), dest="-",
         desc="the mail server 10.20.1.65 accepts a mail from outside, then relays one out (smtplib, aiosmtpd)"),
    dict(name="ftp_download", kind="benign", pcap="ftp_download", client="10.20.1.67",
         sched=[("at", D0 + 11 * 3600)], alerts=(0, 0), dest="45.33.20.16",
         desc="lftp get of a 1 MB release archive from a public FTP server (a host's first FTP use, inbound)"),
]


def schedule(spec, seed):
    rnd = random.Random(seed)
    times = []
    for item in spec:
        if item[0] == "at":
            times.append(float(item[1]))
        else:
            _, start, period, count, jitter = item
            for i in range(count):
                times.append(start + i * period + (rnd.uniform(-jitter, jitter) if jitter and i else 0.0))
    return times


def iso(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_pieces(raw_dir, name):
    path = os.path.join(raw_dir, name + ".pcap")
    lt, pk = pr.read_pcap(path)
    pieces = pr.split_at_markers(pk, lt, 5999)
    return lt, pieces


def place(lt, pieces, sc, times, server=None):
    net = sc["net"]
    out = []
    for i, (piece, t) in enumerate(zip(pieces, times)):
        srv = server or sc["server"]
        if isinstance(srv, list):
            srv = srv[i % len(srv)]
        out.append(pr.rewrite(piece, lt, sc["client"], srv, pr.parse_ports(net.get("server_ports")),
                              pr.parse_ports(net.get("client_ports")), pr.parse_port_map(net.get("port_map")),
                              start=t, stretch=sc.get("stretch", STRETCH)))
    return pr.merge(*out)


def scenario_packets(raw_dir, sc, cache):
    """The scenario's packets: its scheduled repetitions plus any extra parts (ordinary traffic
    of the same host placed around them), merged in time order."""
    def pieces_of(raw):
        if raw not in cache:
            cache[raw] = load_pieces(raw_dir, raw)
        return cache[raw]

    lt, pieces = pieces_of(sc["raw"])
    times = schedule(sc["sched"], sc["name"])
    a, b = sc.get("pieces", (0, len(pieces)))
    use = pieces[a:b]
    if len(use) < len(times):
        raise SystemExit(f"compose: {sc['name']}: {len(use)} repetitions captured, {len(times)} scheduled")
    parts = [place(lt, use, sc, times)]
    for k, extra in enumerate(sc.get("extra", [])):
        elt, epieces = pieces_of(extra["raw"])
        etimes = schedule(extra["sched"], f"{sc['name']}/extra{k}")
        a, b = extra.get("pieces", (0, len(epieces)))
        use = epieces[a:b]
        if extra.get("cycle"):   # ordinary traffic may repeat its few captured visits
            use = (use * (len(etimes) // max(1, len(use)) + 1))[:len(etimes)]
        if len(use) < len(etimes):
            raise SystemExit(f"compose: {sc['name']}: extra {extra['raw']}: {len(use)} pieces, {len(etimes)} times")
        parts.append(place(elt, use, dict(sc, net=extra["net"], stretch=STRETCH, server=extra["server"]), etimes))
    return pr.merge(*parts)


def derived_packets(out_dir, sc):
    """A scenario made from another's composed capture (written before it in SCENARIOS): the
    same packets moved in time and onto this scenario's client and server."""
    src = sc["derive"]
    lt, pk = pr.read_pcap(os.path.join(out_dir, src["pcap"] + ".pcap"))
    return pr.rewrite(pk, lt, sc["client"], sc["server"], pr.parse_ports(src["server_ports"]), shift=src["shift"])


def write_scenario(out_dir, sc, pk, sizes):
    """Writes NAME.pcap, or NAME-day1/-day2.pcap when the scenario is split for a restart."""
    if sc.get("slim"):
        pk = pr.slim(pk)
    files = [(sc["name"], pk)]
    if "split" in sc:
        cut = int(sc["split"] * 1_000_000)
        files = [(sc["name"] + "-day1", [p for p in pk if p[0] < cut]),
                 (sc["name"] + "-day2", [p for p in pk if p[0] >= cut])]
    for name, packets in files:
        path = os.path.join(out_dir, name + ".pcap")
        pr.write_pcap(path, packets)
        sizes[name] = os.path.getsize(path)


def compose(raw_dir, out_dir, only=None):
    baseline = []
    sizes = {}
    cache = {}
    for sc in SCENARIOS:
        if "pcap" in sc:
            continue  # reuses another scenario's capture
        if only and not re.search(only, sc["name"]):
            continue
        if "derive" in sc:
            write_scenario(out_dir, sc, derived_packets(out_dir, sc), sizes)
            continue
        write_scenario(out_dir, sc, scenario_packets(raw_dir, sc, cache), sizes)
        if "baseline" in sc:
            lt, pieces = cache[sc["raw"]]
            btimes = schedule(sc["baseline"], sc["name"] + "/baseline")
            a, b = sc.get("pieces_baseline", (0, len(pieces)))
            bp = pieces[a:b]
            bp = (bp * (len(btimes) // max(1, len(bp)) + 1))[:len(btimes)]
            baseline.append(place(lt, bp, sc, btimes))
    if only and not re.search(only, "baseline"):
        report(sizes)
        return

    # The days before: every scenario host visits common sites once or twice a day.
    lt, visits = load_pieces(raw_dir, "baseline_visit")
    rnd = random.Random("baseline")
    for sc in SCENARIOS:
        if "pcap" in sc or not sc.get("visits", sc.get("gate") != "eval"):
            continue  # the eval-only shapes and visits=False came later; the baseline stays as it was
        for day in range(3):
            for k in range(rnd.choice((1, 2))):
                t = BASELINE_START + day * DAY + rnd.uniform(8 * 3600, 18 * 3600)
                j = rnd.randrange(len(visits))
                v = dict(sc, net=TLS, stretch=STRETCH)
                baseline.append(place(lt, [visits[j]], v, [t], server=BASELINE_SITES[j]))
    path = os.path.join(out_dir, "baseline.pcap")
    pr.write_pcap(path, pr.merge(*baseline))
    sizes["baseline"] = os.path.getsize(path)
    report(sizes)


def report(sizes):
    for k, v in sizes.items():
        print(f"{k:22s} {v / 1024:8.0f} KB")
    print(f"{'total':22s} {sum(sizes.values()) / 1024:8.0f} KB")


def write_manifest(path):
    cols = ["name", "kind", "gate", "pcaps", "args", "alerts", "src_ip", "dest", "techniques", "evidence",
            "app_protocol", "first_transfer", "description"]
    with open(path, "w") as f:
        f.write("# Generated by tests/scenarios/compose.py (edit SCENARIOS there, then run\n")
        f.write("# `python3 tests/scenarios/compose.py --manifest-only --manifest tests/scenarios/manifest.tsv`).\n")
        f.write("# exflow runs as: exflow -r PCAP -r PCAP <args>   (pcaps: baseline first; the baseline is learning time)\n")
        f.write("# alerts: min-max alerts from src_ip to dest; any other alert is a false positive.\n")
        f.write("# techniques/evidence: all must appear (T1048* = any sub-technique); app_protocol: one of a|b,\n")
        f.write("# substring, any case; '-' = not checked. first_transfer: packet time of the first transfer.\n")
        f.write("# gate: check = asserted by make check; eval = reported by make eval only (not caught yet).\n")
        f.write("# pcaps/args: ';' separates exflow runs that share a state file (a restart).\n")
        f.write("\t".join(cols) + "\n")
        for sc in SCENARIOS:
            t0 = min(schedule(sc["sched"], sc["name"]))
            row = [sc["name"], sc["kind"], sc.get("gate", "check"),
                   sc.get("pcaps", "pcaps/scenarios/baseline.pcap,pcaps/scenarios/%s.pcap" % sc.get("pcap", sc["name"])),
                   sc.get("argv", ("--learn %s %s" % (LEARN, sc.get("args", ""))).strip()), "%d-%d" % sc["alerts"], sc["client"], sc.get("dest", "-"),
                   sc.get("techniques", "-"), sc.get("evidence", "-"), sc.get("app", "-"), iso(t0),
                   sc["desc"].replace("\t", " ")]
            f.write("\t".join(row) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--manifest-only", action="store_true")
    ap.add_argument("--only", help="compose only the scenarios whose name matches this regex")
    args = ap.parse_args()
    if not args.manifest_only:
        if not args.raw or not args.out:
            ap.error("--raw and --out are needed")
        compose(args.raw, args.out, args.only)
    write_manifest(args.manifest)


if __name__ == "__main__":
    main()
