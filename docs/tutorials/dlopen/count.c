/* Plugin 2, a side module that uses plugin 1: it needs shout() from shout.wasm. */
int shout(char *s);

int count_upper(char *s) {
  int n = 0;
  shout(s);
  for (; *s; s++) n += *s >= 'A' && *s <= 'Z';
  return n;
}
