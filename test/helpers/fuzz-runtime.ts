// A runtime for the runtime fuzz tests: one 2-worker host with an echo process pinned on each
// worker, a probe that proves a worker still serves, and a way to run one generated batch as a
// process placed on a chosen worker.
//
// Placement is deterministic: Runtime.spawn places a process on the host's workers round-robin
// (a placed spawn, never queued or stolen), so spawning in turn puts one echo on each worker, and a
// batch spawned next lands on one of them: it has an echo on its own worker and one on the other.
import assert from 'node:assert/strict';
import { createRuntime, type Runtime, type ExitInfo } from '../../src/index.js';
import { LUA_VALUES } from './gen-lua.js';
import { within } from './fuzz.js';

export const HOST = 'fz:pair';
/** A one-worker host: a process there is always on another worker than any process of HOST. */
export const OTHER_HOST = 'fz:other';

const mod = (body: string) => `${LUA_VALUES}\nlocal function main(...)\n${body}\nend\nreturn { main = main }\n`;

const ECHO = mod(`
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    if m:topic() == "stop" then return "stopped" end
    local ok, sent, err = pcall(process.send, m:from(), "back", m:payload():data())
    if not ok or sent ~= true then
      process.send(m:from(), "echo-failed", tostring(ok and err or sent))
    end
  end`);

const PROBE = mod(`return "alive"`);

export interface FuzzRuntime {
  rt: Runtime;
  /** Echo PIDs, one per worker (index = worker order). */
  echoes: string[];
  /** Runs entry `id` placed on the next worker in turn, with `args`; resolves to its EXIT. */
  run(id: string, args: unknown[], what: string): Promise<ExitInfo>;
  /** Both workers still start a process and run it to the end. */
  probe(): Promise<void>;
  /** The worker thread id that owns `pid`. */
  owner(pid: string): number;
}

/**
 * Starts the runtime; `bodies` are extra process.lua bodies by name (each gets LUA_VALUES).
 * `hangMs` bounds every run: a batch or probe with no EXIT by then fails the case as hung (its
 * entry and arguments named). Not a performance check: a batch waits at most its own few seconds
 * for its calls, so 30 s without its EXIT is a lost EXIT or a wedged worker, loaded or not.
 */
export async function fuzzRuntime(bodies: Record<string, string>, opts: { hangMs?: number } = {}): Promise<FuzzRuntime> {
  const hangMs = opts.hangMs ?? 30_000;
  const entries: Array<Record<string, unknown>> = [
    { id: HOST, kind: 'process.host', host: { workers: 2 } },
    { id: OTHER_HOST, kind: 'process.host', host: { workers: 1 } },
    { id: 'fz:echo', kind: 'process.lua', method: 'main', source: ECHO, modules: ['time'] },
    { id: 'fz:probe', kind: 'process.lua', method: 'main', source: PROBE, modules: ['time'] },
  ];
  for (const [name, body] of Object.entries(bodies)) {
    entries.push({ id: `fz:${name}`, kind: 'process.lua', method: 'main', source: mod(body), modules: ['time'] });
  }
  const rt = await createRuntime({ entries });
  const dir = (rt as unknown as { dir: { owner(uniq: number): number } }).dir;
  const owner = (pid: string): number => dir.owner(parseInt(pid.slice(pid.lastIndexOf('|0x') + 3, -1), 16));
  const echoes = [await rt.spawn('fz:echo', HOST), await rt.spawn('fz:echo', HOST)];
  assert.notEqual(owner(echoes[0]!), owner(echoes[1]!), 'one echo on each worker');
  // After one hang the runtime is suspect (a worker wedged, a watcher lost): every later run fails
  // at once, naming the hang, rather than waiting hangMs again for each of fast-check's shrink
  // attempts (which turned one hang into the test runner's timeout, with no message).
  let hung: string | undefined;
  const run = async (id: string, args: unknown[], what: string): Promise<ExitInfo> => {
    if (hung !== undefined) throw new Error(`${what}: not run, the runtime hung before (${hung})`);
    const p = new Promise<ExitInfo>((resolve, reject) => { rt.spawn(id, HOST, args, resolve).catch(reject); });
    try {
      return await within(p, hangMs, `${what} ${JSON.stringify(args).slice(0, 300)}`);
    } catch (e) {
      if ((e as Error).message.endsWith('(hung)')) hung = (e as Error).message;
      throw e;
    }
  };
  return {
    rt, echoes, run, owner,
    async probe() {
      for (let i = 0; i < 2; i++) {
        const e = await run('fz:probe', [], 'probe process');
        assert.equal(e.value, 'alive', `probe on a worker: ${e.error?.message ?? String(e.value)}`);
      }
    },
  };
}
