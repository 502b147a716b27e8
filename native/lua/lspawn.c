/*
** lspawn.c: a spawn from a process's code in C for the common case (`wippy.native.spawn`, opened
** by lwippy.c: { spawner, exiter }; the exiter, a process's end, is lexit.c's): process.lua's spawn
** variants (spawn, spawn_monitored, spawn_linked, spawn_linked_monitored) with spawn.lua's
** spawn_from, start_here and new_proc, sched.lua's new_thread, copool.lua's take and pids.lua's
** add, the same steps in the same order over the same state, in one C call (the module's chunk
** and its environment stay Lua). Over 500 lines: one protocol (spawn and spawn_k) with the steps
** lqspawn.c shares and the key-by-key forms its table templates are made from (lshape.h).
**
** What it owns: nothing. The state is the kernel's Lua tables and the locals of the modules that
** own them: spawner(f, monitor, link, probes...) finds them by name among the upvalues of the
** probe closures of process.lua, spawn.lua (probe, qprobe), sched.lua (thread_probe), copool.lua,
** pids.lua and taskq.lua (spawn_probe) (lprobe.h), and reads and writes them where they live (sched.lua's `rq_tail`, pids.lua's
** `nprocs` and `started`); fields go through lfield.h (the VM's own steps, metamethods included).
** f is the Lua spawn variant it stands for (monitor, link: its flags). The record (lspawn.h's Spawn)
** is shared with lqspawn.c: spawner returns spawn and tstart, the start of a queued spawn.
**
** spawn(id, host, ...): it owns the case when every one of these holds (decided by reads and the
** arguments' copies alone, before anything changes): at most two arguments, each copied by the
** codec's copy (a scalar is its own copy; a refusal is the Lua's error); id and host are strings;
** run.cp is a process P allowed without a decision (no actor or no scope, the runtime not strict:
** init.lua's check), with no context to pass on (P.ctx nil), no spawn out on another host (P.heard
** nil), not told of its own exit (P.notified); no shutdown began; host is this worker's host, which
** sets no security block and is not a terminal (whose processes keep their arguments); entries[id]
** is a process.lua entry (its body is spawn.lua's Lua body). Then spawn_from's local branch:
**   - queued (a host of several workers, the entry instantiated here: validated[id]): when taskq.lua's
**     room() would say yes without a report (lqspawn.c luaW_sp_room), lqspawn.c's luaW_sp_queue
**     (queue_local in C, a flat record in the list; session 11); else the Lua;
**   - else, when the caller can yield (the module's chunk runs in its coroutine: lua_instantiate's
**     first case) and the chunk compiles, start_here's steps: H.pid_alloc(SELF),
** the PID "{host|0x%05x}" (fmt_pid's text), the record with new_proc's 9 keys (Q.entry among
** them) and five figures (a copy of a template: lshape.h, or a record an exit kept, reset to
** it: lrecpool.h), and the host's metatable (meta_of); instantiate: run.cp = Q, the Lua make_env(Ent, Q), the chunk called
** with it under lua_pcallk (a yield inside takes the fast path, patch 0003, and the rest runs in
** the continuation, spawn_k), run.cp back; main = the module's method (or the module if it is a
** function); add's steps, count_load(1), validated[id], Q.watchers (the caller's PID itself) / Q.links
** (a set made with it); new_thread's steps (copool take: a kept coroutine rebind makes fresh, else
** coroutine.create; the C count hook when the host sets a budget or the worker a memory cap; the
** thread record with only the keys it holds; nthreads, nrun; queued at rq_tail; not in Q.threads),
** Q.main; then spawn_from's adopt: P.monitoring / P.links hold the PID. A chunk that raises or
** gives no main ends in spawn.lua's c_failed (start_here's error exit: H.dead, the same messages).
** Anything else (a remote spawn, a queued one room() must look at, a context, a policy, three
** arguments or more, a terminal, a frame spawn) is the Lua variant's, called with the same
** arguments and a continuation.
**
** Why, measured: a monitored spawn was ~420 VM instructions in ~30 Lua calls (the variant, cur,
** check, spawn_from, start_here, prepare, fmt_pid, new_proc, step_wall, instantiate, make_env,
** add, count_load, new_thread, take_co); docs/design/native-core.md, "The cost of a spawn",
** session 10.
**
** What it may call: the module's chunk and its main lookup (user code, metamethods), the Lua
** make_env, compile, meta_of, fmt_pid (a uniq that is not a non-negative integer), c_failed and
** the Lua variant, the codec's copy, rebind, coroutine.create, the C count hook, and the host's
** pid_alloc and load_add (in one crossing when each is the host's own: lhostfn.c; lqspawn.c's
** too), and wall. rebind, the hook's set, make_env and compile's cache hit are taken
** without a call frame when each is the C function's own case (lproc.c, lhook.c, lenv.c export
** those steps; session 13), else called. On wasmoon's module (no wippy.native) and with WIPPY_CSCHED=0 the
** Lua runs; test/native-spawn.test.ts runs both on the same seeded sequences (one worker),
** test/native-spawn-multi.test.ts on two.
*/
#include "lspawn.h"

