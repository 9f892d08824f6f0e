#include "craft_arena.h"

#include <stdlib.h>

typedef struct craft_block {
    struct craft_block *next;
    size_t size;  /* usable bytes after the header */
    size_t used;
} craft_block;

struct craft_arena {
    craft_block *head;    /* newest block, allocations come from here */
    craft_block *first;   /* kept across resets */
    size_t reserved;
};

/* Header rounded up so that block payloads start 16-byte aligned. */
#define CRAFT_HEADER ((sizeof(craft_block) + 15u) & ~(size_t)15u)
#define CRAFT_ALIGN(n) (((n) + 15u) & ~(size_t)15u)

static craft_block *craft_block_new(size_t size) {
    if (size > SIZE_MAX - CRAFT_HEADER) return NULL;
    craft_block *block = malloc(CRAFT_HEADER + size);
    if (block == NULL) return NULL;
    block->next = NULL;
    block->size = size;
    block->used = 0;
    return block;
}

craft_arena *craft_arena_create(size_t first_block_size) {
    craft_arena *arena = malloc(sizeof(craft_arena));
    if (arena == NULL) return NULL;
    if (first_block_size < 256) first_block_size = 256;
    arena->first = craft_block_new(CRAFT_ALIGN(first_block_size));
    if (arena->first == NULL) {
        free(arena);
        return NULL;
    }
    arena->head = arena->first;
    arena->reserved = arena->first->size;
    return arena;
}

static void craft_free_chain(craft_block *block, craft_block *stop) {
    while (block != NULL && block != stop) {
        craft_block *next = block->next;
        free(block);
        block = next;
    }
}

void craft_arena_destroy(craft_arena *arena) {
    if (arena == NULL) return;
    craft_free_chain(arena->head, NULL);
    free(arena);
}

void craft_arena_reset(craft_arena *arena) {
    /* Blocks are chained newest first, ending at `first`. */
    craft_free_chain(arena->head, arena->first);
    arena->head = arena->first;
    arena->first->next = NULL;
    arena->first->used = 0;
    arena->reserved = arena->first->size;
}

void *craft_arena_alloc(craft_arena *arena, size_t size) {
    if (size > SIZE_MAX - 16u) return NULL;
    size_t need = CRAFT_ALIGN(size == 0 ? 1 : size);
    craft_block *head = arena->head;
    if (head->size - head->used < need) {
        /* Grow geometrically so that many small allocations cost few mallocs,
           but give a large request a block of its own size. */
        size_t next = head->size * 2;
        if (next < need) next = need;
        if (next > ((size_t)64 << 20) && need <= ((size_t)64 << 20)) next = (size_t)64 << 20;
        craft_block *block = craft_block_new(next);
        if (block == NULL) return NULL;
        block->next = head;
        arena->head = block;
        arena->reserved += block->size;
        head = block;
    }
    void *p = (char *)head + CRAFT_HEADER + head->used;
    head->used += need;
    return p;
}

static void *craft_allocator_alloc(void *data, size_t size) {
    return craft_arena_alloc((craft_arena *)data, size);
}

static void craft_allocator_free(void *data, void *pointer) {
    (void)data;
    (void)pointer; /* released all at once by reset or destroy */
}

ProtobufCAllocator craft_arena_allocator(craft_arena *arena) {
    ProtobufCAllocator allocator = {
        .alloc = craft_allocator_alloc,
        .free = craft_allocator_free,
        .allocator_data = arena,
    };
    return allocator;
}

size_t craft_arena_reserved_bytes(const craft_arena *arena) {
    return arena->reserved;
}
