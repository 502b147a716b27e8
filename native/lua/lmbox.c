/*
** lmbox.c: the two ends of a same-worker message, each in one C call (`wippy.native`.msg,
** opened by lmsg.c): its arrival (deliverer: mailbox.lua's deliver_msg with the routing,
** to_channel, convert and channel.lua's offer it calls, for every case but the two cold ones),
** and the receive that parks for it or takes it from a backlog (receiver: the front of
** channel.lua's receive).
**
** Not used by the kernel: init.lua's C_MBOX is off. Measured (docs/design/native-core.md, "The
** per-message path", session 6), 29% fewer VM instructions per message bought no CPU: the ~40
** fields per message this walks through the API cost more than the VM's GETFIELD/SETFIELD.
** Kept built and tested as the measured baseline for C that owns the state (or reads fields
** with the internal luaH_getshortstr).
**
** What it owns: nothing. The state stays the kernel's Lua tables (the process record P, the
** subscription channel states CH[ch], their queues { h, t, [i] }, the thread records); this
** file walks them through the C API in the same order as the Lua does, and never calls back
** into Lua on the common path (a Lua function called from C starts a fresh luaV_execute, dearer
** than a Lua->Lua call): the thread to wake goes back to the Lua caller, which calls sched.lua's
** ready. So the Lua code it replaces stays the definition (and the path on wasmoon's module,
** which has no wippy.native); test/native-mbox.test.ts runs both on the same cases in one state
** and requires the same effects.
**
** deliverer(CH, EMPTYQ, newud, MSG, MSG_MT, lua_deliver) -> deliver, count
**   deliver(P, topic, from, n, p) -> nothing | T, k, a1 [, a2]: as mailbox.lua's deliver_msg,
**     except that a thread to wake is returned for the caller's ready(T, k, a1, a2). Two cases
**     go to lua_deliver (the Lua deliver_msg, which wakes by itself) untouched, before anything
**     is changed: an arrival past P's max_mailbox (the overflow kill), and a topic with no
**     channel yet (`unrouted`); also a topic that is not a string. Every other arrival is done
**     here, the Lua's steps in its order: P.unread + 1; P.seq + 1; the record { topic, from, n,
**     p, seq }; its channel (P.subs[topic], else P.inbox for a topic not starting with "@");
**     then to_channel: behind a non-empty backlog it joins the backlog; else offer: a closed
**     channel refuses (backlog); the first live entry of the receivers' queue (a thread record
**     of a plain receive, or a select's waiter { T, sel } whose select has not fired; dead
**     processes' entries are popped and skipped; a queue emptied goes back to slot 1) gets the
**     value (T, 2, v, true; or T, 1, { channel, value, ok } and sel.done), and its thread holds
**     the record (T.mrec) until it runs; else a free buffer slot takes it (s.mrec[slot] = the
**     record); else the backlog.
**     The value a channel delivers is convert's: a Message object (newud(MSG_MT), MSG[u] = m) on a
**     "message" channel; else nil, p[1], or a new list of p[1..n]. Unlike the Lua it is made
**     only when a receiver or a buffer takes it (the Lua made it before offering, and dropped it
**     when the value went to the backlog: garbage nobody saw).
**   count() -> the arrivals deliver handled itself (mailbox.lua's `delivered` counts the rest).
**
** receiver(CH, EMPTYQ) -> receive
**   receive(ch, T): the front of channel.lua's chan_methods.receive for thread T (run.cur), the
**     Lua's steps in its order, in one call: nothing (nil) when the Lua must go on, because T is
**     nil, ch is not a channel (the Lua raises), the buffer holds a value or a sender waits (the
**     Lua's take), or the channel is closed; 2 when a subscription's backlog holds a record (the
**     Lua takes it: s.take_backlog); 1 when T now waits in the receivers' queue (as itself;
**     s.on_wait(s) called if the state has one) and the Lua is to park it. The yield stays in
**     the Lua: a yield across this C function would unwind.
**
** Why these steps: the profile of a same-worker message (docs/design/native-core.md, "The
** per-message path") put ~85 VM instructions in four Lua calls in the arrival (deliver_msg 27,
** to_channel 25, offer 27, convert 10 in ping-pong) and ~55 in five in a receive that parks.
** What C removes is the calls, their argument moves and the instructions between the field
** accesses; a field access through the API (lua_getfield: the key through the C-string cache,
** then the lookup, a push, a pop) is not cheaper than the GETFIELD it replaces. The figures are
** in that note.
**
** What it may call: the Lua C API; newud and lua_deliver (given), a channel's on_wait hook.
*/
#include <string.h>
#include "lua.h"
#include "lauxlib.h"

