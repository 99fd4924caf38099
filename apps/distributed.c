/* distributed.c - MPI for the training programs: started only when a
 * launcher started the program, the collective operations in chunks that
 * fit MPI's int counts. */
#define _POSIX_C_SOURCE 200809L
#include "distributed.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GAN_HAVE_MPI
#include <mpi.h>
#endif

/* Whether an MPI launcher started this process (Open MPI's mpirun, or a
 * PMI/PMIx launcher such as srun). */
static bool launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

#ifdef GAN_HAVE_MPI
enum { CHUNK = INT_MAX / 8 };

static int mpi_allreduce_sum(float *data, size_t count, void *user)
{
    (void)user;
    for (size_t at = 0; at < count; at += CHUNK) {
        const int n = (int)(count - at < CHUNK ? count - at : CHUNK);
        const int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return 0;
}

static int mpi_broadcast(void *data, size_t bytes, void *user)
{
    (void)user;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        const int n = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        const int rc = MPI_Bcast((char *)data + at, n, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return rc;
    }
    return 0;
}
#endif

bool distributed_init(int *argc, char ***argv, distributed *out, char *err, size_t err_size)
{
    *out = (distributed){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
    if (!launched_by_mpi())
        return true;
#ifdef GAN_HAVE_MPI
    MPI_Comm local;
    if (MPI_Init(argc, argv) != MPI_SUCCESS || MPI_Comm_rank(MPI_COMM_WORLD, &out->rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &out->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) != MPI_SUCCESS) {
        snprintf(err, err_size, "MPI did not start");
        return false;
    }
    MPI_Comm_rank(local, &out->local_rank);
    MPI_Comm_size(local, &out->local_size);
    MPI_Comm_free(&local);
    out->collective = (gan_collective){mpi_allreduce_sum, mpi_broadcast, NULL, out->rank, out->size};
    return true;
#else
    (void)argc, (void)argv;
    snprintf(err, err_size, "an MPI launcher started this program, but it was built without MPI: install "
                            "libopenmpi-dev and openmpi-bin, then rebuild (cmake -B build && cmake --build build)");
    return false;
#endif
}

void distributed_finish(const distributed *d)
{
#ifdef GAN_HAVE_MPI
    if (launched_by_mpi())
        MPI_Finalize();
#endif
    (void)d;
}

int distributed_fail(const distributed *d, int status)
{
#ifdef GAN_HAVE_MPI
    if (d->size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
    else if (launched_by_mpi())
        MPI_Finalize();
#endif
    (void)d;
    return status;
}
