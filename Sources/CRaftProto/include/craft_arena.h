/*
 * craft_arena: a bump allocator for protobuf-c messages.
 *
 * Decoding with protobuf-c's default allocator costs one malloc per nested
 * message and per bytes field, and the same number of frees afterwards. The
 * arena hands out memory from large blocks instead and frees everything at
 * once; protobuf-c's free calls become no-ops. The Swift wire target also
 * builds the C structs it packs in an arena, so that no C memory outlives one
 * encode or decode call.
 *
 * Not thread-safe: one arena belongs to one codec at a time.
 */
#ifndef CRAFT_ARENA_H
#define CRAFT_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

typedef struct craft_arena craft_arena;

/* A new arena whose first block holds `first_block_size` bytes. NULL when out of memory. */
craft_arena *craft_arena_create(size_t first_block_size);

/* Frees every block. */
void craft_arena_destroy(craft_arena *arena);

/* Forgets every allocation but keeps the first block for reuse. */
void craft_arena_reset(craft_arena *arena);

/* `size` bytes aligned to 16, or NULL when out of memory or size overflows. */
void *craft_arena_alloc(craft_arena *arena, size_t size);

/* An allocator for protobuf-c's unpack functions that allocates from `arena`. */
ProtobufCAllocator craft_arena_allocator(craft_arena *arena);

/* Bytes currently reserved from the system (for tests and metrics). */
size_t craft_arena_reserved_bytes(const craft_arena *arena);

#endif
