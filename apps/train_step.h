/* train_step.h - one GAN training step as the PyTorch DCGAN tutorial
 * makes it, shared by the trainer, the benchmark and the tests. */
#ifndef GAN_APPS_TRAIN_STEP_H
#define GAN_APPS_TRAIN_STEP_H

#include "gan.h"

typedef struct gan_pair {
    gan_model *g, *d;         /* borrowed */
    gan_optimizer *og, *od;   /* borrowed */
    gan_tensor *ones, *zeros; /* labels [batch, 1]; owned by whoever filled them */
    gan_tensor *dlogits;      /* scratch [batch, 1] */
} gan_pair;

typedef struct step_stats {
    float loss_d, loss_g;
    float d_x;            /* mean D(x) on the real batch */
    float d_g_z1, d_g_z2; /* mean D(G(z)) before and after D's update */
} step_stats;

/* D: zero its gradients, BCE on the real batch (label 1) and on G(z)
 * (label 0), one Adam step. G: BCE of D(G(z)) against label 1, through a
 * D that keeps its parameter gradients untouched, one Adam step. On failure
 * the context says which call failed. */
gan_status train_step_run(gan_context *ctx, gan_pair *pair, const gan_tensor *real, const gan_tensor *z,
                          step_stats *stats);

#endif
