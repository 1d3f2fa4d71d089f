/*
 * regress_main.c - replays every input saved in a directory (for fuzz_NAME:
 * tests/fuzz/regressions/NAME/) through the fuzz target, so that inputs that
 * once crashed keep being checked by ctest. Run under the sanitizer build
 * to catch memory errors, not only crashes.
 *
 *   fuzz_regressions_NAME DIR
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *p = realloc(buf, cap);
            if (!p) {
                fclose(f);
                free(buf);
                fprintf(stderr, "%s: out of memory\n", path);
                return -1;
            }
            buf = p;
        }
        size_t n = fread(buf + size, 1, cap - size, f);
        if (n == 0)
            break;
        size += n;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        perror(path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 1;
    }
    unsigned passed = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (replay(path) == 0)
            passed++;
        else
            failed++;
    }
    closedir(dir);
    /* A crash never gets here: the test fails by dying. */
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
