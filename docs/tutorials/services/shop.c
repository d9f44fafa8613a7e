/* shop: orders. Takes the items from stock, charges a price list, records each order with audit. */
__attribute__((import_module("stock"), import_name("take"))) int take(int item, int n);
__attribute__((import_module("audit"), import_name("record"))) void record(int code, long long value);

static const int price[4] = {0, 250, 1200, 75};   /* cents per unit of items 1..3 */
static long long revenue;

__attribute__((export_name("order")))
int order(int item, int n) {
    if ((unsigned)item >= 4 || !take(item, n)) return 0;
    revenue += (long long)price[item] * n;
    record(10, revenue);
    return 1;
}

__attribute__((export_name("revenue")))
long long get_revenue(void) { return revenue; }

/* One scenario in one call (each `wasmweld run --invoke` starts from a fresh instance). */
__attribute__((export_name("demo")))
long long demo(void) {
    order(1, 4);      /* 4 x 250 */
    order(2, 5);      /* refused: only 3 in stock */
    order(3, 10);     /* 10 x 75 */
    return revenue;   /* 1750 */
}