#define U_CH      lua_upvalueindex(1)
#define U_EMPTYQ  lua_upvalueindex(2)
#define U_NEWUD   lua_upvalueindex(3)
#define U_MSG     lua_upvalueindex(4)
#define U_MSG_MT  lua_upvalueindex(5)
#define U_LUA     lua_upvalueindex(6)
#define U_COUNT   lua_upvalueindex(7)

/* integer field k of the table at idx (0 when absent or not an integer) */
static lua_Integer ifield (lua_State *L, int idx, const char *k) {
  lua_Integer v;
  lua_getfield(L, idx, k);
  v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static void setifield (lua_State *L, int idx, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, idx, k);
}

/* channel.lua's qpush_at(o, k, v): push the value on top (popped) on the queue in field k of the
** table at o, making the queue at the first push (the field holds the shared EMPTYQ until then) */
static void push_at (lua_State *L, int o, const char *k) {
  lua_Integer t;
  lua_getfield(L, o, k);  /* q */
  if (lua_rawequal(L, -1, U_EMPTYQ)) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    setifield(L, lua_gettop(L), "h", 1);
    setifield(L, lua_gettop(L), "t", 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, o, k);
  }
  t = ifield(L, -1, "t") + 1;
  setifield(L, lua_gettop(L), "t", t);
  lua_rotate(L, -2, 1);  /* v over q -> q, v */
  lua_seti(L, -2, t);
  lua_pop(L, 1);
}

/* mailbox.lua's convert(s, m) for a deliver_msg record (no `ev`): push the value channel state s
** delivers for record m */
static void push_value (lua_State *L, int s, int m, lua_Integer n, int p) {
  const char *mode;
  lua_getfield(L, s, "mode");
  mode = lua_tostring(L, -1);
  lua_pop(L, 1);  /* a mode string stays reachable from s */
  if (mode != NULL && strcmp(mode, "message") == 0) {
    lua_pushvalue(L, U_NEWUD);
    lua_pushvalue(L, U_MSG_MT);
    lua_call(L, 1, 1);  /* u */
    lua_pushvalue(L, -1);
    lua_pushvalue(L, m);
    lua_settable(L, U_MSG);  /* MSG[u] = m */
    return;
  }
  if (n == 0) { lua_pushnil(L); return; }
  if (n == 1) { lua_geti(L, p, 1); return; }
  {
    lua_Integer i;
    lua_createtable(L, 0, 0);  /* the Lua's `{}`, grown the same way */
    for (i = 1; i <= n; i++) {
      lua_geti(L, p, i);
      lua_seti(L, -2, i);
    }
  }
}

/* the record at m was handed to thread T (at idx): T.mrec = m; s.proc.unread - 1 */
static void handed (lua_State *L, int T, int s, int m) {
  lua_pushvalue(L, m);
  lua_setfield(L, T, "mrec");
  lua_getfield(L, s, "proc");
  setifield(L, lua_gettop(L), "unread", ifield(L, -1, "unread") - 1);
  lua_pop(L, 1);
}

