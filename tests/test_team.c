/* test_team.c - the CPU backend's threads (cpu_team.h): every thread of a
 * task runs once with its own number, a barrier holds each thread until
 * all have written, a gathering hands its tasks to the waiting threads and
 * sees their writes when the task returns, a task asking for fewer threads
 * gets them, and tasks or gatherings started inside a task or a gathering
 * run on the calling thread. More threads than cores (5 on 2) throughout,
 * so that threads wait descheduled. */
#include "cpu_team.h"
#include "test_util.h"

#include <stdatomic.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { THREADS = 5, ROUNDS = 300 };

/* The threads a task asking for `threads` runs on: at most OpenMP's limit
 * (OMP_THREAD_LIMIT, which a second run of this test sets to 3, so that
 * runs are dealt to threads that do not exist); 1 without OpenMP */
static int expected(int threads)
{
#ifdef _OPENMP
    return threads < omp_get_thread_limit() ? threads : omp_get_thread_limit();
#else
    (void)threads;
    return 1;
#endif
}

/* One round of a task: each thread writes its slot, waits at the barrier,
 * then checks everyone's slot and adds its number to `ran` */
typedef struct round_state {
    int round;
    int slots[THREADS];
    _Atomic int ran, bad, sizes;
} round_state;

static void round_task(const void *args, const gan_worker *w)
{
    round_state *s = (round_state *)args;
    s->slots[w->t] = s->round * THREADS + w->t;
    gan_team_sync(w);
    for (int t = 0; t < w->nt; t++)
        if (s->slots[t] != s->round * THREADS + t)
            atomic_fetch_add(&s->bad, 1);
    gan_team_sync(w); /* no thread writes the next round's slot before all have read this one's */
    atomic_fetch_add(&s->ran, 1 << (4 * w->t));
    atomic_fetch_add(&s->sizes, w->nt);
}

/* Runs ROUNDS rounds asking for `threads` threads: the threads each round
 * ran on, or -1 when a round went wrong (a thread twice or not at all, a
 * slot read before it was written, threads told different team sizes) */
static int run_rounds(gan_team *team, int threads)
{
    round_state s = {0};
    int ran_on = 0;
    for (s.round = 1; s.round <= ROUNDS; s.round++) {
        atomic_store(&s.ran, 0);
        atomic_store(&s.sizes, 0);
        gan_team_run(team, threads, round_task, &s);
        const int sizes = atomic_load(&s.sizes), ran = atomic_load(&s.ran);
        int nt = 1;
        while (nt * nt < sizes)
            nt++;
        int expect = 0;
        for (int t = 0; t < nt; t++)
            expect += 1 << (4 * t);
        if (nt * nt != sizes || ran != expect || (ran_on && nt != ran_on))
            return -1;
        ran_on = nt;
    }
    return atomic_load(&s.bad) == 0 ? ran_on : -1;
}

/* gan_team_for's items: each once */
static void count_item(const void *args, ptrdiff_t i)
{
    _Atomic int *counts = (_Atomic int *)args;
    atomic_fetch_add(&counts[i], 1);
}

/* gan_team_for on 1,000 items, then on 3 (fewer than the threads): each
 * item once, whichever thread took it */
static bool each_item_once(gan_team *team)
{
    static _Atomic int counts[1000];
    for (int i = 0; i < 1000; i++)
        atomic_store(&counts[i], 0);
    gan_team_for(team, THREADS, 1000, count_item, counts);
    gan_team_for(team, THREADS, 3, count_item, counts);
    bool once = true;
    for (int i = 0; i < 1000; i++)
        once &= atomic_load(&counts[i]) == (i < 3 ? 2 : 1);
    return once;
}

typedef struct gathering {
    gan_team *team;
    bool ok;
} gathering;

static gan_status gathered_rounds(void *arg)
{
    gathering *g = arg;
    g->ok = run_rounds(g->team, THREADS) == expected(THREADS) && run_rounds(g->team, 2) == expected(2) &&
            run_rounds(g->team, 1) == 1;
    for (int rep = 0; rep < 100; rep++)
        g->ok &= each_item_once(g->team);
    return GAN_ERR_STATE; /* passed back as it is */
}

/* A task started inside a task, and a gathering inside a gathering, run alone */
static void nested_task(const void *args, const gan_worker *w)
{
    _Atomic int *inner_sizes = (_Atomic int *)args;
    (void)w;
    round_state s = {0};
    gan_team_run(w->team, THREADS, round_task, &s);
    atomic_fetch_add(inner_sizes, atomic_load(&s.sizes));
}

static gan_status count_call(void *arg)
{
    (*(int *)arg)++;
    return GAN_OK;
}

static gan_status nested_gathering(void *arg)
{
    gan_team *team = arg;
    int calls = 0;
    CHECK(gan_team_gather(team, count_call, &calls) == GAN_OK && calls == 1);
    _Atomic int inner_sizes = 0;
    gan_team_run(team, 2, nested_task, &inner_sizes);
    CHECK(atomic_load(&inner_sizes) == expected(2));
    return GAN_OK;
}

int main(void)
{
    gan_team *team = gan_team_create(THREADS);
#ifdef _OPENMP
    CHECK(team && gan_team_size(team) == THREADS); /* what a task may ask for, whatever OpenMP then gives */
#else
    CHECK(team && gan_team_size(team) == 1);
#endif

    CHECK(run_rounds(team, THREADS) == expected(THREADS)); /* each task its own OpenMP region */
    CHECK(run_rounds(team, 3) == expected(3));

    gathering g = {team, false};
    CHECK(gan_team_gather(team, gathered_rounds, &g) == GAN_ERR_STATE);
    CHECK(g.ok);
    CHECK(run_rounds(team, THREADS) == expected(THREADS)); /* and after it */

    CHECK(each_item_once(team));

    _Atomic int inner_sizes = 0;
    gan_team_run(team, 2, nested_task, &inner_sizes);
    CHECK(atomic_load(&inner_sizes) == expected(2)); /* tasks of one thread each */
    CHECK(gan_team_gather(team, nested_gathering, team) == GAN_OK);

    gan_team *alone = gan_team_create(0);
    CHECK(alone && gan_team_size(alone) == 1);
    CHECK(run_rounds(alone, THREADS) == 1); /* at most the team's size */
    gan_team_destroy(alone);
    gan_team_destroy(team);
    return test_finish("test_team");
}
