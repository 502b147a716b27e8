/*
** lexit.c: a process's end in C for the common case (`wippy.native.spawn.exiter`, opened by
** lspawn.c's luaW_open_spawn): lifecycle.lua's thread_done -> exit -> finalize -> notify_exit ->
** send_event -> deliver_event, with pids.lua's remove and copool.lua's give, the same steps in the
** same order over the same state, in one C call.
**
** What it owns: nothing. The state is the kernel's Lua tables (process and thread records, the
** sets, the process table `procs`) and the locals of the modules that own them: exiter(lifecycle
** probe, copool probe, pids probe) finds them by name among the upvalues of the three probe
** closures (lprobe.h), as lsched.c finds sched.lua's, and reads and writes them where they live
** (pids.lua's `nprocs`, lifecycle.lua's `notifying`); fields go through lfield.h (the VM's own
** steps, metamethods included). init.lua installs the result as the scheduler's thread_done hook.
**
** thread_done(T, r1, r2): it owns the case when every one of these holds (reads alone, before
** anything changes): T is its process P's main thread and P's only thread (nthreads 1); r2 is nil
** and r1 is nil, a boolean, a number or a string (its own copy); P is alive and has no `results`
** (a function frame's), `execs`, `exit_err`, `finalized`, `home` or `on_exit`, and its `subs`,
** `names`, `links` and `monitoring` are empty; no thread is being resumed (run.cur nil: the
** scheduler calls thread_done after the resume); its watchers (a set, or the one watcher itself:
** pids.lua watch) are none, or one JS exit watcher (a number: a job's), or one PID string that is
** no exec waiter and names a live process W of this worker (procs[w], no `home`, `alive`) with no
** spawn out on another host (W.heard nil). Then, in order: P.nthreads - 1 (a main thread is not in
** P.threads: sched.lua new_thread); P.alive = false, P.exit_value = r1 (not a nil);
** P.finalized = true; remove's procs[P.pid] = nil, nprocs - 1; H.dead(P.uniq); count_load(-1)
** (run.dload's steps); `notifying` = P; for a JS watcher the Lua post_jx(w, nil, nil, r1) (its
** "jx" frame); for a process watcher the event { kind = EXIT, from = P.pid, at = step_wall(),
** result = { value = r1 } } (run.wall, read once per step; both tables copies of templates:
** lshape.h), W.monitoring[P.pid] = nil and
** mailbox.lua's arrive_event(W, ev) (levent.c's, called directly: the event joins W's events
** channel's flat backlog or goes to its parked receiver, no mailbox record); P.notified = true,
** `notifying` back; then give's steps with T.co (on its stack,
** hooked or plain, up to MAX; nothing without rebind), and when P ran exactly one resume (P[1] is
** 1), P and T onto copool.lua's qpool and tpool for a later C spawn to reset and reuse (lrecpool.h;
** session 14). Anything else (an error, a table result,
** several watchers, a watcher elsewhere, links, a process that still holds threads or
** subscriptions) is the Lua thread_done's, called with the same arguments.
**
** Why, measured: a spawn+exit's exit was ~230 VM instructions in 12 Lua calls (thread_done, exit,
** finalize, notify_exit, exit_result, step_wall, send_event, deliver_event, count_load, remove,
** give_co, arrive); docs/design/native-core.md, "The cost of a spawn", session 10. Session 13
** ("the exit side"): the case's reads of keys a fresh record lacks (results, execs, exit_err,
** finalized, home, on_exit, and the sets subs, names, links, monitoring that read as the shared
** NONE) go through P's defaults found once (ldefaults.h), NONE answers without next's walk
** (upto2's first check), and the event and its result are copies made by luaW_shape_make
** (lshape.h): the exit's share of the worker fell from ~24% to ~20% in the steady-state profile.
**
** What it may call: arrive_event (levent.c's, or the Lua's), the Lua post_jx, the host's dead and load_add
** (in one crossing when each is the host's own: lhostfn.c), wall, and metamethods. On
** wasmoon's module (no wippy.native) and with WIPPY_CSCHED=0 the Lua runs;
** test/native-spawn.test.ts runs both on the same seeded sequences.
*/
#include "lspawn.h"
#include "levent.h"
#include "ldefaults.h"
#include "lrecpool.h"

