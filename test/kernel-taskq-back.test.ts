// src/lua/kernel/taskq.lua's published spawns taken back (session 14, second wave): publish keeps
// each spawn's record and passes a tag (H.task_push's third argument); a take that gets a tag back
// (tasks.ts takeTagged: this worker claimed its own push) starts the very record it kept, as its
// own, without a decode; what a thief took is skipped; share() asks for bytes; jobs are not kept.
import { test } from 'node:test';
import { withKernelModules } from './helpers/kernel-module.js';

const SETUP = String.raw`
  -- a host of workers 1 and 2 seen from worker 1: its deque holds { bytes, tag } pairs; task_take
  -- gives the tag of a tagged one (unless copy), else the bytes
  F.deque = {}
  F.decoded = 0
  F.H.task_push = function(d, target, tag)
    F.deque[#F.deque + 1] = { d = d, tag = tag }
    F.logf("push %s %s", d[1], tostring(tag))
    return true
  end
  F.H.task_listed = function() return true end
  F.H.task_take = function(steal, copy)
    local e = table.remove(F.deque, 1)
    if not e then return nil end
    if e.tag and not copy then return e.tag end
    return e.d
  end
  F.H.load_add = function(n) F.logf("load_add %d", n) end
  local function encode(t) return { "bytes:" .. t[1] } end
  local function decode(d) F.decoded = F.decoded + 1; return { d[1] } end
  function setup()
    local hostrec = { kind = "process.host", tids = { 1, 2 }, max_reductions = 1, local_queue_size = 4 }
    return module("taskq")({ H = F.H, cfg = { tid = 1, host = "app:host", hosts = { ["app:host"] = hostrec } },
      encode = encode, decode = decode, wire = module("wire")() })
  end
  function fill(Q, from, to, made)
    for i = from, to do Q.room(); local t = { "s" .. i }; made[i] = t; Q.push(t) end
  end
`;
const run = async (code: string): Promise<void> => { await withKernelModules(['taskq', 'wire'], SETUP + code); };

test('published spawns taken back are the records kept, started as this worker\'s own, without a decode', () =>
  run(String.raw`
    local Q, made = setup(), {}
    fill(Q, 1, 6, made)
    F.eq(F.logged(), "push bytes:s1 1\npush bytes:s2 2\npush bytes:s3 3\npush bytes:s4 4", "the mark's publish, tagged 1..4")
    for i = 1, 6 do
      local t, mine = Q.take(false)
      F.eq(rawequal(t, made[i]), true, "the record itself, in spawn order: s" .. i)
      F.eq(mine, true)
    end
    F.eq(Q.take(false), nil)
    F.eq(F.decoded, 0, "nothing decoded")
    F.eq(table.concat({ Q.counters() }, " "), "6 4 2 0", "still counted as published (4) and started from the list (2)")
  `));

test('what a thief took is skipped; later tags still find their records; a take that finds nothing forgets the rest', () =>
  run(String.raw`
    local Q, made = setup(), {}
    fill(Q, 1, 5, made)
    table.remove(F.deque, 1); table.remove(F.deque, 1) -- a thief took s1 and s2
    local t = Q.take(false)
    F.eq(rawequal(t, made[3]), true, "tag 3: tags 1 and 2 are dropped")
    -- a spawn handed back as bytes (as share re-pushes): decoded, not one of ours
    F.deque[#F.deque + 1] = { d = { "bytes:x" } }
    F.eq(rawequal(Q.take(false), made[4]), true)
    F.eq(Q.take(false)[1], "bytes:x")
    F.eq(rawequal(Q.take(false), made[5]), true, "then the list")
    F.eq(F.decoded, 1)
    -- the next mark publishes tags 5.. ; the shared queues lose them all to thieves
    fill(Q, 6, 10, made)
    F.deque = {}
    F.eq(rawequal(Q.take(false), made[10]), true, "the shared queues found empty, the list's spawn")
  `));

test('share() takes its published spawns back as bytes; a job is published untagged and uncounted', () =>
  run(String.raw`
    local Q, made = setup(), {}
    Q.push_job({ "spj", "j1", 7, "app:fn", "app:host", false, false, false, { n = 0 } })
    fill(Q, 2, 5, made)
    F.eq(F.logged(), "push bytes:j1 nil\nload_add -1\npush bytes:s2 1\npush bytes:s3 2\npush bytes:s4 3",
      "the job untagged (its load moves with it), the spawns tagged")
    F.clear()
    Q.share(2)
    F.eq(F.logged(), "push bytes:j1 nil\npush bytes:s2 nil\npush bytes:s3 nil\npush bytes:s4 nil\npush bytes:s5 nil",
      "the shared queues' bytes, odd ones to the sibling, even ones back here, untagged; then the list")
    F.eq(F.decoded, 0)
  `));
