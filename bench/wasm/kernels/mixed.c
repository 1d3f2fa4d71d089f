/*
 * mixed - a mixed integer workload: linked lists, small integer matrices,
 * a byte-level tokenizer state machine and CRC-16, chained together so each
 * stage feeds the next.  Original code written for wasmgate.
 */
#include "common.h"

/* ---------------------------------------------------------------- CRC-16 */
/* CRC-16/CCITT style: polynomial 0x1021, MSB first, bitwise. */
static uint16_t crc16_byte(uint16_t crc, uint8_t b)
{
    crc ^= (uint16_t)b << 8;
    for (int i = 0; i < 8; i++)
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    return crc;
}

static uint16_t crc16_word(uint16_t crc, uint32_t w)
{
    crc = crc16_byte(crc, (uint8_t)w);
    crc = crc16_byte(crc, (uint8_t)(w >> 8));
    crc = crc16_byte(crc, (uint8_t)(w >> 16));
    return crc16_byte(crc, (uint8_t)(w >> 24));
}

/* ----------------------------------------------------------- linked list */
typedef struct node {
    struct node *next;
    uint16_t key;
    int16_t val;
} node;

#define LIST_N 320
static node pool[LIST_N];

static node *list_build(uint32_t *seed)
{
    node *head = 0;
    for (int i = LIST_N - 1; i >= 0; i--) {
        uint32_t r = bench_xorshift(seed);
        pool[i].key = (uint16_t)(r & 0x3ffu);
        pool[i].val = (int16_t)(r >> 16);
        pool[i].next = head;
        head = &pool[i];
    }
    return head;
}

static node *list_reverse(node *l)
{
    node *prev = 0;
    while (l) {
        node *n = l->next;
        l->next = prev;
        prev = l;
        l = n;
    }
    return prev;
}

static node *list_find(node *l, uint16_t key)
{
    while (l && l->key != key)
        l = l->next;
    return l;
}

/* Unlink the first node with `key` and push it to the front. */
static node *list_move_front(node *l, uint16_t key)
{
    node *prev = 0, *cur = l;
    while (cur && cur->key != key) {
        prev = cur;
        cur = cur->next;
    }
    if (!cur || !prev)
        return l;
    prev->next = cur->next;
    cur->next = l;
    return cur;
}

static int node_less(const node *a, const node *b, int by_val)
{
    if (by_val)
        return a->val < b->val || (a->val == b->val && a->key < b->key);
    return a->key < b->key || (a->key == b->key && a->val < b->val);
}

/* Bottom-up merge sort on a singly linked list (stable). */
static node *list_sort(node *l, int by_val)
{
    if (!l)
        return l;
    for (uint32_t width = 1;; width *= 2) {
        node *p = l, *tail = 0;
        l = 0;
        uint32_t merges = 0;
        while (p) {
            merges++;
            node *q = p;
            uint32_t psize = 0;
            for (uint32_t i = 0; i < width && q; i++) {
                psize++;
                q = q->next;
            }
            uint32_t qsize = width;
            while (psize > 0 || (qsize > 0 && q)) {
                node *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q) {
                    e = p; p = p->next; psize--;
                } else if (!node_less(q, p, by_val)) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    l = e;
                tail = e;
            }
            p = q;
        }
        tail->next = 0;
        if (merges <= 1)
            return l;
    }
}

static uint16_t list_stage(uint32_t *seed, uint16_t crc)
{
    node *l = list_build(seed);
    l = list_reverse(l);
    for (int i = 0; i < 24; i++) {
        uint16_t key = (uint16_t)((bench_xorshift(seed) & 0x3ffu));
        node *f = list_find(l, key);
        crc = crc16_word(crc, f ? (uint32_t)(uint16_t)f->val : 0xffffu);
        l = list_move_front(l, key);
    }
    l = list_sort(l, 1);
    int32_t acc = 0;
    for (node *n = l; n; n = n->next)
        acc = acc * 3 + n->val;
    crc = crc16_word(crc, (uint32_t)acc);
    l = list_sort(l, 0);
    uint32_t i = 0;
    for (node *n = l; n; n = n->next, i++)
        if ((i & 15u) == 0)
            crc = crc16_word(crc, n->key ^ (uint32_t)(uint16_t)n->val);
    return crc;
}

/* -------------------------------------------------------- int matrices */
#define MN 20
static int16_t ma[MN][MN], mb[MN][MN];
static int32_t mc[MN][MN];

