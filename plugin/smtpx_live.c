/* smtpx_live.c: the allocator of the state of conversations going on
 * (pairs, addresses, recipient lists, queues, held lines): chunks of a few
 * sizes, reused through a free list per size, carved from slabs; larger
 * ones from g_malloc.  wmem's block allocator costs about 110 instructions
 * an allocation and 100 a free on the packet list's path; these cost a
 * tenth of that.  Everything goes at once when the file is closed.
 *
 * A chunk's 8 bytes before it say its size class (1..LIVE_CLASSES, in
 * units of LIVE_GRAIN bytes, header included), or LIVE_BIG: a g_malloc'd
 * chunk in the list of those, whose links come before.  Built with
 * SMTPX_LIVE_PLAIN (the sanitizer build), every chunk is a g_malloc'd one,
 * so that AddressSanitizer sees each.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <string.h>

#define LIVE_GRAIN 16u
#define LIVE_CLASSES 64u            /* chunks of up to 1,024 bytes (a conversation: 544) */
#define LIVE_SLAB (64u * 1024u)
#define LIVE_BIG G_GUINT64_CONSTANT(0xff)

typedef struct live_big {
    struct live_big *prev, *next;
    guint64 cls; /* LIVE_BIG: right before the chunk's bytes */
} live_big;

typedef struct live_slab {
    struct live_slab *next;
    guint64 pad; /* the chunks after it start 16-byte aligned */
} live_slab;

static void *free_list[LIVE_CLASSES + 1];
static live_slab *slabs;
static guint8 *slab_pos, *slab_end;
static live_big *bigs;

static void *big_alloc(size_t n)
{
    live_big *b;

    if (n > G_MAXSIZE - sizeof *b)
        g_error("smtpx: allocation of %" G_GSIZE_FORMAT " bytes", n);
    b = (live_big *)g_malloc(sizeof *b + n);
    b->prev = NULL;
    b->next = bigs;
    if (bigs != NULL)
        bigs->prev = b;
    bigs = b;
    b->cls = LIVE_BIG;
    return b + 1;
}

static void big_unlink(live_big *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        bigs = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
}

#ifndef SMTPX_LIVE_PLAIN
static SMTPX_NOINLINE void *slab_carve(guint32 cls)
{
    size_t size = (size_t)cls * LIVE_GRAIN;
    guint8 *p;

    if (slab_pos == NULL || (size_t)(slab_end - slab_pos) < size) {
        live_slab *s = (live_slab *)g_malloc(sizeof *s + LIVE_SLAB);
        s->next = slabs;
        slabs = s;
        slab_pos = (guint8 *)(s + 1);
        slab_end = slab_pos + LIVE_SLAB;
    }
    p = slab_pos;
    slab_pos += size;
    return p;
}
#endif

void *smtpx_live_alloc(size_t n)
{
#ifndef SMTPX_LIVE_PLAIN
    if (n <= LIVE_CLASSES * LIVE_GRAIN - sizeof(guint64)) {
        guint32 cls = (guint32)((n + sizeof(guint64) + LIVE_GRAIN - 1) / LIVE_GRAIN);
        guint64 *h = (guint64 *)free_list[cls];
        if (h != NULL)
            free_list[cls] = *(void **)(h + 1);
        else
            h = (guint64 *)slab_carve(cls);
        *h = cls;
        return h + 1;
    }
#endif
    return big_alloc(n);
}

void *smtpx_live_alloc0(size_t n)
{
    void *p = smtpx_live_alloc(n);

    memset(p, 0, n);
    return p;
}

/* The bytes a chunk of a size class (not a big one) has room for. */
static size_t live_room(const guint64 *h)
{
    return (size_t)*h * LIVE_GRAIN - sizeof(guint64);
}

void smtpx_live_free(void *p)
{
    guint64 *h;

    if (p == NULL)
        return;
    h = (guint64 *)p - 1;
    if (*h == LIVE_BIG) {
        live_big *b = (live_big *)p - 1;
        big_unlink(b);
        g_free(b);
        return;
    }
    *(void **)p = free_list[*h];
    free_list[*h] = h;
}

void *smtpx_live_realloc(void *p, size_t n)
{
    guint64 *h;
    void *q;
    size_t room;

    if (p == NULL)
        return smtpx_live_alloc(n);
    h = (guint64 *)p - 1;
    if (*h == LIVE_BIG) {
        live_big *b = (live_big *)p - 1, *nb;
        if (n > G_MAXSIZE - sizeof *b)
            g_error("smtpx: allocation of %" G_GSIZE_FORMAT " bytes", n);
        big_unlink(b);
        nb = (live_big *)g_realloc(b, sizeof *nb + n);
        nb->prev = NULL;
        nb->next = bigs;
        if (bigs != NULL)
            bigs->prev = nb;
        bigs = nb;
        return nb + 1;
    }
    room = live_room(h);
    if (n <= room)
        return p;
    q = smtpx_live_alloc(n);
    memcpy(q, p, room);
    smtpx_live_free(p);
    return q;
}

char *smtpx_live_strndup(const void *p, size_t n)
{
    char *s = (char *)smtpx_live_alloc(n + 1);

    if (n > 0)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void smtpx_live_reset(void)
{
    while (slabs != NULL) {
        live_slab *s = slabs;
        slabs = s->next;
        g_free(s);
    }
    while (bigs != NULL) {
        live_big *b = bigs;
        bigs = b->next;
        g_free(b);
    }
    slab_pos = slab_end = NULL;
    memset(free_list, 0, sizeof free_list);
}
