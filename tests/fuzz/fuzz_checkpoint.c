/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the detection checkpoint loader (detect/checkpoint.c): the input is
 * STATE-FILE.detect. A file that loads is saved back and must load again; one that does
 * not must be refused with a message, and --reset-state must always get past it.
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_checkpoint
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
    char err[512], state[300];
    log_threshold = LOG_LEVEL_ERROR;
    const char *path = fuzz_file_write("ck.detect", data, size);
    if (path == NULL)
        return 0;
    /* The first-seen file beside it does not exist: only the checkpoint is under test. */
    snprintf(state, sizeof(state), "%.*s", (int)(strlen(path) - strlen(".detect")), path);
    unlink(state);

    struct detect_config config;
    detect_config_defaults(&config);
    config.state_file = state;
    config.psl_file = NULL;       /* groups do not read the file: skip the list per run */
    err[0] = '\0';
    struct detector *detector = detector_new(&config, NULL, NULL, err, sizeof(err));
    if (detector == NULL) {
        if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
            abort();
        config.state_reset_if_corrupt = true;
        detector = detector_new(&config, NULL, NULL, err, sizeof(err));
        if (detector == NULL)
            abort();
        detector_free(detector);
        return 0;
    }
    detector_free(detector);      /* writes both files back */
    detector = detector_new(&config, NULL, NULL, err, sizeof(err));
    if (detector == NULL) {
        fprintf(stderr, "fuzz_checkpoint: exflow cannot read the state it wrote: %s\n", err);
        abort();
    }
    detector_free(detector);
    return 0;
}
