/*
 * leb128.c - the LEB128 readers of the binary format.
 *
 * The spec bounds every encoding: an N-bit integer takes at most
 * ceil(N/7) bytes, and in the last allowed byte the bits beyond N must be
 * zero (unsigned) or copies of the sign bit (signed). Overlong encodings
 * within that byte budget (e.g. 0x80 0x00 for 0) are valid.
 *
 * On failure *p is left at the offending byte (or at `end` when the input
 * ran out), so callers can report a precise offset.
 */
#include "wasm/module.h"

static const char MSG_TOO_LONG[] = "integer representation too long";
static const char MSG_TOO_LARGE[] = "integer too large";
static const char MSG_END[] = "unexpected end";

/* Reads an unsigned LEB128 of `bits` bits (bits <= 64). */
static bool read_unsigned(const uint8_t **p, const uint8_t *end, unsigned bits, uint64_t *out,
                          const char **why)
{
    const unsigned max_bytes = (bits + 6) / 7;
    const uint8_t *q = *p;
    uint64_t value = 0;

    for (unsigned i = 0; i < max_bytes; i++) {
        if (q >= end) {
            *p = q;
            *why = MSG_END;
            return false;
        }
        uint8_t b = *q;
        if (i == max_bytes - 1) {
            /* Bits that the last byte may still carry. */
            unsigned left = bits - 7 * i;
            if (left < 7 && (b & 0x7f) >> left != 0) {
                *p = q;
                *why = MSG_TOO_LARGE;
                return false;
            }
            if (b & 0x80) {
                *p = q;
                *why = MSG_TOO_LONG;
                return false;
            }
        }
        value |= (uint64_t)(b & 0x7f) << (7 * i);
        q++;
        if (!(b & 0x80)) {
            *p = q;
            *out = value;
            return true;
        }
    }
    /* Not reached: the last byte either ends the number or fails above. */
    *p = q;
    *why = MSG_TOO_LONG;
    return false;
}

/* Reads a signed LEB128 of `bits` bits (bits <= 64), sign-extended to 64. */
static bool read_signed(const uint8_t **p, const uint8_t *end, unsigned bits, int64_t *out,
                        const char **why)
{
    const unsigned max_bytes = (bits + 6) / 7;
    const uint8_t *q = *p;
    uint64_t value = 0;

    for (unsigned i = 0; i < max_bytes; i++) {
        if (q >= end) {
            *p = q;
            *why = MSG_END;
            return false;
        }
        uint8_t b = *q;
        unsigned shift = 7 * i;
        if (i == max_bytes - 1) {
            /* The bits from the value's sign bit up to bit 6 must all be
             * equal: zero for a positive value, one for a negative one. */
            unsigned left = bits - shift;
            uint8_t mask = (uint8_t)((0x7f << (left - 1)) & 0x7f);
            if ((b & mask) != 0 && (b & mask) != mask) {
                *p = q;
                *why = MSG_TOO_LARGE;
                return false;
            }
            if (b & 0x80) {
                *p = q;
                *why = MSG_TOO_LONG;
                return false;
            }
        }
        value |= (uint64_t)(b & 0x7f) << shift;
        q++;
        if (!(b & 0x80)) {
            shift += 7;
            if (shift < 64 && (b & 0x40))
                value |= ~(uint64_t)0 << shift;
            *p = q;
            *out = (int64_t)value;
            return true;
        }
    }
    *p = q;
    *why = MSG_TOO_LONG;
    return false;
}

bool wasm_read_u32(const uint8_t **p, const uint8_t *end, uint32_t *out, const char **why)
{
    uint64_t v;
    if (!read_unsigned(p, end, 32, &v, why))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool wasm_read_s32(const uint8_t **p, const uint8_t *end, int32_t *out, const char **why)
{
    int64_t v;
    if (!read_signed(p, end, 32, &v, why))
        return false;
    *out = (int32_t)v;
    return true;
}

bool wasm_read_s33(const uint8_t **p, const uint8_t *end, int64_t *out, const char **why)
{
    return read_signed(p, end, 33, out, why);
}

bool wasm_read_s64(const uint8_t **p, const uint8_t *end, int64_t *out, const char **why)
{
    return read_signed(p, end, 64, out, why);
}
