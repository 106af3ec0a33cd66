/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * capture/capture.c: the libpcap side of capture/. Opens a live interface or a list of
 * pcap/pcapng files, reads frames with pcap_dispatch, hands each to capture_decode and
 * counts what could not be decoded. A bad input file is warned about once and skipped;
 * nothing a frame contains stops the run.
 */
#include "capture.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "../common/tunables.h"

/* Milliseconds the kernel may hold packets in a ring block before handing it over (live,
 * without --immediate). Short next to every flow timeout, so a packet is never late enough
 * to split its flow; long enough that a busy link is handed over in full blocks, one wakeup
 * for many packets. Ticks do not depend on it: the poll in capture_wait_readable ends at
 * the next tick. */
#define CAPTURE_READ_TIMEOUT_MS 100

/* Frames handed over per pcap_dispatch call on files: bounds the time between checks of
 * the stop flag without paying a call per frame. */
#define CAPTURE_FILE_BATCH 4096
/* stdio buffer of a capture file: one read() per MiB instead of per 4 KiB. */
#define CAPTURE_FILE_BUFFER (1 << 20)

/* Wall-time period of the tick callback in live mode. */
#define CAPTURE_TICK_MSEC 1000

struct capture {
    bool live;
    char *interface;
    char **files;             /* offline inputs, read in order; "-" is stdin */
    int file_count;
    int file_index;           /* index of the file in pcap, or of the next one to open */
    uint64_t *file_sizes;     /* offline: each file's size, 0 when unknown (progress only) */
    uint64_t bytes_done;      /* sizes of the files read to their end */
    char *bpf_filter;         /* NULL: everything */
    pcap_t *pcap;             /* the open input, NULL between files */
    char *file_buffer;        /* stdio buffer of the open file; stdin uses a static one */
    int linktype;             /* DLT of the open input */
    bool linktype_ok;         /* capture_decode understands linktype */
    int status;               /* capture_run's result: 1 once any input went wrong */
    _Atomic int stop_requested;    /* set from a signal handler or another thread (fanout) */
    struct capture_stats stats;
    const struct capture_callbacks *callbacks; /* set during capture_run */
    uint64_t last_tick_msec;
    uint64_t last_progress_msec;
    int fanout_group;         /* the AF_PACKET fanout group's id, -1 for none */
};

static uint64_t monotonic_msec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Name used in messages: stdin reads better than "-". */
static const char *file_display_name(const char *file)
{
    return strcmp(file, "-") == 0 ? "(stdin)" : file;
}

static const char *linktype_display_name(int linktype, char *buf, size_t buf_len)
{
    const char *name = pcap_datalink_val_to_name(linktype);
    const char *description = pcap_datalink_val_to_description(linktype);
    if (name != NULL && description != NULL)
        snprintf(buf, buf_len, "%s (%s, %d)", name, description, linktype);
    else
        snprintf(buf, buf_len, "%d", linktype);
    return buf;
}

/* Compiles and installs the BPF filter on the open input. On failure err says why. */
static bool capture_apply_filter(struct capture *capture, bpf_u_int32 netmask, char *err,
                                 size_t err_len)
{
    if (capture->bpf_filter == NULL)
        return true;
    struct bpf_program program;
    if (pcap_compile(capture->pcap, &program, capture->bpf_filter, 1, netmask) != 0) {
        snprintf(err, err_len, "bad filter \"%s\": %s", capture->bpf_filter,
                 pcap_geterr(capture->pcap));
        return false;
    }
    int rc = pcap_setfilter(capture->pcap, &program);
    pcap_freecode(&program);
    if (rc != 0) {
        snprintf(err, err_len, "cannot install filter \"%s\": %s", capture->bpf_filter,
                 pcap_geterr(capture->pcap));
        return false;
    }
    return true;
}

/* Closes the open input. The pointer is cleared first so that a capture_stop() from a
 * signal handler never calls pcap_breakloop on a closed handle. */
