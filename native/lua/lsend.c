/*
** lsend.c: process.send's common case in C (`wippy.native.sender`, opened by lwippy.c): a live
** process of this worker, one value, a topic that passes, the caller allowed without a policy
** decision. The send is one C call from the process's Lua code to the arrival (ldeliver.c's
** luaW_deliver_at, which wakes the receiver): no Lua frame for process.send, cur, check or
** maybe_yield, no select/copy/deliver calls through the VM.
**
** What it owns: nothing. The state is process.lua's and the kernel's: sender(deliver, probe)
** finds process.lua's locals by name among the upvalues of `probe` (run, procs, copy, strict,
** SEND_BUDGET, YIELD_AFTER, send_tail and send, the Lua process.send), as lsched.c and
** ldeliver.c find theirs, and takes the arrival's state from the deliver closure it is given
** (ldeliver.c's). Fields go through lfield.h (the VM's own steps, metamethods included).
**
** send(dest, topic, v): process.lua's process.send, the same steps in the same order, when every
** one of these holds (decided by reads alone, before anything changes): exactly three arguments;
** run.cp is a process P; dest and topic are not nil; topic is a string not starting with "@"; a
** live local process procs[dest] (its `home` nil, `alive` true); check(P, "process.send", ...)
** would allow without a decision (P has no actor or no scope, and the runtime is not strict:
** init.lua's check); v is nil, a boolean, a number or a string (the copy returns it as it is),
** or copy(v) succeeds. Then: deliver(target, topic, P.pid, 1, nil, v) (ldeliver.c), P[4] + 1,
** and the send budget: b = (P.sendb or 0) + 1; below SEND_BUDGET with the running thread under
** YIELD_AFTER instructions (maybe_yield would return at once), P.sendb = b and `true`; else the
** Lua send_tail(P, b) does the rest (the forced yield or maybe_yield's), called with a
** continuation so its yield takes the fast path (patch 0003: on such a yield lua_callk returns with
** the thread's status LUA_YIELD, and send only returns; the resume ends it through the
** continuation), and `true`.
**
** With pids.lua's locate and send_frame given (the step's outbox exists), one value to a process
** of another worker is ours too, when dest is no process of this worker and pids.lua has parsed it
** (remote_uniq[dest]: a PID with a host of this runtime, sent to before): the same reads of
** run.cp, topic and check as above, then locate's remote_uniq branch (tid, alive =
** H.route(uniq); alive, tid > 0, and the worker's host the PID's or a function PID's) and
** send_frame's (encode_frame_out(outbox, tid, 5, "m", dest, P.pid, topic, 1, v): the "m" frame
** into the step's outbox, no Lua string — for a string, number or boolean v written from the
** values by lmframe.c, the same bytes, session 15; past the outbox's mark, end_step()), then P[4] + 1
** and the send budget as above. A dead or moved process, or a value the encoder refuses (it
** appends nothing then), goes to the Lua send before anything changed (the route is a read): it
** does it all again and returns its error. Anything else (a stolen process's forward, a PID not
** yet parsed, a name, a refusal, several values, an unsendable value, no process, a policy to
** consult) is the Lua send's, called with the same arguments and a continuation, its results
** returned as they are: every case it does not own is the Lua, untouched.
**
** Why, measured: process.send was ~55 VM instructions and four Lua calls (itself, cur, check,
** maybe_yield) plus select, copy and deliver per message; docs/design/native-core.md, "The
** per-message path", session 9, has the figures with and without this. Across workers the Lua
** send (with locate and send_frame) was 36% of the sender's CPU in the transport stream, the
** sender the stream's bound: docs/design/scheduler.md, session 10.
**
** What it may call: the codec's copy (tables, userdata, functions, threads), luaW_deliver_at,
** the Lua send and send_tail, H.route (the host's own in one crossing: lhostfn.c), encode_frame_out,
** luaW_mframe_out (lmframe.c), end_step, and metamethods.
** On wasmoon's module (no wippy.native) and with WIPPY_CSCHED=0 the Lua send runs;
** test/native-send.test.ts runs both on the same cases, test/remote-send-c.test.ts the sends to
** other workers on the three paths.
*/
#include "lprobe.h"
#include "ldeliver.h"
#include "lstep.h"
#include "lhostfn.h"
#include "lmframe.h"

