// A seeded, repeatable transport stress: sinks on every host check per-sender FIFO and count what
// they get; sources (spawned on random hosts, each spawning sub-senders that the placement spreads
// over workers) send seeded random payloads from 0 bytes to several times the ring size; the main
// thread sends too. Invariants: per-(sender, receiver) FIFO, no loss, no duplicates, sends to a
// dead process fail with "not found", and no process is left afterwards.
import { createRuntime, type Runtime } from '../../src/index.js';
import { RING_CAPACITY } from '../../src/transport/endpoint.js';

export interface StressOptions {
  seed: number;
  /** Worker count of the first host (the second host has one). */
  workers: number;
  sinks: number;
  sources: number;
  /** Messages per sub-sender (each source runs two). */
  messages: number;
  /** One message in `bigEvery` carries a payload of 1-3 ring sizes. */
  bigEvery: number;
  /** Messages the main thread sends to each sink. */
  fromMain: number;
  /**
   * Sinks spawned from a Lua process on the first host instead of from the main thread: they go
   * through the run queues, get messages before they start, and are stolen by idle workers while
   * their spawner burns CPU: it shares them with an idle worker, or the worker steals them (default 0).
   */
  queuedSinks?: number;
}

export interface StressResult {
  delivered: number;
  expected: number;
  violations: string[];
  deadSendErrors: number;
  leftover: number;
  heapBytes: number[];
  /** Queued spawns moved between workers by stealing, and handed over by the sharing rule. */
  stolen: number;
  shared: number;
  /** Spawns that went through the run queues, and how many of them a worker took and started. */
  queued: number;
  queuedStarted: number;
}

const SINK = `
local function main(senders, collector)
  -- every sender ends with "done" after its last message (per-sender FIFO makes that the end)
  local inbox = process.inbox()
  local last, count, violations, done = {}, 0, {}, 0
  while true do
    local m = inbox:receive()
    local t = m:topic()
    if t == "done" then
      done = done + 1
      if done == senders then
        local r = { count = count, violations = violations }
        if collector then process.send(collector, "result", r) end
        return r
      end
      goto continue
    end
    local d = m:payload():data()
    local prev = last[d.src] or 0
    if d.seq ~= prev + 1 then violations[#violations + 1] = d.src .. ": got " .. d.seq .. " after " .. prev end
    last[d.src] = d.seq
    if #d.data ~= d.len or (d.len > 0 and d.data:byte(1) ~= 97) or (d.len > 1 and d.data:byte(-1) ~= 122) then
      violations[#violations + 1] = d.src .. ": payload " .. d.seq .. " damaged (" .. #d.data .. " vs " .. d.len .. ")"
    end
    count = count + 1
    ::continue::
  end
end
return { main = main }
`;

const SENDER = `
local function main(name, seed, sinks, n, big_every, ring)
  local s = seed
  local function rand(k) s = s * 6364136223846793005 + 1442695040888963407; return ((s >> 33) % k) + 1 end
  local seqs = {}
  for i = 1, n do
    local sink = sinks[rand(#sinks)]
    local len = rand(64) - 1
    if rand(big_every) == 1 then len = ring * rand(3) + rand(1000) end
    local data = ""
    if len == 1 then data = "a" elseif len > 1 then data = "a" .. string.rep("m", len - 2) .. "z" end
    seqs[sink] = (seqs[sink] or 0) + 1
    local ok, err = process.send(sink, "msg", { src = name .. "@" .. sink, seq = seqs[sink], len = len, data = data })
    if not ok then error("send failed: " .. tostring(err)) end
  end
  for _, sink in ipairs(sinks) do process.send(sink, "done") end
  return seqs
end
return { main = main }
`;

const SOURCE = `
local function main(name, seed, sinks, n, big_every, ring, dead)
  -- two sub-senders on this host (placement spreads them), then a send to a dead process
  local ev = process.events()
  local a = process.spawn_monitored("s:sender", HOST, name .. ".a", seed * 2 + 1, sinks, n, big_every, ring)
  local b = process.spawn_monitored("s:sender", HOST, name .. ".b", seed * 2 + 2, sinks, n, big_every, ring)
  local totals = {}
  for _ = 1, 2 do
    local e = ev:receive()
    if e.result.error then error(e.result.error) end
    for sink, c in pairs(e.result.value) do totals[sink] = (totals[sink] or 0) + c end
  end
  local ok, err = process.send(dead, "msg", 1)
  if ok or not tostring(err):find("not found", 1, true) then error("send to a dead process: " .. tostring(err)) end
  return totals
end
return { main = main }
`;

// Spawns queued sinks, sends each of them PRE messages at once (they have not started: they sit in
// the run queues), then keeps its worker busy for `burn` iterations so idle siblings steal some.
const SPAWNER = `
local PRE = 3
local function main(k, senders, collector, burn)
  local pids = {}
  for i = 1, k do pids[i] = assert(process.spawn("s:sink", "s:a", senders, collector)) end
  for _, sink in ipairs(pids) do
    for seq = 1, PRE do process.send(sink, "msg", { src = "spawner@" .. sink, seq = seq, len = 2, data = "az" }) end
    process.send(sink, "done")
  end
  local x = 0
  for i = 1, burn do x = x + i % 3 end
  return pids
end
return { main = main }
`;
const SPAWNER_PRE = 3;

