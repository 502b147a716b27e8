// Records of the Lua `logger` module (src/lua/lib/logger.lua) written to the runtime's pino logger.
//
// A worker sends each record as one frame ["log", level, pid, entry, name, message, fields]
// (src/wire/spec.ts; read here with its indices I).
// The process's fields come first and the runtime's identity of the record last, so a field
// called `pid`, `entry` or `logger` cannot pass one process's records off as another's.
import type { Logger } from 'pino';
import { I, type Frame } from '../wire/frames.js';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** Write one "log" frame. */
export function writeProcessLog(log: Logger, f: Frame<'log'>): void {
  const level = f[I.log.level];
  if (!LEVELS.has(level)) return;
  const fields = f[I.log.fields];
  const rec: Record<string, unknown> = fields && typeof fields === 'object' && !Array.isArray(fields) ? { ...(fields as object) } : {};
  rec.pid = f[I.log.pid];
  rec.entry = f[I.log.entry];
  const name = f[I.log.name];
  if (typeof name === 'string') rec.logger = name;
  (log[level as 'info'])(rec, String(f[I.log.message] ?? ''));
}
