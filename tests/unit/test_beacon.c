/* SPDX-License-Identifier: GPL-3.0-or-later */
/* detect/ schedule scoring: periodic with jitter, random arrivals, bursts, one-shot, too few
 * points, daily jobs, interim records, the ring bound and parallel streams. */
#include "unit.h"

#include "../../detect/detect_internal.h"

#define T0 (1700000000ULL * 1000000ULL)
#define SEC 1000000ULL

static const struct beacon_params params = {
    .min_connections = 4, .min_period_sec = 30, .max_period_sec = 2 * 86400, .min_score = 0.6,
};

UNIT_TEST(test_score_gaps_regular)
{
    /* sorted 58 59 60 61 62: median 60, MAD 1, Q1 58.5 Q3 61.5, skew 0;
     * score = 1 - (1/60)/0.3 = 0.944444 */
    double gaps[] = { 60, 62, 58, 61, 59 };
    double median, mad, skew;
    double score = beacon_score_gaps(gaps, 5, &median, &mad, &skew);
    CHECK_NEAR(median, 60.0, 1e-12);
    CHECK_NEAR(mad, 1.0, 1e-12);
    CHECK_NEAR(skew, 0.0, 1e-12);
    CHECK_NEAR(score, 1.0 - (1.0 / 60.0) / 0.3, 1e-9);
}

UNIT_TEST(test_score_gaps_skewed)
{
    /* sorted 100 100 110 130 160 200: median 120, Q1 100, Q3 160, skew 20/60 = 1/3;
     * deviations 20 20 10 10 40 80 -> MAD 20; dispersion 1/6 -> 1 - (1/6)/0.3 = 4/9;
     * score = 4/9 * (0.5 + 0.5 * 2/3) = 0.370370: not a schedule */
    double gaps[] = { 130, 100, 200, 110, 160, 100 };
    double median, mad, skew;
    double score = beacon_score_gaps(gaps, 6, &median, &mad, &skew);
    CHECK_NEAR(median, 120.0, 1e-12);
    CHECK_NEAR(mad, 20.0, 1e-12);
    CHECK_NEAR(skew, 1.0 / 3.0, 1e-9);
    CHECK_NEAR(score, (4.0 / 9.0) * (0.5 + 0.5 * (2.0 / 3.0)), 1e-9);
}

static void add_starts(struct beacon_series *s, const double *offsets_sec, int count, uint64_t bytes)
{
    for (int i = 0; i < count; i++) {
        uint64_t start = T0 + (uint64_t)(offsets_sec[i] * 1e6);
        CHECK(beacon_add(s, (uint64_t)i + 1, start, start + 10 * SEC, bytes + (uint64_t)i * 1000, 100));
    }
}

UNIT_TEST(test_periodic_with_jitter)
{
    /* hourly with jitter 0 +40 -30 +20 -10 +50 -40 s: gaps 3640 3530 3650 3570 3660 3510;
     * sorted 3510 3530 3570 3640 3650 3660: median 3605, MAD (45+55)/2 = 50,
     * IQR 3650-3530 = 120 <= 5% of 3605: skew ignored; score 1 - (50/3605)/0.3 */
    double jitter[] = { 0, 40, -30, 20, -10, 50, -40 };
    double offsets[7];
    for (int i = 0; i < 7; i++)
        offsets[i] = 3600.0 * i + jitter[i];
    struct beacon_series s = { 0 };
    /* Records arrive out of order (flows end at different times): feed them reversed. */
    for (int i = 6; i >= 0; i--) {
        uint64_t start = T0 + (uint64_t)((offsets[i] + 100) * 1e6);
        beacon_add(&s, (uint64_t)i + 1, start, start + 5 * SEC, 5000000 + (uint64_t)i * 777777, 20000);
    }
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_EQ_U(r.connections, 7);
    CHECK_EQ_U(r.sessions, 7);
    CHECK_EQ_U(r.gaps, 6);
    CHECK_NEAR(r.period_sec, 3605.0, 1e-6);
    CHECK_NEAR(r.mad_sec, 50.0, 1e-6);
    CHECK_NEAR(r.score, 1.0 - (50.0 / 3605.0) / 0.3, 1e-6);
    CHECK(r.periodic);
    CHECK_NEAR(r.median_bytes_out, 5000000.0 + 3 * 777777.0, 1e-6);
    beacon_free(&s);
}

