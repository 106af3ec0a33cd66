/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The nDPI glue: one detection module per flow table, nDPI flow state only while a flow is
 * being classified, labels copied out as printable strings.
 */
#include "labels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi/ndpi_api.h>

#include "../common/tunables.h"
#include "spares.h"

struct labeler {
    struct ndpi_detection_module_struct *ndpi;
    struct spares spares;      /* finished nDPI states for reuse */
};

/* "#category:<nDPI category name>" in the protocols file sets the category of the custom
 * protocols defined below it. nDPI 4.2's rule syntax has no category field and skips lines
 * starting with '#', so this stays a valid nDPI protocols file. */
#define CATEGORY_DIRECTIVE "#category:"

/* What one flow's nDPI state holds, malloc's block header included (as for struct flow). */
#define NDPI_FLOW_BYTES (SIZEOF_FLOW_STRUCT + FLOW_MALLOC_OVERHEAD)

size_t labeler_flow_size(void)
{
    return NDPI_FLOW_BYTES;
}

/* Strips leading and trailing blanks in place. */
static char *string_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
                       s[len - 1] == '\n'))
        s[--len] = '\0';
    return s;
}

/* Second pass over a protocols file nDPI has loaded: applies the #category: directives to
 * the protocols named after '@'. Returns 0, or -1 with a message in err. */
static int labeler_apply_categories(struct labeler *labeler, const char *path, char *err,
                                    size_t err_len)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(err, err_len, "cannot open protocols file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    unsigned line_number = 0;
    int category = -1;
    int rc = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        line_number++;
        char *text = string_trim(line);
        if (strncmp(text, CATEGORY_DIRECTIVE, strlen(CATEGORY_DIRECTIVE)) == 0) {
            char *name = string_trim(text + strlen(CATEGORY_DIRECTIVE));
            category = ndpi_get_category_id(labeler->ndpi, name);
            if (category < 0) {
                snprintf(err, err_len, "%s:%u: unknown nDPI category \"%s\"", path,
                         line_number, name);
                rc = -1;
                break;
            }
            continue;
        }
        if (text[0] == '#' || text[0] == '\0' || category < 0)
            continue;
        char *at = strrchr(text, '@');
        if (at == NULL)
            continue; /* risk masks and other rules that name no protocol */
        char *proto = string_trim(at + 1);
        int id = ndpi_get_protocol_id(labeler->ndpi, proto);
        if (id < 0) {
            snprintf(err, err_len, "%s:%u: nDPI did not load protocol \"%s\"", path,
                     line_number, proto);
            rc = -1;
            break;
        }
        ndpi_set_proto_category(labeler->ndpi, (u_int16_t)id,
                                (ndpi_protocol_category_t)category);
    }
    fclose(file);
    return rc;
}

