#include "base/log.h"
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WASMGATE_VERSION
#define WASMGATE_VERSION "unknown"
#endif

/* The subcommand table. Keep it sorted by name. */
static const wg_cli_command commands[] = {
    {"help", "Show this help", cmd_help},
    {"version", "Print the version", cmd_version},
    {"wasm", "Run or validate a plain WebAssembly module (wasm run FILE.wasm)", cmd_wasm},
    {"plugin", "Run one simulated HTTP stream through a Proxy-Wasm plugin (plugin run)",
     cmd_plugin},
    {"run", "Run the proxy (run -c FILE)", cmd_run},
    {"validate", "Check bootstrap configs and WasmPlugin manifests (validate FILE|DIR...)",
     cmd_validate},
    {"pull", "Fetch a module into the cache (pull oci://REGISTRY/REPO:TAG | https://...)",
     cmd_pull},
    {"push", "Publish a module as an OCI image (push FILE.wasm oci://REGISTRY/REPO:TAG)",
     cmd_push},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: wasmgate [options] <command> [args...]\n"
            "\n"
            "HTTP proxy running Proxy-Wasm plugins.\n"
            "\n"
            "Options:\n"
            "  -h, --help         Show this help\n"
            "  -V, --version      Print the version\n"
            "  -l, --log SPEC     Log levels, e.g. \"info\" or \"debug,wasm:trace,http:warn\"\n"
            "                     (default: $WASMGATE_LOG, else info)\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].help);
}

int cmd_help(int argc, char **argv)
{
    usage(stdout);
    return WG_EXIT_OK;
}

int cmd_version(int argc, char **argv)
{
    printf("wasmgate %s\n", WASMGATE_VERSION);
    return WG_EXIT_OK;
}

static int apply_log_spec(const char *spec)
{
    const char *err = wg_log_parse_levels(spec);
    if (err) {
        fprintf(stderr, "wasmgate: %s\n", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *env_log = getenv("WASMGATE_LOG");
    if (env_log && apply_log_spec(env_log) != 0)
        return WG_EXIT_USAGE;

    /* Global options come before the subcommand. */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            return cmd_version(0, NULL);
        } else if (strcmp(arg, "-l") == 0 || strcmp(arg, "--log") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wasmgate: %s needs an argument\n", arg);
                return WG_EXIT_USAGE;
            }
            if (apply_log_spec(argv[++i]) != 0)
                return WG_EXIT_USAGE;
        } else if (strncmp(arg, "--log=", 6) == 0) {
            if (apply_log_spec(arg + 6) != 0)
                return WG_EXIT_USAGE;
        } else {
            fprintf(stderr, "wasmgate: unknown option '%s'\n\n", arg);
            usage(stderr);
            return WG_EXIT_USAGE;
        }
    }

    if (i >= argc) {
        fprintf(stderr, "wasmgate: no command given\n\n");
        usage(stderr);
        return WG_EXIT_USAGE;
    }

    for (size_t c = 0; c < NCOMMANDS; c++) {
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].fn(argc - i, argv + i);
    }

    fprintf(stderr, "wasmgate: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return WG_EXIT_USAGE;
}
