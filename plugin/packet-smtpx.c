/* packet-smtpx.c: the dissector: registration, conversation state, pairing
 * and the first pass that runs the engine (smtpx_message.c collects
 * messages, smtpx_track.c transactions and AUTH, smtpx_render.c draws).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "smtpx.h"

#include <epan/conversation.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/tap.h>
#include <epan/dissectors/packet-tcp.h>
#include <wsutil/pint.h>

#include "smtp_auth.h"
#include "smtp_codes.h"
#include "smtp_parse.h"

#include <stddef.h>
#include <string.h>


int smtpx_imf_tap = -1;
int smtpx_expert_tap; /* looked up at first use: epan registers it after the handoffs */

static dissector_handle_t smtpx_tcp_handle; /* over TCP: data is struct tcpinfo */
static dissector_handle_t smtpx_tls_handle; /* inside TLS: data is not ours */
static dissector_handle_t imf_handle;
static dissector_handle_t tls_handle;
dissector_handle_t smtpx_ntlmssp_handle;

/* proto data key of a frame's dissection state on later passes (packet
 * scope; the records themselves are found through the chain below) */
#define KEY_FRAME 0

/* ---- conversation ---- */

/* What the first bytes a side sends say about it: 1 server (a reply
 * line), 0 client (a known command verb), -1 unknown. */
static int side_by_content(tvbuff_t *tvb)
{
    guint32 n = tvb_captured_length(tvb);
    const guint8 *p;
    guint32 w = 0;

    if (n > 16)
        n = 16;
    if (n < 4)
        return -1;
    p = tvb_get_ptr(tvb, 0, n);
    if (g_ascii_isdigit(p[0]) && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]) &&
        (p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n'))
        return 1;
    while (w < n && g_ascii_isalpha(p[w]))
        w++;
    if (smtp_verb_lookup(p, w) != SMTP_VERB_UNKNOWN && (w == n || !g_ascii_isalnum(p[w])))
        return 0;
    return -1;
}

/* An allocator of the plugin's own for what lives until the file is
 * closed (transactions, parked sessions, messages, unknown verbs): nothing
 * there is freed before (a parked session taken up again is the one
 * exception, and its few bytes stay), so it only hands out memory, the
 * cheapest way (a block-fast allocator).  The state of conversations going
 * on, freed as they end, has its own (smtpx_live.c). */
static wmem_allocator_t *state_scope;

/* The records of the first pass, one per call: what tells its data apart
 * (made from decrypted TLS data or not, the bytes of that tvb it accounts
 * for, and the low 16 bits of the TCP sequence number of its first byte, 0
 * inside TLS), then the call.  The first pass goes through the frames in
 * order, so they are kept as one chain in that order: each preceded by its
 * frame's distance from the previous record's (plus 1) and its length,
 * LEB128, in slabs filled one after the other (a 0 where a slab ends: the
 * address of the next follows), never freed one by one.  A mark every
 * REC_MARK records (its frame, its address) is what later passes bisect;
 * they read on from there.  About 3 bytes a record where an index entry
 * took 12 to 16, and no chunk header or alignment.  A record made out of
 * frame order (never seen; kept for safety) is allocated alone and listed
 * apart. */
#define REC_SLAB (256u * 1024u)
#define REC_MARK 32u
#define REC_LINK (1u + sizeof(guint8 *)) /* a slab's end: 0, the next slab */
typedef struct rec_block {
    struct rec_block *next; /* every block, for freeing */
    guint8 data[];
} rec_block;

typedef struct rec_mark {
    guint32 frame;
    const guint8 *at;      /* a record's distance byte(s) in a slab, or (late) its header */
} rec_mark;

static rec_block *rec_blocks;
static guint8 *rec_pos, *rec_end; /* the chain's end, the slab's end */
static guint32 rec_count, rec_last_frame;
static rec_mark *rec_marks, *rec_late; /* g_malloc'd, sorted by frame */
static guint32 rec_nmarks, rec_marks_cap, rec_nlate, rec_late_cap;

wmem_allocator_t *smtpx_scope(void)
{
    return state_scope != NULL ? state_scope : wmem_file_scope();
}


/* The conversation of a TCP frame, found on the first pass without asking
 * the conversation table again (about 1,100 instructions a lookup, twice
 * a frame with the postdissector): a map of the address and port pairs of
 * the connections this plugin has dissected to the conversation last found
 * for them.  An entry is good for a frame when its conversation was found
 * for that very frame: TCP looks the conversation up for every frame
 * before it calls us, and the lookup marks it (last_frame).  A new
 * connection on the same ports (a SYN) gets a new conversation; TCP finds
 * the old one first in that frame, so frames with a SYN always ask again.
 * A pair of addresses of different types or longer than 16 bytes is not
 * kept: asked every time. */
typedef struct conv_key {
    guint32 hash;
    guint16 port[2];
    guint8 type, len;
    guint8 addr[2][16];
    guint8 swapped; /* the frame's source is addr[1] (not compared) */
} conv_key;

typedef struct conv_entry {
    conv_key key;
    conversation_t *conv; /* NULL: a free slot; CONV_GONE: an entry removed */
    smtpx_conv *state;    /* conv's state (going on) once a call has found it, else NULL */
    guint8 srv_side;      /* then: the key's side of its server (0: addr[0]) */
} conv_entry;

/* The map: open addressing with linear probing, in g_malloc'd slots (a
 * wmem_map costs a call per hash and per compare, about 150 instructions a
 * lookup more).  Removed entries stay as markers until the next rehash. */
static conv_entry *conv_tab;
static guint32 conv_tab_mask;            /* slots - 1 */
static guint32 conv_tab_live, conv_tab_taken; /* entries; entries and markers */
static guint8 conv_gone_mark;
#define CONV_GONE ((conversation_t *)&conv_gone_mark)

static inline gboolean conv_key_equal(const conv_key *x, const conv_key *y)
{
    /* hash, ports, type and len: the first 10 bytes, no padding among them */
    if (memcmp(x, y, offsetof(conv_key, addr)) != 0)
        return FALSE;
    if (x->len == 4)
        return memcmp(x->addr[0], y->addr[0], 4) == 0 && memcmp(x->addr[1], y->addr[1], 4) == 0;
    return memcmp(x->addr[0], y->addr[0], x->len) == 0 && memcmp(x->addr[1], y->addr[1], x->len) == 0;
}

static conv_entry *conv_tab_find(const conv_key *k)
{
    guint32 i = k->hash & conv_tab_mask;
    conv_entry *e;

    while ((e = &conv_tab[i])->conv != NULL) {
        if (e->conv != CONV_GONE && conv_key_equal(&e->key, k))
            return e;
        i = (i + 1) & conv_tab_mask;
    }
    return NULL;
}

static void conv_tab_alloc(guint32 slots)
{
    conv_entry *old = conv_tab;
    guint32 n = old != NULL ? conv_tab_mask + 1 : 0, i;

    conv_tab = g_new(conv_entry, slots);
    for (i = 0; i < slots; i++) /* a free slot is one without a conversation */
        conv_tab[i].conv = NULL;
    conv_tab_mask = slots - 1;
    conv_tab_taken = conv_tab_live;
    for (i = 0; i < n; i++) { /* the entries again, without the markers */
        if (old[i].conv != NULL && old[i].conv != CONV_GONE) {
            guint32 j = old[i].key.hash & conv_tab_mask;
            while (conv_tab[j].conv != NULL)
                j = (j + 1) & conv_tab_mask;
            conv_tab[j] = old[i];
        }
    }
    g_free(old);
}

/* A new entry for k (not in the map), its conversation for the caller */
static conv_entry *conv_tab_add(const conv_key *k)
{
    guint32 i;

    if ((conv_tab_taken + 1) * 4 > conv_tab_mask + 1) { /* at most a quarter taken: short probes */
        guint32 slots = 64;
        while (slots < (conv_tab_live + 1) * 8) /* at most an eighth after */
            slots *= 2;
        conv_tab_alloc(slots);
    }
    i = k->hash & conv_tab_mask;
    while (conv_tab[i].conv != NULL && conv_tab[i].conv != CONV_GONE)
        i = (i + 1) & conv_tab_mask;
    if (conv_tab[i].conv == NULL)
        conv_tab_taken++;
    conv_tab_live++;
    conv_tab[i].key = *k;
    return &conv_tab[i];
}

static void conv_tab_free(void)
{
    g_free(conv_tab);
    conv_tab = NULL;
    conv_tab_mask = conv_tab_live = conv_tab_taken = 0;
}

static smtpx_pair *pairs_free; /* see pair_new */

void smtpx_vec_reserve_more(smtpx_vec *v, size_t size, guint32 k)
{
    guint32 cap = v->cap ? v->cap * 2 : 8;

    if (v->cap - v->n >= k)
        return;
    if (cap < v->n + k)
        cap = v->n + k;
    v->p = (guint8 *)(v->p != NULL ? wmem_realloc(v->pool, v->p, (size_t)cap * size)
                                   : wmem_alloc(v->pool, (size_t)cap * size));
    v->cap = cap;
}

void smtpx_vec_grow(smtpx_vec *v, size_t size)
{
    smtpx_vec_reserve_more(v, size, 1);
}

/* Vectors a first-pass call fills and drops: kept from call to call (their
 * storage grows once, outside any wmem scope) instead of allocated in
 * pinfo's pool for each call.  A call's units, their parse and the pairs
 * they dropped are read while the call renders; a call nested in that
 * rendering (SMTP in TLS handed to this plugin again) takes pinfo's pool
 * instead. */
static smtpx_vec scratch_units, scratch_fixes, scratch_parsed, scratch_dead;
static gboolean scratch_parsed_busy;
static gboolean scratch_units_busy; /* scratch_units and scratch_dead: a call renders from them */
static guint32 first_pass_calls;    /* first-pass calls made, to tell a nested one */

static void scratch_free(void)
{
    g_free(scratch_units.p);
    g_free(scratch_fixes.p);
    g_free(scratch_dead.p);
    g_free(scratch_parsed.p);
    memset(&scratch_units, 0, sizeof scratch_units);
    memset(&scratch_fixes, 0, sizeof scratch_fixes);
    memset(&scratch_dead, 0, sizeof scratch_dead);
    memset(&scratch_parsed, 0, sizeof scratch_parsed);
    scratch_parsed_busy = scratch_units_busy = FALSE;
}

static void frame_state_reset(void);

int smtpx_quiet_severity;

static void scopes_init(void)
{
    smtpx_enabled_refresh();
    smtpx_quiet_severity = 0;
    state_scope = wmem_allocator_new(WMEM_ALLOCATOR_BLOCK_FAST);
    conv_tab_free();
    conv_tab_alloc(64);
    pairs_free = NULL;
    frame_state_reset();
}

static void scopes_cleanup(void)
{
    scratch_free();
    wmem_destroy_allocator(state_scope);
    smtpx_live_reset();
    state_scope = NULL;
    conv_tab_free();
    pairs_free = NULL;
    frame_state_reset();
    while (rec_blocks != NULL) {
        rec_block *b = rec_blocks;
        rec_blocks = b->next;
        g_free(b);
    }
    rec_pos = rec_end = NULL;
    g_free(rec_marks);
    g_free(rec_late);
    rec_marks = rec_late = NULL;
    rec_count = rec_last_frame = rec_nmarks = rec_marks_cap = rec_nlate = rec_late_cap = 0;
}

/* Which end is the server: the end whose first bytes are a reply (or
 * whose peer's are a command), else the end on the port we were registered
 * for.  Content first: tunnels and Decode As rewrite ports. */
static void choose_server(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb)
{
    int src_is_server = side_by_content(tvb);

    if (src_is_server < 0) {
        if (pinfo->match_uint == pinfo->destport && pinfo->match_uint != pinfo->srcport)
            src_is_server = 0;
        else if (pinfo->match_uint == pinfo->srcport && pinfo->match_uint != pinfo->destport)
            src_is_server = 1;
        else
            src_is_server = pinfo->srcport < pinfo->destport;
    }
    copy_address_wmem(smtpx_scope(), &c->conn.srv_addr, src_is_server ? &pinfo->src : &pinfo->dst);
    c->conn.srv_port = src_is_server ? pinfo->srcport : pinfo->destport;
}

