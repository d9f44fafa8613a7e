/* The pricer component's core module: the `prices` interface of wit/shop.wit, written by hand against
 * the component model's canonical ABI (no bindings generator): a string argument arrives as
 * (pointer, length) in this module's memory, copied there through cabi_realloc; a result that does
 * not fit one value (option<u32>) is returned as a pointer to where it is stored.
 * Its init function builds the price table from a text list: `wasmweld snapshot` runs it at build time. */
#include <stddef.h>
#include <stdint.h>

#include "cabi.h"

static const char LIST[] = "apple 120\npear 95\nbread 250\nmilk 89\ncheese 420\ncoffee 675\n";

#define SLOTS 64
static struct { const char *name; size_t len; uint32_t cents; } table[SLOTS];
static uint32_t builds;

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int same(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn) return 0;
  for (size_t i = 0; i < an; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

__attribute__((export_name("wizer-initialize"))) void build(void) {
  builds++;
  for (const char *p = LIST; *p;) {
    const char *name = p;
    while (*p != ' ') p++;
    size_t len = (size_t)(p - name);
    uint32_t cents = 0;
    for (p++; *p != '\n'; p++) cents = cents * 10 + (uint32_t)(*p - '0');
    p++;
    uint32_t h = hash(name, len) % SLOTS;
    while (table[h].name) h = (h + 1) % SLOTS;
    table[h].name = name, table[h].len = len, table[h].cents = cents;
  }
}

static struct { uint8_t is_some; uint32_t value; } price_ret;

__attribute__((export_name("demo:shop/prices@0.1.0#price")))
void *price(const char *name, size_t len) {
  if (!builds) build();
  price_ret.is_some = 0;
  for (uint32_t h = hash(name, len) % SLOTS; table[h].name; h = (h + 1) % SLOTS)
    if (same(table[h].name, table[h].len, name, len)) {
      price_ret.is_some = 1, price_ret.value = table[h].cents;
      break;
    }
  return &price_ret;
}

__attribute__((export_name("demo:shop/prices@0.1.0#builds"))) uint32_t builds_(void) { return builds; }
