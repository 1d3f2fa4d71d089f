/*
 * native_main.c - native driver for the benchmark kernels.
 * Links against one kernel and prints the checksum returned by run(),
 * exactly as the wasm engines print the result of the `run` export.
 */
#include <stdio.h>

int run(void);

int main(void)
{
    printf("%d\n", run());
    return 0;
}