/* The engine's queue grows in the capture's memory: it lives as long as
 * the conversation and is as large as the most commands ever waiting. */
static void *grow_queue(void *ctx, void *old, size_t bytes)
{
    return smtpx_live_realloc(old, bytes);
}

/* Pairs freed, for the next commands (pairs_free, linked by next; in the
 * live allocator, so forgotten with it): at most as many as were ever
 * waiting at once, and a pair made or freed in a few instructions. */
#if defined(__SANITIZE_ADDRESS__) /* freed for real: a pair used after its end is caught */
#define PAIRS_REUSED 0
#else
#define PAIRS_REUSED 1
#endif

/* A pair set to zero by assignment: a few stores (callgrind counts every
 * byte of the rep stosb of a memset or wmem_alloc0). */
static const smtpx_pair pair_zero;

static smtpx_pair *pair_new(void)
{
    smtpx_pair *p = pairs_free;

    if (p == NULL || !PAIRS_REUSED)
        p = (smtpx_pair *)smtpx_live_alloc(sizeof(smtpx_pair));
    else
        pairs_free = p->next;
    *p = pair_zero; /* a few stores, not a call of memset */
    return p;
}

/* A pair and, while it owns it, its address. */
static void pair_free(smtpx_pair *p)
{
    if (p->owns_addr) /* a recipient no summary lists (or no reply came) */
        smtpx_live_free((void *)p->addr);
    if (!PAIRS_REUSED) {
        smtpx_live_free(p);
        return;
    }
    p->next = pairs_free;
    pairs_free = p;
}

/* A pair leaves the ring (answered or forgotten): freed at the end of the
 * call whose units may still point at it, or at once outside a call. */
static void pair_drop(smtpx_conv *c, smtpx_pair *p)
{
    if (c->dead != NULL)
        *(smtpx_pair **)smtpx_vec_push(c->dead, sizeof p) = p;
    else
        pair_free(p);
}

/* The pairs of waiting commands, by number: a ring at least as large as
 * the engine's queue, so that every waiting command has its own slot. */
static void ring_fit(smtpx_conv *c)
{
    guint32 need = smtp_session_queue_capacity(&c->sess), i, cap;
    smtpx_pair **nr;

    if (c->ring_cap >= need)
        return;
    cap = c->ring_cap ? c->ring_cap : SMTP_PENDING_INLINE;
    while (cap < need)
        cap = cap > G_MAXUINT32 / 2 ? need : cap * 2;
    nr = (smtpx_pair **)smtpx_live_alloc0((size_t)cap * sizeof(smtpx_pair *));
    for (i = 0; i < c->ring_cap; i++) {
        smtpx_pair *p = c->ring[i], **slot;
        if (p == NULL)
            continue;
        slot = &nr[p->seq % cap];
        /* forgotten pairs are older than the waiting ones */
        if (*slot == NULL) {
            *slot = p;
        } else if ((*slot)->seq < p->seq) {
            pair_drop(c, *slot);
            *slot = p;
        } else {
            pair_drop(c, p);
        }
    }
    if (c->ring != NULL)
        smtpx_live_free(c->ring);
    c->ring = nr;
    c->ring_cap = cap;
}

static void ring_put(smtpx_conv *c, smtpx_pair *p)
{
    smtpx_pair **slot;

    ring_fit(c);
    slot = &c->ring[p->seq % c->ring_cap];
    if (*slot != NULL && *slot != p)
        pair_drop(c, *slot); /* a command forgotten without a reply */
    *slot = p;
}

static smtpx_pair *ring_get(smtpx_conv *c, guint32 seq)
{
    smtpx_pair *p = c->ring_cap ? c->ring[seq % c->ring_cap] : NULL;
    return (p != NULL && p->seq == seq) ? p : NULL;
}

/* The pair's command is answered: the engine never pairs a reply with its
 * number again. */
static void ring_take(smtpx_conv *c, smtpx_pair *p)
{
    c->ring[p->seq % c->ring_cap] = NULL;
    pair_drop(c, p);
}

static void session_init(smtp_session *s)
{
    smtp_config cfg;

    memset(&cfg, 0, sizeof cfg);
    cfg.max_line = smtpx_max_line;
    cfg.max_reply = smtpx_max_line > G_MAXUINT32 / 4 ? G_MAXUINT32 : smtpx_max_line * 4;
    cfg.max_pending = smtpx_max_pending;
    cfg.grow = grow_queue;
    smtp_session_init(s, &cfg);
}

/* ---- parking: a conversation whose SMTP is over keeps little ---- */

/* First pass, after a call or a connection's end: when the session is over
 * (QUIT answered or the connection closed, nothing waiting, open or
 * half-read) the conversation's state gives way to an smtpx_parked; most
 * connections end so, and a capture holds many. */
static void conv_forget(packet_info *pinfo, conversation_t *conv, const smtpx_conv *c);

static SMTPX_NOINLINE void park(packet_info *pinfo, conversation_t *conv, smtpx_conv *c)
{
    smtpx_parked *k;
    guint32 i;
    void *queue;
    guint8 packed[SMTP_PARKED_MAX];
    size_t n;

    queue = smtp_session_queue_storage(&c->sess);
    n = smtp_session_park(&c->sess, packed);
    if (n == 0)
        return;
    k = (smtpx_parked *)wmem_alloc(smtpx_scope(), sizeof(smtpx_parked) + n);
    memcpy(k->sess, packed, n);
    k->conn = c->conn; /* the server address's bytes stay where they are */
    k->conn.parked = 1;
    for (i = 0; i < c->ring_cap; i++) { /* commands forgotten unanswered */
        if (c->ring[i] != NULL)
            pair_free(c->ring[i]);
    }
    if (c->ring != NULL)
        smtpx_live_free(c->ring);
    if (queue != NULL)
        smtpx_live_free(queue);
    for (i = 0; i < 2; i++) { /* room a cut line once needed, empty now */
        if (c->held[i] != NULL)
            smtpx_live_free(c->held[i]);
    }
    conversation_add_proto_data(conv, proto_smtpx, k);
    smtpx_live_free(c);
    conv_forget(pinfo, conv, c);
}

static void maybe_park(packet_info *pinfo, conversation_t *conv, smtpx_conv *c)
{
    guint32 i;

    if (!smtp_session_over(&c->sess) || c->msg_data != NULL || c->auth != NULL || c->dead != NULL ||
        c->held_len[0] || c->held_len[1]) /* the usual answer, not over, first */
        return;
    for (i = 0; i < G_N_ELEMENTS(c->txns); i++) {
        if (c->txns[i] != NULL)
            return;
    }
    park(pinfo, conv, c);
}

/* More of a parked conversation: its state back, as it was. */
static smtpx_conv *unpark(conversation_t *conv, smtpx_parked *k)
{
    smtpx_conv *c = (smtpx_conv *)smtpx_live_alloc0(sizeof(smtpx_conv));

    session_init(&c->sess);
    smtp_session_unpark(&c->sess, k->sess);
    c->conn = k->conn;
    c->conn.parked = 0;
    conversation_add_proto_data(conv, proto_smtpx, c);
    wmem_free(smtpx_scope(), k);
    return c;
}

/* The frame's pair of endpoints, the same both ways; FALSE when not kept */
static SMTPX_NOINLINE gboolean conv_key_make_other(const packet_info *pinfo, conv_key *k);

static inline gboolean conv_key_make(const packet_info *pinfo, conv_key *k)
{
    const address *a = &pinfo->src, *b = &pinfo->dst;
    guint32 pa = pinfo->srcport, pb = pinfo->destport, h = 2166136261u;

    if (a->len == 4 && b->len == 4 && a->type == b->type && a->data != NULL && b->data != NULL &&
        (pa | pb) <= 0xffff) {
        /* IPv4, nearly always: the steps of conv_key_make_other for 4 bytes, in words */
        guint32 wa, wb;
        memcpy(&wa, a->data, 4);
        memcpy(&wb, b->data, 4);
        k->swapped = 0;
        if (wa > wb || (wa == wb && pa > pb)) {
            guint32 t = wa;
            wa = wb, wb = t, t = pa, pa = pb, pb = t;
            k->swapped = 1;
        }
        k->type = (guint8)a->type;
        k->len = 4;
        k->port[0] = (guint16)pa;
        k->port[1] = (guint16)pb;
        memcpy(k->addr[0], &wa, 4);
        memcpy(k->addr[1], &wb, 4);
        h ^= (pa << 16 | pb) ^ ((guint32)k->type << 8) ^ 4u;
        h = (h ^ wa) * 0x9e3779b1u;
        h = (h ^ (h >> 15) ^ wb) * 0x85ebca77u;
        k->hash = h ^ (h >> 13);
        return TRUE;
    }
    return conv_key_make_other(pinfo, k);
}

static SMTPX_NOINLINE gboolean conv_key_make_other(const packet_info *pinfo, conv_key *k)
{
    const address *a = &pinfo->src, *b = &pinfo->dst;
    guint32 pa = pinfo->srcport, pb = pinfo->destport, h = 2166136261u, i;
    int cmp;

    if (a->type != b->type || a->len != b->len || a->len > 16 || a->len < 0 || pa > 0xffff ||
        pb > 0xffff || (a->len > 0 && (a->data == NULL || b->data == NULL)))
        return FALSE;
    cmp = a->len > 0 ? memcmp(a->data, b->data, (size_t)a->len) : 0;
    k->swapped = 0;
    if (cmp > 0 || (cmp == 0 && pa > pb)) {
        const address *t = a;
        guint32 tp = pa;
        a = b, b = t, pa = pb, pb = tp;
        k->swapped = 1;
    }
    k->type = (guint8)a->type;
    k->len = (guint8)a->len;
    k->port[0] = (guint16)pa;
    k->port[1] = (guint16)pb;
    h ^= (pa << 16 | pb) ^ ((guint32)k->type << 8) ^ (guint32)k->len;
    if (a->len > 0) {
        memcpy(k->addr[0], a->data, (size_t)a->len);
        memcpy(k->addr[1], b->data, (size_t)b->len);
    }
    for (i = 0; i + 4 <= k->len; i += 4) { /* 4 bytes at a time (IPv6) */
        guint32 w0, w1;
        memcpy(&w0, k->addr[0] + i, 4);
        memcpy(&w1, k->addr[1] + i, 4);
        h = (h ^ w0) * 0x9e3779b1u;
        h = (h ^ (h >> 15) ^ w1) * 0x85ebca77u;
    }
    for (; i < k->len; i++)
        h = (h ^ k->addr[0][i] ^ ((guint32)k->addr[1][i] << 8)) * 16777619u;
    h ^= h >> 13;
    k->hash = h;
    return TRUE;
}

#ifdef SMTPX_CHECK_CONV_CACHE
/* A build that looks every conversation up as well and stops at the first
 * frame where the map would have answered differently. */
static conversation_t *conv_checked(packet_info *pinfo, conversation_t *cached)
{
    conversation_t *real = find_conversation_pinfo(pinfo, 0);

    if (real != cached)
        g_error("smtpx: conversation map wrong in frame %u", pinfo->num);
    return cached;
}
#define CONV_CHECKED(pinfo, conv) conv_checked((pinfo), (conv))
#else
#define CONV_CHECKED(pinfo, conv) (conv)
#endif

/* The conversation of a frame this plugin dissects (first pass); *entry:
 * its map entry (NULL if not kept), *src_side: the side of the entry's key
 * that is the frame's source. */
