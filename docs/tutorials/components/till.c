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

#include "cabi.h"

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
