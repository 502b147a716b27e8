/*
** lsched.c: the scheduler's run loop in C for the common case (`wippy.native.runner`, opened by
** lwippy.c): sched.lua's run_loop and resume_thread, the same steps in the same order, over the
** same state, without the VM's dispatch and without the Lua->C call per resume.
**
** What it owns: nothing. The state stays where sched.lua keeps it: the run queue (a Lua table),
** its head and tail, the slice's budget, the clocks, `handling` and the hooks are locals of
** sched.lua's factory, and the thread and process records are Lua tables. runner(probe) finds
** those locals by name among the upvalues of `probe` (a closure of sched.lua naming them all) and
** keeps the upvalues' addresses (lua_upvalueid), so it reads and writes each local where it
** lives: a Lua `ready` that pushes a thread and this loop that pops it share one rq_tail, with no
** call between them. Fields are read and written with the VM's own steps (luaH_getshortstr on
** keys interned once, luaV_finishget / luaV_finishset when the fast slot is empty, so defaults
** read through a record's metatable and every metamethod behave as in the Lua), upvalue writes
** with luaC_barrier, table writes with luaC_barrierback, as lvm.c and lapi.c do.
**
** Why over the Lua tables and not through the C API: session 6 measured a message's arrival in C
** through lua_getfield/lua_setfield (lmbox.c, removed) no cheaper than the Lua it replaced, ~40
** API steps each costing more than the GETFIELD/SETFIELD it stood for (a C-string cache lookup,
** a push and a pop per field). Here a field is one luaH_getshortstr on a pre-interned TString:
** what GETFIELD does after its dispatch. The run loop and resume_thread are ~110 VM instructions
** and one C call (lmsg.c's resume) per resume of a ping-pong message; docs/design/native-core.md,
** "The per-message path", has the figures before and after.
**
** The protocol with sched.lua. run() is called by the Lua run_loop where it would take a thread
** record off the head of the run queue: the queue is not empty and its head is not START, the
** iteration's sharing check (multi) is done, the budget is positive and heap accounting is off.
** It runs that iteration, then the following ones while each would take the same branch of the
** Lua loop (budget left, a thread record at the head, no sharing tick, heap accounting off) or
** its START branch (START at the head: the branch is sched.lua's start_slot, which it calls, and
** a thread it leaves in the slot runs at once, as the Lua branch runs it; session 10), and
** returns false there, so the Lua loop takes the next iteration's other branches; it returns true
** when the step's time is up (the Lua loop's `break`). Everything it calls that may raise (the
** hooks, the process's resume result handlers, run_timers, a metamethod) raises through it to
** S.step's pcall with the state already where the Lua would have left it: a thread is taken off
** the queue before it is resumed, `handling` set before the resume, as in the Lua.
**
** What it may call: lua_resume on a process thread (from the calling thread, as coroutine.resume
** and lmsg.c's resume do, so the yield fast path and the count hook behave as with them), the
** Lua hooks it reads from the upvalues (thread_failed, thread_done, do_upgrade, deadlock,
** after_resume, ready, run_timers) and H.now (the host's own in one crossing: lhostfn.c).
**
** Session 13 (docs/design/native-core.md, "Session 13, second wave: the run loop"): the head
** plain_next read is the one the loop takes (no second read), the hooks thread_done and
** thread_failed are called with the resume's results moved in place (call_with_T), and the clock
** accounting's float steps are lfield.h's inline ones. What the loop costs now is mostly the first
** touches of a resumed thread's record and its process's, cold by then.
**
** Differences from the Lua, none observable by a process: an arithmetic error on a kernel field
** that is not a number (a kernel bug) reads "attempt to perform arithmetic on a X value" without
** the field's name. Rejected: the run queue as a C ring (every Lua ready() would then be a call
** into C, costlier than the four instructions of its push).
** On wasmoon's module (no wippy.native) the Lua loop runs; test/native-sched.test.ts runs both
** on the same cases and requires the same order of events.
*/
#include "lua.h"
#include "lauxlib.h"

#include "lprobe.h"
#include "lhostfn.h"

/* the locals of sched.lua the loop reads or writes, by name (probe's upvalues) */
#define UPVALS(X) \
  X(budget) X(rq_head) X(rq_tail) X(runq) X(t0) X(tlast) X(hn) X(heap_on) X(multi) X(handling) \
  X(START) X(BLOCK) X(run) X(H) X(thread_failed) X(thread_done) X(do_upgrade) X(deadlock) \
  X(after_resume) X(run_timers) X(ready) X(SHARE_AFTER) X(STEP_MS) X(TAKE_EVERY) X(start_slot)