static uint16_t matrix_stage(uint32_t *seed, uint16_t crc)
{
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            uint32_t r = bench_lcg(seed);
            ma[i][j] = (int16_t)((r >> 8) & 0x1ff) - 256;
            mb[i][j] = (int16_t)((r >> 20) & 0xff) - 128;
        }
    /* add a scalar, multiply, then multiply by a vector column */
    int16_t k = (int16_t)(crc & 0x3f);
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++)
            ma[i][j] = (int16_t)(ma[i][j] + k);
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t s = 0;
            for (int t = 0; t < MN; t++)
                s += (int32_t)ma[i][t] * mb[t][j];
            mc[i][j] = s;
        }
    int32_t sum = 0, clipped = 0;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            int32_t v = mc[i][j];
            sum += (v >> 4) & 0xfff;
            if (v > 20000 || v < -20000)
                clipped++;
        }
    /* transpose-and-compare pass */
    int32_t asym = 0;
    for (int i = 0; i < MN; i++)
        for (int j = i + 1; j < MN; j++)
            asym += mc[i][j] > mc[j][i] ? 1 : -1;
    crc = crc16_word(crc, (uint32_t)sum);
    crc = crc16_word(crc, (uint32_t)clipped);
    return crc16_word(crc, (uint32_t)asym);
}

/* --------------------------------------------------------- state machine */
enum { S_START, S_INT, S_HEX0, S_HEX, S_FRAC, S_EXP0, S_EXPSIGN, S_EXP, S_WORD, S_BAD, S_COUNT };

#define TEXT_N 1536
static uint8_t text[TEXT_N];

static void text_gen(uint32_t *seed)
{
    static const uint8_t alphabet[] = "0123456789.+-eExXabz,, \n0x7F1.5e+3";
    for (uint32_t i = 0; i < TEXT_N; i++)
        text[i] = alphabet[bench_xorshift(seed) % (sizeof alphabet - 1)];
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_sep(uint8_t c) { return c == ',' || c == ' ' || c == '\n'; }

static uint16_t scan_stage(uint32_t *seed, uint16_t crc)
{
    uint32_t counts[S_COUNT] = {0};
    uint32_t transitions = 0;
    int st = S_START;
    text_gen(seed);
    for (uint32_t i = 0; i <= TEXT_N; i++) {
        uint8_t c = i < TEXT_N ? text[i] : ',';
        int nx;
        if (is_sep(c)) {
            if (st != S_START)
                counts[st]++;
            nx = S_START;
        } else {
            switch (st) {
            case S_START:
                nx = c == '0' ? S_HEX0 : is_digit(c) ? S_INT
                   : (c == '+' || c == '-') ? S_INT : c == '.' ? S_FRAC
                   : S_WORD;
                break;
            case S_INT:
                nx = is_digit(c) ? S_INT : c == '.' ? S_FRAC
                   : (c == 'e' || c == 'E') ? S_EXP0 : S_BAD;
                break;
            case S_HEX0:
                nx = (c == 'x' || c == 'X') ? S_HEX : is_digit(c) ? S_INT
                   : c == '.' ? S_FRAC : S_BAD;
                break;
            case S_HEX:
                nx = is_hex(c) ? S_HEX : S_BAD;
                break;
            case S_FRAC:
                nx = is_digit(c) ? S_FRAC : (c == 'e' || c == 'E') ? S_EXP0 : S_BAD;
                break;
            case S_EXP0:
                nx = (c == '+' || c == '-') ? S_EXPSIGN : is_digit(c) ? S_EXP : S_BAD;
                break;
            case S_EXPSIGN:
            case S_EXP:
                nx = is_digit(c) ? S_EXP : S_BAD;
                break;
            case S_WORD:
                nx = is_digit(c) ? S_BAD : S_WORD;
                break;
            default:
                nx = S_BAD;
                break;
            }
        }
        if (nx != st)
            transitions++;
        st = nx;
    }
    for (int s = 0; s < S_COUNT; s++)
        crc = crc16_word(crc, counts[s]);
    return crc16_word(crc, transitions);
}

/* ------------------------------------------------------------------ run */
int run(void)
{
    uint32_t iters = bench_scaled(1500);
    uint32_t seed = 0x9e3779b9u;
    uint16_t crc = 0xffffu;
    uint32_t h = 0;
    for (uint32_t it = 0; it < iters; it++) {
        crc = list_stage(&seed, crc);
        crc = matrix_stage(&seed, crc);
        crc = scan_stage(&seed, crc);
        h = bench_mix(h, crc);
    }
    return bench_result(h);
}
