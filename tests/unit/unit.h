/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A minimal unit-test harness: each test_*.c defines tests with UNIT_TEST and lists them in
 * UNIT_MAIN. A failed check prints file:line and the values, marks the test failed, and the
 * run goes on. The closing line is "N passed, N failed".
 */
#ifndef EXFLOW_UNIT_H
#define EXFLOW_UNIT_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int unit_current_failed;

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        unit_current_failed = 1; \
    } } while (0)

#define CHECK_EQ_U(a, b) do { \
    unsigned long long unit_a_ = (unsigned long long)(a), unit_b_ = (unsigned long long)(b); \
    if (unit_a_ != unit_b_) { \
        fprintf(stderr, "  %s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, \
                #a, #b, unit_a_, unit_b_); \
        unit_current_failed = 1; \
    } } while (0)

#define CHECK_NEAR(a, b, tolerance) do { \
    double unit_a_ = (double)(a), unit_b_ = (double)(b); \
    if (!(fabs(unit_a_ - unit_b_) <= (tolerance))) { \
        fprintf(stderr, "  %s:%d: %s ~= %s failed: %.6f != %.6f\n", __FILE__, __LINE__, \
                #a, #b, unit_a_, unit_b_); \
        unit_current_failed = 1; \
    } } while (0)

#define CHECK_STR(a, b) do { \
    const char *unit_a_ = (a), *unit_b_ = (b); \
    if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_) != 0) { \
        fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
                #a, #b, unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
        unit_current_failed = 1; \
    } } while (0)

#define UNIT_TEST(name) static void name(void)

struct unit_case { const char *name; void (*fn)(void); };

static inline int unit_run(const char *suite, const struct unit_case *cases, int count)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < count; i++) {
        unit_current_failed = 0;
        cases[i].fn();
        if (unit_current_failed) {
            fprintf(stderr, "FAIL %s.%s\n", suite, cases[i].name);
            failed++;
        } else {
            printf("ok   %s.%s\n", suite, cases[i].name);
            passed++;
        }
    }
    printf("%s: %d passed, %d failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define UNIT_CASE(fn) { #fn, fn }
#define UNIT_MAIN(suite, ...) \
    int main(void) { \
        static const struct unit_case cases[] = { __VA_ARGS__ }; \
        return unit_run(suite, cases, (int)(sizeof(cases) / sizeof(cases[0]))); \
    }

#endif
