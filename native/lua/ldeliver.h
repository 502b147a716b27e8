/*
** ldeliver.h: a same-worker message's arrival (ldeliver.c) for other C of the module: lsend.c's
** send ends in it without a call through Lua, lrecv.c's receive calls the listen channels'
** refill hook directly, and levent.c offers an event through its offer.
*/
#ifndef ldeliver_h
#define ldeliver_h

#include "lua.h"
#include "lobject.h"

typedef struct Deliv Deliv;

/* The Deliv of the deliver closure (wippy.native.deliverer's result) at idx, or NULL */
Deliv *luaW_deliv_of (lua_State *L, int idx);

/* deliver(P, topic, from, n, p, v) with its arguments at the calling C function's slots
** off+1..off+6 (anything above them is dropped); mailbox.lua's deliver_msg, cold cases included */
void luaW_deliver_at (lua_State *L, Deliv *D, int off);

/* mailbox.lua's refill(s) for the listen channel state s (a value left its buffer); the Lua
** refill for a channel that is not raw */
void luaW_refill_at (lua_State *L, Deliv *D, const TValue *s);

/* lrecv.c's take of the value at buf[1] of the listen channel state s (read and anchored by the
** caller) followed by refill(s), fused for the refill's common case (the buffer's one value, a
** raw channel, a backlog behind it): 1 when done, with the same end state; 0 with nothing
** changed (the caller takes and refills as before). dft: s's defaults (ldefaults.h's
** defaults_of, found by the caller with nothing run since; NULL: read through getf) */
int luaW_take_refill (lua_State *L, Deliv *D, const TValue *s, Table *dft, const TValue *buf);

/* The Deliv of the refill closure (wippy.native.deliverer's second result) in f, or NULL */
Deliv *luaW_refill_of (const TValue *f);

/* A run of one-value messages for one process on one topic whose channel's flat backlog is not
** empty (deliver's "behind a backlog" case, a raw channel): the process record and the backlog
** found once (luaW_flat_open), then each message appended as deliver appends it (luaW_flat_put).
** For lcodec.c's deliver_run; the caller keeps P and bq anchored (bq: on its stack). */
typedef struct LFlat {
  Table *P;  /* the process record */
  TValue bq;  /* its channel's flat backlog (s.bq) */
  lua_Integer max;  /* P.max_mailbox */
} LFlat;

/* 1 if a one-value message for P on topic goes to a raw channel's non-empty flat backlog now, and
** F set for luaW_flat_put; 0 (nothing changed) if not: deliver's other cases */
int luaW_flat_open (lua_State *L, Deliv *D, const TValue *P, const TValue *topic, LFlat *F);

/* deliver(P, topic, from, 1, nil, v) for a run luaW_flat_open opened: 1 when done (appended to
** the backlog), 0 with nothing changed when deliver would do something else (the mailbox full,
** the backlog emptied, a field not an integer): then deliver itself must be called */
int luaW_flat_put (lua_State *L, Deliv *D, LFlat *F, const TValue *topic, const TValue *from,
                   const TValue *v);

/* channel.lua's offer(s, ch, v) -> taken, and in *w the thread it was handed to (nil if none);
** s, ch, v reachable from the stack (levent.c) */
int luaW_offer (lua_State *L, Deliv *D, const TValue *s, const TValue *ch, TValue *v, TValue *w);

#endif
