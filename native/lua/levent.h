/*
** levent.h: a lifecycle event's arrival (levent.c) for other C of the module: lexit.c's exiter
** ends in it without a call through Lua.
*/
#ifndef levent_h
#define levent_h

#include "lua.h"
#include "lobject.h"

typedef struct Ev Ev;

/* The Ev of the arrive closure (wippy.native.eventer's first result) in f, or NULL */
Ev *luaW_arrive_event_of (const TValue *f);

/* mailbox.lua's arrive_event(P, ev), P and ev reachable from the stack; the Lua arrive_event for
** the cases left to it */
void luaW_arrive_event_at (lua_State *L, Ev *E, const TValue *P, const TValue *ev);

/* The Ev of the take closure (wippy.native.eventer's second result) in f, or NULL */
Ev *luaW_take_event_of (const TValue *f);

/* mailbox.lua's take_event(s), s reachable from the stack (lrecv.c's receive calls it without a
** call through Lua, session 13); pushes two values, the event on top */
void luaW_take_event_at (lua_State *L, Ev *E, const TValue *s);

#endif