/* the field names it reads or writes */
#define KEYS(X) \
  X(dead) X(proc) X(nrun) X(alive) X(cur) X(cp) X(red) X(share_at) X(mrec) X(co) X(n) \
  X(a1) X(a2) X(upgrade_req) X(npending) X(nsubs) X(exit_pending) X(now)

typedef struct Sched {
  UPVALS(PROBE_UV_FIELD)
  KEYS(PROBE_KEY_FIELD)
  const LuaWHostFns *hf;  /* the state's direct host calls (lhostfn.c), or NULL */
} Sched;

#define UV_ENTRY(name) PROBE_ENTRY(Sched, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Sched, k_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { KEYS(KEY_ENTRY) };

#define V(name) (S->u_##name->v)   /* the local's TValue, where it lives now */

/* an integer local of the loop (budget, rq_head, rq_tail, hn: integers by construction) */
static lua_Integer intof (lua_State *L, const TValue *v, const char *what) {
  if (ttisinteger(v)) return ivalue(v);
  return luaL_error(L, "kernel: sched.lua's %s is not an integer", what);
}

/* the Lua loop would take a thread record off the head in its next iteration: 1, the record in
** *h and its index in *head (run() takes it from there, no second read); START at the head (the
** loop's START branch): 2; any other branch: 0 */
static int plain_next (lua_State *L, Sched *S, TValue *h, lua_Integer *head) {
  lua_Integer budget = intof(L, V(budget), "budget");
  *head = intof(L, V(rq_head), "rq_head");
  if (budget <= 0 || *head > intof(L, V(rq_tail), "rq_tail")) return 0;
  if (!l_isfalse(V(multi)) && budget % intof(L, V(TAKE_EVERY), "TAKE_EVERY") == 0) return 0;
  if (!l_isfalse(V(heap_on))) return 0;
  geti(L, V(runq), *head, h);
  return raweq(h, V(START)) ? 2 : 1;
}

/* plain_next, with the START branch taken here: sched.lua's start_slot (session 10), as the Lua
** loop calls it; when it leaves a thread in the slot, that thread runs at once, as in the Lua.
** 1: *T and *head are the head's record and index, as plain_next read them (nothing ran since);
** 2: start_slot filled the slot (it ran Lua: the loop reads the head again); 0: another branch */
static int next_thread (lua_State *L, Sched *S, TValue *T, lua_Integer *head) {
  int k, filled;
  while ((k = plain_next(L, S, T, head)) == 2) {
    push(L, V(start_slot));
    lua_call(L, 0, 1);
    filled = lua_toboolean(L, -1);
    lua_settop(L, 0);
    if (filled) return 2;
  }
  return k;
}

/* call the function in v with the nargs values on top (already pushed above it), no results */
static void callhook (lua_State *L, const TValue *f, int nargs) {
  push(L, f);
  lua_insert(L, -(nargs + 1));
  lua_call(L, nargs, 0);
}

/* f(T, ...) with the resume's results, at indices 3..top, as its arguments, no results: the values
** moved up two slots and f, T stored under them (what callhook after a push of T and its
** lua_insert build, without the two lua_rotate; run() keeps the room) */
static void call_with_T (lua_State *L, const TValue *f, const TValue *T) {
  StkId b = L->ci->func + 3, top = L->top;
  int n = cast_int(top - b);
  StkId i;
  for (i = top - 1; i >= b; i--) setobjs2s(L, i + 2, i);
  setobj2s(L, b, f);
  setobj2s(L, b + 1, T);
  L->top = top + 2;
  lua_call(L, n + 1, 0);
}

/* t.k = nil as SETFIELD stores it, writing only a key that holds a value: for a table without a
** metatable a nil under an absent (or already nil) key is no change, which the VM would find out
** through luaV_finishset (resume_thread's clears: a thread woken with n = 0 holds no mrec, a1, a2) */
static inline void clearf (lua_State *L, const TValue *t, TString *k) {
  if (ttistable(t) && hvalue(t)->metatable == NULL) {
    const TValue *slot = lf_getshortstr(hvalue(t), k);
    if (!isempty(slot)) setnilvalue(cast(TValue *, slot));  /* a nil needs no barrier */
  } else {
    TValue nilv;
    setnilvalue(&nilv);
    setf(L, t, k, &nilv);
  }
}

