// Mailbox bounds: host.max_mailbox kills a receiver that lets more messages than that pile up
// unread ("mailbox overflow", kind Internal), whether the flood comes from its own worker or
// another; a receiver that keeps up stays untouched; Runtime.stats() shows the mailbox sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, createRegistry, type Runtime } from '../src/index.js';

const ENTRIES = [
  { id: 'mb:small', kind: 'process.host', host: { workers: 1, max_mailbox: 1000 } },
  { id: 'mb:other', kind: 'process.host', host: { workers: 1, max_mailbox: 1000 } },
  { id: 'mb:busy', kind: 'process.host', host: { workers: 1, max_mailbox: 5000 } },
  { id: 'mb:default', kind: 'process.host', host: { workers: 1 } },
  // never reads: waits on a topic nobody sends to; everything else stays unread
  { id: 'mb:idle', kind: 'process.lua', method: 'main', source: 'return { main = function() process.listen("never"):receive() end }' },
  // spawns the idle victim (monitored) on `host`, floods it with n messages, returns its EXIT
  { id: 'mb:flood', kind: 'process.lua', method: 'main', source: `
return { main = function(host, n)
  local ev = process.events()
  local victim = process.spawn_monitored("mb:idle", host)
  local refused = 0
  for i = 1, n do
    local ok = process.send(victim, "m", i)
    if not ok then refused = refused + 1 end
  end
  local e = ev:receive()
  assert(e.kind == process.event.EXIT and e.from == victim, "EXIT of the victim")
  local err = e.result.error
  return { kind = err and err:kind(), message = err and err:message(), refused = refused }
end }` },
  // reads everything: n messages from a local sender on its host, then returns the count
  { id: 'mb:reader', kind: 'process.lua', method: 'main', source: `
return { main = function(n)
  local inbox, sum = process.inbox(), 0
  for _ = 1, n do sum = sum + inbox:receive():payload():data() end
  return sum
end }` },
  { id: 'mb:writer', kind: 'process.lua', method: 'main', source: `
return { main = function(to, n) for i = 1, n do assert(process.send(to, "m", i)) end end }` },
  // holds its messages (topic "m" has no subscriber yet) until told to read `k` of them
  { id: 'mb:hoarder', kind: 'process.lua', method: 'main', source: `
return { main = function()
  local go = process.listen("go")
  while true do
    local k = go:receive()
    local inbox = process.inbox()
    for _ = 1, k do inbox:receive() end
  end
end }` },
  // exercises every way a message leaves the mailbox, then waits; then upgrades and waits again
  { id: 'mb:accountant', kind: 'process.lua', method: 'main', source: `
return { main = function()
  local me = process.pid()
  local a, inbox = process.listen("a"), process.inbox()
  for i = 1, 10 do process.send(me, "a", i) end
  for i = 1, 5 do process.send(me, "i", i) end            -- 15 unread
  for _ = 1, 3 do a:receive() end                          -- 12: buffer, then backlog
  for _ = 1, 2 do channel.select({ a:case_receive(), inbox:case_receive() }) end -- 10
  process.unlisten(a)                                      -- 9: the buffered "a" stays in the closed channel
  assert(a:receive() == 6, "the value buffered at unlisten is still there")
  for _ = 1, 2 do inbox:receive() end                      -- 7: the 4 other "a" fell back to the inbox
  process.listen("go"):receive()
  process.upgrade("mb:hoarder")                            -- still 7, now in the new code's mailbox
end }` },
];

async function withRuntime(fn: (rt: Runtime) => Promise<void>): Promise<void> {
  const rt = await createRuntime({ entries: ENTRIES });
  try { await fn(rt); } finally { await rt.stop(1000); }
}

test('a flooded process is killed with "mailbox overflow" and its monitor gets the EXIT (same worker)', () => withRuntime(async (rt) => {
  const r = await rt.exec('mb:flood', ['mb:small', 1500], { host: 'mb:small' }) as Record<string, unknown>;
  assert.equal(r['kind'], 'Internal');
  assert.equal(r['message'], 'mailbox overflow: more than 1000 messages unread');
  // the 1001st arrival killed it; later sends on the same worker find no process
  assert.equal(r['refused'], 1500 - 1001);
}));

test('a process flooded from another worker is killed the same way', () => withRuntime(async (rt) => {
  const r = await rt.exec('mb:flood', ['mb:small', 1500], { host: 'mb:other' }) as Record<string, unknown>;
  assert.equal(r['kind'], 'Internal');
  assert.equal(r['message'], 'mailbox overflow: more than 1000 messages unread');
}));

test('the default bound is 100,000 unread messages', () => withRuntime(async (rt) => {
  const r = await rt.exec('mb:flood', ['mb:default', 100_001], { host: 'mb:default' }) as Record<string, unknown>;
  assert.equal(r['message'], 'mailbox overflow: more than 100000 messages unread');
  assert.equal(r['refused'], 0, 'only the 100,001st message was one too many');
}));

