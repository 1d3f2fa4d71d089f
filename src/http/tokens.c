#include "http/internal.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
/* tchar (RFC 9110): digits, letters and !#$%&'*+-.^_`|~ -- a table, since
 * every byte of every field name goes through it. */
const uint8_t wg_http_tchar_table[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

bool wg_http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!wg_http_is_tchar((uint8_t)s[i]))
            return false;
    }
    return true;
}

bool wg_http_is_field_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!wg_http_is_field_char((uint8_t)s[i]))
            return false;
    }
    return true;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

bool wg_http_eq_nocase(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (n != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (lower((uint8_t)s[i]) != lower((uint8_t)lit[i]))
            return false;
    }
    return true;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool wg_http_list_next(const char *s, size_t len, size_t *pos, const char **elem, size_t *elem_len)
{
    size_t i = *pos;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != ',')
            i++;
        size_t end = i;
        if (i < len)
            i++; /* the comma */
        while (start < end && is_ows(s[start]))
            start++;
        while (end > start && is_ows(s[end - 1]))
            end--;
        if (end > start) {
            *pos = i;
            *elem = s + start;
            *elem_len = end - start;
            return true;
        }
    }
    *pos = len;
    return false;
}

bool wg_http_header_has_token(const wg_headers *h, const char *name, const char *token)
{
    for (uint32_t i = 0; i < h->count; i++) {
        const wg_header *e = &h->items[i];
        if (!wg_http_eq_nocase(e->name, e->name_len, name))
            continue;
        size_t pos = 0;
        const char *elem = NULL;
        size_t elem_len = 0;
        while (wg_http_list_next(e->value, e->value_len, &pos, &elem, &elem_len)) {
            if (wg_http_eq_nocase(elem, elem_len, token))
                return true;
        }
    }
    return false;
}
