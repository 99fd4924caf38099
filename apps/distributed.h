/* distributed.h - the training programs as several processes over MPI
 * (mpirun -np N ...): who this process is, and the library's collective
 * operations made of MPI_Allreduce and MPI_Bcast. Without MPI in the build
 * every program is one process. */
#ifndef GAN_APPS_DISTRIBUTED_H
#define GAN_APPS_DISTRIBUTED_H

#include "gan.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct distributed {
    int rank, size;             /* this process of how many; 0 of 1 alone */
    int local_rank, local_size; /* the same among the processes of this machine */
    gan_collective collective;  /* for gan_trainer_set_collective when size > 1 */
} distributed;

/* Starts MPI when an MPI launcher (mpirun, srun) started the program, and
 * describes this process; else one process. False, with a message in err,
 * when MPI cannot start, or when a launcher started a program built
 * without MPI. */
bool distributed_init(int *argc, char ***argv, distributed *out, char *err, size_t err_size);
/* Ends MPI after a successful run. */
void distributed_finish(const distributed *d);
/* Ends every process of the run with status (MPI_Abort), so that none
 * waits for a failed one; alone, returns status. */
int distributed_fail(const distributed *d, int status);

#endif
