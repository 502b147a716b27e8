// Errors of the WebAssembly runtime, with the kernel's error kinds (Invalid, NotFound, Internal,
// Timeout, Canceled, ...), so a WASM failure reaches Lua as the same `(nil, err)` a Lua function's
// would. What it owns: the error class and the plain `{ kind, message }` shape calls return.
// It may call nothing. Rejected: throwing across the function interface — a call's failure is a
// value (`{ error }`), so the kernel can forward it without try/catch at every seam.

/** How a failed call is reported: the kernel turns this into its error object. */
export interface WasmCallError {
  kind: string;
  message: string;
  /** The payload of a component's `result` error, mapped like any other value. */
  payload?: unknown;
}

export class WasmError extends Error {
  readonly kind: string;
  readonly entry: string | undefined;
  readonly payload: unknown;

  constructor(kind: string, message: string, opts: { entry?: string; payload?: unknown } = {}) {
    super(message);
    this.name = 'WasmError';
    this.kind = kind;
    this.entry = opts.entry;
    this.payload = opts.payload;
  }
}

/** Any thrown value as a call error; traps keep V8's message ("unreachable", ...). */
export function toCallError(err: unknown): WasmCallError {
  if (err instanceof WasmError) return { kind: err.kind, message: err.message, ...(err.payload !== undefined ? { payload: err.payload } : {}) };
  // jco's component glue already prefixes its traps with "wasm trap: "; say it once
  if (err instanceof WebAssembly.RuntimeError) return { kind: 'Internal', message: `wasm trap: ${err.message.replace(/^wasm trap: /, '')}` };
  if (err instanceof Error) {
    const kind = (err as { kind?: unknown }).kind;
    return { kind: typeof kind === 'string' ? kind : 'Internal', message: err.message };
  }
  return { kind: 'Internal', message: String(err) };
}