/*
** resume_thread(T), T at stack index 1 (sched.lua's, step for step). Uses indices 2.. for p,
** the resume's results and calls; leaves the stack at 1.
*/
static void resume_thread (lua_State *L, Sched *S, TValue *pout) {
  TValue T, p, v, one, co, nv, nilv;
  lua_State *th;
  lua_Integer n;
  int status, nres, code;
  setobj(L, &T, s2v(L->ci->func + 1));
  setnilvalue(&nilv);
  setivalue(&one, 1);
  setnilvalue(pout);
  getf(L, &T, S->k_dead, &v);
  if (!l_isfalse(&v)) return;  /* discarded by an upgrade while it sat in the run queue */
  getf(L, &T, S->k_proc, &p);
  push(L, &p);  /* index 2: anchored for the resume */
  getf(L, &p, S->k_nrun, &v);
  arith(L, LUA_OPSUB, &v, &one, &v);
  setf(L, &p, S->k_nrun, &v);
  getf(L, &p, S->k_alive, &v);
  if (l_isfalse(&v)) { lua_settop(L, 1); return; }
  setuv(L, S->u_handling, &p);
  setf(L, V(run), S->k_cur, &T);
  setf(L, V(run), S->k_cp, &p);
  setivalue(&v, 0);
  setf(L, &p, S->k_red, &v);
  /* run() charges the resume's time to p[2] after it: T.proc is never reassigned (sched.lua
  ** new_thread), so the Lua loop's `T.proc` reads this */
  setobj(L, pout, &p);
  /* ptable.lua's figures, the record's array part (spawn.lua new_proc): [1] runs */
  geti(L, &p, 1, &v);
  arith(L, LUA_OPADD, &v, &one, &v);
  seti(L, &p, 1, &v);
  setf(L, V(run), S->k_share_at, V(SHARE_AFTER));
  clearf(L, &T, S->k_mrec);  /* the woken-with record is read from now on (mailbox.lua) */
  getf(L, &T, S->k_co, &co);
  getf(L, &T, S->k_n, &nv);
  /* heap accounting is off (plain_next / the Lua caller checked heap_on) */
  if (!ttisinteger(&nv)) luaL_error(L, "kernel: a thread record's n is not an integer");
  n = ivalue(&nv);
  if (n != 0 && n != 1) n = 2;
  if (n >= 1) { getf(L, &T, S->k_a1, &v); push(L, &v); }
  if (n == 2) { getf(L, &T, S->k_a2, &v); push(L, &v); }
  /* a1 and a2 only up to n, as ready stores them; cleared before the resume (anchored on the
  ** stack now), as the Lua: a thread parking inside it would otherwise rehash its record */
  if (n >= 1) clearf(L, &T, S->k_a1);
  if (n == 2) clearf(L, &T, S->k_a2);
  /* lmsg.c's resume: coroutine.resume's checks and messages; code 0 yielded, 1 returned, 2 raised */
  if (!ttisthread(&co)) luaL_error(L, "bad argument #1 to 'resume' (coroutine expected)");
  th = thvalue(&co);
  if (!lua_checkstack(th, (int)n)) {
    lua_settop(L, 2);
    code = 2;
    lua_pushliteral(L, "too many arguments to resume");
  } else {
    lua_xmove(L, th, (int)n);
    status = lua_resume(th, L, (int)n, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
      if (!lua_checkstack(L, nres + 1)) {
        lua_pop(th, nres);
        code = 2;
        lua_pushliteral(L, "too many results to resume");
      } else {
        code = status == LUA_OK ? 1 : 0;
        lua_xmove(th, L, nres);
      }
    } else {
      code = 2;
      lua_xmove(th, L, 1);  /* the error value */
    }
  }
  lua_settop(L, 4);  /* r1 at 3, r2 at 4 */
  setf(L, V(run), S->k_cur, &nilv);
  setf(L, V(run), S->k_cp, &nilv);
  if (code == 2) {
    lua_settop(L, 3);
    call_with_T(L, V(thread_failed), &T);  /* thread_failed(T, r1) */
  } else if (code == 1) {
    call_with_T(L, V(thread_done), &T);  /* thread_done(T, r1, r2) */
  } else if (!eq(L, s2v(L->ci->func + 3), V(BLOCK))) {
    /* a plain coroutine.yield() at the top of a process thread: just let others run */
    lua_settop(L, 2);
    push(L, &T); lua_pushinteger(L, 0);
    callhook(L, V(ready), 2);
  } else {
    lua_settop(L, 2);
    getf(L, &p, S->k_upgrade_req, &v);
    if (!l_isfalse(&v)) {
      push(L, &p);
      callhook(L, V(do_upgrade), 1);
    } else {
      TValue zero;
      int dl;
      setivalue(&zero, 0);
      getf(L, &p, S->k_nrun, &v);
      dl = eq(L, &v, &zero);
      if (dl) { getf(L, &p, S->k_npending, &v); dl = eq(L, &v, &zero); }
      if (dl) { getf(L, &p, S->k_nsubs, &v); dl = eq(L, &v, &zero); }
      if (dl) { getf(L, &p, S->k_alive, &v); dl = !l_isfalse(&v); }
      if (dl) { push(L, &p); callhook(L, V(deadlock), 1); }
    }
  }
  lua_settop(L, 2);
  getf(L, &p, S->k_exit_pending, &v);
  if (!l_isfalse(&v)) { push(L, &p); callhook(L, V(after_resume), 1); }
  setuv(L, S->u_handling, &nilv);
  lua_settop(L, 1);
}

