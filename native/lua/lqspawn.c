/*
** lqspawn.c: a spawn on a host of several workers in C for the common case (issue 15, session 11):
** queued in the worker's Lua-side list (taskq.lua `lq`) by the spawner (lspawn.c's spawn calls
** luaW_sp_room and luaW_sp_queue), and started at its turn in the run queue (tstart, which ljob.c's
** START slot calls), over the state of spawn.lua, taskq.lua, sched.lua, copool.lua and pids.lua,
** bound through the spawner's record (lspawn.h: Spawn, the same probes).
**
** What it replaces. On a host of several workers with the budget hook a spawn of an entry that
** instantiated here is queued, not started (spawn.lua spawn_from: queue_local; taskq.lua says why
** and when a sibling may take it), and starts when its START slot comes up: sched.lua's
** start_slot, spawn.lua's take_task, taskq.lua's take, spawn.lua's start_task, start_here,
** new_proc, instantiate, run_chunk and sched.lua's new_thread. Measured before (bench/spawn-count.ts
** --workers 2 --hook, spawn-exit): ~830 VM instructions, ~70 calls and ~1,750 bytes per spawn+exit,
** where the one-worker host's C spawn (lspawn.c) ran ~160 instructions.
**
** The record. A spawn queued here is a flat record of 6 + n array slots,
**   { uniq, pid, id, watcher or false, link or false, n, a1, a2 }
** (the host is the worker's own, no context, its home this worker), not queue_local's W.task with
** an arguments table: a number at [1] tells it from a W.task (a PID) and a job ("spj"). taskq.lua
** turns it into a W.task where one is needed (wire_of: publish, share: what a sibling decodes), and
** spawn.lua starts one that the Lua take returns through that W.task (start_flat). So the sharing
** rule, the backlog rule and stealing see what they saw: a queued spawn is in lq until its START
** or until one of them moves it, and only its form in lq changed.
**
** luaW_sp_room: room()'s inline case only (taskq.lua M.room): a hooked host of several workers
** (MULTI_HOOKED), lq below the backlog mark or below offer_at (past the mark, the last look found
** no sibling lighter: second wave, for `hold`, where both workers' lists grow past the mark and
** every spawn past it ran the Lua) and no report due. Every other case (a report, the offer rule's
** look, a full list) is the Lua spawn's, before anything changed.
** luaW_sp_queue(P, id, n, a1, a2): spawn_from's queued branch with queue_local and adopt's common
** case in their order: run.share_at = P.red + SHARE_AFTER, the PID from H.pid_alloc(SELF) (fmt_pid's
** text), the record at lq's young end (lt, c_in: taskq.push), START at the run queue's tail
** (ready_start), P.monitoring / P.links. Pushes the PID.
**
** tstart(t): start_task(t, true) for a flat record (the list's spawns are this worker's own: no
** route check, no runner to record), and frame_sp(t) for a job from JS at the list's head (its
** "spj" frame: { "spj", pid, uniq, id, host, watcher, link, ctx, args }), owned when, read before
** any write: the record is well formed (n 0..2, id and pid strings; a job: this worker's host, no
** context, args none or a table with an integer n), no shutdown began, no frame waits for the PID
** in `early`, the entry is a process.lua or function.lua entry, the worker's host sets no security
** block and is not a terminal, and the chunk compiles (compile: a cache). Then: count_load(1) (not
** for a job: the main thread counted it); start_here's minted case: the
** record (new_proc, lspawn.c's luaW_sp_proc, Q.entry among its keys); instantiate with run_chunk's case for a
** caller that cannot yield (the step's loop): run.cp = Q, make_env, Q.red = 0, run.share_at =
** math.huge, a coroutine of copool's (hooked as sched.lua's hook would) running spawn.lua's
** chunk_then_args(f, env, n, a1, a2), resumed once: it yields CHUNK_DONE and the module, and goes on
** as the main thread (its first resume passes main, which it tail-calls with a1, a2 up to n);
** run.cp back; main (the module's method; a function entry's wrapped by fn_main, fn_instantiate's
** step: its results kept); add, validated, Q.watchers / Q.links, the main thread
** (new_thread(Q, nil, co, 1, main)), Q.main. A chunk that raises, yields or gives no main ends in
** spawn.lua's q_failed (start_here's and start_task's error exits: H.dead, start_failed, the same
** messages through instantiate_error; the coroutine closed where run_chunk and lua_instantiate
** close it). Any other case is spawn.lua's start_flat(t) (the Lua start_task of its W.task), or
** frame_sp(t) for a job.
**
** Differences from the Lua, none observable by a process: the record's form in lq, and the chunk's
** coroutine runs chunk_then_args (the arguments as values) where the Lua's runs chunk_then_main
** (an arguments table); both tail-call main with the same arguments. On wasmoon's module and with
** WIPPY_CSCHED=0 the Lua runs; test/native-spawn-multi.test.ts runs both on two-worker hosts
** (a seeded driver, sharing, the backlog rule, jobs from JS).
*/
#include <math.h>

