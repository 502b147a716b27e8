// formatPid from a kept head (pid.ts pidHead / pidOf, what the job admission mints PIDs with,
// src/runtime/control.ts jobPid) is the same string as the plain format, `{host|0x` + the number
// in hex zero-padded to at least 5 digits + `}`, for every width of the number, and parses back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPid, parsePid, pidHead, pidOf } from '../src/runtime/pid.js';

const plain = (host: string, uniq: number): string => `{${host}|0x${uniq.toString(16).padStart(5, '0')}}`;

test('pidOf(pidHead(host), uniq) is the plain format for every width and parses back', () => {
  const hosts = ['app:host', 'bench:square#lua.3', ''];
  const uniqs = [0, 1, 0xf, 0x10, 0xfff, 0x1000, 0xffff, 0x10000, 0xfffff, 0x100000, 0x7fffffff, 2 ** 40 + 5];
  let seed = 12345; // seeded: the same numbers every run
  for (let i = 0; i < 500; i++) { seed = (seed * 1103515245 + 12345) % 2 ** 31; uniqs.push(seed % (1 << (1 + (i % 31)))); }
  for (const host of hosts) {
    const head = pidHead(host);
    for (const u of uniqs) {
      const want = plain(host, u);
      assert.equal(pidOf(head, u), want);
      assert.equal(formatPid(host, u), want);
      assert.deepEqual(parsePid(want), { node: '', host, uniq: u });
    }
  }
});
