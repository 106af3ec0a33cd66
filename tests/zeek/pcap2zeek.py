#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the Zeek logs Zeek would write for a set of pcaps (conn, ssl, http, ftp, dns), from
tshark's per-packet fields, so that --zeek can be compared with pcap mode on the same traffic
(Zeek itself is not packaged in Debian 12). files.log: one line per file a request uploaded
in a multipart form, with the filename of its Content-Disposition (Zeek 6's layout: uid
and id.* rather than conn_uids); Zeek's own mime_type comes from libmagic on the content,
which is left unset here.

    pcap2zeek.py --format tsv|json OUTDIR PCAP...

What follows Zeek: one conn.log entry per TCP connection (tshark's tcp.stream) or UDP
5-tuple split after 60 s of silence (udp_inactivity_timeout); the originator sent the SYN
(else the first packet); orig_bytes/resp_bytes are transport payload bytes, *_ip_bytes IP
bytes; conn_state from the flags (SF, S0, S1, S2, S3, RSTO, RSTR, OTH); service from what
tshark recognised. ssl.log carries the SNI, http.log one line per request with its
request_body_len (Content-Length), ftp.log the PASV/PORT lines that announce a data channel
(data_channel.*) and the transfer commands, as Zeek logs them; dns.log one line per query
with its rcode once the response came (written only when there was DNS). ICMP is left out.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.len", "ipv6.plen",
    "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.len", "tcp.flags.syn", "tcp.flags.ack",
    "tcp.flags.fin", "tcp.flags.reset", "udp.srcport", "udp.dstport", "udp.length",
    "tls.handshake.extensions_server_name", "http.request.method", "http.host",
    "http.request.uri", "http.content_length", "ftp.request.command", "ftp.request.arg",
    "ftp.response.code", "ftp.passive.ip", "ftp.passive.port", "ftp.active.cip",
    "ftp.active.port", "ssh.protocol", "dns.qry.name", "dns.qry.type", "dns.id",
    "dns.flags.response", "dns.flags.rcode", "udp.payload",
    "mime_multipart.header.content-disposition",
]
UDP_IDLE = 60.0

CONN_FIELDS = [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
               ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"),
               ("service", "string"), ("duration", "interval"), ("orig_bytes", "count"),
               ("resp_bytes", "count"), ("conn_state", "string"), ("local_orig", "bool"),
               ("local_resp", "bool"), ("missed_bytes", "count"), ("history", "string"),
               ("orig_pkts", "count"), ("orig_ip_bytes", "count"), ("resp_pkts", "count"),
               ("resp_ip_bytes", "count"), ("tunnel_parents", "set[string]")]
ID_FIELDS = CONN_FIELDS[:6]
SSL_FIELDS = ID_FIELDS + [("version", "string"), ("cipher", "string"), ("curve", "string"),
                          ("server_name", "string"), ("resumed", "bool"),
                          ("established", "bool")]
HTTP_FIELDS = ID_FIELDS + [("trans_depth", "count"), ("method", "string"), ("host", "string"),
                           ("uri", "string"), ("user_agent", "string"),
                           ("request_body_len", "count"), ("response_body_len", "count"),
                           ("status_code", "count")]
FTP_FIELDS = ID_FIELDS + [("user", "string"), ("password", "string"), ("command", "string"),
                          ("arg", "string"), ("mime_type", "string"), ("file_size", "count"),
                          ("reply_code", "count"), ("reply_msg", "string"),
                          ("data_channel.passive", "bool"), ("data_channel.orig_h", "addr"),
                          ("data_channel.resp_h", "addr"), ("data_channel.resp_p", "port"),
                          ("fuid", "string")]
FILES_FIELDS = [("ts", "time"), ("fuid", "string"), ("uid", "string"), ("id.orig_h", "addr"),
                ("id.orig_p", "port"), ("id.resp_h", "addr"), ("id.resp_p", "port"),
                ("source", "string"), ("depth", "count"), ("analyzers", "set[string]"),
                ("mime_type", "string"), ("filename", "string"), ("duration", "interval"),
                ("is_orig", "bool"), ("seen_bytes", "count"), ("total_bytes", "count")]
DNS_FIELDS = ID_FIELDS + [("proto", "enum"), ("trans_id", "count"), ("query", "escaped"),
                          ("qclass", "count"), ("qtype", "count"), ("rcode", "count")]