#define UV_ENTRY(name) PROBE_ENTRY(Spawn, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Spawn, k_, name)
static const ProbeEntry uv_entries[] = { SUPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { SKEYS(KEY_ENTRY) };
#undef UV_ENTRY
#undef KEY_ENTRY

#define V(name) (S->u_##name->v)
#define K(name) (S->k_##name)
#define SLOT(i) s2v(L->ci->func + (i))

/* spawn's stack slots: its arguments (id, host, a1, a2), then what it anchors, in this order */
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
void luaW_sp_newset (lua_State *L, const TValue *P, TString *k, const TValue *v) {
  TValue t, tr;
  lua_createtable(L, 0, 1);
  sethvalue(L, &t, hvalue(s2v(L->top - 1)));
  setbtvalue(&tr);
  setv(L, &t, v, &tr);
  setf(L, P, k, &t);
  lua_pop(L, 1);
}

static int spawn_k (lua_State *L, int status, lua_KContext ctx);

/* pushes fmt_pid's text "{host|0x%05x}" for uniq: the hex digits at least five, zero-padded, by
** hand (string.format's and snprintf's printf was ~1% of a spawn+exit's worker CPU), in one string
** made from a stack buffer for a host of up to 200 bytes */
static void push_pid (lua_State *L, TString *host, lua_Unsigned uniq) {
  char hex[20], buf[224];
  const char *hs = getstr(host);
  size_t hl = tsslen(host), nh = 0, i;
  do { hex[nh++] = "0123456789abcdef"[uniq & 15]; uniq >>= 4; } while (uniq != 0);
  while (nh < 5) hex[nh++] = '0';
  if (hl > 200) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '{');
    luaL_addlstring(&b, hs, hl);
    luaL_addstring(&b, "|0x");
    for (i = nh; i > 0; i--) luaL_addchar(&b, hex[i - 1]);
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    return;
  }
  buf[0] = '{';
  memcpy(buf + 1, hs, hl);
  memcpy(buf + 1 + hl, "|0x", 3);
  for (i = 0; i < nh; i++) buf[4 + hl + i] = hex[nh - 1 - i];
  buf[4 + hl + nh] = '}';
  lua_pushlstring(L, buf, 5 + hl + nh);
}

/* pushes fmt_pid's text for the PID of uniq on host (a non-negative integer: push_pid; else
** the Lua fmt_pid) */
void luaW_sp_pid (lua_State *L, Spawn *S, const TValue *host, const TValue *uniq) {
  if (ttisinteger(uniq) && ivalue(uniq) >= 0)
    push_pid(L, tsvalue(host), (lua_Unsigned)ivalue(uniq));
  else {
    push(L, V(fmt_pid)); push(L, host); push(L, uniq);
    lua_call(L, 2, 1);
  }
}