#define UPVALS(X) \
  X(run) X(procs) X(copy) X(strict) X(SEND_BUDGET) X(YIELD_AFTER) X(send_tail) X(send)
/* pids.lua's, for a send to another worker: locate's (remote_uniq .. FN_HOST_MARK) and
** send_frame's (encode_frame_out .. end_step) */
#define RUPVALS(X) \
  X(remote_uniq) X(remote_host) X(host_of_tid) X(H) X(FN_HOST_MARK) \
  X(encode_frame_out) X(outbox) X(end_step)
#define KEYS(X) \
  X(cp) X(cur) X(ctx_actor) X(ctx_scope) X(home) X(alive) X(pid) X(sendb) X(proc) X(red) \
  X(route) X(m)

typedef struct Send {
  UPVALS(PROBE_UV_FIELD)
  RUPVALS(PROBE_UV_FIELD)
  KEYS(PROBE_KEY_FIELD)
  Deliv *D;
  LuaWOutbox *ob;  /* the outbox that V(outbox) held when bound (NULL: not one) */
  int remote;  /* the remote case is ours (RUPVALS bound) */
  const LuaWHostFns *hf;  /* the state's direct host calls (lhostfn.c), or NULL */
} Send;

#define UV_ENTRY(name) PROBE_ENTRY(Send, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Send, k_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };
static const ProbeEntry ruv_entries[] = { RUPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { KEYS(KEY_ENTRY) };

#define V(name) (S->u_##name->v)
#define K(name) (S->k_##name)

/* the continuation of send_tail: process.send returns true */
static int tail_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lua_pushboolean(L, 1);
  return 1;
}

/* strstr for a Lua string (it may hold zeros) */
static int has_mark (const TString *h, const TString *m) {
  size_t hl = tsslen(h), ml = tsslen(m), i;
  const char *hs = getstr(h), *ms = getstr(m);
  if (ml == 0) return 1;
  for (i = 0; i + ml <= hl; i++)
    if (hs[i] == ms[0] && memcmp(hs + i, ms, ml) == 0) return 1;
  return 0;
}

