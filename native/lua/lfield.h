/*
** lfield.h: the VM's own steps for a field, an index, an upvalue and an arithmetic operation, for
** C that works on the kernel's Lua tables (lsched.c, ldeliver.c) at the cost of the VM's
** GETFIELD/SETFIELD minus its dispatch, instead of the C API's (a key through the C-string
** cache, a push and a pop per field: session 6's lmbox.c, measured no cheaper than the Lua).
**
** A read is the raw slot (luaH_getshortstr / luaH_getint / luaH_get), else luaV_finishget, so a
** default read through a record's metatable (__index) and every metamethod behave as in Lua; a
** write is the raw slot when it holds a value (luaV_finishfastset: the VM's store and its
** luaC_barrierback), else luaV_finishset (new keys, __newindex); an upvalue write is lua_setupvalue's (with
** luaC_barrier). luaV_finishget leaves its result in the free stack slot at L->top, so callers
** keep a few free slots (luaL_checkstack) above what they use. Keys are TStrings interned once and
** kept from collection by the caller.
**
** Session 11 took the calls out of the common cases, each the same steps as the function it skips:
** a field read whose raw slot is empty, on a table without a metatable or without __index, is nil;
** on one whose __index is a table (the process records' and subscription kinds' defaults), that
** table's raw slot, and nil if it is empty and the table has no metatable (luaV_finishget's loop,
** one turn); anything else still goes to luaV_finishget. A field write into an empty slot of a
** table without a metatable is luaV_finishset's (no nil inserted; a present key's slot stored,
** its TM cache invalidated, luaC_barrierback). luaH_getshortstr, luaV_rawequalobj, and the integer
** cases of the arithmetic and comparisons are inline too (lf_getshortstr, raweq, arith, lt, le,
** eq). No C API per field, and no call for the common field step. Session 11's second wave did
** the same for the integer index (fan-in's backlog slots, the buffers, a record's P[4]): geti and seti
** take the array part inline (lf_getint: GETI's luaV_fastgeti), and an index write into an empty
** slot of a table without a metatable is the field write's inline steps above. Session 13 added
** the float cases the run loop's clock accounting took through calls: arith's ADD/SUB of two
** numbers not both integers (luaO_rawarith's numarith) and lt of two floats or of an exactly
** convertible integer against a float (LTnum's and LTintfloat's first cases).
*/
#ifndef lfield_h
#define lfield_h

#include <float.h>

#include "lua.h"
#include "lauxlib.h"

#include "lobject.h"
#include "lstate.h"
#include "lstring.h"
#include "ltable.h"
#include "lgc.h"
#include "lvm.h"
#include "ltm.h"
#include "lfunc.h"
#include "ldo.h"

/* The steps below are inlined at every use: emcc's -flto kept getf and setf out of line (a call
** each, ~7% of a ping-pong message's CPU in session 10's profile), and arith, le and the
** comparisons take their integer case inline (luaO_rawarith, luaV_equalobj and luaV_lessthan
** were calls: another ~5%). Session 11, docs/design/native-core.md, "The per-message path". */
#define LF_INLINE static inline __attribute__((always_inline))

/* luaH_getshortstr, inline (emcc's -flto kept it out of line once getf and setf were inlined):
** the key's main position, then its collision chain; an absent key is a slot tagged
** LUA_VABSTKEY, as ltable.c's absentkey (callers test isempty/isabstkey, never the address) */
static const TValue lf_absentkey = {ABSTKEYCONSTANT};
LF_INLINE const TValue *lf_getshortstr (Table *t, TString *key) {
  Node *n = gnode(t, lmod(key->hash, sizenode(t)));
  for (;;) {
    int nx;
    if (keyisshrstr(n) && eqshrstr(keystrval(n), key)) return gval(n);
    nx = gnext(n);
    if (nx == 0) return &lf_absentkey;
    n += nx;
  }
}

/* luaV_rawequalobj, inline for the same variant (a collectable other than a long string: the same
** object; an integer: the same value); anything else through it */
LF_INLINE int raweq (const TValue *a, const TValue *b) {
  if (ttypetag(a) == ttypetag(b)) {
    if (ttisinteger(a)) return ivalue(a) == ivalue(b);
    if (iscollectable(a) && !ttislngstring(a)) return gcvalue(a) == gcvalue(b);
    if (ttisnil(a)) return 1;
  }
  else if (ttype(a) != ttype(b)) return 0;
  return luaV_rawequalobj(a, b);
}

/* an upvalue write: lua_setupvalue's steps */
LF_INLINE void setuv (lua_State *L, UpVal *uv, const TValue *v) {
  setobj(L, uv->v, v);
  luaC_barrier(L, uv, v);
}

