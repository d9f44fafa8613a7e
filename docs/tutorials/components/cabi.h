/* cabi_realloc, which every component's core module exports: the host (or the other component) calls it
 * to make room in this module's memory for the strings and lists it passes in. A bump allocator: nothing
 * is ever freed, enough for a tutorial. Included by pricer.c and till.c (each is its own program). */
#include <stddef.h>

extern unsigned char __heap_base;
static unsigned char *heap;

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  if (!heap) heap = &__heap_base;
  heap = (unsigned char *)(((size_t)heap + align - 1) & ~(align - 1));
  if ((size_t)(heap + new_size) > __builtin_wasm_memory_size(0) * 65536 &&
      __builtin_wasm_memory_grow(0, new_size / 65536 + 1) == (size_t)-1)
    __builtin_trap();
  unsigned char *p = heap;
  heap += new_size;
  for (size_t i = 0; i < old_size && i < new_size; i++) p[i] = ((unsigned char *)old)[i];
  return p;
}