/*
** The send of one value v from P to dest, a process of another worker whose PID pids.lua has
** parsed (remote_uniq[dest], the Lua send's skip of resolve), with slot 4 P and nothing above
** it: locate's remote_uniq branch (tid, alive = H.route(uniq); alive, tid > 0, and its host the
** PID's or a function PID's) and send_frame's (encode_frame_out(outbox, tid, 5, "m", dest,
** P.pid, topic, 1, v) into the step's outbox; past its mark, end_step()). 0: not ours, nothing
** changed (the route is a read; a value that cannot be encoded appends nothing), and the Lua send
** does it all again, its error included; 1: sent.
*/
static int remote (lua_State *L, Send *S, const TValue *dest, const TValue *topic, const TValue *P,
                   const TValue *v) {
  TValue uniq, x, owner, host, from;
  lua_Integer tid;
  int past, alive, own;
  getv(L, V(remote_uniq), dest, &uniq);
  if (l_isfalse(&uniq)) return 0;  /* resolve's or locate's parse, a name, another node: the Lua */
  getf(L, V(H), K(route), &x);
  if (luaW_route_direct(S->hf, &x, &uniq, &tid, &alive)) {  /* the host's own: one crossing */
    if (!alive) return 0;
  }
  else {
    push(L, &x);
    push(L, &uniq);
    lua_call(L, 1, 2);  /* 5, 6: tid, alive */
    if (l_isfalse(s2v(L->top - 1)) || !ttisinteger(s2v(L->top - 2))) return 0;
    tid = ivalue(s2v(L->top - 2));
  }
  if (tid <= 0) return 0;  /* NotFound (the Lua's error) */
  geti(L, V(host_of_tid), tid, &owner);
  getv(L, V(remote_host), dest, &host);
  if (!ttisnil(&owner) && !eq(L, &owner, &host)
      && !(ttisstring(&host) && ttisstring(V(FN_HOST_MARK))
           && has_mark(tsvalue(&host), tsvalue(V(FN_HOST_MARK))))) return 0;
  lua_settop(L, 4);
  /* while the outbox upvalue is the one bound, a plain v's frame written from the values into it
  ** (lmframe.c: encode_frame_out's bytes, without the stack, the C API or a memcpy call); else
  ** encode_frame_out's scalar case without its call (lcodec.c luaW_frame_out_at: the same bytes)
  ** from the frame's arguments at 5..10 ("m", dest, P.pid, topic, 1, v); else, or for a value
  ** that is not such a scalar, encode_frame_out(outbox, tid, 5, ...) */
  own = S->ob != NULL && ttisfulluserdata(V(outbox)) && getudatamem(uvalue(V(outbox))) == (void *)S->ob;
  getf(L, P, K(pid), &from);
  if (own && (past = luaW_mframe_out(L, S->ob, tid, K(m), dest, &from, topic, v)) >= 0) goto sent;
  setsvalue(L, &x, K(m));
  push(L, &x);
  push(L, dest);
  push(L, &from);
  push(L, topic);
  setivalue(&x, 1);
  push(L, &x);
  push(L, v);
  past = own ? luaW_frame_out_at(L, S->ob, tid, 5, 5, 1) : -1;
  if (past < 0) {
    push(L, V(encode_frame_out));
    push(L, V(outbox));
    lua_pushinteger(L, tid);
    lua_pushinteger(L, 5);
    lua_rotate(L, 5, 4);  /* the function and its first three arguments below the frame's */
    lua_call(L, 9, 2);  /* 5, 6: past | nil, message */
    if (ttisnil(s2v(L->top - 2))) return 0;  /* nothing appended: the Lua send's error */
    past = !l_isfalse(s2v(L->top - 2));
  }
sent:
  if (past && !l_isfalse(V(end_step))) {
    push(L, V(end_step));
    lua_call(L, 0, 0);
  }
  return 1;
}

