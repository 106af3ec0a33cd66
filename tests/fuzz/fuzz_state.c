/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libFuzzer harness for the state-file loader: the input is the --state-file that
 * detector_new loads. Checks, beyond "no crash":
 *   - strictness: a file that loads is text exflow could have written: no NUL or control
 *     byte but tab, every line ends in '\n', no doubled spaces in a record;
 *   - an error always says something, and --reset-state always gets past it;
 *   - round trip: what loads is saved (as main does once at exit), loads again with the same
 *     count, and saving that gives the same bytes (what exflow writes it reads back exactly).
 *
 *   run by tests/fuzz/run.sh; build: make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_state
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tunables.h"
#include "detect/detect.h"
#include "detect/detect_internal.h"
#include "tests/fuzz/fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a loadable state file must look like, byte for byte. */
static void check_strict(const uint8_t *data, size_t size)
{
    if (size == 0 || data[size - 1] != '\n')
        abort();
    for (size_t i = 0; i < size; i++)
        if ((data[i] < ' ' && data[i] != '\n' && data[i] != '\t') || data[i] == 0x7f)
            abort();
}

/* The whole file, or NULL; *len set. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0)
            break;
        *len += n;
    }
    fclose(f);
    return buf;
}

/* Loads path into a fresh store; the count, or -1 when it does not load. */
static long load_count(const char *path, uint64_t *learn_start, struct destinations **out)
{
    char err[512];
    struct destinations *store = destinations_new(DETECT_MAX_DESTINATIONS);
    if (store == NULL)
        abort();
    if (destinations_load(store, path, learn_start, err, sizeof(err)) != 1) {
        destinations_free(store);
        return -1;
    }
    *out = store;
    return (long)destinations_count(store);
}

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
    check_strict(data, size);
    if (!detector_save_state(detector, err, sizeof(err)))
        abort();
    detector_free(detector);

    /* The saved file loads with the same entries, and saving it again is byte-identical. */
    size_t first_len = 0, second_len = 0;
    char *first = slurp(path, &first_len);
    uint64_t learn_start = 0;
    struct destinations *store = NULL;
    long count = load_count(path, &learn_start, &store);
    if (first == NULL || count < 0) {
        fprintf(stderr, "fuzz_state: exflow cannot read the state it wrote\n");
        abort();
    }
    if (!destinations_save(store, path, learn_start, err, sizeof(err)))
        abort();
    destinations_free(store);
    char *second = slurp(path, &second_len);
    if (second == NULL || second_len != first_len || memcmp(first, second, first_len) != 0) {
        fprintf(stderr, "fuzz_state: a saved state does not survive load and save unchanged\n");
        abort();
    }
    free(first);
    free(second);
    return 0;
}
