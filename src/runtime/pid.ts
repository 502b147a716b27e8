// PID strings: "{host|0x0001f}" — the host the process runs on (for a function.lua process,
// "<entry id>#lua.<tid>", src/wire/spec.ts fnHost) and its runtime-unique id in hex, zero-padded
// to at least 5 digits; "{node@host|0x…}" when it names a node. The zero PID "{|}" is the sender
// of messages from outside any process. The Lua kernel has the same two functions (fmt_pid,
// parse_pid in src/lua/kernel/pids.lua).

export function formatPid(host: string, uniq: number): string {
  return pidOf(pidHead(host), uniq);
}

/** "{host|0x": the part of formatPid(host, uniq) before the number (kept by callers that mint many). */
export function pidHead(host: string): string {
  return `{${host}|0x`;
}

/** formatPid(host, uniq) from its head, pidHead(host): the same string. */
export function pidOf(head: string, uniq: number): string {
  const hex = uniq.toString(16);
  return hex.length >= 5 ? `${head}${hex}}` : `${head}${'00000'.slice(hex.length)}${hex}}`;
}

/** Parse "{host|0x…}" or "{node@host|0x…}"; undefined if the string is not a PID. */
export function parsePid(s: string): { node: string; host: string; uniq: number } | undefined {
  if (!s.startsWith('{') || !s.endsWith('}')) return undefined;
  const body = s.slice(1, -1);
  const bar = body.lastIndexOf('|0x');
  if (bar < 0) return undefined;
  const uniq = parseInt(body.slice(bar + 3), 16);
  if (!Number.isFinite(uniq)) return undefined;
  let host = body.slice(0, bar);
  let node = '';
  const at = host.indexOf('@');
  if (at >= 0) { node = host.slice(0, at); host = host.slice(at + 1); }
  return { node, host, uniq };
}
