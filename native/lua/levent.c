/*
** levent.c: a lifecycle event's arrival (EXIT, LINK_DOWN, CANCEL) and the events channel's take in
** C (`wippy.native.eventer`, opened by lwippy.c): mailbox.lua's arrive_event and take_event, the
** same steps in the same order over the same state.
**
** What it owns: nothing. The state is the kernel's Lua tables (the process record P, its events
** channel's state CH[ch] and the state's backlog { h, t, [i] }) and mailbox.lua's locals (CH,
** EMPTYQ, EVENTS_TOPIC, and its Lua arrive_event and take_event for the cases left to them):
** eventer(deliver, ev_probe) finds them by name among the upvalues of ev_probe (lprobe.h), as
** ldeliver.c does, and offers an event through ldeliver.c's offer (the Deliv of `deliver`, the
** C deliver closure: its run queue and the thread it readies). Fields go through lfield.h (the
** VM's own steps, metamethods included).
**
** The events channel's backlog is flat: two slots per event (the event table, its seq) and no
** mailbox record (mailbox.lua, "Backlogs"); a record { topic = EVENTS_TOPIC, ev, n = 0, seq } is
** made only for a receiver's thread that takes the event at once (T.mrec, until it runs: an
** upgrade in between gives the record back).
**
** arrive(P, ev): arrive_event's. Left to the Lua arrive_event, untouched, before anything changes:
** an arrival past P's max_mailbox (the overflow kill), a process with no events channel yet (the
** record waits in `unrouted`), and a state that is not the events channel's kind (mode "event",
** capacity 0: no buffer; never otherwise, by construction). Then: P.unread + 1, P.seq + 1; behind
** a non-empty backlog the event joins it (ev_push: slots t + 1, t + 2 = ev, seq); else offer(s,
** ch, ev): taken by a parked receiver (a plain receive's thread, or a select's: ldeliver.c's
** offer readies it), whose thread holds the record and P.unread - 1; refused (closed, nobody
** waiting), the backlog.
**
** take(s) (the events kind's take_backlog hook, which lrecv.c's receive and channel.lua's
** receive and select call when s.bq is not empty): take_event's: P.unread - 1, the head event
** and its seq off the backlog, a backlog emptied back to slot 1 (and dropped for EMPTYQ past
** BQ_KEEP slots: mailbox.lua's bq_emptied), -> the event.
**
** Why, measured: an EXIT's arrival was ~56 VM instructions in six Lua calls (arrive, route,
** target_of, to_channel, backlog_push, qpush_at) and its receive ~27 in three (take_backlog,
** qpop, convert), and a mailbox record per EXIT; docs/design/native-core.md, "The cost of a
** spawn", session 11. lexit.c's exiter calls arrive without a call through Lua
** (luaW_arrive_event_of).
**
** Session 13: arrive reads the channel's state from its user value (lprobe.h luaW_chan_state, as
** lrecv.c does, not CH[ch]'s hash of a userdata key), P's max_mailbox and the kind's mode and cap
** through the defaults found once (ldefaults.h), and pushes behind a backlog on the queue and tail
** it has just read (ev_push_q); lrecv.c's receive calls take's steps directly (luaW_take_event_of,
** luaW_take_event_at).
**
** What it may call: the Lua arrive_event and take_event, ldeliver.c's offer, and metamethods.
** On wasmoon's module and with WIPPY_CSCHED=0 the Lua runs; test/native-event.test.ts runs both
** on the same seeded sequences.
*/
#include "lprobe.h"
#include "ldeliver.h"
#include "levent.h"
#include "ldefaults.h"

#define EFLAT 2  /* slots per event in the events channel's backlog (mailbox.lua's EFLAT) */
/* an emptied backlog whose tail passed this many slots is dropped (mailbox.lua's BQ_KEEP) */
#define BQ_KEEP 65536

#define UPVALS(X) X(CH) X(EMPTYQ) X(EVENTS_TOPIC) X(arrive_event) X(take_event)
#define KEYS(X) \
  X(unread) X(max_mailbox) X(subs) X(seq) X(bq) X(h) X(t) X(mode) X(cap) X(event) X(proc) \
  X(mrec) X(topic) X(ev) X(n)

struct Ev {
  Deliv *D;
  UPVALS(PROBE_UV_FIELD)
  KEYS(PROBE_KEY_FIELD)
};

#define UV_ENTRY(name) PROBE_ENTRY(Ev, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Ev, k_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { KEYS(KEY_ENTRY) };

#define V(name) (E->u_##name->v)
#define K(name) (E->k_##name)

