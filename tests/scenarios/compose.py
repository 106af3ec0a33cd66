#!/usr/bin/env python3
"""compose.py: builds pcaps/scenarios/*.pcap and manifest.tsv from the raw loopback captures.

  compose.py --raw WORK/raw --out pcaps/scenarios --manifest tests/scenarios/manifest.tsv
  compose.py --manifest-only --manifest tests/scenarios/manifest.tsv

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

BASELINE_SITES = ["78.46.10.20", "5.9.88.101", "88.198.33.7", "92.204.55.14"]  # same order as capture.sh


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


def compose(raw_dir, out_dir):
    baseline = []
    sizes = {}
    for sc in SCENARIOS:
        if "pcap" in sc:
            continue  # reuses another scenario's capture
        lt, pieces = load_pieces(raw_dir, sc["raw"])
        times = schedule(sc["sched"], sc["name"])
        a, b = sc.get("pieces", (0, len(pieces)))
        use = pieces[a:b]
        if len(use) < len(times):
            raise SystemExit(f"compose: {sc['name']}: {len(use)} repetitions captured, {len(times)} scheduled")
        pk = place(lt, use, sc, times)
        path = os.path.join(out_dir, sc["name"] + ".pcap")
        pr.write_pcap(path, pk)
        sizes[sc["name"]] = os.path.getsize(path)
        if "baseline" in sc:
            btimes = schedule(sc["baseline"], sc["name"] + "/baseline")
            a, b = sc.get("pieces_baseline", (0, len(pieces)))
            bp = pieces[a:b]
            bp = (bp * (len(btimes) // max(1, len(bp)) + 1))[:len(btimes)]
            baseline.append(place(lt, bp, sc, btimes))

    # The days before: every scenario host visits common sites once or twice a day.
    lt, visits = load_pieces(raw_dir, "baseline_visit")
    rnd = random.Random("baseline")
    for sc in SCENARIOS:
        if "pcap" in sc:
            continue
        for day in range(3):
            for k in range(rnd.choice((1, 2))):
                t = BASELINE_START + day * DAY + rnd.uniform(8 * 3600, 18 * 3600)
                j = rnd.randrange(len(visits))
                v = dict(sc, net=TLS, stretch=STRETCH)
                baseline.append(place(lt, [visits[j]], v, [t], server=BASELINE_SITES[j]))
    path = os.path.join(out_dir, "baseline.pcap")
    pr.write_pcap(path, pr.merge(*baseline))
    sizes["baseline"] = os.path.getsize(path)
    for k, v in sizes.items():
        print(f"{k:22s} {v / 1024:8.0f} KB")
    print(f"{'total':22s} {sum(sizes.values()) / 1024:8.0f} KB")


def write_manifest(path):
    cols = ["name", "kind", "pcaps", "args", "alerts", "src_ip", "dest", "techniques", "evidence",
            "app_protocol", "first_transfer", "description"]
    with open(path, "w") as f:
        f.write("# Generated by tests/scenarios/compose.py (edit SCENARIOS there, then run\n")
        f.write("# `python3 tests/scenarios/compose.py --manifest-only --manifest tests/scenarios/manifest.tsv`).\n")
        f.write("# exflow runs as: exflow -r PCAP -r PCAP <args>   (pcaps: baseline first; the baseline is learning time)\n")
        f.write("# alerts: min-max alerts from src_ip to dest; any other alert is a false positive.\n")
        f.write("# techniques/evidence: all must appear (T1048* = any sub-technique); app_protocol: one of a|b,\n")
        f.write("# substring, any case; '-' = not checked. first_transfer: packet time of the first transfer.\n")
        f.write("\t".join(cols) + "\n")
        for sc in SCENARIOS:
            t0 = min(schedule(sc["sched"], sc["name"]))
            row = [sc["name"], sc["kind"],
                   "pcaps/scenarios/baseline.pcap,pcaps/scenarios/%s.pcap" % sc.get("pcap", sc["name"]),
                   ("--learn %s %s" % (LEARN, sc.get("args", ""))).strip(), "%d-%d" % sc["alerts"], sc["client"], sc.get("dest", "-"),
                   sc.get("techniques", "-"), sc.get("evidence", "-"), sc.get("app", "-"), iso(t0),
                   sc["desc"].replace("\t", " ")]
            f.write("\t".join(row) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--manifest-only", action="store_true")
    args = ap.parse_args()
    if not args.manifest_only:
        if not args.raw or not args.out:
            ap.error("--raw and --out are needed")
        compose(args.raw, args.out)
    write_manifest(args.manifest)


if __name__ == "__main__":
    main()
