#include "raft_memory.h"

#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void raft_use_one_malloc_arena(void) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_ARENA_MAX") == NULL) {
        mallopt(M_ARENA_MAX, 1);
    }
#endif
}
