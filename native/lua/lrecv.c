/*
** lrecv.c: a channel receive's common cases in C (`wippy.native.receiver`, opened by lwippy.c):
** channel.lua's chan_methods.receive when the value is in the buffer, in a subscription's backlog,
** or not there yet (the receive parks: the thread joins the receivers' queue and yields from here,
** no Lua frame for receive, take or park).
**
** What it owns: nothing. The state is channel.lua's (CH, EMPTYQ, the channel states and their
** queues) and the scheduler's (run.cur, a thread's process and its `red`): receiver(probe) finds
** channel.lua's locals by name among the upvalues of `probe` (CH, EMPTYQ, run, maybe_yield,
** receive, the Lua receive, BLOCK and YIELD_AFTER, sched.lua's), as lsched.c does. Fields go
** through lfield.h (the VM's own steps, metamethods included).
**
** receive(ch): channel.lua's receive, the same steps in the same order. s = CH[ch] (none: the
** same error, raised at the caller's level as the Lua's error(..., 2) is). A buffered value with
** no sender waiting: take's steps (the value popped, s.refill(s) if the state has that hook:
** ldeliver.c's refill, a listen channel's, called directly, without a call through Lua; the
** buffer's one value at slot 1 taken and refilled by one call, luaW_take_refill, session 12), then
** maybe_yield's, then v, true. No buffered value, a subscription's backlog not empty: v =
** s.take_backlog(s), maybe_yield's steps, v, true. Else a closed channel: nil, false. Else, inside
** a thread (run.cur): the thread joins the receivers' queue (made at its first push), T.parked = true, and `return lua_yield(L, 1)` with BLOCK: the
** resume's values are the receive's results, as park's `return coroutine.yield(BLOCK)` makes them,
** and the yield takes the fast path (patch 0001: called from Lua code, nothing between it and
** lua_resume). maybe_yield's steps: nothing outside a thread or under YIELD_AFTER instructions
** (the thread's process's `red`); else the Lua maybe_yield, called with a continuation (its yield
** takes the fast path, patch 0003; on such a yield lua_callk returns with the thread's status
** LUA_YIELD and receive only returns) that returns v, true. Left to the Lua receive, called with
** the same arguments and a continuation before anything changes: a sender waiting in the
** channel's senders' queue, and a receive outside a thread.
**
** receiver(probe) also returns chan_ud(mt, s), channel.lua's newud for a channel on our module: the
** channel userdata keeps its state s as its one user value (and CH[ch] = s as before, set once,
** never changed), so this receive and ldeliver.c's arrival read the state there (lprobe.h's
** luaW_chan_state) instead of hashing a userdata key into CH, which holds every channel of the
** worker (session 11).
**
** Why, measured: a receive that parks was ~25 VM instructions and two Lua calls (receive, park)
** plus the yield's C call; docs/design/native-core.md, "The per-message path", session 9.
**
** A subscription's fields it reads before its first call (sendq, buf, bq, backlog, take_backlog:
** most of them the kind's defaults; since session 15 also refill, and the take's mode, mrec, bq,
** cap, spare and proc in ldeliver.c's luaW_take_refill) go through the state's defaults found
** once (ldefaults.h), and
** the events kind's take_backlog, levent.c's take, is called directly (luaW_take_event_at), without
** a call through Lua (session 13).
**
** What it may call: the hooks a state carries (refill, take_backlog), the Lua receive
** and maybe_yield, and metamethods.
** On wasmoon's module (no wippy.native) and with WIPPY_CSCHED=0 the Lua receive runs;
** test/native-send.test.ts runs both on the same cases.
*/
#include "lprobe.h"
#include "ldeliver.h"
#include "levent.h"
#include "ldefaults.h"

#define UPVALS(X) X(CH) X(EMPTYQ) X(run) X(maybe_yield) X(receive) X(BLOCK) X(YIELD_AFTER)
#define KEYS(X) \
  X(buf) X(sendq) X(h) X(t) X(bq) X(backlog) X(take_backlog) X(refill) X(closed) X(cur) \
  X(recvq) X(parked) X(proc) X(red)

typedef struct Recv {
  UPVALS(PROBE_UV_FIELD)
  KEYS(PROBE_KEY_FIELD)
} Recv;

#define UV_ENTRY(name) PROBE_ENTRY(Recv, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Recv, k_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { KEYS(KEY_ENTRY) };

#define V(name) (R->u_##name->v)
#define K(name) (R->k_##name)

/* the queue field k of s is not empty (q.t >= q.h); in *q the queue and in *h its head (read
** when q is not the shared empty queue); D: s's defaults (ldefaults.h) */
LF_INLINE int nonempty (lua_State *L, Recv *R, const TValue *s, Table *D, TString *k, TValue *q,
                        TValue *h) {
  TValue t;
  getfd(L, s, D, k, q);
  if (raweq(q, V(EMPTYQ))) return 0;  /* the shared empty queue: h = 1, t = 0 always */
  getf(L, q, K(t), &t);
  getf(L, q, K(h), h);
  return le(L, h, &t);
}

/* call f with the nargs values on top, nres results */
static void call (lua_State *L, const TValue *f, int nargs, int nres) {
  push(L, f);
  lua_insert(L, -(nargs + 1));
  lua_call(L, nargs, nres);
}

/* the continuation of maybe_yield: the two values below it (v, true) */
static int done_k (lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 2;
}

/* v (on top) is the receive's value: maybe_yield's steps, then v, true */
LF_INLINE int done (lua_State *L, Recv *R) {
  lua_pushboolean(L, 1);
  if (!luaW_yield_quiet(L, V(run), K(cur), K(proc), K(red), V(YIELD_AFTER))) {
    push(L, V(maybe_yield));
    lua_callk(L, 0, 0, 0, done_k);
    if (lua_status(L) == LUA_YIELD) return 0;  /* a fast yield inside: only return (patch 0003) */
  }
  return done_k(L, LUA_OK, 0);
}

