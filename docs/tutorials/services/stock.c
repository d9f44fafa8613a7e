/* stock: how many of each item the shop holds; every change is recorded by audit. */
__attribute__((import_module("audit"), import_name("record"))) void record(int code, long long value);

static int on_hand[64] = {[1] = 10, [2] = 3, [3] = 25};   /* item 1: 10 units, item 2: 3, item 3: 25 */

__attribute__((export_name("available")))
int available(int item) { return (unsigned)item < 64 ? on_hand[item] : 0; }

__attribute__((export_name("take")))
int take(int item, int n) {
    if ((unsigned)item >= 64 || n <= 0 || on_hand[item] < n) { record(2, item); return 0; }
    on_hand[item] -= n;
    record(1, (long long)item << 32 | n);
    return 1;
}