/* run() -> true when the step's time is up (see the top); upvalue 1: the Sched userdata */
static int run (lua_State *L) {
  Sched *S = (Sched *)lua_touserdata(L, lua_upvalueindex(1));
  TValue T;
  lua_Integer head;
  int k = 2;  /* the head not read yet */
  luaL_checkstack(L, 12, "run");
  lua_settop(L, 0);
  do {
    TValue v, nilv, now, d, p, H;
    lua_Number x;
    lua_Integer budget;
    setnilvalue(&nilv);
    if (k == 2) {  /* the first iteration, or start_slot ran: the head as it is now */
      head = intof(L, V(rq_head), "rq_head");
      geti(L, V(runq), head, &T);
    }
    push(L, &T);  /* index 1: anchored while it runs */
    seti(L, V(runq), head, &nilv);
    /* emptied: back to slot 1 (sched.lua's run_loop says why) */
    if (head < intof(L, V(rq_tail), "rq_tail")) { setivalue(&v, head + 1); setuv(L, S->u_rq_head, &v); }
    else {
      setivalue(&v, 1); setuv(L, S->u_rq_head, &v);
      setivalue(&v, 0); setuv(L, S->u_rq_tail, &v);
    }
    budget = intof(L, V(budget), "budget") - 1;
    setivalue(&v, budget); setuv(L, S->u_budget, &v);
    resume_thread(L, S, &p);
    /* the clock after every resume: it ends the step, and charges the resume's time */
    setobj(L, &H, V(H));
    getf(L, &H, S->k_now, &v);
    if (luaW_now_direct(S->hf, &v, &x)) {  /* the host's own: one crossing */
      setfltvalue(&now, x);
      push(L, &now);  /* index 2, as the call's result would be */
    }
    else {
      push(L, &v);
      lua_call(L, 0, 1);
      setobj(L, &now, s2v(L->top - 1));  /* index 2: anchored (a number) */
    }
    if (ttisnil(&p)) {  /* not resumed (dead, or its process gone): the Lua's reads */
      getf(L, &T, S->k_proc, &p);
    }
    geti(L, &p, 2, &v);
    arith(L, LUA_OPSUB, &now, V(tlast), &d);
    arith(L, LUA_OPADD, &v, &d, &v);
    seti(L, &p, 2, &v);
    setuv(L, S->u_tlast, &now);
    arith(L, LUA_OPSUB, &now, V(t0), &d);
    if (lt(L, V(STEP_MS), &d)) { lua_pushboolean(L, 1); return 1; }
    if (intof(L, V(hn), "hn") > 0 && intof(L, V(budget), "budget") % 64 == 0) {
      lua_settop(L, 2);
      push(L, &now);
      callhook(L, V(run_timers), 1);
    }
    lua_settop(L, 0);
  } while ((k = next_thread(L, S, &T, &head)) != 0);
  lua_pushboolean(L, 0);
  return 1;
}

/* runner(probe) -> run: probe is a Lua closure whose upvalues include every name of UPVALS */
static int runner (lua_State *L) {
  Sched *S = PROBE_NEW(L, 1, 1, Sched, run, "runner");
  S->hf = luaW_hostfns(L);
  return 1;
}

/* pushes the runner constructor (lwippy.c puts it into wippy.native) */
int luaW_open_sched (lua_State *L) {
  lua_pushcfunction(L, runner);
  return 1;
}
