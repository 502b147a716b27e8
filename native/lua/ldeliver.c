/*
** ldeliver.c: a same-worker message's arrival in C (`wippy.native.deliverer`, opened by
** lwippy.c): mailbox.lua's deliver_msg with the to_channel, convert and channel.lua's offer it
** calls, and sched.lua's ready for the thread it wakes, the same steps in the same order over the
** same state, in one C call; and a listen channel's refill, its inverse (over 500 lines: the two
** share the record constructors and the probe's state, which a split would export through a header).
**
** What it owns: nothing. The state is the kernel's Lua tables (the process record P, the
** subscription channel states CH[ch], their queues { h, t, [i] }, the thread records, the mailbox
** records) and the locals of two factories: mailbox.lua's (CH, EMPTYQ, `delivered`, and its Lua
** functions convert, deliver_msg and refill for the cases left to them) and sched.lua's (the run queue
** `runq` and its tail `rq_tail`, which ready pushes on). deliverer(sched_probe, mbox_probe) finds
** them by name among the two probe closures' upvalues, as lsched.c does, and reads and writes them
** where they live; fields go through lfield.h (the VM's own steps, metamethods included).
**
** deliver(P, topic, from, n, p [, v]): mailbox.lua's deliver_msg (the payload is the list p, or
** with p nil and n == 1 the one value v). Left to the Lua deliver_msg, untouched, before anything
** changes: a topic that is not a string, an arrival past P's max_mailbox (the overflow kill) and a
** topic with no channel yet (`unrouted`). Then, here: `delivered` + 1, P.unread + 1, P.seq + 1,
** and the channel's to_channel: behind a non-empty backlog the message joins it (fan-in's common
** case: the receiver is busy), a raw channel's as six slots (mailbox.lua's flat_push: topic, from,
** n, p or false, v, seq; no record), another kind's as the record { topic, from, n, p, v, seq }. Else, for a raw channel and zero or one
** value, the value itself is offered, with no record made first: a closed channel refuses (the
** message joins the backlog, as above); the first live entry of the receivers' queue (a plain receive's
** thread record, or a select's waiter { T, sel } whose select has not fired; entries of dead
** processes and fired selects are popped and skipped; a queue emptied goes back to slot 1) is
** readied with it (ready's steps: T, 2, v, true; or T, 1, { channel, value, ok } and sel.done) and
** its thread holds a record (T.mrec): the channel's kept one (s.wrec) refilled if the thread it
** last went to has run (its T.mrec is another), else a new one kept; else a free buffer slot takes
** it (s.mrec[slot] = a record); else the backlog. A Message object or several values: the record
** first, converted by the Lua convert, then the same offer (a raw channel's backlog takes the
** slots, the record dropped). Every record made here (not the kept one) is mailbox.lua's rec: the
** channel's spare (s.spare, a raw channel's record whose value was received, kept by refill),
** refilled, else a new one.
**
** refill(s) (deliverer's second result, a listen channel's hook: mailbox.lua's refill, which
** lrecv.c's receive calls directly after it takes the buffered value): the popped slot's record
** leaves the unread count and becomes the spare; then the flat backlog's head moves into the buffer
** with a record (rec); a backlog emptied goes back to slot 1, and one whose tail passed BQ_KEEP
** slots is dropped for the shared empty queue, held weakly in BQSPARE[s] until the collector's
** next atomic phase (flat_push takes it back if it is still there: mailbox.lua's bq_emptied). A Message channel (its backlog holds records) goes to the Lua refill before
** anything changes; several values get their list from the Lua convert. Its common case (fan-in's
** drain: capacity 1, the buffer just emptied, a plain record, a head of one value or none) is
** refill_one's, the same end state without the record's trip through the spare (session 11,
** second wave: ~17 fewer field steps per backlogged message).
**
** luaW_flat_open / luaW_flat_put (ldeliver.h; for lcodec.c's deliver_run, session 12): a
** cross-worker run's one-value messages behind a raw channel's non-empty flat backlog, appended
** with deliver's per-run reads (the channel, its mode, its backlog) made once per run of one topic
** and its per-message steps alone per message (the three counters and the six slots); see there.
** luaW_take_refill (session 12): lrecv.c's take of a buffer's one value and this refill in one.
** Its case of a head of one value without a list, or of none (fan-in's), is take_flat's (session
** 14, second wave): the same end state by slot pointers, every slot found once; the channel's
** fields read through its kind's defaults found once by the receive (ldefaults.h, session 15).
** A message's six backlog slots go into the array part after one bounds check (put6, session 15),
** else by seti as before: store6, for flat_push and luaW_flat_put alike.
**
** Why, measured: a ping-pong message's arrival was ~100 VM instructions in five Lua calls
** (deliver_msg, to_channel, convert, offer, ready), and fan-in's backlog push a C-to-Lua call;
** fan-in's receive ran the Lua refill per message (~70 VM instructions and a C-to-Lua call);
** docs/design/native-core.md, "The per-message path", has the figures with and without this.
**
** What it may call: the Lua convert, deliver_msg and refill it was given, and metamethods.
** On wasmoon's module the Lua runs; test/native-deliver.test.ts and test/native-backlog.test.ts
** run both on the same cases.
*/
#include "lprobe.h"
#include "ldeliver.h"
#include "ldefaults.h"

#define FLAT 6  /* slots per message in a raw channel's backlog (mailbox.lua's FLAT) */
/* an emptied backlog whose tail passed this many slots is dropped (mailbox.lua's BQ_KEEP) */
#define BQ_KEEP 65536

#define UPVALS(X) \
  X(runq) X(rq_tail) X(CH) X(EMPTYQ) X(BQSPARE) X(delivered) X(convert) X(deliver_msg) X(refill)
#define KEYS(X) \
  X(unread) X(max_mailbox) X(subs) X(inbox) X(seq) X(topic) X(from) X(n) X(p) X(bq) X(h) X(t) \
  X(mode) X(closed) X(recvq) X(sel) X(proc) X(alive) X(done) X(T) X(buf) X(cap) X(mrec) X(dead) \
  X(a1) X(a2) X(parked) X(nrun) X(channel) X(value) X(ok) X(message) X(v) X(wrec) X(spare) \
  X(raw) X(ev)

struct Deliv {
  UPVALS(PROBE_UV_FIELD)
  KEYS(PROBE_KEY_FIELD)
};

#define UV_ENTRY(name) PROBE_ENTRY(Deliv, u_, name)
#define KEY_ENTRY(name) PROBE_ENTRY(Deliv, k_, name)
static const ProbeEntry uv_entries[] = { UPVALS(UV_ENTRY) };
static const ProbeEntry key_entries[] = { KEYS(KEY_ENTRY) };

