/*
** lalloc.c: the Lua state's allocator on our module: small blocks from pages of one size class,
** everything else from the C library's malloc (emscripten's dlmalloc), as before.
**
**   luaW_alloc_install(L)   -- lwippy.c's luaL_openlibs, once per state, before any library opens
**
** Why. Under a spawn+exit the allocator was ~11% of a worker's CPU (dlmalloc's `free` 6.5, `malloc`
** 2.2, lauxlib's `l_alloc` 1.9) over ~15 small objects per spawn+exit, nearly all freed by the
** collector's sweep. A free-list cache in front of dlmalloc made it slower (0.71-0.99x): it hands
** out blocks wherever they were freed, and the sweep's list walks and the mutator's stores then
** miss (docs/design/native-core.md, "Session 13: the allocator"). Pages keep the locality: the
** blocks of a class sit together, a page's free list gives back what the sweep freed there, and a
** fresh page is cut in address order. Under a spawn+exit the worker's CPU per spawn+exit is
** 1.07-1.11x less, and an idle process's memory less too (no per-object header).
**
** The pages. A page is a PAGE-aligned region of PAGE bytes (16 KB) holding one size class
** (requests of up to MAXSMALL bytes, rounded up to GRAIN): a header, then blocks. A block is free
** (a link to the next free block of its page in its first word), in use, or not cut yet (past the
** page's bump pointer). Per class: the page being allocated from (`cur`) and a list of other pages
** with free blocks (`avail`, doubly linked). malloc: cur's free list, else its bump, else the first
** avail page becomes cur, else a new page. free: onto its page's free list; a page other than cur
** that gets its first free block joins avail; one whose last block is freed leaves avail and goes
** back to dlmalloc at once (so a burst's pages are returned as the sweep empties them, and what
** the pages hold beyond the live blocks is the free blocks of partly used pages and at most one
** page per class). A page is memalign(PAGE, PAGE - TAIL): dlmalloc's chunk for it is then exactly
** PAGE bytes, starting TAIL (8) bytes before the region (its header), so pages cut one after the
** other from dlmalloc's top tile memory without gaps, and the next chunk's header takes the
** region's last TAIL bytes. (aligned_alloc(PAGE, PAGE) left a free gap of almost a page after
** each: `hold`'s marginal RSS per parked process went from 1,769 to 2,110-2,582 bytes; tiled, it is
** 1,350: small objects no longer carry dlmalloc's 4-byte header and 8-byte rounding of it.)
**
** Which blocks are ours. `own` has a byte per PAGE-aligned region of the 4 GB address space (256 KB
** of static memory, touched only where pages are): 1 while a page of ours is there. No dlmalloc
** block starts inside a region of ours (our chunk's usable bytes run to the region's last TAIL
** bytes, and the next chunk's first usable byte is the next region's first). So any pointer whose
** region is not ours is dlmalloc's: the state's first blocks (made by l_alloc before the switch),
** large blocks. Frees and reallocs need no size arithmetic about dlmalloc: ours go to their page,
** the rest to dlmalloc's free and realloc as l_alloc did. Lua passes the exact old size of every
** block (lmem.c counts its heap with it), so the class of a block of ours is computed from
** `osize`, never stored.
**
** Semantics kept. Lua's own accounting does not see the allocator: `collectgarbage("count")`, the
** GC debt and the kernel's `max_memory_mb` check (sched.lua's budget hook compares that count with
** the cap, collecting first) count the same bytes. Out of memory: a failed page or dlmalloc call
** returns NULL to Lua, which collects in emergency mode (emptied pages go back to dlmalloc as it
** sweeps), tries again and raises "not enough memory" as before; a failed realloc leaves the old
** block as it was. realloc inside one class returns the block as it is; across classes or sizes it
** allocates, copies min(osize, nsize) bytes and frees, as dlmalloc's realloc does when it moves.
**
** Only states whose allocator is lauxlib's l_alloc are switched (recognised by comparing with the
** allocator of a throw-away luaL_newstate, once per module instance): a state made with another
** (wasmoon's `traceAllocations`, a JS allocator that counts and caps) keeps it. The pages are per
** module instance, shared by its states: the module is single-threaded. wasmoon's own module does
** not have this file and is unchanged.
**
** Alternatives rejected (measured, the doc above): a free-list cache in front of dlmalloc, bounded
** (16 KB per class: 3% hits, 0.99x) or not (98% hits, 0.71x), a pointer stack (0.76x), a ring of
** the newest frees (0.97x); emmalloc (-sMALLOC=emmalloc, 0.99x); the direct calls alone (0.99x).
**
** Test hooks (exported, not called by the runtime): wippy_alloc (the allocator itself, ud
** ignored) and wippy_alloc_stat (test/native-alloc.test.ts).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <emscripten/emscripten.h>

#include "lua.h"
#include "lauxlib.h"

#define PAGESHIFT 14
#define PAGE      (1u << PAGESHIFT)  /* bytes per page (16 KB), and its alignment */
#define GRAIN     8u      /* class granularity and block alignment (emscripten's max_align_t) */
#define MAXSMALL  512u    /* the largest request served from pages */
#define NCLASS    (MAXSMALL / GRAIN + 1)
#define TAIL      8u      /* a page's last bytes: the next dlmalloc chunk's header (see the top) */

