/*
** lrecpool.h: process and main-thread records kept after an exit and reset for a later spawn
** (issue 14, session 14; docs/design/native-core.md, "Session 14: recycled process records").
**
** A monitored spawn+exit made the process record Q (a Table, its 5-slot array part and its
** 16-node hash part: 3 allocations, 496 bytes) and the main thread's record T (2 allocations,
** 128 bytes), ~60% of a spawn+exit's bytes, and left them to the collector. lexit.c's common
** case now puts the two records of a process that ran exactly one resume into two stacks
** (copool.lua's `qpool` and `tpool`: weak-valued, {n = top}, at most copool's MAX each), and the
** C spawn (lspawn.c luaW_sp_proc, luaW_sp_thread; lqspawn.c shares both) takes one from there,
** checks it and resets it to its shape's template (lshape.h) instead of making a new one.
**
** Push (lexit.c, the end of its common case): the process is fully ended (alive false,
** finalized, notified, out of `procs`, its watcher told, its coroutine back in copool) and its
** figure P[1] (resumes, counted by the scheduler) is 1: its main thread ran from its first
** instruction to its return in one resume, so it never parked, yielded or was queued a second
** time, and no thread of the process other than the main one ever ran.
**
** Take (here): the record's parts are the template's sizes, and every key in its hash part is
** one of the keys `ok` lists (a fresh record's keys and those the spawn and the exit's common case
** write), or empty. Every kernel module that keeps a reference to a process record or a thread
** record beyond the step writes a key of its own on it first (the audit in the design doc: nsubs,
** inbox, events, subs, names, forced, on_cancel, execs, upgrade_req, on_exit, ctx, heard,
** monitoring, threads, npending, doomed on Q; parked, mrec, dead on T); a key written and later
** set to nil stays in its node (nil-valued, or dead after a collection: its pointer still says
** which key it was), so such a record is refused and left to the collector. The reset: the
** template's nodes and array part copied over the record's own (keys, values, `next` offsets,
** `lastfree`), the flags and the metatable a new table's; the caller then writes the varying
** values, as into a copy.
**
** GC: a pooled record is held only by its weak stack, so a collection cycle clears it unless
** it was marked earlier in that cycle (then it is black, alive till the next cycle); what is in
** a stack after a cycle's atomic phase was marked then or pushed after, so it is never dead. A
** reused record may be black while the values the caller writes are white, so it goes back to
** gray first (luaC_barrierback_: the collector traverses it again in the atomic phase; in the
** generational mode it becomes touched). Nothing between the take and the caller's last write
** runs a collector step.
*/
#ifndef lrecpool_h
#define lrecpool_h

#include "lshape.h"
#include "lgc.h"

#define RECPOOL_MAXOK 16

/* t's hash keys are all in ok[0..nok-1] (or empty), its parts sh's template's sizes */
static inline int recpool_fits (const Table *t, const Shape *sh, TString *const *ok, int nok) {
  const Table *s = sh->t;
  unsigned int i, nn;
  if (t->lsizenode != s->lsizenode || isdummy(t) || luaH_realasize(t) != luaH_realasize(s)) return 0;
  nn = allocsizenode(s);
  for (i = 0; i < nn; i++) {
    const Node *n = gnode(t, i), *m = gnode(s, i);
    GCObject *k;
    int j;
    if (keyisnil(n)) continue;
    if (!keyisshrstr(n) && !keyisdead(n)) return 0;  /* (a dead key keeps its pointer) */
    k = gckey(n);
    if (keyisshrstr(m) && gckey(m) == k) continue;  /* where the template has it */
    for (j = 0; j < nok; j++) if (obj2gco(ok[j]) == k) break;
    if (j == nok) return 0;
  }
  return 1;
}

/* t reset to sh's template: the nodes and the array part copied over its own, `lastfree`, the
** flags and metatable of a new table; gray again if it was black */
static inline void recpool_reset (lua_State *L, Table *t, const Shape *sh) {
  const Table *s = sh->t;
  unsigned int na = luaH_realasize(s);
  shape_copy_nodes(t->node, s->node, allocsizenode(s));
  t->lastfree = t->node + (s->lastfree - s->node);
  if (na > 0) memcpy(t->array, s->array, na * sizeof(TValue));
  t->alimit = na;
  t->flags = cast_byte(maskflags);  /* luaH_new's (BITRAS clear: alimit is the real size) */
  t->metatable = NULL;
  if (isblack(obj2gco(t))) luaC_barrierback_(L, obj2gco(t));
}

/* the top of the weak stack `pool` ({n = top}, key kn) that fits sh (recpool_fits), reset and
** pushed; entries that do not fit are dropped on the way (to the collector). NULL: none. */
static inline Table *luaW_recpool_take (lua_State *L, const TValue *pool, TString *kn, const Shape *sh,
                                        TString *const *ok, int nok) {
  TValue nv, v, nilv;
  lua_Integer n;
  if (!ttistable(pool)) return NULL;
  getf(L, pool, kn, &nv);
  if (!ttisinteger(&nv) || (n = ivalue(&nv)) <= 0) return NULL;
  setnilvalue(&nilv);
  while (n > 0) {
    geti(L, pool, n, &v);
    seti(L, pool, n, &nilv);
    n--;
    if (ttistable(&v) && recpool_fits(hvalue(&v), sh, ok, nok)) {
      Table *t = hvalue(&v);
      setivalue(&nv, n);
      setf(L, pool, kn, &nv);
      sethvalue2s(L, L->top, t);
      L->top++;
      recpool_reset(L, t, sh);
      return t;
    }
  }
  setivalue(&nv, 0);
  setf(L, pool, kn, &nv);
  return NULL;
}

/* v pushed on the weak stack `pool` ({n = top}, key kn) unless it holds max */
static inline void luaW_recpool_give (lua_State *L, const TValue *pool, TString *kn, const TValue *max,
                                      const TValue *v) {
  TValue nv;
  if (!ttistable(pool)) return;
  getf(L, pool, kn, &nv);
  if (!ttisinteger(&nv) || !ttisinteger(max) || ivalue(&nv) >= ivalue(max)) return;
  setivalue(&nv, ivalue(&nv) + 1);
  seti(L, pool, ivalue(&nv), (TValue *)v);
  setf(L, pool, kn, &nv);
}

#endif
