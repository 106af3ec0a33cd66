/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ statistics: median, MAD, quartiles, Bowley skew, EWMA, PCR and host baselines,
 * each against values computed by hand in the comments. */
#include "unit.h"

#include "../../detect/detect_internal.h"

UNIT_TEST(test_median)
{
    double scratch[8];
    double odd[] = { 5, 1, 3 };
    double even[] = { 4, 1, 3, 2 };
    CHECK_NEAR(stats_median(odd, 3, scratch), 3.0, 1e-12);
    CHECK_NEAR(stats_median(even, 4, scratch), 2.5, 1e-12);   /* (2 + 3) / 2 */
    CHECK_NEAR(stats_median(odd, 0, scratch), 0.0, 1e-12);
    CHECK_NEAR(odd[0], 5.0, 1e-12);                            /* input untouched */
}

UNIT_TEST(test_mad)
{
    double scratch[8];
    /* median 3; deviations 2 1 0 1 97 -> sorted 0 1 1 2 97 -> 1: the outlier does not count */
    double v[] = { 1, 2, 3, 4, 100 };
    CHECK_NEAR(stats_mad(v, 5, 3.0, scratch), 1.0, 1e-12);
    double same[] = { 7, 7, 7, 7 };
    CHECK_NEAR(stats_mad(same, 4, 7.0, scratch), 0.0, 1e-12);
}

UNIT_TEST(test_quartiles)
{
    double q1, q2, q3;
    double eight[] = { 1, 2, 3, 4, 5, 6, 7, 8 };    /* halves 1-4 and 5-8 */
    stats_quartiles_sorted(eight, 8, &q1, &q2, &q3);
    CHECK_NEAR(q1, 2.5, 1e-12);
    CHECK_NEAR(q2, 4.5, 1e-12);
    CHECK_NEAR(q3, 6.5, 1e-12);
    double seven[] = { 1, 2, 3, 4, 5, 6, 7 };       /* median 4 left out: 1-3 and 5-7 */
    stats_quartiles_sorted(seven, 7, &q1, &q2, &q3);
    CHECK_NEAR(q1, 2.0, 1e-12);
    CHECK_NEAR(q2, 4.0, 1e-12);
    CHECK_NEAR(q3, 6.0, 1e-12);
    double one[] = { 9 };
    stats_quartiles_sorted(one, 1, &q1, &q2, &q3);
    CHECK_NEAR(q1, 9.0, 1e-12);
    CHECK_NEAR(q3, 9.0, 1e-12);
}

UNIT_TEST(test_bowley_skew)
{
    double q1, q2, q3;
    /* 1 2 3 4 100: Q1 = 1.5, Q2 = 3, Q3 = 52; (52 + 1.5 - 6) / 50.5 = 0.940594 */
    double v[] = { 1, 2, 3, 4, 100 };
    stats_quartiles_sorted(v, 5, &q1, &q2, &q3);
    CHECK_NEAR(stats_bowley_skew(q1, q2, q3), 47.5 / 50.5, 1e-9);
    CHECK_NEAR(stats_bowley_skew(1, 1, 1), 0.0, 1e-12);     /* no spread */
    CHECK_NEAR(stats_bowley_skew(1, 1, 3), 1.0, 1e-12);     /* median on Q1 */
    CHECK_NEAR(stats_bowley_skew(1, 3, 3), -1.0, 1e-12);    /* median on Q3 */
    CHECK_NEAR(stats_bowley_skew(1, 2, 3), 0.0, 1e-12);     /* symmetric */
}

UNIT_TEST(test_ewma)
{
    struct stats_ewma e = { 0 };
    stats_ewma_update(&e, 10, 0.5);             /* first value: mean 10, variance 0 */
    CHECK_NEAR(e.mean, 10.0, 1e-12);
    CHECK_NEAR(e.variance, 0.0, 1e-12);
    stats_ewma_update(&e, 20, 0.5);             /* diff 10, incr 5: mean 15, var .5 * (0 + 50) */
    CHECK_NEAR(e.mean, 15.0, 1e-12);
    CHECK_NEAR(e.variance, 25.0, 1e-12);
    stats_ewma_update(&e, 10, 0.5);             /* diff -5, incr -2.5: 12.5, .5 * (25 + 12.5) */
    CHECK_NEAR(e.mean, 12.5, 1e-12);
    CHECK_NEAR(e.variance, 18.75, 1e-12);
}

