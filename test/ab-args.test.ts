// bench/ab.ts's command line: two checkouts, or one checkout under two environments (--env-a /
// --env-b, repeatable), and a clear error naming the argument for everything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseArgs, describeSide, UsageError } from '../bench/ab.js';

test('one checkout under two environments: each side gets only its own variables', () => {
  const a = parseArgs(['--a', '.', '--env-a', 'WIPPY_LUA=wasmoon', '--env-b', 'WIPPY_LUA=native',
    '--env-b', 'X_Y=a=b', '--env-b', 'EMPTY=', '--rounds', '3', '--only', 'ping-pong,ring']);
  assert.equal(a.a, resolve('.'));
  assert.equal(a.b, a.a);
  assert.deepEqual(a.envA, { WIPPY_LUA: 'wasmoon' });
  assert.deepEqual(a.envB, { WIPPY_LUA: 'native', X_Y: 'a=b', EMPTY: '' });
  assert.equal(a.rounds, 3);
  assert.deepEqual(a.only, ['ping-pong', 'ring']);
  assert.equal(describeSide(a.b, a.envB), '. with WIPPY_LUA=native X_Y=a=b EMPTY=');
  assert.equal(describeSide(resolve('bench'), {}), 'bench');
});

test('two checkouts as before; --b alone also means one checkout', () => {
  const a = parseArgs(['--a', '/x', '--b', '/y']);
  assert.deepEqual([a.a, a.b, a.envA, a.envB], ['/x', '/y', {}, {}]);
  const b = parseArgs(['--b', '/y', '--env-a', 'K=1']);
  assert.deepEqual([b.a, b.b], ['/y', '/y']);
});

test('bad command lines name the argument', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--a', '.', '--env-b', 'WIPPY_LUA'], /--env-b "WIPPY_LUA": expected NAME=VALUE/],
    [['--a', '.', '--env-a', '1X=2'], /--env-a "1X=2": expected NAME=VALUE/],
    [['--a', '.', '--env-a'], /--env-a needs a value/],
    [['--a', '.'], /same checkout with the same environment/],
    [['--a', '.', '--env-a', 'K=1', '--env-b', 'K=1'], /same checkout with the same environment/],
    [['--env-a', 'K=1'], /--a or --b is required/],
    [['--a', '.', '--b', '/y', '--rounds', '0'], /--rounds must be a positive integer/],
    [['--a', '.', '--b', '/y', '--bogus'], /unknown argument --bogus/],
  ];
  for (const [argv, msg] of bad) assert.throws(() => parseArgs(argv), (e: unknown) => e instanceof UsageError && msg.test(e.message), argv.join(' '));
});