#define V(name) (D->u_##name->v)
#define K(name) (D->k_##name)
/* argument k (1..6) of the arrival whose arguments start above slot off (luaW_deliver_at), read
** afresh at each use: the stack may move when an allocation runs the collector */
#define ARG(k) s2v(L->ci->func + off + (k))

/* sched.lua's ready(T, n, a1, a2); pp: T.proc, read by the caller (a thread record's proc is never
** reassigned: sched.lua new_thread) */
static void ready (lua_State *L, Deliv *D, const TValue *T, lua_Integer n, TValue *a1, TValue *a2,
                   const TValue *pp) {
  TValue v, p, one;
  getf(L, T, K(dead), &v);
  if (!l_isfalse(&v)) return;  /* discarded by an upgrade; late wake-ups are dropped */
  /* T.n, T.a1, T.a2 = n, a1, a2 (T.n, T.a1 = 1, a1 for n = 1: no a2 stored): the VM stores a
  ** multiple assignment's last target first */
  if (n != 1) setf(L, T, K(a2), a2);
  setf(L, T, K(a1), a1);
  setivalue(&v, n);
  setf(L, T, K(n), &v);
  setbfvalue(&v);
  setf(L, T, K(parked), &v);
  setobj(L, &p, pp);
  getf(L, &p, K(nrun), &v);
  setivalue(&one, 1);
  arith(L, LUA_OPADD, &v, &one, &v);
  setf(L, &p, K(nrun), &v);
  arith(L, LUA_OPADD, V(rq_tail), &one, &v);
  setuv(L, D->u_rq_tail, &v);
  if (!ttisinteger(&v)) luaL_error(L, "kernel: sched.lua's rq_tail is not an integer");
  seti(L, V(runq), ivalue(&v), (TValue *)T);
}

/* channel.lua's qpush_at(o, k, v) */
static void qpush_at (lua_State *L, Deliv *D, const TValue *o, TString *k, TValue *v) {
  TValue q, t, one;
  luaW_queue_at(L, o, k, V(EMPTYQ), K(h), K(t), &q);
  getf(L, &q, K(t), &t);
  setivalue(&one, 1);
  arith(L, LUA_OPADD, &t, &one, &t);
  setf(L, &q, K(t), &t);
  if (!ttisinteger(&t)) luaL_error(L, "kernel: a queue's tail is not an integer");
  seti(L, &q, ivalue(&t), v);
}

/* call the Lua function f with the nargs values on top, nres results */
static void call (lua_State *L, const TValue *f, int nargs, int nres) {
  push(L, f);
  lua_insert(L, -(nargs + 1));
  lua_call(L, nargs, nres);
}

/*
** channel.lua's offer(s, ch, v) -> taken, and in *w the thread it was handed to (nil if none).
** s, ch, v are TValues reachable from the stack.
*/
static int offer (lua_State *L, Deliv *D, const TValue *s, const TValue *ch, TValue *v, TValue *w) {
  TValue q, x, hv, tv, sel, T, one, buf, cap;
  int top = lua_gettop(L);
  setnilvalue(w);
  getf(L, s, K(closed), &x);
  if (!l_isfalse(&x)) return 0;
  getf(L, s, K(recvq), &q);
  setivalue(&one, 1);
  for (;;) {
    TValue nilv;
    lua_settop(L, top);  /* the entries skipped before this one are garbage */
    getf(L, &q, K(t), &tv);
    getf(L, &q, K(h), &hv);
    if (!le(L, &hv, &tv)) break;
    if (!ttisinteger(&hv)) luaL_error(L, "kernel: a queue's head is not an integer");
    geti(L, &q, ivalue(&hv), &T);  /* w */
    push(L, &T);  /* anchored: the queue no longer holds it */
    setnilvalue(&nilv);
    seti(L, &q, ivalue(&hv), &nilv);
    getf(L, &q, K(t), &tv);
    if (ttisinteger(&tv) ? ivalue(&hv) < ivalue(&tv) : luaV_lessthan(L, &hv, &tv)) {
      arith(L, LUA_OPADD, &hv, &one, &x);
      setf(L, &q, K(h), &x);
    } else {
      /* q.h, q.t = 1, 0: the last target first */
      setivalue(&x, 0);
      setf(L, &q, K(t), &x);
      setf(L, &q, K(h), &one);
    }
    getf(L, &T, K(sel), &sel);
    if (ttisnil(&sel)) {  /* a plain receive: the entry is its thread */
      TValue p, tr;
      getf(L, &T, K(proc), &p);
      getf(L, &p, K(alive), &x);
      if (!l_isfalse(&x)) {
        setbtvalue(&tr);
        ready(L, D, &T, 2, v, &tr, &p);
        setobj(L, w, &T);
        return 1;
      }
    } else {
      getf(L, &sel, K(done), &x);
      if (l_isfalse(&x)) {
        TValue TT, p, r, tr, nilv2;
        getf(L, &T, K(T), &TT);
        push(L, &TT);
        getf(L, &TT, K(proc), &p);
        getf(L, &p, K(alive), &x);
        if (!l_isfalse(&x)) {
          setbtvalue(&tr);
          setf(L, &sel, K(done), &tr);
          lua_createtable(L, 0, 3);
          sethvalue(L, &r, hvalue(s2v(L->top - 1)));
          setf(L, &r, K(channel), (TValue *)ch);
          setf(L, &r, K(value), v);
          setf(L, &r, K(ok), &tr);
          setnilvalue(&nilv2);
          ready(L, D, &TT, 1, &r, &nilv2, &p);
          setobj(L, w, &TT);
          return 1;
        }
      }
    }
  }
  getf(L, s, K(buf), &buf);
  getf(L, &buf, K(t), &tv);
  getf(L, &buf, K(h), &hv);
  arith(L, LUA_OPSUB, &tv, &hv, &x);
  arith(L, LUA_OPADD, &x, &one, &x);
  getf(L, s, K(cap), &cap);
  if (lt(L, &x, &cap)) {
    qpush_at(L, D, s, K(buf), v);
    return 1;
  }
  return 0;
}

/* the record { topic, from, n, p, v, seq [, T] } (mailbox.lua's constructors), pushed; the
** arguments at their stack slots off+2..off+6 (topic, from, n, p, v), read through ARG after the
** table is made (an allocation may run the collector, which may move the stack) */
static void newrec (lua_State *L, Deliv *D, int off, TValue *seq, const TValue *T, TValue *m) {
  lua_createtable(L, 0, T ? 7 : 6);
  sethvalue(L, m, hvalue(s2v(L->top - 1)));
  setf(L, m, K(topic), ARG(2));
  setf(L, m, K(from), ARG(3));
  setf(L, m, K(n), ARG(4));
  setf(L, m, K(p), ARG(5));
  setf(L, m, K(v), ARG(6));
  setf(L, m, K(seq), seq);
  if (T) setf(L, m, K(T), (TValue *)T);
}

