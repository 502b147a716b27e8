/*
** lprobe.h: how the C of the kernel's hot paths (lsched.c, ldeliver.c, lsend.c, lrecv.c) binds to
** the Lua state it works on, and hands a case back to the Lua it mirrors.
**
** Binding. Each C function keeps a record (a userdata) with the addresses of the Lua locals it
** reads and writes (their UpVal, found by name among the upvalues of a `probe` closure the kernel
** module makes, so C and Lua share each local where it lives) and the field names it uses (TStrings
** interned once and kept from collection in a table). The record's fields are named by X-macros in
** each file; PROBE_ENTRY/KEY_ENTRY make the (name, offset) lists these helpers walk.
**
** Handing back. A case the C does not own goes to the Lua function with the arguments as they
** came (luaW_calllua), called with a continuation so a yield inside it takes the fast path (patch
** 0003): on such a yield lua_callk returns with the thread's status LUA_YIELD and the C function
** only returns; the resume ends it through the continuation, which returns the Lua's results.
*/
#ifndef lprobe_h
#define lprobe_h

#include <stddef.h>
#include <string.h>

#include "lfield.h"

typedef struct ProbeEntry { const char *name; size_t off; } ProbeEntry;

/* a record's fields: u_name, the UpVal of a Lua local; k_name, a field name */
#define PROBE_UV_FIELD(name) UpVal *u_##name;
#define PROBE_KEY_FIELD(name) TString *k_##name;
/* an entry of a record type R's field p_name (an UpVal * or a TString *) */
#define PROBE_ENTRY(R, p, name) { #name, offsetof(R, p##name) },
#define PROBE_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* binds every entry found among the upvalues of the Lua closure at index f into rec */
static inline void luaW_probe_bind (lua_State *L, int f, void *rec, const ProbeEntry *e, int n) {
  const char *name;
  int i, j;
  for (i = 1; (name = lua_getupvalue(L, f, i)) != NULL; i++) {
    lua_pop(L, 1);
    for (j = 0; j < n; j++)
      if (strcmp(name, e[j].name) == 0) *(UpVal **)((char *)rec + e[j].off) = (UpVal *)lua_upvalueid(L, f, i);
  }
}

/* raises if an entry was bound by no probe (who: the constructor's name) */
static inline void luaW_probe_check (lua_State *L, void *rec, const ProbeEntry *e, int n, const char *who) {
  int j;
  for (j = 0; j < n; j++)
    if (*(UpVal **)((char *)rec + e[j].off) == NULL)
      luaL_error(L, "%s: probe has no upvalue '%s'", who, e[j].name);
}

/* interns every entry's name into rec, and pushes a table holding them (keep it reachable) */
static inline void luaW_probe_keys (lua_State *L, void *rec, const ProbeEntry *e, int n) {
  int j;
  lua_createtable(L, 0, n);
  for (j = 0; j < n; j++) {
    lua_pushstring(L, e[j].name);
    *(TString **)((char *)rec + e[j].off) = tsvalue(s2v(L->top - 1));
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
  }
}

/* A C closure fn over a new record of `size` bytes (its upvalue 1), bound to the probes at
** arguments first..nargs (Lua closures); arguments 1..nargs stay reachable as the record's
** uservalues 1..nargs (a probe's upvalues live as long as fn), the keys' table as nargs + 1.
** who: the constructor's name in errors. The closure is pushed; the record returned. */
static inline void *luaW_probe_new (lua_State *L, int nargs, int first, size_t size,
    const ProbeEntry *uv, int nuv, const ProbeEntry *keys, int nkeys, lua_CFunction fn, const char *who) {
  void *rec;
  int f;
  for (f = first; f <= nargs; f++) {
    luaL_checktype(L, f, LUA_TFUNCTION);
    luaL_argcheck(L, !lua_iscfunction(L, f), f, "a Lua function expected");
  }
  lua_settop(L, nargs);
  rec = lua_newuserdatauv(L, size, nargs + 1);
  memset(rec, 0, size);
  for (f = 1; f <= nargs; f++) {
    lua_pushvalue(L, f);
    lua_setiuservalue(L, nargs + 1, f);
    if (f >= first) luaW_probe_bind(L, f, rec, uv, nuv);
  }
  luaW_probe_check(L, rec, uv, nuv, who);
  luaW_probe_keys(L, rec, keys, nkeys);
  lua_setiuservalue(L, nargs + 1, nargs + 1);
  lua_pushcclosure(L, fn, 1);
  return rec;
}
#define PROBE_NEW(L, nargs, first, R, fn, who) ((R *)luaW_probe_new(L, nargs, first, sizeof(R), \
  uv_entries, PROBE_COUNT(uv_entries), key_entries, PROBE_COUNT(key_entries), fn, who))

