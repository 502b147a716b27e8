// Entry kinds: which are known, and the load problem for a kind that looks like a typo of one.
//
// Two sets of kinds are known. The kinds this runtime gives behaviour (a schema in schema.ts, a
// host, a process body), and the other kinds of Wippy's documentation (http.*, db.sql.*, store.*,
// template.*, ...), which an app written for Wippy may declare and which are kept here as plain
// data (`registry.entry` style). A kind in neither set is
//   - a problem when it is within a typo of a known kind ("proces.lua" -> "unknown kind
//     'proces.lua' (did you mean 'process.lua'?)"): such an entry would load silently and fail much
//     later, when something spawns it ("factory not found");
//   - kept as data otherwise: a kind far from every known one is somebody's own kind, not a typo.
//
// Alternative rejected: every kind outside the known sets is a problem. An app using a Wippy kind
// this list does not name (a newer one, a plugin's) would then not load at all, for a kind nothing
// here would run anyway.
import { editDistance } from './near.js';

/** Wippy's documented kinds that this runtime keeps as data (no behaviour here). */
export const DATA_KINDS = [
  'http.service', 'http.router', 'http.endpoint', 'http.static', 'db.sql.sqlite', 'db.sql.postgres', 'db.sql.mysql',
  'store.memory', 'store.sql', 'store.kv.raft', 'template.set', 'template.jet', 'temporal.worker', 'temporal.client',
  'security.token_store', 'queue.queue', 'queue.driver.memory', 'queue.consumer', 'exec.native', 'exec.docker',
  'contract.definition', 'contract.binding', 'config.aws', 'cloudstorage.s3', 'workflow.lua', 'function.lua.bc',
  'process.lua.bc', 'library.lua.bc', 'workflow.lua.bc',
] as const;

/** The most edits a kind may be from a known one to count as its typo. */
function typoDistance(kind: string): number {
  return kind.length >= 6 ? 2 : 1;
}

/**
 * The problem for `kind` when it is unknown and close to a known kind (`known`: the kinds with
 * behaviour), else undefined (known, or far from everything: kept as data).
 */
export function unknownKind(kind: string, known: readonly string[]): string | undefined {
  if (known.includes(kind) || (DATA_KINDS as readonly string[]).includes(kind)) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  const lower = kind.toLowerCase();
  for (const k of [...known, ...DATA_KINDS]) {
    const d = editDistance(lower, k);
    if (d < bestD || (d === bestD && best !== undefined && k < best)) { bestD = d; best = k; }
  }
  if (best === undefined || bestD > typoDistance(kind)) return undefined;
  return `unknown kind '${kind}' (did you mean '${best}'?)`;
}