/* channel.lua's offer for record m on channel ch (state s): -1 when the buffer took it, 0 when
** refused (closed, or no receiver and no room), else the count of values it left on top of the
** stack for the caller's ready: T, 2, v, true (a plain receive) or T, 1, { channel, value, ok }
** (a select) */
static int offer (lua_State *L, int ch, int s, int m, lua_Integer n, int p) {
  int q, w;
  lua_Integer h, t;
  lua_getfield(L, s, "closed");
  if (lua_toboolean(L, -1)) { lua_pop(L, 1); return 0; }
  lua_pop(L, 1);
  lua_getfield(L, s, "recvq");
  q = lua_gettop(L);
  t = ifield(L, q, "t");
  for (h = ifield(L, q, "h"); t >= h; h++) {
    lua_geti(L, q, h);  /* w */
    w = lua_gettop(L);
    lua_pushnil(L);
    lua_seti(L, q, h);
    if (h < t) setifield(L, q, "h", h + 1);
    else {  /* emptied: back to slot 1 (channel.lua's offer says why) */
      setifield(L, q, "h", 1);
      setifield(L, q, "t", 0);
    }
    lua_getfield(L, w, "sel");
    if (lua_isnil(L, -1)) {  /* a plain receive: w is its thread */
      int alive;
      lua_pop(L, 1);
      lua_getfield(L, w, "proc");
      lua_getfield(L, -1, "alive");
      alive = lua_toboolean(L, -1);
      lua_pop(L, 2);
      if (alive) {  /* the caller's ready(T, 2, v, true) */
        handed(L, w, s, m);
        lua_pushvalue(L, w);
        lua_pushinteger(L, 2);
        push_value(L, s, m, n, p);
        lua_pushboolean(L, 1);
        return 4;
      }
    }
    else {  /* a select's waiter { T, sel } */
      int sel = lua_gettop(L), done, alive, T;
      lua_getfield(L, sel, "done");
      done = lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (!done) {
        lua_getfield(L, w, "T");
        T = lua_gettop(L);
        lua_getfield(L, T, "proc");
        lua_getfield(L, -1, "alive");
        alive = lua_toboolean(L, -1);
        lua_pop(L, 2);
        if (alive) {  /* the caller's ready(T, 1, { channel, value, ok }) */
          lua_pushboolean(L, 1);
          lua_setfield(L, sel, "done");
          handed(L, T, s, m);
          lua_pushvalue(L, T);
          lua_pushinteger(L, 1);
          lua_createtable(L, 0, 3);  /* { channel = ch, value = v, ok = true } */
          lua_pushvalue(L, ch);
          lua_setfield(L, -2, "channel");
          push_value(L, s, m, n, p);
          lua_setfield(L, -2, "value");
          lua_pushboolean(L, 1);
          lua_setfield(L, -2, "ok");
          return 3;
        }
      }
    }
    lua_settop(L, q);
  }
  lua_settop(L, q - 1);
  {  /* the buffer: room below cap? */
    lua_Integer cap, len;
    lua_getfield(L, s, "buf");
    len = ifield(L, -1, "t") - ifield(L, -1, "h") + 1;
    lua_pop(L, 1);
    lua_getfield(L, s, "cap");
    cap = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (len >= cap) return 0;
    lua_settop(L, q - 1);
    push_value(L, s, m, n, p);
    push_at(L, s, "buf");
    lua_getfield(L, s, "mrec");  /* s.mrec[s.buf.t] = m */
    lua_getfield(L, s, "buf");
    lua_getfield(L, -1, "t");
    lua_pushvalue(L, m);
    lua_settable(L, -4);
    lua_pop(L, 2);
    return -1;
  }
}

/* deliver(P, topic, from, n, p) (see the top) */
static int d_deliver (lua_State *L) {
  size_t tl;
  const char *topic;
  lua_Integer u, seq, n;
  int ch, s, m;
  lua_settop(L, 5);
  topic = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &tl) : NULL;
  if (topic == NULL) goto in_lua;
  /* the bound: u > P.max_mailbox goes to the Lua (the overflow kill) */
  u = ifield(L, 1, "unread") + 1;
  lua_getfield(L, 1, "max_mailbox");
  lua_pushinteger(L, u);
  if (lua_compare(L, -2, -1, LUA_OPLT)) goto in_lua;
  lua_settop(L, 5);
  /* its channel: P.subs[topic], else the inbox for a topic not starting with "@" */
  lua_getfield(L, 1, "subs");
  lua_pushvalue(L, 2);
  lua_gettable(L, -2);
  lua_remove(L, -2);
  if (lua_isnil(L, -1) && (tl == 0 || topic[0] != '@')) {
    lua_pop(L, 1);
    lua_getfield(L, 1, "inbox");
  }
  if (lua_isnil(L, -1)) goto in_lua;  /* no channel yet: `unrouted` */
  ch = lua_gettop(L);  /* 6 */
  /* from here on, the Lua's steps */
  setifield(L, 1, "unread", u);
  seq = ifield(L, 1, "seq") + 1;
  setifield(L, 1, "seq", seq);
  n = lua_tointeger(L, 4);
  lua_createtable(L, 0, 5);  /* m = { topic, from, n, p, seq } */
  m = lua_gettop(L);  /* 7 */
  lua_pushvalue(L, 2); lua_setfield(L, m, "topic");
  lua_pushvalue(L, 3); lua_setfield(L, m, "from");
  lua_pushvalue(L, 4); lua_setfield(L, m, "n");
  lua_pushvalue(L, 5); lua_setfield(L, m, "p");
  lua_pushinteger(L, seq); lua_setfield(L, m, "seq");
  lua_pushvalue(L, ch);
  lua_rawget(L, U_CH);  /* s = CH[ch] */
  s = lua_gettop(L);  /* 8 */
  {
    lua_Integer bh, bt;
    lua_getfield(L, s, "bq");
    bh = ifield(L, -1, "h");
    bt = ifield(L, -1, "t");
    lua_pop(L, 1);
    (*(lua_Integer *)lua_touserdata(L, U_COUNT))++;
    if (bt < bh) {
      int r = offer(L, ch, s, m, n, 5);
      if (r > 0) return r;  /* a thread to wake: T, its wake values */
      if (r < 0) return 0;  /* buffered */
    }
    lua_settop(L, s);  /* behind a backlog, or refused: the backlog */
    lua_pushvalue(L, m);
    push_at(L, s, "bq");
  }
  return 0;
