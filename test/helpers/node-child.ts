// The V8 flag every Node process a test starts (the CLI, a script that embeds the runtime) runs
// with, as `npm test` runs the test files themselves: on Node 20 a short process can hang at exit
// in a V8 deadlock (the main thread waits in DrainTasks for a background optimisation that waits
// for a garbage collection the main thread never runs); without background optimisation it cannot.
// README, "Which Node". Harmless on Node 24.
export const CHILD_NODE_FLAGS: readonly string[] = ['--no-concurrent-recompilation'];
