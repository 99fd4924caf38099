/* context.c - status strings, the context, and its random generator. */
#include "gan_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

const char *gan_strerror(gan_status status)
{
    switch (status) {
#define GAN_STATUS_TEXT_(name, value, text) \
    case GAN_##name: return text;
        GAN_STATUS_MAP(GAN_STATUS_TEXT_)
#undef GAN_STATUS_TEXT_
    }
    return "unknown status";
}

gan_status gan_fail(gan_context *ctx, gan_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

gan_status gan_sink_fail(gan_error_sink sink, gan_status status, const char *fmt, ...)
{
    if (sink.buf && sink.size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sink.buf, sink.size, fmt, ap);
        va_end(ap);
    }
    return status;
}

gan_error_sink gan_context_sink(gan_context *ctx)
{
    return ctx ? (gan_error_sink){ctx->error, sizeof ctx->error} : (gan_error_sink){NULL, 0};
}

const char *gan_context_error(const gan_context *ctx)
{
    return ctx ? ctx->error : "no context";
}

gan_context_params gan_context_default_params(void)
{
    gan_context_params p;
    p.backend = GAN_BACKEND_CPU;
    p.num_threads = 0;
    p.seed = 0;
    p.device = 0;
    return p;
}

static int available_threads(void)
{
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

gan_status gan_context_create(const gan_context_params *params, gan_context **out, char *error,
                              size_t error_size)
{
    if (error && error_size)
        error[0] = '\0';
    if (!out)
        return GAN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!params || params->num_threads < 0 || params->device < 0) {
        if (error && error_size)
            snprintf(error, error_size, "gan_context_create: %s",
                     !params ? "params is NULL" : "num_threads and device must be >= 0");
        return GAN_ERR_INVALID_ARGUMENT;
    }
    gan_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return GAN_ERR_OUT_OF_MEMORY;
    ctx->kind = params->backend;
    ctx->env.num_threads = params->num_threads ? params->num_threads : available_threads();
#ifndef _OPENMP
    ctx->env.num_threads = 1;
#endif
    ctx->env.error = gan_context_sink(ctx);
    gan_random_seed(ctx, params->seed);

    const gan_backend_entry *entry = gan_backend_find(params->backend);
    gan_status st;
    if (!entry)
        st = gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_context_create: unknown backend %d",
                      (int)params->backend);
    else if (!entry->create)
        st = gan_fail(ctx, GAN_ERR_UNAVAILABLE, "%s", entry->missing);
    else
        st = entry->create(&ctx->env, params->device, &ctx->backend);
    if (st != GAN_OK) {
        if (error && error_size)
            snprintf(error, error_size, "%s", ctx->error);
        free(ctx);
        return st;
    }
    ctx->ops = &ctx->backend->iface->ops;
    *out = ctx;
    return GAN_OK;
}

void gan_context_free(gan_context *ctx)
{
    if (!ctx)
        return;
    ctx->backend->iface->destroy(ctx->backend);
    free(ctx->host_scratch);
    free(ctx->random_bits);
    free(ctx);
}

gan_backend_kind gan_context_backend(const gan_context *ctx) { return ctx->kind; }
const char *gan_context_backend_name(const gan_context *ctx) { return ctx->backend->iface->name; }

void gan_backend_track_memory(gan_backend_env *env, ptrdiff_t bytes)
{
    env->memory_in_use += (size_t)bytes; /* wraps back on release */
    if (env->memory_in_use > env->memory_peak)
        env->memory_peak = env->memory_in_use;
}

void gan_context_memory(const gan_context *ctx, size_t *in_use, size_t *peak)
{
    if (in_use)
        *in_use = ctx->env.memory_in_use;
    if (peak)
        *peak = ctx->env.memory_peak;
}
int gan_context_num_threads(const gan_context *ctx) { return ctx->env.num_threads; }
gan_transfer_stats gan_context_transfers(const gan_context *ctx) { return ctx->env.transfers; }

void gan_context_reset_transfers(gan_context *ctx)
{
    memset(&ctx->env.transfers, 0, sizeof ctx->env.transfers);
}

gan_status gan_context_gather(gan_context *ctx, gan_status (*body)(void *arg), void *arg)
{
    gan_backend *be = ctx->backend;
    return be->iface->gather ? be->iface->gather(be, body, arg) : body(arg);
}

float *gan_host_scratch(gan_context *ctx, size_t n)
{
    if (n > ctx->host_scratch_len) {
        float *p = realloc(ctx->host_scratch, n * sizeof *p);
        if (!p)
            return NULL;
        ctx->host_scratch = p;
        ctx->host_scratch_len = n;
    }
    return ctx->host_scratch;
}

