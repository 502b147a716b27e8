// `wippy top`, `wippy ps`, `wippy stats` against a running `wippy run` (child processes), through
// its control socket found from the app directory; and /metrics of the same run scraped and
// parsed. The app's load is known: a service feeds N messages to a named sink service, the Lua
// metrics module counts them, another service fails a known number of times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { socketPath } from '../src/ops/socket.js';
import type { Snapshot } from '../src/ops/snapshot.js';
import type { ProcessRow } from '../src/runtime/stats.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const N = 250;

const APP = `version: "1.0"
namespace: app
entries:
  - name: host
    kind: process.host
    host: { workers: 2 }
    lifecycle: { auto_start: true }

  - name: sink
    kind: process.lua
    modules: [metrics]
    source: |
      local metrics = require("metrics")
      return { main = function()
        process.registry.register("app.sink")
        local inbox, events = process.inbox(), process.events()
        while true do
          local r = channel.select { inbox:case_receive(), events:case_receive() }
          if r.channel == events then return end -- CANCEL: the app stops
          metrics.counter_inc("app_received_total", { topic = r.value:topic() })
        end
      end }
    method: main
  - name: sink_svc
    kind: process.service
    process: app:sink
    host: app:host
    lifecycle: { auto_start: true }

  - name: feeder
    kind: process.lua
    modules: [time]
    source: |
      local time = require("time")
      return { main = function(n)
        local sink
        while not sink do sink = process.registry.lookup("app.sink"); if not sink then time.sleep("5ms") end end
        for i = 1, n do process.send(sink, "x", i) end
        process.events():receive() -- CANCEL: the app stops
      end }
    method: main
  - name: feeder_svc
    kind: process.service
    process: app:feeder
    host: app:host
    input: [${N}]
    lifecycle: { auto_start: true, requires: [app:sink_svc] }

  - name: flaky
    kind: process.lua
    source: |
      return { main = function() error("flaky fails") end }
    method: main
  - name: flaky_svc
    kind: process.service
    process: app:flaky
    host: app:host
    lifecycle:
      auto_start: true
      restart: { initial_delay: 10ms, max_delay: 20ms, backoff_factor: 1, jitter: 0, max_attempts: 2 }
`;

function app(config = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-opsapp-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', '_index.yaml'), APP);
  if (config) writeFileSync(join(dir, '.wippy.yaml'), config);
  return dir;
}

function wippy(args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, BIN, ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `wippy run` in `dir`; resolves once its stderr has `until`. */
async function run(dir: string, env: NodeJS.ProcessEnv, until: RegExp) {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, BIN, 'run'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  await new Promise<void>((r, j) => {
    const t = setInterval(() => { if (until.test(err)) { clearInterval(t); r(); } }, 20);
    void exited.then((c) => { clearInterval(t); j(new Error(`wippy run exited (${c}): ${err}`)); });
  });
  return { child, exited, stderr: () => err };
}

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never happened: ${what}`);
}

test('wippy ps / stats / top attach to a running app through its control socket and show its load', async () => {
  const dir = app();
  const env = { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'wippy-rt-')) };
  const path = socketPath(dir, env);
  const r = await run(dir, env, /Ctrl-C to stop/);
  try {
    // on a pipe the operator lines are JSON log records (src/cli/log.ts)
    const said = r.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(said.includes(`control socket ${path} (wippy top | ps | stats)`), said.join('\n'));
    // ps --json: every process, sorted by what it received; the sink got the N messages
    const rows = await until('the sink has the N messages and the service gave up', () => {
      const ps = wippy(['ps', '--json', '--sort', 'received'], dir, env);
      assert.equal(ps.code, 0, ps.stderr);
      const list = JSON.parse(ps.stdout) as ProcessRow[];
      const st = JSON.parse(wippy(['stats', '--json'], dir, env).stdout) as Snapshot;
      return list[0]?.received === N && st.services.find((s) => s.id === 'app:flaky_svc')?.state === 'failed' && st.totals.exited === 3 ? list : undefined;
    });
    assert.deepEqual(rows.map((x) => [x.entry, x.name, x.received]), [['app:sink', 'app.sink', N], ['app:feeder', '', 0]]);
    assert.equal(rows[1]!.sent, N);
    // stats --json: totals, services with restart counts, and the Lua metrics
    const s = JSON.parse(wippy(['stats', '--json'], dir, env).stdout) as Snapshot & { metrics: Array<{ name: string; values: unknown[] }> };
    assert.equal(s.totals.processes, 2);
    assert.equal(s.totals.delivered, N);
    assert.deepEqual(s.services.map((v) => [v.id, v.state, v.restarts]),
      [['app:sink_svc', 'running', 0], ['app:feeder_svc', 'running', 0], ['app:flaky_svc', 'failed', 2]]);
    assert.deepEqual(s.metrics, [{ name: 'app_received_total', type: 'counter', values: [{ labels: { topic: 'x' }, value: N }] }]);
    assert.equal(s.processes, undefined);
    // stats as text
    const text = wippy(['stats'], dir, env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`processes 2 {2}started 5 \\([\\d.]+/s\\) {2}exited 3 {2}messages ${N} `));
    assert.match(text.stdout, /\napp:flaky_svc +failed +- +2 +app:flaky:\d+: flaky fails\n/);
    // ps as text, limited
    const ps1 = wippy(['ps', '--limit', '1', '--sort', 'sent'], dir, env);
    assert.equal(ps1.stdout.split('\n')[1]!.split(/ +/)[1], 'app:feeder');
    // top, not on a terminal: one frame per refresh, as many as asked
    const top = wippy(['top', '-n', '2', '-i', '100ms', '--sort', 'received', '--limit', '5'], dir, env);
    assert.equal(top.code, 0, top.stderr);
    assert.equal(top.stdout.match(/^wippy top /gm)?.length, 2);
    assert.equal(top.stdout.match(/^top 2 processes by received$/gm)?.length, 2);
    assert.match(top.stdout, new RegExp(`\\n\\{app:host\\|0x[0-9a-f]+\\} +app:sink +app\\.sink +#\\d +wait +[\\d,]+ +[\\d.]+ +[\\d.]+ \\w+ +${N} +0 +0\\n`));
    const once = wippy(['top'], dir, env);
    assert.equal(once.stdout.match(/^wippy top /gm)?.length, 1, 'one frame when stdout is not a terminal');
    // from elsewhere: -C names the app; --socket the socket
    const other = mkdtempSync(join(tmpdir(), 'wippy-else-'));
    assert.equal(wippy(['-C', dir, 'ps', '--json'], other, env).code, 0);
    assert.equal(wippy(['ps', '--json', '--socket', path], other, env).code, 0);
    // bad arguments
    const bad = wippy(['top', '--interval', 'soon'], dir, env);
    assert.deepEqual([bad.code, bad.stderr], [2, 'wippy: --interval must be a duration like 1s or 500ms, got "soon"\n']);
    const badLimit = wippy(['ps', '--limit', '-3'], dir, env);
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.stderr, /--limit must be an integer of at least 0, got "-3"/);
    const badSort = wippy(['ps', '--sort', 'age'], dir, env);
    assert.notEqual(badSort.code, 0);
    assert.match(badSort.stderr, /argument 'age' is invalid\. Allowed choices are cpu, runs, heap, received, sent, unread/);
    // no app running there
    const none = wippy(['ps'], other, env);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, `wippy: no running wippy app for the app at ${other}: no control socket at ${socketPath(other, env)} (start it with \`wippy run\`, or give --socket)\n`);
  } finally {
    r.child.kill('SIGINT');
    const code = await r.exited;
    assert.ok(code === 0 || code === 130, `exit ${code}: ${r.stderr()}`); // 130 once Ctrl-C exits as a shell expects
  }
  assert.equal(existsSync(path), false, 'the socket file is removed when the app exits');
  const gone = wippy(['stats'], dir, env);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no running wippy app for the app at .*: no control socket at /);
});

