/*
 * wasmgate run -c FILE - runs the proxy.
 *
 * Loads and validates the bootstrap configuration, applies its log levels
 * (log_level, then component_log_level; --log-level and
 * --component-log-level override them), builds the proxy (listeners,
 * admin, plugins) and serves until SIGTERM or SIGINT, then drains and
 * exits with the proxy's exit code.
 */
#include "abi/abi.h"
#include "cli/cli.h"
#include "config/config.h"
#include "proxy/proxy.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: wasmgate run -c FILE [options]\n"
                 "\n"
                 "Runs the proxy with the bootstrap configuration FILE (docs/CONFIG.md).\n"
                 "Serves until SIGTERM or SIGINT, then finishes in-flight requests\n"
                 "(limits.drain_timeout_ms) and exits.\n"
                 "\n"
                 "Options:\n"
                 "  -c, --config FILE              the bootstrap configuration (required;\n"
                 "                                 a single FILE argument works too)\n"
                 "  --log-level LEVEL              global log level: trace, debug, info, warn,\n"
                 "                                 error, critical, off (overrides log_level)\n"
                 "  --component-log-level SPEC     per-component levels, e.g.\n"
                 "                                 \"wasm:trace,http:debug\" (applied after\n"
                 "                                 component_log_level)\n"
                 "  -h, --help                     show this help\n");
}

static void print_buf(FILE *out, const wg_buf *b)
{
    if (!b->len)
        return;
    fwrite(b->data, 1, b->len, out);
    if (b->data[b->len - 1] != '\n')
        fputc('\n', out);
}

/* --name VALUE or --name=VALUE; advances *i past what it used. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *matched)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    *matched = false;
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=') {
        *matched = true;
        return arg + n + 1;
    }
    if (arg[n] != '\0')
        return NULL;
    *matched = true;
    if (*i + 1 >= argc) {
        fprintf(stderr, "wasmgate run: %s needs an argument\n", name);
        return NULL;
    }
    return argv[++*i];
}

int cmd_run(int argc, char **argv)
{
    const char *config_path = NULL, *log_level = NULL, *component_levels = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool m = false;
        const char *v = NULL;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        }
        if (strcmp(arg, "-c") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "wasmgate run: -c needs an argument\n");
                return WG_EXIT_USAGE;
            }
            v = argv[++i];
            m = true;
        } else {
            v = option_value(argc, argv, &i, "--config", &m);
        }
        if (m) {
            if (!v)
                return WG_EXIT_USAGE;
            config_path = v;
            continue;
        }
        v = option_value(argc, argv, &i, "--log-level", &m);
        if (m) {
            if (!v)
                return WG_EXIT_USAGE;
            log_level = v;
            continue;
        }
        v = option_value(argc, argv, &i, "--component-log-level", &m);
        if (m) {
            if (!v)
                return WG_EXIT_USAGE;
            component_levels = v;
            continue;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "wasmgate run: unknown option '%s'\n\n", arg);
            usage(stderr);
            return WG_EXIT_USAGE;
        }
        if (config_path) {
            fprintf(stderr, "wasmgate run: more than one configuration file given\n");
            return WG_EXIT_USAGE;
        }
        config_path = arg;
    }
    if (!config_path) {
        fprintf(stderr, "wasmgate run: no configuration file (-c FILE)\n\n");
        usage(stderr);
        return WG_EXIT_USAGE;
    }

    /* Check the flags before doing anything. */
    wg_log_level flag_level = WG_LOG_INFO;
    if (log_level && wg_log_level_from_string(log_level, &flag_level) != 0) {
        fprintf(stderr,
                "wasmgate run: unknown log level \"%s\" (trace, debug, info, warn, error, "
                "critical, off)\n",
                log_level);
        return WG_EXIT_USAGE;
    }

    wg_buf errors = {0};
    wg_config *config = wg_config_load(config_path, &errors);
    if (!config) {
        print_buf(stderr, &errors);
        if (!errors.len)
            fprintf(stderr, "%s: cannot load the configuration\n", config_path);
        wg_buf_free(&errors);
        return WG_EXIT_FAILURE;
    }
    wg_buf_clear(&errors);

    /* Log levels: the file, then the flags. The file's values were
     * validated by wg_config_load. */
    if (config->log_level) {
        wg_log_level lv;
        if (wg_log_level_from_string(config->log_level, &lv) == 0)
            wg_log_set_level(lv);
    }
    if (config->component_log_level) {
        const char *err = wg_log_parse_levels(config->component_log_level);
        if (err)
            fprintf(stderr, "%s: component_log_level: %s\n", config_path, err);
    }
    if (log_level)
        wg_log_set_level(flag_level);
    if (component_levels) {
        const char *err = wg_log_parse_levels(component_levels);
        if (err) {
            fprintf(stderr, "wasmgate run: --component-log-level: %s\n", err);
            wg_config_free(config);
            wg_buf_free(&errors);
            return WG_EXIT_USAGE;
        }
    }

    if (!pw_global_init()) {
        fprintf(stderr, "wasmgate run: cannot initialise the Proxy-Wasm host\n");
        wg_config_free(config);
        wg_buf_free(&errors);
        return WG_EXIT_FAILURE;
    }

    /* A peer that closes while we write must be an error, not a signal
     * that kills the process (libuv writes with write(2)). */
    signal(SIGPIPE, SIG_IGN);

    int rc = WG_EXIT_FAILURE;
    wg_proxy *proxy = wg_proxy_new(config, &errors);
    if (!proxy) {
        print_buf(stderr, &errors);
        if (!errors.len)
            fprintf(stderr, "wasmgate run: cannot start the proxy\n");
    } else {
        rc = wg_proxy_run(proxy);
        wg_proxy_free(proxy);
    }
    wg_buf_free(&errors);
    wg_config_free(config);
    pw_global_shutdown();
    return rc;
}
