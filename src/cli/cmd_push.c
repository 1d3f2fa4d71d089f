/*
 * wasmgate push FILE.wasm oci://REGISTRY/REPO:TAG - publishes a module as
 * an OCI-spec Wasm image (the variant Istio and wasmgate pull), so plugin
 * authors need neither docker nor buildah. The module is validated first:
 * a broken module is never published.
 */
#include "cli/cli.h"
#include "fetch/fetch.h"
#include "plugins/plugins.h"
#include "wasm/wasm.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: wasmgate push FILE.wasm oci://REGISTRY/REPO:TAG [--pull-secret FILE]\n"
            "                     [--insecure] [--timeout-ms N]\n"
            "\n"
            "Publishes a module as an OCI Wasm image and prints the manifest digest\n"
            "(the value for a WasmPlugin's sha256).\n"
            "\n"
            "  --pull-secret FILE  Docker config JSON with the registry's credentials\n"
            "  --insecure          skip TLS verification; the registry may use plain HTTP\n"
            "  --timeout-ms N      deadline for the whole push (default: 30000)\n");
}

int cmd_push(int argc, char **argv)
{
    const char *file = NULL, *ref = NULL;
    cli_registry_opts args = {.timeout_ms = 30000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_registry_option("push", argc, argv, &i, &args);
        if (r < 0)
            return WG_EXIT_USAGE;
        if (r > 0)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        } else if (a[0] == '-' || (file && ref)) {
            fprintf(stderr, "wasmgate push: unexpected argument \"%s\"\n", a);
            usage(stderr);
            return WG_EXIT_USAGE;
        } else if (!file) {
            file = a;
        } else {
            ref = a;
        }
    }
    if (!file || !ref) {
        usage(stderr);
        return WG_EXIT_USAGE;
    }
    char why[512] = "";
    wg_manifest_url u;
    if (!wg_plugins_url_parse(ref, ".", &u, why, sizeof why)) {
        fprintf(stderr, "wasmgate push: \"%s\": %s\n", ref, why);
        return WG_EXIT_USAGE;
    }
    int rc = WG_EXIT_FAILURE;
    char *user = NULL, *pass = NULL;
    wg_buf module = {0};
    if (u.scheme != WG_MANIFEST_SCHEME_OCI || u.digest) {
        fprintf(stderr, "wasmgate push: \"%s\": push needs oci://REGISTRY/REPO:TAG\n", ref);
        rc = WG_EXIT_USAGE;
        goto out;
    }
    int r = wg_fetch_read_file(file, SIZE_MAX - 1, &module, why, sizeof why);
    if (r != 1) {
        if (r == 0)
            fprintf(stderr, "wasmgate push: %s: %s\n", file, strerror(ENOENT));
        else
            fprintf(stderr, "wasmgate push: %s\n", why); /* names the file */
        goto out;
    }
    wasm_error err = {0};
    wasm_module *m = wasm_module_load(module.data, module.len, &err);
    if (!m) {
        fprintf(stderr, "wasmgate push: %s is not a valid WebAssembly module: %s\n", file,
                err.message);
        goto out;
    }
    wasm_module_release(m);
    if (!cli_registry_credentials("push", args.secret_file, u.registry, &user, &pass))
        goto out;
    wg_oci_options opt = {
        .username = user,
        .password = pass,
        .skip_tls_verify = args.insecure,
        .timeout_ms = args.timeout_ms,
    };
    char digest[WG_OCI_DIGEST_LEN] = "";
    if (args.insecure)
        opt.max_attempts = 1; /* https once, then plain HTTP with retries */
    bool ok = wg_oci_push(u.registry, u.repository, u.tag, &opt, module.data, module.len, digest,
                          why, sizeof why);
    if (!ok && args.insecure) {
        opt.insecure = true;
        opt.max_attempts = 0;
        ok = wg_oci_push(u.registry, u.repository, u.tag, &opt, module.data, module.len, digest,
                         why, sizeof why);
    }
    if (!ok) {
        fprintf(stderr, "wasmgate push: %s\n", why);
        goto out;
    }
    printf("%s\n", digest);
    rc = WG_EXIT_OK;
out:
    wg_buf_free(&module);
    cli_wipe_free(pass);
    cli_wipe_free(user);
    wg_plugins_url_free(&u);
    return rc;
}
