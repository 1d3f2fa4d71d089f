/*
 * cmd_wasm.c - `wasmgate wasm ...`: run and check plain WebAssembly modules
 * with the project's runtime, outside the proxy.
 *
 *   wasmgate wasm run FILE.wasm [--invoke NAME] [ARG...]
 *   wasmgate wasm validate FILE.wasm...
 */
#include "cli/cli.h"
#include "wasm/wasm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void wasm_usage(FILE *out)
{
    fprintf(out,
            "usage: wasmgate wasm run FILE.wasm [options] [--invoke NAME] [ARG...]\n"
            "       wasmgate wasm validate FILE.wasm...\n"
            "\n"
            "run: without --invoke, runs the module's _start as a WASI command; ARGs\n"
            "become its argv. With --invoke, calls the export NAME with the ARGs as\n"
            "numbers and prints its results, one per line. Options may come before or\n"
            "after FILE; everything after `--` is an argument.\n"
            "options:\n"
            "  --env NAME=VALUE    add a variable to the WASI environment (repeatable)\n"
            "  --max-pages N       cap linear memory at N 64 KiB pages\n"
            "  --max-depth N       cap the call depth at N frames\n");
}

/* Reads a whole file. Returns NULL with a message on stderr. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "error: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

static void print_backtrace(const wasm_trap *t)
{
    if (t->nframes == 0)
        return;
    fprintf(stderr, "backtrace:\n");
    for (uint32_t i = 0; i < t->nframes; i++) {
        const wasm_frame_info *f = &t->frames[i];
        const char *file = NULL;
        uint32_t line = 0;
        fprintf(stderr, "  %u: 0x%x - ", i, f->code_offset);
        if (f->name)
            fprintf(stderr, "%s", f->name);
        else
            fprintf(stderr, "func[%u]", f->func_index);
        if (f->module && wasm_module_source_line(f->module, f->code_offset, &file, &line))
            fprintf(stderr, " at %s:%u", file, line);
        fprintf(stderr, "\n");
    }
    if (t->frames_truncated)
        fprintf(stderr, "  ... (more frames)\n");
}

/* Parses a command-line number as a value of `type`. */
static bool parse_value(const char *s, uint8_t type, wasm_cell *out)
{
    char *end = NULL;
    errno = 0;
    switch (type) {
    case WASM_I32:
    case WASM_I64: {
        bool neg = s[0] == '-';
        uint64_t v = strtoull(neg ? s + 1 : s, &end, 0);
        if (errno || !*s || *end)
            return false;
        if (type == WASM_I32 && v > (neg ? 0x80000000u : 0xffffffffu))
            return false;
        v = neg ? (uint64_t)0 - v : v;
        *out = type == WASM_I32 ? (uint32_t)v : v;
        return true;
    }
    case WASM_F32: {
        float f = strtof(s, &end);
        if (!*s || *end)
            return false;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        *out = bits;
        return true;
    }
    case WASM_F64: {
        double d = strtod(s, &end);
        if (!*s || *end)
            return false;
        memcpy(out, &d, 8);
        return true;
    }
    default:
        return false;
    }
}

static void print_value(uint8_t type, wasm_cell v)
{
    switch (type) {
    case WASM_I32: printf("%" PRId32 "\n", (int32_t)(uint32_t)v); break;
    case WASM_I64: printf("%" PRId64 "\n", (int64_t)v); break;
    case WASM_F32: {
        uint32_t bits = (uint32_t)v;
        float f;
        memcpy(&f, &bits, 4);
        printf("%.9g\n", (double)f);
        break;
    }
    case WASM_F64: {
        double d;
        memcpy(&d, &v, 8);
        printf("%.17g\n", d);
        break;
    }
    default: printf("%s:0x%" PRIx64 "\n", wasm_valtype_name(type), v); break;
    }
}

typedef struct run_options {
    const char *file;
    const char *invoke;
    int nargs;
    char **args;           /* the command's arguments (not owned strings) */
    const char **env;
    int nenv;
    wasm_store_config config;
} run_options;