static void capture_close_input(struct capture *capture)
{
    pcap_t *pcap = capture->pcap;
    capture->pcap = NULL;
    if (pcap != NULL)
        pcap_close(pcap); /* closes the FILE too, stdin aside */
    free(capture->file_buffer);
    capture->file_buffer = NULL;
}

/* Turns libpcap's reason for refusing a file into one line that names the file. */
static void describe_open_error(const char *file, const char *pcap_err, char *err,
                                size_t err_len)
{
    const char *name = file_display_name(file);
    struct stat st;
    if (strcmp(file, "-") != 0 && stat(file, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, err_len, "%s: is a directory, not a capture file", name);
            return;
        }
        if (S_ISREG(st.st_mode) && st.st_size == 0) {
            snprintf(err, err_len, "%s: empty file, not a pcap or pcapng capture", name);
            return;
        }
    }
    if (strcmp(pcap_err, "unknown file format") == 0)
        snprintf(err, err_len, "%s: not a pcap or pcapng file (unknown file format)", name);
    else if (strstr(pcap_err, file) != NULL) /* libpcap's errno messages name the file */
        snprintf(err, err_len, "%s", pcap_err);
    else
        snprintf(err, err_len, "%s: %s", name,
                 pcap_err[0] != '\0' ? pcap_err : "cannot read as pcap or pcapng");
}

/* Opens files[index] with microsecond timestamps and the filter. On failure err names the
 * file and the reason, and no input is left open. */
static bool capture_open_file(struct capture *capture, int index, char *err, size_t err_len)
{
    const char *file = capture->files[index];
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    /* The file is opened here rather than by libpcap to give it a large stdio buffer: with
     * the default (4 KiB) a 2 GB capture costs half a million read() calls. */
    static char stdin_buffer[CAPTURE_FILE_BUFFER];
    FILE *stream = stdin;
    char *buffer = stdin_buffer;
    if (strcmp(file, "-") != 0) {
        stream = fopen(file, "rb");
        buffer = malloc(CAPTURE_FILE_BUFFER);
        if (stream == NULL || buffer == NULL) {
            /* libpcap's own wording, which describe_open_error recognises */
            snprintf(pcap_err, sizeof(pcap_err), "%s: %s", file,
                     strerror(stream == NULL ? errno : ENOMEM));
            if (stream != NULL)
                fclose(stream);
            free(buffer);
            describe_open_error(file, pcap_err, err, err_len);
            return false;
        }
    }
    /* stdin's buffer is set once, before its first read: setvbuf on a stream already read
     * from could drop what it holds. */
    static bool stdin_buffered;
    if (stream != stdin || !stdin_buffered)
        setvbuf(stream, buffer, _IOFBF, CAPTURE_FILE_BUFFER);
    if (stream == stdin)
        stdin_buffered = true;
    /* Only this thread reads the stream: libpcap's two freads a packet need not take and
     * release its lock (atomic operations, since the process has other threads). */
    __fsetlocking(stream, FSETLOCKING_BYCALLER);
    /* Nanosecond files are scaled to microseconds. */
    capture->pcap = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_MICRO,
                                                             pcap_err);
    if (capture->pcap == NULL) {
        if (stream != stdin) {
            fclose(stream);
            free(buffer);
        }
        describe_open_error(file, pcap_err, err, err_len);
        return false;
    }
    capture->file_buffer = buffer != stdin_buffer ? buffer : NULL;
    capture->file_index = index;
    capture->linktype = pcap_datalink(capture->pcap);
    capture->linktype_ok = capture_linktype_supported(capture->linktype);
    char filter_err[PCAP_ERRBUF_SIZE + 256];
    if (!capture_apply_filter(capture, PCAP_NETMASK_UNKNOWN, filter_err, sizeof(filter_err))) {
        snprintf(err, err_len, "%s: %s", file_display_name(file), filter_err);
        capture_close_input(capture);
        return false;
    }
    return true;
}