/* ---------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void gan_random_seed(gan_context *ctx, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        ctx->rng[i] = splitmix64(&seed);
}

/* xoshiro256** on a state the caller holds: the loops below keep it in
 * local variables (registers), not in the context, for the length of a fill */
static inline uint64_t xoshiro_next(uint64_t s[4])
{
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t gan_random_u64(gan_context *ctx) { return xoshiro_next(ctx->rng); }

uint64_t gan_random_below(gan_context *ctx, uint64_t bound)
{
    if (bound == 0)
        return 0;
    /* rejection removes the modulo bias */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do
        r = gan_random_u64(ctx);
    while (r >= limit);
    return r % bound;
}

gan_status gan_random_uniform(gan_context *ctx, float *dst, size_t n, float low, float high)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!dst && n)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_random_uniform: dst is NULL");
    if (!(low <= high) || !isfinite(low) || !isfinite(high))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_random_uniform: bad range [%g, %g)", low, high);
    /* uniform in [0, 1) with 24 random bits: exactly representable floats */
    uint64_t state[4];
    memcpy(state, ctx->rng, sizeof state);
    for (size_t i = 0; i < n; i++)
        dst[i] = low + (high - low) * ((float)(xoshiro_next(state) >> 40) * (1.0f / 16777216.0f));
    memcpy(ctx->rng, state, sizeof state);
    return GAN_OK;
}

/* Pairs of normal values under which one thread transforms them all (a
 * pair's transform takes about 25 ns, waking the others a few us), and the
 * most drawn before they are transformed (a buffer of 512 KiB) */
enum { NORMAL_PARALLEL_MIN_PAIRS = 1024, NORMAL_CHUNK_PAIRS = 32768 };

gan_status gan_random_normal(gan_context *ctx, float *dst, size_t n, float mean, float std)
{
    gan_clear_error(ctx);
    if (!ctx)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!dst && n)
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT, "gan_random_normal: dst is NULL");
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_random_normal: bad mean %g or std %g", mean, std);
    /* Box-Muller in double, two values per pair of uniforms: the draws in
     * order on this thread, the transforms (logarithm, square root, sine
     * and cosine: most of the time) on the context's threads, so the values
     * are the same whatever their count; up to NORMAL_CHUNK_PAIRS pairs at a
     * time, which bounds the buffer of draws the context keeps */
    const size_t pairs = (n + 1) / 2;
    const size_t chunk = pairs < NORMAL_CHUNK_PAIRS ? pairs : NORMAL_CHUNK_PAIRS;
    if (chunk > ctx->random_bits_len) {
        uint64_t *bits = realloc(ctx->random_bits, 2 * chunk * sizeof *bits);
        if (!bits)
            return gan_fail(ctx, GAN_ERR_OUT_OF_MEMORY, "gan_random_normal: out of host memory");
        ctx->random_bits = bits;
        ctx->random_bits_len = chunk;
    }
    const double two_pi = 6.283185307179586;
    uint64_t *bits = ctx->random_bits, state[4];
    memcpy(state, ctx->rng, sizeof state);
    for (size_t first = 0; first < pairs; first += chunk) {
        const size_t count = pairs - first < chunk ? pairs - first : chunk;
        for (size_t i = 0; i < 2 * count; i++)
            bits[i] = xoshiro_next(state) >> 11;
        const int threads = count < NORMAL_PARALLEL_MIN_PAIRS ? 1 : ctx->env.num_threads;
        (void)threads;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (size_t p = 0; p < count; p++) {
            const double u1 = ((double)bits[2 * p] + 1.0) * (1.0 / 9007199254740992.0);
            const double u2 = (double)bits[2 * p + 1] * (1.0 / 9007199254740992.0);
            const double r = sqrt(-2.0 * log(u1));
            const size_t at = 2 * (first + p);
            dst[at] = (float)(mean + std * r * cos(two_pi * u2));
            if (at + 1 < n)
                dst[at + 1] = (float)(mean + std * r * sin(two_pi * u2));
        }
    }
    memcpy(ctx->rng, state, sizeof state);
    return GAN_OK;
}

void gan_random_get_state(const gan_context *ctx, uint64_t state[4])
{
    memcpy(state, ctx->rng, sizeof ctx->rng);
}

gan_status gan_random_set_state(gan_context *ctx, const uint64_t state[4])
{
    gan_clear_error(ctx);
    if (!ctx || !state)
        return GAN_ERR_INVALID_ARGUMENT;
    if (!(state[0] | state[1] | state[2] | state[3]))
        return gan_fail(ctx, GAN_ERR_INVALID_ARGUMENT,
                        "gan_random_set_state: the all-zero state is not valid for xoshiro256**");
    memcpy(ctx->rng, state, sizeof ctx->rng);
    return GAN_OK;
}
