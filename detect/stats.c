/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Robust statistics for detect/: median, MAD, quartiles, Bowley skew, EWMA, PCR. */
#include "detect_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* qsort order for doubles. */
static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Up to this many values are sorted by insertion: the series detect/ sorts hold at most 64
 * and arrive nearly in order, where qsort's calls cost ~6 k instructions a sort. */
#define STATS_INSERTION_MAX 64

/* Sorts values ascending in place. Both ways are stable, so equal values (0.0 and -0.0)
 * keep one order whichever is used. */
void stats_sort(double *values, size_t count)
{
    if (count > STATS_INSERTION_MAX) {
        qsort(values, count, sizeof(values[0]), compare_double);
        return;
    }
    for (size_t i = 1; i < count; i++) {
        double v = values[i];
        size_t j = i;
        for (; j > 0 && values[j - 1] > v; j--)
            values[j] = values[j - 1];
        values[j] = v;
    }
}

/* Median of sorted values; 0 for none. */
double stats_median_sorted(const double *values, size_t count)
{
    if (count == 0)
        return 0.0;
    if (count % 2 == 1)
        return values[count / 2];
    return (values[count / 2 - 1] + values[count / 2]) / 2.0;
}

/* Median of values without touching them: sorts a copy in scratch. */
double stats_median(const double *values, size_t count, double *scratch)
{
    if (count == 0)
        return 0.0;
    memcpy(scratch, values, count * sizeof(values[0]));
    stats_sort(scratch, count);
    return stats_median_sorted(scratch, count);
}

/* Median absolute deviation around median. */
double stats_mad(const double *values, size_t count, double median, double *scratch)
{
    if (count == 0)
        return 0.0;
    for (size_t i = 0; i < count; i++)
        scratch[i] = fabs(values[i] - median);
    stats_sort(scratch, count);
    return stats_median_sorted(scratch, count);
}

/* Q1/Q3 are the medians of the halves below and above the median (the median itself is in
 * neither half when count is odd), so hand-computed test values are unambiguous. */
void stats_quartiles_sorted(const double *values, size_t count, double *q1, double *q2, double *q3)
{
    if (count == 0) {
        *q1 = *q2 = *q3 = 0.0;
        return;
    }
    *q2 = stats_median_sorted(values, count);
    if (count == 1) {
        *q1 = *q3 = values[0];
        return;
    }
    size_t half = count / 2;
    *q1 = stats_median_sorted(values, half);
    *q3 = stats_median_sorted(values + (count - half), half);
}

/* Bowley skew: 0 for a symmetric spread of gaps, +-1 when the median sits on a quartile. */
double stats_bowley_skew(double q1, double q2, double q3)
{
    double spread = q3 - q1;
    if (spread <= 0.0)
        return 0.0;
    double skew = (q3 + q1 - 2.0 * q2) / spread;
    if (skew > 1.0)
        skew = 1.0;
    if (skew < -1.0)
        skew = -1.0;
    return skew;
}

/* Exponentially weighted mean and variance, one pass, no history kept. */
void stats_ewma_update(struct stats_ewma *ewma, double value, double alpha)
{
    if (!ewma->started) {
        ewma->mean = value;
        ewma->variance = 0.0;
        ewma->started = true;
        return;
    }
    double diff = value - ewma->mean;
    double increment = alpha * diff;
    ewma->mean += increment;
    ewma->variance = (1.0 - alpha) * (ewma->variance + diff * increment);
}

/* Producer-consumer ratio: +1 all upload, -1 all download. */
double stats_pcr(uint64_t bytes_out, uint64_t bytes_in)
{
    double total = (double)bytes_out + (double)bytes_in;
    if (total <= 0.0)
        return 0.0;
    return ((double)bytes_out - (double)bytes_in) / total;
}
