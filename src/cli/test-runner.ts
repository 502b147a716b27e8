// `wippy test`: find an app's test entries, run each in its own process with a timeout, print one
// line per test and a summary, and give the exit code (0 when every test passed).
//
// What is a test (the Wippy docs, guides/cli and framework/testing):
//   * a `function.lua` entry with `meta.type: test`. `meta.suite` groups it (default: the entry's
//     namespace), `meta.name` names it (default: the entry's name), `meta.order` sorts it within
//     its suite (lower first; entries without an order come after, by id).
//   * a process entry whose command metadata says `use_case: test` (`meta.command.use_case`, or
//     `meta.use_case` next to a `meta.command`): the test entrypoint of the CLI guide. It runs on
//     the terminal host when the app has one, like any command, as suite "entrypoint".
// Suites print in name order; the entrypoints print last.
//
// Pass or fail. A test passes when its process returns without error and its result is not
// `false`. Two more results count as failures: a run_cases result table (the `test` module's,
// src/lua/lib/test.lua) with failed_tests > 0 — a BDD entry that returns its result instead of
// raising — and, for a command entrypoint, a non-zero number (its exit code, as for `wippy run`).
// A test still running after the timeout is terminated and fails with "timed out after …".
//
// Running. One runtime for the whole run (booting one per test would cost a worker start each);
// tests run one after another, so the output order is the discovery order and a test's prints
// stay next to its line. Each test is its own process: a crash, a leaked mock or a killed test
// cannot reach the next one.
//
// Filters (`--filter <pattern>`, repeatable, and positional patterns, as the testing guide's
// `wippy test math` shows): a test runs when any pattern matches its entry id, its suite or its
// name. A pattern with `*` is a glob (`*` = any run of characters); otherwise a substring match.
//
// Output (stdout):
//   running 3 tests
//   ok    math › adds (app.test:add) 2ms
//   FAIL  math › divides (app.test:div) 1ms
//         app.test:div:4: eq: expected 2, got 3
//   3 passed, 1 failed
// BDD cases print under their entry's line (`+` passed, `-` failed with its error, `~` skipped).
import type { Registry } from '../registry/registry.js';
import type { Entry } from '../registry/types.js';
import type { Logger } from 'pino';
import { Runtime, type ExitInfo } from '../runtime/runtime.js';

/** Default per-test timeout: generous for a test that boots services, short enough for CI. */
export const DEFAULT_TEST_TIMEOUT_MS = 30_000;
/** After a timeout the process is terminated; its EXIT is awaited at most this long. */
const TERMINATE_WAIT_MS = 2_000;

export interface TestCase {
  id: string;
  suite: string;
  name: string;
  order: number;
  /** 'entry': a function.lua test; 'entrypoint': a process command with use_case test. */
  kind: 'entry' | 'entrypoint';
}

export interface TestOutcome {
  test: TestCase;
  status: 'passed' | 'failed';
  ms: number;
  /** Why it failed. */
  error?: string;
  /** A run_cases result's cases, when the test returned one. */
  cases?: BddCase[];
}

interface BddCase { full_name?: string; name?: string; status?: string; error?: string }

export interface TestRunOptions {
  timeoutMs: number;
  write: (s: string) => void;
}

/** "30s", "500ms", "2m", "1.5s" or a bare number of milliseconds -> ms; undefined when malformed. */
export function parseDurationMs(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const ms = n * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1);
  return ms > 0 ? Math.round(ms) : undefined;
}

function useCase(e: Entry): string | undefined {
  const cmd = e.meta['command'];
  if (!cmd || typeof cmd !== 'object') return undefined;
  const u = (cmd as Record<string, unknown>)['use_case'] ?? e.meta['use_case'];
  return typeof u === 'string' ? u : undefined;
}

function patternMatches(pattern: string, text: string): boolean {
  if (!pattern.includes('*')) return text.includes(pattern);
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(text);
}

