/*
 * debug_line.c - source lines from DWARF .debug_line (versions 2 to 5),
 * for backtraces.
 *
 * In WebAssembly, DWARF code addresses are offsets from the start of the
 * code section's contents (just past its id and size), so a module offset
 * converts by subtracting m->code_section_start.
 *
 * The table is built on the first lookup: all line programs are run into
 * one array of rows sorted by address. Whatever is malformed just yields
 * fewer rows; every read is bounds-checked.
 */
#include "wasm/module.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

struct line_row {
    uint32_t address;
    uint32_t line;     /* 0: no line (compiler-generated code, sequence end) */
    uint32_t file;     /* index in wasm_line_table.files */
    uint32_t order;    /* position in the programs, to keep sorting stable */
    bool end;          /* the end of a sequence (first address past it) */
};

struct wasm_line_table {
    struct line_row *rows;
    uint32_t nrows;
    char **files;
    uint32_t nfiles;
};

/* ---- growable arrays -------------------------------------------------------- */

struct builder {
    struct wasm_line_table *t;
    uint32_t rows_cap;
    uint32_t files_cap;
    const uint8_t *line_str;     /* .debug_line_str, for DWARF 5 */
    size_t line_str_size;
    const uint8_t *str;          /* .debug_str */
    size_t str_size;
};

static bool add_row(struct builder *b, uint32_t address, uint32_t line, uint32_t file, bool end)
{
    struct wasm_line_table *t = b->t;
    if (t->nrows == b->rows_cap) {
        if (b->rows_cap >= UINT32_MAX / 2)
            return false;
        uint32_t cap = b->rows_cap ? 2 * b->rows_cap : 64;
        struct line_row *rows = realloc(t->rows, (size_t)cap * sizeof *rows);
        if (!rows)
            return false;
        t->rows = rows;
        b->rows_cap = cap;
    }
    t->rows[t->nrows] = (struct line_row){address, line, file, t->nrows, end};
    t->nrows++;
    return true;
}

/* Adds a file name (dir/name, or name alone when dir is NULL or name is
 * absolute) and returns its index, or UINT32_MAX when out of memory. */
static uint32_t add_file(struct builder *b, const char *dir, const char *name)
{
    struct wasm_line_table *t = b->t;
    if (t->nfiles == b->files_cap) {
        if (b->files_cap >= UINT32_MAX / 4)
            return UINT32_MAX;
        uint32_t cap = b->files_cap ? 2 * b->files_cap : 16;
        char **files = realloc(t->files, (size_t)cap * sizeof *files);
        if (!files)
            return UINT32_MAX;
        t->files = files;
        b->files_cap = cap;
    }
    if (!name)
        name = "?";
    bool join = dir && *dir && name[0] != '/';
    size_t dlen = join ? strlen(dir) : 0, nlen = strlen(name);
    char *s = malloc(dlen + 1 + nlen + 1);
    if (!s)
        return UINT32_MAX;
    if (join) {
        memcpy(s, dir, dlen);
        s[dlen] = '/';
        memcpy(s + dlen + 1, name, nlen + 1);
    } else {
        memcpy(s, name, nlen + 1);
    }
    t->files[t->nfiles] = s;
    return t->nfiles++;
}

/* ---- bounded reads ---------------------------------------------------------- */

struct cursor {
    const uint8_t *p, *end;
    bool ok; /* false once any read went past the end */
};

