/* run_corpus.c: replays fuzzer inputs (files or directories of files)
 * through LLVMFuzzerTestOneInput without libFuzzer, for gcc and valgrind.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        perror(path);
        if (f)
            fclose(f);
        return 0;
    }
    /* exactly sized, so an over-read shows under ASan or valgrind */
    buf = malloc(n ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        fclose(f);
        free(buf);
        return 0;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    int i, ran = 0, bad = 0;

    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int k, n = scandir(argv[i], &names, NULL, alphasort);
            for (k = 0; k < n; k++) {
                char path[4096];
                if (names[k]->d_name[0] != '.') {
                    snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (run_file(path))
                            ran++;
                        else
                            bad++;
                    }
                }
                free(names[k]);
            }
            if (n >= 0)
                free(names);
        } else if (run_file(argv[i])) {
            ran++;
        } else {
            bad++;
        }
    }
    printf("%d inputs replayed, %d unreadable\n", ran, bad);
    return bad || ran == 0 ? 1 : 0;
}