/* *mt = the metatable of hostrec's processes (meta_of: made once per host); -> 1 when it is a
** table whose defaults say the host is no terminal (a terminal's process keeps its arguments) */
int luaW_sp_meta (lua_State *L, Spawn *S, const TValue *hostrec, TValue *mt) {
  TValue x, y;
  getv(L, V(proc_meta), hostrec, mt);
  if (l_isfalse(mt)) {
    push(L, V(meta_of)); push(L, hostrec);
    lua_call(L, 1, 1);
    setobj(L, mt, s2v(L->top - 1));
    lua_pop(L, 1);  /* kept by proc_meta */
  }
  if (!ttistable(mt)) return 0;
  getf(L, mt, K(__index), &x);
  getf(L, &x, K(terminal), &y);
  return l_isfalse(&y);
}

/* new_proc's table, key by key: pushes the record (the process table's five figures in its array
** part, [5] the start w; its 9 keys in one 16-slot hash part, as the constructor makes it); *Q: it */
static void proc_steps (lua_State *L, Spawn *S, const TValue *pid, const TValue *uniq, const TValue *id,
                        const TValue *host, const TValue *Ent, const TValue *w, TValue *Q) {
  TValue tr, zero;
  int i;
  lua_createtable(L, 5, 9);
  sethvalue(L, Q, hvalue(s2v(L->top - 1)));
  setivalue(&zero, 0);
  for (i = 1; i <= 4; i++) seti(L, Q, i, &zero);
  seti(L, Q, 5, (TValue *)w);
  setf(L, Q, K(pid), (TValue *)pid);
  setf(L, Q, K(uniq), (TValue *)uniq);
  setf(L, Q, K(id), (TValue *)id);
  setf(L, Q, K(host), (TValue *)host);
  setbtvalue(&tr);
  setf(L, Q, K(alive), &tr);
  setf(L, Q, K(entry), (TValue *)Ent);
  setf(L, Q, K(nthreads), &zero);
  setf(L, Q, K(nrun), &zero);
  setf(L, Q, K(red), &zero);
}

/* new_proc(pid, uniq, id, host, hostrec, Ent): pushes the record (proc_steps's table, [5] the
** step's wall clock: a copy of the shape's template when every value is there, lshape.h, or a
** record an exit kept, reset to the template, lrecpool.h: the same table) with metatable mt; *Q: it.
** The copy also holds, with nil values, the keys that every record of this spawn gets later
** (S->rsv: `watchers` for a monitor, `links` for a link, `main`, then the exit's `exit_value`,
** `finalized` and `notified`), in the nodes their inserts would take if made in that order, so
** those writes find their key (lfield.h's setf stores into it) instead of inserting it
** (luaH_newkey: the main position, a collision walk, getfreepos). A key with a nil value is an
** absent key to every reader: a read is empty and goes to __index as before, rawget gives nil,
** next skips it, a rehash does not count or keep it, and the collector may mark it dead
** (clearkey), after which the write inserts it as before. Only the nodes' layout differs from
** a record that has no such keys, and no code walks a record (docs/design/native-core.md,
** session 12). */
void luaW_sp_proc (lua_State *L, Spawn *S, const TValue *pid, const TValue *uniq, const TValue *id,
                   const TValue *host, const TValue *Ent, const TValue *mt, TValue *Q) {
  TValue w;
  step_wall(L, V(run), V(H), K(wall), &w);
  if (S->proc_shape.t != NULL && !ttisnil(pid) && !ttisnil(uniq) && !ttisnil(id) && !ttisnil(host)
      && !ttisnil(Ent)) {
    const Shape *sh = &S->proc_shape;
    Table *t = luaW_recpool_take(L, V(qpool), K(n), sh, S->qok, S->nqok);  /* a kept one, reset */
    if (t == NULL) t = luaW_shape_make(L, sh);
    setobj2t(L, &t->array[4], &w);
    luaW_shape_set(L, t, sh, 0, pid);
    luaW_shape_set(L, t, sh, 1, uniq);
    luaW_shape_set(L, t, sh, 2, id);
    luaW_shape_set(L, t, sh, 3, host);
    luaW_shape_set(L, t, sh, 4, Ent);
    for (int i = 0; i < S->nrsv; i++) setnilvalue(gval(gnode(t, S->rsv[i])));
    sethvalue(L, Q, t);
    luaC_checkGC(L);
  } else proc_steps(L, S, pid, uniq, id, host, Ent, &w, Q);
  push(L, mt);
  lua_setmetatable(L, -2);
}

