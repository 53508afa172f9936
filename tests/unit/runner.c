/* runner.c: test runner main, checks and the guard-page helper.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#define _DEFAULT_SOURCE
#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *cur_name;
static int cur_failed, cur_open;
static int n_pass, n_fail;
static long n_checks;

void t_begin(const char *name)
{
    if (cur_open)
        t_end();
    cur_name = name;
    cur_failed = 0;
    cur_open = 1;
}

void t_end(void)
{
    if (!cur_open)
        return;
    if (cur_failed)
        n_fail++;
    else
        n_pass++;
    cur_open = 0;
}

static void fail_head(const char *file, int line)
{
    cur_failed = 1;
    fprintf(stderr, "FAIL [%s] %s:%d: ", cur_name ? cur_name : "?", file, line);
}

int t_check(int ok, const char *expr, const char *file, int line)
{
    n_checks++;
    if (!ok) {
        fail_head(file, line);
        fprintf(stderr, "%s\n", expr);
    }
    return ok;
}

int t_check_long(long got, long want, const char *expr, const char *file, int line)
{
    n_checks++;
    if (got != want) {
        fail_head(file, line);
        fprintf(stderr, "%s: got %ld, want %ld\n", expr, got, want);
        return 0;
    }
    return 1;
}

int t_check_str(const char *got, const char *want, const char *expr, const char *file, int line)
{
    n_checks++;
    if (got == want || (got && want && strcmp(got, want) == 0))
        return 1;
    fail_head(file, line);
    fprintf(stderr, "%s:\n--- got:\n%s\n--- want:\n%s\n", expr,
            got ? got : "(null)", want ? want : "(null)");
    return 0;
}

void t_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

const uint8_t *guard_copy(const void *data, size_t n)
{
    static uint8_t *region;
    static size_t page;
    uint8_t *end;

    if (region == NULL) {
        page = (size_t)sysconf(_SC_PAGESIZE);
        region = mmap(NULL, GUARD_MAX + page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED || mprotect(region + GUARD_MAX, page, PROT_NONE) != 0) {
            perror("guard page");
            exit(2);
        }
    }
    if (n > GUARD_MAX) {
        fprintf(stderr, "guard_copy: %zu bytes is too much\n", n);
        exit(2);
    }
    end = region + GUARD_MAX;
    if (n > 0)
        memcpy(end - n, data, n);
    return end - n;
}

static const struct {
    const char *name;
    void (*fn)(void);
} groups[] = {
    { "frame", tests_frame },
    { "parse", tests_parse },
    { "codes", tests_codes },
    { "session", tests_session },
};

int main(int argc, char **argv)
{
    size_t i;
    int ran = 0;

    for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        int want = argc < 2;
        int a;
        for (a = 1; a < argc; a++)
            want |= strcmp(argv[a], groups[i].name) == 0;
        if (!want)
            continue;
        groups[i].fn();
        t_end();
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "usage: %s [frame|parse|codes|session]...\n", argv[0]);
        return 2;
    }
    printf("%ld checks\n%d passed, %d failed\n", n_checks, n_pass, n_fail);
    return n_fail ? 1 : 0;
}
