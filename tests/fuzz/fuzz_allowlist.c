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
    const struct allow_query queries[] = {
        { 4, v4_src, v4_dst, "files.backup.example.com", "SSH", "TLS", 22 },
        { 4, v4_src, v4_dst, NULL, NULL, NULL, 9997 },
        { 6, v6_src, v6_dst, "drive.google.com", "GoogleDrive", "TLS", 443 },
        { 6, v6_src, v6_dst, "", "", "", 0 },
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        const char *comment = NULL;
        if (allowlist_match(list, &queries[i], &comment) && (comment == NULL || strlen(comment) > 4096))
            abort();
    }
    allowlist_free(list);
    return 0;
}
