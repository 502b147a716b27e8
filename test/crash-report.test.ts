// Crash reports: a process that fails while nobody watches it (no monitor, no link, no service)
// leaves one "process crashed" record on the runtime's logger; a watched one, a normal exit, a
// terminate and a host with crash_reports: false leave none. The CLI shows the record by default.
//
// Ordering, not timing: a worker's frames reach the main thread in order, so once the EXIT of a
// watched process started after the crash arrives, the crash's report (if any) was logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createRuntime, type Runtime } from '../src/index.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const CRASHER = `
local function deep(why) error(why) end
local function middle(why) deep(why) end
return { main = function(why) middle(why or "boom") end }`;

const ENTRIES = [
  { id: 'cr:processes', kind: 'process.host', host: { workers: 1 } },
  { id: 'cr:quiet', kind: 'process.host', host: { workers: 1, crash_reports: false } },
  { id: 'cr:crasher', kind: 'process.lua', method: 'main', source: CRASHER },
  { id: 'cr:ok', kind: 'process.lua', method: 'main', source: 'return { main = function() return 1 end }' },
  { id: 'cr:sleeper', kind: 'process.lua', method: 'main', source: 'return { main = function() process.listen("never"):receive() end }' },
  // spawns a crasher monitored, one linked (trapping links), a normal exit and a terminated
  // sleeper, all on its own host, and waits for the crashers' EXIT and LINK_DOWN
  { id: 'cr:watcher', kind: 'process.lua', method: 'main', source: `
return { main = function()
  process.set_options({ trap_links = true })
  local ev = process.events()
  process.spawn_monitored("cr:crasher", "cr:processes", "monitored")
  process.spawn_linked("cr:crasher", "cr:processes", "linked")
  process.spawn("cr:ok", "cr:processes")
  assert(process.terminate(process.spawn("cr:sleeper", "cr:processes")))
  for _ = 1, 2 do ev:receive() end
  return true
end }` },
  // links a sleeper and fails (run watched): the sleeper dies of the link, not of a crash of its own
  { id: 'cr:linker', kind: 'process.lua', method: 'main', source: `
return { main = function()
  assert(process.link(process.spawn("cr:sleeper", "cr:processes")))
  error("linker fails")
end }` },
  { id: 'cr:returner', kind: 'process.lua', method: 'main', source: `
return { main = function() return nil, errors.new({ kind = errors.NOT_FOUND, message = "no such thing" }) end }` },
];

interface Rec { level: number; msg: string; pid?: string; entry?: string; host?: string; kind?: string; message?: string; traceback?: string }

async function withRuntime(fn: (rt: Runtime, records: Rec[]) => Promise<void>): Promise<void> {
  const records: Rec[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { records.push(JSON.parse(String(chunk))); cb(); } });
  const logger = pino({ level: 'info', base: undefined }, sink);
  const rt = await createRuntime({ entries: ENTRIES, logger });
  try { await fn(rt, records); } finally { await rt.stop(1000); }
}

const crashes = (records: Rec[]) => records.filter((r) => r.msg === 'process crashed');

test('an unwatched crash logs one "process crashed" record: entry, pid, host, kind, message, traceback', () => withRuntime(async (rt, records) => {
  const pid = await rt.spawn('cr:crasher', 'cr:processes', ['it broke']);
  await rt.run('cr:ok', [], { host: 'cr:processes' }); // after the crasher on the same worker
  const c = crashes(records);
  assert.equal(c.length, 1, JSON.stringify(records));
  const r = c[0]!;
  assert.equal(r.level, 50, 'level error');
  assert.equal(r.pid, pid);
  assert.equal(r.entry, 'cr:crasher');
  assert.equal(r.host, 'cr:processes');
  assert.equal(r.kind, 'Internal');
  assert.match(r.message ?? '', /it broke/);
  assert.match(r.traceback ?? '', /stack traceback/);
  assert.match(r.traceback ?? '', /in (upvalue|local|function) 'deep'/);
}));

test('monitored, linked, normal, terminated and link-killed exits log no crash report', () => withRuntime(async (rt, records) => {
  assert.equal(await rt.exec('cr:watcher', [], { host: 'cr:processes' }), true);
  const linker = await rt.run('cr:linker', [], { host: 'cr:processes' });
  assert.match(linker.error?.message ?? '', /linker fails/);
  await rt.run('cr:ok', [], { host: 'cr:processes' });
  assert.deepEqual(crashes(records), []);
}));

test('an error returned (not raised) by an unwatched process is reported too, without a traceback', () => withRuntime(async (rt, records) => {
  const pid = await rt.spawn('cr:returner', 'cr:processes');
  await rt.run('cr:ok', [], { host: 'cr:processes' });
  const c = crashes(records);
  assert.equal(c.length, 1, JSON.stringify(records));
  assert.equal(c[0]!.pid, pid);
  assert.equal(c[0]!.kind, 'NotFound');
  assert.equal(c[0]!.message, 'no such thing');
  assert.equal(c[0]!.traceback, '');
}));

test('a host with crash_reports: false logs none', () => withRuntime(async (rt, records) => {
  await rt.spawn('cr:crasher', 'cr:quiet', ['hushed']);
  await rt.run('cr:ok', [], { host: 'cr:quiet' });
  assert.deepEqual(crashes(records), []);
}));

/** An app whose app:main spawns a child that crashes unwatched, then returns "done". */
function crashApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wippy-crash-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', '_index.yaml'), `
namespace: app
entries:
  - { name: processes, kind: process.host, host: { workers: 1 } }
  - name: child
    kind: process.lua
    method: main
    source: |
      return { main = function() error("child blew up") end }
  - name: ok
    kind: process.lua
    method: main
    source: |
      return { main = function() return 1 end }
  - name: main
    kind: process.lua
    method: main
    source: |
      return { main = function()
        process.spawn("app:child", "app:processes")
        -- a monitored process started after the child: its EXIT comes after the child's crash
        local ev = process.events()
        process.spawn_monitored("app:ok", "app:processes")
        ev:receive()
        return "done"
      end }
`);
  return dir;
}

test('wippy run --exec shows the crash report of an unwatched child on stderr by default', () => {
  const dir = crashApp();
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, resolve('bin/wippy.js'), 'run', '--exec', 'app:main'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
  const lines = r.stderr.split('\n').filter((l) => l.includes('process crashed'));
  assert.equal(lines.length, 1, r.stderr);
  const rec = JSON.parse(lines[0]!) as Rec;
  assert.equal(rec.entry, 'app:child');
  assert.equal(rec.host, 'app:processes');
  assert.match(rec.message ?? '', /child blew up/);
  assert.match(rec.pid ?? '', /^\{app:processes\|0x/);
});

test('wippy -c (--console) shows the crash report as a readable block with the Lua traceback', () => {
  const r = spawnSync(process.execPath, [...CHILD_NODE_FLAGS, resolve('bin/wippy.js'), '-c', 'run', '--exec', 'app:main'], { cwd: crashApp(), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'done');
  assert.match(r.stderr, /^\[[\d:.]+\] ERROR: process crashed: app:child \{app:processes\|0x[0-9a-f]+\} on app:processes\n {4}Internal: .*child blew up\n {4}stack traceback:\n {8}\S/m);
});
