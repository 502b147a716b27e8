#!/usr/bin/env bash
# Builds vendor/lua-wasm/lua54.wasm: Lua 5.4 as a WebAssembly module that wasmoon's JavaScript
# side loads in place of its own (LuaFactory(customWasmUri)); src/lua/engine.ts picks it with
# WIPPY_LUA=native.
#
# Inputs, none of them copied into the repository:
#   - Lua's sources: Debian's source package lua5.4 (LUA_DEB_VERSION below, checked by sha256),
#     fetched with `apt-get source --download-only`; if apt has no deb-src line, one is made in a
#     private apt directory from the machine's own Debian sources (same mirror and suites).
#   - Debian's source fixes of that package (its patches 0003-0005; 0001/0002 are its build system
#     and install paths).
#   - ours: patches/lua/*.patch (in order) and native/lua/*.c, *.S.
#   - the toolchain: Debian's emscripten (3.1.6 on bookworm; `apt-get install emscripten`).
# Output: vendor/lua-wasm/lua54.wasm and vendor/lua-wasm/lua54.inputs (sha256 of every input and
# the flags). `--check` rebuilds into the build directory and fails if the committed module or its
# inputs file differs (CI: the committed module must not be stale).
#
# Why these flags: the module must have exactly the imports wasmoon's glue provides (module "env"
# and "wasi_snapshot_preview1", by name) and the exports it calls (the Lua C API, malloc/free,
# the stack helpers, setThrew). WASM_BIGINT: wasmoon passes lua_Integer as BigInt. SUPPORT_LONGJMP
# only for the JS side of _emscripten_throw_longjmp: Lua never calls setjmp here, it throws and
# catches through native/lua/lwasm.c and lwasm_try.S. -flto (compile and link): the whole module is
# optimised as one unit (Lua's core, its libraries, ours, and the C library's LTO build that Debian's
# emscripten ships), so the calls between files on the per-message path (lapi.c, ldo.c, ltable.c,
# lgc.c, malloc) are inlined where they pay: 3-25% less CPU on kernel-shaped Lua workloads on Node
# 20 and 24 (bench/lua-builds.ts), for a module 40% larger. docs/design/native-core.md, "Build flags".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LUA_DEB_VERSION=5.4.4-3+deb12u1
LUA_ORIG_SHA256=164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61
LUA_DEBIAN_SHA256=2d8e0e380722c648cfeffb8d58287865619b4d035544d93d7ef3a2eaf627abe6
DEBIAN_PATCHES="0003-extern_C.patch 0004-cve-2022-28805.patch 0005-cve-2022-33099.patch"

BUILD=${WIPPY_LUA_BUILD_DIR:-$ROOT/.build/lua-wasm}
OUT=$ROOT/vendor/lua-wasm
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

die() { echo "build-lua-wasm: $*" >&2; exit 1; }

command -v emcc >/dev/null || die "emcc not found: install Debian's emscripten (apt-get install emscripten)"
# emcc's JS passes need Debian's node-acorn; the machine's `node` may not be Debian's nodejs.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
mkdir -p "$BUILD/src"

# ---- 1. Lua's sources from Debian ------------------------------------------------------------
fetch() {
  cd "$BUILD/src"
  if apt-get source --download-only "lua5.4=$LUA_DEB_VERSION" >/dev/null 2>&1; then return 0; fi
  # No deb-src line: a private apt directory with the machine's Debian sources as deb-src.
  local apt=$BUILD/apt
  mkdir -p "$apt/lists/partial" "$apt/sources.list.d"
  : > "$apt/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt/sources.list.d/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > "$apt/sources.list"; fi
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
              -o "Dir::State::Lists=$apt/lists")
  apt-get "${opts[@]}" update >/dev/null || die "apt-get update (deb-src) failed"
  apt-get "${opts[@]}" source --download-only "lua5.4=$LUA_DEB_VERSION" >/dev/null \
    || die "apt-get source lua5.4=$LUA_DEB_VERSION failed"
}
ORIG=$BUILD/src/lua5.4_${LUA_DEB_VERSION%%-*}.orig.tar.gz
DEBTAR=$BUILD/src/lua5.4_$LUA_DEB_VERSION.debian.tar.xz
if [ ! -f "$ORIG" ] || [ ! -f "$DEBTAR" ]; then (fetch); fi
echo "$LUA_ORIG_SHA256  $ORIG" | sha256sum -c --quiet - || die "$ORIG: sha256 mismatch"
echo "$LUA_DEBIAN_SHA256  $DEBTAR" | sha256sum -c --quiet - || die "$DEBTAR: sha256 mismatch"

