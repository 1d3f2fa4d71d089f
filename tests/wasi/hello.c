/*
 * hello.c - a plain C program for wasm32-wasi (clang --target=wasm32-wasi):
 * prints its arguments and the GREETING environment variable on stdout, one
 * line on stderr, and exits with status 7.
 *
 * With argv {"hello", "a", "b c"} and GREETING=hi, stdout is exactly
 *   argc=3
 *   argv[0]=hello
 *   argv[1]=a
 *   argv[2]=b c
 *   GREETING=hi
 * (GREETING=(unset) without the variable) and stderr is "hello: done\n".
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    fprintf(stderr, "hello: done\n");
    return 7;
}
