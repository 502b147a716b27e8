// What piscina loads as a WebAssembly pool thread's body: pool-worker.ts, through import().
//
// Why a CommonJS file in front of it. piscina loads a worker file with require() first; on Node 24
// require() of an ES module (pool-worker.js) builds a facade module synchronously, and a thread
// terminated while it does (a guest's deadline or an abort that stops a thread still starting,
// which a loaded machine makes likely: the 30 ms timeout of test/jobs.test.ts) fails a CHECK in
// Node's module_wrap.cc (`CreateRequiredModuleFacade`: "Assertion failed:
// facade->InstantiateModule(...)"), which aborts the whole process, every other thread with it.
// Seen once in CI on Node 24.21. require() of this file is plain CommonJS; the ES module is then
// loaded by import(), whose loader meets a terminated thread as an ordinary termination. piscina
// awaits the exported promise for the handler (its `default`).
export = import('./pool-worker.js').then((m) => m.default);
