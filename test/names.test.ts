// Names are released with their holder, whatever it was doing when it died (found by npm run
// soak): a process killed while its register rpc is in flight, a spawner killed while its
// with_name child's name is being registered, and the main thread's per-PID name sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime } from '../src/index.js';

const lua = (name: string, body: string) => ({ id: `nm:${name}`, kind: 'process.lua', method: 'main', modules: ['time'],
  source: `local time = require("time")\nreturn { main = function(...)\n${body}\nend }` });

test('a process terminated while its register rpc is in flight does not keep the name', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'nm:p', kind: 'process.host', host: { workers: 1 } },
    // tells its spawner, then registers: the spawner runs only once this one waits for the reply
    lua('registrar', 'local parent = ...; process.send(parent, "registering"); process.registry.register("taken"); process.inbox():receive()'),
    lua('killer', `
      local ev = process.events()
      local pid = process.spawn_monitored("nm:registrar", "nm:p", process.pid())
      assert(process.inbox():receive():topic() == "registering")
      process.terminate(pid)
      local e = ev:receive()
      assert(e.from == pid and e.kind == process.event.EXIT)
      return { holder = process.registry.lookup("taken") or "none" }`),
  ] });
  try {
    assert.deepEqual(await rt.exec('nm:killer'), { holder: 'none' });
    assert.deepEqual(rt.internals().staleNames, []);
  } finally {
    await rt.stop(1000);
  }
});

test('a process that unregistered its names and exited leaves no entry on the main thread', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'nm:p', kind: 'process.host', host: { workers: 1 } },
    lua('churn', `
      for i = 1, 20 do
        local pid = process.spawn_monitored("nm:unreg", "nm:p", "u" .. i)
        assert(process.events():receive().from == pid)
      end
      return true`),
    lua('unreg', 'local name = ...; assert(process.registry.register(name)); assert(process.registry.unregister(name)); return name'),
  ] });
  try {
    const before = rt.internals();
    assert.equal(await rt.exec('nm:churn'), true);
    const after = rt.internals();
    assert.equal(after.names, before.names);
    assert.equal(after.namedPids, before.namedPids);
  } finally {
    await rt.stop(1000);
  }
});

// The holder's worker only learned of names registered by its own processes (P.names), so a name
// registered for a PID on another worker (register(name, pid), or a with_name spawn on another
// host) was never released when that PID exited; lookup kept returning the dead PID (found by
// npm run soak). The main thread now tells the holder's worker before register() returns.
test('a name registered for a PID on another worker is released when it exits', async () => {
  const rt = await createRuntime({ entries: [
    { id: 'nm:a', kind: 'process.host', host: { workers: 1 } },
    { id: 'nm:b', kind: 'process.host', host: { workers: 1 } },
    lua('holder', 'process.inbox():receive(); return "bye"'),
    lua('foreign', `
      local ev = process.events()
      local pid = process.spawn_monitored("nm:holder", "nm:b")
      assert(process.registry.register("foreign_name", pid))
      process.send(pid, "go")
      assert(ev:receive().from == pid)
      return process.registry.lookup("foreign_name") or "none"`),
  ] });
  try {
    assert.equal(await rt.exec('nm:foreign', [], { host: 'nm:a' }), 'none');
    assert.deepEqual(rt.internals().staleNames, []);
  } finally {
    await rt.stop(1000);
  }
});
