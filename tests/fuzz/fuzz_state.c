/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the state-file loader: the input is the --state-file that
 * detector_new loads. A file that loads is saved back (detector_free saves, as exflow does
 * at exit) and must then load again: what exflow writes it must be able to read.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_state
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "detect/detect.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    log_threshold = LOG_LEVEL_ERROR;
    const char *path = fuzz_file_write("state", data, size);
    if (path == NULL)
        return 0;

    struct detect_config config;
    detect_config_defaults(&config);
    config.state_file = path;
    err[0] = '\0';
    struct detector *detector = detector_new(&config, NULL, NULL, err, sizeof(err));
    if (detector == NULL) {
        if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
            abort();
        /* --reset-state must always get past a bad file. */
        config.state_reset_if_corrupt = true;
        detector = detector_new(&config, NULL, NULL, err, sizeof(err));
        if (detector == NULL)
            abort();
        detector_free(detector);
        return 0;
    }
    struct detect_stats before;
    detector_get_stats(detector, &before);
    detector_free(detector);      /* writes the file back */
    detector = detector_new(&config, NULL, NULL, err, sizeof(err));
    if (detector == NULL) {
        fprintf(stderr, "fuzz_state: exflow cannot read the state it wrote: %s\n", err);
        abort();
    }
    detector_free(detector);
    return 0;
}
