/*
** ljob.c: a job from JS through the worker's Lua-side list in C, for the common cases: its "spj"
** frame queued (spj) and its START slot's round (slot) (`wippy.native.jobslot`, opened by
** lwippy.c). Session 10 (issue 15).
**
** What it replaces. On a host of several workers with the budget hook a job from JS arrives as an
** "spj" frame, waits in the worker's Lua-side list (taskq.lua `lq`) and starts at its turn in the
** run queue, a START slot (sched.lua). That round was sched.lua's start_slot (START off the head,
** queued_local), spawn.lua's take_task and taskq.lua's take (the list's bookkeeping), ~90 VM
** instructions per job, before spawn.lua's frame_sp starts the process. jobslot's closure does
** the same steps over the same state and calls frame_sp itself: the job's process start stays Lua.
** On arrival the frame went through spawn.lua's frame_spj, taskq.lua's push_job and sched.lua's
** ready_start (~40 instructions): spj() is frame_spj, installed as frames.lua's "spj" handler.
**
** What it owns: nothing. sched.lua's run queue (runq, rq_head, rq_tail; START read) and taskq.lua's
** list and counters (lq, lh, lt, shared_in, starts, and the fields it only reads: spill_n, pub,
** reported, offer_at, LISTED_EVERY, JOB, MARK, MULTI, hooked) are Lua locals it finds by name among the upvalues of the two
** modules' probe closures (lprobe.h), reading and writing each where it lives.
**
** The protocol. slot() is sched.lua's start_slot (sched.lua installs it in that local when the
** module has it: lsched.c's loop and the Lua run_loop both call the local), called with START at
** the head of the run queue. It takes the common case only, decided before anything is written:
** the spill is empty, the list holds a record and it is a job (`t[1] == "spj"`), no spawn was
** published and not seen taken (pub == 0), the shared queues' every-SHARED_EVERY look is not due
** (shared_in > 1), and the offer rule's bookkeeping needs no report (the starts stay below
** LISTED_EVERY, the list does not empty while a length is reported): under a steady load the list
** rarely empties, so a length reported once stays reported, and that case is the common one. Then,
** as start_slot + take_task + take in that order: START leaves the queue, shared_in and the list's
** head move on (the list emptied: back to 1, 0), starts counts it, offer_at comes down to the
** list's length plus LISTED_EVERY if it was above (take's last step; session 11, second wave: a
** list past the mark that drains clamps it at every start, which sent every start of such a list
** to the Lua), frame_sp(t) starts it, and a main thread readied at the tail takes START's slot
** (-> true) or the slot stays empty (-> false). Every other case is the Lua start_slot's, called
** with the state untouched (its own steps are then the whole round). An error inside frame_sp
** raises through slot() with the state where the Lua would have left it (the record is off the
** list, as taskq.take leaves it), to S.step's pcall.
** spj(f) takes push_job's inline case only (a hooked host of several workers, the list below the
** backlog mark, no report due): f at lq's young end, START at the run queue's tail, as
** push_job + ready_start; every other case is the Lua frame_spj's (room(), the offer rule, "sp").
**
** Session 11: the record's start is lqspawn.c's tstart when it is given (uservalue 4; false on a
** module or a world without it): a job (frame_sp's common case in C) or a spawn the spawner queued
** in C (a flat record, { uniq, pid, ... }: a number at [1]), which also counts in c_started as
** take() counts it; frame_sp for a job otherwise. tstart hands every case it does not own to the
** Lua (frame_sp, spawn.lua's start_flat), so the round's steps here stay the same.
** Differences from the Lua, none observable by a process or a sibling: the same records leave the
** same list in the same order and start by the same function. On wasmoon's module and with
** WIPPY_CSCHED=0 the Lua runs; test/job-slot.test.ts runs jobs on both and requires the same
** outcomes and order. Rejected: taking the whole list in C (publish, report, share: rare, and
** each a host call anyway) and the process start in C (spawn.lua's start_here: the entry's
** instantiation, ctx, security and the record are most of a job and change with the kernel).
*/
#include "lua.h"
#include "lauxlib.h"

#include "lprobe.h"

/* sched.lua's locals (its probe) and taskq.lua's (M.probe), by name */
#define UPVALS(X) \
  X(runq) X(rq_head) X(rq_tail) X(START) \
  X(lq) X(lh) X(lt) X(spill_n) X(pub) X(shared_in) X(starts) X(reported) X(offer_at) X(c_started) \
  X(LISTED_EVERY) X(JOB) X(MARK) X(MULTI) X(hooked)

/* (no field names: the records are read by index) */
typedef struct Slot {
  UPVALS(PROBE_UV_FIELD)
} Slot;

#define UV_ENTRY(name) PROBE_ENTRY(Slot, u_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };

#define V(name) (S->u_##name->v)

/* the integer in v, or -1 when it is none (the common case's tests then fail: the Lua decides) */
static inline lua_Integer ival (const TValue *v) {
  return ttisinteger(v) ? ivalue(v) : -1;
}

/* v = i into upvalue uv (an integer needs no barrier) */
static inline void setint (UpVal *uv, lua_Integer i) {
  setivalue(uv->v, i);
}

