/* The till component's core module: the `checkout` interface of wit/shop.wit, using the `prices`
 * interface it imports (whichever component exports it). Canonical ABI by hand, as in pricer.c: a
 * list<string> arrives as (pointer, count) of (pointer, length) pairs; an imported function whose
 * result does not fit one value takes a last argument, where to store it. */
#include <stddef.h>
#include <stdint.h>

typedef struct { const char *ptr; size_t len; } string_t;
typedef struct { uint8_t is_some; uint32_t value; } option_u32_t;
typedef struct { string_t name; uint32_t cents; } line_t;

__attribute__((import_module("demo:shop/prices@0.1.0"), import_name("price")))
void prices_price(const char *name, size_t len, option_u32_t *ret);

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

__attribute__((export_name("demo:shop/checkout@0.1.0#total")))
uint32_t total(const string_t *basket, size_t n) {
  uint32_t sum = 0;
  option_u32_t p;
  for (size_t i = 0; i < n; i++) {
    prices_price(basket[i].ptr, basket[i].len, &p);
    if (p.is_some) sum += p.value;
  }
  return sum;
}

static struct { line_t *ptr; size_t len; } receipt_ret;

__attribute__((export_name("demo:shop/checkout@0.1.0#receipt")))
void *receipt(const string_t *basket, size_t n) {
  line_t *lines = cabi_realloc(0, 0, 4, n * sizeof(line_t));
  size_t k = 0;
  option_u32_t p;
  for (size_t i = 0; i < n; i++) {
    prices_price(basket[i].ptr, basket[i].len, &p);
    if (p.is_some) lines[k].name = basket[i], lines[k].cents = p.value, k++;
  }
  receipt_ret.ptr = lines, receipt_ret.len = k;
  return &receipt_ret;
}
