/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Every default exflow runs with, in one place, with its unit and the reason for it.
 * A default whose comment starts with [--name] is an option: the command line or the config
 * file can change it (main/options.c's table, exflow(8)). The others are fixed at build time:
 * limits that bound memory or work, and constants of the detection method.
 */
#ifndef EXFLOW_TUNABLES_H
#define EXFLOW_TUNABLES_H

#define USEC_PER_SEC 1000000ULL

/* The release, printed by --version and put in CEF headers. */
#define EXFLOW_VERSION "0.1.0"

/* capture/ */
#define DEFAULT_SNAPLEN          262144 /* [--snaplen] bytes: libpcap's own maximum, so no payload is cut */
#define DEFAULT_BUFFER_MB        64     /* [--buffer-size] MiB of kernel ring: absorbs bursts on a busy SPAN port */
#define DEFAULT_STATS_INTERVAL   60     /* [--stats-interval] seconds of wall time between stats lines in live mode */

/* flows/ */
#define DEFAULT_IDLE_TIMEOUT_TCP    300  /* [--idle-timeout] seconds: long enough for idle SSH/FTP control channels */
#define DEFAULT_IDLE_TIMEOUT_OTHER  60   /* [--udp-idle-timeout] seconds: UDP/ICMP have no close, so they age out sooner */
#define DEFAULT_ACTIVE_TIMEOUT      1800 /* [--active-timeout] seconds: long uploads still report every 30 minutes */
#define DEFAULT_BURST_GAP           30   /* [--burst-gap] seconds of pause in a TCP client's payload that end an
                                          * upload burst: each burst of a long connection is scored as a
                                          * transfer of its own, as DEFAULT_BEACON_MIN_PERIOD separates sessions */
#define DEFAULT_TCP_CLOSED_LINGER   5    /* seconds a closed TCP flow waits for stray last ACKs */
#define DEFAULT_FLOW_MEMORY_MB      512  /* [--flow-memory] MiB: hard cap on flow table memory; oldest flow evicted */
#define NDPI_MAX_PACKETS_PER_FLOW   32   /* packets nDPI sees before we give up and take its guess */

/* detect/ */
#define DEFAULT_MIN_UPLOAD_BYTES    (512 * 1024)   /* [--min-upload] bytes out (per connection, burst or schedule)
                                                    * before upload-heaviness counts: scripted
                                                    * exfiltration of a few 200 KB files adds up */
#define DEFAULT_PCR_THRESHOLD       0.5   /* [--pcr-threshold] PCR above this is upload-heavy (RITA/Bro's PCR scale) */
#define DEFAULT_BEACON_MIN_CONNS    4     /* [--beacon-min-conns] connections before a schedule is scored (as RITA) */
#define DEFAULT_BEACON_MIN_PERIOD   30    /* seconds: shorter gaps are sessions, not schedules */
#define DEFAULT_BEACON_MAX_PERIOD   (2 * 86400) /* seconds: daily jobs with slack */
#define DEFAULT_ALERT_THRESHOLD     0.6   /* [--alert-threshold] combined score in [0,1] that raises an alert */
#define DEFAULT_SUPPRESS_WINDOW     86400 /* [--suppress] seconds before a series whose shape changed re-alerts at
                                         * equal severity (the same shape never re-alerts): a
                                         * day, so a growing hourly job is one alert a day */
#define DEFAULT_LEARN_PERIOD        0     /* [--learn] seconds of packet time that only learn, never alert */
#define DEFAULT_BEACON_MIN_SCORE    0.6   /* regularity in [0,1] from which a series counts as a schedule */
#define DEFAULT_BEACON_MIN_CONN_BYTES (8 * 1024) /* bytes: median upload per scheduled session before a
                                                 * schedule counts as uploads; a TLS check-in with a small
                                                 * request sends 1-3 KB, so polling stays below */
#define DEFAULT_NEW_DEST_WINDOW     (7 * 86400) /* seconds a destination stays "new" after first use */
#define DEFAULT_STATE_SAVE_INTERVAL 300   /* seconds of packet time between state file writes */
#define DETECT_MAX_SERIES           65536 /* (host, destination) series kept; least recently used evicted */
#define DETECT_MAX_HOSTS            16384 /* internal hosts with a baseline; LRU evicted */
#define DETECT_MAX_DESTINATIONS     262144 /* first-seen entries kept in memory and in the state file */
#define DETECT_HTTP_PARSE_BYTES     16384 /* bytes of HTTP request lines/headers read per flow */
#define DETECT_FTP_PARSE_BYTES      65536 /* bytes of FTP control channel read per direction */
#define DETECT_FTP_EXPECT_AGE       600   /* seconds an announced FTP data channel waits for its flow */
#define DETECT_PARALLEL_MIN_STREAMS 3     /* overlapping uploads to one destination that make a burst */
#define DETECT_EVIDENCE_MIN_BYTES   (64 * 1024) /* bytes out (PCR above threshold) before a parallel
                                                 * stream or an SSH session counts as an upload */

/* detect/ shared first-seen state in Redis (--shared-state, docs/shared-state.md) */
#define SHARED_STATE_QUEUE_MAX      65536 /* updates held for Redis while it is away; oldest dropped */
#define SHARED_STATE_BATCH          256   /* claims sent per pipelined round trip */
#define SHARED_STATE_TIMEOUT_MS     2000  /* ms: connect and command timeout */
#define SHARED_STATE_RETRY_MS       1000  /* ms between reconnect attempts while Redis is down */
#define SHARED_STATE_FLUSH_MS       3000  /* ms at exit to send what is still queued */
#define SHARED_STATE_READY_MS       2000  /* ms at start to wait for the site's known destinations */

/* detect/ covert channels (docs/covert-channels.md) */
#define DNS_WINDOW                  3600  /* seconds: DNS evidence per (client, domain) adds up over
                                         * this window and the one before it (sliding, 1-2 h) */
#define DNS_TUNNEL_MIN_UNIQUE       60    /* distinct query names under one domain: a tunnel needs a
                                         * new name per chunk; a site's hosts are a handful */
#define DNS_TUNNEL_MIN_NAME_BYTES   4096  /* bytes carried in subdomain parts: ~4 KB is already
                                         * a password file or a few hundred credentials */
#define DNS_TUNNEL_MIN_MEAN_LEN     20    /* mean subdomain length in bytes: encoded chunks fill
                                         * labels, host names are short */
#define DNS_TUNNEL_MIN_ENTROPY      2.5   /* mean bits/byte of the subdomain parts: base32/64 chunks
                                         * score 4-5, but a tunnel's short idle polls pull the
                                         * mean down (a public iodine capture: 2.7); "www" is 0 */
#define DNS_LONG_NAME_LEN           40    /* subdomain bytes from which a name counts as long */
#define DNS_TUNNEL_HIGH_NAME_BYTES  (64 * 1024) /* name bytes that make a DNS tunnel high severity */
#define DNS_MAX_SERIES              65536 /* (client, domain) windows kept; least recently used evicted */
#define ICMP_TUNNEL_MIN_BYTES       8192  /* echo payload bytes (either way) before a flow is judged */
#define ICMP_TUNNEL_MAX_PATTERN_SHARE 0.5 /* above this share of fixed-pattern echoes it is a ping */
#define SMTP_MIN_TLS_BYTES          2048  /* client bytes after STARTTLS that mean a message went */
#define SMTP_ATTACHMENT_MIN_SCORE   0.72  /* score of SMTP with an attachment or >= 16 kB from a
                                         * workstation: medium */
#define SMTP_MIN_SCORE              0.65  /* any other message from a workstation: low */
#define SMTP_BIG_MESSAGE_BYTES      (16 * 1024)
#define SMALL_FTP_STOR_MIN_SCORE    0.7   /* first FTP use of a host, STOR to a new public server,
                                         * below --min-upload: medium (credential stealers send a
                                         * few hundred bytes) */
#define ICMP_TUNNEL_MIN_SCORE       0.75  /* echo payloads that are not a ping: medium */
#define MAIL_SERVERS_MAX            4096  /* learned internal mail servers kept */

#define DEFAULT_BULK_MIN_BYTES      (10 * 1000 * 1000) /* bytes: one upload to a new destination
                                                 * from which volume alone alerts; a mail
                                                 * attachment or a photo set stays below */
#define SCORE_BULK_BASE             0.50  /* bulk score at the floor: under the alert threshold
                                         * even for a new site; evidence lifts it */
#define SCORE_BULK_PER_DECADE       0.16  /* added per tenfold volume, no cap: 50 MB 0.61,
                                         * 500 MB 0.77, 5 GB 0.93; new site +0.05 */
#define SCORE_BULK_SITE_NEW         0.05  /* no host of the site ever used the destination */
#define SCORE_BULK_PROTOCOL         0.05  /* an explicit upload command (FTP, HTTP, SSH) */
#define SCORE_BULK_PACKED           0.10  /* an archive in the upload: packed before it left */
#define DETECT_PERSIST_BIN          3600  /* seconds per persistence bin: hourly, as RITA's histogram */
#define DETECT_PERSIST_MIN          0.75  /* share of the last 24 bins (at least 6) holding an upload
                                         * session from which a series is a schedule, however
                                         * jittered: +-50% on 30 min fills every hour */
#define DEFAULT_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat" /* Debian's
                                         * publicsuffix package: kept current by the distribution */
#define DETECT_FLAGGED_GEO_BONUS    0.15  /* score added when the destination's country or ASN
                                         * is flagged: enough to lift a schedule to an alert,
                                         * not enough to alert on volume alone */

/* output/ */
#define DEFAULT_SYSLOG_FACILITY   13        /* [--syslog-facility] "log audit": what SIEM parsers expect for security events */
#define DEFAULT_SPOOL_DIR         "/var/spool/exflow" /* [--spool-dir] */
#define DEFAULT_SPOOL_MAX_BYTES   (64ULL * 1024 * 1024) /* [--spool-max-bytes] bytes: ~30k alerts, days of a quiet sensor */
#define JSON_ROTATE_KEEP          5         /* FILE.1 .. FILE.5 kept on size rotation */
#define SYSLOG_MAX_MESSAGE        8192      /* bytes: under common UDP collector limits (rsyslog 8k) */
#define SYSLOG_BACKOFF_MIN_MS     1000      /* first reconnect after 1 s ... */
#define SYSLOG_BACKOFF_MAX_MS     60000     /* ... doubling up to one minute */
#define SYSLOG_CLOSE_FLUSH_MS     3000      /* output_close waits this long for the collector */
#define SYSLOG_OFFSET_SAVE_MS     1000      /* delivered offset written to disk at most this often */

/* collect/: flow exports (IPFIX, NetFlow v9) instead of packets. */
#define COLLECT_PAIR_WINDOW      30      /* seconds of flow time a one-way record waits for its reverse;
                                          * records also leave in end-time order within it */
#define COLLECT_PAIR_MAX         65536   /* records waiting to pair (~150 bytes each); full: all leave */
#define COLLECT_MAX_EXPORTERS    256     /* exporter sessions (templates); least recently heard dropped */
#define COLLECT_MAX_DOMAINS      16      /* observation domains per exporter: bounds template memory */
#define COLLECT_RCVBUF_BYTES     (8 * 1024 * 1024) /* socket buffer: exporters send in bursts */
#define COLLECT_MAX_TEMPLATES    64      /* template ids per observation domain; more are refused */
#define COLLECT_MAX_TEMPLATE_FIELDS 512  /* fields in one template; a longer one is refused */
#define COLLECT_TEMPLATE_BUDGET  262144  /* template fields held over all exporters (~140 bytes each in
                                          * libfixbuf); a template past it is refused */
#define COLLECT_MAX_TCP          64      /* IPFIX-over-TCP sessions at once (64 KiB buffer each);
                                          * more connections are refused */
#define COLLECT_IDLE_FLUSH       5       /* seconds of wall time without a datagram before waiting
                                          * records leave, so a quiet exporter's last flows are scored */

/* zeek/: Zeek logs instead of packets. */
#define ZEEK_LINE_MAX        65536   /* bytes in one log line; longer lines are skipped as bad */
#define ZEEK_DNS_BYTES       (256 * 1024) /* dns.log lookups kept per connection (~500 long
                                      * names with their responses); more are counted in dns_dropped */
#define ZEEK_DNS_TOTAL       (64 * 1024 * 1024) /* ... and over all connections */
#define ZEEK_VALUE_MAX       256     /* bytes kept of one field (names are cut there, as in flows) */
#define ZEEK_UID_MAX         262144  /* side-log (ssl/http/ftp) connections held for the join
                                      * (~800 bytes each); more are counted and lose their evidence */
#define ZEEK_REORDER_MAX     1048576 /* conn.log entries held to hand on in end-time order
                                      * (~170 bytes each); full: all are handed on and counted */
#endif
