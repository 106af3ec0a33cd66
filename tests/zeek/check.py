#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""--zeek checks: alerts from Zeek logs of a scenario match pcap mode on the same traffic
(dns.log: the DNS tunnel scenario too);
real Zeek logs (pcaps/zeek/) read as Zeek wrote them; evidence the logs lack is named in the
alert; hostile lines are counted and skipped; set-up errors exit 2.
Prints "zeek: N passed, N failed"."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

EXFLOW = os.environ.get("EXFLOW", "./exflow")
SCENARIOS = "pcaps/scenarios"
# (scenario, log format): both of Zeek's writers, every kind of protocol evidence.
CASES = [("ftp_stor_passive", "tsv"), ("ftp_stor_active", "json"), ("sftp_hourly", "tsv"),
         ("tls_mega", "json"), ("ps_upload", "tsv"), ("curl_form_loop", "json")]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def run(args):
    p = subprocess.run([EXFLOW] + args, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=300)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    stats = {}
    m = re.search(r"stats\(final\):(.*)", p.stderr)
    if m:
        stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    crashed = p.returncode >= 128 or re.search(r"Sanitizer|runtime error", p.stderr)
    return p.returncode, events, stats, p.stderr, crashed


def alerts(events):
    return [e for e in events if e.get("event_type") == "alert"]


def alert_key(a, blind):
    """What flow and log input must agree on: who, where, how much, which way, how often."""
    return (a["src_ip"], a["dest_name"], a["bytes_out"], a["bytes_in"], a["pcr"],
            a["connections"], a["period_sec"],
            tuple(sorted(e for e in a["evidence"] if e not in blind)))


# Evidence read from payload bytes that no log carries (the reader names it unavailable),
# unless dns.log (query names) or files.log (uploaded files' types and names) is given.
LOG_BLIND = {"dns_tunnel", "icmp_tunnel", "smtp_exfil", "packed_data"}


def logs_blind(logs):
    blind = set(LOG_BLIND)
    if os.path.exists(os.path.join(logs, "dns.log")):
        blind.discard("dns_tunnel")
    if os.path.exists(os.path.join(logs, "files.log")):
        blind.discard("packed_data")
    return blind


def generate(tmp, scenario, fmt):
    """The logs of baseline + scenario, made once and kept in build/zeek-logs/ while newer
    than the pcaps and the generator: tshark is most of this test's time, and the sanitizer
    builds' runs read the same logs."""
    del tmp
    cache = os.environ.get("ZEEK_LOG_CACHE", "build/zeek-logs")
    out = os.path.join(cache, "%s-%s" % (scenario, fmt))
    inputs = [os.path.join(SCENARIOS, "baseline.pcap"), os.path.join(SCENARIOS, scenario + ".pcap")]
    newest = max(os.path.getmtime(p) for p in inputs + ["tests/zeek/pcap2zeek.py"])
    marker = os.path.join(out, "conn.log")
    if os.path.exists(marker) and os.path.getmtime(marker) > newest:
        return out
    work = out + ".tmp%d" % os.getpid()
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run([sys.executable, "tests/zeek/pcap2zeek.py", "--format", fmt, work] + inputs,
                   check=True)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(work, out)
    return out


def scenario_matches(tmp):
    for scenario, fmt in CASES:
        logs = generate(tmp, scenario, fmt)
        pcaps = ["-r", os.path.join(SCENARIOS, "baseline.pcap"),
                 "-r", os.path.join(SCENARIOS, scenario + ".pcap")]
        rc1, ev1, _, err1, crash1 = run(pcaps + ["--learn", "3d", "--no-flows"])
        rc2, ev2, st2, err2, crash2 = run(["--zeek", logs, "--learn", "3d", "--no-flows"])
        # Re-alerts are left out: packed_data, which logs lack, can raise a series' severity
        # and so its updates in pcap mode alone.
        a1 = [a for a in alerts(ev1) if not a.get("is_update")]
        a2 = [a for a in alerts(ev2) if not a.get("is_update")]
        name = "%s-%s" % (scenario, fmt)
        blind = logs_blind(logs)
        check(name + "-runs", rc1 == 0 and rc2 == 0 and not crash1 and not crash2 and a1,
              "rc %s/%s, %d pcap alerts\n%s" % (rc1, rc2, len(a1), err2[-600:]))
        k1, k2 = [alert_key(a, blind) for a in a1], [alert_key(a, blind) for a in a2]
        check(name + "-alerts-match", k1 == k2, "\n pcap: %s\n zeek: %s" % (k1, k2))
        unavailable = [set(a.get("evidence_unavailable", [])) for a in a2]
        check(name + "-names-unavailable",
              all(u == blind - set(a["evidence"]) for u, a in zip(unavailable, a2)) and
              all("evidence_unavailable" not in a for a in a1), str(unavailable))
        check(name + "-clean-logs", st2.get("bad_lines") == 0 and st2.get("records", 0) > 0,
              str(st2))


