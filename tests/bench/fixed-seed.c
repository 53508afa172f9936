/* fixed-seed.c: preloaded into tshark for instruction counts only
 * (tests/bench/bench-tshark.py).  wmem maps seed their hashes from
 * g_random_int, so two callgrind runs of the same tshark on the same file
 * differed by up to 0.8 % (different collisions); with these the count
 * repeats to within a few thousand instructions.  SPDX-License-Identifier:
 * GPL-2.0-or-later */
#include <stdint.h>

uint32_t g_random_int(void);
int32_t g_random_int_range(int32_t begin, int32_t end);

uint32_t g_random_int(void)
{
    return 0x9e3779b9u;
}

int32_t g_random_int_range(int32_t begin, int32_t end)
{
    return end > begin ? begin + (int32_t)(0x9e3779b9u % (uint32_t)(end - begin)) : begin;
}
