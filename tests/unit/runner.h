/* runner.h: the unit tests' own tiny test runner.
 * SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TEST_RUNNER_H
#define TEST_RUNNER_H

#include <stddef.h>
#include <stdint.h>

/* One failed check marks the current case failed; the runner counts cases. */
void t_begin(const char *name);
void t_end(void);
int t_check(int ok, const char *expr, const char *file, int line);
int t_check_long(long got, long want, const char *expr, const char *file, int line);
int t_check_str(const char *got, const char *want, const char *expr, const char *file, int line);
void t_note(const char *fmt, ...);

#define CHECK(c) t_check((c) != 0, #c, __FILE__, __LINE__)
#define CHECK_EQ(got, want) t_check_long((long)(got), (long)(want), #got " == " #want, __FILE__, __LINE__)
#define CHECK_STR(got, want) t_check_str((got), (want), #got, __FILE__, __LINE__)

/* A guard-page copy: the returned bytes end exactly where a PROT_NONE page
 * begins, so reading one byte past them faults. Valid until the next call. */
const uint8_t *guard_copy(const void *data, size_t n);
#define GUARD_MAX (1u << 20)

/* Test groups. */
void tests_frame(void);
void tests_parse(void);
void tests_codes(void);
void tests_session(void);

#endif
