// app.js: the app injected into the engine template. Evaluating it does the start-up work once
// (a table of primes, a word index); the methods then answer from those tables.
const primes = [];
for (let n = 2; primes.length < 2000; n++) {
  if (primes.every((p) => p * p > n || n % p !== 0)) primes.push(n);
}
const words = "the quick brown fox jumps over the lazy dog and the cat".split(" ");
const index = new Map();
words.forEach((w, i) => index.set(w, (index.get(w) || []).concat(i)));

globalThis.methods = [
  (i) => primes[i],                              // 0: the i-th prime
  (n) => primes.filter((p) => p < n).length,     // 1: how many primes are below n
  (k) => (index.get(words[k]) || []).length,     // 2: how often the k-th word occurs
];
