/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the allowlist parser: the input is written to a file that
 * detector_new loads (as --allowlist does), then reloaded (as SIGHUP does). A list that
 * parses is also matched against a few queries, so what the parser built is walked.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_allowlist
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "detect/detect.h"
#include "detect/detect_internal.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    log_threshold = LOG_LEVEL_ERROR;
    const char *path = fuzz_file_write("allowlist", data, size);
    if (path == NULL)
        return 0;

    struct detect_config config;
    detect_config_defaults(&config);
    config.allowlist_file = path;
    err[0] = '\0';
    struct detector *detector = detector_new(&config, NULL, NULL, err, sizeof(err));
    if (detector == NULL) {
        /* A refusal must say why. */
        if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
            abort();
        return 0;
    }
    if (!detector_reload_allowlist(detector, err, sizeof(err)))
        abort();   /* the same file parsed a moment ago */
    detector_free(detector);

    struct allowlist *list = allowlist_load(path, err, sizeof(err));
    if (list == NULL)
        abort();
    static const uint8_t v4_src[16] = { 10, 0, 5, 10 }, v4_dst[16] = { 203, 0, 113, 7 };
    static const uint8_t v6_src[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    static const uint8_t v6_dst[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 };
    struct geo_info geo_gb;
    memset(&geo_gb, 0, sizeof(geo_gb));
    geo_gb.found = true;
    memcpy(geo_gb.country_code, "GB", 3);
    geo_gb.asn = 20712;
    snprintf(geo_gb.as_org, sizeof(geo_gb.as_org), "Andrews & Arnold Ltd");
    /* Designated fields: the query grows with the rule language. */
    struct allow_query queries[4];
    memset(queries, 0, sizeof(queries));
    queries[0] = (struct allow_query){ .ip_version = 4, .src_addr = v4_src, .dest_addr = v4_dst,
        .dest_name = "files.backup.example.com", .app_protocol = "SSH", .master_protocol = "TLS",
        .dest_port = 22, .dest_geo = &geo_gb };
    queries[1] = (struct allow_query){ .ip_version = 4, .src_addr = v4_src, .dest_addr = v4_dst,
        .dest_port = 9997 };
    queries[2] = (struct allow_query){ .ip_version = 6, .src_addr = v6_src, .dest_addr = v6_dst,
        .dest_name = "drive.google.com", .app_protocol = "GoogleDrive", .master_protocol = "TLS",
        .dest_port = 443, .dest_geo = &geo_gb };
    queries[3] = (struct allow_query){ .ip_version = 6, .src_addr = v6_src, .dest_addr = v6_dst,
        .dest_name = "", .app_protocol = "", .master_protocol = "" };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        const char *comment = NULL;
        if (allowlist_match(list, &queries[i], &comment) && (comment == NULL || strlen(comment) > 4096))
            abort();
    }
    allowlist_free(list);
    return 0;
}