/* mailbox.lua's rec(s, topic, from, n, p, v, seq) (the arguments from deliver's slots
** off+2..off+6): the channel's spare record (s.spare), refilled, else newrec; the record left at
** the top */
static void rec (lua_State *L, Deliv *D, int off, const TValue *s, TValue *seq, TValue *m) {
  TValue f;
  getf(L, s, K(spare), m);
  if (!l_isfalse(m)) {
    push(L, m);  /* anchored */
    setbfvalue(&f);
    setf(L, s, K(spare), &f);
    /* m.topic, m.from, m.n, m.p, m.v, m.seq = ...: the VM stores the last target first */
    setf(L, m, K(seq), seq);
    setf(L, m, K(v), ARG(6));
    setf(L, m, K(p), ARG(5));
    setf(L, m, K(n), ARG(4));
    setf(L, m, K(from), ARG(3));
    setf(L, m, K(topic), ARG(2));
  } else newrec(L, D, off, seq, NULL, m);
}

/* q[k+1..k+6] = topic, from, n, p, v, seq (one message's six slots of a raw channel's flat
** backlog, p false for "none") when they lie inside the array part of bq, a table without a
** metatable (a backlog's common case once it has grown): seti's stores after one bounds check
** instead of one per slot, the TM cache invalidated as seti's store into an empty slot does, and
** seti's barriers (no allocation runs between the stores, so neither the stack nor bq moves and
** their order does not matter). 0: not there, nothing stored: the caller stores them by seti. */
LF_INLINE int put6 (lua_State *L, const TValue *bq, lua_Integer k, const TValue *topic,
                    const TValue *from, const TValue *n, const TValue *p, const TValue *v,
                    const TValue *seq) {
  Table *q;
  TValue *a;
  if (!ttistable(bq)) return 0;
  q = hvalue(bq);
  if (q->metatable != NULL || k < 0 || (lua_Unsigned)k + FLAT > q->alimit) return 0;
  a = &q->array[k];
  setobj2t(L, &a[0], topic);
  setobj2t(L, &a[1], from);
  setobj2t(L, &a[2], n);
  setobj2t(L, &a[3], p);
  setobj2t(L, &a[4], v);
  setobj2t(L, &a[5], seq);
  invalidateTMcache(q);
  luaC_barrierback(L, obj2gco(q), topic);
  luaC_barrierback(L, obj2gco(q), from);
  luaC_barrierback(L, obj2gco(q), n);
  luaC_barrierback(L, obj2gco(q), p);
  luaC_barrierback(L, obj2gco(q), v);
  luaC_barrierback(L, obj2gco(q), seq);
  return 1;
}

/* q[k+1..k+6] = topic, from, n, p, v, seq: put6, else by seti, the last target first, from copies
** of the six (a seti may run a metamethod or the collector, which may move the stack they lie on).
** 1: put6 stored them (no key was inserted: bq's hash part is where it was). */
LF_INLINE int store6 (lua_State *L, const TValue *bq, lua_Integer k, const TValue *topic,
                   const TValue *from, const TValue *n, const TValue *p, const TValue *v,
                   const TValue *seq) {
  TValue c[FLAT];
  int i;
  if (put6(L, bq, k, topic, from, n, p, v, seq)) return 1;
  setobj(L, &c[0], topic);
  setobj(L, &c[1], from);
  setobj(L, &c[2], n);
  setobj(L, &c[3], p);
  setobj(L, &c[4], v);
  setobj(L, &c[5], seq);
  for (i = FLAT; i >= 1; i--) seti(L, bq, k + i, &c[i - 1]);
  return 0;
}

/* mailbox.lua's flat_push(s, topic, from, n, p, v, seq), the arguments from deliver's slots
** off+2..off+6: a raw channel's backlog takes the message as six slots (topic, from, n, p or false,
** v, seq) after its tail, no record (made at its first push; read afresh: a slot's store may
** rehash the queue, and its allocation may run the collector, which may move the stack) */
static void flat_push (lua_State *L, Deliv *D, int off, const TValue *s, TValue *seq) {
  TValue q, t, x;
  lua_Integer k;
  getf(L, s, K(bq), &q);
  if (raweq(&q, V(EMPTYQ))) {  /* the table dropped when it last emptied, if left */
    getv(L, V(BQSPARE), s, &q);
    if (!l_isfalse(&q)) {
      setf(L, s, K(bq), &q);  /* s.bq = q, then BQSPARE[s] = nil */
      push(L, V(BQSPARE)); push(L, s); lua_pushnil(L);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    }
  }
  luaW_queue_at(L, s, K(bq), V(EMPTYQ), K(h), K(t), &q);
  getf(L, &q, K(t), &t);
  if (!ttisinteger(&t)) luaL_error(L, "kernel: a queue's tail is not an integer");
  k = ivalue(&t);
  /* q[t + 1], ..., q[t + 6] = topic, from, n, p or false, v, seq (store6) */
  if (l_isfalse(ARG(5))) setbfvalue(&x); else setobj(L, &x, ARG(5));
  store6(L, &q, k, ARG(2), ARG(3), ARG(4), &x, ARG(6), seq);
  setivalue(&t, k + 6);
  setf(L, &q, K(t), &t);
}

/* s.mode == "raw"; israwd: through s's defaults dft (ldefaults.h) */
LF_INLINE int israwd (lua_State *L, Deliv *D, const TValue *s, Table *dft) {
  TValue x;
  getfd(L, s, dft, K(mode), &x);
  return ttisstring(&x) && eqshrstr(tsvalue(&x), K(raw));
}
LF_INLINE int israw (lua_State *L, Deliv *D, const TValue *s) {
  return israwd(L, D, s, NULL);
}

/* A record handed to a parked receiver's thread w: w.mrec = m, and the process's unread count
** less one (mailbox.lua's `w.mrec = m; s.proc.unread = s.proc.unread - 1`) */
static void to_waiter (lua_State *L, Deliv *D, const TValue *s, const TValue *w, TValue *m) {
  TValue p, x, one;
  setivalue(&one, 1);
  setf(L, (TValue *)w, K(mrec), m);
  getf(L, s, K(proc), &p);
  getf(L, &p, K(unread), &x);
  arith(L, LUA_OPSUB, &x, &one, &x);
  setf(L, &p, K(unread), &x);
}