/* A channel's state is CH[ch] (channel.lua). A channel made by lrecv.c's chan_ud (channel.lua's
** chan_new on our module) also holds it as its one user value, set when it is made, as CH[ch] is,
** and neither ever changes: reading it there spares the hash of a userdata key into CH (a table of
** every channel of the worker). Such a userdata is recognised by its block: one pointer, to
** luaW_chan_mark, which no other userdata holds. Anything else (another userdata, a channel
** without the user value, not a userdata): CH[ch] as before. */
extern const char luaW_chan_mark;
LF_INLINE void luaW_chan_state (lua_State *L, const TValue *CH, const TValue *ch, TValue *s) {
  if (ttisfulluserdata(ch)) {
    Udata *u = uvalue(ch);
    if (u->nuvalue == 1 && u->len == sizeof(void *)
        && *(const void *const *)getudatamem(u) == (const void *)&luaW_chan_mark) {
      setobj(L, s, &u->uv[0].uv);
      return;
    }
  }
  getv(L, CH, ch, s);
}

/* q = o[k], the queue made at its first push (channel.lua's qpush_at: `if q == EMPTYQ then q =
** { h = 1, t = 0 }; o[k] = q end`); kh, kt: the caller's keys h and t */
static inline void luaW_queue_at (lua_State *L, const TValue *o, TString *k, const TValue *emptyq,
                                  TString *kh, TString *kt, TValue *q) {
  getf(L, o, k, q);
  if (raweq(q, emptyq)) {
    TValue one, zero;
    lua_createtable(L, 0, 2);
    sethvalue(L, q, hvalue(s2v(L->top - 1)));
    setivalue(&one, 1);
    setf(L, q, kh, &one);
    setivalue(&zero, 0);
    setf(L, q, kt, &zero);
    setf(L, o, k, q);
    lua_pop(L, 1);  /* reachable from o now */
  }
}

/* Would sched.lua's maybe_yield return at once? Yes without a running thread (run.cur nil) or
** while that thread's process has run fewer than yield_after instructions ((proc.red or 0) <
** YIELD_AFTER). The keys are the caller's probe keys cur, proc and red. */
static inline int luaW_yield_quiet (lua_State *L, const TValue *run, TString *kcur, TString *kproc,
                                    TString *kred, const TValue *yield_after) {
  TValue T, p, red;
  getf(L, run, kcur, &T);
  if (ttisnil(&T)) return 1;
  getf(L, &T, kproc, &p);
  getf(L, &p, kred, &red);
  if (l_isfalse(&red)) setivalue(&red, 0);
  return lt(L, &red, yield_after);
}

/* the continuation of luaW_calllua: the results, above the nargs (ctx) arguments */
static int luaW_calllua_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return lua_gettop(L) - (int)ctx;
}

/* return f(...) for the nargs arguments at slots 1..nargs (what is above them is dropped): the C
** function's results are the Lua's (see the top) */
static inline int luaW_calllua (lua_State *L, const TValue *f, int nargs) {
  int i;
  lua_settop(L, nargs);
  luaL_checkstack(L, nargs + 1, "calllua");
  push(L, f);
  for (i = 1; i <= nargs; i++) lua_pushvalue(L, i);
  lua_callk(L, nargs, LUA_MULTRET, nargs, luaW_calllua_k);
  if (lua_status(L) == LUA_YIELD) return 0;  /* a fast yield inside: only return */
  return luaW_calllua_k(L, LUA_OK, nargs);
}

#endif