/* out = t.k (GETFIELD's steps: the raw slot, else luaV_finishget with metamethods) */
LF_INLINE void getf (lua_State *L, const TValue *t, TString *k, TValue *out) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    Table *mt;
    const TValue *tm;
    slot = lf_getshortstr(hvalue(t), k);
    if (!isempty(slot)) { setobj(L, out, slot); return; }
    /* luaV_finishget's loop for the kernel's defaults, inline: no metatable or no __index, nil;
    ** an __index table, its raw slot (a record's or a subscription kind's defaults), and if that
    ** is empty and the table has no metatable, nil. Anything else: luaV_finishget. */
    mt = hvalue(t)->metatable;
    tm = fasttm(L, mt, TM_INDEX);
    if (tm == NULL) { setnilvalue(out); return; }
    if (ttistable(tm)) {
      const TValue *d = lf_getshortstr(hvalue(tm), k);
      if (!isempty(d)) { setobj(L, out, d); return; }
      if (hvalue(tm)->metatable == NULL) { setnilvalue(out); return; }
    }
  }
  setsvalue(L, &key, k);
  luaV_finishget(L, t, &key, L->top, slot);  /* the result in the free slot at the top */
  setobj(L, out, s2v(L->top));
}

/* t.k = v (SETFIELD's steps: the fast slot, else luaV_finishset) */
LF_INLINE void setf (lua_State *L, const TValue *t, TString *k, TValue *v) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    slot = lf_getshortstr(hvalue(t), k);
    if (!isempty(slot)) { luaV_finishfastset(L, t, slot, v); return; }
    Table *h = hvalue(t);
    /* no __newindex (no metatable, or one without it: fasttm's cached absence): luaV_finishset's
    ** steps, inline; among them a key held with a nil value (a process record's reserved keys,
    ** lspawn.c luaW_sp_proc) stored in place */
    if (h->metatable == NULL || fasttm(L, h->metatable, TM_NEWINDEX) == NULL) {
      /* a nil under an empty slot changes nothing (luaH_newkey inserts no nil) */
      if (ttisnil(v)) return;
      if (!isabstkey(slot)) {  /* the key is there with a nil value: luaH_finishset's store */
        setobj2t(L, cast(TValue *, slot), v);
        invalidateTMcache(h);
        luaC_barrierback(L, obj2gco(h), v);
        return;
      }
    }
  }
  setsvalue(L, &key, k);
  luaV_finishset(L, t, &key, v, slot);
}

/* t[i]'s slot: GETI's luaV_fastgeti, the array part inline (luaH_getint was a call per step:
** ~20 per backlogged message in fan-in's push and refill) */
LF_INLINE const TValue *lf_getint (Table *t, lua_Integer i) {
  if (l_castS2U(i) - 1u < t->alimit) return &t->array[i - 1];
  return luaH_getint(t, i);
}

/* out = t[i] and t[i] = v (GETI/SETI's steps; a write into an empty slot of a table without a
** metatable is luaV_finishset's steps inline, as setf's) */
LF_INLINE void geti (lua_State *L, const TValue *t, lua_Integer i, TValue *out) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    slot = lf_getint(hvalue(t), i);
    if (!isempty(slot)) { setobj(L, out, slot); return; }
  }
  setivalue(&key, i);
  luaV_finishget(L, t, &key, L->top, slot);
  setobj(L, out, s2v(L->top));
}
LF_INLINE void seti (lua_State *L, const TValue *t, lua_Integer i, TValue *v) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    slot = lf_getint(hvalue(t), i);
    if (!isempty(slot)) { luaV_finishfastset(L, t, slot, v); return; }
    if (hvalue(t)->metatable == NULL) {  /* no __newindex: luaV_finishset's steps, as setf's */
      Table *h = hvalue(t);
      if (ttisnil(v)) return;  /* a nil under an empty slot changes nothing */
      if (!isabstkey(slot)) {  /* an empty slot of the array or a key with a nil value */
        setobj2t(L, cast(TValue *, slot), v);
        invalidateTMcache(h);
        luaC_barrierback(L, obj2gco(h), v);
        return;
      }
    }
  }
  setivalue(&key, i);
  luaV_finishset(L, t, &key, v, slot);
}

/* out = a op b (the VM's arithmetic, metamethods included) */
LF_INLINE void arith (lua_State *L, int op, const TValue *a, const TValue *b, TValue *out) {
  if (ttisinteger(a) && ttisinteger(b) && (op == LUA_OPADD || op == LUA_OPSUB)) {
    lua_Integer x = ivalue(a), y = ivalue(b);
    setivalue(out, op == LUA_OPADD ? intop(+, x, y) : intop(-, x, y));
    return;
  }
  /* two numbers, not both integers: luaO_rawarith's numarith (each converted as tonumberns does;
  ** the scheduler's clocks and a record's ms run, P[2], session 13) */
  if (ttisnumber(a) && ttisnumber(b) && (op == LUA_OPADD || op == LUA_OPSUB)) {
    lua_Number x = ttisinteger(a) ? cast_num(ivalue(a)) : fltvalue(a);
    lua_Number y = ttisinteger(b) ? cast_num(ivalue(b)) : fltvalue(b);
    setfltvalue(out, op == LUA_OPADD ? luai_numadd(L, x, y) : luai_numsub(L, x, y));
    return;
  }
  if (!luaO_rawarith(L, op, a, b, out)) {
    luaT_trybinTM(L, a, b, L->top, (TMS)((op - LUA_OPADD) + TM_ADD));
    setobj(L, out, s2v(L->top));
  }
}