static conversation_t *conv_of_call(packet_info *pinfo, const struct tcpinfo *ti, conv_entry **entry,
                                    guint8 *src_side)
{
    conv_key k;
    conv_entry *e;
    conversation_t *conv;

    *entry = NULL;
    if (conv_tab == NULL || !conv_key_make(pinfo, &k))
        return find_or_create_conversation(pinfo);
    *src_side = k.swapped;
    e = conv_tab_find(&k);
    if (e != NULL && e->conv->last_frame == pinfo->num && (ti == NULL || !(ti->flags & TH_SYN))) {
        *entry = e;
        return CONV_CHECKED(pinfo, e->conv);
    }
    conv = find_or_create_conversation(pinfo);
    if (e == NULL) {
        e = conv_tab_add(&k);
        e->state = NULL;
    } else if (e->conv != conv)
        e->state = NULL;
    e->conv = conv;
    *entry = e;
    return conv;
}

/* A conversation parks (its SMTP over): its entry goes, so that the map
 * holds the conversations going on only.  Frames of its connection that
 * come to the postdissector after that stop at the map: a parked
 * conversation has nothing to close (the TCP completeness it keeps is then
 * the one of its parking, and only a FIN or RST frame after more SMTP
 * brought it back compares with it).  More SMTP brings it back through
 * the conversation table and a new entry. */
static void conv_forget(packet_info *pinfo, conversation_t *conv, const smtpx_conv *c)
{
    conv_key k;
    conv_entry *e;

    if (conv_tab == NULL || !conv_key_make(pinfo, &k))
        return;
    e = conv_tab_find(&k);
    if (e != NULL && e->state == c)
        e->state = NULL; /* freed */
    if (e == NULL || e->conv != conv)
        return;
    e->conv = CONV_GONE;
    e->state = NULL;
    conv_tab_live--;
}

/* The conversation of any TCP frame for the postdissector (first pass):
 * NULL when no frame of its endpoints came to this plugin since its
 * conversation last parked. */
static conversation_t *conv_of_frame(packet_info *pinfo)
{
    conv_key k;
    conv_entry *e;
    conversation_t *conv;

    if (conv_tab == NULL || !conv_key_make(pinfo, &k))
        return find_conversation_pinfo(pinfo, 0);
    e = conv_tab_find(&k);
    if (e == NULL) {
#ifdef SMTPX_CHECK_CONV_CACHE
        void *state;
        conv = find_conversation_pinfo(pinfo, 0);
        state = conv != NULL ? conversation_get_proto_data(conv, proto_smtpx) : NULL;
        if (state != NULL && *(const guint8 *)state == 0) /* going on, not parked */
            g_error("smtpx: conversation of frame %u not in the map", pinfo->num);
#endif
        return NULL;
    }
    if (e->conv->last_frame == pinfo->num)
        return CONV_CHECKED(pinfo, e->conv);
    conv = find_conversation_pinfo(pinfo, 0);
    if (conv != NULL && conv != e->conv) {
        e->conv = conv;
        e->state = NULL;
    }
    return conv;
}

static int direction(const smtpx_conv *c, const packet_info *pinfo);
static smtpx_conv *conv_start(packet_info *pinfo, tvbuff_t *tvb, conversation_t *conv);

/* The state of the frame's conversation (first pass), made or taken up
 * again if needed; its direction in c->call_dir. */
static smtpx_conv *get_conv(packet_info *pinfo, tvbuff_t *tvb, const struct tcpinfo *ti,
                            conversation_t **convp)
{
    conv_entry *e;
    guint8 src_side = 0;
    conversation_t *conv = conv_of_call(pinfo, ti, &e, &src_side);
    void *data;
    smtpx_conv *c;

    *convp = conv;
    if (e != NULL && e->state != NULL) { /* a call found it before: its server's side too */
        c = e->state;
        c->call_dir = src_side == e->srv_side ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
        return c;
    }
    data = conversation_get_proto_data(conv, proto_smtpx);
    if (data != NULL && *(const guint8 *)data != 0)
        c = unpark(conv, (smtpx_parked *)data);
    else if (data != NULL)
        c = (smtpx_conv *)data;
    else
        c = conv_start(pinfo, tvb, conv);
    c->call_dir = (guint8)direction(c, pinfo);
    if (e != NULL) {
        e->state = c;
        e->srv_side = c->call_dir == SMTP_DIR_SERVER ? src_side : (guint8)!src_side;
    }
    return c;
}

/* A new conversation's state. */
static smtpx_conv *conv_start(packet_info *pinfo, tvbuff_t *tvb, conversation_t *conv)
{
    smtpx_conv *c;
    smtpx_pair *greet;

    c = (smtpx_conv *)smtpx_live_alloc0(sizeof(smtpx_conv));
    session_init(&c->sess);
    choose_server(c, pinfo, tvb);
    /* the connection itself is command 1: the greeting answers it */
    greet = pair_new();
    greet->seq = 1;
    greet->verb = smtp_verb_name(SMTP_VERB_CONNECT);
    greet->verb_id = SMTP_VERB_CONNECT;
    if (conv->setup_frame < pinfo->num) {
        struct tcp_analysis *tcpd = get_tcp_conversation_data(conv, pinfo);
        greet->req_frame = conv->setup_frame;
        if (tcpd != NULL)
            greet->req_ts = tcpd->ts_first;
    }
    ring_put(c, greet);
    conversation_add_proto_data(conv, proto_smtpx, c);
    return c;
}

static int direction(const smtpx_conv *c, const packet_info *pinfo)
{
    return (pinfo->srcport == c->conn.srv_port && addresses_equal(&pinfo->src, &c->conn.srv_addr))
               ? SMTP_DIR_SERVER : SMTP_DIR_CLIENT;
}

/* ---- first pass ---- */

static smtpx_pair *new_pair(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb,
                            const smtp_event *ev, int verb_len)
{
    smtpx_pair *p = pair_new();

    p->seq = ev->seq;
    p->req_frame = pinfo->num;
    p->req_ts = pinfo->abs_ts;
    p->verb_id = ev->verb;
    p->txn = ev->txn;
    if (ev->type == SMTP_EV_COMMAND && ev->verb == SMTP_VERB_UNKNOWN && verb_len > 0)
        p->verb = smtpx_kept_text(smtpx_scope(), pinfo, tvb, ev->off, (guint32)verb_len);
    else
        p->verb = smtp_verb_name((smtp_verb)ev->verb);
    ring_put(c, p);
    return p;
}

static int verb_length(const guint8 *buf, const smtp_event *ev)
{
    const guint8 *p = buf + ev->off;
    guint32 n = 0;

    while (n < ev->len && p[n] != ' ' && p[n] != '\t' && p[n] != '\r' && p[n] != '\n')
        n++;
    return (int)n;
}

/* A 4-byte slot of a packed record (a command's reply frame, written when
 * the reply comes): in memory only, so in the machine's byte order; through
 * memcpy since a record packs it at any alignment.  (epan's pntoh32 was
 * renamed in 4.6: these are the plugin's own.) */
static void slot_put(guint8 *slot, guint32 v)
{
    memcpy(slot, &v, sizeof v);
}

static guint32 slot_get(const guint8 *slot)
{
    guint32 v;
    memcpy(&v, slot, sizeof v);
    return v;
}

/* Links an engine event with the command/reply pair it belongs to. */
static smtpx_pair *link_pair(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb,
                             const guint8 *buf, const smtp_event *ev)
{
    smtpx_pair *p;

    switch (ev->type) {
    case SMTP_EV_COMMAND:
        /* the verb's length: for an unknown verb's name only */
        return new_pair(c, pinfo, tvb, ev, ev->verb == SMTP_VERB_UNKNOWN ? verb_length(buf, ev) : 0);
    case SMTP_EV_SASL:
        return new_pair(c, pinfo, tvb, ev, 0);
    case SMTP_EV_EOD: {
        /* LMTP: one awaited reply per accepted recipient, numbered on */
        smtp_event one = *ev;
        guint16 i, n = ev->nlines ? ev->nlines : 1;
        smtpx_pair *first = NULL, *prev = NULL;
        for (i = 0; i < n; i++) {
            smtpx_pair *q;
            one.seq = ev->seq + i;
            q = new_pair(c, pinfo, tvb, &one, 0);
            q->lmtp_index = i;
            q->txn = ev->txn;
            if (prev != NULL)
                prev->next = q;
            else
                first = q;
            prev = q;
        }
        return first;
    }
    case SMTP_EV_REPLY:
        if (ev->seq == 0)
            return NULL;
        p = ring_get(c, ev->seq);
        if (p == NULL)
            return NULL;
        p->rsp_frame = pinfo->num;
        if (p->rsp_slot != NULL)
            slot_put(p->rsp_slot, p->rsp_frame);
        ring_take(c, p);
        return p;
    default:
        return NULL;
    }
}

/* Where this data stands in the TCP stream: skips bytes seen before
 * (retransmissions) and reports lost ones to the engine. */
static guint32 stream_position(smtpx_conv *c, int dir, const struct tcpinfo *ti,
                               guint32 len, smtpx_call *call)
{
    guint32 skip = 0;

    if (ti == NULL)
        return 0;
    if (c->conn.next_seq_valid[dir]) {
        gint32 delta = (gint32)(ti->seq - c->conn.next_seq[dir]);
        if (delta < 0)
            skip = (guint32)(-delta) < len ? (guint32)(-delta) : len;
        else if (delta > 0) {
            call->gap = 1;
            smtp_session_gap(&c->sess, dir, (uint64_t)delta);
        }
    }
    return skip;
}

smtpx_call *smtpx_call_new(wmem_allocator_t *scope, const smtpx_call *head, guint32 n)
{
    smtpx_call *call;

    G_STATIC_ASSERT(sizeof(smtpx_call) % G_ALIGNOF(smtpx_unit) == 0);
    call = (smtpx_call *)wmem_alloc(scope, sizeof(smtpx_call) + n * sizeof(smtpx_unit));
    *call = *head;
    call->nunits = n;
    call->units = (smtpx_unit *)(void *)(call + 1);
    return call;
}

/* ---- packed records ----
 *
 * What a call found is kept for later passes packed: per unit a byte of
 * type, direction and what follows, a byte saying which event fields are
 * not 0, those fields as LEB128 numbers (off only where a unit does not
 * start where the one before ended), the unit's data pointer, and of its
 * pair what rendering reads: a command's rsp_frame (4 bytes each, written
 * when the reply comes; an LMTP end of data has one per recipient), a
 * reply's verb, request frame (as a distance) and request time (as a
 * difference).  About 6-14 bytes a unit instead of a 48-byte unit and a
 * 72-byte pair kept for the capture's lifetime. */

/* The record's header, as read back. */
typedef struct rec_head {
    guint8 tls;
    guint32 seq, end;
    const guint8 *call;    /* the packed call after it */
} rec_head;

/* unit byte 0 */
#define PK_TYPE    0x0fu
#define PK_REPEAT  0x0fu  /* the type value of a unit packed as the one before it
                             (the same fields, off as far from where the unit
                             before it ended as that one's); only its pair
                             section follows, if that one had one */
#define PK_REPEAT2 0x0eu  /* the same, as the unit two before it (a reply and
                             its anomaly, again and again) */
#define PK_RUN     0x0du  /* PK_REPEAT, as many times as the LEB128 count after it
                             says (units without a pair section: replies no
                             command asked for, their anomalies) */
#define PK_RUN2    0x0cu  /* the same of PK_REPEAT2 */
_Static_assert(SMTP_EV_COUNT <= PK_RUN2, "event types collide with PK_RUN2");
#define PK_DIR     0x10u
#define PK_DATA    0x20u
#define PK_OFF     0x40u  /* off follows, as its distance (signed) from where the
                             last unit ended: the unit does not start there */
