#ifndef RAFT_MEMORY_H
#define RAFT_MEMORY_H

/// Gives the allocator's free pages back to the system (glibc malloc_trim); a no-op elsewhere.
/// Called after a large state was dropped: its memory was freed by one thread's arena, and the
/// state that replaces it is built by another.
void raft_release_free_memory(void);

#endif
