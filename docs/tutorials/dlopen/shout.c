/* Plugin 1, a side module: calls the application's functions, passes it a function pointer of
 * its own, updates its data (GOT.mem) and logs from a constructor when it is loaded. */
void app_log(const char *s);
int app_toupper(int c);
int app_map(int (*f)(int), char *s);
extern int app_calls;

const char *shout_greeting = "shout: loaded"; /* a pointer in its data: relocated when it is loaded */

__attribute__((constructor)) static void loaded(void) { app_log(shout_greeting); }

static int exclaim(int c) { return c == '.' ? '!' : app_toupper(c); }

int shout(char *s) { return app_map(exclaim, s); }

int shout_total = 0; /* a data symbol of the plugin */

int shout_count(void) { return ++shout_total + 100 * app_calls; }
