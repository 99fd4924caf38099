/* alloc_counter.c - counts heap allocations made by code linked statically
 * into a test (the library included), through the linker's --wrap. */
#include <stddef.h>

size_t test_alloc_count = 0;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);

void *__wrap_malloc(size_t size) { test_alloc_count++; return __real_malloc(size); }
void *__wrap_calloc(size_t n, size_t size) { test_alloc_count++; return __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t size) { test_alloc_count++; return __real_realloc(p, size); }
void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    test_alloc_count++;
    return __real_aligned_alloc(alignment, size);
}