test('a busy receiver that keeps up stays under the bound and is untouched', () => withRuntime(async (rt) => {
  // 50,000 messages through a 5,000 bound: the writer yields every 1,000 sends and the reader
  // drains what is queued each time it runs
  const n = 50_000;
  let done!: (v: unknown) => void;
  const result = new Promise((r) => { done = r; });
  const reader = await rt.spawn('mb:reader', 'mb:busy', [n], (e) => done(e.error ?? e.value));
  await rt.exec('mb:writer', [reader, n], { host: 'mb:busy' });
  assert.equal(await result, (n * (n + 1)) / 2);
}));

/** Poll stats until `pred` holds for the worker of `host` (bounded; the sends are asynchronous). */
async function mailboxOf(rt: Runtime, host: string, pred: (m: { unread: number; largest: number; largestPid?: string }) => boolean) {
  let m = (await rt.stats()).find((w) => w.host === host)!.mailbox;
  for (let i = 0; i < 400 && !pred(m); i++) {
    await new Promise((r) => setTimeout(r, 5));
    m = (await rt.stats()).find((w) => w.host === host)!.mailbox;
  }
  return m;
}

test('stats() shows each worker\'s unread messages and its largest mailbox', () => withRuntime(async (rt) => {
  const empty = await rt.stats();
  for (const w of empty) assert.deepEqual(w.mailbox, { unread: 0, largest: 0 });
  const big = await rt.spawn('mb:hoarder', 'mb:small', [], () => {});
  const small = await rt.spawn('mb:hoarder', 'mb:small', [], () => {});
  for (let i = 0; i < 300; i++) rt.send(big, 'm', i);
  for (let i = 0; i < 20; i++) rt.send(small, 'm', i);
  let m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 320);
  assert.deepEqual(m, { unread: 320, largest: 300, largestPid: big });
  // reading takes messages off the count (the "go" itself is read too)
  rt.send(big, 'go', 250);
  m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 70);
  assert.deepEqual(m, { unread: 70, largest: 50, largestPid: big });
  rt.send(small, 'go', 20);
  m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 50);
  assert.deepEqual(m, { unread: 50, largest: 50, largestPid: big });
  // other workers are untouched
  for (const w of await rt.stats()) if (w.host !== 'mb:small') assert.equal(w.mailbox.unread, 0);
}));

test('stats({ counts: true }) answers the counters without walking the mailboxes (reported empty)', () => withRuntime(async (rt) => {
  const big = await rt.spawn('mb:hoarder', 'mb:small', [], () => {});
  for (let i = 0; i < 30; i++) rt.send(big, 'm', i);
  const m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 30);
  assert.deepEqual(m, { unread: 30, largest: 30, largestPid: big });
  const w = (await rt.stats({ counts: true })).find((x) => x.host === 'mb:small')!;
  assert.deepEqual(w.mailbox, { unread: 0, largest: 0 }, 'not walked');
  assert.equal(w.processes, 1);
  assert.ok(w.delivered >= 30, `delivered ${w.delivered}`);
}));

test('the unread count follows every way out: receive, select, unlisten, upgrade', () => withRuntime(async (rt) => {
  const pid = await rt.spawn('mb:accountant', 'mb:small', [], () => {});
  let m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 7);
  assert.deepEqual(m, { unread: 7, largest: 7, largestPid: pid });
  rt.send(pid, 'go');
  // the new code (mb:hoarder) finds the same 7 and reads them on request: nothing lost or doubled
  rt.send(pid, 'go', 3);
  m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 4);
  assert.deepEqual(m, { unread: 4, largest: 4, largestPid: pid });
  rt.send(pid, 'go', 4);
  m = await mailboxOf(rt, 'mb:small', (x) => x.unread === 0);
  assert.deepEqual(m, { unread: 0, largest: 0 });
  rt.terminate(pid);
}));

test('max_mailbox and crash_reports are validated, naming entry and field', () => {
  const problems = (host: Record<string, unknown>): string => {
    try {
      createRegistry([{ id: 'app:h', kind: 'process.host', host }]);
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.match(problems({ max_mailbox: -1 }), /entry app:h: field host\.max_mailbox: max_mailbox must be 0 \(unlimited\) or more/);
  assert.match(problems({ max_mailbox: 1.5 }), /field host\.max_mailbox: must be an integer/);
  assert.match(problems({ max_mailbox: 'lots' }), /field host\.max_mailbox: expected a number, got a string/);
  assert.match(problems({ crash_reports: 'no' }), /field host\.crash_reports: expected a boolean, got a string/);
  assert.equal(problems({ max_mailbox: 0, crash_reports: false }), '');
  const reg = createRegistry([{ id: 'app:h', kind: 'process.host', host: { max_mailbox: 0, crash_reports: false } }]);
  assert.deepEqual([reg.hosts()[0]!.host.maxMailbox, reg.hosts()[0]!.host.crashReports], [0, false]);
});
