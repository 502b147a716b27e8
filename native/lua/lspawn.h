/*
** lspawn.h: what the C of a process's start (lspawn.c) and end (lexit.c) share: field and call
** steps on the kernel's Lua tables beyond lfield.h's, and lifecycle.lua's per-step clock and load
** count, copool.lua's stack choice, pids.lua's counts, done the Lua's way.
*/
#ifndef lspawn_h
#define lspawn_h

#include "lprobe.h"
#include "lshape.h"
#include "lrecpool.h"
#include "lhostfn.h"

/* exiter(lifecycle_probe, copool_probe, pids_probe) -> thread_done (lexit.c) */
int luaW_exiter (lua_State *L);

/* The spawner's record (lspawn.c: a spawn at its caller; lqspawn.c: a queued spawn, queued and
** started): the locals of process.lua, spawn.lua, sched.lua (thread_probe), copool.lua, pids.lua
** and taskq.lua (spawn_probe) it binds, and its keys */
#define SUPVALS(X) \
  X(HOSTS) X(HOST) X(MULTI) X(entries) X(bodies) X(lua_body) X(validated) X(shutdown_deadline) \
  X(H) X(SELF) X(proc_meta) X(meta_of) X(fmt_pid) X(NONE) X(run) X(make_env) X(compile) \
  X(c_failed) X(strict) X(copy) X(procs) X(nprocs) X(started) X(runq) X(rq_tail) X(chook) \
  X(mem_cap_kb) X(rebind) X(co_create) X(hooked) X(plain) \
  X(SHARE_AFTER) X(early) X(chunk_then_args) X(CHUNK_DONE) X(TOP_YIELDED) X(q_failed) X(start_flat) \
  X(co_close) X(frame_sp) X(fn_body) X(fn_main) \
  X(START) X(lq) X(lh) X(lt) X(reported) X(c_in) X(MARK) X(LISTED_EVERY) X(MULTI_HOOKED) \
  X(offer_at) X(qpool) X(tpool)
#define SKEYS(X) \
  X(cp) X(ctx_actor) X(ctx_scope) X(ctx) X(security) X(kind) X(pid) X(uniq) X(id) X(host) \
  X(alive) X(nthreads) X(nrun) X(red) X(entry) X(method) X(watchers) X(links) \
  X(monitoring) X(heard) X(notified) X(pid_alloc) X(wall) X(dload) X(load_add) X(terminal) \
  X(__index) X(main) X(budget) X(co) X(proc) X(n) X(a1) X(a2) X(share_at) X(spj) \
  X(exit_value) X(finalized)

typedef struct Spawn {
  SUPVALS(PROBE_UV_FIELD)
  SKEYS(PROBE_KEY_FIELD)
  int monitor, link;
  Shape proc_shape;  /* the process record (lshape.h): pid, uniq, id, host, entry vary */
  Shape thr_shape[3];  /* the main thread record with n = 0, 1, 2 arguments: co, proc, a1, a2 */
  int nrsv;  /* the keys every record of this spawn gets later, held in its template (lspawn.c) */
  unsigned short rsv[SHAPE_MAXKEYS];  /* their nodes in proc_shape's template */
  TString *qok[RECPOOL_MAXOK], *tok[RECPOOL_MAXOK];  /* the keys a reused Q / T may hold (lrecpool.h) */
  int nqok, ntok;
  const LuaWHostFns *hf;  /* the state's direct host calls (lhostfn.c: pid_alloc, load_add), or NULL */
} Spawn;

/* lspawn.c's steps that lqspawn.c shares (lspawn.c says what each mirrors) */
void luaW_sp_pid (lua_State *L, Spawn *S, const TValue *host, const TValue *uniq);
void luaW_sp_proc (lua_State *L, Spawn *S, const TValue *pid, const TValue *uniq, const TValue *id,
                   const TValue *host, const TValue *Ent, const TValue *mt, TValue *Q);
int luaW_sp_meta (lua_State *L, Spawn *S, const TValue *hostrec, TValue *mt);
void luaW_sp_take_co (lua_State *L, Spawn *S, const TValue *P);
void luaW_sp_thread (lua_State *L, Spawn *S, const TValue *Q, const TValue *co, int n,
                     const TValue *a1, const TValue *a2, TValue *T);
