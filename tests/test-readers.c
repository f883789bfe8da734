/*
 * Read sections (lib/readers.h): a wait lasts while a section that was open
 * when it began stays open, and no longer; counters of exited threads are
 * reused; a forked child does not wait for its parent's threads.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/testutil.h"
#include "readers.h"

/* A thread that opens a section and keeps it open until told. */
struct holder {
    atomic_bool inside, release;
};

static void *hold_section(void *arg)
{
    struct holder *h = arg;
    ck_assert(kvs__read_begin());
    atomic_store(&h->inside, true);
    double until = tu_now() + 30;
    while (!atomic_load(&h->release) && tu_now() < until)
        usleep(1000);
    kvs__read_end();
    return NULL;
}

static void hold_start(struct holder *h, pthread_t *t)
{
    atomic_init(&h->inside, false);
    atomic_init(&h->release, false);
    ck_assert_int_eq(pthread_create(t, NULL, hold_section, h), 0);
    double until = tu_now() + 10;
    while (!atomic_load(&h->inside) && tu_now() < until)
        usleep(1000);
    ck_assert(atomic_load(&h->inside));
}

static void *wait_readers(void *arg)
{
    kvs__readers_wait();
    atomic_store((atomic_bool *)arg, true);
    return NULL;
}

START_TEST(wait_lasts_while_a_section_is_open)
{
    struct holder h;
    pthread_t holder, waiter;
    hold_start(&h, &holder);
    atomic_bool waited = false;
    ck_assert_int_eq(pthread_create(&waiter, NULL, wait_readers, &waited), 0);
    double until = tu_now() + 0.3;
    while (tu_now() < until)
        ck_assert_msg(!atomic_load(&waited), "the wait returned while a section was open");
    atomic_store(&h.release, true);
    pthread_join(holder, NULL);
    pthread_join(waiter, NULL);
    ck_assert(atomic_load(&waited));
}
END_TEST

static void *one_section(void *arg)
{
    (void)arg;
    ck_assert(kvs__read_begin());
    kvs__read_end();
    return NULL;
}

START_TEST(wait_returns_once_sections_closed)
{
    pthread_t t;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_create(&t, NULL, one_section, NULL), 0);
        pthread_join(t, NULL);
        ck_assert(kvs__read_begin());
        kvs__read_end();
    }
    kvs__readers_wait(); /* every section is closed: returns (a hang times out) */
}
END_TEST

START_TEST(exited_threads_give_their_counters_back)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, one_section, NULL), 0);
    pthread_join(t, NULL);
    size_t before = kvs__readers_registered();
    ck_assert_uint_ge(before, 1);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(pthread_create(&t, NULL, one_section, NULL), 0);
        pthread_join(t, NULL);
    }
    ck_assert_uint_eq(kvs__readers_registered(), before);
}
END_TEST

START_TEST(forked_child_does_not_wait_for_parent_threads)
{
    struct holder h;
    pthread_t holder;
    hold_start(&h, &holder);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(10); /* a hang shows as a kill by SIGALRM */
        kvs__readers_wait();
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    atomic_store(&h.release, true);
    pthread_join(holder, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child's wait hung on a section of a thread it does not have");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("readers");
    TCase *tc = tcase_create("sections");
    tcase_add_test(tc, wait_lasts_while_a_section_is_open);
    tcase_add_test(tc, wait_returns_once_sections_closed);
    tcase_add_test(tc, exited_threads_give_their_counters_back);
    tcase_add_test(tc, forked_child_does_not_wait_for_parent_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