def packets(pcap):
    cmd = ["tshark", "-r", pcap, "-n", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        yield dict(zip(FIELDS, cols))


class Conn:
    def __init__(self, key, proto, ts, src, sport, dst, dport):
        self.key, self.proto, self.ts, self.last = key, proto, ts, ts
        self.orig = (src, sport)
        self.resp = (dst, dport)
        self.bytes = [0, 0]
        self.pkts = [0, 0]
        self.ip_bytes = [0, 0]
        self.syn = [False, False]
        self.synack = False
        self.fin = [False, False]
        self.rst = [False, False]
        self.service = set()
        self.sni = None
        self.requests = []   # (ts, method, host, uri, body_len)
        self.ftp = []        # (ts, command, arg, dc) with dc = (passive, orig_h, resp_h, resp_p)
        self.dns = []        # [ts, trans_id, query, qtype, rcode or None]
        self.files = []      # (ts, filename) of files uploaded in multipart requests
        self.uid = "C" + hashlib.sha1(repr(key).encode()).hexdigest()[:17]


def num(text, default=0):
    try:
        return int(text)
    except ValueError:
        return default


def dns_message(c, p, ts):
    """A query opens a dns.log line; its response (same id) fills in the rcode."""
    trans_id = num(p["dns.id"], -1) if not p["dns.id"].startswith("0x") else int(p["dns.id"], 16)
    if p["dns.flags.response"] in ("1", "True"):
        for q in reversed(c.dns):
            if q[1] == trans_id and q[4] is None:
                q[4] = num(p["dns.flags.rcode"])
                break
    else:
        c.dns.append([ts, trans_id, dns_query_text(p), num(p["dns.qry.type"], 1), None])


def dns_query_text(p):
    """The query name as Zeek logs it: the raw label bytes joined by '.', every byte outside
    printable ASCII (and the backslash) as \\xHH. tshark's own rendering replaces such
    bytes, which tunnels are full of, so the name is read from the UDP payload."""
    try:
        data = bytes.fromhex(p["udp.payload"].replace(":", ""))
    except ValueError:
        data = b""
    labels, pos = [], 12
    while pos < len(data) and 0 < data[pos] < 64 and pos + 1 + data[pos] <= len(data):
        labels.append(data[pos + 1:pos + 1 + data[pos]])
        pos += 1 + data[pos]
    if not labels:
        return escape(p["dns.qry.name"])
    return "".join(chr(b) if 0x20 <= b < 0x7f and b != 0x5c else "\\x%02x" % b
                   for b in b".".join(labels))


def read_conns(pcaps):
    conns, live = [], {}
    for index, pcap in enumerate(pcaps):
        for p in packets(pcap):
            ts = float(p["frame.time_epoch"])
            src = p["ip.src"] or p["ipv6.src"]
            dst = p["ip.dst"] or p["ipv6.dst"]
            if not src:
                continue
            ip_len = num(p["ip.len"]) if p["ip.src"] else num(p["ipv6.plen"]) + 40
            if p["tcp.stream"]:
                proto, sport, dport = "tcp", num(p["tcp.srcport"]), num(p["tcp.dstport"])
                key = (index, "tcp", p["tcp.stream"])
                payload = num(p["tcp.len"])
            elif p["udp.srcport"]:
                proto, sport, dport = "udp", num(p["udp.srcport"]), num(p["udp.dstport"])
                ends = sorted([(src, sport), (dst, dport)])
                key = (index, "udp", tuple(ends))
                payload = max(num(p["udp.length"]) - 8, 0)
            else:
                continue
            c = live.get(key)
            if c is not None and proto == "udp" and ts - c.last > UDP_IDLE:
                c = None
            syn, ack = p["tcp.flags.syn"] in ("1", "True"), p["tcp.flags.ack"] in ("1", "True")
            if c is None:
                if proto == "tcp" and syn and ack:   # joined at the SYN-ACK: the receiver opened it
                    c = Conn((key, ts), proto, ts, dst, dport, src, sport)
                else:
                    c = Conn((key, ts), proto, ts, src, sport, dst, dport)
                live[key] = c
                conns.append(c)
            d = 0 if (src, sport) == c.orig else 1
            c.last = max(c.last, ts)
            c.pkts[d] += 1
            c.bytes[d] += payload
            c.ip_bytes[d] += ip_len
            if proto == "tcp":
                c.syn[d] |= syn and not ack
                c.synack |= syn and ack
                c.fin[d] |= p["tcp.flags.fin"] in ("1", "True")
                c.rst[d] |= p["tcp.flags.reset"] in ("1", "True")
            if p["tls.handshake.extensions_server_name"]:
                c.sni = c.sni or p["tls.handshake.extensions_server_name"]
                c.service.add("ssl")
            if p["ssh.protocol"]:
                c.service.add("ssh")
            if p["dns.qry.name"]:
                c.service.add("dns")
                dns_message(c, p, ts)
            if p["http.request.method"] and d == 0:
                c.service.add("http")
                c.requests.append((ts, p["http.request.method"], p["http.host"],
                                   p["http.request.uri"], num(p["http.content_length"])))
                m = re.search(r'filename="([^"]*)"', p["mime_multipart.header.content-disposition"])
                if m:
                    c.files.append((ts, m.group(1)))
            ftp_data_channel(c, p, ts, d)
    return conns


def ftp_data_channel(c, p, ts, d):
    """ftp.log lines as Zeek writes them: the PASV/PORT line with the data channel, then the
    transfer command."""
    command, code = p["ftp.request.command"], p["ftp.response.code"]
    if command or code:
        c.service.add("ftp")
    if d == 1 and code in ("227", "229") and p["ftp.passive.port"]:
        ip = p["ftp.passive.ip"] or c.resp[0]
        c.ftp.append((ts, "PASV", "", (True, c.orig[0], ip, num(p["ftp.passive.port"]))))
    elif d == 0 and command in ("PORT", "EPRT") and p["ftp.active.port"]:
        c.ftp.append((ts, command, p["ftp.request.arg"],
                      (False, c.resp[0], p["ftp.active.cip"], num(p["ftp.active.port"]))))
    elif d == 0 and command in ("STOR", "STOU", "APPE", "RETR"):
        c.ftp.append((ts, command, p["ftp.request.arg"], None))


def conn_state(c):
    if c.proto != "tcp":
        return "SF" if c.pkts[1] else "S0"
    if c.rst[0]:
        return "RSTO"
    if c.rst[1]:
        return "RSTR"
    if not c.syn[0]:
        return "OTH"
    if not c.synack:
        return "S0"
    if c.fin[0] and c.fin[1]:
        return "SF"
    if c.fin[0]:
        return "S2"
    if c.fin[1]:
        return "S3"
    return "S1"


def ids(c):
    return [c.ts, c.uid, c.orig[0], c.orig[1], c.resp[0], c.resp[1]]


def escape(text):
    out = []
    for ch in str(text):
        if ch == "\\" or ch == "\t" or not ch.isprintable():
            out.extend("\\x%02x" % b for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def tsv_value(value, kind):
    if value is None:
        return "-"
    if kind == "time":
        return "%.6f" % value
    if kind == "interval":
        return "%.6f" % value
    if kind == "bool":
        return "T" if value else "F"
    if kind.startswith("set["):
        return ",".join(escape(v) for v in value) if value else "(empty)"
    if value == "":
        return "(empty)"
    return value if kind == "escaped" else escape(value)


def write_log(outdir, path, fields, rows, fmt):
    name = os.path.join(outdir, path + ".log")
    with open(name, "w", encoding="utf-8") as out:
        if fmt == "json":
            for row in rows:
                obj = {}
                for (field, kind), value in zip(fields, row):
                    kind = "string" if kind == "escaped" else kind
                    if value is None or (kind.startswith("set[") and not value):
                        continue   # Zeek's JSON writer leaves unset fields out
                    obj[field] = sorted(value) if kind.startswith("set[") else value
                out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            return
        out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n")
        out.write("#unset_field\t-\n#path\t%s\n#open\t2026-03-09-00-00-00\n" % path)
        out.write("#fields\t" + "\t".join(f for f, _ in fields) + "\n")
        out.write("#types\t" + "\t".join("string" if k == "escaped" else k for _, k in fields) + "\n")
        for row in rows:
            out.write("\t".join(tsv_value(v, k) for (_, k), v in zip(fields, row)) + "\n")
        out.write("#close\t2026-03-10-00-00-00\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["tsv", "json"], default="tsv")
    ap.add_argument("outdir")
    ap.add_argument("pcaps", nargs="+")
    args = ap.parse_args()
    conns = read_conns(args.pcaps)
    # Zeek marks a data channel it was told about as ftp-data.
    announced = {(dc[1], dc[2], dc[3]) for c in conns for _, _, _, dc in c.ftp if dc}
    for c in conns:
        if (c.orig[0], c.resp[0], c.resp[1]) in announced:
            c.service.add("ftp-data")
    os.makedirs(args.outdir, exist_ok=True)
    rows = []
    for c in conns:
        rows.append(ids(c) + [c.proto, ",".join(sorted(c.service)) or None, c.last - c.ts,
                              c.bytes[0], c.bytes[1], conn_state(c), None, None, 0, None,
                              c.pkts[0], c.ip_bytes[0], c.pkts[1], c.ip_bytes[1], set()])
    write_log(args.outdir, "conn", CONN_FIELDS, rows, args.format)
    write_log(args.outdir, "ssl", SSL_FIELDS,
              [ids(c) + [None, None, None, c.sni, False, True] for c in conns if c.sni],
              args.format)
    http = []
    for c in conns:
        for depth, (ts, method, host, uri, body) in enumerate(c.requests, 1):
            http.append([ts] + ids(c)[1:] + [depth, method, host or None, uri or None, None,
                                             body, 0, None])
    write_log(args.outdir, "http", HTTP_FIELDS, http, args.format)
    ftp = []
    for c in conns:
        for ts, command, arg, dc in c.ftp:
            dc_cols = [dc[0], dc[1], dc[2], dc[3]] if dc else [None] * 4
            ftp.append([ts] + ids(c)[1:] + [None, None, command, arg or None, None, None, None,
                                            None] + dc_cols + [None])
    write_log(args.outdir, "ftp", FTP_FIELDS, ftp, args.format)
    dns = [[ts] + ids(c)[1:] + [c.proto, trans_id, query, 1, qtype, rcode]
           for c in conns for ts, trans_id, query, qtype, rcode in c.dns]
    if dns:
        write_log(args.outdir, "dns", DNS_FIELDS, dns, args.format)
    files = [[ts, "F" + hashlib.sha1(repr((c.uid, ts)).encode()).hexdigest()[:17]] + ids(c)[1:]
             + ["HTTP", 0, set(), None, name, 0.0, True, None, None]
             for c in conns for ts, name in c.files]
    if files:
        write_log(args.outdir, "files", FILES_FIELDS, files, args.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