UNIT_TEST(test_pcr)
{
    CHECK_NEAR(stats_pcr(900, 100), 0.8, 1e-12);
    CHECK_NEAR(stats_pcr(100, 300), -0.5, 1e-12);
    CHECK_NEAR(stats_pcr(0, 0), 0.0, 1e-12);
    CHECK_NEAR(stats_pcr(60, 0), 1.0, 1e-12);   /* a ping's PCR: why volume must matter too */
}

#define HOUR_USEC (3600ULL * 1000000ULL)
#define BASE_HOUR 472300ULL                     /* an hour in November 2023 */

UNIT_TEST(test_baseline_ratio)
{
    struct host_baseline b = { 0 };
    bool anomalous;
    double usual;
    /* 10 hours of 1000 bytes each, then 100000 in hour 10. */
    for (uint64_t h = 0; h < 10; h++) {
        baseline_add(&b, (BASE_HOUR + h) * HOUR_USEC + 5, 1000);
        if (h == 4) /* 4 past hours: not yet trusted */
            CHECK_NEAR(baseline_ratio(&b, (BASE_HOUR + h) * HOUR_USEC + 5, 100, &anomalous, &usual), 0.0, 1e-12);
    }
    baseline_add(&b, (BASE_HOUR + 10) * HOUR_USEC + 5, 100000);
    double ratio = baseline_ratio(&b, (BASE_HOUR + 10) * HOUR_USEC + 5, 100, &anomalous, &usual);
    CHECK_NEAR(usual, 1000.0, 1e-9);
    CHECK_NEAR(ratio, 100.0, 1e-9);             /* 100000 / median 1000 */
    CHECK(anomalous);

    /* Same volume as usual: ratio 1, not anomalous. */
    struct host_baseline steady = { 0 };
    for (uint64_t h = 0; h <= 10; h++)
        baseline_add(&steady, (BASE_HOUR + h) * HOUR_USEC, 5000);
    ratio = baseline_ratio(&steady, (BASE_HOUR + 10) * HOUR_USEC, 100, &anomalous, &usual);
    CHECK_NEAR(ratio, 1.0, 1e-9);
    CHECK(!anomalous);

    /* A quiet host: silent hours count as 0, the floor keeps the ratio finite. */
    struct host_baseline quiet = { 0 };
    baseline_add(&quiet, BASE_HOUR * HOUR_USEC, 0);
    baseline_add(&quiet, (BASE_HOUR + 8) * HOUR_USEC, 5000);
    ratio = baseline_ratio(&quiet, (BASE_HOUR + 8) * HOUR_USEC, 1000, &anomalous, &usual);
    CHECK_NEAR(usual, 0.0, 1e-9);
    CHECK_NEAR(ratio, 5.0, 1e-9);               /* 5000 / floor 1000 */
    CHECK(anomalous);

    /* Past the ring: only the last BASELINE_HOURS - 1 hours count. */
    struct host_baseline longer = { 0 };
    for (uint64_t h = 0; h < 200; h++)
        baseline_add(&longer, (BASE_HOUR + h) * HOUR_USEC, h < 100 ? 1000000 : 1000);
    ratio = baseline_ratio(&longer, (BASE_HOUR + 199) * HOUR_USEC, 100, &anomalous, &usual);
    CHECK_NEAR(usual, 1000.0, 1e-9);
}

UNIT_MAIN("detect_stats",
          UNIT_CASE(test_median), UNIT_CASE(test_mad), UNIT_CASE(test_quartiles),
          UNIT_CASE(test_bowley_skew), UNIT_CASE(test_ewma), UNIT_CASE(test_pcr),
          UNIT_CASE(test_baseline_ratio))