#define PK_PAIR    0x80u
/* unit byte 1: which fields follow */
#define PK_FLAGS   0x01u
#define PK_LEN     0x02u
#define PK_SEQ     0x04u
#define PK_MSG     0x08u
#define PK_VERB    0x10u
#define PK_CODE    0x20u
#define PK_NLINES  0x40u
#define PK_TXN     0x80u
/* call header flags */
#define PK_CALL_DIR   0x01u
#define PK_CALL_GAP   0x02u
#define PK_CALL_SKIP  0x04u
#define PK_CALL_TAIL  0x08u /* its offset and the continuing frame's slot follow */
#define PK_CALL_HELD  0x10u /* held bytes start the data: their count and first frame follow */
#define PK_CALL_HELDB 0x20u /* ... and the bytes themselves (a unit reads them) */
#define PK_CALL_DESEG 0x40u /* TCP reassembles from an offset that follows */
#define PK_CALL_HOLE  0x80u /* hole_from and hole_len follow, and of the held
                               bytes only those outside the hole */

/* A reply of many lines cut across segments is rendered where it ends,
 * with the bytes of the earlier segments it started in.  Those are kept
 * for later passes up to this many after its first line; beyond, only the
 * first line is (1M lines took 24 MB where the built-in keeps nothing),
 * and the lines of earlier segments after it are not shown again (each
 * pass alike). */
#define HELD_KEEP 4096u
/* a reply's pair */
#define PK_PR_NAMED   0x01u /* the verb is smtp_verb_name(verb_id); else its pointer follows */
#define PK_PR_ADDR    0x02u
#define PK_PR_CTX     0x04u /* verb_id is the unit's verb: not repeated */
#define PK_PR_WIDE    0x08u /* the request's time as seconds and nanoseconds, not a
                               delta in nanoseconds (times centuries apart) */

typedef struct pack {
    wmem_allocator_t *scope;
    guint8 *p;
    guint32 n, cap;
    gboolean fixed; /* p is the caller's (a buffer on its stack): not grown in place */
} pack;

static SMTPX_NOINLINE void pack_grow(pack *k, guint32 more)
{
    guint32 cap = k->cap ? k->cap : 64;

    while (cap < k->n + more)
        cap *= 2;
    if (k->fixed) {
        guint8 *p = (guint8 *)wmem_alloc(k->scope, cap);
        memcpy(p, k->p, k->n);
        k->p = p;
        k->fixed = FALSE;
    } else {
        k->p = (guint8 *)wmem_realloc(k->scope, k->p, cap);
    }
    k->cap = cap;
}

/* Where the next bytes go, with room for more of them (k->n unchanged:
 * the caller writes through the pointer and sets it) */
static inline guint8 *pack_reserve(pack *k, guint32 more)
{
    if (G_UNLIKELY(k->n + more > k->cap))
        pack_grow(k, more);
    return k->p + k->n;
}

static inline guint8 *pack_room(pack *k, guint32 more)
{
    guint8 *at;

    if (G_UNLIKELY(k->n + more > k->cap))
        pack_grow(k, more);
    at = k->p + k->n;
    k->n += more;
    return at;
}

static SMTPX_NOINLINE void pack_uv_long(pack *k, guint64 v)
{
    guint8 *b;

    if (k->n + 10 > k->cap) /* room for the longest, then written in place */
        pack_grow(k, 10);
    b = k->p + k->n;
    while (v >= 0x80) {
        *b++ = (guint8)(v | 0x80);
        v >>= 7;
    }
    *b++ = (guint8)v;
    k->n = (guint32)(b - k->p);
}

static inline void pack_uv(pack *k, guint64 v)
{
    if (v < 0x80 && k->n < k->cap) { /* most values: one byte, room for it */
        k->p[k->n++] = (guint8)v;
    } else if (v < 0x4000 && k->n + 2 <= k->cap) { /* lengths, frame distances */
        k->p[k->n] = (guint8)(v | 0x80);
        k->p[k->n + 1] = (guint8)(v >> 7);
        k->n += 2;
    } else {
        pack_uv_long(k, v);
    }
}

static inline void pack_sv(pack *k, gint64 v)
{
    pack_uv(k, ((guint64)v << 1) ^ (guint64)(v >> 63));
}

static inline void pack_ptr(pack *k, const void *ptr)
{
    memcpy(pack_room(k, sizeof ptr), &ptr, sizeof ptr);
}

static guint64 unpack_uv(const guint8 **pp)
{
    const guint8 *p = *pp;
    guint64 v = 0;
    unsigned shift = 0;

    for (;;) {
        guint8 b = *p++;
        v |= (guint64)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
    }
    *pp = p;
    return v;
}

static gint64 unpack_sv(const guint8 **pp)
{
    guint64 z = unpack_uv(pp);
    return (gint64)(z >> 1) ^ -(gint64)(z & 1);
}

static void *unpack_ptr(const guint8 **pp)
{
    void *ptr;

    memcpy(&ptr, *pp, sizeof ptr);
    *pp += sizeof ptr;
    return ptr;
}

/* LEB128 at w, which has room: where it ends */
static inline guint8 *put_uv(guint8 *w, guint64 v)
{
    while (v >= 0x80) {
        *w++ = (guint8)(v | 0x80);
        v >>= 7;
    }
    *w++ = (guint8)v;
    return w;
}

static inline guint8 *put_sv(guint8 *w, gint64 v)
{
    return put_uv(w, ((guint64)v << 1) ^ (guint64)(v >> 63));
}

/* The most a unit's fields take (b0, b1, off and seven fields, each a
 * 10-byte LEB128 at most), and a reply's pair section (its flags, verb,
 * verb pointer, request frame, two times, address pointer). */
#define PK_UNIT_MAX (2u + 8u * 10u)
#define PK_PAIR_MAX (1u + 10u + 8u + 10u + 10u + 10u + 8u)

/* Where a command's pair will find its slot in the record being made. */
typedef struct slot_fix {
    smtpx_pair *pair;
    guint32 at;
} slot_fix;

static gboolean is_request(guint8 type)
{
    return type == SMTP_EV_COMMAND || type == SMTP_EV_SASL || type == SMTP_EV_EOD;
}

/* Packs a call's units (k) and notes the slots of its commands' pairs and
 * (*tail_slot, when it has a tail) of the frame that continues its tail. */
static void pack_call(pack *k, packet_info *pinfo, const smtpx_call *head, const smtpx_unit *units,
                      guint32 n, smtpx_vec *fixes, guint32 *tail_slot)
{
    guint32 i, prev_end = 0;
    guint32 core_at[2] = { 0, 0 }, core_len[2] = { 0, 0 }; /* units i-1, i-2: their fields' bytes */
    guint32 run_at = 0, run_end = 0, run_n = 0, run_j = 0; /* the repeats packed last, as a run */
    guint flags = (head->dir ? PK_CALL_DIR : 0) | (head->gap ? PK_CALL_GAP : 0) |
                  (head->skip ? PK_CALL_SKIP : 0) | (head->tail >= 0 ? PK_CALL_TAIL : 0) |
                  (head->held ? PK_CALL_HELD : 0) | (head->held && n > 0 ? PK_CALL_HELDB : 0) |
                  (head->deseg >= 0 ? PK_CALL_DESEG : 0) |
                  (head->held && n > 0 && head->hole_len ? PK_CALL_HOLE : 0);

    pack_uv(k, flags);
    if (head->skip)
        pack_uv(k, head->skip);
    if (head->tail >= 0) {
        pack_uv(k, (guint32)head->tail);
        *tail_slot = k->n;
        slot_put(pack_room(k, 4), 0);
    }
    if (head->deseg >= 0)
        pack_uv(k, (guint32)head->deseg);
    if (head->held) {
        pack_uv(k, head->held);
        pack_uv(k, pinfo->num - head->held_from);
        if (n > 0 && head->hole_len) { /* the first line and the cut line at the end */
            guint32 tail = head->held - head->hole_from - head->hole_len;
            pack_uv(k, head->hole_from);
            pack_uv(k, head->hole_len);
            memcpy(pack_room(k, head->hole_from), head->held_data, head->hole_from);
            memcpy(pack_room(k, tail), head->held_data + head->hole_from + head->hole_len, tail);
        } else if (n > 0) { /* the units read them: later passes put the data together again */
            memcpy(pack_room(k, head->held), head->held_data, head->held);
        }
    }
    pack_uv(k, n);
    for (i = 0; i < n; i++) {
        const smtpx_unit *u = &units[i];
        const smtp_event *ev = &u->ev;
        guint32 start = k->n;
        guint8 *w, b0 = (guint8)(ev->type & PK_TYPE), b1;

        /* the unit's fields through a local cursor: room for the longest
         * first (every field a 10-byte LEB128) */
        w = pack_reserve(k, PK_UNIT_MAX);
        if (ev->dir)
            b0 |= PK_DIR;
        if (u->data != NULL)
            b0 |= PK_DATA;
        if (ev->off != prev_end)
            b0 |= PK_OFF;
        if (u->pair != NULL)
            b0 |= PK_PAIR;
        b1 = (guint8)((ev->flags ? PK_FLAGS : 0) | (ev->len ? PK_LEN : 0) | (ev->seq ? PK_SEQ : 0) |
                      (ev->msg ? PK_MSG : 0) | (ev->verb ? PK_VERB : 0) | (ev->code ? PK_CODE : 0) |
                      (ev->nlines ? PK_NLINES : 0) | (ev->txn ? PK_TXN : 0));
        w[0] = b0;
        w[1] = b1;
        w += 2;
        if (b0 & PK_OFF) /* a reply's anomaly starts where its reply did: -len */
            w = put_sv(w, (gint64)ev->off - (gint64)prev_end);
        if (b1 & PK_FLAGS)
            w = put_uv(w, ev->flags);
        if (b1 & PK_LEN)
            w = put_uv(w, ev->len);
        /* PK_SEQ alone: rendering asks only whether a reply answers a command */
        if (b1 & PK_MSG)
            w = put_uv(w, ev->msg);
        if (b1 & PK_VERB)
            w = put_uv(w, ev->verb);
        if (b1 & PK_CODE)
            w = put_uv(w, ev->code);
        if (b1 & PK_NLINES)
            w = put_uv(w, ev->nlines);
        if (b1 & PK_TXN)
            w = put_uv(w, ev->txn);
        k->n = (guint32)(w - k->p);
        /* the same bytes as the unit before or the one before that
         * (pipelined replies, a run of replies no command asked for and
         * their anomalies): one byte instead */
        {
            guint32 at = start, len = k->n - start, j;
            for (j = 0; j < 2 && !(b0 & PK_DATA); j++) {
                if (i > j && len == core_len[j] && memcmp(k->p + start, k->p + core_at[j], len) == 0) {
                    at = core_at[j];
                    k->n = start;
                    if (u->pair == NULL && run_n > 0 && run_j == j && run_end == start) {
                        k->n = run_at; /* one more of the run: its count grows */
                        *pack_room(k, 1) = j == 0 ? PK_RUN : PK_RUN2;
                        pack_uv(k, ++run_n);
                    } else {
                        *pack_room(k, 1) = j == 0 ? PK_REPEAT : PK_REPEAT2;
                        run_at = start;
                        run_n = u->pair == NULL ? 1 : 0;
                        run_j = j;
                    }
                    run_end = k->n;
                    break;
                }
            }
            if (j == 2 || (b0 & PK_DATA))
                run_n = 0;
            core_at[1] = core_at[0];
            core_len[1] = core_len[0];
            core_at[0] = at;
            core_len[0] = len;
        }
        if (u->data != NULL)
            pack_ptr(k, u->data);
        if (u->pair != NULL && is_request(ev->type)) {
            const smtpx_pair *p;
            guint32 np = 0;
            for (p = u->pair; p != NULL; p = p->next)
                np++;
            pack_uv(k, np);
            for (p = u->pair; p != NULL; p = p->next) {
                slot_fix *f = (slot_fix *)smtpx_vec_push(fixes, sizeof *f);
                f->pair = (smtpx_pair *)p;
                f->at = k->n;
                slot_put(pack_room(k, 4), p->rsp_frame);
            }
        } else if (u->pair != NULL) {
            const smtpx_pair *p = u->pair;
            gboolean named = p->verb == smtp_verb_name((smtp_verb)p->verb_id);
            gboolean addr = p->addr != NULL && ev->verb == SMTP_VERB_EOD;
            gboolean ctx = p->verb_id == ev->verb;
            gint64 dsecs = (gint64)((guint64)pinfo->abs_ts.secs - (guint64)p->req_ts.secs);
            gboolean wide = dsecs > G_GINT64_CONSTANT(4000000000) || dsecs < -G_GINT64_CONSTANT(4000000000);

            w = pack_reserve(k, PK_PAIR_MAX);
            *w++ = (guint8)((named ? PK_PR_NAMED : 0) | (addr ? PK_PR_ADDR : 0) | (ctx ? PK_PR_CTX : 0) |
                            (wide ? PK_PR_WIDE : 0));
            if (!ctx)
                w = put_uv(w, p->verb_id);
            if (!named) {
                memcpy(w, &p->verb, sizeof p->verb);
                w += sizeof p->verb;
            }
            w = put_uv(w, (guint32)(pinfo->num - p->req_frame));
            if (wide) {
                w = put_sv(w, dsecs);
                w = put_sv(w, p->req_ts.nsecs);
            } else { /* the response time in nanoseconds: a few bytes */
                w = put_sv(w, dsecs * G_GINT64_CONSTANT(1000000000) +
                                  ((gint64)pinfo->abs_ts.nsecs - (gint64)p->req_ts.nsecs));
            }
            if (addr) {
                memcpy(w, &p->addr, sizeof p->addr);
                w += sizeof p->addr;
            }
            k->n = (guint32)(w - k->p);
        }
        prev_end = ev->off + ev->len;
    }
}