/* send(dest, topic, ...) (see the top); upvalue 1: the Send */
static int send (lua_State *L) {
  Send *S = (Send *)lua_touserdata(L, lua_upvalueindex(1));
  int nargs = lua_gettop(L), off;
  TValue P, dest, topic, v, target, x, y, one;
  luaL_checkstack(L, nargs + 16, "send");
  if (nargs != 3) goto lua;
  setobj(L, &dest, s2v(L->ci->func + 1));
  setobj(L, &topic, s2v(L->ci->func + 2));
  setobj(L, &v, s2v(L->ci->func + 3));
  getf(L, V(run), K(cp), &P);
  if (l_isfalse(&P) || ttisnil(&dest) || !ttisstring(&topic)) goto lua;
  if (tsslen(tsvalue(&topic)) > 0 && getstr(tsvalue(&topic))[0] == '@') goto lua;
  getv(L, V(procs), &dest, &target);
  if (l_isfalse(&target) && !S->remote) goto lua;
  /* init.lua's check: allowed without a decision */
  if (!l_isfalse(V(strict))) goto lua;
  getf(L, &P, K(ctx_actor), &x);
  if (!ttisnil(&x)) {  /* (`or`: the scope is read only when there is an actor) */
    getf(L, &P, K(ctx_scope), &y);
    if (!ttisnil(&y)) goto lua;
  }
  if (l_isfalse(&target)) {  /* another worker's, known to pids.lua (see remote below) */
    push(L, &P);  /* 4: anchored */
    if (!remote(L, S, &dest, &topic, &P, &v)) goto lua;
    goto tail;
  }
  getf(L, &target, K(home), &x);
  if (!ttisnil(&x)) goto lua;
  getf(L, &target, K(alive), &x);
  if (l_isfalse(&x)) goto lua;
  push(L, &P);  /* 4: anchored (run.cp holds it too) */
  if (!(ttisnil(&v) || ttisboolean(&v) || ttisnumber(&v) || ttisstring(&v))) {
    push(L, V(copy));
    push(L, &v);
    lua_call(L, 1, 2);  /* 5, 6: copy, err */
    if (!ttisnil(s2v(L->top - 1))) goto lua;  /* the Lua send makes the error */
    lua_settop(L, 5);
    setobj(L, &v, s2v(L->top - 1));
  }
  /* deliver(target, topic, P.pid, 1, nil, v) above what is on the stack now */
  off = lua_gettop(L);
  push(L, &target);
  push(L, &topic);
  getf(L, &P, K(pid), &x);
  push(L, &x);
  lua_pushinteger(L, 1);
  lua_pushnil(L);
  push(L, &v);
  luaW_deliver_at(L, S->D, off);
tail:
  lua_settop(L, 4);
  /* P[4] = P[4] + 1: messages sent (ptable.lua; the record's array part, spawn.lua new_proc) */
  setivalue(&one, 1);
  geti(L, &P, 4, &x);
  arith(L, LUA_OPADD, &x, &one, &x);
  seti(L, &P, 4, &x);
  /* b = (P.sendb or 0) + 1 */
  getf(L, &P, K(sendb), &x);
  if (l_isfalse(&x)) setivalue(&x, 0);
  arith(L, LUA_OPADD, &x, &one, &x);
  if (!le(L, V(SEND_BUDGET), &x)) {  /* not b >= SEND_BUDGET */
    /* maybe_yield (sched.lua): returns at once without a running thread or under YIELD_AFTER */
    if (luaW_yield_quiet(L, V(run), K(cur), K(proc), K(red), V(YIELD_AFTER))) {
      setf(L, &P, K(sendb), &x);
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  push(L, V(send_tail));
  push(L, &P);
  push(L, &x);
  lua_callk(L, 2, 0, 0, tail_k);
  if (lua_status(L) == LUA_YIELD) return 0;  /* a fast yield inside: only return (patch 0003) */
  return tail_k(L, LUA_OK, 0);
lua:  /* the Lua send, with the arguments as they came */
  return luaW_calllua(L, V(send), nargs);
}

/* sender(deliver, probe [, locate, send_frame]) -> send: deliver is ldeliver.c's closure, probe a
** Lua closure whose upvalues include every name of UPVALS; locate and send_frame, pids.lua's (Lua
** closures whose upvalues include every name of RUPVALS between them), make a send to another
** worker's process ours too (without them, or without the outbox, it is the Lua send's) */
static int sender (lua_State *L) {
  Deliv *D = luaW_deliv_of(L, 1);
  Send *S;
  int remote = lua_isfunction(L, 3) && !lua_iscfunction(L, 3) && lua_isfunction(L, 4) && !lua_iscfunction(L, 4);
  luaL_argcheck(L, D != NULL, 1, "wippy.native.deliverer's deliver expected");
  lua_settop(L, 4);
  lua_rotate(L, 2, -1);  /* deliver, locate, send_frame, probe: the probe alone binds UPVALS */
  S = PROBE_NEW(L, 4, 4, Send, send, "sender");  /* the four kept: deliver's Deliv, pids.lua's locals */
  S->D = D;
  if (remote) {
    luaW_probe_bind(L, 2, S, ruv_entries, PROBE_COUNT(ruv_entries));
    luaW_probe_bind(L, 3, S, ruv_entries, PROBE_COUNT(ruv_entries));
    luaW_probe_check(L, S, ruv_entries, PROBE_COUNT(ruv_entries), "sender");
    S->remote = 1;
    S->hf = luaW_hostfns(L);
    push(L, S->u_outbox->v);
    S->ob = (LuaWOutbox *)luaL_testudata(L, -1, "wippy.outbox");
    lua_pop(L, 1);
  }
  return 1;
}

/* pushes the sender constructor (lwippy.c puts it into wippy.native) */
int luaW_open_send (lua_State *L) {
  lua_pushcfunction(L, sender);
  return 1;
}