test('wippy run serves /metrics when .wippy.yaml enables prometheus; a scrape parses and matches the load', async () => {
  const dir = app('prometheus:\n  enabled: true\n  address: "127.0.0.1:0"\n');
  const env = { ...process.env, XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), 'wippy-rt-')) };
  const r = await run(dir, env, /Ctrl-C to stop/);
  try {
    const url = /"msg":"metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(r.stderr())?.[1];
    assert.ok(url, r.stderr());
    let fams = new Map<string, ReturnType<typeof parsePrometheus>[number]>();
    const value = (name: string, where: (l: Record<string, string>) => boolean = () => true) =>
      fams.get(name)?.metrics.filter((m) => where(m.labels ?? {})).reduce((n, m) => n + Number(m.value), 0);
    for (let i = 0; i < 500; i++) {
      fams = new Map(parsePrometheus(await (await fetch(url)).text()).map((f) => [f.name, f]));
      // every figure asserted below, so a scrape between a service's exit and the supervisor's
      // bookkeeping (or the next worker sample) is retried, not judged
      if (value('app_received_total') === N && value('wippy_service_restarts_total') === 2 && value('wippy_processes_exited_total') === 3 &&
        value('wippy_messages_delivered_total') === N && value('wippy_processes') === 2 && value('wippy_service_up') === 2) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(value('app_received_total', (l) => l['topic'] === 'x'), N);
    assert.equal(value('wippy_messages_delivered_total'), N);
    assert.equal(value('wippy_processes'), 2);
    assert.equal(value('wippy_service_restarts_total', (l) => l['service'] === 'app:flaky_svc'), 2);
    assert.equal(value('wippy_service_up'), 2);
    assert.ok(fams.has('nodejs_eventloop_lag_p99_seconds'));
  } finally {
    r.child.kill('SIGINT');
    const code = await r.exited;
    assert.ok(code === 0 || code === 130, `exit ${code}: ${r.stderr()}`); // 130 once Ctrl-C exits as a shell expects
  }
});

test('a bad prometheus section is a load error naming .wippy.yaml and the line', () => {
  const dir = app('prometheus:\n  enabled: yes please\n  address: 9090:localhost\n');
  const r = wippy(['run'], dir, process.env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\.wippy\.yaml:2: prometheus\.enabled must be true or false/);
  assert.match(r.stderr, /\.wippy\.yaml:3: prometheus\.address must be "host:port" \(e\.g\. "localhost:9090"\), got "9090:localhost"/);
});
