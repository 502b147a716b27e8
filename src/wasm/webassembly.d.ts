// The part of the JS WebAssembly API src/wasm uses. The project compiles with lib ES2022 and
// @types/node, neither of which declares the `WebAssembly` global (it lives in lib.dom); pulling
// in the DOM library for it would type every other file against browser globals.
declare namespace WebAssembly {
  type BufferSource = ArrayBufferView | ArrayBuffer;
  type ImportValue = unknown;
  type Imports = Record<string, Record<string, ImportValue>>;
  interface ModuleImportDescriptor { module: string; name: string; kind: string }
  interface ModuleExportDescriptor { name: string; kind: string }
  class Module {
    constructor(bytes: BufferSource);
    static imports(m: Module): ModuleImportDescriptor[];
    static exports(m: Module): ModuleExportDescriptor[];
  }
  class Instance {
    constructor(m: Module, imports?: Imports);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(d: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  class Global {
    constructor(d: { value: string; mutable?: boolean }, v?: unknown);
    value: unknown;
  }
  class RuntimeError extends Error {}
  class CompileError extends Error {}
  class LinkError extends Error {}
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(m: Module, imports?: Imports): Promise<Instance>;
  function validate(bytes: BufferSource): boolean;
}