UNIT_TEST(test_large_jitter)
{
    /* Hourly with up to +-10 min of jitter: offsets 0 +480 -300 +600 -540 +120 -420 +360 s.
     * Gaps 4080 2820 4500 2460 4260 3060 4380: sorted 2460 2820 3060 4080 4260 4380 4500,
     * median 4080; deviations 1620 1260 1020 0 180 300 420 -> sorted 0 180 300 420 1020
     * 1260 1620 -> MAD 420; dispersion 0.102941 -> 1 - 0.102941/0.3 = 0.656863.
     * Q1 = 2820, Q3 = 4380 (halves without the median): skew (4380 + 2820 - 8160) / 1560
     * = -0.615385 -> score 0.656863 * (0.5 + 0.5 * 0.384615) = 0.454751: too irregular. */
    double jitter[] = { 0, 480, -300, 600, -540, 120, -420, 360 };
    double offsets[8];
    for (int i = 0; i < 8; i++)
        offsets[i] = 3600.0 * i + jitter[i];
    struct beacon_series s = { 0 };
    add_starts(&s, offsets, 8, 2000000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_NEAR(r.period_sec, 4080.0, 1e-6);
    CHECK_NEAR(r.mad_sec, 420.0, 1e-6);
    CHECK_NEAR(r.skew, -0.615385, 1e-6);
    CHECK_NEAR(r.score, (1.0 - (420.0 / 4080.0) / 0.3) * (0.5 + 0.5 * (1.0 - 0.615385)), 1e-5);
    CHECK(!r.periodic);
    beacon_free(&s);

    /* C2-style sleep jitter: each sleep is 80-100 % of 300 s. */
    double sleeps[] = { 270, 295, 250, 285, 240, 300, 262, 281, 255 };
    double c2[10] = { 0 };
    for (int i = 0; i < 9; i++)
        c2[i + 1] = c2[i] + sleeps[i];
    struct beacon_series t = { 0 };
    add_starts(&t, c2, 10, 2000);
    beacon_evaluate(&t, &params, &r);
    CHECK(r.periodic);
    CHECK_NEAR(r.period_sec, 270.0, 1e-6);
    beacon_free(&t);
}

UNIT_TEST(test_random_arrivals)
{
    /* gaps 200 1500 400 3000 90 700 2500 150: median 550, MAD 430: dispersion 0.78 -> 0 */
    double gaps[] = { 200, 1500, 400, 3000, 90, 700, 2500, 150 };
    double offsets[9] = { 0 };
    for (int i = 0; i < 8; i++)
        offsets[i + 1] = offsets[i] + gaps[i];
    struct beacon_series s = { 0 };
    add_starts(&s, offsets, 9, 3000000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_NEAR(r.period_sec, 550.0, 1e-6);
    CHECK_NEAR(r.mad_sec, 430.0, 1e-6);
    CHECK_NEAR(r.score, 0.0, 1e-12);
    CHECK(!r.periodic);
    beacon_free(&s);
}

UNIT_TEST(test_bursty)
{
    /* bursts of 5 connections 2 s apart at 0, 600, 700, 5000, 5100: each burst is one
     * session; gaps 600 100 4300 100 -> median 350, MAD 250 -> not a schedule */
    double burst_at[] = { 0, 600, 700, 5000, 5100 };
    double offsets[25];
    for (int b = 0; b < 5; b++)
        for (int k = 0; k < 5; k++)
            offsets[b * 5 + k] = burst_at[b] + 2.0 * k;
    struct beacon_series s = { 0 };
    add_starts(&s, offsets, 25, 1000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_EQ_U(r.connections, 25);
    CHECK_EQ_U(r.sessions, 5);
    CHECK_NEAR(r.period_sec, 350.0, 1e-6);
    CHECK_NEAR(r.mad_sec, 250.0, 1e-6);
    CHECK(!r.periodic);
    beacon_free(&s);
}

UNIT_TEST(test_one_shot)
{
    struct beacon_series s = { 0 };
    double offsets[] = { 0 };
    add_starts(&s, offsets, 1, 50000000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_EQ_U(r.sessions, 1);
    CHECK_EQ_U(r.gaps, 0);
    CHECK_NEAR(r.score, 0.0, 1e-12);
    CHECK(!r.periodic);
    CHECK_EQ_U(r.bytes_out, 50000000);
    beacon_free(&s);
}

UNIT_TEST(test_too_few_then_incremental)
{
    /* Three perfectly regular starts: regular, but under the 4-connection minimum. */
    double offsets[] = { 0, 600, 1200, 1800 };
    struct beacon_series s = { 0 };
    add_starts(&s, offsets, 3, 1000000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK_NEAR(r.score, 1.0, 1e-12);
    CHECK(!r.periodic);
    /* The fourth one makes it a schedule: flagged after a few periods, not in a batch. */
    uint64_t start = T0 + 1800 * SEC;
    beacon_add(&s, 99, start, start, 1000000, 100);
    beacon_evaluate(&s, &params, &r);
    CHECK(r.periodic);
    CHECK_NEAR(r.period_sec, 600.0, 1e-6);
    beacon_free(&s);
}

UNIT_TEST(test_daily_and_limits)
{
    /* Daily at 02:00 +- a few minutes: a schedule. */
    double jitter[] = { 0, 120, -60, 180, -150 };
    double offsets[5];
    for (int i = 0; i < 5; i++)
        offsets[i] = 86400.0 * i + jitter[i];
    struct beacon_series s = { 0 };
    add_starts(&s, offsets, 5, 200000000);
    struct beacon_result r;
    beacon_evaluate(&s, &params, &r);
    CHECK(r.periodic);
    CHECK_NEAR(r.period_sec / 3600.0, 24.0, 0.1);
    beacon_free(&s);

    /* Every 10 s: one long session, not a schedule. */
    double fast[8];
    for (int i = 0; i < 8; i++)
        fast[i] = 10.0 * i;
    struct beacon_series f = { 0 };
    add_starts(&f, fast, 8, 1000);
    beacon_evaluate(&f, &params, &r);
    CHECK_EQ_U(r.sessions, 1);
    CHECK(!r.periodic);
    beacon_free(&f);

    /* Weekly: above the 2-day maximum. */
    double weekly[5];
    for (int i = 0; i < 5; i++)
        weekly[i] = 7 * 86400.0 * i;
    struct beacon_series w = { 0 };
    add_starts(&w, weekly, 5, 1000);
    beacon_evaluate(&w, &params, &r);
    CHECK(!r.periodic);
    beacon_free(&w);
}

UNIT_TEST(test_interim_records_and_ring_bound)
{
    struct beacon_series s = { 0 };
    CHECK(beacon_add(&s, 7, T0, T0 + 1800 * SEC, 1000, 10));
    CHECK(beacon_add(&s, 7, T0, T0 + 3600 * SEC, 500, 5));   /* interim record, same flow */
    CHECK_EQ_U(s.count, 1);
    const struct beacon_conn *c = beacon_find(&s, 7);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_U(c->bytes_out, 1500);
        CHECK_EQ_U(c->end_usec, T0 + 3600 * SEC);
    }
    for (uint64_t i = 0; i < 200; i++)
        beacon_add(&s, 100 + i, T0 + i * 60 * SEC, T0 + i * 60 * SEC, 1, 1);
    CHECK_EQ_U(s.count, BEACON_RING_MAX);
    CHECK_EQ_U(s.capacity, BEACON_RING_MAX);
    CHECK(beacon_find(&s, 7) == NULL);          /* oldest gone */
    CHECK(beacon_find(&s, 299) != NULL);
    beacon_free(&s);
}

UNIT_TEST(test_concurrent_uploads)
{
    struct beacon_series s = { 0 };
    for (uint64_t i = 0; i < 4; i++)   /* four streams overlapping 0..100 s */
        beacon_add(&s, i + 1, T0 + i * SEC, T0 + 100 * SEC, 10000000, 50000);
    beacon_add(&s, 9, T0 + 500 * SEC, T0 + 600 * SEC, 10000000, 50000); /* later, alone */
    beacon_add(&s, 10, T0 + 5 * SEC, T0 + 50 * SEC, 500, 90000);         /* a download */
    CHECK_EQ_U(beacon_concurrent_uploads(&s, T0, T0 + 100 * SEC, 65536, 0.5), 4);
    CHECK_EQ_U(beacon_concurrent_uploads(&s, T0 + 500 * SEC, T0 + 600 * SEC, 65536, 0.5), 1);
    beacon_free(&s);
}

UNIT_MAIN("beacon",
          UNIT_CASE(test_score_gaps_regular), UNIT_CASE(test_score_gaps_skewed),
          UNIT_CASE(test_periodic_with_jitter), UNIT_CASE(test_large_jitter), UNIT_CASE(test_random_arrivals),
          UNIT_CASE(test_bursty), UNIT_CASE(test_one_shot), UNIT_CASE(test_too_few_then_incremental),
          UNIT_CASE(test_daily_and_limits), UNIT_CASE(test_interim_records_and_ring_bound),
          UNIT_CASE(test_concurrent_uploads))