/* Turns a failed pcap_activate into one line a user can act on. */
static void describe_activate_error(pcap_t *pcap, int rc, const char *interface, char *err,
                                    size_t err_len)
{
    const char *detail = pcap_geterr(pcap);
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        snprintf(err, err_len, "no such interface: %s (%s)", interface, detail);
        break;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        snprintf(err, err_len,
                 "%s: permission denied: run as root or give exflow CAP_NET_RAW and "
                 "CAP_NET_ADMIN (%s)", interface, detail);
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        snprintf(err, err_len, "%s: interface is down", interface);
        break;
    default:
        snprintf(err, err_len, "%s: %s%s%s", interface, pcap_statustostr(rc),
                 detail[0] != '\0' ? ": " : "", detail);
        break;
    }
}

/* The fanout group's program (classic BPF, run by the kernel on each packet before any
 * member sees it): returns a number the kernel takes modulo the group size. It XORs the
 * source and destination addresses, so the answer is the same both ways and for any ports
 * (an FTP data channel meets its control channel), then mixes the bits. Loads are relative
 * to the network header (SKF_NET_OFF), which holds on any link type; skb->protocol says
 * IPv4 or IPv6 after the kernel has taken VLAN tags off. Anything else goes to member 0. */
#define NET(off) ((uint32_t)(SKF_NET_OFF + (off)))
static const struct sock_filter fanout_by_address_pair[] = {
    /*  0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL)),
    /*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 4),     /* IPv4, else 6 */
    /*  2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),           /* source */
    /*  3 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /*  4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),           /* destination */
    /*  5 */ BPF_STMT(BPF_JMP | BPF_JA, 22),                        /* to 28 */
    /*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 27),    /* IPv6, else 34 */
    /*  7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(8)),            /* 8 words: both addresses */
    /*  8 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /*  9 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),
    /* 10 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 11 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),
    /* 13 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 14 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 15 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(20)),
    /* 16 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 17 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 18 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(24)),
    /* 19 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 20 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 21 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(28)),
    /* 22 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 23 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 24 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(32)),
    /* 25 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 26 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 27 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(36)),
    /* 28 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),              /* A = one ^ other */
    /* 29 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),
    /* 30 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
    /* 31 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
    /* 32 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
    /* 33 */ BPF_STMT(BPF_RET | BPF_A, 0),
    /* 34 */ BPF_STMT(BPF_RET | BPF_K, 0),
};
#undef NET

static bool capture_join_fanout(struct capture *capture, const struct capture_config *config,
                                char *err, size_t err_len)
{
    int fd = pcap_fileno(capture->pcap);
    bool start = config->fanout == CAPTURE_FANOUT_START;
    /* Id 0 with UNIQUEID: the kernel picks an id no group on this host has. */
    int mode = PACKET_FANOUT_CBPF | (start ? PACKET_FANOUT_FLAG_UNIQUEID : 0);
    int arg = (start ? 0 : config->fanout_group) | mode << 16;
    struct sock_fprog program = {
        .len = sizeof(fanout_by_address_pair) / sizeof(fanout_by_address_pair[0]),
        .filter = (struct sock_filter *)fanout_by_address_pair,
    };
    int joined = 0;
    socklen_t joined_len = sizeof(joined);
    if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &program, sizeof(program)) != 0 ||
        getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &joined, &joined_len) != 0) {
        char what[48] = "start an AF_PACKET fanout group";
        if (!start)
            snprintf(what, sizeof(what), "join AF_PACKET fanout group %u", config->fanout_group);
        snprintf(err, err_len, "%s: cannot %s: %s", capture->interface, what,
                 fd < 0 ? "no socket" : strerror(errno));
        return false;
    }
    capture->fanout_group = joined & 0xffff; /* the id; its type and flags are above it */
    return true;
}