/* Resolves every import against WASI; anything else is an error. */
static bool link_imports(wasm_module *module, wasm_store *store, wasm_wasi *wasi,
                         wasm_extern **out)
{
    uint32_t n = wasm_module_import_count(module);
    wasm_extern *imports = calloc(n ? n : 1, sizeof *imports);
    if (!imports)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_module_import(module, i, &d);
        if (!wasm_wasi_resolve(wasi, store, &d, &imports[i])) {
            fprintf(stderr, "error: unresolved import %s.%s (%s): only WASI preview1 is provided\n",
                    d.module, d.name, wasm_extern_kind_name(d.kind));
            free(imports);
            return false;
        }
    }
    *out = imports;
    return true;
}

static int report_trap(wasm_store *store, const char *what)
{
    const wasm_trap *t = wasm_store_last_trap(store);
    if (t->kind == WASM_TRAP_EXIT)
        return t->exit_code & 0xff; /* what a shell can see */
    fprintf(stderr, "error: %s trapped: %s\n", what, t->message);
    print_backtrace(t);
    return WG_EXIT_FAILURE;
}

static int invoke_export(wasm_store *store, wasm_instance *inst, const run_options *o)
{
    wasm_func *f = wasm_instance_func(inst, o->invoke);
    if (!f) {
        fprintf(stderr, "error: %s has no exported function \"%s\"\n", o->file, o->invoke);
        return WG_EXIT_FAILURE;
    }
    wasm_functype ft;
    wasm_func_type(f, &ft);
    if ((uint32_t)o->nargs != ft.nparams) {
        fprintf(stderr, "error: %s takes %u arguments, %d given\n", o->invoke, ft.nparams,
                o->nargs);
        return WG_EXIT_USAGE;
    }
    wasm_cell *args = calloc(ft.nparams + 1, sizeof *args);
    wasm_cell *results = calloc(ft.nresults + 1, sizeof *results);
    int rc = WG_EXIT_OK;
    if (!args || !results) {
        rc = WG_EXIT_FAILURE;
        goto out;
    }
    for (uint32_t i = 0; i < ft.nparams; i++) {
        if (!parse_value(o->args[i], ft.params[i], &args[i])) {
            fprintf(stderr, "error: argument %u: \"%s\" is not a valid %s\n", i + 1, o->args[i],
                    wasm_valtype_name(ft.params[i]));
            rc = WG_EXIT_USAGE;
            goto out;
        }
    }
    if (!wasm_func_call(store, f, args, ft.nparams, results, ft.nresults)) {
        rc = report_trap(store, o->invoke);
        goto out;
    }
    for (uint32_t i = 0; i < ft.nresults; i++)
        print_value(ft.results[i], results[i]);
out:
    free(args);
    free(results);
    return rc;
}

static int run_module(const run_options *o)
{
    size_t size = 0;
    uint8_t *bytes = read_file(o->file, &size);
    if (!bytes)
        return WG_EXIT_FAILURE;
    wasm_error err = {0};
    wasm_module *module = wasm_module_load(bytes, size, &err);
    free(bytes);
    if (!module) {
        if (err.has_offset)
            fprintf(stderr, "error: %s: %s (at byte offset 0x%zx)\n", o->file, err.message,
                    err.offset);
        else
            fprintf(stderr, "error: %s: %s\n", o->file, err.message);
        return WG_EXIT_FAILURE;
    }

    /* A command's argv: the file name, then the ARGs. */
    int argc = o->invoke ? 1 : o->nargs + 1;
    const char **argv = calloc((size_t)argc + 1, sizeof *argv);
    wasm_store *store = wasm_store_new(&o->config);
    wasm_wasi *wasi = NULL;
    wasm_extern *imports = NULL;
    int rc = WG_EXIT_FAILURE;
    if (!argv || !store)
        goto out;
    argv[0] = o->file;
    for (int i = 1; i < argc; i++)
        argv[i] = o->args[i - 1];
    wasm_wasi_config wc = {.argc = argc, .argv = argv, .envc = o->nenv, .envp = o->env};
    wasi = wasm_wasi_new(&wc);
    if (!wasi || !link_imports(module, store, wasi, &imports))
        goto out;

    wasm_instance *inst =
        wasm_instance_new(store, module, imports, wasm_module_import_count(module), &err);
    if (!inst) {
        if (err.trapped)
            rc = report_trap(store, "instantiation");
        else
            fprintf(stderr, "error: %s: %s\n", o->file, err.message);
        goto out;
    }
    if (o->invoke) {
        rc = invoke_export(store, inst, o);
        goto out;
    }
    wasm_func *start = wasm_instance_func(inst, "_start");
    if (!start) {
        fprintf(stderr, "error: %s exports no _start function; use --invoke NAME\n", o->file);
        goto out;
    }
    rc = wasm_func_call(store, start, NULL, 0, NULL, 0) ? WG_EXIT_OK : report_trap(store, "_start");
out:
    fflush(stdout);
    free(imports);
    wasm_wasi_free(wasi);
    wasm_store_free(store);
    wasm_module_release(module);
    free(argv);
    return rc;
}

