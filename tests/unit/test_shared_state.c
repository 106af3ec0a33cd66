/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The shared state's bounded queue, its URL checks, and its behaviour with no Redis. */
#include <stdlib.h>

#include "unit.h"
#include "../../detect/shared_state.h"

UNIT_TEST(test_queue_fifo)
{
    struct shared_queue q;
    CHECK(shared_queue_init(&q, 4));
    CHECK(shared_queue_push(&q, "* a.example", 10));
    CHECK(shared_queue_push(&q, "10.0.0.1 a.example", 20));
    struct shared_update u;
    CHECK(shared_queue_pop(&q, &u));
    CHECK_STR(u.key, "* a.example");
    CHECK_EQ_U(u.first_usec, 10);
    free(u.key);
    CHECK(shared_queue_pop(&q, &u));
    CHECK_STR(u.key, "10.0.0.1 a.example");
    free(u.key);
    CHECK(!shared_queue_pop(&q, &u));
    CHECK_EQ_U(q.dropped, 0);
    shared_queue_destroy(&q);
}

/* At the cap the oldest goes and is counted; the newest are kept in order. */
UNIT_TEST(test_queue_drops_oldest)
{
    struct shared_queue q;
    CHECK(shared_queue_init(&q, 3));
    char key[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof(key), "* d%d", i);
        shared_queue_push(&q, key, (uint64_t)i);
    }
    CHECK_EQ_U(q.count, 3);
    CHECK_EQ_U(q.dropped, 2);
    struct shared_update u;
    for (int i = 3; i <= 5; i++) {
        CHECK(shared_queue_pop(&q, &u));
        CHECK_EQ_U(u.first_usec, (uint64_t)i);
        free(u.key);
    }
    shared_queue_destroy(&q);
}

/* A batch being sent stays queued until confirmed; updates pushed meanwhile (even ones that
 * evict part of the batch) are neither lost nor released by the confirmation. */
UNIT_TEST(test_queue_peek_release)
{
    struct shared_queue q;
    CHECK(shared_queue_init(&q, 4));
    shared_queue_push(&q, "* a", 1);
    shared_queue_push(&q, "* b", 2);
    shared_queue_push(&q, "* c", 3);
    struct shared_update batch[2];
    size_t n = shared_queue_peek(&q, batch, 2);
    CHECK_EQ_U(n, 2);
    CHECK_STR(batch[0].key, "* a");
    CHECK_STR(batch[1].key, "* b");
    CHECK_EQ_U(q.count, 3);                 /* peek removes nothing */
    shared_queue_push(&q, "* d", 4);
    shared_queue_push(&q, "* e", 5);        /* full: "* a" evicted while in flight */
    CHECK_EQ_U(q.dropped, 1);
    shared_queue_release(&q, batch[1].seq); /* "* b" confirmed */
    CHECK_EQ_U(q.count, 3);
    struct shared_update u;
    CHECK(shared_queue_pop(&q, &u));
    CHECK_STR(u.key, "* c");
    free(u.key);
    free(batch[0].key);
    free(batch[1].key);
    shared_queue_release(&q, 0);            /* nothing that old: a no-op */
    CHECK_EQ_U(q.count, 2);
    shared_queue_destroy(&q);               /* frees what is left */
}

UNIT_TEST(test_queue_wraps)
{
    struct shared_queue q;
    CHECK(shared_queue_init(&q, 2));
    struct shared_update u;
    for (uint64_t i = 1; i <= 7; i++) {
        shared_queue_push(&q, "* w", i);
        CHECK(shared_queue_pop(&q, &u));
        CHECK_EQ_U(u.first_usec, i);
        free(u.key);
    }
    CHECK_EQ_U(q.count, 0);
    CHECK_EQ_U(q.dropped, 0);
    shared_queue_destroy(&q);
}

UNIT_TEST(test_bad_urls)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://host:0",
        "redis://host:70000", "redis://host:12x", "redis://host/db", "redis://[::1",
        "redis://host:6379/1/2", "redis://host:6379/-1", "redis://user@host",
        "redis://:@host",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct shared_state_config config = { bad[i], 0, 0 };
        struct shared_state *s = shared_state_new(&config, err, sizeof(err));
        if (s != NULL)
            fprintf(stderr, "  accepted %s\n", bad[i]);
        CHECK(s == NULL);
        CHECK(strstr(err, "redis://[[USER]:PASSWORD@]HOST") != NULL);
        shared_state_free(s);
    }
}

/* Nothing listens on port 1: updates are queued (bounded), errors counted, nothing blocks,
 * and freeing gives up quickly. */
UNIT_TEST(test_redis_absent)
{
    char err[256];
    struct shared_state_config config = { "redis://127.0.0.1:1/3", 0, 4 };
    struct shared_state *s = shared_state_new(&config, err, sizeof(err));
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(shared_state_wait_ready(s, 5000));
    char key[32];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "* d%d.example", i);
        shared_state_publish(s, key, 1000 + (uint64_t)i);
    }
    struct shared_state_stats st;
    shared_state_get_stats(s, &st);
    CHECK(st.errors >= 1);
    CHECK_EQ_U(st.queued, 4);
    CHECK_EQ_U(st.dropped, 2);
    CHECK_EQ_U(st.sent, 0);
    struct shared_update u;
    CHECK(!shared_state_take(s, &u));
    shared_state_flush(s, 3000);            /* Redis down: returns at once */
    shared_state_free(s);
}

UNIT_MAIN("shared_state",
          UNIT_CASE(test_queue_fifo), UNIT_CASE(test_queue_drops_oldest),
          UNIT_CASE(test_queue_peek_release), UNIT_CASE(test_queue_wraps),
          UNIT_CASE(test_bad_urls), UNIT_CASE(test_redis_absent))
