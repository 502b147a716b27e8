// Types of the dev dependency parse-prometheus-text-format (it ships none): the Prometheus text
// format parsed into families, the shape prom2json prints.
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value?: string;
    labels?: Record<string, string>;
    /** histograms */
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface PromFamily { name: string; help: string; type: string; metrics: PromSample[] }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
