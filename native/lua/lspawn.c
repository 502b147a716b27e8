/*
** lspawn.c: a process's start and end in C for the common case (`wippy.native.spawn`, opened by
** lwippy.c): { exiter, spawner }.
**
** What it owns: nothing. The state is the kernel's Lua tables (process records, thread records,
** the process table `procs`, the sets) and the locals of the kernel modules that own them, found
** by name among the upvalues of a `probe` closure of each (lprobe.h), as lsched.c and lsend.c find
** theirs; fields go through lfield.h (the VM's own steps, metamethods included). Every case the C
** does not own is handed, before anything changes, to the Lua function it mirrors, with the
** arguments as they came.
**
** exiter(probe) -> thread_done: lifecycle.lua's thread_done(T, r1, r2) for a process whose main
** thread returned a scalar and whose exit tells at most one watcher, a live process of this
** worker: thread_done -> exit -> finalize -> notify_exit -> send_event -> deliver_event, the same
** steps in the same order, in one C call. It owns the case when every one of these holds (reads
** alone): T is its process P's main thread and P's only thread (nthreads 1); r2 is nil and r1 is
** nil, a boolean, a number or a string (its own copy); P is alive, has no `results` (a function
** frame), no `execs`, no `exit_err`, is not finalized, has no `home`, no `on_exit`, and its
** `subs`, `names`, `links` and `monitoring` are empty; no thread is being resumed (run.cur nil:
** the scheduler calls thread_done after the resume); its watchers are none, or one PID string
** that is no exec waiter and names a live process W of this worker (procs[w], no `home`, `alive`)
** that has no spawn out on another host (W.heard nil). Then, in order: P.threads[T] = nil,
** P.nthreads - 1; P.alive = false, P.exit_value = r1 (not a nil); P.finalized = true; the Lua
** remove(P) (pids.lua); H.dead(P.uniq); count_load(-1) (run.dload's steps); with a watcher: the
** event { kind = EXIT, from = P.pid, at = step_wall(), result = { value = r1 } } (step_wall's
** steps: run.wall, read once per step), W.monitoring[P.pid] = nil, and the Lua arrive(W,
** { topic = "@pid/events", ev = ev, n = 0 }) (mailbox.lua: the record's route is the mailbox's);
** `notifying` = P around it, as notify_exit sets it; P.notified = true; then the Lua give_co(T.co,
** P) (copool.lua). Anything else is the Lua thread_done's.
**
** Why, measured: a spawn+exit's exit was ~230 VM instructions in 12 Lua calls (thread_done, exit,
** finalize, notify_exit, exit_result, step_wall, send_event, deliver_event, count_load, remove,
** give_co, arrive); docs/design/native-core.md, "The cost of a spawn", session 10.
**
** What it may call: the Lua remove, arrive and give_co, the host's dead and wall, and
** metamethods. On wasmoon's module (no wippy.native) and with WIPPY_CSCHED=0 the Lua runs;
** test/native-spawn.test.ts runs both on the same seeded sequences.
*/
#include "lprobe.h"

/* lifecycle.lua's locals (its probe's upvalues) */
#define XUPVALS(X) \
  X(run) X(procs) X(exec_waits) X(notifying) X(arrive) X(H) X(EV_EXIT) X(thread_done) \
  X(EVENTS_TOPIC) X(nprocs) X(rebind) X(hooked) X(plain) X(mem_cap_kb) X(MAX)
#define XKEYS(X) \
  X(proc) X(main) X(threads) X(nthreads) X(alive) X(exit_value) X(results) X(execs) X(exit_err) \
  X(finalized) X(subs) X(home) X(names) X(links) X(monitoring) X(on_exit) X(watchers) X(heard) \
  X(cur) X(pid) X(uniq) X(dead) X(wall) X(dload) X(load_add) X(kind) X(from) X(at) X(result) \
  X(value) X(topic) X(ev) X(n) X(notified) X(co) X(budget)

typedef struct Exit {
  XUPVALS(PROBE_UV_FIELD)
  XKEYS(PROBE_KEY_FIELD)
} Exit;