/* ev_push's steps on the queue q whose tail q.t is t (both just read) */
LF_INLINE void ev_push_q (lua_State *L, Ev *E, TValue *q, TValue *t, TValue *ev, TValue *seq) {
  lua_Integer k;
  if (!ttisinteger(t)) luaL_error(L, "kernel: a queue's tail is not an integer");
  k = ivalue(t);
  seti(L, q, k + 2, seq);
  seti(L, q, k + 1, ev);
  setivalue(t, k + EFLAT);
  setf(L, q, K(t), t);
}

/* mailbox.lua's ev_push(s, ev, seq): q[t + 1], q[t + 2] = ev, seq (the VM stores the last target
** first); q.t = t + 2; the queue made at its first push */
static void ev_push (lua_State *L, Ev *E, const TValue *s, TValue *ev, TValue *seq) {
  TValue q, t;
  luaW_queue_at(L, s, K(bq), V(EMPTYQ), K(h), K(t), &q);
  getf(L, &q, K(t), &t);
  ev_push_q(L, E, &q, &t, ev, seq);
}

/* arrive_event(P, ev) for P and ev reachable from the stack (see the top); 0 if it is the Lua's
** case (nothing changed) */
static int arrive_at (lua_State *L, Ev *E, const TValue *Pv, const TValue *evv) {
  TValue P, ev, u, x, ch, s, seq, one, w;
  Table *D;
  int top = lua_gettop(L);
  luaL_checkstack(L, 12, "arrive_event");
  setobj(L, &P, Pv);
  setobj(L, &ev, evv);
  setivalue(&one, 1);
  /* the cold cases, decided before anything changes (the reads have no side effects) */
  getf(L, &P, K(unread), &u);
  arith(L, LUA_OPADD, &u, &one, &u);
  getfd(L, &P, defaults_of(L, &P), K(max_mailbox), &x);  /* (ldefaults.h: P's defaults) */
  if (luaV_lessthan(L, &x, &u)) return 0;  /* overflow: the Lua kills P */
  getf(L, &P, K(subs), &x);
  getv(L, &x, V(EVENTS_TOPIC), &ch);
  if (l_isfalse(&ch)) return 0;  /* no events channel yet: `unrouted` */
  push(L, &ch);  /* anchored */
  luaW_chan_state(L, V(CH), &ch, &s);  /* CH[ch], read from the channel's user value (lprobe.h) */
  if (!ttistable(&s)) { lua_settop(L, top); return 0; }
  push(L, &s);  /* anchored */
  D = defaults_of(L, &s);  /* the subscription kind's (ldefaults.h); the reads below run nothing */
  getfd(L, &s, D, K(mode), &x);
  if (!(ttisstring(&x) && eqshrstr(tsvalue(&x), K(event)))) { lua_settop(L, top); return 0; }
  getfd(L, &s, D, K(cap), &x);
  if (!(ttisinteger(&x) && ivalue(&x) == 0)) { lua_settop(L, top); return 0; }
  setf(L, &P, K(unread), &u);
  getf(L, &P, K(seq), &seq);
  arith(L, LUA_OPADD, &seq, &one, &seq);
  setf(L, &P, K(seq), &seq);
  {
    TValue bh, bt;
    getf(L, &s, K(bq), &x);
    getf(L, &x, K(t), &bt);
    getf(L, &x, K(h), &bh);
    /* behind a backlog (not EMPTYQ, whose h = 1 > t = 0): ev_push's queue is x and its tail bt,
    ** read just above with nothing written since (session 13: no second read of s.bq and q.t) */
    if (le(L, &bh, &bt)) { ev_push_q(L, E, &x, &bt, &ev, &seq); lua_settop(L, top); return 1; }
  }
  if (!luaW_offer(L, E->D, &s, &ch, &ev, &w)) ev_push(L, E, &s, &ev, &seq);
  else if (!ttisnil(&w)) {  /* handed to a parked receiver's thread: it holds the record */
    TValue m, zero, p;
    push(L, &w);  /* anchored while the record is made */
    lua_createtable(L, 0, 4);  /* { topic = EVENTS_TOPIC, ev = ev, n = 0, seq = seq } */
    sethvalue(L, &m, hvalue(s2v(L->top - 1)));
    setf(L, &m, K(topic), V(EVENTS_TOPIC));
    setf(L, &m, K(ev), &ev);
    setivalue(&zero, 0);
    setf(L, &m, K(n), &zero);
    setf(L, &m, K(seq), &seq);
    setf(L, &w, K(mrec), &m);
    getf(L, &s, K(proc), &p);
    getf(L, &p, K(unread), &x);
    arith(L, LUA_OPSUB, &x, &one, &x);
    setf(L, &p, K(unread), &x);
  } else luaL_error(L, "kernel: an event buffered by the events channel");  /* capacity 0 */
  lua_settop(L, top);
  return 1;
}

