/* gan_prefetch.h - gan_prefetch asks the caches for every line of
 * p[0 .. bytes) ahead of reads that no hardware prefetcher follows
 * (shuffled images, a Winograd tile's patch a lane). It only hints: it
 * reads nothing, and does nothing where the compiler has no
 * __builtin_prefetch. */
#ifndef GAN_PREFETCH_H
#define GAN_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

enum { GAN_CACHE_LINE = 64 };

static inline void gan_prefetch(const void *p, size_t bytes)
{
#if defined(__GNUC__)
    const uintptr_t end = (uintptr_t)p + bytes;
    for (uintptr_t line = (uintptr_t)p & ~(uintptr_t)(GAN_CACHE_LINE - 1); line < end; line += GAN_CACHE_LINE)
        __builtin_prefetch((const void *)line);
#else
    (void)p, (void)bytes;
#endif
}

#endif
