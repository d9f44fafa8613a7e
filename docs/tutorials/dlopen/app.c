/* The application: the main module of dynamic linking. It owns the memory and the function
 * table (-Wl,--export-table -Wl,--growable-table) and exports, for the plugins, an allocator,
 * a log function (the host prints) and a helper that applies a plugin's function pointer. */
#include <stddef.h>

__attribute__((import_module("env"), import_name("host_log"))) void host_log(const char *msg, int len);

extern unsigned char __heap_base;
static unsigned char *brk;

void *malloc(size_t n) {
  if (!brk) brk = &__heap_base;
  n = (n + 15) & ~(size_t)15;
  size_t need = (size_t)(brk + n), have = __builtin_wasm_memory_size(0) * 65536;
  if (need > have && __builtin_wasm_memory_grow(0, (need - have + 65535) / 65536) == (size_t)-1) return 0;
  void *p = brk;
  brk += n;
  return p;
}

void free(void *p) { (void)p; }

int app_calls = 0; /* plugins count their calls here, through a GOT.mem import */

void app_log(const char *s) {
  int n = 0;
  while (s[n]) n++;
  host_log(s, n);
}

int app_toupper(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

/* applies f, a function of some plugin (a slot in the shared table), to every byte of s */
int app_map(int (*f)(int), char *s) {
  int n = 0;
  for (; s[n]; n++) s[n] = (char)f(s[n]);
  app_calls++;
  return n;
}