def conn_only(tmp):
    """Without ssl.log there is no SNI: the alert names the address and says what it lacks."""
    logs = generate(tmp, "tls_mega", "json")
    only = os.path.join(tmp, "conn-only")
    os.makedirs(only)
    shutil.copy(os.path.join(logs, "conn.log"), only)
    rc, ev, st, err, crash = run(["--zeek", os.path.join(only, "conn.log"), "--learn", "3d",
                                  "--no-flows"])
    a = [x for x in alerts(ev) if x["src_ip"] == "10.20.1.38"]
    check("conn-only-alerts", rc == 0 and not crash and a, err[-400:])
    check("conn-only-names-address", a and all(re.match(r"^[0-9.]+$", x["dest_name"]) for x in a),
          str([x["dest_name"] for x in a]))
    want = {"cloud_storage", "http_upload", "ftp_stor"} | LOG_BLIND
    check("conn-only-unavailable", a and all(set(x.get("evidence_unavailable", [])) == want
                                             for x in a),
          str([x.get("evidence_unavailable") for x in a]))


def dns_tunnel(tmp):
    """dns.log gives the DNS tunnel detector the query names the packets held: the iodine
    scenario's alert is the pcap one (its responses are logged without their answers, so
    only bytes_in differs); without dns.log the tunnel is not seen and named unavailable."""
    logs = generate(tmp, "dns_iodine", "tsv")
    pcaps = ["-r", os.path.join(SCENARIOS, "baseline.pcap"),
             "-r", os.path.join(SCENARIOS, "dns_iodine.pcap")]
    _, ev1, _, _, _ = run(pcaps + ["--learn", "3d", "--no-flows"])
    rc, ev2, st, err, crash = run(["--zeek", logs, "--learn", "3d", "--no-flows"])
    key = lambda a: (a["src_ip"], a["dest_name"], a["bytes_out"], a["connections"],  # noqa: E731
                     a["evidence"], a["techniques"])
    a1 = [key(a) for a in alerts(ev1) if "dns_tunnel" in a["evidence"]]
    a2 = [key(a) for a in alerts(ev2) if "dns_tunnel" in a["evidence"]]
    check("dns-log-tunnel", rc == 0 and not crash and a1 and a1 == a2,
          "\n pcap: %s\n zeek: %s\n%s" % (a1, a2, err[-300:]))
    check("dns-log-joined", st.get("joined_dns", 0) >= 1 and st.get("dns_dropped") == 0, str(st))
    check("dns-log-available", all("dns_tunnel" not in a.get("evidence_unavailable", [])
                                   for a in alerts(ev2)), "")
    only = os.path.join(tmp, "dns-conn-only")
    os.makedirs(only)
    shutil.copy(os.path.join(logs, "conn.log"), only)
    rc, ev3, _, err, crash = run(["--zeek", only, "--learn", "3d", "--no-flows"])
    check("dns-log-absent", rc == 0 and not crash and
          not [a for a in alerts(ev3) if "dns_tunnel" in a["evidence"]], err[-300:])


def syslog_unavailable(tmp):
    """The RFC 5424 structured data carries evidence_unavailable too, for SIEMs on syslog."""
    import socket
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]
    logs = generate(tmp, "tls_mega", "json")
    rc, ev, st, err, crash = run(["--zeek", logs, "--learn", "3d", "--no-flows",
                                  "--syslog", "udp://127.0.0.1:%d" % port])
    messages = []
    try:
        while len(messages) < len(alerts(ev)):
            messages.append(sock.recv(65536).decode("utf-8", "replace"))
    except socket.timeout:
        pass
    sock.close()
    check("syslog-unavailable", rc == 0 and messages and all(
        'evidence_unavailable="dns_tunnel,icmp_tunnel,smtp_exfil,packed_data"' in m for m in messages),
        "rc %s, %s" % (rc, messages[:1]))


def public_logs():
    """Zeek's own test baseline (pcaps/zeek/SOURCES.md): an FTP session with two passive
    and two active (PORT) data channels, all downloads."""
    rc, ev, st, err, crash = run(["--zeek", "pcaps/zeek/ftp-ipv4", "--home-net", "141.142.0.0/16"])
    flows = [e for e in ev if e.get("event_type") == "flow"]
    check("public-ftp-runs", rc == 0 and not crash and st.get("bad_lines") == 0, err[-400:])
    check("public-ftp-records", len(flows) == 5 and st.get("joined_ftp") == 4, str(st))
    # In end-time order; the control channel ends last.
    got = [(f["src_ip"], f["dest_port"], f["payload_bytes_toserver"], f["payload_bytes_toclient"],
            f["master_protocol"], f["tcp_state"]) for f in flows]
    want = [("141.142.220.235", 56666, 0, 342, "FTP_DATA", "closed"),
            ("141.142.220.235", 56667, 0, 77, "FTP_DATA", "closed"),
            ("199.233.217.249", 33582, 342, 0, "FTP_DATA", "closed"),
            ("199.233.217.249", 37835, 77, 0, "FTP_DATA", "closed"),
            ("141.142.220.235", 21, 180, 3146, "FTP_CONTROL", "closed")]
    check("public-ftp-values", got == want, str(got))
    check("public-ftp-no-alert", not alerts(ev), str(alerts(ev)))
    # The same log given as files, not a directory.
    rc, ev2, st, err, crash = run(["--zeek", "pcaps/zeek/ftp-ipv4/conn.log", "--zeek",
                                   "pcaps/zeek/ftp-ipv4/ftp.log", "--home-net", "141.142.0.0/16"])
    same = [(e["flow_id"], e["start"], e["end"], e["payload_bytes_toserver"])
            for e in ev2 if e.get("event_type") == "flow"] == \
        [(e["flow_id"], e["start"], e["end"], e["payload_bytes_toserver"]) for e in flows]
    check("public-ftp-files", rc == 0 and st.get("joined_ftp") == 4 and same, str(st))