static rec_head read_head(const guint8 *rec)
{
    rec_head h;
    const guint8 *p = rec;
    guint64 v = unpack_uv(&p);

    h.tls = (guint8)(v & 1);
    h.end = (guint32)(v >> 1);
    h.seq = (guint32)(p[0] | p[1] << 8);
    h.call = p + 2;
    return h;
}

/* A unit's fields as pack_call wrote them after its byte 0 (b0): the
 * bytes after them. */
static const guint8 *unpack_fields(const guint8 *p, guint8 b0, smtpx_unit *u, guint32 prev_end)
{
    smtp_event *ev = &u->ev;
    guint8 b1 = *p++;

    ev->type = b0 & PK_TYPE;
    ev->dir = (b0 & PK_DIR) ? 1 : 0;
    ev->off = (b0 & PK_OFF) ? (guint32)((gint64)prev_end + unpack_sv(&p)) : prev_end;
    if (b1 & PK_FLAGS)
        ev->flags = (guint16)unpack_uv(&p);
    if (b1 & PK_LEN)
        ev->len = (guint32)unpack_uv(&p);
    if (b1 & PK_SEQ)
        ev->seq = 1; /* a command's number: not kept, only that there is one */
    if (b1 & PK_MSG)
        ev->msg = (guint32)unpack_uv(&p);
    if (b1 & PK_VERB)
        ev->verb = (guint16)unpack_uv(&p);
    if (b1 & PK_CODE)
        ev->code = (guint16)unpack_uv(&p);
    if (b1 & PK_NLINES)
        ev->nlines = (guint16)unpack_uv(&p);
    if (b1 & PK_TXN)
        ev->txn = (guint32)unpack_uv(&p);
    if (b0 & PK_DATA)
        u->data = unpack_ptr(&p);
    return p;
}

/* A record unpacked for rendering, in pinfo's pool. */
static smtpx_call *unpack_call(packet_info *pinfo, const guint8 *record)
{
    const rec_head rh = read_head(record);
    const rec_head *rec = &rh;
    const guint8 *p = rh.call;
    smtpx_call head, *call;
    guint flags;
    guint32 n, i, prev_end = 0;
    guint8 b0s[2] = { 0, 0 }; /* units i-1, i-2: their byte 0 */
    gint64 dists[2] = { 0, 0 }; /* ... and how far from the unit before them they started */
    guint32 run_left = 0;      /* units of a PK_RUN still to come */
    guint8 run_as = 0;         /* and what each is: PK_REPEAT or PK_REPEAT2 */

    memset(&head, 0, sizeof head);
    flags = (guint)unpack_uv(&p);
    head.dir = (flags & PK_CALL_DIR) ? 1 : 0;
    head.gap = (flags & PK_CALL_GAP) ? 1 : 0;
    head.skip = (flags & PK_CALL_SKIP) ? (guint32)unpack_uv(&p) : 0;
    head.tail = -1;
    head.deseg = -1;
    if (flags & PK_CALL_TAIL) {
        head.tail = (gint32)unpack_uv(&p);
        head.cont_in = slot_get(p);
        p += 4;
    }
    if (flags & PK_CALL_DESEG)
        head.deseg = (gint32)unpack_uv(&p);
    if (flags & PK_CALL_HELD) {
        head.held = (guint32)unpack_uv(&p);
        head.held_from = pinfo->num - (guint32)unpack_uv(&p);
        if (flags & PK_CALL_HOLE) {
            head.hole_from = (guint32)unpack_uv(&p);
            head.hole_len = (guint32)unpack_uv(&p);
            head.held_data = p; /* without the hole */
            p += head.held - head.hole_len;
        } else if (flags & PK_CALL_HELDB) {
            head.held_data = p;
            p += head.held;
        }
    }
    head.tls = rec->tls;
    n = (guint32)unpack_uv(&p);
    call = smtpx_call_new(pinfo->pool, &head, n);
    for (i = 0; i < n; i++) {
        smtpx_unit *u = &call->units[i];
        smtp_event *ev = &u->ev;
        guint8 b0;

        memset(u, 0, sizeof *u);
        if (run_left == 0) {
            b0 = *p++;
            if ((b0 & PK_TYPE) == PK_RUN || (b0 & PK_TYPE) == PK_RUN2) {
                run_as = (b0 & PK_TYPE) == PK_RUN ? PK_REPEAT : PK_REPEAT2;
                run_left = (guint32)unpack_uv(&p);
            }
        }
        if (run_left > 0) {
            run_left--;
            b0 = run_as;
        }
        if (((b0 & PK_TYPE) == PK_REPEAT && i > 0) || ((b0 & PK_TYPE) == PK_REPEAT2 && i > 1)) {
            guint32 back = (b0 & PK_TYPE) == PK_REPEAT ? 1 : 2;
            *ev = call->units[i - back].ev;
            ev->off = (guint32)((gint64)prev_end + dists[back - 1]);
            b0 = b0s[back - 1];
        } else {
            p = unpack_fields(p, b0, u, prev_end);
        }
        b0s[1] = b0s[0];
        b0s[0] = b0;
        dists[1] = dists[0];
        dists[0] = (gint64)ev->off - (gint64)prev_end;
        if ((b0 & PK_PAIR) && is_request(ev->type)) {
            guint32 np = (guint32)unpack_uv(&p), j;
            smtpx_pair *pr = wmem_alloc0_array(pinfo->pool, smtpx_pair, np);
            for (j = 0; j < np; j++) {
                pr[j].rsp_frame = slot_get(p);
                pr[j].next = j + 1 < np ? &pr[j + 1] : NULL;
                p += 4;
            }
            u->pair = np ? pr : NULL;
        } else if (b0 & PK_PAIR) {
            smtpx_pair *pr = wmem_new0(pinfo->pool, smtpx_pair);
            guint pf = (guint)unpack_uv(&p);
            gint64 dt, ns;
            pr->verb_id = (pf & PK_PR_CTX) ? ev->verb : (guint16)unpack_uv(&p);
            pr->verb = (pf & PK_PR_NAMED) ? smtp_verb_name((smtp_verb)pr->verb_id)
                                          : (const char *)unpack_ptr(&p);
            pr->req_frame = pinfo->num - (guint32)unpack_uv(&p);
            dt = unpack_sv(&p);
            if (pf & PK_PR_WIDE) {
                pr->req_ts.secs = (time_t)((guint64)pinfo->abs_ts.secs - (guint64)dt);
                ns = unpack_sv(&p);
            } else { /* abs_ts - dt, normalised: 0 <= nsecs < 1e9 */
                ns = (gint64)pinfo->abs_ts.nsecs - dt % G_GINT64_CONSTANT(1000000000);
                pr->req_ts.secs = (time_t)((gint64)pinfo->abs_ts.secs - dt / G_GINT64_CONSTANT(1000000000));
                if (ns < 0) {
                    ns += G_GINT64_CONSTANT(1000000000);
                    pr->req_ts.secs--;
                } else if (ns >= G_GINT64_CONSTANT(1000000000)) {
                    ns -= G_GINT64_CONSTANT(1000000000);
                    pr->req_ts.secs++;
                }
            }
            pr->req_ts.nsecs = (int)ns;
            if (pf & PK_PR_ADDR)
                pr->addr = (const char *)unpack_ptr(&p);
            u->pair = pr;
        }
        prev_end = ev->off + ev->len;
    }
    return call;
}

/* Keeps buf[off..len) of dir, an unfinished unit, until the next segment. */
static void hold(smtpx_conv *c, int dir, const guint8 *buf, guint32 off, guint32 len)
{
    guint32 n = len - off;

    if (n > c->held_cap[dir]) {
        guint32 cap = c->held_cap[dir] ? c->held_cap[dir] : 64;
        while (cap < n)
            cap = cap > G_MAXUINT32 / 2 ? n : cap * 2;
        smtpx_live_free(c->held[dir]);
        c->held[dir] = (guint8 *)smtpx_live_alloc(cap);
        c->held_cap[dir] = cap;
    }
    memmove(c->held[dir], buf + off, n);
    c->held_len[dir] = n;
}

static void held_free(smtpx_conv *c, int dir)
{
    smtpx_live_free(c->held[dir]);
    c->held[dir] = NULL;
    c->held_len[dir] = c->held_cap[dir] = 0;
    c->held_slot[dir] = NULL;
}

/* The segment's new bytes after the held ones, in the held buffer itself
 * (grown by doubling): a reply of many lines held from segment to segment
 * is not copied whole again for each. */
static void held_append(smtpx_conv *c, int dir, tvbuff_t *tvb, guint32 off, guint32 n)
{
    guint32 have = c->held_len[dir], need = have + n;

    if (need > c->held_cap[dir]) {
        guint32 cap = c->held_cap[dir] ? c->held_cap[dir] : 64;
        while (cap < need)
            cap = cap > G_MAXUINT32 / 2 ? need : cap * 2;
        c->held[dir] = (guint8 *)smtpx_live_realloc(c->held[dir], cap);
        c->held_cap[dir] = cap;
    }
    tvb_memcpy(tvb, c->held[dir] + have, off, n);
    c->held_len[dir] = need;
}

/* A tvb of pinfo's pool with a copy of data, a child of tvb. */
static tvbuff_t *data_tvb(tvbuff_t *tvb, packet_info *pinfo, const guint8 *data, guint32 n)
{
    guint8 *d = (guint8 *)wmem_memdup(pinfo->pool, data, n);

    return tvb_new_child_real_data(tvb, d, n, n);
}

/* The data of a call made of held bytes and this tvb's from skip on: a tvb
 * of pinfo's pool, shown as its own data source when a unit reads it. */
static tvbuff_t *held_tvb(tvbuff_t *tvb, packet_info *pinfo, const guint8 *held, guint32 nheld,
                          guint32 hole_from, guint32 hole_len, guint32 skip, gboolean show)
{
    guint32 len = tvb_captured_length(tvb), n = nheld + (len - skip);
    guint8 *d = (guint8 *)wmem_alloc(pinfo->pool, n);
    tvbuff_t *t;

    /* held has the bytes before the hole and after it; the hole is zeros */
    memcpy(d, held, hole_from);
    memset(d + hole_from, 0, hole_len);
    memcpy(d + hole_from + hole_len, held + hole_from, nheld - hole_from - hole_len);
    tvb_memcpy(tvb, d + nheld, skip, len - skip);
    t = tvb_new_child_real_data(tvb, d, n, n);
    if (show)
        add_new_data_source(pinfo, t, "Reassembled SMTP");
    return t;
}