typedef struct Page {
  void *free;                  /* the first free block, or NULL */
  char *bump, *end;            /* blocks not cut yet: [bump, end) */
  struct Page *prev, *next;    /* in its class's avail list (when inav) */
  unsigned short cls, inav;
  unsigned used;               /* blocks in use */
} Page;

#define FIRST  ((sizeof(Page) + GRAIN - 1) & ~(size_t)(GRAIN - 1))  /* the first block's offset */

static uint8_t own[(size_t)1 << (32 - PAGESHIFT)];  /* per PAGE-aligned region: a page of ours */
static Page *cur[NCLASS], *avail[NCLASS];
static unsigned long npages;   /* pages held (test hook) */

static int checked = 0;
static lua_Alloc l_alloc_fn = NULL;  /* lauxlib's l_alloc (from a throw-away state) */

static inline unsigned classof (size_t n) { return (unsigned)((n + GRAIN - 1) / GRAIN); }
static inline int ours (const void *p) { return own[(uintptr_t)p >> PAGESHIFT]; }
static inline Page *pageof (const void *p) { return (Page *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1)); }

static void av_remove (Page *p) {
  if (p->prev != NULL) p->prev->next = p->next; else avail[p->cls] = p->next;
  if (p->next != NULL) p->next->prev = p->prev;
  p->inav = 0;
}

static void *smalloc (unsigned c) {
  Page *p = cur[c];
  size_t sz = (size_t)c * GRAIN;
  for (;;) {
    if (p != NULL) {
      void *b = p->free;
      if (b != NULL) { p->free = *(void **)b; p->used++; return b; }
      if ((size_t)(p->end - p->bump) >= sz) { b = p->bump; p->bump += sz; p->used++; return b; }
    }
    p = avail[c];
    if (p != NULL) av_remove(p);
    else {  /* a new page */
      p = (Page *)memalign(PAGE, PAGE - TAIL);
      if (p == NULL) return NULL;
      own[(uintptr_t)p >> PAGESHIFT] = 1;
      npages++;
      p->free = NULL;
      p->bump = (char *)p + FIRST;
      p->end = (char *)p + PAGE - TAIL;
      p->prev = p->next = NULL;
      p->cls = (unsigned short)c;
      p->inav = 0;
      p->used = 0;
    }
    cur[c] = p;  /* the page left is full: it joins avail at its first free */
  }
}

static void sfree (void *b) {
  Page *p = pageof(b);
  *(void **)b = p->free;
  p->free = b;
  if (--p->used == 0 && p != cur[p->cls]) {  /* empty: back to dlmalloc */
    if (p->inav) av_remove(p);
    own[(uintptr_t)p >> PAGESHIFT] = 0;
    npages--;
    free(p);
  }
  else if (!p->inav && p != cur[p->cls]) {
    p->prev = NULL;
    p->next = avail[p->cls];
    if (p->next != NULL) p->next->prev = p;
    avail[p->cls] = p;
    p->inav = 1;
  }
}

static void *alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  void *q;
  (void)ud;
  if (nsize == 0) {  /* free */
    if (ptr != NULL) { if (ours(ptr)) sfree(ptr); else free(ptr); }
    return NULL;
  }
  if (ptr == NULL)  /* malloc (osize is the object's type, not a size) */
    return nsize <= MAXSMALL ? smalloc(classof(nsize)) : malloc(nsize);
  if (!ours(ptr) && nsize > MAXSMALL) return realloc(ptr, nsize);  /* dlmalloc's, as l_alloc */
  if (ours(ptr) && nsize <= MAXSMALL && classof(nsize) == classof(osize)) return ptr;
  q = nsize <= MAXSMALL ? smalloc(classof(nsize)) : malloc(nsize);
  if (q == NULL) return NULL;  /* the old block stays as it was */
  memcpy(q, ptr, osize < nsize ? osize : nsize);
  if (ours(ptr)) sfree(ptr); else free(ptr);
  return q;
}

void luaW_alloc_install (lua_State *L) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (!checked) {
    lua_State *t = luaL_newstate();
    if (t == NULL) return;  /* out of memory: l_alloc stays, try again at the next state */
    l_alloc_fn = lua_getallocf(t, NULL);
    lua_close(t);
    checked = 1;
  }
  if (f == l_alloc_fn) lua_setallocf(L, alloc, NULL);
}

/* ---- test hooks ------------------------------------------------------------------------------ */

EMSCRIPTEN_KEEPALIVE void *wippy_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  return alloc(ud, ptr, osize, nsize);
}

/*
** what: 0 pages held, 1 is the block at `arg` in a page of ours, 2 MAXSMALL, 3 PAGE,
** 4 does the state at `arg` (a lua_State *) run this allocator, 5 blocks in use in pages
*/
EMSCRIPTEN_KEEPALIVE unsigned long wippy_alloc_stat (int what, uintptr_t arg) {
  switch (what) {
    case 0: return npages;
    case 1: return ours((void *)arg);
    case 2: return MAXSMALL;
    case 3: return PAGE;
    case 4: return lua_getallocf((lua_State *)arg, NULL) == alloc;
    case 5: {
      unsigned long n = 0;
      uintptr_t r;
      for (r = 0; r < sizeof(own); r++) if (own[r]) n += ((Page *)(r << PAGESHIFT))->used;
      return n;
    }
    default: return 0;
  }
}
