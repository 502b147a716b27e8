// Records of the Lua `logger` module (src/lua/lib/logger.lua) written to the runtime's pino logger.
//
// A worker sends each record as one frame { "log", level, pid, entry, name, message, fields }.
// The process's fields come first and the runtime's identity of the record last, so a field
// called `pid`, `entry` or `logger` cannot pass one process's records off as another's.
import type { Logger } from 'pino';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** Write one "log" frame (f(i): the frame's i-th element, 1-based as in Lua). */
export function writeProcessLog(log: Logger, f: (i: number) => unknown): void {
  const level = f(2) as string;
  if (!LEVELS.has(level)) return;
  const fields = f(7);
  const rec: Record<string, unknown> = fields && typeof fields === 'object' && !Array.isArray(fields) ? { ...(fields as object) } : {};
  rec.pid = f(3);
  rec.entry = f(4);
  if (typeof f(5) === 'string') rec.logger = f(5);
  (log[level as 'info'])(rec, String(f(6) ?? ''));
}
