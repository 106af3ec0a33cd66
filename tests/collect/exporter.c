/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test exporter for tests/collect/run.sh: writes IPFIX with libfixbuf, the library behind
 * YAF, over TCP or UDP. One connection (transport session) per run: templates, then COUNT
 * RFC 5103 biflow records 10.20.1.5:(40000+i) -> 45.137.21.9:443, one every 300 s of flow
 * time from 2026-03-09T11:00:00Z, 100,000 bytes out and 5,000 back each.
 *
 *   exporter tcp|udp HOST PORT FIRST COUNT [nprobe|yaf]
 *
 * nprobe: the template also carries nProbe's enterprise elements (PEN 35632) L7_PROTO_NAME
 * and HTTP_HOST / SSL_SERVER_NAME, as nProbe sends them with its DPI templates.
 * yaf: YAF's (PEN 6871) silkAppLabel and httpHost at top level instead, to port 80.
 */
#include <fixbuf/public.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_MS 1773054000000ULL
#define PEN_NTOP 35632
#define PEN_CERT 6871

static fbInfoElement_t ntop_elements[] = {
    FB_IE_INIT_FULL("ntopL7ProtoName", PEN_NTOP, 119, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("ntopHttpHost", PEN_NTOP, 187, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("ntopSslServerName", PEN_NTOP, 188, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_INIT_FULL("silkAppLabel", PEN_CERT, 33, 2, FB_IE_F_ENDIAN, 0, 0, FB_UINT_16, NULL),
    FB_IE_INIT_FULL("httpHost", PEN_CERT, 117, FB_IE_VARLEN, 0, 0, 0, FB_STRING, NULL),
    FB_IE_NULL
};

struct record {
    uint64_t start_ms, end_ms, octets, packets, rev_octets, rev_packets;
    uint32_t src, dst;
    uint16_t sport, dport, app_label;
    uint8_t proto, padding[1];
    fbVarfield_t app, http_host, sni, yaf_host;
};

static fbInfoElementSpec_t spec[] = {
    { "flowStartMilliseconds", 8, 0 },    { "flowEndMilliseconds", 8, 0 },
    { "octetDeltaCount", 8, 0 },          { "packetDeltaCount", 8, 0 },
    { "reverseOctetDeltaCount", 8, 0 },   { "reversePacketDeltaCount", 8, 0 },
    { "sourceIPv4Address", 4, 0 },        { "destinationIPv4Address", 4, 0 },
    { "sourceTransportPort", 2, 0 },      { "destinationTransportPort", 2, 0 },
    { "silkAppLabel", 2, 2 },
    { "protocolIdentifier", 1, 0 },       { "paddingOctets", 1, 0 },
    { "ntopL7ProtoName", FB_IE_VARLEN, 1 }, { "ntopHttpHost", FB_IE_VARLEN, 1 },
    { "ntopSslServerName", FB_IE_VARLEN, 1 }, { "httpHost", FB_IE_VARLEN, 2 },
    FB_IESPEC_NULL
};

static void die(const char *what, GError *error)
{
    fprintf(stderr, "exporter: %s: %s\n", what, error ? error->message : "failed");
    exit(1);
}

static void text(fbVarfield_t *field, const char *value)
{
    field->buf = (uint8_t *)value;
    field->len = strlen(value);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: exporter tcp|udp HOST PORT FIRST COUNT [nprobe]\n");
        return 2;
    }
    bool nprobe = argc > 6 && strcmp(argv[6], "nprobe") == 0;
    bool yaf = argc > 6 && strcmp(argv[6], "yaf") == 0;
    unsigned first = (unsigned)atoi(argv[4]), count = (unsigned)atoi(argv[5]);
    GError *error = NULL;
    fbInfoModel_t *model = fbInfoModelAlloc();
    fbInfoModelAddElementArray(model, ntop_elements);
    fbConnSpec_t conn = { strcmp(argv[1], "tcp") == 0 ? FB_TCP : FB_UDP, argv[2], argv[3],
                          NULL, NULL, NULL, NULL, NULL, NULL };
    fbExporter_t *exporter = fbExporterAllocNet(&conn);
    fbSession_t *session = fbSessionAlloc(model);
    fbSessionSetDomain(session, 7);
    uint32_t flags = nprobe ? 1 : yaf ? 2 : 0;   /* spec flags: 1 nProbe's elements, 2 YAF's */
    fbTemplate_t *internal = fbTemplateAlloc(model), *external = fbTemplateAlloc(model);
    if (!fbTemplateAppendSpecArray(internal, spec, UINT32_MAX, &error) ||
        !fbTemplateAppendSpecArray(external, spec, flags, &error))
        die("template", error);
    if (!fbSessionAddTemplate(session, TRUE, 0x999, internal, &error) ||
        !fbSessionAddTemplate(session, FALSE, 0x400, external, &error))
        die("session", error);
    fBuf_t *fbuf = fBufAllocForExport(session, exporter);
    if (!fbSessionExportTemplates(session, &error) ||
        !fBufSetInternalTemplate(fbuf, 0x999, &error) || !fBufSetExportTemplate(fbuf, 0x400, &error))
        die("export templates", error);
    for (unsigned i = first; i < first + count; i++) {
        struct record r;
        memset(&r, 0, sizeof(r));
        r.start_ms = BASE_MS + 250 + (uint64_t)i * 300000;
        r.end_ms = r.start_ms + 2000;
        r.octets = 100000 + 40 * 100;
        r.packets = 100;
        r.rev_octets = 5000 + 40 * 50;
        r.rev_packets = 50;
        r.src = 10u << 24 | 20u << 16 | 1u << 8 | 5;
        r.dst = 45u << 24 | 137u << 16 | 21u << 8 | 9;
        r.sport = (uint16_t)(40000 + i);
        r.dport = yaf ? 80 : 443;
        r.app_label = 80;
        text(&r.yaf_host, "upload.example-drop.net");
        r.proto = 6;
        text(&r.app, "TLS.Dropbox");
        text(&r.http_host, "");
        text(&r.sni, "content.dropboxapi.com");
        if (!fBufAppend(fbuf, (uint8_t *)&r, sizeof(r), &error))
            die("append", error);
    }
    if (!fBufEmit(fbuf, &error))
        die("emit", error);
    fBufFree(fbuf);
    fbInfoModelFree(model);
    return 0;
}
