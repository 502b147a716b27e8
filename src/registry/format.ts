// Human-readable views of a registry for `wippy registry list|show`.
//
// Output ends with a newline so the CLI can write it as is. Inlined `file://` contents (Lua
// source, WAT text) are shown as `file://<path> (N lines)` rather than dumped: `show` is for
// seeing configuration and defaults, and the source is one `cat` away.

import path from 'node:path';
import { stringify } from 'yaml';
import type { Entry } from './types.js';
import type { Registry } from './registry.js';

export interface ListOptions {
  /** Glob on the kind, `*` matches any run of characters (`process.*`). */
  kind?: string;
  /** Glob on the namespace (`app.*`, `app`). */
  ns?: string;
  json?: boolean;
}

/** `*` matches any run of characters; everything else is literal. The whole string must match. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

/** One-line description of an entry: meta.comment, else a command's short help, else the title. */
function summary(e: Entry): string {
  const cmd = e.meta.command as { short?: unknown } | undefined;
  const text = [e.meta.comment, e.meta.short, cmd?.short, e.meta.title].find((v) => typeof v === 'string') as string | undefined;
  if (!text) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

/** A table of id, kind and comment, sorted by id; `json` gives an array of the same rows. */
export function formatList(reg: Registry, opts: ListOptions = {}): string {
  const kindRe = opts.kind ? globToRegExp(opts.kind) : undefined;
  const nsRe = opts.ns ? globToRegExp(opts.ns) : undefined;
  const rows = [...reg.entries.values()]
    .filter((e) => (!kindRe || kindRe.test(e.kind)) && (!nsRe || nsRe.test(e.namespace)))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((e) => ({ id: e.id, kind: e.kind, comment: summary(e) }));

  if (opts.json) return `${JSON.stringify(rows, null, 2)}\n`;
  if (rows.length === 0) {
    const filters = [opts.kind && `kind=${opts.kind}`, opts.ns && `ns=${opts.ns}`].filter(Boolean).join(', ');
    return `no entries${filters ? ` match ${filters}` : ''} (${reg.entries.size} in registry)\n`;
  }
  const header = { id: 'ID', kind: 'KIND', comment: 'COMMENT' };
  const all = [header, ...rows];
  // A loop, not Math.max(...lengths): spreading one argument per entry overflows the stack past
  // ~120k entries.
  let wId = 0;
  let wKind = 0;
  for (const r of all) {
    wId = Math.max(wId, r.id.length);
    wKind = Math.max(wKind, r.kind.length);
  }
  return all.map((r) => `${r.id.padEnd(wId)}  ${r.kind.padEnd(wKind)}  ${r.comment}`.trimEnd()).join('\n') + '\n';
}

/** Base fields every entry has; anything else on the object is a typed, defaulted kind field. */
const BASE_KEYS = new Set(['id', 'namespace', 'name', 'kind', 'meta', 'origin', 'data', 'files', 'source', 'lua', 'sourcePath']);

/**
 * Everything known about one entry: origin, meta, the fields as written (with inlined files
 * summarised) and the resolved typed fields with defaults applied. Unknown ids throw an Error
 * naming the closest existing ids.
 */
export function formatShow(reg: Registry, id: string, opts: { json?: boolean } = {}): string {
  const e = reg.require(id);
  const rel = (p: string) => (p.startsWith('<') ? p : path.relative(reg.root, p));

  const data: Record<string, unknown> = { ...e.data };
  for (const [field, file] of Object.entries(e.files ?? {})) {
    const value = getPath(e.data, field);
    const size = typeof value === 'string' ? `${value.split('\n').length} lines` : value instanceof Uint8Array ? `${value.byteLength} bytes` : '';
    setPath(data, field, `file://${rel(file)}${size ? ` (${size})` : ''}`);
  }
  const resolved: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!BASE_KEYS.has(k)) resolved[k] = v;

  const view = {
    id: e.id,
    kind: e.kind,
    origin: e.origin.line !== undefined ? `${rel(e.origin.file)}:${e.origin.line}` : rel(e.origin.file),
    ...(Object.keys(e.meta).length > 0 ? { meta: e.meta } : {}),
    ...(Object.keys(data).length > 0 ? { data } : {}),
    ...(Object.keys(resolved).length > 0 ? { resolved } : {}),
  };
  if (opts.json) return `${JSON.stringify(view, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v), 2)}\n`;
  return stringify(view, { lineWidth: 0 });
}

// Field paths as recorded in `Entry.files`: `source`, `wasi.args[0]`. Setting copies each level so
// the registry's own data is never modified by a view.
function splitPath(field: string): Array<string | number> {
  return field.split(/\.|(?=\[)/).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
}

function getPath(obj: unknown, field: string): unknown {
  let cur = obj;
  for (const p of splitPath(field)) cur = (cur as Record<string | number, unknown> | undefined)?.[p];
  return cur;
}

function setPath(obj: Record<string, unknown>, field: string, value: unknown): void {
  const parts = splitPath(field);
  let cur: Record<string | number, unknown> = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = cur[parts[i]!];
    const copy = Array.isArray(next) ? [...next] : { ...(next as object) };
    cur[parts[i]!] = copy;
    cur = copy as Record<string | number, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