/** The app's tests, in run order, kept when any pattern matches (all when there is none). */
export function discoverTests(reg: Registry, patterns: string[] = []): TestCase[] {
  const entries: TestCase[] = [];
  const entrypoints: TestCase[] = [];
  for (const e of reg.entries.values()) {
    if (e.kind === 'function.lua' && e.meta['type'] === 'test') {
      const suite = typeof e.meta['suite'] === 'string' ? e.meta['suite'] : e.id.slice(0, e.id.indexOf(':'));
      const name = typeof e.meta['name'] === 'string' ? e.meta['name'] : e.id.slice(e.id.indexOf(':') + 1);
      const order = typeof e.meta['order'] === 'number' ? e.meta['order'] : Number.POSITIVE_INFINITY;
      entries.push({ id: e.id, suite, name, order, kind: 'entry' });
    } else if ((e.kind === 'process.lua' || e.kind === 'process.wasm') && useCase(e) === 'test') {
      const cmd = e.meta['command'] as Record<string, unknown>;
      const name = typeof cmd['name'] === 'string' ? cmd['name'] : e.id;
      entrypoints.push({ id: e.id, suite: 'entrypoint', name, order: Number.POSITIVE_INFINITY, kind: 'entrypoint' });
    }
  }
  entries.sort((a, b) => (a.suite < b.suite ? -1 : a.suite > b.suite ? 1 : 0) || (a.order - b.order || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  entrypoints.sort((a, b) => (a.id < b.id ? -1 : 1));
  const all = [...entries, ...entrypoints];
  if (patterns.length === 0) return all;
  return all.filter((t) => patterns.some((p) => patternMatches(p, t.id) || patternMatches(p, t.suite) || patternMatches(p, t.name)));
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Pass or fail of one EXIT, by the rules at the top. */
export function judge(test: TestCase, exit: ExitInfo): { ok: boolean; error?: string; cases?: BddCase[] } {
  if (exit.error) return { ok: false, error: exit.error.message || 'failed' };
  const v = exit.value;
  if (v === false) return { ok: false, error: 'returned false' };
  if (test.kind === 'entrypoint' && typeof v === 'number' && Math.trunc(v) !== 0) {
    return { ok: false, error: `exited with code ${Math.trunc(v)}` };
  }
  if (v && typeof v === 'object' && typeof (v as Record<string, unknown>)['failed_tests'] === 'number') {
    const r = v as { failed_tests: number; cases?: unknown };
    const cases = Array.isArray(r.cases) ? (r.cases as BddCase[]) : r.cases && typeof r.cases === 'object' ? Object.values(r.cases) as BddCase[] : [];
    if (r.failed_tests > 0) return { ok: false, error: `${r.failed_tests} case(s) failed`, cases };
    return { ok: true, cases };
  }
  return { ok: true };
}

/** Run one test in its own process; never rejects. */
async function runOne(rt: Runtime, test: TestCase, timeoutMs: number): Promise<TestOutcome> {
  const t0 = performance.now();
  const done = (status: TestOutcome['status'], extra: Partial<TestOutcome> = {}): TestOutcome =>
    ({ test, status, ms: Math.round(performance.now() - t0), ...extra });
  let host: string | undefined;
  if (test.kind === 'entrypoint') host = rt.terminalHost();
  let resolveExit!: (e: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((r) => { resolveExit = r; });
  let pid: string;
  try {
    pid = await rt.spawn(test.id, host, [], resolveExit);
  } catch (e) {
    return done('failed', { error: `could not start: ${errorText(e)}` });
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    try { rt.terminate(pid); } catch { /* it ended in the meantime */ }
    let wait: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => { wait = setTimeout(r, TERMINATE_WAIT_MS); })]);
    clearTimeout(wait);
    return done('failed', { error: `timed out after ${timeoutMs}ms` });
  }
  const j = judge(test, first);
  return done(j.ok ? 'passed' : 'failed', { ...(j.error !== undefined ? { error: j.error } : {}), ...(j.cases ? { cases: j.cases } : {}) });
}

function indent(text: string): string {
  return text.split('\n').map((l) => `      ${l}`).join('\n');
}

function formatOutcome(o: TestOutcome): string {
  const head = `${o.status === 'passed' ? 'ok  ' : 'FAIL'}  ${o.test.suite} › ${o.test.name} (${o.test.id}) ${o.ms}ms\n`;
  let body = '';
  for (const c of o.cases ?? []) {
    const name = c.full_name ?? c.name ?? '?';
    if (c.status === 'passed') body += `      + ${name}\n`;
    else if (c.status === 'skipped') body += `      ~ ${name} (skipped)\n`;
    else body += `      - ${name}\n${indent(`  ${c.error ?? 'failed'}`)}\n`;
  }
  if (o.error !== undefined && !(o.cases && o.cases.length > 0)) body += `${indent(o.error)}\n`;
  return head + body;
}

/** Run the tests on a started runtime, printing as they finish. -> the outcomes. */
export async function runTests(rt: Runtime, tests: TestCase[], opts: TestRunOptions): Promise<TestOutcome[]> {
  const out: TestOutcome[] = [];
  opts.write(`running ${tests.length} test${tests.length === 1 ? '' : 's'}\n`);
  for (const t of tests) {
    const o = await runOne(rt, t, opts.timeoutMs);
    out.push(o);
    opts.write(formatOutcome(o));
  }
  const passed = out.filter((o) => o.status === 'passed').length;
  opts.write(`${passed} passed, ${out.length - passed} failed\n`);
  return out;
}

/**
 * The `wippy test` command: discover, run, summarise. -> exit code: 0 all passed, 1 a test failed
 * or none was found (a filter that matches nothing should not pass CI silently), 2 bad arguments.
 */
export async function testCommand(reg: Registry, log: Logger, o: { patterns: string[]; timeout: string }): Promise<number> {
  const timeoutMs = parseDurationMs(o.timeout);
  if (timeoutMs === undefined) {
    process.stderr.write(`wippy test: --timeout must be a duration like 30s, 500ms or 2m (got "${o.timeout}")\n`);
    return 2;
  }
  const tests = discoverTests(reg, o.patterns);
  if (tests.length === 0) {
    process.stdout.write(o.patterns.length > 0
      ? `no tests match ${o.patterns.map((p) => `"${p}"`).join(', ')}\n`
      : 'no tests: give a function.lua entry meta.type: test to make one\n');
    return 1;
  }
  const rt = new Runtime(reg, { logger: log });
  await rt.start();
  let outcomes: TestOutcome[];
  try {
    outcomes = await runTests(rt, tests, { timeoutMs, write: (s) => process.stdout.write(s) });
  } finally {
    await rt.stop(TERMINATE_WAIT_MS);
  }
  return outcomes.every((x) => x.status === 'passed') ? 0 : 1;
}
