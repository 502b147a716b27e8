// Global flags anywhere on the command line: `wippy run -v`, `wippy run hello -c`, `wippy -v run`.
//
// Commander reads the program's own options only before the subcommand once positional options
// are on (and they must be: `wippy run NAME args...` passes the rest through to the command). So
// before commander sees argv, every global flag (with its value, for those that take one) is
// moved to the front, in order. Everything after `--` stays where it is: `wippy run hello -- -v`
// gives the command the argument "-v".
//
// Knowing which tokens are values: a subcommand option that takes a value (`--exec ID`,
// `--filter P`) keeps its next token, so `wippy test --filter -v` filters on "-v". The sets come
// from the commander program itself (options(), below), so a new option needs no list here.
// Clusters of short boolean globals (`-vc`) move as one token; a cluster that mixes in anything
// else is left to commander.
import type { Command, Option } from 'commander';

export interface FlagSets {
  /** Global flags without a value: `-v`, `--verbose`, ... */
  globalBool: Set<string>;
  /** Global flags that take a value: `--config`, `-C`, ... */
  globalValued: Set<string>;
  /** Subcommand flags that take a value (their next token is never a global flag). */
  subValued: Set<string>;
}

function names(o: Option): string[] {
  return [o.short, o.long].filter((x): x is string => typeof x === 'string');
}

const takesValue = (o: Option) => o.required || o.optional;

/** The flag sets of `program` and all its subcommands. */
export function flagSets(program: Command): FlagSets {
  const sets: FlagSets = { globalBool: new Set(), globalValued: new Set(), subValued: new Set() };
  for (const o of program.options) for (const n of names(o)) (takesValue(o) ? sets.globalValued : sets.globalBool).add(n);
  const walk = (c: Command) => {
    for (const o of c.options) if (takesValue(o)) for (const n of names(o)) sets.subValued.add(n);
    for (const sub of c.commands) walk(sub);
  };
  for (const sub of program.commands) walk(sub);
  return sets;
}

/** `args` (argv without node and the script) with the global flags moved to the front. */
export function hoistGlobals(args: readonly string[], sets: FlagSets): string[] {
  const globals: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { rest.push(...args.slice(i)); break; }
    const flag = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (sets.globalBool.has(flag) && flag === a) { globals.push(a); continue; }
    if (sets.globalValued.has(flag)) {
      globals.push(a);
      if (flag === a && i + 1 < args.length) globals.push(args[++i]!);
      continue;
    }
    if (/^-[A-Za-z]{2,}$/.test(a) && [...a.slice(1)].every((ch) => sets.globalBool.has(`-${ch}`))) { globals.push(a); continue; }
    rest.push(a);
    if (sets.subValued.has(a) && i + 1 < args.length) rest.push(args[++i]!);
  }
  return [...globals, ...rest];
}