static bool parse_count(const char *opt, const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno || v == 0 || v > UINT32_MAX) {
        fprintf(stderr, "error: %s needs a positive number\n", opt);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Options may stand anywhere before `--`; the first other word is the
 * file and the remaining ones are its arguments (after `--`, everything). */
static int cmd_wasm_run(int argc, char **argv)
{
    run_options o;
    memset(&o, 0, sizeof o);
    o.env = calloc((size_t)argc + 1, sizeof *o.env);
    o.args = calloc((size_t)argc + 1, sizeof *o.args);
    if (!o.env || !o.args) {
        free(o.env);
        free(o.args);
        return WG_EXIT_FAILURE;
    }
    int rc = WG_EXIT_USAGE;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done) {
            if (!o.file)
                o.file = a;
            else
                o.args[o.nargs++] = argv[i];
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            wasm_usage(stdout);
            rc = WG_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--invoke") == 0 && i + 1 < argc) {
            o.invoke = argv[++i];
        } else if (strcmp(a, "--env") == 0 && i + 1 < argc) {
            if (!strchr(argv[i + 1], '=')) {
                fprintf(stderr, "error: --env needs NAME=VALUE\n");
                goto out;
            }
            o.env[o.nenv++] = argv[++i];
        } else if (strcmp(a, "--max-pages") == 0) {
            if (!parse_count(a, i + 1 < argc ? argv[++i] : NULL, &o.config.max_memory_pages))
                goto out;
        } else if (strcmp(a, "--max-depth") == 0) {
            if (!parse_count(a, i + 1 < argc ? argv[++i] : NULL, &o.config.max_call_depth))
                goto out;
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (a[0] == '-' && a[1] == '-' && !o.file) {
            fprintf(stderr, "error: unknown option %s\n", a);
            wasm_usage(stderr);
            goto out;
        } else if (!o.file) {
            o.file = a;
        } else {
            o.args[o.nargs++] = argv[i];
        }
    }
    if (!o.file) {
        wasm_usage(stderr);
        goto out;
    }
    rc = run_module(&o);
out:
    free(o.env);
    free(o.args);
    return rc;
}

static int cmd_wasm_validate(int argc, char **argv)
{
    if (argc < 2) {
        wasm_usage(stderr);
        return WG_EXIT_USAGE;
    }
    int rc = WG_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        size_t size = 0;
        uint8_t *bytes = read_file(argv[i], &size);
        if (!bytes) {
            rc = WG_EXIT_FAILURE;
            continue;
        }
        wasm_error err = {0};
        if (wasm_module_validate(bytes, size, &err)) {
            printf("%s: valid\n", argv[i]);
        } else {
            fprintf(stderr, "%s: invalid: %s", argv[i], err.message);
            if (err.has_offset)
                fprintf(stderr, " (at byte offset 0x%zx)", err.offset);
            fprintf(stderr, "\n");
            rc = WG_EXIT_FAILURE;
        }
        free(bytes);
    }
    return rc;
}

int cmd_wasm(int argc, char **argv)
{
    if (argc < 2) {
        wasm_usage(stderr);
        return WG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_wasm_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "validate") == 0)
        return cmd_wasm_validate(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        wasm_usage(stdout);
        return WG_EXIT_OK;
    }
    fprintf(stderr, "error: unknown wasm subcommand '%s'\n", argv[1]);
    wasm_usage(stderr);
    return WG_EXIT_USAGE;
}