#include "lspawn.h"

#define V(name) (S->u_##name->v)
#define K(name) (S->k_##name)

/* the integer in v, or -1 (the inline case's tests then fail: the Lua decides) */
static inline lua_Integer ival (const TValue *v) {
  return ttisinteger(v) ? ivalue(v) : -1;
}

int luaW_sp_room (lua_State *L, Spawn *S) {
  lua_Integer lh = ival(V(lh)), lt = ival(V(lt)), len = lt - lh + 1;
  (void)L;
  if (l_isfalse(V(MULTI_HOOKED)) || lh < 1 || len < 0 || !ttistable(V(lq)) || !ttisinteger(V(rq_tail)) ||
      !ttisinteger(V(c_in)) || ival(V(reported)) < 0)
    return 0;
  /* room(): `len < MARK or len < offer_at` (below the mark, or past it with nobody lighter at the
  ** last look), and no report due */
  return (len < ival(V(MARK)) || len < ival(V(offer_at))) && len - ival(V(reported)) < ival(V(LISTED_EVERY));
}

void luaW_sp_queue (lua_State *L, Spawn *S, const TValue *P, const TValue *id, int n,
                    const TValue *a1, const TValue *a2) {
  TValue x, uniq, pid, rec, w, f;
  lua_Integer lt;
  /* spawn_from: a spawn loop is not computing (share_tasks) */
  getf(L, P, K(red), &x);
  arith(L, LUA_OPADD, &x, V(SHARE_AFTER), &x);
  setf(L, V(run), K(share_at), &x);
  /* queue_local: the PID, minted here */
  getf(L, V(H), K(pid_alloc), &x);
  if (!luaW_pid_alloc_direct(S->hf, &x, V(SELF), &uniq)) {  /* not the host's own: the call */
    push(L, &x); push(L, V(SELF));
    lua_call(L, 1, 1);
    setobj(L, &uniq, s2v(L->top - 1));
    lua_pop(L, 1);
  }
  if (!ttisinteger(&uniq)) luaL_error(L, "kernel: H.pid_alloc gave no integer");
  luaW_sp_pid(L, S, V(HOST), &uniq);
  setobj(L, &pid, s2v(L->top - 1));  /* anchored: the result */
  /* the flat record (see the top) */
  lua_createtable(L, 6 + n, 0);
  sethvalue(L, &rec, hvalue(s2v(L->top - 1)));
  seti(L, &rec, 1, &uniq);
  seti(L, &rec, 2, &pid);
  seti(L, &rec, 3, (TValue *)id);
  getf(L, P, K(pid), &w);
  setbfvalue(&f);
  seti(L, &rec, 4, S->monitor ? &w : &f);
  seti(L, &rec, 5, S->link ? &w : &f);
  setivalue(&x, n);
  seti(L, &rec, 6, &x);
  if (n >= 1) seti(L, &rec, 7, (TValue *)a1);
  if (n == 2) seti(L, &rec, 8, (TValue *)a2);
  /* taskq.push: lq's young end */
  lt = ivalue(V(lt)) + 1;
  seti(L, V(lq), lt, &rec);
  setivalue(&x, lt);
  setuv(L, S->u_lt, &x);
  uvadd(L, S->u_c_in, 1);
  lua_pop(L, 1);  /* the record: lq holds it */
  /* ready_start: START at the run queue's tail */
  setivalue(&x, ivalue(V(rq_tail)) + 1);
  setuv(L, S->u_rq_tail, &x);
  seti(L, V(runq), ivalue(&x), V(START));
  /* spawn_from: adopt's common case */
  luaW_sp_adopt(L, S, P, &pid);
}

/* tstart's stack slots: the record, then what it anchors */
enum { T_REC = 1, T_CODE, T_Q, T_PREV, T_ENV, T_CO, T_MOD };

