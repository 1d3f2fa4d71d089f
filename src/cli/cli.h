/*
 * wasmgate command line.
 *
 * Adding a subcommand:
 *   1. implement `int cmd_NAME(int argc, char **argv)` in src/cli/cmd_NAME.c
 *      (argv[0] is the subcommand name; return a process exit code:
 *      0 ok, 1 failure, 2 usage error);
 *   2. declare it below;
 *   3. add a row to the command table in src/cli/main.c.
 * New .c files are picked up by CMake automatically.
 */
#ifndef WG_CLI_CLI_H
#define WG_CLI_CLI_H

#include <stdbool.h>

typedef int (*wg_cli_fn)(int argc, char **argv);

typedef struct wg_cli_command {
    const char *name;
    const char *help; /* one line, shown by --help */
    wg_cli_fn fn;
} wg_cli_command;

/* Exit codes shared by all subcommands. */
enum {
    WG_EXIT_OK = 0,
    WG_EXIT_FAILURE = 1,
    WG_EXIT_USAGE = 2,
};

/* Subcommands (one per cmd_*.c file, except the built-ins in main.c). */
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_wasm(int argc, char **argv);
int cmd_plugin(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);

/* credentials.c: a registry's credentials from a Docker config JSON file
 * (NULL file: anonymous, *user = *pass = NULL). False after printing the
 * error. Release the strings with cli_wipe_free. cmd names the subcommand
 * in messages. */
bool cli_registry_credentials(const char *cmd, const char *file, const char *registry,
                              char **user, char **pass);
/* Overwrites a secret string, then frees it (NULL is fine). */
void cli_wipe_free(char *s);

/* The options pull and push share. */
typedef struct cli_registry_opts {
    const char *secret_file; /* --pull-secret FILE */
    bool insecure;           /* --insecure */
    long timeout_ms;         /* --timeout-ms N */
} cli_registry_opts;

/* Reads argv[*i] if it is one of those options (and its value, advancing
 * *i past it): 1 when it was, 0 when it is not one, -1 on a bad value
 * (the message, naming cmd, is printed). */
int cli_registry_option(const char *cmd, int argc, char **argv, int *i, cli_registry_opts *o);

#endif /* WG_CLI_CLI_H */
