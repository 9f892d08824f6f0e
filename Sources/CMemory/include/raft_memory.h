#ifndef RAFT_MEMORY_H
#define RAFT_MEMORY_H

/// Gives the allocator's free pages back to the system (glibc malloc_trim); a no-op elsewhere.
/// Called after a large state was dropped and while the one replacing it is built.
void raft_release_free_memory(void);

/// Makes every thread allocate from one glibc malloc arena (mallopt M_ARENA_MAX), unless the
/// MALLOC_ARENA_MAX environment variable says otherwise; a no-op elsewhere. With an arena per
/// thread, a state freed by the event loop's arena cannot be reused by the I/O thread that
/// builds its replacement from a snapshot, and a member briefly holds both.
void raft_use_one_malloc_arena(void);

#endif
