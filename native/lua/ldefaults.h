/*
** ldefaults.h: a field read through a table's defaults, with the defaults found once (session 13,
** issue 14: the exit, the EXIT's arrival and the events channel's receive).
**
** The kernel's records keep what most of them never change in a shared table read through their
** metatable's __index: a process record's (spawn.lua meta_of: max_mailbox, subs, links, names,
** monitoring, ...) and a subscription state's (mailbox.lua kind: cap, mode, buf, sendq, backlog,
** take_backlog, ...). lfield.h's getf resolves a key the record lacks through that table, but
** first asks the metatable for __index (`fasttm`): Lua caches only the absence of a metamethod, so
** for a metatable that holds __index every such read is a `luaT_gettm` call and a hash lookup in
** the metatable. A C step that reads several keys of one record finds the defaults once
** (defaults_of) and reads each key with getfd: the record's raw slot, else the defaults' raw slot,
** else nil, which is what getf does for a record whose __index is a table without a metatable
** (luaV_finishget's loop, one turn). Valid while nothing runs between the reads: getfd and the
** raw reads run no metamethod, and a caller re-finds the defaults after any step that may (a
** call, a write through luaV_finishset).
*/
#ifndef ldefaults_h
#define ldefaults_h

#include "lfield.h"

/* the defaults of table t: its metatable's __index when that is a table without a metatable, else
** NULL (a table without a metatable, or another form of __index: getfd falls back to getf) */
LF_INLINE Table *defaults_of (lua_State *L, const TValue *t) {
  Table *mt;
  const TValue *tm;
  if (!ttistable(t) || (mt = hvalue(t)->metatable) == NULL) return NULL;
  tm = fasttm(L, mt, TM_INDEX);
  if (tm == NULL || !ttistable(tm) || hvalue(tm)->metatable != NULL) return NULL;
  return hvalue(tm);
}

/* out = t.k where D = defaults_of(t): t's raw slot, else D's, else nil (getf's steps for that
** form); D NULL: getf */
LF_INLINE void getfd (lua_State *L, const TValue *t, Table *D, TString *k, TValue *out) {
  const TValue *slot;
  if (D == NULL) { getf(L, t, k, out); return; }
  slot = lf_getshortstr(hvalue(t), k);
  if (isempty(slot)) {
    slot = lf_getshortstr(D, k);
    if (isempty(slot)) { setnilvalue(out); return; }
  }
  setobj(L, out, slot);
}

#endif
