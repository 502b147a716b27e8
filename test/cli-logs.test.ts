// Logs people can read (issue 13): the encoding and level the flags and config choose, the
// readable form (key=value fields; a crash report as a block, whose CLI test is in
// crash-report.test.ts), JSON on a pipe, --silent, "service stopped" lines and Ctrl-C exiting 130,
// shutdown progress naming the processes still running, stall lines, and the JS API's "not found"
// errors naming what and the closest ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { chooseEncoding, chooseLevel, readable } from '../src/cli/log.js';
import { createRuntime } from '../src/index.js';
import { Supervisor } from '../src/runtime/services.js';
import type { WippyError } from '../src/codec/msgpack.js';
import { CHILD_NODE_FLAGS } from './helpers/node-child.js';

const BIN = resolve('bin/wippy.js');
const APP = resolve('test/fixtures/cli-app');
const plain = { dim: (s: string) => s, red: (s: string) => s, bold: (s: string) => s };

test('encoding: --console, then --log-format, then logger.encoding, then console on a TTY / json on a pipe', () => {
  assert.equal(chooseEncoding({}, {}, true), 'console');
  assert.equal(chooseEncoding({}, {}, false), 'json');
  assert.equal(chooseEncoding({}, { logger: { encoding: 'json' } }, true), 'json');
  assert.equal(chooseEncoding({ logFormat: 'console' }, { logger: { encoding: 'json' } }, false), 'console');
  assert.equal(chooseEncoding({ console: true, logFormat: 'json' }, {}, false), 'console');
});

test('level: --silent, then -v, then logmanager.min_level, then info for wippy run / warn for commands', () => {
  assert.equal(chooseLevel({ silent: true, verbose: true }, {}, true), 'silent');
  assert.equal(chooseLevel({ verbose: true }, { logmanager: { min_level: 2 } }, false), 'debug');
  assert.equal(chooseLevel({}, { logmanager: { min_level: 2 } }, true), 'error');
  assert.equal(chooseLevel({}, { logmanager: { min_level: -1 } }, false), 'debug');
  assert.equal(chooseLevel({}, {}, true), 'info');
  assert.equal(chooseLevel({}, {}, false), 'warn');
});

test('the readable form: fields as key=value; a crash report as a block with its traceback', () => {
  assert.equal(readable({ level: 30, time: 1, msg: 'service started', service: 'app:svc', pid: '{app:p|0x00003}', attempt: 0 }, 'msg', plain),
    'service started service=app:svc pid={app:p|0x00003} attempt=0');
  assert.equal(readable({ level: 30, msg: 'said', text: 'two words', n: { a: 1 } }, 'msg', plain), 'said text="two words" n={"a":1}');
  assert.equal(readable({ level: 50, msg: 'process crashed', pid: '{app:p|0x00004}', entry: 'app:child', host: 'app:p',
    kind: 'Internal', message: 'boom', traceback: 'stack traceback:\n\t[string "app:child"]:1: in function <x>' }, 'msg', plain),
  'process crashed: app:child {app:p|0x00004} on app:p\n    Internal: boom\n    stack traceback:\n        [string "app:child"]:1: in function <x>');
});

/** Start `wippy run` (args before) in APP, wait for the running line, SIGINT it. */
async function runAndInterrupt(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, BIN, ...args, 'run'], { cwd: APP, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  // the "app running" record is at info: with --silent, wait for the service's first output instead
  await new Promise<void>((r) => { const t = setInterval(() => { if (/app running|^service ready/m.test(stderr + stdout)) { clearInterval(t); r(); } }, 20); });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stdout, stderr };
}

test('wippy run on a pipe logs JSON lines; Ctrl-C exits 130 after "service stopped"', async () => {
  const r = await runAndInterrupt([]);
  assert.equal(r.code, 130, r.stderr);
  const recs = r.stderr.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { msg: string; service?: string });
  const msgs = recs.map((x) => x.msg);
  assert.ok(msgs.includes('app running; Ctrl-C to stop'), r.stderr);
  const stopped = recs.filter((x) => x.msg === 'service stopped');
  assert.deepEqual(stopped.map((x) => x.service), ['cli:svc']);
  assert.ok(msgs.indexOf('service stopped') < msgs.indexOf('stopped'), 'services stop before the runtime');
});

