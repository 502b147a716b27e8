/*
** lshape.h: a table of a fixed shape made by copying a template's hash nodes (issue 14: the
** spawn's record and main thread record, the EXIT event and its result).
**
** The C spawn and exit make tables whose keys are always the same short strings inserted in the
** same order into a part of the same size (a process record: 9 keys in 16 nodes and 5 array
** slots). Made key by key, each insert is a `luaV_finishset` → `luaH_newkey` (the main position's
** hash, a collision walk, `getfreepos`), ~1/4 of the C spawn's own time. Where a key lands depends
** only on the key strings (their hashes, fixed per state), the insert order and the sizes, never on
** the values; so the layout the inserts make once, on a template, is the layout they make every
** time. A table of the shape is made as the template's copy: its two parts allocated at the same
** sizes (as `lua_createtable` would; session 13: allocated directly, see luaW_shape_make), the nodes copied (keys, values and `next`
** offsets, which are relative, so they hold in the copy) and `lastfree` at the same offset; the
** values that vary are then written into their nodes. The result is the table the inserts would
** have made: the same keys in the same nodes, `next`'s order, the same free slots for later keys.
**
** GC: between `luaH_new` and the last value written nothing runs a collector step (the parts'
** allocation steps nothing; only `luaC_checkGC` does), so the copy is white while its values are
** written and needs no barrier; the caller runs `luaC_checkGC` after (as `lua_createtable` would
** have). The template is a private table, never written after it is made, anchored as a key of its
** maker's keys table (lprobe.h: the probe record's last user value), so it lives as long as the C
** closure that copies it. A value that is nil is not written by an insert (no key): the callers
** copy only when every varying value is not nil, else they make the table key by key as before.
*/
#ifndef lshape_h
#define lshape_h

#include <string.h>
#include "lfield.h"
#include "lmem.h"

#define SHAPE_MAXKEYS 6

typedef struct Shape {
  Table *t;  /* the template (NULL: none made) */
  int nkeys;
  unsigned short slot[SHAPE_MAXKEYS];  /* the node of the i-th varying key in the template */
} Shape;

/* pushes the keys table of the probe record that is upvalue 1 of the C closure at index fidx */
static inline void luaW_shape_anchor (lua_State *L, int fidx) {
  Udata *u;
  lua_getupvalue(L, fidx, 1);
  u = uvalue(s2v(L->top - 1));
  lua_getiuservalue(L, -1, u->nuvalue);
  lua_remove(L, -2);
}

/* takes the template on top of the stack (a table the key-by-key steps made, every value not nil)
** into sh, with the nodes of its varying keys (keys[0..nkeys-1]), and anchors it as a key of the
** table at index anchor (absolute); pops it */
static inline void luaW_shape_init (lua_State *L, Shape *sh, int anchor, TString *const *keys, int nkeys) {
  Table *t = hvalue(s2v(L->top - 1));
  int i;
  if (nkeys > SHAPE_MAXKEYS) luaL_error(L, "shape: too many varying keys");
  for (i = 0; i < nkeys; i++) {
    const TValue *v = luaH_getshortstr(t, keys[i]);
    if (ttisnil(v)) luaL_error(L, "shape: the template lacks the key '%s'", getstr(keys[i]));
    sh->slot[i] = (unsigned short)(cast(const Node *, v) - t->node);
  }
  sh->t = t;
  sh->nkeys = nkeys;
  lua_pushboolean(L, 1);
  lua_rawset(L, anchor);
}

/* nn nodes from src to dst: node by node for parts up to 8 (24-byte copies the compiler expands to
** loads and stores), memcpy beyond. Session 13 (the exit side): a `memory.copy` is a call out of
** wasm into the C library's memmove under V8, a third of the making of the EXIT's two tables. */
#define SHAPE_NODE(i) dst[i] = src[i];
static inline void shape_copy_nodes (Node *dst, const Node *src, unsigned int nn) {
  switch (nn) {
    case 8: SHAPE_NODE(7) SHAPE_NODE(6) SHAPE_NODE(5) SHAPE_NODE(4) /* FALLTHROUGH */
    case 4: SHAPE_NODE(3) SHAPE_NODE(2) /* FALLTHROUGH */
    case 2: SHAPE_NODE(1) /* FALLTHROUGH */
    case 1: SHAPE_NODE(0) break;
    default: memcpy(dst, src, nn * sizeof(Node));
  }
}
#undef SHAPE_NODE

/* pushes a copy of sh's template (see the top) and returns it; the caller writes its varying values
** (luaW_shape_set) before anything that may run a collector step, then calls luaC_checkGC.
** Session 13: the two parts allocated at the template's sizes and filled by the copy at once
** (`lua_createtable`'s luaH_resize, used before, first cleared every node and slot, swapped hash
** parts and walked the dummy node for keys to reinsert: ~1/3 of a record's making).
** The table is consistent at each point where an allocation may raise or run an emergency
** collection (luaM_ fails only after luaC_fullgc): no parts; then its hash part, already copied
** (every key and value the template's, alive while it is); then its array part, copied. The
** result is the table luaH_resize and the copy made: the same sizes (lsizenode, alimit as the
** real size, as luaH_new leaves BITRAS clear), nodes, `lastfree` and flags (luaH_new's: no
** metamethod cached). */
static inline Table *luaW_shape_make (lua_State *L, const Shape *sh) {
  const Table *s = sh->t;
  unsigned int na = luaH_realasize(s), nn = allocsizenode(s);
  Table *t = luaH_new(L);
  sethvalue2s(L, L->top, t);
  L->top++;
  if (nn > 0) {
    Node *n = luaM_newvector(L, nn, Node);
    shape_copy_nodes(n, s->node, nn);
    t->node = n;
    t->lsizenode = s->lsizenode;
    t->lastfree = n + (s->lastfree - s->node);
  }
  if (na > 0) {
    TValue *a = luaM_newvector(L, na, TValue);
    memcpy(a, s->array, na * sizeof(TValue));
    t->array = a;
    t->alimit = na;
  }
  return t;
}

/* the i-th varying value of t, a copy of sh's template made by luaW_shape_make */
#define luaW_shape_set(L, t, sh, i, v) setobj2t(L, gval(gnode(t, (sh)->slot[i])), v)

#endif