#define UV_ENTRY(name) PROBE_ENTRY(Exit, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Exit, k_, name)
static const ProbeEntry uv_entries[] = { XUPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { XKEYS(KEY_ENTRY) };
#undef UV_ENTRY
#undef KEY_ENTRY

#define V(name) (X->u_##name->v)
#define K(name) (X->k_##name)

/* t[k] = v (SETTABLE's steps: the raw slot, else luaV_finishset with metamethods) */
static void setv (lua_State *L, const TValue *t, const TValue *k, TValue *v) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    Table *h = hvalue(t);
    slot = luaH_get(h, k);
    if (!isempty(slot)) {
      setobj2t(L, cast(TValue *, slot), v);
      luaC_barrierback(L, obj2gco(h), v);
      return;
    }
  }
  setobj(L, &key, k);
  luaV_finishset(L, t, &key, v, slot);
}

/* the number of keys of table t, counted up to 2 (next's walk); -1 if t is not a table */
static int upto2 (lua_State *L, const TValue *t, TValue *first) {
  int n = 0;
  if (!ttistable(t)) return -1;
  push(L, t);
  lua_pushnil(L);
  while (n < 2 && lua_next(L, -2)) {
    if (n == 0 && first) setobj(L, first, s2v(L->top - 2));
    n++;
    lua_pop(L, 1);
  }
  lua_settop(L, lua_gettop(L) - (n < 2 ? 1 : 2));
  return n;
}

/* call the Lua function f with the nargs values on top, nres results */
static void callf (lua_State *L, const TValue *f, int nargs, int nres) {
  push(L, f);
  lua_insert(L, -(nargs + 1));
  lua_call(L, nargs, nres);
}

/* out = H.<k>() */
static void hostcall0 (lua_State *L, const TValue *H, TString *k, TValue *out) {
  TValue f;
  getf(L, H, k, &f);
  push(L, &f);
  lua_call(L, 0, 1);
  setobj(L, out, s2v(L->top - 1));
  lua_pop(L, 1);
}

/* lifecycle.lua's step_wall(): the step's wall clock in seconds (run.wall, read once per step; no
** run.wall: H.wall() each time, as the kernel tests' fakes have it) */
static void step_wall (lua_State *L, const TValue *run, const TValue *H, TString *kwall, TValue *out) {
  TValue w, e9;
  getf(L, run, kwall, &w);
  if (ttisnil(&w) || (ttisinteger(&w) && ivalue(&w) == 0) || (ttisfloat(&w) && fltvalue(&w) == 0)) {
    int store = !ttisnil(&w);
    hostcall0(L, H, kwall, &w);
    setfltvalue(&e9, 1e9);
    arith(L, LUA_OPDIV, &w, &e9, &w);
    if (store) setf(L, run, kwall, &w);
  }
  setobj(L, out, &w);
}

/* lifecycle.lua's count_load(d), d = 1 or -1: run.dload's steps (none: H.load_add(d) at once) */
static void count_load (lua_State *L, const TValue *run, const TValue *H, TString *kdload,
                        TString *kload_add, lua_Integer d) {
  TValue n, dv, zero, f;
  setivalue(&dv, d);
  setivalue(&zero, 0);
  getf(L, run, kdload, &n);
  if (ttisnil(&n)) {
    getf(L, H, kload_add, &f);
    push(L, &f);
    push(L, &dv);
    lua_call(L, 1, 0);
    return;
  }
  arith(L, LUA_OPADD, &n, &dv, &n);
  if (luaV_lessthan(L, &zero, &n)) {
    getf(L, H, kload_add, &f);
    push(L, &f);
    push(L, &n);
    lua_call(L, 1, 0);
    setivalue(&n, 0);
  }
  setf(L, run, kdload, &n);
}

/* *uv = *uv + d for an integer-valued upvalue (pids.lua's counts) */
static void uvadd (lua_State *L, UpVal *uv, lua_Integer d) {
  TValue dv, x;
  setivalue(&dv, d);
  arith(L, LUA_OPADD, uv->v, &dv, &x);
  setuv(L, uv, &x);
}

