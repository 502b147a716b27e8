/*
** compat.c: the C library's imports, adapted to wasmoon's glue.
**
** The module is linked against Debian's emscripten (3.1.6) C library but runs under the JS glue
** that wasmoon 1.16 ships, made by a newer emscripten. The glue provides a fixed set of imports
** (module "env" / "wasi_snapshot_preview1", by name); where 3.1.6's C library expects an import
** the glue lacks, or one with the same name but another contract, it is defined here on top of
** what the glue has, so the linker resolves it inside the module instead of importing it.
**
** Contracts that changed between the two emscripten versions (read from 3.1.6's
** src/library.js and the glue's JS):
**   _gmtime_js, _localtime_js   3.1.6: (const time_t *t, struct tm *tm); glue: (int64 t, tm)
**   _mktime_js                  3.1.6: returns a 32-bit time_t;          glue: returns an int64
** Imports of 3.1.6 the glue lacks, defined on the glue's:
**   time, clock, __clock_gettime, difftime      on emscripten_date_now / emscripten_get_now
**   __syscall_open, _unlink, _rename            on the *at variants with AT_FDCWD
**   __syscall_lstat64                           -ENOSYS (only tmpnam uses it: os.tmpname fails)
**   emscripten_memcpy_big                       memory.copy
** scripts/build-lua-wasm.sh checks the result: no import the glue lacks, no export missing.
*/
#include <stdint.h>
#include <stddef.h>
#include <time.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>

#define GLUE(name) __attribute__((import_module("env"), import_name(name)))

GLUE("_gmtime_js") void glue_gmtime_js (int64_t t, struct tm *tm);
GLUE("_localtime_js") void glue_localtime_js (int64_t t, struct tm *tm);
GLUE("_mktime_js") int64_t glue_mktime_js (struct tm *tm);

void _gmtime_js (const time_t *t, struct tm *tm) {
  glue_gmtime_js((int64_t)*t, tm);
}

void _localtime_js (const time_t *t, struct tm *tm) {
  glue_localtime_js((int64_t)*t, tm);
}

time_t _mktime_js (struct tm *tm) {
  return (time_t)glue_mktime_js(tm);
}


/*
** emscripten_memcpy_big: 3.1.6's memcpy hands copies of 512 bytes and more to this JS import; the
** glue has none (its emscripten copies in wasm). Built with bulk memory, this is one memory.copy.
*/
void *emscripten_memcpy_big (void *restrict dest, const void *restrict src, size_t n) {
  __builtin_memcpy(dest, src, n);
  return dest;
}


/* ---- clocks ---------------------------------------------------------------------------------- */

GLUE("emscripten_date_now") double glue_date_now (void);  /* Date.now(), ms */
GLUE("emscripten_get_now") double glue_get_now (void);    /* performance.now(), ms */

time_t time (time_t *t) {
  time_t now = (time_t)(glue_date_now() / 1000.0);
  if (t) *t = now;
  return now;
}

/* CPU time of the thread: as 3.1.6's own clock(), the time since it started (CLOCKS_PER_SEC is
** 1000000 here). */
clock_t clock (void) {
  return (clock_t)(glue_get_now() * 1000.0);
}

int __clock_gettime (clockid_t clk, struct timespec *ts) {
  double ms;
  if (clk == CLOCK_REALTIME) ms = glue_date_now();
  else if (clk == CLOCK_MONOTONIC || clk == CLOCK_PROCESS_CPUTIME_ID || clk == CLOCK_THREAD_CPUTIME_ID)
    ms = glue_get_now();
  else { errno = EINVAL; return -1; }
  ts->tv_sec = (time_t)(ms / 1000.0);
  ts->tv_nsec = (long)((ms - (double)ts->tv_sec * 1000.0) * 1000000.0);
  return 0;
}

double difftime (time_t t1, time_t t0) {
  return (double)t1 - (double)t0;
}


/* ---- file system calls (the glue's FS has only the *at forms) -------------------------------- */

GLUE("__syscall_openat") long glue_openat (long dirfd, long path, long flags, ...);
GLUE("__syscall_unlinkat") long glue_unlinkat (long dirfd, long path, long flags);
GLUE("__syscall_renameat") long glue_renameat (long olddirfd, long oldpath, long newdirfd, long newpath);

long __syscall_open (long path, long flags, ...) {
  int mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, int);
    va_end(ap);
  }
  return glue_openat(AT_FDCWD, path, flags, mode);
}

long __syscall_unlink (long path) {
  return glue_unlinkat(AT_FDCWD, path, 0);
}

long __syscall_rename (long old_path, long new_path) {
  return glue_renameat(AT_FDCWD, old_path, AT_FDCWD, new_path);
}

long __syscall_lstat64 (long path, long buf) {
  (void)path; (void)buf;
  return -ENOSYS;
}
