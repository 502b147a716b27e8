/**
 * The reference side of the benchmarks, one import for `bench:compare`:
 * BEAM (erlang/bench.escript), piscina, and the plain-JS ceilings.
 * (The SharedArrayBuffer ring ceiling lives in sab-ring.ts.)
 */

export { runErlang, ERLANG_MISSING, type ErlangResult, type RunErlangOptions } from './run-erlang.js';
export { runPiscina, type PiscinaOptions, type PiscinaResult } from './piscina.js';
export {
  runJsCeilings,
  postMessageOneWay,
  postMessagePingPong,
  generatorPingPong,
  generatorRing,
  generatorIdleMemory,
  JS_CEILING_COUNTS,
  type JsCeilingsResult,
} from './js-ceilings.js';