/* q_failed(Ent, Q, ok, mod, co, watcher, link) with mod on top: start_here's error exit */
static int failed (lua_State *L, Spawn *S, const TValue *Ent, const TValue *Q, int ok,
                   const TValue *co, const TValue *watcher, const TValue *link) {
  TValue mod;
  setobj(L, &mod, s2v(L->top - 1));
  push(L, V(q_failed)); push(L, Ent); push(L, Q);
  lua_pushboolean(L, ok);
  push(L, &mod);
  if (co) push(L, co); else lua_pushnil(L);
  push(L, watcher); push(L, link);
  lua_call(L, 7, 0);
  return 0;
}

/* tstart(t) (see the top); upvalue 1: the spawner's record */
int luaW_sp_tstart (lua_State *L) {
  Spawn *S = (Spawn *)lua_touserdata(L, lua_upvalueindex(1));
  TValue t, uniq, pid, id, watcher, link, nv, a1, a2, Ent, body, hostrec, mt, x, code, Q, co, mod,
    main, T, tr;
  lua_State *C;
  int status, nres, job = 0;
  luaL_checkstack(L, 24, "tstart");
  lua_settop(L, 1);
  setobj(L, &t, s2v(L->ci->func + T_REC));
  /* the case, decided by reads (and compile's cache) alone */
  if (!ttistable(&t)) goto lua;
  geti(L, &t, 1, &x);
  if (ttisinteger(&x)) {  /* a flat record: { uniq, pid, id, watcher, link, n, a1, a2 } */
    setobj(L, &uniq, &x);
    geti(L, &t, 2, &pid); geti(L, &t, 3, &id);
    geti(L, &t, 4, &watcher); geti(L, &t, 5, &link); geti(L, &t, 6, &nv);
    geti(L, &t, 7, &a1); geti(L, &t, 8, &a2);
  } else if (ttisshrstring(&x) && eqshrstr(tsvalue(&x), K(spj))) {
    /* a job: { "spj", pid, uniq, id, host, watcher, link, ctx, args } (args: { n = n, ... } or none) */
    TValue args;
    job = 1;
    geti(L, &t, 5, &x);
    if (!luaV_rawequalobj(&x, V(HOST))) goto lua;
    geti(L, &t, 8, &x);
    if (!l_isfalse(&x)) goto lua;  /* a context: start_here's */
    geti(L, &t, 2, &pid); geti(L, &t, 3, &uniq); geti(L, &t, 4, &id);
    geti(L, &t, 6, &watcher); geti(L, &t, 7, &link); geti(L, &t, 9, &args);
    if (l_isfalse(&args)) { setivalue(&nv, 0); setnilvalue(&a1); setnilvalue(&a2); }
    else if (ttistable(&args)) {
      getf(L, &args, K(n), &nv);  /* `args.n or #args` (a decoded table: no metatable) */
      if (ttisnil(&nv) && hvalue(&args)->metatable == NULL) setivalue(&nv, (lua_Integer)luaH_getn(hvalue(&args)));
      geti(L, &args, 1, &a1); geti(L, &args, 2, &a2);
    } else goto lua;
  } else goto lua;
  if (!ttisinteger(&nv) || ivalue(&nv) < 0 || ivalue(&nv) > 2 || !ttisstring(&id) || !ttisstring(&pid))
    goto lua;
  if (!ttisnil(V(shutdown_deadline))) goto lua;
  getv(L, V(early), &pid, &x);
  if (!ttisnil(&x)) goto lua;
  getv(L, V(entries), &id, &Ent);
  if (!ttistable(&Ent)) goto lua;
  getf(L, &Ent, K(kind), &x);
  getv(L, V(bodies), &x, &body);
  if (!luaV_rawequalobj(&body, V(lua_body)) && !luaV_rawequalobj(&body, V(fn_body))) goto lua;
  getv(L, V(HOSTS), V(HOST), &hostrec);
  if (!ttistable(&hostrec)) goto lua;
  getf(L, &hostrec, K(security), &x);
  if (!l_isfalse(&x)) goto lua;
  if (!luaW_sp_meta(L, S, &hostrec, &mt)) goto lua;
  if (luaW_env_compile_at(L, V(compile), &id, &code)) push(L, &code);  /* T_CODE: a hit in C */
  else {
    push(L, V(compile)); push(L, &Ent); push(L, &id);
    lua_call(L, 2, 1);  /* T_CODE */
    setobj(L, &code, s2v(L->top - 1));
  }
  if (l_isfalse(&code)) goto lua;
  /* start_task: the step's live count (a job's: counted by the main thread); start_here (minted):
  ** the record */
  if (!job) count_load(L, S->hf, V(run), V(H), K(dload), K(load_add), 1);
  luaW_sp_proc(L, S, &pid, &uniq, &id, V(HOST), &Ent, &mt, &Q);  /* T_Q */
  /* instantiate: run.cp = Q, its environment */
  getf(L, V(run), K(cp), &x);
  push(L, &x);  /* T_PREV */
  setf(L, V(run), K(cp), &Q);
  if (!luaW_env_make_at(L, V(make_env), &Ent, &Q)) {  /* T_ENV (in C when make_env's common case) */
    push(L, V(make_env)); push(L, &Ent); push(L, &Q);
    lua_call(L, 2, 1);
  }
  /* run_chunk: the chunk in a hooked coroutine of its own, which goes on as the main thread */
  setivalue(&x, 0);
  setf(L, &Q, K(red), &x);
  setfltvalue(&x, HUGE_VAL);
  setf(L, V(run), K(share_at), &x);
  push(L, V(chunk_then_args));
  luaW_sp_take_co(L, S, &Q);  /* T_CO */
  setobj(L, &co, s2v(L->top - 1));
  C = thvalue(&co);
  push(L, &code); push(L, s2v(L->ci->func + T_ENV)); push(L, &nv); push(L, &a1); push(L, &a2);
  lua_xmove(L, C, 5);
  status = lua_resume(C, L, 5, &nres);
  if (status != LUA_OK && status != LUA_YIELD) {  /* it raised: lua_instantiate's first failure */
    lua_xmove(C, L, 1);  /* the error value */
    setf(L, V(run), K(cp), s2v(L->ci->func + T_PREV));
    return failed(L, S, &Ent, &Q, 0, NULL, &watcher, &link);
  }
  if (status == LUA_YIELD && nres == 2 && luaV_rawequalobj(s2v(C->top - 2), V(CHUNK_DONE))) {
    setobj(L, &mod, s2v(C->top - 1));
    lua_pop(C, 2);
    push(L, &mod);  /* T_MOD */
  } else {  /* it yielded (or ended) without CHUNK_DONE: run_chunk closes it, as run.cp */
    lua_pop(C, nres);
    push(L, V(co_close)); push(L, &co);
    lua_call(L, 1, 0);
    setf(L, V(run), K(cp), s2v(L->ci->func + T_PREV));
    push(L, V(TOP_YIELDED));
    return failed(L, S, &Ent, &Q, 0, NULL, &watcher, &link);
  }
  setf(L, V(run), K(cp), s2v(L->ci->func + T_PREV));
  /* main: the module's method (lua_instantiate) */
  setobj(L, &main, &mod);
  getf(L, &Ent, K(method), &x);
  if (!l_isfalse(&x) && !(ttisstring(&x) && tsslen(tsvalue(&x)) == 0)) {
    if (ttistable(&mod)) getv(L, &mod, &x, &main); else setnilvalue(&main);
    if (!ttisfunction(&main) && ttisfunction(&mod)) setobj(L, &main, &mod);
  }
  if (!ttisfunction(&main)) {
    lua_pushnil(L);
    return failed(L, S, &Ent, &Q, 1, &co, &watcher, &link);
  }
  if (luaV_rawequalobj(&body, V(fn_body))) {  /* fn_instantiate: main keeps its results */
    push(L, V(fn_main)); push(L, &Q); push(L, &main);
    lua_call(L, 2, 1);
    setobj(L, &main, s2v(L->top - 1));  /* anchored */
  } else push(L, &main);  /* anchored */
  /* start_here: add, validated, the watcher (itself: pids.lua watch) and the link set, the main
  ** thread */
  luaW_sp_add(L, S, &Q, &pid);
  setbtvalue(&tr);
  setv(L, V(validated), &id, &tr);
  if (!l_isfalse(&watcher)) setf(L, &Q, K(watchers), &watcher);
  if (!l_isfalse(&link)) luaW_sp_newset(L, &Q, K(links), &link);
  luaW_sp_thread(L, S, &Q, &co, 1, &main, NULL, &T);
  setf(L, &Q, K(main), &T);
  return 0;
lua:  /* start_flat(t), or frame_sp(t) for a job */
  lua_settop(L, T_REC);
  push(L, job ? V(frame_sp) : V(start_flat));
  lua_insert(L, T_REC);
  lua_call(L, 1, 0);
  return 0;
}