void luaW_sp_newset (lua_State *L, const TValue *P, TString *k, const TValue *v);
void luaW_sp_add (lua_State *L, Spawn *S, const TValue *Q, const TValue *pid);
void luaW_sp_adopt (lua_State *L, Spawn *S, const TValue *P, const TValue *pid);
/* lqspawn.c: may a spawn be queued in taskq.lua's list in C (room()'s inline case)? a spawn
** queued there (its PID pushed), and the start of such a spawn at its START slot (tstart(t):
** ljob.c's slot calls it) */
int luaW_sp_room (lua_State *L, Spawn *S);
void luaW_sp_queue (lua_State *L, Spawn *S, const TValue *P, const TValue *id, int n,
                    const TValue *a1, const TValue *a2);
int luaW_sp_tstart (lua_State *L);

/* Calls the C spawn makes without a call frame, each only in the case in which it is the
** function's own steps (else 0: the caller calls the function): lproc.c's rebind (*ok its result),
** lhook.c's set(co), lenv.c's make_env(E, P) (pushes the environment) and compile's cache hit */
int luaW_rebind_at (lua_State *L, const TValue *rb, const TValue *co, const TValue *f, int *ok);
int luaW_hook_at (const TValue *set, const TValue *co);
int luaW_env_make_at (lua_State *L, const TValue *f, const TValue *E, const TValue *P);
int luaW_env_compile_at (lua_State *L, const TValue *f, const TValue *id, TValue *out);

/* the number of keys of table t, counted up to 2 (next's walk); -1 if t is not a table */
static inline int upto2 (lua_State *L, const TValue *t, TValue *first) {
  int n = 0;
  if (!ttistable(t)) return -1;
  if (isdummy(hvalue(t)) && luaH_realasize(hvalue(t)) == 0) return 0;  /* no parts: no key (NONE) */
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
static inline void callf (lua_State *L, const TValue *f, int nargs, int nres) {
  push(L, f);
  lua_insert(L, -(nargs + 1));
  lua_call(L, nargs, nres);
}

/* out = H.<k>() */
static inline void hostcall0 (lua_State *L, const TValue *H, TString *k, TValue *out) {
  TValue f;
  getf(L, H, k, &f);
  push(L, &f);
  lua_call(L, 0, 1);
  setobj(L, out, s2v(L->top - 1));
  lua_pop(L, 1);
}

/* lifecycle.lua's step_wall(): the step's wall clock in seconds (run.wall, read once per step; no
** run.wall: H.wall() each time, as the kernel tests' fakes have it) */
static inline void step_wall (lua_State *L, const TValue *run, const TValue *H, TString *kwall, TValue *out) {
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

/* H.load_add(n): in one crossing when it is the host's own (lhostfn.c), else the call */
static inline void hload_add (lua_State *L, const LuaWHostFns *hf, const TValue *H, TString *kload_add,
                             const TValue *n) {
  TValue f;
  getf(L, H, kload_add, &f);
  if (luaW_load_add_direct(hf, &f, n)) return;
  push(L, &f);
  push(L, n);
  lua_call(L, 1, 0);
}

/* lifecycle.lua's count_load(d), d = 1 or -1: run.dload's steps (none: H.load_add(d) at once) */
static inline void count_load (lua_State *L, const LuaWHostFns *hf, const TValue *run, const TValue *H,
                               TString *kdload, TString *kload_add, lua_Integer d) {
  TValue n, dv, zero;
  setivalue(&dv, d);
  setivalue(&zero, 0);
  getf(L, run, kdload, &n);
  if (ttisnil(&n)) {
    hload_add(L, hf, H, kload_add, &dv);
    return;
  }
  arith(L, LUA_OPADD, &n, &dv, &n);
  if (luaV_lessthan(L, &zero, &n)) {
    hload_add(L, hf, H, kload_add, &n);
    setivalue(&n, 0);
  }
  setf(L, run, kdload, &n);
}

/* *uv = *uv + d for an integer-valued upvalue (pids.lua's counts) */
static inline void uvadd (lua_State *L, UpVal *uv, lua_Integer d) {
  TValue dv, x;
  setivalue(&dv, d);
  arith(L, LUA_OPADD, uv->v, &dv, &x);
  setuv(L, uv, &x);
}

/* copool.lua's stack for P's coroutines: (P.budget or mem_cap_kb) and hooked or plain */
static inline const TValue *costack (lua_State *L, const TValue *P, TString *kbudget, const TValue *mem_cap_kb,
                              const TValue *hooked, const TValue *plain) {
  TValue b;
  getf(L, P, kbudget, &b);
  return (!l_isfalse(&b) || !l_isfalse(mem_cap_kb)) ? hooked : plain;
}

#endif