struct labeler *labeler_new(const char *protocols_file, unsigned spares_max, char *err,
                            size_t err_len)
{
    struct labeler *labeler = calloc(1, sizeof(*labeler));
    if (labeler == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    labeler->spares.max = spares_max;
    labeler->ndpi = ndpi_init_detection_module(ndpi_no_prefs);
    if (labeler->ndpi == NULL) {
        snprintf(err, err_len, "cannot initialise the nDPI detection module");
        goto fail;
    }
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(labeler->ndpi, &all);
    if (protocols_file != NULL) {
        /* nDPI only says -1; open it ourselves first for a message that names the cause. */
        FILE *probe = fopen(protocols_file, "r");
        if (probe == NULL) {
            snprintf(err, err_len, "cannot open protocols file %s: %s", protocols_file,
                     strerror(errno));
            goto fail;
        }
        fclose(probe);
        if (ndpi_load_protocols_file(labeler->ndpi, protocols_file) != 0) {
            snprintf(err, err_len, "nDPI could not load protocols file %s", protocols_file);
            goto fail;
        }
        if (labeler_apply_categories(labeler, protocols_file, err, err_len) != 0)
            goto fail;
    }
    /* Host-name automata are built here, so it comes after the protocols file. */
    ndpi_finalize_initialization(labeler->ndpi);
    return labeler;
fail:
    labeler_free(labeler);
    return NULL;
}

void labeler_free(struct labeler *labeler)
{
    if (labeler == NULL)
        return;
    if (labeler->ndpi != NULL)
        ndpi_exit_detection_module(labeler->ndpi);
    for (void *spare; (spare = spares_take(&labeler->spares)) != NULL;)
        ndpi_free(spare);
    free(labeler);
}

/* Copies at most max bytes of src (NUL-terminated or not) into dst, replacing bytes that are
 * not printable ASCII by '?': names come from packets, and every sink must be able to print
 * them (JSON encoders reject invalid UTF-8). */
static void label_copy(char *dst, size_t dst_len, const char *src, size_t max)
{
    size_t len = 0;
    if (src != NULL) {
        /* Never read past what dst can hold nor past the end of a fixed-size src. */
        len = strnlen(src, dst_len - 1 < max ? dst_len - 1 : max);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)src[i];
            dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
    }
    dst[len] = '\0';
}

#define LABEL_COPY(dst, src, max) label_copy((dst), sizeof(dst), (src), (max))
#define LABEL_UNBOUNDED ((size_t)-1)

/* Direction of the packet being labelled; none at the end of a flow. */
#define LABEL_DIRECTION_NONE (-1)

/* nDPI 4.2 stores the first SSH banner it sees as the client's, but servers usually speak
 * first (RFC 4253 section 4.2 lets both sides send at once). The first banner appears in
 * the labels with the packet that carried it, so that packet's side says whose it is. */
static void labeler_copy_ssh(struct flow_labels *labels, const char *first, size_t first_max,
                             const char *second, size_t second_max, int direction)
{
    char first_text[sizeof(labels->ssh_client)];
    LABEL_COPY(first_text, first, first_max);
    if (first_text[0] == '\0')
        return;
    bool first_is_server;
    if (labels->ssh_client[0] == '\0' && labels->ssh_server[0] == '\0')
        first_is_server = direction == FLOW_DIR_RESP;
    else
        first_is_server = strcmp(labels->ssh_server, first_text) == 0 &&
                          strcmp(labels->ssh_client, first_text) != 0;
    if (first_is_server) {
        LABEL_COPY(labels->ssh_server, first, first_max);
        LABEL_COPY(labels->ssh_client, second, second_max);
    } else {
        LABEL_COPY(labels->ssh_client, first, first_max);
        LABEL_COPY(labels->ssh_server, second, second_max);
    }
}

/* Protocols whose host_server_name is the TLS SNI or the HTTP Host header. */
static bool protocol_names_server(u_int16_t protocol)
{
    switch (protocol) {
    case NDPI_PROTOCOL_HTTP:
    case NDPI_PROTOCOL_HTTP_CONNECT:
    case NDPI_PROTOCOL_HTTP_PROXY:
    case NDPI_PROTOCOL_TLS:
    case NDPI_PROTOCOL_DTLS:
    case NDPI_PROTOCOL_QUIC:
        return true;
    default:
        return false;
    }
}

/* True when nDPI would go on dissecting a detected flow but no label exflow keeps can change
 * any more, so feeding it stops here. nDPI goes on for things exflow does not report:
 * - TLS: the ServerHello (JA3S, ~45 snprintf calls) and the server certificate (hashes,
 *   validity). The certificate's names can still name the application, but only when the
 *   SNI did not (nDPI matches them only while subprotocol_detected is clear), so a flow
 *   whose SNI already matched a known service is done. A flow whose SNI matched nothing
 *   goes on as before: a TLS 1.2 certificate may still name it.
 * - SSH: after both banners, both KEXINITs (HASSH).
 * HTTP is left to nDPI, which stops once the Host and the response status are in. */
