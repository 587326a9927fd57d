// Types for parse-prometheus-text-format (the package ships none): a prom2json-compatible parse of exposition text.
declare module 'parse-prometheus-text-format' {
  /** Parses Prometheus text exposition into metric families; throws on text it cannot read. */
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
