/* primes: which numbers below 2,000,000 are prime, one bit each (250 KB), worked out once by `init`.
 *
 * Without pre-initialisation every instance runs the sieve when it starts. `wasmweld snapshot` runs
 * `init` once, at build time, and writes a module whose memory already holds the bits.
 */
#define LIMIT 2000000

static unsigned char prime_bits[LIMIT / 8];   /* bit i set: i is prime */
static int ready;

static int is_prime(int i) { return prime_bits[i >> 3] >> (i & 7) & 1; }

__attribute__((export_name("init")))
void init(void) {
    for (int i = 2; i < LIMIT; i++) prime_bits[i >> 3] |= 1 << (i & 7);
    for (int i = 2; (long long)i * i < LIMIT; i++)
        if (is_prime(i))
            for (int j = i * i; j < LIMIT; j += i) prime_bits[j >> 3] &= ~(1 << (j & 7));
    ready = 1;
}

/* How many primes are below n (n <= 2,000,000). Runs init first if nobody did. */
__attribute__((export_name("count_below")))
int count_below(int n) {
    if (!ready) init();
    int count = 0;
    for (int i = 0; i < n && i < LIMIT; i++) count += is_prime(i);
    return count;
}

__attribute__((export_name("is_ready")))
int is_ready(void) { return ready; }