static uint64_t rd_fixed(struct cursor *c, unsigned n)
{
    if (!c->ok || (size_t)(c->end - c->p) < n) {
        c->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

static uint64_t rd_uleb(struct cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; c->ok; shift += 7) {
        if (c->p >= c->end) {
            c->ok = false;
            break;
        }
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    return 0;
}

static int64_t rd_sleb(struct cursor *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (; c->ok; shift += 7) {
        if (c->p >= c->end) {
            c->ok = false;
            return 0;
        }
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift + 7 < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << (shift + 7);
            return (int64_t)v;
        }
    }
    return 0;
}

/* A NUL-terminated string in place, or NULL. */
static const char *rd_cstr(struct cursor *c)
{
    if (!c->ok)
        return NULL;
    const uint8_t *nul = memchr(c->p, 0, (size_t)(c->end - c->p));
    if (!nul) {
        c->ok = false;
        return NULL;
    }
    const char *s = (const char *)c->p;
    c->p = nul + 1;
    return s;
}

static void skip(struct cursor *c, uint64_t n)
{
    if (!c->ok || (uint64_t)(c->end - c->p) < n) {
        c->ok = false;
        return;
    }
    c->p += n;
}

/* A string at `offset` in a string section, or NULL. */
static const char *string_at(const uint8_t *sec, size_t size, uint64_t offset)
{
    if (!sec || offset >= size || !memchr(sec + offset, 0, size - offset))
        return NULL;
    return (const char *)sec + offset;
}

/* ---- line program headers ---------------------------------------------------- */

struct unit {
    unsigned offset_size;   /* 4 or 8 (64-bit DWARF) */
    unsigned version;
    uint8_t min_inst_length;
    bool default_is_stmt;
    int8_t line_base;
    uint8_t line_range;
    uint8_t opcode_base;
    const uint8_t *std_lengths; /* opcode_base - 1 entries */
    /* DWARF < 5: file numbers start at 1; DWARF 5: at 0. */
    uint32_t file_base;     /* index in table->files of the unit's file 0 */
    uint32_t nfiles;        /* files in the unit (counting from file_base) */
    const char **dirs;      /* include directories, for file entries */
    uint32_t ndirs;
};

/* One value of a DWARF 5 entry format; strings come back in *str. */
static bool read_form(struct builder *b, struct cursor *c, const struct unit *u, uint64_t form,
                      const char **str, uint64_t *num)
{
    *str = NULL;
    *num = 0;
    switch (form) {
    case 0x08: /* DW_FORM_string */
        *str = rd_cstr(c);
        break;
    case 0x1f: /* DW_FORM_line_strp */
        *str = string_at(b->line_str, b->line_str_size, rd_fixed(c, u->offset_size));
        break;
    case 0x0e: /* DW_FORM_strp */
        *str = string_at(b->str, b->str_size, rd_fixed(c, u->offset_size));
        break;
    case 0x0f: /* DW_FORM_udata */
        *num = rd_uleb(c);
        break;
    case 0x0d: /* DW_FORM_sdata */
        *num = (uint64_t)rd_sleb(c);
        break;
    case 0x0b: *num = rd_fixed(c, 1); break; /* data1 */
    case 0x05: *num = rd_fixed(c, 2); break; /* data2 */
    case 0x06: *num = rd_fixed(c, 4); break; /* data4 */
    case 0x07: *num = rd_fixed(c, 8); break; /* data8 */
    case 0x1e: skip(c, 16); break;            /* data16 (MD5) */
    case 0x09: skip(c, rd_uleb(c)); break;    /* block */
    case 0x0a: skip(c, rd_fixed(c, 1)); break; /* block1 */
    /* String indices need .debug_str_offsets: unnamed. */
    case 0x1a: rd_uleb(c); break;             /* strx */
    case 0x25: skip(c, 1); break;             /* strx1 */
    case 0x26: skip(c, 2); break;             /* strx2 */
    case 0x27: skip(c, 3); break;             /* strx3 */
    case 0x28: skip(c, 4); break;             /* strx4 */
    default:
        return false;
    }
    return c->ok;
}

/* DWARF 5 directory or file entries: a format, then `count` entries. */
static bool read_v5_entries(struct builder *b, struct cursor *c, struct unit *u, bool files)
{
    uint8_t nformats = (uint8_t)rd_fixed(c, 1);
    uint64_t types[16], forms[16];
    if (nformats > 16)
        return false;
    for (uint8_t i = 0; i < nformats; i++) {
        types[i] = rd_uleb(c);
        forms[i] = rd_uleb(c);
    }
    uint64_t count = rd_uleb(c);
    if (!c->ok || count > (uint64_t)(c->end - c->p))
        return false;
    if (!files) {
        u->dirs = calloc(count ? count : 1, sizeof *u->dirs);
        if (!u->dirs)
            return false;
    }
    for (uint64_t i = 0; i < count; i++) {
        const char *path = NULL;
        uint64_t dir = 0;
        for (uint8_t k = 0; k < nformats; k++) {
            const char *str;
            uint64_t num;
            if (!read_form(b, c, u, forms[k], &str, &num))
                return false;
            if (types[k] == 1) /* DW_LNCT_path */
                path = str;
            else if (types[k] == 2) /* DW_LNCT_directory_index */
                dir = num;
        }
        if (!files) {
            u->dirs[u->ndirs++] = path;
            continue;
        }
        /* Directory 0 is the compilation directory: names relative to it
         * read best as they are. */
        const char *d = dir > 0 && dir < u->ndirs ? u->dirs[dir] : NULL;
        if (add_file(b, d, path) == UINT32_MAX)
            return false;
        u->nfiles++;
    }
    return true;
}

/* DWARF 2-4: include directories, then file entries, each list ended by
 * an empty string. */
static bool read_v4_entries(struct builder *b, struct cursor *c, struct unit *u)
{
    const uint8_t *dirs_start = c->p;
    uint32_t ndirs = 0;
    for (;;) {
        const char *s = rd_cstr(c);
        if (!s)
            return false;
        if (!*s)
            break;
        ndirs++;
    }
    /* dirs[0] is the compilation directory (not listed); 1.. are these. */
    u->dirs = calloc((size_t)ndirs + 1, sizeof *u->dirs);
    if (!u->dirs)
        return false;
    struct cursor dc = {dirs_start, c->end, true};
    for (uint32_t i = 1; i <= ndirs; i++)
        u->dirs[i] = rd_cstr(&dc);
    u->ndirs = ndirs + 1;

    for (;;) {
        const char *name = rd_cstr(c);
        if (!name)
            return false;
        if (!*name)
            break;
        uint64_t dir = rd_uleb(c);
        rd_uleb(c); /* modification time */
        rd_uleb(c); /* length */
        if (!c->ok)
            return false;
        const char *d = dir > 0 && dir < u->ndirs ? u->dirs[dir] : NULL;
        if (add_file(b, d, name) == UINT32_MAX)
            return false;
        u->nfiles++;
    }
    return true;
}

/* ---- line programs ----------------------------------------------------------- */

struct state {
    uint64_t address;
    uint64_t file;
    int64_t line;
    bool dead; /* the linker dropped this code: addresses are tombstones */
};

static void state_reset(struct state *s)
{
    s->address = 0;
    s->file = 1; /* in DWARF 5 too, although its file numbers start at 0 */
    s->line = 1;
    s->dead = false;
}

static bool emit(struct builder *b, const struct unit *u, const struct state *s, bool end)
{
    if (s->dead || s->address > UINT32_MAX)
        return true;
    uint64_t file = s->file - (u->version >= 5 ? 0 : 1);
    uint32_t file_index = file < u->nfiles ? u->file_base + (uint32_t)file : UINT32_MAX;
    uint32_t line = end || s->line <= 0 || s->line > UINT32_MAX ? 0 : (uint32_t)s->line;
    return add_row(b, (uint32_t)s->address, line, file_index, end);
}

static void run_program(struct builder *b, struct cursor *c, const struct unit *u)
{
    struct state s;
    state_reset(&s);
    while (c->ok && c->p < c->end) {
        uint8_t op = (uint8_t)rd_fixed(c, 1);
        if (op >= u->opcode_base) { /* special opcode */
            unsigned adj = op - u->opcode_base;
            s.address += (uint64_t)(adj / u->line_range) * u->min_inst_length;
            s.line += u->line_base + (int)(adj % u->line_range);
            if (!emit(b, u, &s, false))
                return;
            continue;
        }
        switch (op) {
        case 0: { /* extended opcode */
            uint64_t len = rd_uleb(c);
            if (!c->ok || len == 0 || len > (uint64_t)(c->end - c->p))
                return;
            const uint8_t *next = c->p + len;
            uint8_t sub = (uint8_t)rd_fixed(c, 1);
            if (sub == 1) { /* end_sequence */
                if (!emit(b, u, &s, true))
                    return;
                state_reset(&s);
            } else if (sub == 2 && (len == 5 || len == 9)) { /* set_address */
                s.address = rd_fixed(c, (unsigned)len - 1);
                /* Linkers point the line programs of removed functions
                 * at tombstones: -1 or -2 (lld), or 0, which no code
                 * can have (offset 0 holds the function count). */
                s.dead = s.address == 0 || (s.address >= 0xfffffff0u && s.address <= UINT32_MAX);
            }
            c->p = next; /* define_file, set_discriminator, vendor: skipped */
            break;
        }
        case 1: /* copy */
            if (!emit(b, u, &s, false))
                return;
            break;
        case 2: /* advance_pc */
            s.address += rd_uleb(c) * u->min_inst_length;
            break;
        case 3: /* advance_line */
            s.line += rd_sleb(c);
            break;
        case 4: /* set_file */
            s.file = rd_uleb(c);
            break;
        case 8: /* const_add_pc */
            s.address += (uint64_t)((255 - u->opcode_base) / u->line_range) * u->min_inst_length;
            break;
        case 9: /* fixed_advance_pc */
            s.address += rd_fixed(c, 2);
            break;
        default: /* others: skip their LEB128 operands */
            for (uint8_t i = 0; i < u->std_lengths[op - 1]; i++)
                rd_uleb(c);
            break;
        }
    }
}

/* Reads one unit at c->p (moving past it). Returns false when the rest of
 * the section cannot be trusted. */
static bool read_unit(struct builder *b, struct cursor *c)
{
    struct unit u = {0};
    u.offset_size = 4;
    uint64_t length = rd_fixed(c, 4);
    if (length == 0xffffffffu) {
        u.offset_size = 8;
        length = rd_fixed(c, 8);
    }
    if (!c->ok || length > (uint64_t)(c->end - c->p))
        return false;
    const uint8_t *unit_end = c->p + length;
    struct cursor uc = {c->p, unit_end, true};
    c->p = unit_end;

    u.version = (unsigned)rd_fixed(&uc, 2);
    if (u.version < 2 || u.version > 5)
        return true; /* unknown version: skip the unit */
    if (u.version >= 5) {
        uint8_t address_size = (uint8_t)rd_fixed(&uc, 1);
        rd_fixed(&uc, 1); /* segment selector size */
        if (address_size != 4 && address_size != 8)
            return true;
    }
    uint64_t header_length = rd_fixed(&uc, u.offset_size);
    if (!uc.ok || header_length > (uint64_t)(uc.end - uc.p))
        return true;
    const uint8_t *program = uc.p + header_length;

    u.min_inst_length = (uint8_t)rd_fixed(&uc, 1);
    if (u.version >= 4)
        rd_fixed(&uc, 1); /* maximum_operations_per_instruction: VLIW only */
    u.default_is_stmt = rd_fixed(&uc, 1) != 0;
    u.line_base = (int8_t)rd_fixed(&uc, 1);
    u.line_range = (uint8_t)rd_fixed(&uc, 1);
    u.opcode_base = (uint8_t)rd_fixed(&uc, 1);
    if (!uc.ok || u.line_range == 0 || u.opcode_base == 0)
        return true;
    u.std_lengths = uc.p;
    skip(&uc, u.opcode_base - 1u);
    u.file_base = b->t->nfiles;

    bool ok = u.version >= 5
                  ? read_v5_entries(b, &uc, &u, false) && read_v5_entries(b, &uc, &u, true)
                  : read_v4_entries(b, &uc, &u);
    free(u.dirs);
    if (!ok || !uc.ok)
        return true;

    struct cursor pc = {program, unit_end, true};
    run_program(b, &pc, &u);
    return true;
}

static int compare_rows(const void *pa, const void *pb)
{
    const struct line_row *a = pa, *b = pb;
    if (a->address != b->address)
        return a->address < b->address ? -1 : 1;
    /* At one address, a sequence's end comes before the next sequence's
     * first row, so that the lookup (last row <= address) finds the
     * latter. */
    if (a->end != b->end)
        return a->end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

void wasm_line_table_free(struct wasm_line_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->files);
    free(t->rows);
    free(t);
}

static struct wasm_line_table *build_line_table(const struct wasm_module *m)
{
    size_t size;
    const uint8_t *sec = wasm_module_custom_section(m, ".debug_line", &size);
    if (!sec || m->code_section_start == 0)
        return NULL;
    struct wasm_line_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    struct builder b = {.t = t};
    b.line_str = wasm_module_custom_section(m, ".debug_line_str", &b.line_str_size);
    b.str = wasm_module_custom_section(m, ".debug_str", &b.str_size);

    struct cursor c = {sec, sec + size, true};
    while (c.ok && c.p < c.end) {
        if (!read_unit(&b, &c))
            break;
    }
    if (t->nrows == 0) {
        wasm_line_table_free(t);
        return NULL;
    }
    qsort(t->rows, t->nrows, sizeof *t->rows, compare_rows);
    return t;
}

/* Builds the table once, whichever thread asks first. */
static const struct wasm_line_table *line_table(const struct wasm_module *module)
{
    /* The module is immutable except for this lazily built cache. */
    struct wasm_module *m = (struct wasm_module *)module;
    int state = atomic_load_explicit(&m->lines_state, memory_order_acquire);
    if (state == 2)
        return m->lines;
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&m->lines_state, &expected, 1,
                                                memory_order_acq_rel, memory_order_acquire)) {
        m->lines = build_line_table(m);
        atomic_store_explicit(&m->lines_state, 2, memory_order_release);
        return m->lines;
    }
    while (atomic_load_explicit(&m->lines_state, memory_order_acquire) != 2)
        sched_yield();
    return m->lines;
}

bool wasm_module_source_line(const wasm_module *module, uint32_t code_offset, const char **file,
                             uint32_t *line)
{
    if (!module || module->code_section_start == 0 || code_offset < module->code_section_start)
        return false;
    const struct wasm_line_table *t = line_table(module);
    if (!t)
        return false;
    uint32_t address = code_offset - module->code_section_start;

    /* The last row at or before the address. */
    uint32_t lo = 0, hi = t->nrows;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->rows[mid].address <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    const struct line_row *row = &t->rows[lo - 1];
    if (row->line == 0 || row->file >= t->nfiles)
        return false;
    if (file)
        *file = t->files[row->file];
    if (line)
        *line = row->line;
    return true;
}