test('--console writes readable lines (no colour on a pipe); --silent writes none', async () => {
  const c = await runAndInterrupt(['--console']);
  assert.equal(c.code, 130, c.stderr);
  assert.match(c.stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: service started service=cli:svc pid=\{cli:processes\|0x[0-9a-f]+\} attempt=0$/m);
  assert.match(c.stderr, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: service stopped service=cli:svc pid=\{cli:processes\|0x[0-9a-f]+\}$/m);
  assert.doesNotMatch(c.stderr, /\u001b\[/, 'no escape codes when stderr is not a terminal');
  const s = await runAndInterrupt(['-s']);
  assert.equal(s.code, 130);
  assert.equal(s.stderr, '');
});

test('stop() says which processes it still waits for, and the deadline', async () => {
  const records: Array<{ msg: string; level: number; processes?: number }> = [];
  const sink = new Writable({ write(chunk, _e, cb) { records.push(JSON.parse(String(chunk))); cb(); } });
  const rt = await createRuntime({
    entries: [
      { id: 't:p', kind: 'process.host', host: { workers: 1 } },
      // never reads its events: the shutdown CANCEL does not stop it, the deadline does
      { id: 't:stubborn', kind: 'process.lua', method: 'main', source: 'return { main = function() process.listen("never"):receive() end }' },
    ],
    logger: pino({ level: 'info', base: undefined }, sink),
  });
  const pid = await rt.spawn('t:stubborn', 't:p');
  await rt.stop(2500);
  const waiting = records.filter((r) => r.msg.startsWith('waiting for'));
  assert.ok(waiting.length >= 1, JSON.stringify(records));
  assert.match(waiting[0]!.msg, new RegExp(`^waiting for 1 process: t:stubborn ${pid.replace(/[{}|]/g, '\\$&')}; deadline in \\d+ s$`));
  assert.equal(waiting[0]!.level, 40);
  assert.equal(waiting[0]!.processes, 1);
});

test('the JS API\'s "not found" errors name the entry, host or process, and the closest ids', async () => {
  const rt = await createRuntime({
    entries: [
      { id: 't:processes', kind: 'process.host', host: { workers: 1 } },
      { id: 't:hello', kind: 'process.lua', method: 'main', source: 'return { main = function() return 1 end }' },
      { id: 't:lib', kind: 'library.lua', source: 'return {}' },
    ],
  });
  try {
    await assert.rejects(rt.exec('t:helo'), (e: WippyError) => e.message === 'factory not found: t:helo (did you mean t:hello?)' && e.kind === 'NotFound');
    await assert.rejects(rt.exec('t:lib'), (e: WippyError) => e.message === 'factory not found: t:lib is a library.lua, not a process or function entry');
    await assert.rejects(rt.exec('t:hello', [], { host: 't:proceses' }), (e: WippyError) => e.message === 'host not found: t:proceses (did you mean t:processes?)');
    const gone = (await rt.run('t:hello', [], { host: 't:processes' })).pid;
    assert.throws(() => rt.send(gone, 'x'), (e: WippyError) => e.message === `process not found: ${gone}`);
    assert.throws(() => rt.send('t:nobody', 'x'), (e: WippyError) => e.message === "could not resolve 't:nobody' as PID or registered name");
  } finally {
    await rt.stop(1000);
  }
});

test('a worker stalled inside one step is logged with its host, thread and processes, then replaced', async () => {
  const records: Array<{ msg: string; level: number; host?: string; tid?: number; processes?: number; stallTimeoutMs?: number }> = [];
  const sink = new Writable({ write(chunk, _e, cb) { records.push(JSON.parse(String(chunk))); cb(); } });
  const rt = await createRuntime({
    entries: [{ id: 't:p', kind: 'process.host', host: { workers: 1, stall_timeout: '3s' } }],
    logger: pino({ level: 'info', base: undefined }, sink),
  });
  try {
    const [tid] = rt.workerTids('t:p');
    const down = new Promise<void>((r) => rt.once('worker-down', () => r()));
    rt.testFault(tid!, 'wedge');
    // an idle runtime holds no handle (its workers are unref'd), and awaiting an event holds
    // nothing: keep the loop open while the watchdog does its work
    const hold = setInterval(() => {}, 1000);
    try { await down; } finally { clearInterval(hold); }
    const msgs = records.map((r) => r.msg);
    const warn = records.find((r) => r.msg.startsWith('worker stalled inside one step'));
    assert.ok(warn, JSON.stringify(msgs));
    assert.equal(warn.msg, 'worker stalled inside one step; replaced at host.stall_timeout if it stays there');
    assert.equal(warn.level, 40);
    assert.equal(warn.host, 't:p');
    assert.equal(warn.tid, tid);
    assert.equal(warn.processes, 0);
    assert.equal(warn.stallTimeoutMs, 3000);
    assert.ok(msgs.indexOf(warn.msg) < msgs.indexOf('worker stalled; terminating it'), JSON.stringify(msgs));
    assert.ok(msgs.indexOf('worker stalled; terminating it') < msgs.indexOf('worker died'), JSON.stringify(msgs));
  } finally {
    await rt.stop(1000);
  }
});

test('stopping services names one that ignores its CANCEL, then logs how it stopped', async () => {
  const records: Array<{ msg: string; level: number; service?: string; error?: string }> = [];
  const sink = new Writable({ write(chunk, _e, cb) { records.push(JSON.parse(String(chunk))); cb(); } });
  const log = pino({ level: 'info', base: undefined }, sink);
  const rt = await createRuntime({
    entries: [
      { id: 't:p', kind: 'process.host', host: { workers: 1 } },
      { id: 't:stubborn', kind: 'process.lua', method: 'main', source: 'return { main = function() process.listen("never"):receive() end }' },
      { id: 't:polite', kind: 'process.lua', method: 'main', source: 'return { main = function() process.events():receive() end }' },
      { id: 't:svc_stubborn', kind: 'process.service', process: 't:stubborn', host: 't:p', lifecycle: { auto_start: true, stop_timeout: '2500ms' } },
      { id: 't:svc_polite', kind: 'process.service', process: 't:polite', host: 't:p', lifecycle: { auto_start: true, requires: ['t:svc_stubborn'] } },
    ],
    logger: log,
  });
  const sup = new Supervisor(rt, log);
  try {
    const [stubborn] = (await sup.start()).filter((s) => s.id === 't:svc_stubborn');
    await sup.stop();
    // (the seconds left depend on when the timer ran: not asserted)
    const lines = records.filter((r) => /stop/.test(r.msg)).map((r) => [r.msg.replace(/deadline in \d+ s$/, 'deadline in N s'), r.service, r.error]);
    assert.deepEqual(lines, [
      ['service stopped', 't:svc_polite', undefined], // reverse dependency order
      [`waiting for service t:svc_stubborn ${stubborn!.pid} to stop; deadline in N s`, 't:svc_stubborn', undefined],
      ['service stopped with an error', 't:svc_stubborn', 'process terminated'],
    ]);
  } finally {
    await rt.stop(1000);
  }
});