/* receive(ch) (see the top); upvalue 1: the Recv */
static int receive (lua_State *L) {
  Recv *R = (Recv *)lua_touserdata(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L);
  TValue s, q, x, T;
  Table *dft;
  luaL_checkstack(L, nargs + 16, "receive");
  if (nargs == 0) lua_pushnil(L);
  luaW_chan_state(L, V(CH), s2v(L->ci->func + 1), &s);
  if (l_isfalse(&s)) return luaL_error(L, "bad argument #1 to 'receive' (channel expected)");
  push(L, &s);  /* nargs + 1 (or 2): anchored */
  /* s's defaults (a subscription kind's: ldefaults.h), found once for the reads up to the first
  ** step that may run something (a take, a refill, a hook) */
  dft = defaults_of(L, &s);
  if (nonempty(L, R, &s, dft, K(sendq), &q, &x)) goto lua;  /* a sender waits: take's Lua */
  if (nonempty(L, R, &s, dft, K(buf), &q, &x)) {  /* take: the buffered value */
    TValue h, nilv;
    setobj(L, &h, &x);  /* (its head, read by nonempty: nothing ran since, le on integers) */
    if (!ttisinteger(&h)) luaL_error(L, "kernel: a queue's head is not an integer");
    geti(L, &q, ivalue(&h), &x);
    push(L, &x);  /* the value, anchored */
    getfd(L, &s, dft, K(refill), &x);
    /* a listen channel's one buffered value at slot 1 with a backlog behind it (a drain's common
    ** case): the take and ldeliver.c's refill in one, the same end state (luaW_take_refill; s's
    ** fields through its defaults found above: nothing has run since) */
    if (ivalue(&h) == 1 && !l_isfalse(&x)) {
      Deliv *D = luaW_refill_of(&x);
      if (D && luaW_take_refill(L, D, &s, dft, &q)) return done(L, R);
    }
    setnilvalue(&nilv);
    seti(L, &q, ivalue(&h), &nilv);
    setivalue(&h, ivalue(&h) + 1);
    setf(L, &q, K(h), &h);
    if (!l_isfalse(&x)) {
      Deliv *D = luaW_refill_of(&x);
      if (D) {  /* ldeliver.c's refill (a listen channel's): called here, no call through Lua */
        int top = lua_gettop(L);
        luaW_refill_at(L, D, &s);
        lua_settop(L, top);
      } else {
        push(L, &s);
        call(L, &x, 1, 0);
      }
    }
    return done(L, R);
  }
  getfd(L, &s, dft, K(bq), &x);
  if (!l_isfalse(&x) && !raweq(&x, V(EMPTYQ))) {  /* a subscription's backlog (only such a state has one) */
    TValue h, t;
    getf(L, &x, K(t), &t);
    getf(L, &x, K(h), &h);
    if (le(L, &h, &t)) {
      getfd(L, &s, dft, K(backlog), &x);
      if (!l_isfalse(&x)) {
        Ev *E;
        getfd(L, &s, dft, K(take_backlog), &x);
        /* the events kind's hook, levent.c's take: called here, no call through Lua (session 13) */
        if ((E = luaW_take_event_of(&x)) != NULL) luaW_take_event_at(L, E, &s);
        else {
          push(L, &s);
          call(L, &x, 1, 1);
        }
        return done(L, R);
      }
    }
  }
  getf(L, &s, K(closed), &x);
  if (!l_isfalse(&x)) {
    lua_pushnil(L);
    lua_pushboolean(L, 0);
    return 2;
  }
  getf(L, V(run), K(cur), &T);
  if (ttisnil(&T)) goto lua;
  /* park: T joins the receivers' queue */
  luaW_queue_at(L, &s, K(recvq), V(EMPTYQ), K(h), K(t), &q);  /* made at its first push */
  {
    TValue t, one;
    getf(L, &q, K(t), &t);
    setivalue(&one, 1);
    arith(L, LUA_OPADD, &t, &one, &t);
    setf(L, &q, K(t), &t);
    if (!ttisinteger(&t)) luaL_error(L, "kernel: a queue's tail is not an integer");
    seti(L, &q, ivalue(&t), &T);
  }
  /* sched.lua's park: run.cur.parked = true (run.cur is T: nothing ran since it was read);
  ** return coroutine.yield(BLOCK) */
  setbtvalue(&x);
  setf(L, &T, K(parked), &x);
  push(L, V(BLOCK));
  return lua_yield(L, 1);
lua:  /* the Lua receive, with the arguments as they came */
  return luaW_calllua(L, V(receive), nargs);
}

/* the mark of a channel userdata made by chan_ud (lprobe.h's luaW_chan_state) */
const char luaW_chan_mark = 0;

/* chan_ud(mt, s) -> ch: channel.lua's newud(mt) for a channel whose state is s, the state kept as
** the userdata's one user value too (lprobe.h's luaW_chan_state reads it there) */
static int chan_ud (lua_State *L) {
  const void **mark;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  mark = (const void **)lua_newuserdatauv(L, sizeof(void *), 1);
  *mark = &luaW_chan_mark;
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

/* receiver(probe) -> receive, chan_ud: probe is a Lua closure whose upvalues include every name of
** UPVALS */
static int receiver (lua_State *L) {
  PROBE_NEW(L, 1, 1, Recv, receive, "receiver");
  lua_pushcfunction(L, chan_ud);
  return 2;
}

/* pushes the receiver constructor (lwippy.c puts it into wippy.native) */
int luaW_open_recv (lua_State *L) {
  lua_pushcfunction(L, receiver);
  return 1;
}
