/* cpu_team.c - tasks on OpenMP's threads, with spinning handoffs and
 * barriers (see cpu_team.h) */
#define _POSIX_C_SOURCE 200809L
#include "cpu_team.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#include <time.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* A waiting thread pauses up to SPIN_PAUSES times (a millisecond on Zen,
 * about three on Intel, whose pause is longer), then gives its core up
 * between looks, YIELDS times, then sleeps SLEEP_NS between looks, so that
 * a long wait (a collective call of a step across machines) leaves the
 * core to others. Giving the core up is a system call, which costs more
 * than the wait it ends on the VMs measured (sched_yield was 8% of a dcgan
 * step's cycles at 2,048 pauses). A team with more threads than the
 * machine has cores gives its core up at once, as threads then wait for
 * others that are not running. */
enum {
    CACHE_LINE = 64,
    SPIN_PAUSES = 1 << 16,
    SPIN_PAUSES_OVERSUBSCRIBED = 64,
    YIELDS = 1000,
    SLEEP_NS = 50000
};

/* gan_team_for deals each thread a run of this many chunks of items */
enum { CHUNKS_PER_THREAD = 8 };

/* The chunks [front, back) of a run not yet taken (see gan_team_deal), as
 * front << 32 | back, on a cache line of its own */
typedef struct chunk_run {
    _Alignas(CACHE_LINE) _Atomic uint64_t span;
} chunk_run;

struct gan_team {
    /* set when made (spin_pauses before the first region; gathered by the
     * gathering thread), read by all */
    _Alignas(CACHE_LINE) int threads; /* the most a task takes */
    int spin_pauses;  /* SPIN_PAUSES, or SPIN_PAUSES_OVERSUBSCRIBED; 0 until the first region */
    int gathered;     /* threads in the gathering under way, 0 outside one */
    chunk_run *runs;  /* one per thread: gan_team_deal's */
    /* the barrier: threads arrived at it, and how many times it opened */
    _Alignas(CACHE_LINE) _Atomic unsigned arrived;
    _Alignas(CACHE_LINE) _Atomic unsigned opened;
    /* a gathering: tasks posted so far (the task itself in the fields after) */
    _Alignas(CACHE_LINE) _Atomic unsigned posted;
    gan_task task; /* NULL: the gathering is over */
    const void *args;
    int nt;
    /* the threads other than the poster that are done with the last task */
    _Alignas(CACHE_LINE) _Atomic int finished;
};

/* Whether this thread is running a task: a task it starts then runs on it alone */
static _Thread_local bool in_task;

bool gan_team_in_task(void) { return in_task; }

static inline void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* One look's wait: the `looks`-th since the waiting began */
static inline void wait_a_little(const gan_team *team, long looks)
{
    if (looks < team->spin_pauses) {
        spin_pause();
        return;
    }
#if defined(__unix__) || defined(__APPLE__)
    if (looks < team->spin_pauses + YIELDS) {
        sched_yield();
        return;
    }
    const struct timespec nap = {0, SLEEP_NS};
    nanosleep(&nap, NULL);
#endif
}

/* Waits until *x differs from old; returns its new value */
static unsigned wait_for_change(const gan_team *team, _Atomic unsigned *x, unsigned old)
{
    unsigned v;
    for (long looks = 0; (v = atomic_load_explicit(x, memory_order_acquire)) == old; looks++)
        wait_a_little(team, looks);
    return v;
}

static void wait_for_count(const gan_team *team, _Atomic int *x, int count)
{
    for (long looks = 0; atomic_load_explicit(x, memory_order_acquire) != count; looks++)
        wait_a_little(team, looks);
}

gan_team *gan_team_create(int threads)
{
    gan_team *team = aligned_alloc(CACHE_LINE, (sizeof *team + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
    if (!team)
        return NULL;
    team->runs = aligned_alloc(CACHE_LINE, sizeof(chunk_run) * (size_t)(threads < 1 ? 1 : threads));
    if (!team->runs) {
        free(team);
        return NULL;
    }
    atomic_init(&team->arrived, 0);
    atomic_init(&team->opened, 0);
    atomic_init(&team->posted, 0);
    atomic_init(&team->finished, 0);
    team->task = NULL;
    team->args = NULL;
    team->nt = 1;
#ifdef _OPENMP
    team->threads = threads < 1 ? 1 : threads;
    team->spin_pauses = 0;
#else
    team->threads = 1; /* a build without OpenMP runs every task on the calling thread */
    team->spin_pauses = SPIN_PAUSES;
    (void)threads;
#endif
    team->gathered = 0;
    return team;
}

void gan_team_destroy(gan_team *team)
{
    if (team)
        free(team->runs);
    free(team);
}

int gan_team_size(const gan_team *team) { return team->threads; }

#ifdef _OPENMP
/* Called before each parallel region: the first asks OpenMP for the
 * machine's cores. Not when the team is made, as that starts the OpenMP
 * runtime, which under clang writes a file (a process under a 0-byte file
 * size limit, as test_io makes, would die making a context). */
static void settle_spin(gan_team *team)
{
    if (!team->spin_pauses)
        team->spin_pauses = team->threads > omp_get_num_procs() ? SPIN_PAUSES_OVERSUBSCRIBED : SPIN_PAUSES;
}
#endif

static void run_part(gan_task task, const void *args, const gan_worker *w)
{
    in_task = true;
    task(args, w);
    in_task = false;
}

/* The gathering thread's handoff: the others run their parts, it runs its
 * own, then waits for all of them (those beyond nt only acknowledge). */
static void post(gan_team *team, int nt, gan_task task, const void *args)
{
    team->task = task;
    team->args = args;
    team->nt = nt;
    atomic_store_explicit(&team->finished, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&team->posted, 1, memory_order_release);
    if (task) {
        const gan_worker w = {0, nt, team};
        run_part(task, args, &w);
        wait_for_count(team, &team->finished, team->gathered - 1);
    }
}

#ifdef _OPENMP
/* A gathering's thread t other than the first: runs what is posted until
 * the gathering ends. `seen`: tasks posted before it began. */
static void serve(gan_team *team, int t, unsigned seen)
{
    for (;;) {
        seen = wait_for_change(team, &team->posted, seen);
        if (!team->task)
            return;
        if (t < team->nt) {
            const gan_worker w = {t, team->nt, team};
            run_part(team->task, team->args, &w);
        }
        atomic_fetch_add_explicit(&team->finished, 1, memory_order_release);
    }
}
#endif

void gan_team_run(gan_team *team, int threads, gan_task task, const void *args)
{
    if (threads > team->threads)
        threads = team->threads;
    if (threads <= 1 || in_task) {
        const gan_worker w = {0, 1, team};
        task(args, &w);
        return;
    }
    if (team->gathered > 1) {
        post(team, threads < team->gathered ? threads : team->gathered, task, args);
        return;
    }
#ifdef _OPENMP
    settle_spin(team);
#pragma omp parallel num_threads(threads)
    {
        const gan_worker w = {omp_get_thread_num(), omp_get_num_threads(), team};
        run_part(task, args, &w);
    }
#endif
}

void gan_team_sync(const gan_worker *w)
{
    if (w->nt <= 1)
        return;
    gan_team *team = w->team;
    const unsigned opened = atomic_load_explicit(&team->opened, memory_order_acquire);
    if (atomic_fetch_add_explicit(&team->arrived, 1, memory_order_acq_rel) == (unsigned)w->nt - 1) {
        atomic_store_explicit(&team->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&team->opened, opened + 1, memory_order_release);
    } else {
        wait_for_change(team, &team->opened, opened);
    }
}

void gan_worker_share(const gan_worker *w, ptrdiff_t n, ptrdiff_t *begin, ptrdiff_t *end)
{
    *begin = n * w->t / w->nt;
    *end = n * (w->t + 1) / w->nt;
}

void gan_team_deal(gan_team *team, int runs, int64_t chunks)
{
    for (int r = 0; r < runs; r++)
        atomic_store_explicit(&team->runs[r].span,
                              (uint64_t)(chunks * r / runs) << 32 | (uint64_t)(chunks * (r + 1) / runs),
                              memory_order_relaxed);
}

/* Takes the first chunk of a run (its owner) or the last (another
 * thread); -1 when none is left */
static int64_t take_chunk(gan_team *team, int run, bool owner)
{
    chunk_run *cr = &team->runs[run];
    uint64_t span = atomic_load_explicit(&cr->span, memory_order_relaxed);
    for (;;) {
        const uint32_t front = (uint32_t)(span >> 32), back = (uint32_t)span;
        if (front >= back)
            return -1;
        const uint64_t rest = owner ? (uint64_t)(front + 1) << 32 | back : (uint64_t)front << 32 | (back - 1);
        if (atomic_compare_exchange_weak_explicit(&cr->span, &span, rest, memory_order_relaxed,
                                                  memory_order_relaxed))
            return owner ? front : back - 1;
    }
}

int64_t gan_team_next(gan_team *team, int t, int runs, int *scan)
{
    for (; *scan < runs; ++*scan) {
        const int64_t chunk = take_chunk(team, (t + *scan) % runs, *scan == 0);
        if (chunk >= 0)
            return chunk;
    }
    return -1;
}

typedef struct for_args {
    void (*item)(const void *args, ptrdiff_t i);
    const void *args;
    ptrdiff_t n, chunk; /* items, and items a chunk */
    int runs;           /* the runs the chunks were dealt into */
} for_args;

/* Thread w's chunks of gan_team_for's items */
static void for_task(const void *args, const gan_worker *w)
{
    const for_args *f = args;
    int scan = 0;
    for (int64_t c; (c = gan_team_next(w->team, w->t, f->runs, &scan)) >= 0;) {
        const ptrdiff_t end = (c + 1) * f->chunk < f->n ? (c + 1) * f->chunk : f->n;
        for (ptrdiff_t i = c * f->chunk; i < end; i++)
            f->item(f->args, i);
    }
}

void gan_team_for(gan_team *team, int threads, ptrdiff_t n, void (*item)(const void *args, ptrdiff_t i),
                  const void *args)
{
    if (threads > team->threads)
        threads = team->threads;
    if (threads > n)
        threads = (int)n;
    if (threads <= 1 || in_task) {
        for (ptrdiff_t i = 0; i < n; i++)
            item(args, i);
        return;
    }
    /* CHUNKS_PER_THREAD chunks a thread, fewer where there are fewer items */
    const ptrdiff_t chunk = (n + (ptrdiff_t)threads * CHUNKS_PER_THREAD - 1) / ((ptrdiff_t)threads * CHUNKS_PER_THREAD);
    gan_team_deal(team, threads, (n + chunk - 1) / chunk);
    const for_args f = {item, args, n, chunk, threads};
    gan_team_run(team, threads, for_task, &f);
}

gan_status gan_team_gather(gan_team *team, gan_status (*body)(void *arg), void *arg)
{
    if (team->threads <= 1 || team->gathered || in_task)
        return body(arg);
    gan_status status = GAN_OK;
#ifdef _OPENMP
    const unsigned start = atomic_load_explicit(&team->posted, memory_order_relaxed);
    settle_spin(team);
#pragma omp parallel num_threads(team->threads)
    {
        const int t = omp_get_thread_num();
        if (t == 0) {
            team->gathered = omp_get_num_threads();
            status = body(arg);
            if (team->gathered > 1)
                post(team, 0, NULL, NULL);
            team->gathered = 0;
        } else {
            serve(team, t, start);
        }
    }
#else
    status = body(arg);
#endif
    return status;
}