# ---- 2. unpack, Debian's source fixes, ours ----------------------------------------------------
WORK=$BUILD/lua
rm -rf "$WORK" && mkdir -p "$WORK"
tar xzf "$ORIG" -C "$WORK" --strip-components=1
mkdir -p "$WORK/debian-pkg" && tar xJf "$DEBTAR" -C "$WORK/debian-pkg"
for p in $DEBIAN_PATCHES; do
  patch -s -d "$WORK" -p1 < "$WORK/debian-pkg/debian/patches/$p" || die "Debian patch $p does not apply"
done
for p in "$ROOT"/patches/lua/*.patch; do
  patch -s -d "$WORK" -p1 < "$p" || die "$(basename "$p") does not apply to Lua $LUA_DEB_VERSION"
done

# ---- 3. compile and link -----------------------------------------------------------------------
# Every library of lua.c's standard set; not the stand-alone interpreter or compiler. No linit:
# native/lua/lwippy.c defines luaL_openlibs (the same libraries, plus wippy.native).
CORE="lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser lstate
      lstring ltable ltm lundump lvm lzio lauxlib lbaselib lcorolib ldblib liolib lmathlib loadlib
      loslib lstrlib ltablib lutf8lib"
SRCS=()
for f in $CORE; do SRCS+=("$WORK/src/$f.c"); done
for f in "$ROOT"/native/lua/*.c "$ROOT"/native/lua/*.S; do SRCS+=("$f"); done

# What wasmoon's JS calls (its glue looks every export up by name), and ours: luaW_set_hostfns
# (native/lua/lhostfn.c; src/lua/engine.ts calls it through rawexports.ts).
EXPORTS=(lua_checkstack lua_xmove lua_atpanic lua_version lua_absindex lua_gettop lua_settop
  lua_closeslot lua_rotate lua_copy lua_pushvalue lua_type lua_typename lua_iscfunction
  lua_isinteger lua_isnumber lua_isstring lua_isuserdata lua_rawequal lua_arith lua_compare
  lua_stringtonumber lua_tonumberx lua_tointegerx lua_toboolean lua_tolstring lua_rawlen
  lua_tocfunction lua_touserdata lua_tothread lua_topointer lua_pushnil lua_pushnumber
  lua_pushinteger lua_pushlstring lua_pushstring lua_pushcclosure lua_pushboolean
  lua_pushlightuserdata lua_pushthread lua_getglobal lua_gettable lua_getfield lua_geti
  lua_rawget lua_rawgeti lua_rawgetp lua_createtable lua_getmetatable lua_getiuservalue
  lua_setglobal lua_settable lua_setfield lua_seti lua_rawset lua_rawsetp lua_rawseti
  lua_setmetatable lua_setiuservalue lua_callk lua_pcallk lua_load lua_dump lua_status lua_error
  lua_next lua_toclose lua_concat lua_len lua_getallocf lua_setallocf lua_setwarnf lua_warning
  lua_newuserdatauv lua_getupvalue lua_setupvalue lua_upvalueid lua_upvaluejoin luaL_traceback
  lua_getstack lua_getinfo luaL_buffinit luaL_addstring luaL_prepbuffsize luaL_addvalue
  luaL_pushresult luaL_argerror luaL_typeerror luaL_getmetafield luaL_where luaL_fileresult
  __errno_location luaL_execresult luaL_newmetatable luaL_setmetatable luaL_testudata
  luaL_checkudata luaL_optlstring luaL_checklstring luaL_checkstack luaL_checktype luaL_checkany
  luaL_checknumber luaL_optnumber luaL_checkinteger luaL_optinteger luaL_setfuncs luaL_addlstring
  luaL_pushresultsize luaL_buffinitsize luaL_ref luaL_unref luaL_loadfilex luaL_loadbufferx
  luaL_loadstring luaL_callmeta luaL_len luaL_tolstring luaL_getsubtable luaL_requiref
  luaL_addgsub luaL_gsub luaL_newstate lua_newstate free realloc fflush luaL_checkversion_
  luaopen_base luaopen_coroutine lua_newthread lua_yieldk lua_isyieldable lua_resetthread
  lua_resume luaopen_debug lua_gethookmask lua_gethook lua_gethookcount lua_getlocal lua_sethook
  lua_setlocal lua_setcstacklimit malloc luaL_openlibs luaopen_package luaopen_table luaopen_io
  luaopen_os luaopen_string luaopen_math luaopen_utf8 lua_close setThrew emscripten_stack_init
  emscripten_stack_get_free emscripten_stack_get_base emscripten_stack_get_end
  luaW_set_hostfns)
EXP=$(printf '"_%s",' "${EXPORTS[@]}"); EXP="[${EXP%,}]"

CFLAGS=(-O3 -flto -std=gnu99 -Wall -Wextra -mbulk-memory -mexception-handling -DLUA_USE_WASM_THROW -I"$WORK/src" -I"$ROOT/native/lua")
LDFLAGS=(-O3 -flto -mbulk-memory -mexception-handling -sSTANDALONE_WASM=0 -sWASM_BIGINT=1 -sALLOW_MEMORY_GROWTH=1 -sALLOW_TABLE_GROWTH=1
  -sSUPPORT_LONGJMP=1 -sDISABLE_EXCEPTION_CATCHING=1 -sFILESYSTEM=1 -sTOTAL_STACK=1048576
  -sDECLARE_ASM_MODULE_EXPORTS=0 -sERROR_ON_UNDEFINED_SYMBOLS=1
  "-sEXPORTED_FUNCTIONS=$EXP" -sEXPORTED_RUNTIME_METHODS=stackAlloc,stackSave,stackRestore
  -Wl,--export=stackAlloc -Wl,--export=emscripten_stack_get_current
  --no-entry)
OBJ=$BUILD/obj && rm -rf "$OBJ" && mkdir -p "$OBJ"
for s in "${SRCS[@]}"; do
  o=$(basename "$s"); emcc "${CFLAGS[@]}" -c "$s" -o "$OBJ/${o%.*}.o"
done
emcc "${LDFLAGS[@]}" "$OBJ"/*.o -o "$BUILD/lua54.js"

# The glue binds imports and exports by name: check ours against it (imports it provides,
# exports wasmoon's JS calls).
node scripts/check-lua-wasm.mjs "$BUILD/lua54.wasm" || die "the module does not fit wasmoon's glue"

# ---- 4. record the inputs ----------------------------------------------------------------------
inputs() {
  echo "lua5.4 $LUA_DEB_VERSION"
  sha256sum "$ORIG" "$DEBTAR" | sed "s#  $BUILD/src/#  #"
  (cd "$ROOT" && sha256sum patches/lua/*.patch native/lua/* scripts/build-lua-wasm.sh)
  echo "emcc $(emcc --version | head -1)"
  echo "wasm $(sha256sum "$BUILD/lua54.wasm" | cut -d' ' -f1)"
}
inputs > "$BUILD/lua54.inputs"
if [ $CHECK = 1 ]; then
  cmp -s "$BUILD/lua54.inputs" "$OUT/lua54.inputs" || { diff "$OUT/lua54.inputs" "$BUILD/lua54.inputs" >&2 || true; die "vendor/lua-wasm is stale: run scripts/build-lua-wasm.sh and commit it"; }
  cmp -s "$BUILD/lua54.wasm" "$OUT/lua54.wasm" || die "vendor/lua-wasm/lua54.wasm differs from a rebuild"
  echo "build-lua-wasm: vendor/lua-wasm is up to date"
else
  mkdir -p "$OUT"
  cp "$BUILD/lua54.wasm" "$BUILD/lua54.inputs" "$OUT/"
  echo "build-lua-wasm: wrote vendor/lua-wasm/lua54.wasm ($(stat -c %s "$OUT/lua54.wasm") bytes)"
fi