static bool labeler_labels_complete(const struct ndpi_flow_struct *state, ndpi_protocol verdict)
{
    u_int16_t app = verdict.app_protocol, master = verdict.master_protocol;
    if (master == NDPI_PROTOCOL_TLS || app == NDPI_PROTOCOL_TLS)
        return state->host_server_name[0] != '\0' &&
               state->protos.tls_quic.subprotocol_detected;
    if (master == NDPI_PROTOCOL_SSH || app == NDPI_PROTOCOL_SSH)
        return state->protos.ssh.client_signature[0] != '\0' &&
               state->protos.ssh.server_signature[0] != '\0';
    return false;
}

/* nDPI's verdict as the flow state keeps it. A packet's own result can differ in category
 * (the SNI packet's says Web where the state already has the host's Advertisement): the state
 * is what a flow fed to the end reports, so flows stopped early report it too. */
static ndpi_protocol labeler_state_verdict(const struct ndpi_flow_struct *state)
{
    ndpi_protocol verdict = {
        .master_protocol = state->detected_protocol_stack[1],
        .app_protocol = state->detected_protocol_stack[0],
        .category = state->category,
    };
    return verdict;
}

/* Refreshes flow->labels from the nDPI state and its latest verdict. The protos union is
 * read only for the protocol that owns it: protos.ssh of a TLS flow is certificate bytes. */
static void labeler_copy(struct labeler *labeler, struct flow *flow, ndpi_protocol verdict,
                         int direction)
{
    const struct ndpi_flow_struct *state = flow->ndpi_flow;
    struct flow_labels *labels = &flow->labels;
    /* app_protocol is the most specific protocol (MEGA), master_protocol its carrier (TLS);
     * plain TLS comes back as Unknown.TLS, and we call its carrier TLS too. */
    u_int16_t app = verdict.app_protocol;
    u_int16_t master = verdict.master_protocol;
    if (master == NDPI_PROTOCOL_UNKNOWN)
        master = app;
    LABEL_COPY(labels->master_protocol, ndpi_get_proto_name(labeler->ndpi, master),
               LABEL_UNBOUNDED);
    LABEL_COPY(labels->app_protocol, ndpi_get_proto_name(labeler->ndpi, app), LABEL_UNBOUNDED);
    LABEL_COPY(labels->category, ndpi_category_get_name(labeler->ndpi, verdict.category),
               LABEL_UNBOUNDED);
    /* nDPI reuses host_server_name for other things (the FTP USER, a DNS query name), but
     * server_name means "the name the client asked this server for": SNI or HTTP Host. */
    if (protocol_names_server(master) || protocol_names_server(app))
        LABEL_COPY(labels->server_name, state->host_server_name, sizeof(state->host_server_name));
    if (state->http.method != NDPI_HTTP_METHOD_UNKNOWN)
        LABEL_COPY(labels->http_method, ndpi_http_method2str(state->http.method),
                   LABEL_UNBOUNDED);
    if (state->http.url != NULL)
        LABEL_COPY(labels->http_url, state->http.url, LABEL_UNBOUNDED);
    if (state->http.request_content_type != NULL)
        LABEL_COPY(labels->http_content_type, state->http.request_content_type,
                   LABEL_UNBOUNDED);
    if (state->http.response_status_code != 0)
        labels->http_status = state->http.response_status_code;
    if (app == NDPI_PROTOCOL_SSH || master == NDPI_PROTOCOL_SSH)
        labeler_copy_ssh(labels, state->protos.ssh.client_signature,
                         sizeof(state->protos.ssh.client_signature),
                         state->protos.ssh.server_signature,
                         sizeof(state->protos.ssh.server_signature), direction);
}