/* copool.lua's take(fn, P) with fn on top (replaced by the coroutine): a kept coroutine that
** rebind made to run fn, else coroutine.create(fn); then sched.lua's hook(co, P): the C count
** hook when P's host sets a budget or the worker a memory cap */
void luaW_sp_take_co (lua_State *L, Spawn *S, const TValue *P) {
  TValue sv, nv, co, fn, x;
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
        int ok;
        if (!luaW_rebind_at(L, V(rebind), &co, &fn, &ok)) {  /* not rebind's own case: the call */
          push(L, V(rebind)); push(L, &co); push(L, &fn);
          lua_call(L, 2, 1);
          ok = lua_toboolean(L, -1);
          lua_pop(L, 1);
        }
        if (ok) {
          setivalue(&nv, n);
          setf(L, &sv, K(n), &nv);
          lua_replace(L, -2);  /* the coroutine in fn's place */
          goto hook;
        }
      }
      lua_pop(L, 1);
    }
    setivalue(&nv, 0);
    setf(L, &sv, K(n), &nv);
  }
  push(L, V(co_create));
  lua_insert(L, -2);
  lua_call(L, 1, 1);
hook:
  setobj(L, &co, s2v(L->top - 1));
  getf(L, P, K(budget), &x);
  if (!l_isfalse(&x) || !l_isfalse(V(mem_cap_kb))) {
    if (ttisnil(V(chook))) luaL_error(L, "kernel: a hooked process without the C count hook");
    if (!luaW_hook_at(V(chook), &co)) {  /* not the C hook's own case: the call */
      push(L, V(chook)); push(L, &co);
      lua_call(L, 1, 0);
    }
  }
}

/* new_thread's record, key by key: the keys it holds (a1 and a2 up to n); pushes it, *T: it */
static void thread_steps (lua_State *L, Spawn *S, const TValue *Q, const TValue *co, int n,
                          const TValue *a1, const TValue *a2, TValue *T) {
  TValue x;
  lua_createtable(L, 0, n == 2 ? 5 : 4);
  sethvalue(L, T, hvalue(s2v(L->top - 1)));
  setf(L, T, K(co), (TValue *)co);
  setf(L, T, K(proc), (TValue *)Q);
  setivalue(&x, n);
  setf(L, T, K(n), &x);
  if (n >= 1) setf(L, T, K(a1), (TValue *)a1);
  if (n == 2) setf(L, T, K(a2), (TValue *)a2);
}