/* Runs the engine over the call's data; the units it made (pinfo's pool),
 * and in parsed the engine's parse of each unit (read for COMMAND and REPLY
 * units), written there by the engine itself.
 * The data is this tvb's from the first byte not seen before, after the
 * unfinished unit the last segment of this direction held, if any (then
 * call->held and held_data say so; *data is then that data's tvb, for
 * rendering); an unfinished unit at the end is held for the next segment
 * (call->tail). */
static void run_engine(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, guint32 len, smtpx_call *call,
                       const struct tcpinfo *ti, smtpx_vec *units, smtpx_vec *parsed, tvbuff_t **data)
{
    guint32 off;
    const guint8 *buf;
    tvbuff_t *seg = tvb;
    unsigned flags = (pinfo->can_desegment ? 0 : SMTP_FEED_FLUSH) |
                     (call->tls ? SMTP_FEED_DECRYPTED : 0);
    int dir = call->dir;
    smtpx_last_reply last_reply;
    static guint32 serial; /* numbers the first pass's calls, for the message collector */

    if (++serial == 0)
        serial = 1;
    if (c->msg_defer_len != 0)
        smtpx_message_call_end(c, TRUE); /* a message's bytes a cut-short call left */
    memset(&last_reply, 0, sizeof last_reply);
    last_reply.ev.type = SMTP_EV_ANOMALY; /* none yet */
    call->tail = -1;
    call->deseg = -1;
    call->skip = stream_position(c, dir, ti, len, call);
    if (ti != NULL && (!c->conn.next_seq_valid[dir] || call->skip < len)) {
        /* a segment all seen before (skip == len) leaves the stream where it was */
        c->conn.next_seq[dir] = ti->seq + len;
        c->conn.next_seq_valid[dir] = 1;
    }
    if (call->gap)
        held_free(c, dir); /* what completed it is lost */
    off = call->skip;
    if (c->held_len[dir] > 0 && off < len) {
        call->held = c->held_len[dir];
        call->held_from = c->held_from[dir];
        if (c->held_slot[dir] != NULL)
            slot_put(c->held_slot[dir], pinfo->num);
        /* the engine reads the held buffer with the new bytes after them;
         * the data's tvb (a copy) is made once a unit reads the data */
        held_append(c, dir, tvb, off, len - off);
        buf = c->held[dir];
        len = c->held_len[dir];
        off = 0;
        tvb = NULL;
        c->held_len[dir] = 0;
        c->held_slot[dir] = NULL;
    } else {
        buf = len ? tvb_get_ptr(tvb, 0, len) : NULL;
        call->seg_bytes = buf;
    }
    call->held_data = call->held ? buf : NULL; /* what the record keeps for later passes */
    while (off < len) {
        smtp_event ev[SMTP_EVENTS_MIN];
        smtp_parsed *cmd;
        size_t nev = 0, i, used;
        int need_more = 0;

        /* the engine parses into the vector rendering reads on this pass
         * (by unit index: an entry for every unit, read for commands and
         * replies only) */
        smtpx_vec_reserve(parsed, sizeof(smtp_parsed), G_N_ELEMENTS(ev));
        cmd = (smtp_parsed *)parsed->p + parsed->n;
        /* the held unit again, now with more bytes: the engine goes on
         * from the lines of it it framed last time */
        used = smtp_session_feed_parsed(&c->sess, dir, buf + off, len - off,
                                        flags | (off == 0 && call->held > 0 ? SMTP_FEED_RESUME : 0), ev, cmd,
                                        G_N_ELEMENTS(ev), &nev, &need_more);
        parsed->n += (guint32)nev;
        if (nev > 0 && tvb == NULL) { /* units read the data: the copy rendering and the record read */
            tvb = *data = data_tvb(seg, pinfo, buf, len);
            buf = tvb_get_ptr(tvb, 0, len);
            call->held_data = buf;
        }
        for (i = 0; i < nev; i++) {
            smtpx_unit u;
            u.ev = ev[i];
            u.ev.off += off;
            u.data = NULL;
            u.pair = link_pair(c, pinfo, tvb, buf, &u.ev);
            smtpx_collect_message(c, pinfo, buf, &u, serial);
            smtpx_track_unit(c, pinfo, tvb, buf, &u, &cmd[i], &last_reply);
            *(smtpx_unit *)smtpx_vec_push(units, sizeof(smtpx_unit)) = u;
        }
        off += (guint32)used;
        if (need_more && ti != NULL && len - off == 1 && buf[off] == 0x16 && off >= call->held) {
            /* the first byte of a TLS record after STARTTLS, alone: TLS
             * takes its records through TCP's reassembly, from this byte */
            call->deseg = (gint32)(off - call->held + call->skip);
            c->conn.next_seq[dir] = ti->seq + (guint32)call->deseg;
            break;
        }
        if (need_more) {
            call->tail = (gint32)off;
            if (call->held == 0 || off >= call->held)
                c->held_from[dir] = pinfo->num; /* else it still starts where it did */
            if (buf == c->held[dir]) { /* read in place: what is left stays there */
                if (off > 0)
                    memmove(c->held[dir], buf + off, len - off);
                c->held_len[dir] = len - off;
            } else {
                hold(c, dir, buf, off, len);
            }
            break;
        }
        if (used == 0 && nev == 0)
            break; /* cannot happen: the engine always progresses */
    }
    if (c->msg_defer_len != 0)
        smtpx_message_call_end(c, FALSE); /* the call's bytes go: a message keeps its own */
    if (tvb == NULL && call->tail < 0) { /* no unit read the held buffer it ends: still the data */
        tvb = *data = data_tvb(seg, pinfo, buf, len);
        call->held_data = tvb_get_ptr(tvb, 0, len);
    }
    if (call->tail < 0 && c->held_cap[dir] > 0)
        held_free(c, dir);
}

static void mark_add(rec_mark **v, guint32 *n, guint32 *cap, guint32 frame, const guint8 *at)
{
    guint32 i;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *v = (rec_mark *)g_realloc(*v, *cap * sizeof **v);
    }
    for (i = *n; i > 0 && (*v)[i - 1].frame > frame; i--) /* sorted: only late records wait */
        (*v)[i] = (*v)[i - 1];
    (*v)[i].frame = frame;
    (*v)[i].at = at;
    (*n)++;
}

/* A record of frame, its header's hn bytes (at most 8: hb has 8) and its
 * call's bn: at the chain's end, or alone if the frame comes before the
 * chain's last.  Where the record starts. */
static guint8 *rec_put(guint32 frame, const guint8 hb[8], guint32 hn, const guint8 *body, guint32 bn)
{
    gsize n = (gsize)hn + bn, need = 20 + n; /* two LEB128s at most, then the bytes */
    guint8 *w, *rec;

    if (rec_count > 0 && frame < rec_last_frame) {
        rec_block *b = (rec_block *)g_malloc(sizeof(rec_block) + n);
        b->next = rec_blocks;
        rec_blocks = b;
        mark_add(&rec_late, &rec_nlate, &rec_late_cap, frame, b->data);
        memcpy(b->data, hb, hn);
        if (bn > 0)
            memcpy(b->data + hn, body, bn);
        return b->data;
    }
    if (rec_pos == NULL || (gsize)(rec_end - rec_pos) < need + REC_LINK) {
        gsize size = MAX(REC_SLAB, need + REC_LINK);
        rec_block *b = (rec_block *)g_malloc(sizeof(rec_block) + size);
        b->next = rec_blocks;
        rec_blocks = b;
        if (rec_pos != NULL) {
            guint8 *next = b->data;
            *rec_pos++ = 0;
            memcpy(rec_pos, &next, sizeof next);
        }
        rec_pos = b->data;
        rec_end = b->data + size;
    }
    if (rec_count % REC_MARK == 0)
        mark_add(&rec_marks, &rec_nmarks, &rec_marks_cap, frame, rec_pos);
    /* written in place: the frame's distance and the length, then the
     * header as 8 bytes (those past hn are the body's room, or the slab's
     * room after the record, written over later) and the body */
    w = put_uv(rec_pos, (guint64)(frame - rec_last_frame) + 1);
    w = put_uv(w, n);
    rec = w;
    memcpy(rec, hb, 8);
    if (bn > 0)
        memcpy(rec + hn, body, bn);
    rec_pos = rec + n;
    rec_count++;
    rec_last_frame = frame;
    return rec;
}

/* The records of frame, in the order they were made (the chain's, then
 * any made out of order): their headers in out (pinfo's pool). */
