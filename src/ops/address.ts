// The listen address of the Prometheus endpoint (`.wippy.yaml` prometheus.address): parsed once
// here, for the registry loader (which reports a bad one with its file and line) and for the
// server (src/ops/prometheus.ts). No dependencies, so the loader stays light.

/** `.wippy.yaml`'s `prometheus` section. */
export interface PrometheusConfig { enabled?: boolean; address?: string }

/**
 * "host:port", "[v6]:port", ":port" (every interface) or "port" -> where to listen; throws a
 * message naming the value when it is none of them.
 */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address) ?? /^()()(\d+)$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`prometheus.address must be "host:port" (e.g. "localhost:9090"), got "${address}"`);
  }
  return { host: m[1] || m[2] || '0.0.0.0', port };
}