/* A record whose value went into the channel's buffer: s.mrec[s.buf.t] = m */
static void to_buffer (lua_State *L, Deliv *D, const TValue *s, TValue *m) {
  TValue mrec, buf, t;
  getf(L, s, K(mrec), &mrec);
  getf(L, s, K(buf), &buf);
  getf(L, &buf, K(t), &t);
  if (!ttisinteger(&t)) luaL_error(L, "kernel: a queue's tail is not an integer");
  seti(L, &mrec, ivalue(&t), m);
}

/* n == k for a number n (the VM's ==: an integer, or a float of that value) */
LF_INLINE int numis (const TValue *n, lua_Integer k) {
  if (ttisinteger(n)) return ivalue(n) == k;
  if (ttisfloat(n)) return fltvalue(n) == (lua_Number)k;
  return 0;
}

/*
** deliver(P, topic, from, n, p [, v]) with its arguments at the calling C function's stack slots
** off+1..off+6 (P, topic, from, n, p, v; what is above them is dropped), then off+7 ch, off+8 s,
** and what each path pushes: mailbox.lua's deliver_msg (see the top). Called by deliver (off 0)
** and by lsend.c's send (the sender's record below the arguments). Leaves the stack at off+6 or
** above.
*/
void luaW_deliver_at (lua_State *L, Deliv *D, int off) {
  TValue P, topic, u, x, ch, m, s, v, w, one, seq, n;
  const char *ts;
  int taken;
  lua_settop(L, off + 6);
  luaL_checkstack(L, 16, "deliver");
  setobj(L, &P, ARG(1));
  setobj(L, &topic, ARG(2));
  setobj(L, &n, ARG(4));
  setivalue(&one, 1);
  if (!ttisstring(&topic)) goto lua;
  /* the cold cases, decided before anything changes (the reads have no side effects) */
  getf(L, &P, K(unread), &u);
  arith(L, LUA_OPADD, &u, &one, &u);
  getf(L, &P, K(max_mailbox), &x);
  if (lt(L, &x, &u)) goto lua;  /* overflow: the Lua kills P */
  getf(L, &P, K(subs), &x);
  getv(L, &x, &topic, &ch);
  ts = getstr(tsvalue(&topic));
  if (l_isfalse(&ch) && !(tsslen(tsvalue(&topic)) > 0 && ts[0] == '@')) getf(L, &P, K(inbox), &ch);
  if (l_isfalse(&ch)) goto lua;  /* no channel yet: `unrouted` */
  push(L, &ch);  /* 7 */
  arith(L, LUA_OPADD, V(delivered), &one, &x);
  setuv(L, D->u_delivered, &x);
  getf(L, &P, K(seq), &seq);
  arith(L, LUA_OPADD, &seq, &one, &seq);
  setf(L, &P, K(seq), &seq);
  luaW_chan_state(L, V(CH), &ch, &s);
  push(L, &s);  /* 8 */
  getf(L, &s, K(bq), &x);
  if (!raweq(&x, V(EMPTYQ))) {  /* (the shared empty queue is always empty) */
    TValue bh, bt;
    getf(L, &x, K(t), &bt);
    getf(L, &x, K(h), &bh);
    if (le(L, &bh, &bt)) {  /* behind a backlog: a raw channel's takes the slots, else the record */
      setf(L, &P, K(unread), &u);
      if (israw(L, D, &s)) flat_push(L, D, off, &s, &seq);
      else {
        rec(L, D, off, &s, &seq, &m);  /* 9 */
        qpush_at(L, D, &s, K(bq), &m);
      }
      return;
    }
  }
  if (!numis(&n, 0) && !numis(&n, 1)) goto general;
  getf(L, &s, K(mode), &x);
  if (ttisstring(&x) && eqshrstr(tsvalue(&x), K(message))) goto general;
  /* P.unread = u is written below, after the offer: a value handed to a parked receiver of P's
  ** own channel leaves it as it was (the Lua's +1 here and -1 in to_channel), so neither write is
  ** made; nothing between reads it (offer and ready run no Lua) */
  /* a raw channel, zero or one value: the value itself is offered, no record yet */
  setnilvalue(&v);
  if (numis(&n, 1)) {
    const TValue *p = ARG(5);
    if (!l_isfalse(p)) geti(L, p, 1, &v);
    else setobj(L, &v, ARG(6));
  }
  push(L, &v);  /* 9: anchored */
  taken = offer(L, D, &s, &ch, &v, &w);
  if (!taken) {
    setf(L, &P, K(unread), &u);
    if (israw(L, D, &s)) flat_push(L, D, off, &s, &seq);
    else {
      rec(L, D, off, &s, &seq, &m);
      qpush_at(L, D, &s, K(bq), &m);
    }
  } else if (!ttisnil(&w)) {  /* handed to a parked receiver's thread: the channel's kept record */
    TValue held, T, sp;
    int reuse = 0;
    getf(L, &s, K(proc), &sp);
    if (!raweq(&sp, &P)) setf(L, &P, K(unread), &u);  /* (a state of P's is P's) */
    getf(L, &s, K(wrec), &m);
    if (!l_isfalse(&m)) {
      getf(L, &m, K(T), &T);
      getf(L, &T, K(mrec), &held);
      reuse = !eq(L, &held, &m);
    }
    push(L, &w);  /* anchored while the record is made */
    if (reuse) {
      /* the VM stores a multiple assignment's last target first */
      setf(L, &m, K(T), &w);
      setf(L, &m, K(seq), &seq);
      setf(L, &m, K(v), ARG(6));
      setf(L, &m, K(p), ARG(5));
      setf(L, &m, K(n), ARG(4));
      setf(L, &m, K(from), ARG(3));
      setf(L, &m, K(topic), ARG(2));
    } else {
      newrec(L, D, off, &seq, &w, &m);
      setf(L, &s, K(wrec), &m);
    }
    if (raweq(&sp, &P)) setf(L, &w, K(mrec), &m);  /* to_waiter, its count unchanged */
    else to_waiter(L, D, &s, &w, &m);
  } else {  /* buffered */
    setf(L, &P, K(unread), &u);
    rec(L, D, off, &s, &seq, &m);
    to_buffer(L, D, &s, &m);
  }
  return;
general:  /* a Message object or several values: the record, converted by the Lua convert */
  setf(L, &P, K(unread), &u);
  rec(L, D, off, &s, &seq, &m);  /* 9 */
  push(L, &s); push(L, &m);
  call(L, V(convert), 2, 1);
  setobj(L, &v, s2v(L->top - 1));  /* 10: anchored */
  taken = offer(L, D, &s, &ch, &v, &w);
  if (!taken) {  /* the backlog: a raw channel's (several values) takes the slots, the record dropped */
    if (israw(L, D, &s)) flat_push(L, D, off, &s, &seq);
    else qpush_at(L, D, &s, K(bq), &m);
  } else if (!ttisnil(&w)) to_waiter(L, D, &s, &w, &m);  /* handed to a parked receiver's thread */
  else to_buffer(L, D, &s, &m);  /* buffered */
  return;
lua:
  lua_settop(L, off + 6);
  call(L, V(deliver_msg), 6, 0);
}

