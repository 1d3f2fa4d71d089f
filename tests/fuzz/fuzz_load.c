/*
 * fuzz_load.c - libFuzzer target for module loading: decoding, validation
 * and compilation of arbitrary bytes, then every read-only accessor of the
 * loaded module.
 *
 * Also linked into fuzz_regressions_load (regress_main.c), which replays
 * the saved crashing inputs of tests/fuzz/regressions/load/ in the normal
 * test run.
 */
#include "wasm/wasm.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_module(const wasm_module *m, size_t size)
{
    uint32_t nimports = wasm_module_import_count(m);
    for (uint32_t i = 0; i < nimports; i++) {
        wasm_import_desc d;
        wasm_module_import(m, i, &d);
    }
    uint32_t nexports = wasm_module_export_count(m);
    for (uint32_t i = 0; i < nexports; i++) {
        wasm_export_desc d;
        wasm_module_export(m, i, &d);
        /* Not necessarily found: Wasm names may contain NUL bytes. */
        (void)wasm_module_find_export(m, d.name, d.kind);
        if (d.kind == WASM_EXTERN_FUNC) {
            wasm_functype t;
            if (!wasm_module_func_type(m, d.index, &t))
                abort();
            (void)wasm_module_func_name(m, d.index);
        }
    }
    size_t custom_size;
    (void)wasm_module_custom_section(m, "name", &custom_size);
    /* A sample of offsets: enough to run the DWARF parser and lookups. */
    for (size_t off = 0; off < size; off += 1 + size / 64) {
        const char *file;
        uint32_t line;
        (void)wasm_module_source_line(m, (uint32_t)off, &file, &line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wasm_error err;
    bool valid = wasm_module_validate(data, size, &err);
    wasm_module *m = wasm_module_load(data, size, &err);
    /* Loading validates too: it must never accept what validation
     * rejected. */
    if (m && !valid)
        abort();
    if (m) {
        touch_module(m, size);
        wasm_module_release(m);
    }
    return 0;
}