/* Final labels, then the nDPI state goes. Returns the bytes released. */
static size_t labeler_release(struct labeler *labeler, struct flow *flow, ndpi_protocol verdict,
                              int direction)
{
    labeler_copy(labeler, flow, verdict, direction);
    flow->labels.detection_done = true;
    /* What nDPI allocated inside first (ndpi_free_flow is this, then the struct). */
    ndpi_free_flow_data(flow->ndpi_flow);
    if (!spares_put(&labeler->spares, flow->ndpi_flow))
        ndpi_free(flow->ndpi_flow);
    flow->ndpi_flow = NULL;
    return NDPI_FLOW_BYTES;
}

long labeler_process(struct labeler *labeler, struct flow *flow, const struct packet *pkt,
                     enum flow_direction direction)
{
    if (flow->labels.detection_done || pkt->l3 == NULL || pkt->l3_len == 0)
        return 0;
    long delta = 0;
    if (flow->ndpi_flow == NULL) {
        /* nDPI expects a zeroed flow struct and frees it with ndpi_free_flow. */
        flow->ndpi_flow = spares_take(&labeler->spares);
        if (flow->ndpi_flow != NULL)
            memset(flow->ndpi_flow, 0, SIZEOF_FLOW_STRUCT);
        else
            flow->ndpi_flow = ndpi_calloc(1, SIZEOF_FLOW_STRUCT);
        if (flow->ndpi_flow == NULL)
            return 0; /* XXX: out of memory: the flow stays unlabelled, counted nowhere */
        delta += (long)NDPI_FLOW_BYTES;
    }
    /* nDPI takes an unsigned short length; an IPv6 jumbogram is cut, its headers are not. */
    unsigned short l3_len = pkt->l3_len > 0xffff ? 0xffff : (unsigned short)pkt->l3_len;
    ndpi_protocol result = ndpi_detection_process_packet(labeler->ndpi, flow->ndpi_flow,
                                                         pkt->l3, l3_len,
                                                         pkt->ts_usec / 1000);
    flow->ndpi_packets++;
    bool detected = result.app_protocol != NDPI_PROTOCOL_UNKNOWN ||
                    result.master_protocol != NDPI_PROTOCOL_UNKNOWN;
    if (detected && !ndpi_extra_dissection_possible(labeler->ndpi, flow->ndpi_flow)) {
        delta -= (long)labeler_release(labeler, flow, result, (int)direction);
    } else if (detected && labeler_labels_complete(flow->ndpi_flow, result)) {
        delta -= (long)labeler_release(labeler, flow, labeler_state_verdict(flow->ndpi_flow),
                                       (int)direction);
    } else if (flow->ndpi_packets >= NDPI_MAX_PACKETS_PER_FLOW) {
        delta -= (long)labeler_finish(labeler, flow);
    } else {
        /* Partial labels now (the SNI arrives long before TLS dissection ends) so on_packet
         * observers and interim records see them. */
        labeler_copy(labeler, flow, result, (int)direction);
    }
    return delta;
}

size_t labeler_finish(struct labeler *labeler, struct flow *flow)
{
    if (flow->labels.detection_done)
        return 0;
    if (flow->ndpi_flow == NULL) {
        /* Nothing was ever fed (no IP header handed to us): say so rather than leave blanks. */
        LABEL_COPY(flow->labels.master_protocol, "Unknown", LABEL_UNBOUNDED);
        LABEL_COPY(flow->labels.app_protocol, "Unknown", LABEL_UNBOUNDED);
        flow->labels.detection_done = true;
        return 0;
    }
    ndpi_protocol verdict = labeler_state_verdict(flow->ndpi_flow);
    if (verdict.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
        /* Take nDPI's guess (ports, addresses) rather than nothing. */
        u_int8_t guessed = 0;
        verdict = ndpi_detection_giveup(labeler->ndpi, flow->ndpi_flow, 1, &guessed);
    }
    return labeler_release(labeler, flow, verdict, LABEL_DIRECTION_NONE);
}
