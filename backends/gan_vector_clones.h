/* gan_vector_clones.h - VECTOR_CLONES marks a loop's function for the
 * compiler to also build for AVX2 and AVX-512, the copy the CPU runs
 * chosen when the library loads (an ifunc: GCC on glibc). With C11's
 * default of no contraction, every copy gives the same bits. AVX-512's
 * pays in the loops that divide or take square roots: Adam's update, in
 * L2, 0.31 ns an element with AVX2 and 0.19 with AVX-512 on a Zen 5 core.
 * Not with clang 14, whose resolvers crashed the shared library as it
 * loaded, nor under AddressSanitizer, whose runtime starts after them. */
#ifndef GAN_VECTOR_CLONES_H
#define GAN_VECTOR_CLONES_H

#include <limits.h> /* __GLIBC__, on glibc */

#if defined(GAN_HAVE_AVX2_KERNEL) && defined(__GLIBC__) && defined(__GNUC__) && __GNUC__ >= 6 && \
    !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#if defined(GAN_HAVE_AVX512_KERNEL)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#else
#define VECTOR_CLONES
#endif

#endif