void luaW_arrive_event_at (lua_State *L, Ev *E, const TValue *P, const TValue *ev) {
  if (arrive_at(L, E, P, ev)) return;
  push(L, V(arrive_event));
  push(L, P);
  push(L, ev);
  lua_call(L, 2, 0);
}

/* arrive(P, ev) from Lua; upvalue 1: the Ev */
static int arrive (lua_State *L) {
  Ev *E = (Ev *)lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 2);
  luaW_arrive_event_at(L, E, s2v(L->ci->func + 1), s2v(L->ci->func + 2));
  return 0;
}

Ev *luaW_arrive_event_of (const TValue *f) {
  if (!ttisCclosure(f) || clCvalue(f)->f != arrive) return NULL;
  return (Ev *)getudatamem(uvalue(&clCvalue(f)->upvalue[0]));
}

/* take_event's steps (see the top) for the state sv, reachable from the stack; pushes the queue
** (anchored) and then the event (levent.h: lrecv.c's receive calls it directly) */
void luaW_take_event_at (lua_State *L, Ev *E, const TValue *sv) {
  TValue s, P, q, x, one, ev, nilv, tv;
  lua_Integer h;
  luaL_checkstack(L, 4, "take_event");
  setobj(L, &s, sv);
  setivalue(&one, 1);
  /* P.unread = P.unread - 1 */
  getf(L, &s, K(proc), &P);
  getf(L, &P, K(unread), &x);
  arith(L, LUA_OPSUB, &x, &one, &x);
  setf(L, &P, K(unread), &x);
  /* ev_pop(s, s.bq) */
  getf(L, &s, K(bq), &q);
  push(L, &q);  /* 2: anchored */
  getf(L, &q, K(h), &x);
  if (!ttisinteger(&x)) luaL_error(L, "kernel: a queue's head is not an integer");
  h = ivalue(&x);
  geti(L, &q, h, &ev);
  push(L, &ev);  /* 3: the result, anchored */
  setnilvalue(&nilv);
  seti(L, &q, h + 1, &nilv);  /* q[h], q[h + 1] = nil, nil: the last target first */
  seti(L, &q, h, &nilv);
  getf(L, &q, K(t), &tv);
  if (!ttisinteger(&tv)) luaL_error(L, "kernel: a queue's tail is not an integer");
  if (h + EFLAT > ivalue(&tv)) {  /* bq_emptied: q.h, q.t = 1, 0 (the last target first) */
    setivalue(&x, 0);
    setf(L, &q, K(t), &x);
    setf(L, &q, K(h), &one);
    if (ivalue(&tv) > BQ_KEEP) setf(L, &s, K(bq), V(EMPTYQ));  /* (not raw: no BQSPARE) */
  } else {
    setivalue(&x, h + EFLAT);
    setf(L, &q, K(h), &x);
  }
}

/* take(s): take_event's (see the top); upvalue 1: the Ev */
static int take (lua_State *L) {
  Ev *E = (Ev *)lua_touserdata(L, lua_upvalueindex(1));
  lua_settop(L, 1);
  luaW_take_event_at(L, E, s2v(L->ci->func + 1));
  return 1;
}

Ev *luaW_take_event_of (const TValue *f) {
  if (!ttisCclosure(f) || clCvalue(f)->f != take) return NULL;
  return (Ev *)getudatamem(uvalue(&clCvalue(f)->upvalue[0]));
}

/* eventer(deliver, ev_probe) -> arrive, take: deliver is ldeliver.c's C deliver closure, ev_probe
** a Lua closure whose upvalues include every name of UPVALS */
static int eventer (lua_State *L) {
  Deliv *D = luaW_deliv_of(L, 1);
  Ev *E;
  if (D == NULL) return luaL_argerror(L, 1, "the C deliver expected");
  E = PROBE_NEW(L, 2, 2, Ev, arrive, "eventer");
  E->D = D;  /* kept alive: deliver is the Ev's uservalue 1 */
  lua_getupvalue(L, -1, 1);  /* the Ev, shared */
  lua_pushcclosure(L, take, 1);
  return 2;
}

/* pushes the eventer constructor (lwippy.c puts it into wippy.native) */
int luaW_open_event (lua_State *L) {
  lua_pushcfunction(L, eventer);
  return 1;
}