/* slot() -> true: a thread now holds START's slot (see the top). Upvalue 1: the Slot record, whose
** uservalues 1 and 2 are frame_sp and the Lua start_slot. */
static int slot (lua_State *L) {
  Slot *S = (Slot *)lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer lh = ival(V(lh)), lt = ival(V(lt)), head, t0;
  lua_Integer len = lh + 1 > lt ? 0 : lt - lh;  /* the list's length once t is taken */
  lua_Integer reported = ival(V(reported)), offer_at = ival(V(offer_at)), starts = ival(V(starts));
  TValue t, first, v, nilv;
  int job;
  luaL_checkstack(L, 6, "jobslot");
  lua_settop(L, 0);
  if (ival(V(spill_n)) == 0 && lh >= 1 && lh <= lt && ival(V(pub)) == 0 && ival(V(shared_in)) > 1 &&
      starts >= 0 && starts + 1 < ival(V(LISTED_EVERY)) && reported >= 0 && !(len == 0 && reported > 0) &&
      offer_at >= 0 && ttistable(V(lq))) {
    geti(L, V(lq), lh, &t);
    if (ttistable(&t)) geti(L, &t, 1, &first); else setnilvalue(&first);
    job = ttisstring(&first) && luaV_rawequalobj(&first, V(JOB));
    /* index 1: tstart (lqspawn.c: a job or a flat record), else frame_sp for a job */
    if (lua_getiuservalue(L, lua_upvalueindex(1), 4) != LUA_TFUNCTION && job) {
      lua_pop(L, 1);
      lua_getiuservalue(L, lua_upvalueindex(1), 1);
    }
    if ((job || (ttisinteger(&first) && ttisinteger(V(c_started)) && lua_isfunction(L, 1))) &&
        ttisinteger(V(rq_head)) && ttisinteger(V(rq_tail))) {
      setnilvalue(&nilv);
      push(L, &t);                                    /* index 2: the record, anchored */
      /* start_slot: START off the head */
      head = ivalue(V(rq_head));
      seti(L, V(runq), head, &nilv);
      setint(S->u_rq_head, head + 1);
      /* take: the list's head (taskq.take's common case) */
      setint(S->u_shared_in, ivalue(V(shared_in)) - 1);
      seti(L, V(lq), lh, &nilv);
      if (lh + 1 > lt) { setint(S->u_lh, 1); setint(S->u_lt, 0); }
      else setint(S->u_lh, lh + 1);
      setint(S->u_starts, starts + 1);
      /* take's last step: a list past the mark is looked at again within LISTED_EVERY of its length */
      if (offer_at > len + ival(V(LISTED_EVERY))) setint(S->u_offer_at, len + ival(V(LISTED_EVERY)));
      if (!job) setint(S->u_c_started, ivalue(V(c_started)) + 1);
      /* take_task: the job starts as the "sp" frame it would have been, a spawn of this worker's
      ** (a flat record, lqspawn.c) by tstart */
      t0 = ival(V(rq_tail));
      lua_call(L, 1, 0);
      if (!ttisinteger(V(rq_tail)) || ivalue(V(rq_tail)) != t0 + 1) { lua_pushboolean(L, 0); return 1; }
      /* the new process's main thread, readied at the tail: it runs in START's slot */
      head = ival(V(rq_head)) - 1;
      setint(S->u_rq_head, head);
      geti(L, V(runq), t0 + 1, &v);
      seti(L, V(runq), head, &v);
      seti(L, V(runq), t0 + 1, &nilv);
      setint(S->u_rq_tail, t0);
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  lua_settop(L, 0);
  lua_getiuservalue(L, lua_upvalueindex(1), 2);  /* the Lua start_slot, the state untouched */
  lua_call(L, 0, 1);
  return 1;
}

/* spj(f): spawn.lua's frame_spj, a job's "spj" frame arriving (see the top). Upvalue 1: the Slot
** record, whose uservalue 3 is the Lua frame_spj. */
static int spj (lua_State *L) {
  Slot *S = (Slot *)lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer lh = ival(V(lh)), lt = ival(V(lt)), len = lt - lh + 1, tail;
  TValue f;
  luaL_checkstack(L, 4, "jobslot");
  lua_settop(L, 1);
  /* push_job's inline case: a hooked host of several workers, the list below the mark, no report due */
  if (!l_isfalse(V(MULTI)) && !l_isfalse(V(hooked)) && lh >= 1 && len >= 0 && len < ival(V(MARK)) &&
      ival(V(reported)) >= 0 && len - ival(V(reported)) < ival(V(LISTED_EVERY)) && ttistable(V(lq)) &&
      ttisinteger(V(rq_tail)) && ttistable(s2v(L->ci->func + 1))) {
    setobj(L, &f, s2v(L->ci->func + 1));
    /* push_job: lq's young end */
    setint(S->u_lt, lt + 1);
    seti(L, V(lq), lt + 1, &f);
    /* ready_start: START at the run queue's tail */
    tail = ivalue(V(rq_tail)) + 1;
    setint(S->u_rq_tail, tail);
    seti(L, V(runq), tail, V(START));
    return 0;
  }
  lua_getiuservalue(L, lua_upvalueindex(1), 3);  /* the Lua frame_spj, the state untouched */
  lua_insert(L, 1);
  lua_call(L, 1, 0);
  return 0;
}

/* jobslot(frame_sp, start_slot, frame_spj, tstart, sched_probe, taskq_probe) -> slot, spj (tstart:
** lqspawn.c's, or false) */
static int jobslot (lua_State *L) {
  luaW_probe_new(L, 6, 5, sizeof(Slot), uv_entries, PROBE_COUNT(uv_entries), NULL, 0, slot, "jobslot");
  lua_getupvalue(L, -1, 1);  /* the record: spj's upvalue too */
  lua_pushcclosure(L, spj, 1);
  return 2;
}

/* pushes the jobslot constructor (lwippy.c puts it into wippy.native) */
int luaW_open_job (lua_State *L) {
  lua_pushcfunction(L, jobslot);
  return 1;
}