static guint32 frame_records(packet_info *pinfo, guint32 frame, const guint8 ***out)
{
    smtpx_vec found = { pinfo->pool, NULL, 0, 0 };
    guint32 lo = 0, hi = rec_nmarks, f;
    const guint8 *p;
    gboolean first = TRUE;

    /* the last mark before the frame: its records cannot start earlier */
    while (lo < hi) {
        guint32 mid = lo + (hi - lo) / 2;
        if (rec_marks[mid].frame < frame)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (rec_nmarks > 0) {
        const rec_mark *m = &rec_marks[lo > 0 ? lo - 1 : 0];
        p = m->at;
        f = m->frame;
        while (p != rec_pos) {
            guint32 d, n;
            if (*p == 0) { /* the slab ends: the next one */
                memcpy(&p, p + 1, sizeof p);
                continue;
            }
            d = (guint32)unpack_uv(&p);
            n = (guint32)unpack_uv(&p);
            if (!first)
                f += d - 1;
            first = FALSE;
            if (f > frame)
                break;
            if (f == frame)
                *(const guint8 **)smtpx_vec_push(&found, sizeof p) = p;
            p += n;
        }
    }
    if (rec_nlate > 0) {
        guint32 i;
        for (i = 0; i < rec_nlate; i++) {
            if (rec_late[i].frame == frame)
                *(const guint8 **)smtpx_vec_push(&found, sizeof p) = rec_late[i].at;
        }
    }
    *out = (const guint8 **)found.p;
    return found.n;
}

/* Whether the call's held bytes are kept whole: not when they are the
 * start of a reply of several lines that goes on in this segment and holds
 * more than HELD_KEEP bytes of whole lines after its first; then its first
 * line and the line cut at their end are, the lines between are the hole. */
static void hole_decide(smtpx_call *call, const smtpx_unit *units, guint32 n)
{
    const smtpx_unit *u = n > 0 ? &units[0] : NULL;
    const guint8 *lf;
    guint32 first, last, i;

    call->hole_from = call->hole_len = 0;
    if (u == NULL || call->held_data == NULL || u->ev.type != SMTP_EV_REPLY || u->ev.off != 0 ||
        u->ev.len < call->held || u->ev.nlines < 2)
        return;
    for (i = 1; i < n; i++) /* nothing else may read them */
        if (units[i].ev.type != SMTP_EV_ANOMALY && units[i].ev.off < call->held)
            return;
    lf = (const guint8 *)memchr(call->held_data, '\n', call->held);
    if (lf == NULL)
        return;
    first = (guint32)(lf - call->held_data) + 1;
    last = first;
    for (i = call->held; i > first; i--) { /* after the last LF of the held bytes */
        if (call->held_data[i - 1] == '\n') {
            last = i;
            break;
        }
    }
    if (last - first <= HELD_KEEP)
        return;
    call->hole_from = first;
    call->hole_len = last - first;
}

/* The first pass renders the call it made as later passes will render its
 * record, from the made call itself (the packet list makes each call once
 * and renders it once): its head as unpack_call would give it back, its
 * units where the engine's run put them, with their pairs as they are.
 * Rendering reads of a pair only what the record keeps (a command's reply
 * frames; a reply's command: verb, frame and time, and for an LMTP end of
 * data the recipient), and of a unit's sequence number only whether it has
 * one; the pairs the call's units dropped are freed after it has rendered
 * (first_pass.dead).  FALSE when the record keeps held bytes with a hole:
 * those are rendered from the record. */
static gboolean direct_call(smtpx_call *out, const smtpx_call *made, smtpx_unit *units, guint32 n)
{
    if (made->held && n > 0 && made->hole_len)
        return FALSE;
    memset(out, 0, sizeof *out);
    out->dir = made->dir;
    out->gap = made->gap;
    out->tls = made->tls;
    out->skip = made->skip;
    out->tail = made->tail;
    out->deseg = made->deseg;
    if (made->held) {
        out->held = made->held;
        out->held_from = made->held_from;
        out->held_data = n > 0 ? made->held_data : NULL;
    }
    out->nunits = n;
    out->units = units;
    out->seg_bytes = made->held ? NULL : made->seg_bytes;
    return TRUE;
}

/* What a first-pass call keeps until it has rendered: the units and the
 * pairs they dropped (in the scratch vectors, or in pinfo's pool for a
 * call nested in another's rendering), and the call rendered. */
typedef struct first_pass {
    smtpx_vec *units, *dead;
    smtpx_vec pooled_units, pooled_dead;
    gboolean scratch;   /* units and dead are the scratch vectors */
    smtpx_call direct;  /* the call rendered, when direct_call could make it */
} first_pass;

/* The pairs a call's units dropped, once it has rendered */
static void first_pass_done(first_pass *fp)
{
    guint32 i;

    for (i = 0; i < fp->dead->n; i++)
        pair_free(((smtpx_pair **)fp->dead->p)[i]);
    fp->dead->n = 0;
    if (fp->scratch)
        scratch_units_busy = FALSE;
}

/* First pass: runs the engine over the call's data and keeps its record
 * (packed).  *direct: the call to render on this pass (direct_call), NULL
 * when it is to be unpacked from the record; fp keeps its units and the
 * pairs they dropped until it has rendered (first_pass_done). */
static const guint8 *make_record(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, guint32 len,
                                 const struct tcpinfo *ti, gboolean tls, smtpx_vec *cmds,
                                 tvbuff_t **data, first_pass *fp, const smtpx_call **direct)
{
    smtpx_call made;
    smtpx_vec *units, *fixes = &scratch_fixes;
    guint8 *rec, hb[16] = { 0 }; /* the header: a LEB128 of at most 5 bytes and 2 */
    guint8 kb[512];
    pack k, h;
    guint32 i, nfix, tail_slot = 0;

    fp->scratch = !scratch_units_busy;
    if (fp->scratch) {
        guint32 j;
        for (j = 0; j < scratch_dead.n; j++) /* left by a call an exception cut short */
            pair_free(((smtpx_pair **)scratch_dead.p)[j]);
        fp->units = &scratch_units;
        fp->dead = &scratch_dead;
        scratch_units_busy = TRUE; /* until it has rendered */
    } else { /* nested in another call's rendering */
        fp->pooled_units.pool = fp->pooled_dead.pool = pinfo->pool;
        fp->pooled_units.p = fp->pooled_dead.p = NULL;
        fp->pooled_units.cap = fp->pooled_dead.cap = 0;
        fp->units = &fp->pooled_units;
        fp->dead = &fp->pooled_dead;
    }
    units = fp->units;
    memset(&made, 0, sizeof made);
    made.dir = c->call_dir;
    made.tls = (guint8)tls;
    units->n = fixes->n = fp->dead->n = 0;
    c->dead = fp->dead;
    run_engine(c, pinfo, tvb, len, &made, ti, units, cmds, data);
    c->dead = NULL;
    hole_decide(&made, (const smtpx_unit *)units->p, units->n);
    memset(&k, 0, sizeof k);
    k.scope = pinfo->pool;
    k.p = kb; /* most records fit: no allocation */
    k.cap = sizeof kb;
    k.fixed = TRUE;
    pack_call(&k, pinfo, &made, (const smtpx_unit *)units->p, units->n, fixes, &tail_slot);
    memset(&h, 0, sizeof h);
    h.p = hb; /* room enough: pack_room never grows it */
    h.cap = sizeof hb;
    h.fixed = TRUE;
    pack_uv(&h, (guint64)(made.deseg >= 0 ? (guint32)made.deseg : len) << 1 | (tls ? 1u : 0u));
    {
        guint32 seq = ti != NULL ? ti->seq : 0;
        guint8 *sp = pack_room(&h, 2);
        sp[0] = (guint8)seq;
        sp[1] = (guint8)(seq >> 8);
    }
    rec = rec_put(pinfo->num, hb, h.n, k.p, k.n);
    if (made.tail >= 0)
        c->held_slot[made.dir] = rec + h.n + tail_slot;
    *direct = direct_call(&fp->direct, &made, (smtpx_unit *)units->p, units->n) ? &fp->direct : NULL;
    nfix = fixes->n;
    for (i = 0; i < nfix; i++) {
        const slot_fix *f = (const slot_fix *)fixes->p + i;
        f->pair->rsp_slot = rec + h.n + f->at;
    }
    return rec;
}

/* What one dissection of a frame keeps across the plugin's calls for it
 * (several: TLS records, tunnels): the Info column's state and, on later
 * passes, which of the frame's records it has rendered (a bit each, from
 * the frame's first).  Later passes keep it in pinfo's pool, so that a new
 * dissection of the frame starts afresh.  The first pass dissects each
 * frame once, in order: its state is this static one, started again when
 * the frame number changes (and with each file), which spares a proto data
 * lookup a call in the packet list; it also keeps the conversation the
 * call found, for the postdissector of the same frame. */
typedef struct frame_state {
    smtpx_info_state info;
    guint32 nbits;
    guint8 *bits;
} frame_state;

static frame_state first_state;
static guint32 first_frame;         /* the frame first_state is of, 0 none */
static conversation_t *first_conv;  /* the last conversation a call of it used */
static guint32 first_conv_ports[2]; /* and pinfo's ports and addresses then */
static guint32 first_conv_flags;    /* and the TCP flags of its segment (all set: unknown) */
static address first_conv_addrs[2];

static void frame_state_reset(void)
{
    memset(&first_state, 0, sizeof first_state);
    first_frame = 0;
    first_conv = NULL;
}

static SMTPX_NOINLINE frame_state *frame_state_later(packet_info *pinfo, gboolean *fresh)
{
    frame_state *st = (frame_state *)p_get_proto_data(pinfo->pool, pinfo, proto_smtpx, KEY_FRAME);

    *fresh = st == NULL;
    if (st == NULL) {
        st = wmem_new0(pinfo->pool, frame_state);
        p_add_proto_data(pinfo->pool, pinfo, proto_smtpx, KEY_FRAME, st);
    }
    return st;
}

static inline frame_state *frame_state_get(packet_info *pinfo, gboolean *fresh)
{
    if (PINFO_FD_VISITED(pinfo))
        return frame_state_later(pinfo, fresh);
    *fresh = first_frame != pinfo->num;
    if (*fresh) {
        static const frame_state none;
        first_state = none; /* a few stores */
        first_frame = pinfo->num;
        first_conv = NULL;
    }
    return &first_state;
}

smtpx_info_state *smtpx_frame_info(packet_info *pinfo)
{
    gboolean fresh;

    return &frame_state_get(pinfo, &fresh)->info;
}

#ifdef SMTPX_CHECK_DIRECT
/* A build that renders the first pass from the made call as always and
 * stops at the first call whose record would have unpacked differently. */
static gboolean same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* What rendering reads of a unit's pairs: a command's reply frames; a
 * reply's command (verb, frame, time and, at an end of data, recipient) */
static gboolean same_pair(const smtpx_unit *u, const smtpx_pair *a, const smtpx_pair *b)
{
    if (is_request(u->ev.type)) {
        for (; a != NULL && b != NULL; a = a->next, b = b->next)
            if (a->rsp_frame != b->rsp_frame)
                return FALSE;
        return a == NULL && b == NULL;
    }
    if (a == NULL || b == NULL)
        return a == b;
    return same_text(a->verb, b->verb) && a->req_frame == b->req_frame && a->req_ts.secs == b->req_ts.secs &&
           a->req_ts.nsecs == b->req_ts.nsecs &&
           (u->ev.verb != SMTP_VERB_EOD || same_text(a->addr, b->addr));
}

static void check_direct(packet_info *pinfo, const smtpx_call *d, const smtpx_call *r)
{
    guint32 i;

    if (d == NULL)
        return;
    if (d->nunits != r->nunits || d->skip != r->skip || d->tail != r->tail || d->held != r->held ||
        d->held_from != r->held_from || (d->held_data == NULL) != (r->held_data == NULL) ||
        (d->held_data != NULL && memcmp(d->held_data, r->held_data, d->held) != 0) ||
        d->hole_from != r->hole_from || d->hole_len != r->hole_len || d->cont_in != r->cont_in ||
        d->deseg != r->deseg || d->dir != r->dir || d->gap != r->gap || d->tls != r->tls)
        g_error("smtpx: direct call's head differs in frame %u", pinfo->num);
    for (i = 0; i < d->nunits; i++) {
        const smtpx_unit *a = &d->units[i], *b = &r->units[i];
        if (a->ev.type != b->ev.type || a->ev.dir != b->ev.dir || a->ev.flags != b->ev.flags ||
            a->ev.off != b->ev.off || a->ev.len != b->ev.len || (a->ev.seq != 0) != (b->ev.seq != 0) ||
            a->ev.msg != b->ev.msg || a->ev.verb != b->ev.verb || a->ev.code != b->ev.code ||
            a->ev.nlines != b->ev.nlines || a->ev.txn != b->ev.txn || a->data != b->data ||
            !same_pair(a, a->pair, b->pair))
            g_error("smtpx: direct unit %u differs in frame %u", i, pinfo->num);
    }
}
#endif

/* The saved record for this call of this frame, unpacked: made on the
 * first pass, found again on later passes by what the tvb holds (stream
 * position, length, clear or TLS), each record used once per dissection
 * of the frame.  NULL when the first pass never saw this data.  On the
 * first pass, *data is the data put together with held bytes, if it was. */
static const smtpx_call *frame_call(smtpx_conv *c, packet_info *pinfo, tvbuff_t *tvb, guint32 len,
                                    const struct tcpinfo *ti, gboolean tls, gboolean *first_call,
                                    frame_state **state, const smtp_parsed **parsed,
                                    tvbuff_t **data, first_pass *fp)
{
    frame_state *used = *state = frame_state_get(pinfo, first_call);
    guint32 seq = (ti != NULL ? ti->seq : 0) & 0xffffu, i, n;
    const guint8 *rec, **recs;

    if (!PINFO_FD_VISITED(pinfo)) {
        smtpx_vec pooled = { pinfo->pool, NULL, 0, 0 }, *cmds = &pooled;
        const smtpx_call *direct;
        if (*first_call) /* a new frame: no rendering reads them */
            scratch_parsed_busy = scratch_units_busy = FALSE;
        if (!scratch_parsed_busy) {
            cmds = &scratch_parsed;
            cmds->n = 0;
        }
        rec = make_record(c, pinfo, tvb, len, ti, tls, cmds, data, fp, &direct);
        *parsed = (const smtp_parsed *)cmds->p;
#ifdef SMTPX_CHECK_DIRECT
        check_direct(pinfo, direct, unpack_call(pinfo, rec));
#endif
        return direct != NULL ? direct : unpack_call(pinfo, rec);
    }
    n = frame_records(pinfo, pinfo->num, &recs);
    if (*first_call) {
        used->bits = (guint8 *)wmem_alloc0(pinfo->pool, (n + 7) / 8 + 1);
        used->nbits = n;
    }
    for (i = 0; i < n && i < used->nbits; i++) {
        rec_head h = read_head(recs[i]);
        if (!(used->bits[i / 8] & (1u << (i % 8))) && h.seq == seq && h.end <= len &&
            h.tls == (guint8)tls) {
            used->bits[i / 8] |= (guint8)(1u << (i % 8));
            return unpack_call(pinfo, recs[i]);
        }
    }
    return NULL;
}

static int dissect_common(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                          const struct tcpinfo *ti, gboolean tls, dissector_handle_t self)
{
    smtpx_conv *c;
    conversation_t *conv = NULL;
    const smtpx_call *call;
    const smtp_parsed *parsed = NULL;
    gboolean first_call;
    frame_state *fs;
    tvbuff_t *data = NULL;
    gboolean was_busy;
    guint32 len = tvb_captured_length(tvb), calls;
    first_pass fp;

    col_set_str(pinfo->cinfo, COL_PROTOCOL, "SMTP");
    if (pinfo->flags.in_error_pkt) {
        /* a segment quoted in an ICMP error: not part of the stream */
        proto_tree_add_item(tree, proto_smtp_builtin, tvb, 0, -1, ENC_NA);
        return (int)len;
    }
    /* later passes read the saved records only: no conversation needed */
    c = PINFO_FD_VISITED(pinfo) ? NULL : get_conv(pinfo, tvb, ti, &conv);
    calls = ++first_pass_calls;
    call = frame_call(c, pinfo, tvb, len, ti, tls, &first_call, &fs, &parsed, &data, &fp);
    if (c != NULL) {
        /* the postdissector of this frame asks for the conversation again */
        first_conv = conv;
        first_conv_ports[0] = pinfo->srcport;
        first_conv_ports[1] = pinfo->destport;
        first_conv_flags = ti != NULL ? ti->flags : 0xffffu;
        copy_address_shallow(&first_conv_addrs[0], &pinfo->src);
        copy_address_shallow(&first_conv_addrs[1], &pinfo->dst);
    }
    if (call == NULL) {
        if (c != NULL) {
            first_pass_done(&fp);
            maybe_park(pinfo, conv, c);
        }
        if (first_call)
            col_clear(pinfo->cinfo, COL_INFO);
        return (int)len;
    }
    if (first_call) /* done by rendering's first write (or at the end) */
        fs->info.clear_pending = TRUE;
    was_busy = scratch_parsed_busy;
    if (parsed != NULL && parsed == (const smtp_parsed *)scratch_parsed.p)
        scratch_parsed_busy = TRUE; /* until this call has rendered */
    if (call->held_data != NULL) {
        /* units read bytes of earlier segments: the data put together (on
         * the first pass by the engine's run, later from the record) */
        if (data != NULL && call->hole_len == 0)
            add_new_data_source(pinfo, data, "Reassembled SMTP");
        else /* later passes; or the first, rendering what they will */
            data = held_tvb(tvb, pinfo, call->held_data, call->held, call->hole_from, call->hole_len,
                            call->skip, TRUE);
        smtpx_render_call(data, tvb, pinfo, tree, call, parsed, &fs->info, imf_handle, tls_handle, self);
        if (pinfo->desegment_len != 0) {
            /* TLS asked for more of its first record, from an offset of that data */
            guint32 o = (guint32)pinfo->desegment_offset;
            pinfo->desegment_offset = (int)(o > call->held ? o - call->held + call->skip : call->skip);
        }
    } else {
        smtpx_render_call(tvb, tvb, pinfo, tree, call, parsed, &fs->info, imf_handle, tls_handle, self);
    }
    scratch_parsed_busy = was_busy;
    if (c != NULL) {
        first_pass_done(&fp);
        /* parked once it has rendered (its units' pairs may be the ring's),
         * unless a call nested in its rendering came (TLS handing SMTP back):
         * that one may have parked it; a later call will */
        if (first_pass_calls == calls)
            maybe_park(pinfo, conv, c);
    }
    if (first_call && fs->info.clear_pending) { /* rendering wrote nothing */
        fs->info.clear_pending = FALSE;
        col_clear(pinfo->cinfo, COL_INFO);
    }
    if (call->deseg >= 0 && (guint32)call->deseg < len) {
        pinfo->desegment_offset = call->deseg;
        pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
    }
    return (int)len;
}

static int dissect_smtpx_tcp(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    return dissect_common(tvb, pinfo, tree, (const struct tcpinfo *)data, FALSE, smtpx_tls_handle);
}

static int dissect_smtpx_tls(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    return dissect_common(tvb, pinfo, tree, NULL, TRUE, smtpx_tls_handle);
}

/* ---- the end of the connection ---- */

/* TCP's conversation completeness bits (packet-tcp.c, 4.0 - 4.6): the
 * first frame that sets one carries the first FIN, or a RST */
#define SMTPX_TCP_COMPLETENESS_FIN 0x10
#define SMTPX_TCP_COMPLETENESS_RST 0x20

/* What a FIN or RST frame ended, saved on the first pass. */
#define KEY_CLOSE 8

/* First pass: does this frame end the connection with mail transactions
 * still open or awaiting their final reply?  A RST resets them all.  The
 * first FIN closes them all when the server sends it; when the client
 * sends it, only the open transaction (the server may still answer a
 * message already sent). */
static smtpx_call *close_call(smtpx_conv *c, packet_info *pinfo, conversation_t *conv)
{
    struct tcp_analysis *tcpd = get_tcp_conversation_data(conv, pinfo);
    int dir = direction(c, pinfo);
    guint8 now, fresh;
    unsigned how;
    smtp_event ev[SMTP_EVENTS_MIN];
    size_t n, i;
    smtpx_call *call;
    smtpx_last_reply none;

    if (tcpd == NULL)
        return NULL;
    now = tcpd->conversation_completeness;
    fresh = (guint8)(now & ~c->conn.completeness);
    c->conn.completeness = now;
    if (fresh & SMTPX_TCP_COMPLETENESS_RST)
        how = SMTP_CLOSE_RESET;
    else if (fresh & SMTPX_TCP_COMPLETENESS_FIN)
        how = dir == SMTP_DIR_SERVER ? 0 : SMTP_CLOSE_HALF;
    else
        return NULL;
    n = smtp_session_close(&c->sess, dir, how, ev, G_N_ELEMENTS(ev));
    if (n == 0)
        return NULL;
    {
        smtpx_call made;
        memset(&made, 0, sizeof made);
        made.dir = (guint8)dir;
        made.tail = -1;
        made.deseg = -1;
        call = smtpx_call_new(smtpx_scope(), &made, (guint32)n);
        memset(call->units, 0, n * sizeof(smtpx_unit));
    }
    memset(&none, 0, sizeof none);
    none.ev.type = SMTP_EV_ANOMALY;
    for (i = 0; i < n; i++) {
        smtpx_unit *u = &call->units[i];
        u->ev = ev[i];
        smtpx_track_txn_end(c, pinfo, NULL, u, &none);
    }
    return call;
}

/* addresses_equal, without comparing the bytes when they are the same
 * bytes (the frame's addresses as the call saw them: nearly always) */
static inline gboolean same_address(const address *a, const address *b)
{
    if (a->data == b->data && a->len == b->len && a->type == b->type)
        return TRUE;
    return addresses_equal(a, b);
}

/* The postdissector's work for a frame that may close something (below). */
static SMTPX_NOINLINE int close_frame(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree)
{
    conversation_t *conv;
    smtpx_conv *c;
    smtpx_call *call;

    if (PINFO_FD_VISITED(pinfo)) {
        call = (smtpx_call *)p_get_proto_data(wmem_file_scope(), pinfo, proto_smtpx, KEY_CLOSE);
    } else {
        void *state;
        /* the conversation a call of this frame found, if the frame's
         * last TCP layer is the one it was found for; else looked up */
        if (first_conv != NULL && first_frame == pinfo->num && first_conv_ports[0] == pinfo->srcport &&
            first_conv_ports[1] == pinfo->destport && same_address(&first_conv_addrs[0], &pinfo->src) &&
            same_address(&first_conv_addrs[1], &pinfo->dst)) {
            /* a segment without FIN or RST sets neither completeness bit:
             * nothing to close, and the bits seen are compared only for
             * those two */
            if (!(first_conv_flags & (TH_FIN | TH_RST)))
                return 0;
            conv = first_conv;
        } else
            conv = conv_of_frame(pinfo);
        state = conv ? conversation_get_proto_data(conv, proto_smtpx) : NULL;
        if (state == NULL)
            return 0;
        if (*(const guint8 *)state != 0) {
            /* parked: nothing is open, the FIN or RST ends nothing */
            struct tcp_analysis *tcpd = get_tcp_conversation_data(conv, pinfo);
            if (tcpd != NULL)
                ((smtpx_parked *)state)->conn.completeness = (guint8)tcpd->conversation_completeness;
            return 0;
        }
        c = (smtpx_conv *)state;
        call = close_call(c, pinfo, conv);
        if (call != NULL)
            p_add_proto_data(wmem_file_scope(), pinfo, proto_smtpx, KEY_CLOSE, call);
        maybe_park(pinfo, conv, c); /* closed with nothing open: parked, QUIT or not */
    }
    if (call == NULL)
        return 0;
    smtpx_render_close(tvb, pinfo, tree, call);
    return 0;
}

/* A postdissector: TCP hands no payload-less FIN or RST to SMTP, yet that
 * frame ends the transactions left open.  Called for every frame: what
 * most frames need (not TCP; or a segment this plugin has just dissected,
 * without FIN or RST) is answered here without the frame of a call that
 * does more. */
static int dissect_smtpx_close(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    if (pinfo->ptype != PT_TCP || !smtpx_enabled())
        return 0;
    if (first_frame == pinfo->num && !(first_conv_flags & (TH_FIN | TH_RST)) && first_conv != NULL &&
        !PINFO_FD_VISITED(pinfo) && first_conv_ports[0] == pinfo->srcport &&
        first_conv_ports[1] == pinfo->destport && first_conv_addrs[0].data == pinfo->src.data &&
        first_conv_addrs[1].data == pinfo->dst.data && first_conv_addrs[0].len == pinfo->src.len &&
        first_conv_addrs[1].len == pinfo->dst.len && first_conv_addrs[0].type == pinfo->src.type &&
        first_conv_addrs[1].type == pinfo->dst.type)
        return 0; /* the segment just dissected, the same addresses: close_frame's first test */
    return close_frame(tvb, pinfo, tree);
}

/* ---- registration ---- */

void proto_register_smtpx(void)
{
    proto_smtpx = proto_register_protocol("SMTP Analysis (plugin)", "SMTP-Analysis", "smtpx");
    proto_smtp_builtin = proto_get_id_by_filter_name("smtp");
    if (proto_smtp_builtin == -1)
        proto_smtp_builtin = proto_smtpx;
    smtpx_register_fields();
    smtpx_register_taps();

    smtpx_register_prefs(); /* smtpx_register.c */

    smtpx_tcp_handle = register_dissector("smtpx", dissect_smtpx_tcp, proto_smtpx);
    smtpx_tls_handle = register_dissector("smtpx.tls", dissect_smtpx_tls, proto_smtpx);
    /* a handle of no protocol: Wireshark then neither checks that it is
     * enabled (dissect_smtpx_close asks smtpx_enabled itself) nor adds and
     * takes back a protocol layer on every frame of every protocol (callgrind,
     * packet list: 700 -> 240 instructions a frame) */
    register_postdissector(create_dissector_handle(dissect_smtpx_close, -1));
    register_init_routine(scopes_init);
    register_cleanup_routine(scopes_cleanup);
}

void proto_reg_handoff_smtpx(void)
{
    smtpx_register_ports(); /* smtpx_register.c: TCP ports, TLS port */
    imf_handle = find_dissector_add_dependency("imf", proto_smtpx);
    tls_handle = find_dissector_add_dependency("tls", proto_smtpx);
    smtpx_ntlmssp_handle = find_dissector_add_dependency("ntlmssp", proto_smtpx);
    smtpx_imf_tap = find_tap_id("imf_eo"); /* register_export_object names it <proto>_eo */
}
