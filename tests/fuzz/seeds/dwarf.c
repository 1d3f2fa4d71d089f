/* Compiled by scripts/fuzz.sh with clang -g (DWARF 4 and 5) into seeds with
 * .debug_line and name sections, for the line table parser. */
static int table[16];

static inline int square(int x)
{
    return x * x;
}

__attribute__((export_name("run")))
int run(int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += square(table[i & 15]) - i;
    return sum;
}