/* sched.lua's new_thread(Q, _, co, n, a1, a2) for a coroutine co made and hooked for Q: the thread
** record (thread_steps's table: a copy of the shape's template for n when a1 and a2 up to n are
** not nil, lshape.h, or a kept one reset to it, lrecpool.h), Q.nthreads, queued (Q.nrun, rq_tail); a main thread, so not in Q.threads
** (the caller stores it as Q.main). Pushes the record; *T: it. */
void luaW_sp_thread (lua_State *L, Spawn *S, const TValue *Q, const TValue *co, int n,
                     const TValue *a1, const TValue *a2, TValue *T) {
  TValue x, one;
  const Shape *sh = &S->thr_shape[n];
  if (sh->t != NULL && !ttisnil(co) && !ttisnil(Q) && (n < 1 || !ttisnil(a1)) && (n < 2 || !ttisnil(a2))) {
    Table *t = luaW_recpool_take(L, V(tpool), K(n), sh, S->tok, S->ntok);  /* a kept one, reset */
    if (t == NULL) t = luaW_shape_make(L, sh);
    luaW_shape_set(L, t, sh, 0, co);
    luaW_shape_set(L, t, sh, 1, Q);
    if (n >= 1) luaW_shape_set(L, t, sh, 2, a1);
    if (n == 2) luaW_shape_set(L, t, sh, 3, a2);
    sethvalue(L, T, t);
    luaC_checkGC(L);
  } else thread_steps(L, S, Q, co, n, a1, a2, T);
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

/* pids.lua's add(Q): procs[pid] = Q, nprocs + 1, started + 1 */
void luaW_sp_add (lua_State *L, Spawn *S, const TValue *Q, const TValue *pid) {
  setv(L, V(procs), pid, (TValue *)Q);
  uvadd(L, S->u_nprocs, 1);
  uvadd(L, S->u_started, 1);
}

/* spawn_from's adopt, its common case (nothing heard, P alive): P.monitoring / P.links hold the
** new child's pid, per the variant's flags */
void luaW_sp_adopt (lua_State *L, Spawn *S, const TValue *P, const TValue *pid) {
  TValue m, tr;
  setbtvalue(&tr);
  if (S->monitor) {
    getf(L, P, K(monitoring), &m);
    if (luaV_rawequalobj(&m, V(NONE))) luaW_sp_newset(L, P, K(monitoring), pid);
    else setv(L, &m, pid, &tr);
  }
  if (S->link) {
    getf(L, P, K(links), &m);
    if (luaV_rawequalobj(&m, V(NONE))) luaW_sp_newset(L, P, K(links), pid);
    else setv(L, &m, pid, &tr);
  }
}

/* spawn(id, host, ...) (see the top); upvalue 1: the Spawn */
static int spawn (lua_State *L) {
  Spawn *S = (Spawn *)lua_touserdata(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L), n = nargs - 2, i, queued = 0;
  TValue P, x, y, hostrec, Ent, body, code, mt, uniq, pid, Q;
  luaL_checkstack(L, 24, "spawn");
  /* the case, decided by reads (and the arguments' copies) alone */
  if (n < 0 || n > 2) goto lua;
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
  if (!ttisnil(V(shutdown_deadline))) goto lua;
  if (!luaV_rawequalobj(SLOT(A_HOST), V(HOST))) goto lua;
  getv(L, V(HOSTS), SLOT(A_HOST), &hostrec);
  if (!ttistable(&hostrec)) goto lua;
  getf(L, &hostrec, K(security), &x); if (!l_isfalse(&x)) goto lua;
  getv(L, V(entries), SLOT(A_ID), &Ent);
  if (!ttistable(&Ent)) goto lua;
  getf(L, &Ent, K(kind), &x);
  getv(L, V(bodies), &x, &body);
  if (!luaV_rawequalobj(&body, V(lua_body))) goto lua;
  /* the process record's metatable and its terminal flag */
  if (!luaW_sp_meta(L, S, &hostrec, &mt)) goto lua;
  /* spawn_from's local branch: on a host of several workers an entry that instantiated here is
  ** queued (lqspawn.c: room()'s inline case only); else it starts now, in the caller's coroutine */
  if (!l_isfalse(V(MULTI))) {
    getv(L, V(validated), SLOT(A_ID), &x);
    if (!l_isfalse(&x)) {
      if (!luaW_sp_room(L, S)) goto lua;
      queued = 1;
    }
  }
  if (!queued && !lua_isyieldable(L)) goto lua;
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
  if (queued) {
    luaW_sp_queue(L, S, &P, SLOT(A_ID), n, SLOT(A_1), SLOT(A_2));  /* pushes the PID */
    return 1;
  }
  /* prepare: the entry's chunk, compiled once per worker (its failure is the Lua's error) */
  if (!luaW_env_compile_at(L, V(compile), SLOT(A_ID), &code)) {  /* not a cache hit in C: the call */
    push(L, V(compile)); push(L, &Ent); push(L, SLOT(A_ID));
    lua_call(L, 2, 1);
    setobj(L, &code, s2v(L->top - 1));
    lua_pop(L, 1);
  }
  if (l_isfalse(&code)) { lua_settop(L, A_2); lua_pop(L, 2 - n); goto lua; }
  push(L, &P);  /* A_P */
  push(L, &hostrec);  /* A_HOSTREC */
  push(L, &Ent);  /* A_ENT */
  push(L, &code);  /* A_CODE */
  /* from here on the spawn is the C's: the PID */
  getf(L, V(H), K(pid_alloc), &x);
  if (!luaW_pid_alloc_direct(S->hf, &x, V(SELF), &uniq)) {  /* not the host's own: the call */
    push(L, &x); push(L, V(SELF));
    lua_call(L, 1, 1);
    setobj(L, &uniq, s2v(L->top - 1));
    lua_pop(L, 1);
  }
  luaW_sp_pid(L, S, SLOT(A_HOST), &uniq);  /* A_PID */
  setobj(L, &pid, SLOT(A_PID));
  luaW_sp_proc(L, S, &pid, &uniq, SLOT(A_ID), SLOT(A_HOST), &Ent, &mt, &Q);  /* A_Q */
  /* instantiate: the chunk runs as the new process, in the caller's coroutine (yieldable) */
  getf(L, V(run), K(cp), &x);
  push(L, &x);  /* A_PREV */
  setf(L, V(run), K(cp), &Q);
  push(L, SLOT(A_CODE));  /* A_MOD: the chunk */
  if (!luaW_env_make_at(L, V(make_env), &Ent, &Q)) {  /* not make_env's common case in C: the call */
    push(L, V(make_env)); push(L, &Ent); push(L, &Q);
    lua_call(L, 2, 1);  /* its environment */
  }
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
  TValue Q, mod, main, x, pid, T, tr, co;
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
  luaW_sp_add(L, S, &Q, &pid);
  count_load(L, S->hf, V(run), V(H), K(dload), K(load_add), 1);
  setbtvalue(&tr);
  setv(L, V(validated), SLOT(A_ID), &tr);
  /* the caller's PID: its watcher (monitor: the one watcher itself, no set: pids.lua watch) and
  ** link (a set made with its member) */
  getf(L, SLOT(A_P), K(pid), &x);
  if (S->monitor) setf(L, &Q, K(watchers), &x);
  if (S->link) luaW_sp_newset(L, &Q, K(links), &x);
  /* the main thread, queued: sched.lua's new_thread(Q, main, nil, n, a1, a2) */
  push(L, &main);
  luaW_sp_take_co(L, S, &Q);
  setobj(L, &co, s2v(L->top - 1));  /* anchored */
  luaW_sp_thread(L, S, &Q, &co, n, SLOT(A_1), SLOT(A_2), &T);
  setf(L, &Q, K(main), &T);
  lua_pop(L, 2);
  /* spawn_from: what the caller keeps (adopt's common case) */
  luaW_sp_adopt(L, S, SLOT(A_P), &pid);
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

/* the templates of S's shapes (lshape.h), made by the key-by-key steps with placeholder values (the
** varying ones overwritten in every copy; the others, alive, the zeros, n, are the copies' own),
** anchored by the keys table of the closure at fidx */
static void shapes (lua_State *L, Spawn *S, int fidx) {
  TValue tr, zero, es, t;
  TString *pk[5], *tk[4], *rk[SHAPE_MAXKEYS];
  int anchor, n;
  luaW_shape_anchor(L, fidx);
  anchor = lua_gettop(L);
  setbtvalue(&tr);
  setivalue(&zero, 0);
  lua_pushliteral(L, "");
  setobj(L, &es, s2v(L->top - 1));  /* anchored (interned, and a key's value below) */
  proc_steps(L, S, &es, &zero, &es, &es, &tr, &zero, &t);
  /* the keys its records get later, in the order they are written (see luaW_sp_proc) */
  S->nrsv = 0;
  if (S->monitor) rk[S->nrsv++] = K(watchers);
  if (S->link) rk[S->nrsv++] = K(links);
  rk[S->nrsv++] = K(main);
  rk[S->nrsv++] = K(exit_value);
  rk[S->nrsv++] = K(finalized);
  rk[S->nrsv++] = K(notified);
  for (n = 0; n < S->nrsv; n++) setf(L, &t, rk[n], &tr);
  for (n = 0; n < S->nrsv; n++)
    S->rsv[n] = (unsigned short)(cast(const Node *, luaH_getshortstr(hvalue(&t), rk[n])) - hvalue(&t)->node);
  pk[0] = K(pid); pk[1] = K(uniq); pk[2] = K(id); pk[3] = K(host); pk[4] = K(entry);
  luaW_shape_init(L, &S->proc_shape, anchor, pk, 5);
  /* the keys a kept record may hold to be reused (lrecpool.h): a record's own, those the spawn's
  ** variants and the exit's common case write, with any value (the reset overwrites them all) */
  S->nqok = 0;
  S->qok[S->nqok++] = K(pid); S->qok[S->nqok++] = K(uniq); S->qok[S->nqok++] = K(id);
  S->qok[S->nqok++] = K(host); S->qok[S->nqok++] = K(alive); S->qok[S->nqok++] = K(entry);
  S->qok[S->nqok++] = K(nthreads); S->qok[S->nqok++] = K(nrun); S->qok[S->nqok++] = K(red);
  S->qok[S->nqok++] = K(watchers); S->qok[S->nqok++] = K(links); S->qok[S->nqok++] = K(main);
  S->qok[S->nqok++] = K(exit_value); S->qok[S->nqok++] = K(finalized); S->qok[S->nqok++] = K(notified);
  S->ntok = 0;
  S->tok[S->ntok++] = K(co); S->tok[S->ntok++] = K(proc); S->tok[S->ntok++] = K(n);
  S->tok[S->ntok++] = K(a1); S->tok[S->ntok++] = K(a2);
  tk[0] = K(co); tk[1] = K(proc); tk[2] = K(a1); tk[3] = K(a2);
  for (n = 0; n <= 2; n++) {
    thread_steps(L, S, &tr, &tr, n, &tr, &tr, &t);
    luaW_shape_init(L, &S->thr_shape[n], anchor, tk, 2 + n);
  }
  lua_pop(L, 2);
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
  S = PROBE_NEW(L, lua_gettop(L), 2, Spawn, spawn, "spawner");
  S->monitor = monitor;
  S->link = link;
  S->hf = luaW_hostfns(L);
  shapes(L, S, lua_gettop(L));
  lua_getupvalue(L, -1, 1);  /* the record: tstart's upvalue too */
  lua_pushcclosure(L, luaW_sp_tstart, 1);
  return 2;
}

#undef V
#undef K

/* pushes { exiter, spawner } (lwippy.c puts it into wippy.native as `spawn`) */
int luaW_open_spawn (lua_State *L) {
  static const luaL_Reg fns[] = { { "exiter", luaW_exiter }, { "spawner", spawner }, { NULL, NULL } };
  luaL_newlib(L, fns);
  return 1;
}
