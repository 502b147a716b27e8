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

/* The Deliv of the refill closure (wippy.native.deliverer's second result) in f, or NULL */
Deliv *luaW_refill_of (const TValue *f);

/* channel.lua's offer(s, ch, v) -> taken, and in *w the thread it was handed to (nil if none);
** s, ch, v reachable from the stack (levent.c) */
int luaW_offer (lua_State *L, Deliv *D, const TValue *s, const TValue *ch, TValue *v, TValue *w);

#endif
