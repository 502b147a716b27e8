// Global flags anywhere on the command line: `wippy run -v`, `wippy run hello -c`, `wippy -v run`.
//
// Commander reads the program's own options only before the subcommand once positional options
// are on (and they must be: `wippy run NAME args...` passes the rest through to the command). So
// before commander sees argv, every global flag (with its value, for those that take one) is
// moved to the front, in order. Everything after `--` stays where it is: `wippy run hello -- -v`
// gives the command the argument "-v".
//
// The walk follows the subcommands (`registry` then `show`): a flag the current subcommand defines
// itself is the subcommand's, even when a global flag has the same name (`wippy top -s cpu` with a
// `-s, --sort <key>` of its own), and its value, if it takes one, is never taken for a flag
// (`wippy test --filter -v` filters on "-v"). The options come from the commander program itself,
// so a new option needs no list here. Clusters of short boolean globals (`-vc`) move as one token;
// a cluster that mixes in anything else is left to commander.
import type { Command, Option } from 'commander';

const takesValue = (o: Option) => o.required || o.optional;

/** The option of `cmd` written as `flag` (`-x`, `--exec`), if it has one. */
function optionOf(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.short === flag || o.long === flag);
}

/** `args` (argv without node and the script) with `program`'s global flags moved to the front. */
export function hoistGlobals(args: readonly string[], program: Command): string[] {
  const globals: string[] = [];
  const rest: string[] = [];
  let cmd = program;
  let positional = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') { rest.push(...args.slice(i)); break; }
    const flag = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    const own = cmd === program ? undefined : optionOf(cmd, flag);
    if (own) {
      rest.push(a);
      if (takesValue(own) && flag === a && i + 1 < args.length) rest.push(args[++i]!);
      continue;
    }
    const global = a.startsWith('-') ? optionOf(program, flag) : undefined;
    if (global && (takesValue(global) || flag === a)) {
      globals.push(a);
      if (takesValue(global) && flag === a && i + 1 < args.length) globals.push(args[++i]!);
      continue;
    }
    if (/^-[A-Za-z]{2,}$/.test(a) && [...a.slice(1)].every((ch) => { const o = optionOf(program, `-${ch}`); return o && !takesValue(o); })) {
      globals.push(a);
      continue;
    }
    if (!a.startsWith('-') && !positional) {
      const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
      if (sub) cmd = sub;
      else if (cmd !== program) positional = true;
    }
    rest.push(a);
  }
  return [...globals, ...rest];
}
