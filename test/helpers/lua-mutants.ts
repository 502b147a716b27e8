// Mutation checks of differential tests (C against the Lua it stands for, in one engine): each
// mutant of a kernel module's source, run as the Lua world, must change the transcript of some
// seeded world against the C world, which keeps the real source for its cold cases. A mutant that
// makes the Lua world throw differs too. test/native-event.test.ts, test/native-backlog.test.ts.
import assert from 'node:assert/strict';
import type { LuaEngine } from 'wasmoon';

/**
 * Asserts that every mutant [from, to] of src[mod] is caught within `seeds` seeds. The sources are
 * read by the worlds from the engine's global `global`; `transcript(withC, seed)` runs one world.
 */
export function assertMutantsCaught(engine: LuaEngine, global: string, src: Record<string, string>, mod: string,
  mutants: Array<[string, string]>, transcript: (withC: boolean, seed: number) => string, seeds = 60): void {
  const real = src[mod]!;
  for (const [from, to] of mutants) {
    assert.ok(real.includes(from), `mutant source not found: ${from}`);
    let differs = false;
    for (let seed = 1; seed <= seeds && !differs; seed++) {
      engine.global.set(global, { ...src, [mod]: real.replace(from, to) });
      let l: string;
      try { l = transcript(false, seed); } catch (e) { l = String(e); }
      engine.global.set(global, src);
      differs = transcript(true, seed) !== l;
    }
    engine.global.set(global, src);
    assert.ok(differs, `mutant not caught: ${from} -> ${to}`);
  }
}