/*
** A run of one-value messages for one process and topic behind its raw channel's flat backlog
** (lcodec.c's deliver_run: a cross-worker batch's run of frames). deliver's steps for such a
** message are the cold-case checks, then `delivered`, P.seq and P.unread each + 1 and the six
** slots after bq.t; of these only the counters and the slots differ from one message to the next.
** luaW_flat_open makes deliver's reads that a run shares once (P.max_mailbox, P.subs[topic] or
** the inbox, the channel's state, its mode, its backlog), with the same steps, and decides whether
** the run's messages take that case now; luaW_flat_put then does the rest per message: the raw
** slots of P.unread, P.seq, bq.h and bq.t read afresh (integers, the backlog still not empty, the
** mailbox not full: else 0, nothing changed, and the caller calls deliver), the three counters
** written into their slots, the six slots stored (flat_push's order). No Lua, no metamethod and no
** allocation but the backlog's growth runs between two puts or between the open and a put but the
** caller's decoding of a string value (a collector step: the kernel has no finaliser, and a
** process cannot make one, sandbox.lua), and a put re-reads every field it writes, so a run's
** messages end in the state deliver would have left, field by field.
*/
/* The largest unread count a max_mailbox of x lets pass, for luaW_flat_put's `u > max` (deliver's
** overflow check, `u > P.max_mailbox`, for an integer u): an integer is itself; a float that no
** integer passes (math.huge, spawn.lua's bound for a host without one, max_mailbox 0: the benches'
** hosts; f ≥ 2^63; a NaN) is LUA_MAXINTEGER. 0 for anything else (another float: rare, left to
** deliver). Until session 14 only an integer was taken, so every message to a process of an
** unbounded host went to deliver's whole arrival, the run's flat path unused (fan-in's bench). */
LF_INLINE int maxof (const TValue *x, lua_Integer *max) {
  lua_Number f;
  if (ttisinteger(x)) { *max = ivalue(x); return 1; }
  if (!ttisfloat(x)) return 0;
  f = fltvalue(x);
  if (!luai_numisnan(f) && f < -(lua_Number)LUA_MININTEGER) return 0;
  *max = LUA_MAXINTEGER;
  return 1;
}

int luaW_flat_open (lua_State *L, Deliv *D, const TValue *P, const TValue *topic, LFlat *F) {
  TValue x, ch, s, bq;
  const char *ts;
  if (!ttistable(P) || !ttisstring(topic) || !ttisinteger(V(delivered))) return 0;
  getf(L, P, K(max_mailbox), &x);
  if (!maxof(&x, &F->max)) return 0;
  getf(L, P, K(subs), &x);
  getv(L, &x, topic, &ch);
  ts = getstr(tsvalue(topic));
  if (l_isfalse(&ch) && !(tsslen(tsvalue(topic)) > 0 && ts[0] == '@')) getf(L, P, K(inbox), &ch);
  if (l_isfalse(&ch)) return 0;
  luaW_chan_state(L, V(CH), &ch, &s);
  if (!ttistable(&s) || !israw(L, D, &s)) return 0;
  getf(L, &s, K(bq), &bq);
  if (!ttistable(&bq) || raweq(&bq, V(EMPTYQ)) || hvalue(&bq)->metatable != NULL) return 0;
  F->P = hvalue(P);
  setobj(L, &F->bq, &bq);
  return 1;
}

int luaW_flat_put (lua_State *L, Deliv *D, LFlat *F, const TValue *topic, const TValue *from,
                   const TValue *v) {
  Table *q = hvalue(&F->bq);
  const TValue *us = lf_getshortstr(F->P, K(unread));
  const TValue *ss = lf_getshortstr(F->P, K(seq));
  const TValue *hs = lf_getshortstr(q, K(h));
  const TValue *tsl = lf_getshortstr(q, K(t));
  TValue one, no;
  lua_Integer u, k;
  if (!ttisinteger(us) || !ttisinteger(ss) || !ttisinteger(hs) || !ttisinteger(tsl)
      || !ttisinteger(V(delivered)))
    return 0;
  u = ivalue(us) + 1;
  k = ivalue(tsl);
  if (u > F->max || ivalue(hs) > k) return 0;  /* the Lua's overflow; no backlog to join */
  /* delivered, P.seq, P.unread: integers into their raw slots (the VM's store; no barrier) */
  setivalue(V(delivered), ivalue(V(delivered)) + 1);
  setivalue(cast(TValue *, ss), ivalue(ss) + 1);
  setivalue(cast(TValue *, us), u);
  /* flat_push: q[t + 1..t + 6] = topic, from, 1, false, v, seq (store6); bq.t's slot is where it
  ** was unless a seti inserted a key (then found again: the store may have rehashed q) */
  setivalue(&one, 1);
  setbfvalue(&no);
  if (!store6(L, &F->bq, k, topic, from, &one, &no, v, ss)) tsl = lf_getshortstr(q, K(t));
  setivalue(cast(TValue *, tsl), k + FLAT);
  return 1;
}

/* deliver(P, topic, from, n, p [, v]) from Lua; upvalue 1: the Deliv */
static int deliver (lua_State *L) {
  luaW_deliver_at(L, (Deliv *)lua_touserdata(L, lua_upvalueindex(1)), 0);
  return 0;
}