/* out = t[k] for any key (GETTABLE's steps). A short-string key (a PID, an entry id, a host
** name) has its slot found by lf_getshortstr inline instead of luaH_get's call and type switch,
** and a miss in a table without a metatable is nil at once (luaV_finishget's first step); session
** 14's spawn+exit profile had luaH_get's call at ~3% of the worker, most of it PID keys. */
LF_INLINE void getv (lua_State *L, const TValue *t, const TValue *k, TValue *out) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    slot = ttisshrstring(k) ? lf_getshortstr(hvalue(t), tsvalue(k)) : luaH_get(hvalue(t), k);
    if (!isempty(slot)) { setobj(L, out, slot); return; }
    if (ttisshrstring(k) && hvalue(t)->metatable == NULL) { setnilvalue(out); return; }
  }
  setobj(L, &key, k);
  luaV_finishget(L, t, &key, L->top, slot);
  setobj(L, out, s2v(L->top));
}

/* t[k] = v (SETTABLE's steps: the raw slot, else luaV_finishset with metamethods). A short-string
** key's slot is found as getv's, and into a table without __newindex it is stored by
** luaV_finishset's and luaH_finishset's own steps inline: a new key by luaH_newkey (which
** inserts no nil), a key held with a nil value in place. */
LF_INLINE void setv (lua_State *L, const TValue *t, const TValue *k, TValue *v) {
  const TValue *slot = NULL;
  TValue key;
  if (ttistable(t)) {
    Table *h = hvalue(t);
    if (!ttisshrstring(k)) slot = luaH_get(h, k);
    else {
      slot = lf_getshortstr(h, tsvalue(k));
      if (isempty(slot) && (h->metatable == NULL || fasttm(L, h->metatable, TM_NEWINDEX) == NULL)) {
        if (isabstkey(slot)) luaH_newkey(L, h, k, v);
        else setobj2t(L, cast(TValue *, slot), v);
        invalidateTMcache(h);
        luaC_barrierback(L, obj2gco(h), v);
        return;
      }
    }
    if (!isempty(slot)) { luaV_finishfastset(L, t, slot, v); return; }
  }
  setobj(L, &key, k);
  luaV_finishset(L, t, &key, v, slot);
}

/* a <= b, the VM's comparison (integers directly) */
LF_INLINE int le (lua_State *L, const TValue *a, const TValue *b) {
  if (ttisinteger(a) && ttisinteger(b)) return ivalue(a) <= ivalue(b);
  return luaV_lessequal(L, a, b);
}

/* an integer a float converts exactly (lvm.c's l_intfitsf: |i| <= 2^NBM, NBM the float's mantissa) */
#define lf_intfitsf(i) \
  ((l_castS2U(i) + (l_castS2U(1) << l_floatatt(MANT_DIG))) <= (l_castS2U(2) << l_floatatt(MANT_DIG)))

/* a < b and a == b, the VM's (integers directly; two floats, and an integer against a float when
** the integer converts exactly: LTnum's and LTintfloat's first cases, session 13: the run loop's
** "the step's time is up", STEP_MS against a clock's difference) */
LF_INLINE int lt (lua_State *L, const TValue *a, const TValue *b) {
  if (ttisinteger(a) && ttisinteger(b)) return ivalue(a) < ivalue(b);
  if (ttisfloat(b)) {
    if (ttisfloat(a)) return luai_numlt(fltvalue(a), fltvalue(b));
    if (ttisinteger(a) && lf_intfitsf(ivalue(a))) return luai_numlt(cast_num(ivalue(a)), fltvalue(b));
  }
  return luaV_lessthan(L, a, b);
}
LF_INLINE int eq (lua_State *L, const TValue *a, const TValue *b) {
  if (ttisinteger(a) && ttisinteger(b)) return ivalue(a) == ivalue(b);
  if (ttype(a) != ttype(b)) return 0;  /* luaV_equalobj's first test */
  if (ttypetag(a) == ttypetag(b) && iscollectable(a) && gcvalue(a) == gcvalue(b)) return 1;  /* the same object */
  return luaV_equalobj(L, a, b);
}

/* push a copy of v (the stack has room: run() checks it once) */
LF_INLINE void push (lua_State *L, const TValue *v) {
  setobj2s(L, L->top, v);
  L->top++;
}

#endif