static bool capture_open_live(struct capture *capture, const struct capture_config *config,
                              char *err, size_t err_len)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    capture->pcap = pcap_create(capture->interface, pcap_err);
    if (capture->pcap == NULL) {
        snprintf(err, err_len, "%s: %s", capture->interface, pcap_err);
        return false;
    }
    int snaplen = config->snaplen > 0 ? config->snaplen : DEFAULT_SNAPLEN;
    int buffer_mb = config->buffer_size_mb > 0 ? config->buffer_size_mb : DEFAULT_BUFFER_MB;
    pcap_set_snaplen(capture->pcap, snaplen);
    pcap_set_promisc(capture->pcap, config->promiscuous ? 1 : 0);
    pcap_set_immediate_mode(capture->pcap, config->immediate ? 1 : 0);
    pcap_set_timeout(capture->pcap, CAPTURE_READ_TIMEOUT_MS);
    if (buffer_mb > 2047) /* pcap_set_buffer_size takes an int of bytes */
        buffer_mb = 2047;
    pcap_set_buffer_size(capture->pcap, buffer_mb * 1024 * 1024);

    int rc = pcap_activate(capture->pcap);
    if (rc < 0) {
        describe_activate_error(capture->pcap, rc, capture->interface, err, err_len);
        return false;
    }
    if (rc > 0)
        LOG_WARN("%s: %s: %s", capture->interface, pcap_statustostr(rc),
                 pcap_geterr(capture->pcap));

    capture->linktype = pcap_datalink(capture->pcap);
    capture->linktype_ok = capture_linktype_supported(capture->linktype);
    if (!capture->linktype_ok) {
        char name[256];
        snprintf(err, err_len, "%s: link type %s is not one exflow decodes (Ethernet, Linux "
                 "cooked, raw IP, BSD loopback, PPP)", capture->interface,
                 linktype_display_name(capture->linktype, name, sizeof(name)));
        return false;
    }

    /* The netmask only matters for "ip broadcast" filters; unknown is fine without it. */
    bpf_u_int32 net = 0, netmask = PCAP_NETMASK_UNKNOWN;
    if (pcap_lookupnet(capture->interface, &net, &netmask, pcap_err) != 0)
        netmask = PCAP_NETMASK_UNKNOWN;
    if (!capture_apply_filter(capture, netmask, err, err_len))
        return false;
    if (config->fanout != CAPTURE_FANOUT_NONE && !capture_join_fanout(capture, config, err,
                                                                      err_len))
        return false;

    /* Non-blocking reads driven by poll() let capture_run tick on time whatever the
     * traffic; where there is no selectable descriptor, blocking reads with the timeout. */
    if (pcap_get_selectable_fd(capture->pcap) >= 0 &&
        pcap_setnonblock(capture->pcap, 1, pcap_err) != 0)
        LOG_WARN("%s: cannot make capture non-blocking: %s", capture->interface, pcap_err);
    return true;
}