HEADER = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
          "#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
          "service\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\torig_ip_bytes\t"
          "resp_pkts\tresp_ip_bytes\n")
GOOD = "1700000000.5\tCgood1\t10.1.1.1\t40000\t8.8.8.8\t443\ttcp\tssl\t1.5\t100\t200\tSF\t3\t220\t3\t320\n"


def hostile(tmp):
    d = os.path.join(tmp, "hostile")
    os.makedirs(d)
    bad = [
        "garbage without tabs",
        "1700000000.5\tCbad1\t10.1.1.1\t40000",                                   # too few columns
        GOOD.strip() + "\textra",                                                 # too many
        GOOD.strip().replace("8.8.8.8", "8.8.8.999"),                             # bad address
        GOOD.strip().replace("\t443\t", "\t70000\t"),                             # bad port
        GOOD.strip().replace("1700000000.5", "-5"),                               # bad time
        GOOD.strip().replace("\ttcp\t", "\tsctp\t"),                              # unknown proto
        GOOD.strip().replace("\t100\t", "\t1e9\t"),                               # bad count
        GOOD.strip().replace("\tCgood1\t", "\t-\t"),                              # unset uid
        "x" * 70000,                                                              # over-long
        '{"ts":1700000001,"uid":"Cj"',                                            # broken JSON
        "[1,2,3]",                                                                # not an object
        '{"ts":"yesterday","uid":"Cj2","id.orig_h":"10.1.1.1","id.orig_p":1,'
        '"id.resp_h":"8.8.4.4","id.resp_p":53,"proto":"udp"}',                    # bad ts
    ]
    escaped = GOOD.replace("\tssl\t", "\tss\\x6c\\x00\\x\t").replace("Cgood1", "Cgood2")
    json_good = ('{"ts":"2023-11-14T22:13:21.250000Z","uid":"Cgood3","id.orig_h":"10.1.1.2",'
                 '"id.orig_p":5353,"id.resp_h":"8.8.4.4","id.resp_p":53,"proto":"udp"}\n')
    json_v6 = ('{"ts":1700000002.0,"uid":"Cgood4","id.orig_h":"fd00::2","id.orig_p":5353,'
               '"id.resp_h":"2001:db8::1","id.resp_p":53,"proto":"udp","orig_bytes":40}\n')
    with open(os.path.join(d, "conn.log"), "w") as f:
        f.write(HEADER + GOOD + "\n".join(bad) + "\n" + escaped + json_good + json_v6)
    with open(os.path.join(d, "ssl.log"), "wb") as f:
        f.write(b"\x00\xff\xfe binary junk\n#fields\tuid\n\n")
    rc, ev, st, err, crash = run(["--zeek", d])
    flows = [e for e in ev if e.get("event_type") == "flow"]
    check("hostile-no-crash", rc == 0 and not crash, "rc %s %s" % (rc, err[-600:]))
    # The ssl.log junk line is bad too; '#fields uid' then an empty line is fine.
    check("hostile-counted", st.get("bad_lines") == len(bad) + 1 and len(flows) == 4,
          "%s, %d flows" % (st, len(flows)))
    ts = [f["start"] for f in flows]
    check("hostile-iso-time", "2023-11-14T22:13:21.250000Z" in ts, str(ts))


def setup_errors(tmp):
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    other = os.path.join(tmp, "weird.log")
    open(other, "w").close()
    for name, args, pattern in [
        ("missing", ["--zeek", os.path.join(tmp, "nope")], r"--zeek: .*nope: No such file"),
        ("no-conn", ["--zeek", empty], r"no conn.log"),
        ("unknown-log", ["--zeek", other], r"weird.log: not a log exflow reads"),
        ("with-pcap", ["--zeek", empty, "-r", "pcaps/golden/ftp.pcap"], r"not with -r or -i"),
    ]:
        rc, _, _, err, crash = run(args)
        check("error-" + name, rc == 2 and not crash and re.search(pattern, err), "rc %s: %s" %
              (rc, err.strip()[-300:]))


def main():
    tmp = tempfile.mkdtemp()
    try:
        scenario_matches(tmp)
        conn_only(tmp)
        dns_tunnel(tmp)
        syslog_unavailable(tmp)
        public_logs()
        hostile(tmp)
        setup_errors(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("zeek: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