/* lifecycle.lua's locals (its probe's upvalues) */
#define XUPVALS(X) \
  X(run) X(procs) X(exec_waits) X(notifying) X(arrive_event) X(post_jx) X(H) X(EV_EXIT) \
  X(thread_done) X(nprocs) X(rebind) X(hooked) X(plain) X(mem_cap_kb) X(MAX) X(qpool) X(tpool)
#define XKEYS(X) \
  X(proc) X(main) X(nthreads) X(alive) X(exit_value) X(results) X(execs) X(exit_err) \
  X(finalized) X(subs) X(home) X(names) X(links) X(monitoring) X(on_exit) X(watchers) X(heard) \
  X(cur) X(pid) X(uniq) X(dead) X(wall) X(dload) X(load_add) X(kind) X(from) X(at) X(result) \
  X(value) X(n) X(notified) X(co) X(budget)

typedef struct Exit {
  XUPVALS(PROBE_UV_FIELD)
  XKEYS(PROBE_KEY_FIELD)
  Shape ev_shape;  /* the EXIT event (lshape.h): kind, from, at, result */
  Shape res_shape;  /* its result with a value: value */
  const LuaWHostFns *hf;  /* the state's direct host calls (lhostfn.c: dead, load_add), or NULL */
} Exit;

#define UV_ENTRY(name) PROBE_ENTRY(Exit, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Exit, k_, name)
static const ProbeEntry uv_entries[] = { XUPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { XKEYS(KEY_ENTRY) };
#undef UV_ENTRY
#undef KEY_ENTRY

#define V(name) (X->u_##name->v)
#define K(name) (X->k_##name)

/* the EXIT event key by key: pushes { kind = EXIT, from = pid, at = at, result = res }; *ev: it */
static void ev_steps (lua_State *L, Exit *X, const TValue *pid, const TValue *at, const TValue *res,
                      TValue *ev) {
  lua_createtable(L, 0, 4);
  sethvalue(L, ev, hvalue(s2v(L->top - 1)));
  setf(L, ev, K(kind), V(EV_EXIT));
  setf(L, ev, K(from), (TValue *)pid);
  setf(L, ev, K(at), (TValue *)at);
  setf(L, ev, K(result), (TValue *)res);
}

/* thread_done(T, r1, r2) (see the top); upvalue 1: the Exit */
static int thread_done (lua_State *L) {
  Exit *X = (Exit *)lua_touserdata(L, lua_upvalueindex(1));
  TValue T, P, r1, x, y, w1, W, nilv, f, pid, ev, res, at;
  Table *D, *DW;
  int nw;
  lua_settop(L, 3);
  luaL_checkstack(L, 20, "thread_done");
  setnilvalue(&nilv);
  setobj(L, &T, s2v(L->ci->func + 1));
  setobj(L, &r1, s2v(L->ci->func + 2));
  /* the case, decided by reads alone */
  if (!ttisnil(s2v(L->ci->func + 3))) goto lua;
  if (!(ttisnil(&r1) || ttisboolean(&r1) || ttisnumber(&r1) || ttisstring(&r1))) goto lua;
  if (!ttistable(&T)) goto lua;
  getf(L, &T, K(proc), &P);
  if (!ttistable(&P)) goto lua;
  getf(L, &P, K(main), &x);
  if (!raweq(&x, &T)) goto lua;
  getf(L, &P, K(nthreads), &x);
  if (!(ttisinteger(&x) && ivalue(&x) == 1)) goto lua;
  getf(L, &P, K(alive), &x);
  if (l_isfalse(&x)) goto lua;
  D = defaults_of(L, &P);  /* (ldefaults.h) the reads below run nothing: D stays P's defaults */
  getfd(L, &P, D, K(results), &x); if (!ttisnil(&x)) goto lua;
  getfd(L, &P, D, K(execs), &x); if (!l_isfalse(&x)) goto lua;
  getfd(L, &P, D, K(exit_err), &x); if (!ttisnil(&x)) goto lua;
  getfd(L, &P, D, K(finalized), &x); if (!l_isfalse(&x)) goto lua;
  getfd(L, &P, D, K(home), &x); if (!l_isfalse(&x)) goto lua;
  getfd(L, &P, D, K(on_exit), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, V(run), K(cur), &x); if (!l_isfalse(&x)) goto lua;
  /* the watchers (a set, or the one watcher itself: pids.lua watch): none, a JS watcher (nw 2), or
  ** a live local process W (nw 1) */
  getfd(L, &P, D, K(watchers), &x);
  if (ttistable(&x)) nw = upto2(L, &x, &w1);
  else { nw = 1; setobj(L, &w1, &x); }
  if (nw < 0 || nw > 1) goto lua;
  if (nw == 1 && ttisnumber(&w1)) nw = 2;  /* a JS exit watcher (a job): one "jx" frame */
  else if (nw == 1) {
    if (!ttisstring(&w1)) goto lua;
    getv(L, V(exec_waits), &w1, &x); if (!l_isfalse(&x)) goto lua;
    getv(L, V(procs), &w1, &W);
    if (!ttistable(&W)) goto lua;
    DW = defaults_of(L, &W);
    getfd(L, &W, DW, K(home), &x); if (!l_isfalse(&x)) goto lua;
    getfd(L, &W, DW, K(alive), &x); if (l_isfalse(&x)) goto lua;
    getfd(L, &W, DW, K(heard), &x); if (!l_isfalse(&x)) goto lua;
  }
  getfd(L, &P, D, K(subs), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getfd(L, &P, D, K(names), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getfd(L, &P, D, K(links), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getfd(L, &P, D, K(monitoring), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  if (nw == 1) push(L, &W); else lua_pushnil(L);  /* 4: anchored */
  push(L, &P);  /* 5: anchored */
  /* thread_done: P.nthreads = P.nthreads - 1 (the main thread is not in P.threads) */
  setivalue(&x, 0);
  setf(L, &P, K(nthreads), &x);
  /* exit(P, r1, nil) */
  setbfvalue(&x);
  setf(L, &P, K(alive), &x);
  if (!ttisnil(&r1)) setf(L, &P, K(exit_value), &r1);
  /* finalize(P) */
  setbtvalue(&x);
  setf(L, &P, K(finalized), &x);
  /* pids.lua's remove(P): procs[P.pid] = nil, nprocs - 1 */
  getf(L, &P, K(pid), &x);
  setv(L, V(procs), &x, &nilv);
  uvadd(L, X->u_nprocs, -1);
  getf(L, V(H), K(dead), &f);
  getf(L, &P, K(uniq), &x);
  if (!luaW_dead_direct(X->hf, &f, &x)) {  /* not the host's own: the call */
    push(L, &f);
    push(L, &x);
    lua_call(L, 1, 0);
  }
  count_load(L, X->hf, V(run), V(H), K(dload), K(load_add), -1);
  /* notify_exit(P) */
  setobj(L, &y, V(notifying));  /* outer */
  push(L, &y);  /* 6: anchored */
  setuv(L, X->u_notifying, &P);
  if (nw == 2) {  /* post_jx(w1, nil, nil, r1) */
    push(L, &w1); lua_pushnil(L); lua_pushnil(L); push(L, &r1);
    callf(L, V(post_jx), 4, 0);
  } else if (nw == 1) {
    Ev *E;
    getf(L, &P, K(pid), &pid);
    push(L, &pid);  /* 7 */
    step_wall(L, V(run), V(H), K(wall), &at);
    if (!ttisnil(&r1)) {  /* { value = v }: a copy of the shape's template (lshape.h) */
      Table *t = luaW_shape_make(L, &X->res_shape);  /* 8 */
      luaW_shape_set(L, t, &X->res_shape, 0, &r1);
      sethvalue(L, &res, t);
    } else {
      lua_createtable(L, 0, 1);  /* { } */
      sethvalue(L, &res, hvalue(s2v(L->top - 1)));
    }
    if (!ttisnil(V(EV_EXIT)) && !ttisnil(&at)) {  /* { kind, from, at, result }: the same */
      Table *t = luaW_shape_make(L, &X->ev_shape);  /* 9 */
      luaW_shape_set(L, t, &X->ev_shape, 0, V(EV_EXIT));
      luaW_shape_set(L, t, &X->ev_shape, 1, &pid);
      luaW_shape_set(L, t, &X->ev_shape, 2, &at);
      luaW_shape_set(L, t, &X->ev_shape, 3, &res);
      sethvalue(L, &ev, t);
      luaC_checkGC(L);
    } else ev_steps(L, X, &pid, &at, &res, &ev);
    /* send_event(w1, ev, own) -> deliver_event(W, ev): EXIT */
    setobj(L, &W, s2v(L->ci->func + 4));
    getf(L, &W, K(monitoring), &x);
    setv(L, &x, &pid, &nilv);
    /* arrive_event(W, ev): levent.c's, called here (no call through Lua), else the function */
    setobj(L, &W, s2v(L->ci->func + 4));
    if ((E = luaW_arrive_event_of(V(arrive_event))) != NULL) luaW_arrive_event_at(L, E, &W, &ev);
    else {
      push(L, &W);
      push(L, &ev);
      callf(L, V(arrive_event), 2, 0);
    }
  }
  setobj(L, &P, s2v(L->ci->func + 5));
  setbtvalue(&x);
  setf(L, &P, K(notified), &x);
  setuv(L, X->u_notifying, s2v(L->ci->func + 6));
  /* copool.lua's give(T.co, P) (nothing without rebind): on its stack, up to MAX */
  if (!ttisnil(V(rebind))) {
    const TValue *stk = costack(L, &P, K(budget), V(mem_cap_kb), V(hooked), V(plain));
    TValue sv;
    setobj(L, &sv, stk);
    getf(L, &sv, K(n), &x);
    if (lt(L, &x, V(MAX))) {
      setivalue(&y, 1);
      arith(L, LUA_OPADD, &x, &y, &x);
      if (!ttisinteger(&x)) luaL_error(L, "kernel: copool.lua's stack top is not an integer");
      setobj(L, &T, s2v(L->ci->func + 1));
      getf(L, &T, K(co), &f);
      seti(L, &sv, ivalue(&x), &f);
      setf(L, &sv, K(n), &x);
    }
    /* the records kept for a later spawn (lrecpool.h) when P ran one resume: its main thread
    ** ran from its start to its return at once, so it never parked, yielded or queued again */
    geti(L, &P, 1, &x);
    if (ttisinteger(&x) && ivalue(&x) == 1) {
      setobj(L, &T, s2v(L->ci->func + 1));
      luaW_recpool_give(L, V(qpool), K(n), V(MAX), &P);
      luaW_recpool_give(L, V(tpool), K(n), V(MAX), &T);
    }
  }
  return 0;
lua:
  return luaW_calllua(L, V(thread_done), 3);
}

/* exiter(lifecycle_probe, copool_probe, pids_probe) -> thread_done: Lua closures whose upvalues
** include every name of XUPVALS */
int luaW_exiter (lua_State *L) {
  Exit *X = PROBE_NEW(L, 3, 1, Exit, thread_done, "exiter");
  TValue tr, ev;
  TString *ek[4], *rk[1];
  int anchor;
  X->hf = luaW_hostfns(L);
  /* the templates of the event's and its result's shapes (lshape.h), placeholders for values */
  luaW_shape_anchor(L, lua_gettop(L));
  anchor = lua_gettop(L);
  setbtvalue(&tr);
  lua_createtable(L, 0, 4);
  sethvalue(L, &ev, hvalue(s2v(L->top - 1)));
  setf(L, &ev, K(kind), &tr);
  setf(L, &ev, K(from), &tr);
  setf(L, &ev, K(at), &tr);
  setf(L, &ev, K(result), &tr);
  ek[0] = K(kind); ek[1] = K(from); ek[2] = K(at); ek[3] = K(result);
  luaW_shape_init(L, &X->ev_shape, anchor, ek, 4);
  lua_createtable(L, 0, 1);
  sethvalue(L, &ev, hvalue(s2v(L->top - 1)));
  setf(L, &ev, K(value), &tr);
  rk[0] = K(value);
  luaW_shape_init(L, &X->res_shape, anchor, rk, 1);
  lua_pop(L, 1);
  return 1;
}

#undef V
#undef K