static char *copy_string(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

struct capture *capture_open(const struct capture_config *config, char *err, size_t err_len)
{
    struct capture *capture = calloc(1, sizeof(*capture));
    if (capture == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    capture->fanout_group = -1;
    bool has_files = config->files != NULL && config->file_count > 0;
    if (config->interface != NULL && has_files) {
        snprintf(err, err_len, "give either an interface or capture files, not both");
        goto fail;
    }
    if (config->interface == NULL && !has_files) {
        snprintf(err, err_len, "no interface and no capture file to read");
        goto fail;
    }

    /* Copies, so the caller's option strings need not outlive the capture. */
    if (config->bpf_filter != NULL && config->bpf_filter[0] != '\0') {
        capture->bpf_filter = copy_string(config->bpf_filter);
        if (capture->bpf_filter == NULL)
            goto out_of_memory;
    }
    if (config->interface != NULL) {
        capture->live = true;
        capture->interface = copy_string(config->interface);
        if (capture->interface == NULL)
            goto out_of_memory;
        if (!capture_open_live(capture, config, err, err_len))
            goto fail;
        return capture;
    }

    capture->files = calloc((size_t)config->file_count, sizeof(*capture->files));
    if (capture->files == NULL)
        goto out_of_memory;
    capture->file_count = config->file_count;
    for (int i = 0; i < config->file_count; i++) {
        if (config->files[i] == NULL) {
            snprintf(err, err_len, "capture file %d has no name", i + 1);
            goto fail;
        }
        capture->files[i] = copy_string(config->files[i]);
        if (capture->files[i] == NULL)
            goto out_of_memory;
    }
    /* Every file is checked now so that a typo or a non-pcap file anywhere in the list stops
     * the program before anything is set up, not hours into a batch. Later files are opened
     * again in turn (and only warned about if they changed meanwhile, or if the filter does
     * not fit their link type); stdin cannot be probed twice, so it is checked when it comes. */
    for (int i = 1; i < config->file_count; i++) {
        if (strcmp(capture->files[i], "-") == 0)
            continue;
        char pcap_err[PCAP_ERRBUF_SIZE] = "";
        pcap_t *probe = pcap_open_offline(capture->files[i], pcap_err);
        if (probe == NULL) {
            describe_open_error(capture->files[i], pcap_err, err, err_len);
            goto fail;
        }
        pcap_close(probe);
    }
    capture->file_sizes = calloc((size_t)config->file_count, sizeof(*capture->file_sizes));
    if (capture->file_sizes == NULL)
        goto out_of_memory;
    for (int i = 0; i < config->file_count; i++) {
        struct stat st;
        if (strcmp(capture->files[i], "-") != 0 && stat(capture->files[i], &st) == 0 &&
            S_ISREG(st.st_mode))
            capture->file_sizes[i] = (uint64_t)st.st_size;
    }
    if (!capture_open_file(capture, 0, err, err_len))
        goto fail;
    return capture;

out_of_memory:
    snprintf(err, err_len, "out of memory");
fail:
    capture_close(capture);
    return NULL;
}

/* Calls the tick callback and remembers when. */
static void capture_tick(struct capture *capture)
{
    capture->last_tick_msec = monotonic_msec();
    if (capture->callbacks->tick != NULL)
        capture->callbacks->tick(capture->callbacks->user);
}

/* libpcap's per-frame callback: decode, then either deliver or count the reason. */
static void capture_handle_frame(u_char *user, const struct pcap_pkthdr *header,
                                 const u_char *bytes)
{
    struct capture *capture = (struct capture *)user;
    struct capture_stats *stats = &capture->stats;
    stats->frames++;
    stats->bytes += header->len;

    /* Files store unsigned seconds; a negative time_t is a corrupt header, read as zero. */
    uint64_t seconds = header->ts.tv_sec > 0 ? (uint64_t)header->ts.tv_sec : 0;
    uint64_t micros = header->ts.tv_usec > 0 ? (uint64_t)header->ts.tv_usec : 0;
    uint64_t ts_usec = seconds * USEC_PER_SEC + micros;

    struct packet packet;
    enum decode_reason reason;
    if (capture->linktype_ok)
        reason = capture_decode(capture->linktype, bytes, header->caplen, header->len,
                                ts_usec, &packet);
    else
        reason = DECODE_UNSUPPORTED_LINK;
    if (reason != DECODE_OK) {
        stats->skipped[reason < DECODE_REASON_COUNT ? reason : DECODE_UNSUPPORTED_LINK]++;
        return;
    }
    stats->decoded++;
    if (capture->callbacks->packet != NULL)
        capture->callbacks->packet(capture->callbacks->user, &packet);
}

/* Reads the open file to its end. Returns false when it ended in a read error. */
static bool capture_read_file(struct capture *capture)
{
    const char *name = file_display_name(capture->files[capture->file_index]);
    if (!capture->linktype_ok) {
        /* Its frames are still read, so they show up in the counters as unsupported_link
         * instead of vanishing. */
        char linktype[256];
        LOG_WARN("%s: link type %s is not one exflow decodes; its frames are counted as "
                 "skipped_unsupported_link", name,
                 linktype_display_name(capture->linktype, linktype, sizeof(linktype)));
        capture->status = 1;
    }
    for (;;) {
        if (capture->stop_requested)
            return true;
        int n = pcap_dispatch(capture->pcap, CAPTURE_FILE_BATCH, capture_handle_frame,
                              (u_char *)capture);
        if (n == 0)
            return true;
        if (n == PCAP_ERROR_BREAK)
            return true;
        /* A stop signal interrupts a blocked read of a pipe with EINTR: that is the stop
         * asked for, not a damaged file. */
        if (n < 0 && capture->stop_requested)
            return true;
        if (n < 0) {
            LOG_WARN("%s: read error, the rest of the file is skipped: %s", name,
                     pcap_geterr(capture->pcap));
            return false;
        }
        if (capture->callbacks->progress != NULL &&
            monotonic_msec() - capture->last_progress_msec >= CAPTURE_TICK_MSEC) {
            capture->last_progress_msec = monotonic_msec();
            capture->callbacks->progress(capture->callbacks->user);
        }
    }
}

void capture_get_progress(const struct capture *capture, struct capture_progress *progress)
{
    memset(progress, 0, sizeof(*progress));
    progress->file_count = capture->file_count;
    progress->files_done = capture->file_index;
    progress->bytes_read = capture->bytes_done;
    for (int i = 0; i < capture->file_count && capture->file_sizes != NULL; i++)
        progress->bytes_total += capture->file_sizes[i];
    if (capture->pcap != NULL && capture->file_sizes != NULL &&
        capture->file_sizes[capture->file_index] > 0) {
        off_t at = ftello(pcap_file(capture->pcap));
        if (at > 0)
            progress->bytes_read += (uint64_t)at;
    }
}

static int capture_run_offline(struct capture *capture)
{
    /* capture_open left files[0] open; every later file is opened here in turn. */
    for (int index = capture->file_index;
         index < capture->file_count && !capture->stop_requested; index++) {
        if (capture->pcap == NULL) {
            char err[PCAP_ERRBUF_SIZE + 1024];
            if (!capture_open_file(capture, index, err, sizeof(err))) {
                LOG_WARN("%s; going on with the next file", err);
                capture->stats.read_errors++;
                capture->status = 1;
                capture->bytes_done += capture->file_sizes[index];
                capture->file_index = index + 1;
                continue;
            }
        }
        if (!capture_read_file(capture)) {
            capture->stats.read_errors++;
            capture->status = 1;
        }
        capture_close_input(capture);
        capture->bytes_done += capture->file_sizes[index];
        capture->file_index = index + 1;
        capture_tick(capture);
    }
    return capture->status;
}

/* Waits for the capture descriptor to become readable or the next tick to fall due. */
static void capture_wait_readable(struct capture *capture, int fd)
{
    uint64_t now = monotonic_msec();
    uint64_t due = capture->last_tick_msec + CAPTURE_TICK_MSEC;
    int timeout = due > now ? (int)(due - now) : 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    /* EINTR is how a signal (and so capture_stop) interrupts the wait: not an error. */
    if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
        LOG_DEBUG("poll: %s", strerror(errno));
}

/* A stop leaves the packets of the ring block the kernel is still filling unread: with
 * blocks (the default) up to CAPTURE_READ_TIMEOUT_MS of traffic, already captured, that
 * would vanish. So after a stop the kernel is given that long to hand the block over and
 * what is there is read; bounded in time, so a busy link cannot hold the stop up. */
#define CAPTURE_DRAIN_MS (CAPTURE_READ_TIMEOUT_MS + 100)

static void capture_drain_live(struct capture *capture, int fd)
{
    uint64_t deadline = monotonic_msec() + CAPTURE_DRAIN_MS;
    for (;;) {
        uint64_t now = monotonic_msec();
        if (now >= deadline)
            return;
        if (fd >= 0) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            if (poll(&pfd, 1, (int)(deadline - now)) == 0)
                return; /* nothing more came within the block timeout */
        }
        /* The stop's pcap_breakloop makes the first call return PCAP_ERROR_BREAK. */
        int n = pcap_dispatch(capture->pcap, -1, capture_handle_frame, (u_char *)capture);
        if (n < 0 && n != PCAP_ERROR_BREAK)
            return;
        if (fd < 0 && n == 0)
            return;
    }
}

static int capture_run_live(struct capture *capture)
{
    int fd = pcap_get_selectable_fd(capture->pcap);
    char pcap_err[PCAP_ERRBUF_SIZE];
    bool use_poll = fd >= 0 && pcap_getnonblock(capture->pcap, pcap_err) == 1;
    capture->last_tick_msec = monotonic_msec();
    while (!capture->stop_requested) {
        if (use_poll)
            capture_wait_readable(capture, fd);
        if (capture->stop_requested)
            break;
        int n = pcap_dispatch(capture->pcap, -1, capture_handle_frame, (u_char *)capture);
        if (n == PCAP_ERROR_BREAK)
            break;
        if (n < 0) {
            LOG_ERROR("%s: capture failed: %s", capture->interface, pcap_geterr(capture->pcap));
            capture->stats.read_errors++;
            capture->status = 1;
            break;
        }
        if (monotonic_msec() - capture->last_tick_msec >= CAPTURE_TICK_MSEC)
            capture_tick(capture);
    }
    if (capture->stop_requested && capture->status == 0)
        capture_drain_live(capture, use_poll ? fd : -1);
    return capture->status;
}

int capture_run(struct capture *capture, const struct capture_callbacks *callbacks)
{
    static const struct capture_callbacks no_callbacks;
    capture->callbacks = callbacks != NULL ? callbacks : &no_callbacks;
    int status = capture->live ? capture_run_live(capture) : capture_run_offline(capture);
    capture->callbacks = NULL;
    return status;
}

void capture_stop(struct capture *capture)
{
    /* Only a flag store and pcap_breakloop (which sets a flag and, on Linux, writes an
     * eventfd): both are async-signal-safe. */
    capture->stop_requested = 1;
    pcap_t *pcap = capture->pcap;
    if (pcap != NULL)
        pcap_breakloop(pcap);
}

void capture_get_stats(struct capture *capture, struct capture_stats *stats)
{
    if (capture->live && capture->pcap != NULL) {
        struct pcap_stat ps;
        if (pcap_stats(capture->pcap, &ps) == 0) {
            capture->stats.pcap_received = ps.ps_recv;
            capture->stats.pcap_dropped = ps.ps_drop;
            capture->stats.pcap_if_dropped = ps.ps_ifdrop;
        }
    }
    *stats = capture->stats;
}

void capture_stats_add(struct capture_stats *sum, const struct capture_stats *one)
{
    sum->frames += one->frames;
    sum->bytes += one->bytes;
    sum->decoded += one->decoded;
    for (int r = 0; r < DECODE_REASON_COUNT; r++)
        sum->skipped[r] += one->skipped[r];
    sum->read_errors += one->read_errors;
    sum->pcap_received += one->pcap_received;
    sum->pcap_dropped += one->pcap_dropped;
    sum->pcap_if_dropped += one->pcap_if_dropped;
}

int capture_fanout_group(const struct capture *capture)
{
    return capture->fanout_group;
}

int capture_linktype(const struct capture *capture)
{
    return capture->linktype;
}

void capture_close(struct capture *capture)
{
    if (capture == NULL)
        return;
    capture_close_input(capture);
    if (capture->files != NULL) {
        for (int i = 0; i < capture->file_count; i++)
            free(capture->files[i]);
        free(capture->files);
        free(capture->file_sizes);
    }
    free(capture->interface);
    free(capture->bpf_filter);
    free(capture);
}
