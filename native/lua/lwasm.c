/*
** lwasm.c: Lua's throw in our WebAssembly build (see lwasm.h; the try is lwasm_try.S).
**
** A throw is the JS exception `Infinity`, thrown by the glue's import _emscripten_throw_longjmp
** (wasmoon's JS function wrappers let exactly that through). luaW_throwing marks that the JS
** exception in flight is ours: luaW_invoke's catch_all takes it as a Lua throw when the mark is
** set and passes any other exception (a JS error from a host function) on unchanged.
*/
#include "lwasm.h"

__attribute__((import_module("env"), import_name("_emscripten_throw_longjmp"),
               noreturn))
void luaW_throw_js (void);

static int luaW_throwing = 0;


void luaW_throw (void) {
  luaW_throwing = 1;
  luaW_throw_js();
}


/* Called by luaW_invoke's catch_all: was it our throw? (and clear the mark) */
int luaW_thrown (void) {
  int ours = luaW_throwing;
  luaW_throwing = 0;
  return ours;
}
