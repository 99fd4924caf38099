/* progress_gif.h - the animated GIF of a run's sample grids. */
#ifndef GAN_APPS_PROGRESS_GIF_H
#define GAN_APPS_PROGRESS_GIF_H

#include <stdbool.h>
#include <stddef.h>

/* Writes out (replaced atomically) from the grids in run_dir/samples:
 * step_NNNNNNN.png and epoch_NNN.png in the order training made them
 * (epoch e ends at step e * steps_per_epoch, after that step's grid), as a
 * looping GIF with delay_s seconds per frame: grey grids with a grey
 * palette, colour ones with 256 colours of their own per frame. Sets
 * *frames; with no grid there, writes nothing. On failure returns false
 * with a message in err naming the file. */
bool progress_gif_write(const char *run_dir, int steps_per_epoch, double delay_s, const char *out, int *frames,
                        char *err, size_t err_size);

#endif
