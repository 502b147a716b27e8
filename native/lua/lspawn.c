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
  X(run) X(procs) X(exec_waits) X(notifying) X(arrive) X(give_co) X(H) X(EV_EXIT) X(remove) \
  X(thread_done) X(EVENTS_TOPIC)
#define XKEYS(X) \
  X(proc) X(main) X(threads) X(nthreads) X(alive) X(exit_value) X(results) X(execs) X(exit_err) \
  X(finalized) X(subs) X(home) X(names) X(links) X(monitoring) X(on_exit) X(watchers) X(heard) \
  X(cur) X(pid) X(uniq) X(dead) X(wall) X(dload) X(load_add) X(kind) X(from) X(at) X(result) \
  X(value) X(topic) X(ev) X(n) X(notified) X(co)

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

/* lifecycle.lua's step_wall(): the step's wall clock in seconds (run.wall, read once per step) */
static void step_wall (lua_State *L, Exit *X, TValue *out) {
  TValue w, e9;
  getf(L, V(run), K(wall), &w);
  if (ttisnil(&w) || (ttisinteger(&w) && ivalue(&w) == 0) || (ttisfloat(&w) && fltvalue(&w) == 0)) {
    int store = !ttisnil(&w);
    hostcall0(L, V(H), K(wall), &w);
    setfltvalue(&e9, 1e9);
    arith(L, LUA_OPDIV, &w, &e9, &w);
    if (store) setf(L, V(run), K(wall), &w);
  }
  setobj(L, out, &w);
}

/* lifecycle.lua's count_load(-1) */
static void uncount (lua_State *L, Exit *X) {
  TValue n, one, zero, f;
  setivalue(&one, 1);
  setivalue(&zero, 0);
  getf(L, V(run), K(dload), &n);
  if (ttisnil(&n)) {
    getf(L, V(H), K(load_add), &f);
    push(L, &f);
    lua_pushinteger(L, -1);
    lua_call(L, 1, 0);
    return;
  }
  arith(L, LUA_OPSUB, &n, &one, &n);
  if (luaV_lessthan(L, &zero, &n)) {
    getf(L, V(H), K(load_add), &f);
    push(L, &f);
    push(L, &n);
    lua_call(L, 1, 0);
    setivalue(&n, 0);
  }
  setf(L, V(run), K(dload), &n);
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
  push(L, &P);
  callf(L, V(remove), 1, 0);
  getf(L, V(H), K(dead), &f);
  push(L, &f);
  getf(L, &P, K(uniq), &x);
  push(L, &x);
  lua_call(L, 1, 0);
  uncount(L, X);
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
    step_wall(L, X, &at);
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
  /* give_co(T.co, P) */
  if (!ttisnil(V(give_co))) {
    setobj(L, &T, s2v(L->ci->func + 1));
    getf(L, &T, K(co), &x);
    push(L, &x);
    push(L, &P);
    callf(L, V(give_co), 2, 0);
  }
  return 0;
lua:
  return luaW_calllua(L, V(thread_done), 3);
}

/* exiter(probe) -> thread_done: probe is a Lua closure whose upvalues include every name of XUPVALS */
static int exiter (lua_State *L) {
  PROBE_NEW(L, 1, 1, Exit, thread_done, "exiter");
  return 1;
}

#undef V
#undef K

/* pushes { exiter } (lwippy.c puts it into wippy.native as `spawn`) */
int luaW_open_spawn (lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, exiter);
  lua_setfield(L, -2, "exiter");
  return 1;
}