// Receives the queued sinks' results (they were not spawned by the main thread, which therefore
// cannot watch their exits) and returns them all.
const COLLECTOR = `
return { main = function(k)
  local inbox, out = process.inbox(), {}
  for i = 1, k do out[i] = inbox:receive():payload():data() end
  return out
end }
`;

export async function runStress(o: StressOptions): Promise<StressResult> {
  const hosts = ['s:a', 's:b'];
  const entries: Array<Record<string, unknown>> = [
    { id: 's:a', kind: 'process.host', host: { workers: o.workers } },
    { id: 's:b', kind: 'process.host', host: { workers: 1 } },
    { id: 's:sink', kind: 'process.lua', method: 'main', source: SINK },
    { id: 's:sender', kind: 'process.lua', method: 'main', source: SENDER },
    { id: 's:source_a', kind: 'process.lua', method: 'main', source: `local HOST = "s:a"\n${SOURCE}` },
    { id: 's:source_b', kind: 'process.lua', method: 'main', source: `local HOST = "s:b"\n${SOURCE}` },
    { id: 's:nothing', kind: 'process.lua', method: 'main', source: 'return { main = function() end }' },
    { id: 's:spawner', kind: 'process.lua', method: 'main', source: SPAWNER },
    { id: 's:collector', kind: 'process.lua', method: 'main', source: COLLECTOR },
  ];
  const rt: Runtime = await createRuntime({ entries });
  let rng = o.seed >>> 0;
  const rand = (k: number) => { rng = (Math.imul(rng ^ (rng >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return rng % k; };
  try {
    const dead = (await rt.run('s:nothing', [], { host: 's:a' })).pid;
    const sinkExits: Array<Promise<unknown>> = [];
    const sinks: string[] = [];
    for (let i = 0; i < o.sinks; i++) {
      let resolve!: (v: unknown) => void;
      sinkExits.push(new Promise((r) => { resolve = r; }));
      // senders: two per source, plus the main thread
      sinks.push(await rt.spawn('s:sink', hosts[rand(2)], [o.sources * 2 + 1], (e) => resolve(e.error ?? e.value)));
    }
    const q = o.queuedSinks ?? 0;
    let expected = 0;
    if (q > 0) {
      // senders of a queued sink: two per source, the main thread, the spawner
      let done!: (v: unknown) => void;
      const collected = new Promise((r) => { done = r; });
      const collector = await rt.spawn('s:collector', 's:b', [q], (e) => done(e.error ?? e.value));
      sinkExits.push(collected.then((v) => (v instanceof Error ? v : Object.values(v as object))));
      const pids = await rt.exec('s:spawner', [q, o.sources * 2 + 2, collector, 2_000_000], { host: 's:a' }) as Record<string, string>;
      const queued = Object.values(pids);
      if (queued.length !== q) throw new Error(`spawner returned ${queued.length} sinks, not ${q}`);
      sinks.push(...queued);
      expected += SPAWNER_PRE * q;
    }
    const sources: Array<Promise<Record<string, number>>> = [];
    for (let i = 0; i < o.sources; i++) {
      const h = rand(2);
      sources.push(rt.exec(h === 0 ? 's:source_a' : 's:source_b', [`src${i}`, o.seed * 100 + i, sinks, o.messages, o.bigEvery, RING_CAPACITY, dead], { host: hosts[h] }) as Promise<Record<string, number>>);
    }
    // the main thread is a sender too
    for (let k = 0; k < o.fromMain; k++) {
      for (const sink of sinks) rt.send(sink, 'msg', { src: `main@${sink}`, seq: k + 1, len: 2, data: 'az' });
    }
    for (const sink of sinks) rt.send(sink, 'done');
    const totals = await Promise.all(sources);
    expected += o.fromMain * sinks.length;
    for (const t of totals) for (const c of Object.values(t)) expected += c;
    let delivered = 0;
    const violations: string[] = [];
    for (const r of (await Promise.all(sinkExits)).flat()) {
      if (r instanceof Error) { violations.push(`sink failed: ${r.message}`); continue; }
      const v = r as { count: number; violations?: string[] | Record<string, string> };
      delivered += v.count;
      violations.push(...Object.values(v.violations ?? {}));
    }
    await new Promise((r) => setTimeout(r, 50));
    const stats = await rt.stats();
    return {
      delivered, expected, violations, deadSendErrors: o.sources,
      leftover: stats.reduce((a, s) => a + s.processes, 0),
      heapBytes: stats.map((s) => s.heapBytes),
      stolen: stats.reduce((a, s) => a + s.queue.stolen, 0),
      shared: stats.reduce((a, s) => a + s.queue.shared, 0),
      queued: stats.reduce((a, s) => a + s.queue.pushed, 0) + rt.queuedSpawns(),
      queuedStarted: stats.reduce((a, s) => a + s.queue.own + s.queue.global, 0),
    };
  } finally {
    await rt.stop(1000);
  }
}
