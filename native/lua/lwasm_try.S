# lwasm_try.S: Lua's try in our WebAssembly build (see lwasm.h).
#
# int luaW_invoke(f, L, ud): calls f(L, ud), a function of the table, inside a wasm try. On any
# exception (catch_all catches JS exceptions too) it restores the shadow-stack pointer saved at
# entry; if luaW_thrown() says the exception is Lua's own throw it returns 1, else it rethrows the
# exception unchanged. Returns 0 when f returned. This is invoke_vii of wasmoon's glue without the
# trip through JavaScript on every protected call.

.globaltype __stack_pointer, i32
.tabletype __indirect_function_table, funcref
.functype luaW_thrown () -> (i32)

.globl luaW_invoke
.type luaW_invoke,@function
luaW_invoke:
  .functype luaW_invoke (i32, i32, i32) -> (i32)
  .local i32
  global.get __stack_pointer
  local.set 3
  try
  local.get 1
  local.get 2
  local.get 0
  call_indirect (i32, i32) -> ()
  catch_all
  local.get 3
  global.set __stack_pointer
  call luaW_thrown
  if
  i32.const 1
  return
  end_if
  rethrow 0
  end_try
  i32.const 0
  end_function
