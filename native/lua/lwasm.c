/*
** lwasm.c: Lua's throw and try in our WebAssembly build (see lwasm.h).
**
** invoke_vii(index, a, b) is wasmoon's glue: it saves the shadow-stack
** pointer, calls table[index](a, b), and on a thrown number restores the
** stack pointer and calls our export setThrew(1, 0) (emscripten's
** compiler-rt), which sets __THREW__; any other JS exception passes
** through. A C function pointer is its table index.
*/
#include <stdint.h>
#include "lwasm.h"

__attribute__((import_module("env"), import_name("invoke_vii")))
void luaW_invoke_vii (int index, void *a, void *b);

__attribute__((import_module("env"), import_name("_emscripten_throw_longjmp"),
               noreturn))
void luaW_throw_js (void);

/* Set by setThrew (emscripten's compiler-rt) when invoke_vii caught. */
extern _Thread_local uintptr_t __THREW__;
extern _Thread_local int __threwValue;


void luaW_throw (void) {
  luaW_throw_js();
}


int luaW_invoke (void (*f) (struct lua_State *L, void *ud),
                 struct lua_State *L, void *ud) {
  luaW_invoke_vii((int)(uintptr_t)f, L, ud);
  if (__THREW__ == 0)
    return 0;
  __THREW__ = 0;
  __threwValue = 0;
  return 1;
}
