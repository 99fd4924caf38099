/* cpu_team.h - the CPU backend's threads: tasks that run on several
 * threads at once, the barrier between their phases, and gatherings that
 * keep the threads together across many tasks.
 *
 * A task outside a gathering is one OpenMP parallel region. Inside
 * gan_team_gather (a training step) the threads stay in one region for the
 * whole call: the calling thread runs the caller's code and hands each task
 * to the others, which wait for it spinning (then giving their cores up,
 * then sleeping, when the wait is long). A task then costs a handoff of
 * two cache lines (0.2 us on the 2-core VMs measured) instead of OpenMP's
 * fork and join (3 us there: libgomp wakes its threads with a futex system
 * call at each region and barrier, and system calls are slow in a VM).
 *
 * A team is used from one thread at a time (the context's rule); tasks
 * never run two at once on one team. */
#ifndef GAN_CPU_TEAM_H
#define GAN_CPU_TEAM_H

#include "gan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gan_team gan_team;

/* The thread a task runs on: number t of nt (nt may be fewer than asked) */
typedef struct gan_worker {
    int t, nt;
    gan_team *team;
} gan_worker;

typedef void (*gan_task)(const void *args, const gan_worker *w);

/* A team of up to `threads` threads (at least 1; 1 in a build without
 * OpenMP); NULL when out of memory.
 * gan_team_destroy frees it (NULL is fine). */
gan_team *gan_team_create(int threads);
void gan_team_destroy(gan_team *team);
int gan_team_size(const gan_team *team);

/* Runs task(args, w) on `threads` threads (at most the team's size) and
 * returns when all have finished. One thread, or a call from within a
 * task, runs it on the calling thread alone. */
void gan_team_run(gan_team *team, int threads, gan_task task, const void *args);

/* Whether the calling thread is running a task: work it would share out
 * then runs on it alone (gan_team_run and gan_team_for see to that; other
 * code that deals runs itself must check) */
bool gan_team_in_task(void);

/* Waits until all of w's task's threads have reached it: what each wrote
 * before is then visible to all. */
void gan_team_sync(const gan_worker *w);

/* Items [begin, end) of n that thread w takes in a static split into
 * contiguous parts */
void gan_worker_share(const gan_worker *w, ptrdiff_t n, ptrdiff_t *begin, ptrdiff_t *end);

/* Runs item(args, i) for each i in [0, n) once, on `threads` threads:
 * each takes the chunks of its contiguous run of them in order, then
 * chunks left at the ends of the others' runs (a core may run slower than
 * its neighbour: another VM, a busy sibling). Items must not depend on
 * which thread runs them. */
void gan_team_for(gan_team *team, int threads, ptrdiff_t n, void (*item)(const void *args, ptrdiff_t i),
                  const void *args);

/* Work taken between threads, for tasks that share it out themselves:
 * gan_team_deal splits chunks [0, chunks) into `runs` contiguous runs (at
 * most the team's size), one a thread; before the task starts, or between
 * barriers. gan_team_next gives thread t its next chunk: the first not yet
 * taken of its own run, then the last of another's (a core may run slower
 * than its neighbour), or -1 when none is left; *scan, 0 at first, keeps
 * its place among the runs. */
void gan_team_deal(gan_team *team, int runs, int64_t chunks);
int64_t gan_team_next(gan_team *team, int t, int runs, int *scan);

/* Runs body(arg) on the calling thread with the team's other threads kept
 * ready for the tasks it runs, and returns body's status. A gathering
 * within a gathering, or a team of one, runs body alone. */
gan_status gan_team_gather(gan_team *team, gan_status (*body)(void *arg), void *arg);

#endif /* GAN_CPU_TEAM_H */
