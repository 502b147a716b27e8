// The wire protocol between threads: the spec (spec.ts), the TS constructors and decoders
// (frames.ts). docs/design/protocol.md describes every frame; src/lua/kernel/wire.lua is the Lua
// side, generated from the spec (lua.ts, gen.ts).
export * from './spec.js';
export * from './frames.js';