/* The Deliv of the deliver closure at idx, or NULL if it is not one (lsend.c) */
Deliv *luaW_deliv_of (lua_State *L, int idx) {
  Deliv *D;
  if (lua_tocfunction(L, idx) != deliver || lua_getupvalue(L, idx, 1) == NULL) return NULL;
  D = (Deliv *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return D;
}

/* an integer field of a kernel queue (h, t: integers by construction) */
LF_INLINE lua_Integer qint (lua_State *L, const TValue *q, TString *k) {
  TValue x;
  getf(L, q, k, &x);
  if (!ttisinteger(&x)) luaL_error(L, "kernel: a queue's %s is not an integer", getstr(k));
  return ivalue(&x);
}

/*
** The refill below in its common case, fused (session 11, second wave): a raw channel of capacity
** 1 whose buffer the receive just emptied, the popped slot's record m a plain one (no `ev`), and
** a backlog of one value or none per message. The steps below make m the spare (m.p, m.v =
** false; s.spare = m), then take it back for the backlog's head (s.spare = false; m's six fields
** written), with buf.h, buf.t = 1, 0 then buf.t = 1 and mrec[h] = nil then mrec[1] = m between:
** the end state is m holding the head, s.spare false, buf.h = buf.t = 1, mrec[1] = m, which this
** writes directly (the writes whose value is already there are skipped: mrec[1] when h is 1,
** buf.t when it is 1, s.spare when it is false). Decided by reads alone before anything changes;
** else 0 and the general steps run. The same fields end the same (a record's p is nil when the
** message has no list, as rec leaves it). 1: done.
*/
static int refill_one (lua_State *L, Deliv *D, const TValue *s, const TValue *buf,
                       const TValue *mrec, lua_Integer h, const TValue *m) {
  TValue x, bq, n, p, P, u, one, nilv, sp, xv;
  lua_Integer bh, bt, k;
  lua_Integer t;
  int base;
  if (!ttistable(m) || !ttistable(buf) || raweq(buf, V(EMPTYQ))) return 0;
  getf(L, s, K(bq), &bq);
  if (raweq(&bq, V(EMPTYQ))) return 0;  /* no backlog (the shared empty queue) */
  bh = qint(L, &bq, K(h));
  bt = qint(L, &bq, K(t));
  if (bt < bh) return 0;
  t = qint(L, buf, K(t));
  if (h <= t) return 0;  /* the buffer holds another value */
  getf(L, m, K(ev), &x);
  if (!ttisnil(&x)) return 0;
  getf(L, s, K(cap), &x);
  if (!ttisinteger(&x) || ivalue(&x) != 1) return 0;
  geti(L, &bq, bh + 2, &n);
  if (!numis(&n, 0) && !numis(&n, 1)) return 0;  /* several values: convert's list */
  /* the popped record: mrec[h-1] = nil (it becomes mrec[1] again below), the unread count */
  push(L, m);  /* anchored */
  setnilvalue(&nilv);
  if (h - 1 != 1) seti(L, mrec, h - 1, &nilv);
  getf(L, s, K(proc), &P);
  getf(L, &P, K(unread), &u);
  setivalue(&one, 1);
  arith(L, LUA_OPSUB, &u, &one, &u);
  setf(L, &P, K(unread), &u);
  /* the head's six slots, anchored on the stack at base+1..base+6 (topic, from, n, p, v, seq;
  ** read through SLOT: an allocation may run the collector, which may move the stack) */
#define SLOT(k) s2v(L->ci->func + base + (k))
  base = cast_int(L->top - (L->ci->func + 1));
  for (k = 0; k < FLAT; k++) { geti(L, &bq, bh + k, &x); push(L, &x); }
  for (k = FLAT - 1; k >= 0; k--) seti(L, &bq, bh + k, &nilv);
  setobj(L, &p, SLOT(4));
  if (l_isfalse(&p)) { setnilvalue(&p); }  /* p: false is "none" */
  if (numis(&n, 0)) { setnilvalue(&xv); }
  else if (ttisnil(&p)) { setobj(L, &xv, SLOT(5)); }
  else geti(L, &p, 1, &xv);
  push(L, &xv);  /* base+7: anchored */
  bh += FLAT;
  setivalue(&x, bh);
  setf(L, &bq, K(h), &x);
  /* rec's spare taken: s.spare = false; m's fields, the last target first (rec's order) */
  getf(L, s, K(spare), &sp);
  if (!ttisfalse(&sp)) { setbfvalue(&sp); setf(L, s, K(spare), &sp); }
  setf(L, m, K(seq), SLOT(6));
  setf(L, m, K(v), SLOT(5));
  setf(L, m, K(p), &p);
  setf(L, m, K(n), SLOT(3));
  setf(L, m, K(from), SLOT(2));
  setf(L, m, K(topic), SLOT(1));
#undef SLOT
  /* buf.h, buf.t = 1, 1; buf[1] = x; mrec[1] = m */
  setivalue(&x, 1);
  setf(L, buf, K(h), &x);
  if (t != 1) setf(L, buf, K(t), &x);
  seti(L, buf, 1, &xv);
  if (h - 1 != 1) seti(L, mrec, 1, (TValue *)m);
  if (bh > bt) {  /* mailbox.lua's bq_emptied: bq.h, bq.t = 1, 0; a big array dropped */
    setivalue(&x, 0);
    setf(L, &bq, K(t), &x);
    setivalue(&x, 1);
    setf(L, &bq, K(h), &x);
    if (bt > BQ_KEEP) {  /* s.bq = EMPTYQ; BQSPARE[s] = bq */
      setf(L, s, K(bq), V(EMPTYQ));
      push(L, V(BQSPARE)); push(L, s); push(L, &bq);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    }
  }
  return 1;
}

/*
** mailbox.lua's refill(s), a listen channel's hook after a value left its 1-slot buffer: the
** popped slot's record is read (and kept as the spare), then the flat backlog's head moves into
** the buffer with a record (rec); the same steps in the same order. A channel that is not raw
** (a Message channel: its backlog holds records) goes to the Lua refill before anything changes.
** A message of several values gets its list from the Lua convert (as raw_value makes it).
*/
void luaW_refill_at (lua_State *L, Deliv *D, const TValue *sv) {
  TValue s, buf, mrec, m, x, bq, cap, nilv, f;
  lua_Integer h, bh, bt;
  int off;
  int top = lua_gettop(L);
  luaL_checkstack(L, 24, "refill");
  setobj(L, &s, sv);
  if (!israw(L, D, &s)) {
    push(L, V(refill));
    push(L, &s);
    lua_call(L, 1, 0);
    return;
  }
  push(L, &s);  /* anchored (the caller's copy may be a C local) */
  setnilvalue(&nilv);
  getf(L, &s, K(buf), &buf);
  getf(L, &s, K(mrec), &mrec);
  h = qint(L, &buf, K(h));
  geti(L, &mrec, h - 1, &m);
  if (refill_one(L, D, &s, &buf, &mrec, h, &m)) { lua_settop(L, top); return; }
  if (!l_isfalse(&m)) {
    TValue P, u, one;
    push(L, &m);  /* anchored */
    seti(L, &mrec, h - 1, &nilv);
    getf(L, &s, K(proc), &P);
    getf(L, &P, K(unread), &u);
    setivalue(&one, 1);
    arith(L, LUA_OPSUB, &u, &one, &u);
    setf(L, &P, K(unread), &u);
    getf(L, &m, K(ev), &x);
    if (ttisnil(&x)) {  /* the spare: m.p, m.v = false, false (the last target first) */
      setbfvalue(&f);
      setf(L, &m, K(v), &f);
      setf(L, &m, K(p), &f);
      setf(L, &s, K(spare), &m);
    }
  }
  if (qint(L, &buf, K(h)) > qint(L, &buf, K(t))) {  /* buf.h, buf.t = 1, 0 */
    TValue one, zero;
    setivalue(&zero, 0);
    setf(L, &buf, K(t), &zero);
    setivalue(&one, 1);
    setf(L, &buf, K(h), &one);
  }
  getf(L, &s, K(bq), &bq);
  bh = qint(L, &bq, K(h));
  bt = qint(L, &bq, K(t));
  if (bt < bh) { lua_settop(L, top); return; }
  getf(L, &s, K(cap), &cap);
  /* slots off+1..off+6: rec's arguments as ldeliver's (a placeholder, topic, from, n, p, v) */
  off = lua_gettop(L);
  while (bt >= bh) {
    TValue seq, n, len, one, xv;
    int k, conv = 0;
    lua_settop(L, off);
    getf(L, &s, K(buf), &buf);
    {
      TValue bhv, btv;
      getf(L, &buf, K(t), &btv);
      getf(L, &buf, K(h), &bhv);
      setivalue(&one, 1);
      arith(L, LUA_OPSUB, &btv, &bhv, &len);
      arith(L, LUA_OPADD, &len, &one, &len);
      if (le(L, &cap, &len)) break;
    }
    lua_pushnil(L);  /* off+1 */
    for (k = 0; k < 5; k++) { geti(L, &bq, bh + k, &x); push(L, &x); }  /* off+2..off+6 */
    geti(L, &bq, bh + 5, &seq);
    push(L, &seq);  /* off+7: anchored */
    for (k = 5; k >= 0; k--) seti(L, &bq, bh + k, &nilv);
    bh += FLAT;
    setivalue(&x, bh);
    setf(L, &bq, K(h), &x);
    if (l_isfalse(ARG(5))) { setnilvalue(ARG(5)); }  /* p: false is "none" */
    setobj(L, &n, ARG(4));
    /* x = v for one value without a list, else raw_value's */
    if (numis(&n, 1) && ttisnil(ARG(5))) { setobj(L, &xv, ARG(6)); }
    else if (numis(&n, 0)) { setnilvalue(&xv); }
    else if (numis(&n, 1)) geti(L, ARG(5), 1, &xv);
    else conv = 1;
    if (!conv) push(L, &xv);  /* off+8: anchored */
    rec(L, D, off, &s, &seq, &m);  /* the record at the top */
    if (conv) {  /* several values: convert(s, m), raw_value's list */
      push(L, &s); push(L, &m);
      call(L, V(convert), 2, 1);
      setobj(L, &xv, s2v(L->top - 1));
    }
    luaW_queue_at(L, &s, K(buf), V(EMPTYQ), K(h), K(t), &buf);
    {
      lua_Integer t = qint(L, &buf, K(t)) + 1;
      setivalue(&x, t);
      setf(L, &buf, K(t), &x);
      seti(L, &buf, t, &xv);
      seti(L, &mrec, t, &m);
    }
  }
  if (bh > bt) {  /* mailbox.lua's bq_emptied: bq.h, bq.t = 1, 0; a big array dropped */
    setivalue(&x, 0);
    setf(L, &bq, K(t), &x);
    setivalue(&x, 1);
    setf(L, &bq, K(h), &x);
    if (bt > BQ_KEEP) {  /* s.bq = EMPTYQ; BQSPARE[s] = bq (a raw channel's) */
      setf(L, &s, K(bq), V(EMPTYQ));
      push(L, V(BQSPARE)); push(L, &s); push(L, &bq);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
}

/* a raw store into the slot sl of table t that holds a key (a present key, its value nil or
** not; not the absent key): setf's in-place store (luaV_finishfastset, or luaH_finishset's for a
** key held with a nil value) */
LF_INLINE void slotset (lua_State *L, Table *t, const TValue *sl, const TValue *v) {
  setobj2t(L, cast(TValue *, sl), v);
  luaC_barrierback(L, obj2gco(t), v);
}

/*
** The flat take (session 14, second wave): luaW_take_refill's case (the buffer's one value at
** slot 1, taken by lrecv.c's receive; a raw channel of capacity 1; a backlog behind it) for a head
** of one value without a list or of none, by slot pointers: every slot the take and refill_one
** read or write is found once (a field of s through getf, its defaults included; the others raw,
** their tables without a metatable), every condition decided before anything changes, then the
** writes go straight into those slots. The end state is refill_one's for h = 2, field by field
** (its writes whose value is already there are not made: buf.h, buf.t and mrec[1] stay 1, 1 and
** m): P.unread less one; the head's six slots nil and bq.h past them; m's topic, from, n, v,
** seq the head's and m.p nil; buf[1] the head's value; an emptied backlog back to slot 1 (and a
** big one dropped, as bq_emptied). No Lua, no metamethod and no allocation runs before the last
** write (only the dropped backlog's BQSPARE entry, after it), so the values between their slots
** are safe in C locals. 0: not that case (a field not where the fast case has it: a record's key
** absent where a value goes, a spare held, an integer not an integer), nothing changed.
** Why: refill_one's steps cost ~20% of fan-in's receiving worker with the take's (perf, Node 24);
** docs/design/native-core.md, "Session 14, second wave: the flat receive".
*/
static int take_flat (lua_State *L, Deliv *D, const TValue *s, Table *dft, const TValue *buf,
                      const TValue *m) {
  Table *bt, *mt, *q, *pt;
  TValue bq, x, P, val[FLAT];
  const TValue *hs, *ts, *us, *b1, *a[FLAT], *f[FLAT];
  TString *fk[FLAT];
  lua_Integer bh, btl;
  int k;
  /* the backlog first: a buffered value with none behind it (ping-pong's, the ring's) leaves here */
  getfd(L, s, dft, K(bq), &bq);
  if (!ttistable(&bq) || raweq(&bq, V(EMPTYQ)) || hvalue(&bq)->metatable != NULL) return 0;
  q = hvalue(&bq);
  hs = lf_getshortstr(q, K(h));
  ts = lf_getshortstr(q, K(t));
  if (!ttisinteger(hs) || !ttisinteger(ts)) return 0;
  bh = ivalue(hs);
  btl = ivalue(ts);
  if (btl < bh) return 0;  /* no backlog */
  if (!ttistable(m) || !ttistable(buf) || raweq(buf, V(EMPTYQ))) return 0;
  bt = hvalue(buf);
  mt = hvalue(m);
  if (bt->metatable != NULL || mt->metatable != NULL) return 0;
  b1 = lf_getshortstr(bt, K(t));
  if (!ttisinteger(b1) || ivalue(b1) != 1) return 0;  /* the buffer holds another value */
  if (!isempty(lf_getshortstr(mt, K(ev)))) return 0;
  getfd(L, s, dft, K(cap), &x);
  if (!ttisinteger(&x) || ivalue(&x) != 1) return 0;
  getfd(L, s, dft, K(spare), &x);
  if (!ttisfalse(&x)) return 0;  /* refill_one's s.spare = false write */
  getfd(L, s, dft, K(proc), &P);
  if (!ttistable(&P)) return 0;
  pt = hvalue(&P);
  us = lf_getshortstr(pt, K(unread));
  if (!ttisinteger(us)) return 0;  /* (a default's: the first write makes it P's own) */
  /* the slots written below are found from here on: a getf above may have run a metamethod (not
  ** on the kernel's states: their __index is a table), which may have rehashed a table; reads
  ** through s's defaults (dft) run none, and bq's slots are where they were found */
  if (dft == NULL) {
    hs = lf_getshortstr(q, K(h));
    ts = lf_getshortstr(q, K(t));
    if (!ttisinteger(hs) || !ttisinteger(ts) || ivalue(hs) != bh || ivalue(ts) != btl) return 0;
  }
  b1 = lf_getint(bt, 1);  /* the buffer's slot 1 (its value, anchored by the caller) */
  if (isabstkey(b1)) return 0;
  /* the head: topic, from, n, p, v, seq; n 1 and p false (one value, no list) or n 0 */
  for (k = 0; k < FLAT; k++) {
    a[k] = lf_getint(q, bh + k);
    if (isabstkey(a[k])) { setnilvalue(&val[k]); } else { setobj(L, &val[k], a[k]); }
  }
  if (!ttisfalse(&val[3])) return 0;
  if (numis(&val[2], 1)) { setobj(L, &x, &val[4]); }
  else if (numis(&val[2], 0)) { setnilvalue(&x); }
  else return 0;
  setnilvalue(&val[3]);  /* m.p: nil (false is "none") */
  /* m's slots; a value goes only into a key m holds (else setf would insert: the general path) */
  fk[0] = K(topic); fk[1] = K(from); fk[2] = K(n); fk[3] = K(p); fk[4] = K(v); fk[5] = K(seq);
  for (k = 0; k < FLAT; k++) {
    f[k] = lf_getshortstr(mt, fk[k]);
    if (isabstkey(f[k]) && !ttisnil(&val[k])) return 0;
  }
  /* the writes */
  setivalue(cast(TValue *, us), ivalue(us) - 1);
  for (k = 0; k < FLAT; k++) if (!isabstkey(a[k])) { setnilvalue(cast(TValue *, a[k])); }
  setivalue(cast(TValue *, hs), bh + FLAT);
  for (k = FLAT - 1; k >= 0; k--) if (!isabstkey(f[k])) slotset(L, mt, f[k], &val[k]);
  invalidateTMcache(mt);
  slotset(L, bt, b1, &x);
  if (bh + FLAT > btl) {  /* mailbox.lua's bq_emptied: bq.h, bq.t = 1, 0; a big array dropped */
    setivalue(cast(TValue *, ts), 0);
    setivalue(cast(TValue *, hs), 1);
    if (btl > BQ_KEEP) {  /* s.bq = EMPTYQ; BQSPARE[s] = bq */
      push(L, &bq);  /* anchored */
      setf(L, s, K(bq), V(EMPTYQ));
      push(L, V(BQSPARE)); push(L, s); push(L, &bq);
      lua_rawset(L, -3);
      lua_pop(L, 2);
    }
  }
  return 1;
}

/* lrecv.c's take at buf[1] then refill(s), in one (ldeliver.h; session 12): receive's two writes
** (buf[1] = nil, buf.h = 2) are what refill_one overwrites when it runs for h = 2 (buf[1] = the
** backlog's head, buf.h = 1; mrec[1] kept), and refill_one decides by reads alone before
** anything changes, so calling it first with h = 2 and m = mrec[1] leaves the state the take and
** luaW_refill_at leave. 0: refill_one's case does not hold (or not raw), nothing changed. */
int luaW_take_refill (lua_State *L, Deliv *D, const TValue *sv, Table *dft, const TValue *buf) {
  TValue s, mrec, m;
  int top = lua_gettop(L), ok;
  luaL_checkstack(L, 24, "refill");
  setobj(L, &s, sv);
  if (!israwd(L, D, &s, dft)) return 0;
  getfd(L, &s, dft, K(mrec), &mrec);
  if (!ttistable(&mrec)) return 0;
  geti(L, &mrec, 1, &m);
  ok = take_flat(L, D, &s, dft, buf, &m) || refill_one(L, D, &s, buf, &mrec, 2, &m);
  lua_settop(L, top);
  return ok;
}

/* refill(s) from Lua; upvalue 1: the Deliv */
static int refill (lua_State *L) {
  luaL_checkany(L, 1);
  luaW_refill_at(L, (Deliv *)lua_touserdata(L, lua_upvalueindex(1)), s2v(L->ci->func + 1));
  return 0;
}

/* The Deliv of the refill closure in f, or NULL if f is not one (lrecv.c calls it directly) */
Deliv *luaW_refill_of (const TValue *f) {
  if (!ttisCclosure(f) || clCvalue(f)->f != refill) return NULL;
  return (Deliv *)getudatamem(uvalue(&clCvalue(f)->upvalue[0]));
}

/* deliverer(sched_probe, mbox_probe) -> deliver, refill (the listen channels' hook) */
static int deliverer (lua_State *L) {
  PROBE_NEW(L, 2, 1, Deliv, deliver, "deliverer");
  lua_getupvalue(L, -1, 1);  /* the Deliv, shared */
  lua_pushcclosure(L, refill, 1);
  return 2;
}

/* channel.lua's offer(s, ch, v) for other C of the module (levent.c: an event's arrival) */
int luaW_offer (lua_State *L, Deliv *D, const TValue *s, const TValue *ch, TValue *v, TValue *w) {
  return offer(L, D, s, ch, v, w);
}

/* pushes the deliverer constructor (lwippy.c puts it into wippy.native) */
int luaW_open_deliver (lua_State *L) {
  lua_pushcfunction(L, deliverer);
  return 1;
}
