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
** sizes (`luaH_resize`, as `lua_createtable` does), the nodes copied (keys, values and `next`
** offsets, which are relative, so they hold in the copy) and `lastfree` at the same offset; the
** values that vary are then written into their nodes. The result is the table the inserts would
** have made: the same keys in the same nodes, `next`'s order, the same free slots for later keys.
**
** GC: between `luaH_new` and the last value written nothing runs a collector step (`luaH_resize`
** allocates but steps nothing; only `luaC_checkGC` does), so the copy is white while its values are
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

/* pushes a copy of sh's template (see the top) and returns it; the caller writes its varying values
** (luaW_shape_set) before anything that may run a collector step, then calls luaC_checkGC */
static inline Table *luaW_shape_new (lua_State *L, const Shape *sh) {
  const Table *s = sh->t;
  unsigned int na = luaH_realasize(s), nn = allocsizenode(s);
  Table *t = luaH_new(L);
  sethvalue2s(L, L->top, t);
  L->top++;
  luaH_resize(L, t, na, nn);
  if (na > 0) memcpy(t->array, s->array, na * sizeof(TValue));
  if (nn > 0) {
    memcpy(t->node, s->node, nn * sizeof(Node));
    t->lastfree = t->node + (s->lastfree - s->node);
  }
  return t;
}

/* luaW_shape_new for a template with no array part and a hash part (the EXIT event and its result;
** session 13): the same table without `luaH_resize`'s general steps (a node vector made and
** cleared, an array part reallocated to nothing, the dummy part's reinsert and free) and without a
** `memory.copy`, which V8 runs as a call out of wasm into the C library's memmove: together ~1/3
** of the exit's making of its two tables. The node vector is allocated (`luaM_newvector`, as
** setnodevector does; if it raises, the table keeps the dummy part it was made with) and copied
** node by node for sizes up to 8 (24-byte copies, which the compiler expands to loads and
** stores); `lsizenode` and `lastfree` as the template's. A template with an array part, or with
** neither part, goes to luaW_shape_new. */
#define SHAPE_NODE(i) node[i] = s->node[i];
static inline Table *luaW_shape_new_hash (lua_State *L, const Shape *sh) {
  const Table *s = sh->t;
  unsigned int nn = allocsizenode(s);
  Node *node;
  Table *t;
  if (luaH_realasize(s) != 0 || nn == 0) return luaW_shape_new(L, sh);
  t = luaH_new(L);
  sethvalue2s(L, L->top, t);
  L->top++;
  node = luaM_newvector(L, nn, Node);
  t->node = node;
  switch (nn) {
    case 8: SHAPE_NODE(7) SHAPE_NODE(6) SHAPE_NODE(5) SHAPE_NODE(4) /* FALLTHROUGH */
    case 4: SHAPE_NODE(3) SHAPE_NODE(2) /* FALLTHROUGH */
    case 2: SHAPE_NODE(1) /* FALLTHROUGH */
    case 1: SHAPE_NODE(0) break;
    default: memcpy(node, s->node, nn * sizeof(Node));
  }
  t->lsizenode = s->lsizenode;
  t->lastfree = t->node + (s->lastfree - s->node);
  return t;
}
#undef SHAPE_NODE

/* the i-th varying value of t, a copy of sh's template made by luaW_shape_new */
#define luaW_shape_set(L, t, sh, i, v) setobj2t(L, gval(gnode(t, (sh)->slot[i])), v)

#endif
