/*
** lwasm.h: how Lua throws and catches in our WebAssembly build.
**
** Lua's errors and its unwinding yields are the JavaScript exception
** `Infinity`, thrown by the glue's import `_emscripten_throw_longjmp`
** (lwasm.c), and caught by a wasm try/catch_all around the protected call
** (lwasm_try.S). `Infinity` is the protocol of wasmoon's JavaScript side:
** its function wrappers rethrow exactly `Infinity` and turn anything else
** into a Lua error, so a Lua error may cross them.
**
** Rejected: the compiler's setjmp lowering (LLVM 14, emscripten 3.1.6)
** mallocs and frees a setjmp table on every protected call, and catches
** in JS (the glue's invoke_vii: a wasm->JS->wasm trip per lua_resume and
** lua_pcall); a wasm exception tag for the throw would cross wasmoon's JS
** wrappers as an object they do not rethrow. docs/design/native-core.md.
*/
#ifndef lwasm_h
#define lwasm_h

struct lua_State;

/* Throws to the innermost luaW_invoke; never returns. */
__attribute__((noreturn)) void luaW_throw (void);

/* Calls f(L, ud); 0 when it returned, 1 when it threw (luaW_throw). */
int luaW_invoke (void (*f) (struct lua_State *L, void *ud),
                 struct lua_State *L, void *ud);

#endif
