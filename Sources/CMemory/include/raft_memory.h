#ifndef RAFT_MEMORY_H
#define RAFT_MEMORY_H

/// Makes every thread allocate from one glibc malloc arena (mallopt M_ARENA_MAX), unless the
/// MALLOC_ARENA_MAX environment variable says otherwise; a no-op elsewhere. With an arena per
/// thread, a state freed by the event loop's arena cannot be reused by the I/O thread that
/// builds its replacement from a snapshot, and a member holds both (malloc_trim does not give
/// the freed pages back either: measured).
void raft_use_one_malloc_arena(void);

#endif