/* copool.lua's stack for P's coroutines: (P.budget or mem_cap_kb) and hooked or plain */
static const TValue *costack (lua_State *L, const TValue *P, TString *kbudget, const TValue *mem_cap_kb,
                              const TValue *hooked, const TValue *plain) {
  TValue b;
  getf(L, P, kbudget, &b);
  return (!l_isfalse(&b) || !l_isfalse(mem_cap_kb)) ? hooked : plain;
}

/* thread_done(T, r1, r2) (see the top); upvalue 1: the Exit */
static int thread_done (lua_State *L) {
  Exit *X = (Exit *)lua_touserdata(L, lua_upvalueindex(1));
  TValue T, P, r1, x, y, w1, W, nilv, f, pid, ev, res, at;
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
  if (!luaV_rawequalobj(&x, &T)) goto lua;
  getf(L, &P, K(nthreads), &x);
  if (!(ttisinteger(&x) && ivalue(&x) == 1)) goto lua;
  getf(L, &P, K(alive), &x);
  if (l_isfalse(&x)) goto lua;
  getf(L, &P, K(results), &x); if (!ttisnil(&x)) goto lua;
  getf(L, &P, K(execs), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, &P, K(exit_err), &x); if (!ttisnil(&x)) goto lua;
  getf(L, &P, K(finalized), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, &P, K(home), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, &P, K(on_exit), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, V(run), K(cur), &x); if (!l_isfalse(&x)) goto lua;
  getf(L, &P, K(subs), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getf(L, &P, K(names), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getf(L, &P, K(links), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getf(L, &P, K(monitoring), &x); if (upto2(L, &x, NULL) != 0) goto lua;
  getf(L, &P, K(watchers), &x);
  nw = upto2(L, &x, &w1);
  if (nw < 0 || nw > 1) goto lua;
  if (nw == 1) {
    if (!ttisstring(&w1)) goto lua;
    getv(L, V(exec_waits), &w1, &x); if (!l_isfalse(&x)) goto lua;
    getv(L, V(procs), &w1, &W);
    if (!ttistable(&W)) goto lua;
    getf(L, &W, K(home), &x); if (!l_isfalse(&x)) goto lua;
    getf(L, &W, K(alive), &x); if (l_isfalse(&x)) goto lua;
    getf(L, &W, K(heard), &x); if (!l_isfalse(&x)) goto lua;
    push(L, &W);  /* 4: anchored */
  } else lua_pushnil(L);
  push(L, &P);  /* 5: anchored */
  /* thread_done: P.threads[T] = nil; P.nthreads = P.nthreads - 1 */
  getf(L, &P, K(threads), &x);
  setv(L, &x, &T, &nilv);
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
  push(L, &f);
  getf(L, &P, K(uniq), &x);
  push(L, &x);
  lua_call(L, 1, 0);
  count_load(L, V(run), V(H), K(dload), K(load_add), -1);
  /* notify_exit(P) */
  setobj(L, &y, V(notifying));  /* outer */
  push(L, &y);  /* 6: anchored */
  setuv(L, X->u_notifying, &P);
  if (nw == 1) {
    TValue m;
    getf(L, &P, K(pid), &pid);
    push(L, &pid);  /* 7 */
    lua_createtable(L, 0, 1);  /* { value = v } */
    sethvalue(L, &res, hvalue(s2v(L->top - 1)));
    if (!ttisnil(&r1)) setf(L, &res, K(value), &r1);  /* 8 */
    step_wall(L, V(run), V(H), K(wall), &at);
    lua_createtable(L, 0, 4);  /* { kind, from, at, result } */
    sethvalue(L, &ev, hvalue(s2v(L->top - 1)));  /* 9 */
    setf(L, &ev, K(kind), V(EV_EXIT));
    setf(L, &ev, K(from), &pid);
    setf(L, &ev, K(at), &at);
    setf(L, &ev, K(result), &res);
    /* send_event(w1, ev, own) -> deliver_event(W, ev): EXIT */
    setobj(L, &W, s2v(L->ci->func + 4));
    getf(L, &W, K(monitoring), &x);
    setv(L, &x, &pid, &nilv);
    lua_createtable(L, 0, 3);  /* { topic = "@pid/events", ev = ev, n = 0 } */
    sethvalue(L, &m, hvalue(s2v(L->top - 1)));  /* 10 */
    setf(L, &m, K(topic), V(EVENTS_TOPIC));
    setf(L, &m, K(ev), &ev);
    setivalue(&x, 0);
    setf(L, &m, K(n), &x);
    setobj(L, &W, s2v(L->ci->func + 4));
    push(L, &W);
    lua_insert(L, -2);
    callf(L, V(arrive), 2, 0);
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
    if (luaV_lessthan(L, &x, V(MAX))) {
      setivalue(&y, 1);
      arith(L, LUA_OPADD, &x, &y, &x);
      if (!ttisinteger(&x)) luaL_error(L, "kernel: copool.lua's stack top is not an integer");
      setobj(L, &T, s2v(L->ci->func + 1));
      getf(L, &T, K(co), &f);
      seti(L, &sv, ivalue(&x), &f);
      setf(L, &sv, K(n), &x);
    }
  }
  return 0;
lua:
  return luaW_calllua(L, V(thread_done), 3);
}

/* exiter(lifecycle_probe, copool_probe, pids_probe) -> thread_done: Lua closures whose upvalues
** include every name of XUPVALS */
static int exiter (lua_State *L) {
  PROBE_NEW(L, 3, 1, Exit, thread_done, "exiter");
  return 1;
}

#undef V
#undef K


/*
** spawner(f, spawn_probe, process_probe, monitor, link) -> spawn: process.lua's spawn variant f
** (process.spawn, spawn_monitored, spawn_linked, spawn_linked_monitored: monitor and link its
** flags) with spawn.lua's spawn_from and start_here for a process.lua entry started here.
*/
#define SUPVALS(X) \
  X(HOSTS) X(HOST) X(MULTI) X(entries) X(bodies) X(lua_body) X(validated) X(shutdown_deadline) \
  X(H) X(SELF) X(proc_meta) X(meta_of) X(fmt_pid) X(NONE) X(run) X(make_env) X(compile) \
  X(c_failed) X(strict) X(copy) X(procs) X(nprocs) X(started) X(runq) X(rq_tail) X(chook) \
  X(mem_cap_kb) X(rebind) X(co_create) X(hooked) X(plain)
#define SKEYS(X) \
  X(cp) X(ctx_actor) X(ctx_scope) X(ctx) X(security) X(kind) X(pid) X(uniq) X(id) X(host) \
  X(alive) X(nthreads) X(nrun) X(red) X(st) X(entry) X(method) X(watchers) X(links) \
  X(monitoring) X(heard) X(notified) X(pid_alloc) X(wall) X(dload) X(load_add) X(terminal) \
  X(__index) X(main) X(budget) X(threads) X(co) X(proc) X(n) X(a1) X(a2)

typedef struct Spawn {
  SUPVALS(PROBE_UV_FIELD)
  SKEYS(PROBE_KEY_FIELD)
  int monitor, link;
} Spawn;

#define UV_ENTRY(name) PROBE_ENTRY(Spawn, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Spawn, k_, name)
static const ProbeEntry s_uv_entries[] = { SUPVALS(UV_ENTRY) };
static const ProbeEntry s_key_entries[] = { SKEYS(KEY_ENTRY) };
#undef UV_ENTRY
#undef KEY_ENTRY

#define V(name) (S->u_##name->v)
#define K(name) (S->k_##name)
#define SLOT(i) s2v(L->ci->func + (i))

/* the stack of spawn (see spawn_at) */
enum { A_ID = 1, A_HOST, A_1, A_2, A_P, A_HOSTREC, A_ENT, A_CODE, A_PID, A_Q, A_PREV, A_MOD };

/* the continuation of the Lua spawn variant: its results */
static int lua_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return lua_gettop(L);
}

/* return f(...) with the nargs arguments as they came (f: the record's uservalue 1) */
static int spawn_lua (lua_State *L, int nargs) {
  lua_settop(L, nargs);
  lua_getiuservalue(L, lua_upvalueindex(1), 1);
  lua_insert(L, 1);
  lua_callk(L, nargs, LUA_MULTRET, 0, lua_k);
  if (lua_status(L) == LUA_YIELD) return 0;  /* a fast yield inside: only return (patch 0003) */
  return lua_k(L, LUA_OK, 0);
}

/* P[k] = { [v] = true } (a set made with its member) */
static void newset (lua_State *L, const TValue *P, TString *k, const TValue *v) {
  TValue t, tr;
  lua_createtable(L, 0, 1);
  sethvalue(L, &t, hvalue(s2v(L->top - 1)));
  setbtvalue(&tr);
  setv(L, &t, v, &tr);
  setf(L, P, k, &t);
  lua_pop(L, 1);
}

static int spawn_k (lua_State *L, int status, lua_KContext ctx);

/* copool.lua's take(fn, P) with fn on top (replaced by the coroutine): a kept coroutine that
** rebind made to run fn, else coroutine.create(fn) */
static void take_co (lua_State *L, Spawn *S, const TValue *P) {
  TValue sv, nv, co, fn;
  lua_Integer n;
  setobj(L, &fn, s2v(L->top - 1));
  if (!ttisnil(V(rebind))) {
    setobj(L, &sv, costack(L, P, K(budget), V(mem_cap_kb), V(hooked), V(plain)));
    getf(L, &sv, K(n), &nv);
    if (!ttisinteger(&nv)) luaL_error(L, "kernel: copool.lua's stack top is not an integer");
    n = ivalue(&nv);
    while (n > 0) {
      TValue nilv;
      geti(L, &sv, n, &co);
      setnilvalue(&nilv);
      push(L, &co);  /* anchored */
      seti(L, &sv, n, &nilv);
      n--;
      if (!l_isfalse(&co)) {
        push(L, V(rebind)); push(L, &co); push(L, &fn);
        lua_call(L, 2, 1);
        if (lua_toboolean(L, -1)) {
          lua_pop(L, 1);
          setivalue(&nv, n);
          setf(L, &sv, K(n), &nv);
          lua_replace(L, -2);  /* the coroutine in fn's place */
          return;
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    setivalue(&nv, 0);
    setf(L, &sv, K(n), &nv);
  }
  push(L, V(co_create));
  lua_insert(L, -2);
  lua_call(L, 1, 1);
}

/* sched.lua's new_thread(Q, main, nil, n, a1, a2) with main at A_MOD + 1 and a1, a2 at A_1, A_2:
** the coroutine (hooked if Q's host sets a budget or the worker a memory cap: the C count hook),
** the thread record with the keys it holds, Q.threads, Q.nthreads, queued. *T: the record, also
** left on top. */
static void new_thread (lua_State *L, Spawn *S, const TValue *Q, int n, TValue *T) {
  TValue co, x, ts, one, tr;
  push(L, SLOT(A_MOD + 1));
  take_co(L, S, Q);
  setobj(L, &co, s2v(L->top - 1));  /* anchored */
  getf(L, Q, K(budget), &x);
  if (!l_isfalse(&x) || !l_isfalse(V(mem_cap_kb))) {
    if (ttisnil(V(chook))) luaL_error(L, "kernel: a hooked process without the C count hook");
    push(L, V(chook)); push(L, &co);
    lua_call(L, 1, 0);
  }
  lua_createtable(L, 0, n == 2 ? 5 : 4);
  sethvalue(L, T, hvalue(s2v(L->top - 1)));
  setf(L, T, K(co), &co);
  lua_replace(L, -2);  /* the record in the coroutine's place (it holds it) */
  setf(L, T, K(proc), (TValue *)Q);
  setivalue(&x, n);
  setf(L, T, K(n), &x);
  if (n >= 1) setf(L, T, K(a1), SLOT(A_1));
  if (n == 2) setf(L, T, K(a2), SLOT(A_2));
  setbtvalue(&tr);
  getf(L, Q, K(threads), &ts);
  if (!l_isfalse(&ts)) setv(L, &ts, T, &tr);
  else {
    lua_createtable(L, 0, 1);
    sethvalue(L, &ts, hvalue(s2v(L->top - 1)));
    setv(L, &ts, T, &tr);
    setf(L, Q, K(threads), &ts);
    lua_pop(L, 1);
  }
  setivalue(&one, 1);
  getf(L, Q, K(nthreads), &x);
  arith(L, LUA_OPADD, &x, &one, &x);
  setf(L, Q, K(nthreads), &x);
  getf(L, Q, K(nrun), &x);
  arith(L, LUA_OPADD, &x, &one, &x);
  setf(L, Q, K(nrun), &x);
  arith(L, LUA_OPADD, V(rq_tail), &one, &x);
  if (!ttisinteger(&x)) luaL_error(L, "kernel: sched.lua's rq_tail is not an integer");
  setuv(L, S->u_rq_tail, &x);
  seti(L, V(runq), ivalue(&x), T);
}

/* spawn(id, host, ...) (see the top); upvalue 1: the Spawn */
static int spawn (lua_State *L) {
  Spawn *S = (Spawn *)lua_touserdata(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L), n = nargs - 2, i;
  TValue P, x, y, hostrec, Ent, body, code, mt, uniq, pid, Q, st, w, zero, tr;
  luaL_checkstack(L, 24, "spawn");
  /* the case, decided by reads (and the arguments' copies) alone */
  if (n < 0 || n > 2 || !lua_isyieldable(L)) goto lua;
  if (!ttisstring(SLOT(A_ID)) || !ttisstring(SLOT(A_HOST))) goto lua;
  getf(L, V(run), K(cp), &P);
  if (!ttistable(&P)) goto lua;
  /* init.lua's check: allowed without a decision */
  if (!l_isfalse(V(strict))) goto lua;
  getf(L, &P, K(ctx_actor), &x);
  if (!ttisnil(&x)) {
    getf(L, &P, K(ctx_scope), &y);
    if (!ttisnil(&y)) goto lua;
  }
  getf(L, &P, K(ctx), &x); if (!ttisnil(&x)) goto lua;  /* the child inherits a context */
  getf(L, &P, K(heard), &x); if (!ttisnil(&x)) goto lua;
  getf(L, &P, K(notified), &x); if (!l_isfalse(&x)) goto lua;
  if (!l_isfalse(V(MULTI)) || !ttisnil(V(shutdown_deadline))) goto lua;
  if (!luaV_rawequalobj(SLOT(A_HOST), V(HOST))) goto lua;
  getv(L, V(HOSTS), SLOT(A_HOST), &hostrec);
  if (!ttistable(&hostrec)) goto lua;
  getf(L, &hostrec, K(security), &x); if (!l_isfalse(&x)) goto lua;
  getv(L, V(entries), SLOT(A_ID), &Ent);
  if (!ttistable(&Ent)) goto lua;
  getf(L, &Ent, K(kind), &x);
  getv(L, V(bodies), &x, &body);
  if (!luaV_rawequalobj(&body, V(lua_body))) goto lua;
  /* the process record's metatable (meta_of: made once per host) and its terminal flag */
  getv(L, V(proc_meta), &hostrec, &mt);
  if (l_isfalse(&mt)) {
    push(L, V(meta_of)); push(L, &hostrec);
    lua_call(L, 1, 1);
    setobj(L, &mt, s2v(L->top - 1));
    lua_pop(L, 1);  /* kept by proc_meta */
  }
  if (!ttistable(&mt)) goto lua;
  getf(L, &mt, K(__index), &x);
  getf(L, &x, K(terminal), &y);
  if (!l_isfalse(&y)) goto lua;  /* a terminal's process keeps its arguments (P.args) */
  /* the arguments, copied (the codec's copy: data only; a refusal is the Lua's error) */
  lua_settop(L, A_2);
  for (i = A_1; i < A_1 + n; i++) {
    TValue *a = SLOT(i);
    if (ttisnil(a) || ttisboolean(a) || ttisnumber(a) || ttisstring(a)) continue;
    push(L, V(copy)); push(L, a);
    lua_call(L, 1, 2);
    if (!ttisnil(s2v(L->top - 1))) { lua_settop(L, A_2); lua_pop(L, 2 - n); goto lua; }
    lua_pop(L, 1);
    lua_replace(L, i);
  }
  /* prepare: the entry's chunk, compiled once per worker (its failure is the Lua's error) */
  push(L, V(compile)); push(L, &Ent); push(L, SLOT(A_ID));
  lua_call(L, 2, 1);
  setobj(L, &code, s2v(L->top - 1));
  lua_pop(L, 1);
  if (l_isfalse(&code)) { lua_settop(L, A_2); lua_pop(L, 2 - n); goto lua; }
  push(L, &P);  /* A_P */
  push(L, &hostrec);  /* A_HOSTREC */
  push(L, &Ent);  /* A_ENT */
  push(L, &code);  /* A_CODE */
  /* from here on the spawn is the C's: the PID */
  getf(L, V(H), K(pid_alloc), &x);
  push(L, &x); push(L, V(SELF));
  lua_call(L, 1, 1);
  setobj(L, &uniq, s2v(L->top - 1));
  lua_pop(L, 1);
  if (ttisinteger(&uniq) && ivalue(&uniq) >= 0) {  /* fmt_pid's text: "{host|0x%05x}" */
    char hex[24];
    luaL_Buffer b;
    int len = snprintf(hex, sizeof hex, "|0x%05llx}", (unsigned long long)ivalue(&uniq));
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    luaL_addlstring(&b, svalue(SLOT(A_HOST)), tsslen(tsvalue(SLOT(A_HOST))));
    luaL_addlstring(&b, hex, (size_t)len);
    luaL_pushresult(&b);  /* A_PID */
  } else {
    push(L, V(fmt_pid)); push(L, SLOT(A_HOST)); push(L, &uniq);
    lua_call(L, 2, 1);  /* A_PID */
  }
  setobj(L, &pid, SLOT(A_PID));
  /* new_proc: the record (its 9 keys in one 16-slot hash part, as the constructor makes it) */
  lua_createtable(L, 0, 9);  /* A_Q */
  sethvalue(L, &Q, hvalue(s2v(L->top - 1)));
  setf(L, &Q, K(pid), &pid);
  setf(L, &Q, K(uniq), &uniq);
  setf(L, &Q, K(id), SLOT(A_ID));
  setf(L, &Q, K(host), SLOT(A_HOST));
  setbtvalue(&tr);
  setf(L, &Q, K(alive), &tr);
  setivalue(&zero, 0);
  setf(L, &Q, K(nthreads), &zero);
  setf(L, &Q, K(nrun), &zero);
  setf(L, &Q, K(red), &zero);
  lua_createtable(L, 5, 0);
  sethvalue(L, &st, hvalue(s2v(L->top - 1)));
  for (i = 1; i <= 4; i++) seti(L, &st, i, &zero);
  step_wall(L, V(run), V(H), K(wall), &w);
  seti(L, &st, 5, &w);
  setf(L, &Q, K(st), &st);
  lua_pop(L, 1);
  push(L, &mt);
  lua_setmetatable(L, A_Q);
  setf(L, &Q, K(entry), &Ent);
  /* instantiate: the chunk runs as the new process, in the caller's coroutine (yieldable) */
  getf(L, V(run), K(cp), &x);
  push(L, &x);  /* A_PREV */
  setf(L, V(run), K(cp), &Q);
  push(L, SLOT(A_CODE));  /* A_MOD: the chunk */
  push(L, V(make_env)); push(L, &Ent); push(L, &Q);
  lua_call(L, 2, 1);  /* its environment */
  {
    int status = lua_pcallk(L, 1, 1, 0, (lua_KContext)n, spawn_k);
    if (lua_status(L) == LUA_YIELD) return 0;  /* a fast yield inside the chunk (patch 0003) */
    return spawn_k(L, status, (lua_KContext)n);
  }
lua:
  return spawn_lua(L, nargs);
}

/* the rest of spawn after the chunk ran (status: pcall's; its result at A_MOD) */
static int spawn_k (lua_State *L, int status, lua_KContext ctx) {
  Spawn *S = (Spawn *)lua_touserdata(L, lua_upvalueindex(1));
  int n = (int)ctx;
  TValue Q, mod, main, x, pid, T, tr, m;
  luaL_checkstack(L, 16, "spawn");
  lua_settop(L, A_MOD);
  setf(L, V(run), K(cp), SLOT(A_PREV));
  setobj(L, &mod, SLOT(A_MOD));
  setobj(L, &Q, SLOT(A_Q));
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    goto failed;
  }
  setobj(L, &main, &mod);
  getf(L, SLOT(A_ENT), K(method), &x);
  if (!l_isfalse(&x) && !(ttisstring(&x) && tsslen(tsvalue(&x)) == 0)) {
    if (ttistable(&mod)) getv(L, &mod, &x, &main); else setnilvalue(&main);
    if (!ttisfunction(&main) && ttisfunction(&mod)) setobj(L, &main, &mod);
  }
  if (!ttisfunction(&main)) {
    lua_pushboolean(L, 1);
    goto failed;
  }
  push(L, &main);  /* A_MOD + 1: anchored */
  setobj(L, &pid, SLOT(A_PID));
  /* pids.lua's add(Q): procs[pid] = Q, nprocs + 1, started + 1 */
  setv(L, V(procs), &pid, &Q);
  uvadd(L, S->u_nprocs, 1);
  uvadd(L, S->u_started, 1);
  count_load(L, V(run), V(H), K(dload), K(load_add), 1);
  setbtvalue(&tr);
  setv(L, V(validated), SLOT(A_ID), &tr);
  /* the caller's PID, its watcher (monitor) and link: sets made with their member */
  getf(L, SLOT(A_P), K(pid), &x);
  if (S->monitor) newset(L, &Q, K(watchers), &x);
  if (S->link) newset(L, &Q, K(links), &x);
  /* the main thread, queued: sched.lua's new_thread(Q, main, nil, n, a1, a2) */
  new_thread(L, S, &Q, n, &T);
  setf(L, &Q, K(main), &T);
  lua_pop(L, 1);
  /* spawn_from: what the caller keeps (adopt's common case) */
  if (S->monitor) {
    getf(L, SLOT(A_P), K(monitoring), &m);
    if (luaV_rawequalobj(&m, V(NONE))) newset(L, SLOT(A_P), K(monitoring), &pid);
    else setv(L, &m, &pid, &tr);
  }
  if (S->link) {
    getf(L, SLOT(A_P), K(links), &m);
    if (luaV_rawequalobj(&m, V(NONE))) newset(L, SLOT(A_P), K(links), &pid);
    else setv(L, &m, &pid, &tr);
  }
  push(L, &pid);
  return 1;
failed:  /* c_failed(Ent, Q, uniq, ok, mod) -> nil, err */
  {
    TValue ok;
    setobj(L, &ok, s2v(L->top - 1));
    lua_settop(L, A_MOD);
    push(L, V(c_failed)); push(L, SLOT(A_ENT)); push(L, &Q);
    getf(L, &Q, K(uniq), &x);
    push(L, &x); push(L, &ok); push(L, &mod);
    lua_call(L, 5, 2);
    return 2;
  }
}

/* spawner(f, monitor, link, probes...) -> spawn: the probes (process.lua's, spawn.lua's,
** sched.lua's thread_probe, copool.lua's, pids.lua's) are Lua closures whose upvalues include every
** name of SUPVALS */
static int spawner (lua_State *L) {
  int monitor = lua_toboolean(L, 2), link = lua_toboolean(L, 3);
  Spawn *S;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_remove(L, 2);
  lua_remove(L, 2);
  S = (Spawn *)luaW_probe_new(L, lua_gettop(L), 2, sizeof(Spawn), s_uv_entries, PROBE_COUNT(s_uv_entries),
                               s_key_entries, PROBE_COUNT(s_key_entries), spawn, "spawner");
  S->monitor = monitor;
  S->link = link;
  return 1;
}

#undef V
#undef K

/* pushes { exiter, spawner } (lwippy.c puts it into wippy.native as `spawn`) */
int luaW_open_spawn (lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, exiter);
  lua_setfield(L, -2, "exiter");
  lua_pushcfunction(L, spawner);
  lua_setfield(L, -2, "spawner");
  return 1;
}