in_lua:
  lua_settop(L, 5);
  lua_pushvalue(L, U_LUA);
  lua_insert(L, 1);
  lua_call(L, 5, LUA_MULTRET);
  return lua_gettop(L);
}

static int d_count (lua_State *L) {
  lua_pushinteger(L, *(lua_Integer *)lua_touserdata(L, lua_upvalueindex(1)));
  return 1;
}

/* receive(ch, T) (see the top); upvalues: CH, EMPTYQ */
static int r_receive (lua_State *L) {
  int s;
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) return 0;  /* not in a thread: the Lua's */
  lua_pushvalue(L, 1);
  lua_rawget(L, U_CH);  /* s = CH[ch] */
  if (lua_isnil(L, -1)) return 0;  /* not a channel: the Lua raises */
  s = lua_gettop(L);  /* 3 */
  /* a buffered value or a parked sender: the Lua's take */
  lua_getfield(L, s, "buf");
  if (ifield(L, -1, "t") >= ifield(L, -1, "h")) return 0;
  lua_getfield(L, s, "sendq");
  if (ifield(L, -1, "t") >= ifield(L, -1, "h")) return 0;
  lua_settop(L, s);
  /* a subscription's backlog (a state with a backlog hook keeps it in s.bq: mailbox.lua, whose
  ** backlog(s) is "the head's seq if s.bq is not empty"): the Lua takes its head, no park */
  lua_getfield(L, s, "backlog");
  if (!lua_isnil(L, -1)) {
    lua_getfield(L, s, "bq");
    if (ifield(L, -1, "t") >= ifield(L, -1, "h")) {
      lua_pushinteger(L, 2);
      return 1;
    }
  }
  lua_settop(L, s);
  lua_getfield(L, s, "closed");
  if (lua_toboolean(L, -1)) return 0;  /* closed: the Lua's nil, false */
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  push_at(L, s, "recvq");  /* the thread record itself (channel.lua: a plain receive's entry) */
  lua_getfield(L, s, "on_wait");
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, s);
    lua_call(L, 1, 0);  /* s.on_wait(s) */
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* receiver(CH, EMPTYQ) -> receive */
int luaW_mbox_receiver (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushcclosure(L, r_receive, 2);
  return 1;
}

/* deliverer(CH, EMPTYQ, newud, MSG, MSG_MT, lua_deliver) -> deliver, count */
int luaW_mbox_deliverer (lua_State *L) {
  lua_Integer *count;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  luaL_checktype(L, 6, LUA_TFUNCTION);
  lua_settop(L, 6);
  count = (lua_Integer *)lua_newuserdatauv(L, sizeof(lua_Integer), 0);
  *count = 0;
  lua_pushvalue(L, -1);
  lua_insert(L, 1);  /* the counter, below the six */
  lua_pushcclosure(L, d_deliver, 7);
  lua_insert(L, 1);  /* deliver, counter */
  lua_pushcclosure(L, d_count, 1);
  return 2;
}
