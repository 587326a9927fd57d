// The per-request HTTP metrics (requests by route, method and status; durations by route and method), counted without prom-client's per-call label work and shown in its registry under the usual names.
import type { Metric, Registry } from 'prom-client';

/** Upper bounds (seconds) of the duration histogram's buckets. */
export const REQUEST_SECONDS_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** One (route, method) pair: its answers by status and its durations. */
interface Series {
  readonly route: string;
  readonly method: string;
  /** Requests answered, by status code. */
  readonly byStatus: Map<number, number>;
  /** Requests per bucket, not cumulative; the last slot holds those over every bound (+Inf only). */
  readonly buckets: number[];
  sumSeconds: number;
  count: number;
}

/** A value as prom-client's registry formats it (Registry.getMetricsAsString reads name, help, type and values). */
interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

/** What the registry asks a metric for; prom-client's own metrics answer the same shape. */
interface CustomMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: 'sum' }>;
  reset(): void;
}

/**
 * bench/auth measured prom-client's labelled `inc` and `observe` at ~2 µs of every request (each
 * call validates the labels, sorts their names and builds a hash string). Here a request is two
 * Map lookups (route, then method) and a few additions; the text shown on /metrics is the same
 * (`hypha_http_requests_total{route,method,status}`, `hypha_http_request_duration_seconds{route,method}`).
 *
 * Bounded: routes are the router's patterns plus `unmatched` (never a raw path), methods are the
 * ones Node's HTTP parser accepts (a fixed list of ~35), statuses are three-digit codes.
 */
export class RequestMetrics {
  private readonly routes = new Map<string, Map<string, Series>>();

  /** Registers `hypha_http_requests_total` and `hypha_http_request_duration_seconds` in `registry`. */
  constructor(registry: Registry) {
    registry.registerMetric(this.metric('hypha_http_requests_total', 'HTTP requests by matched route, method and status', 'counter', () => this.countValues()));
    registry.registerMetric(this.metric('hypha_http_request_duration_seconds', 'HTTP request duration by matched route', 'histogram', () => this.durationValues()));
  }

  /** Records one request: `route` is the matched pattern (or `unmatched`), never the raw path. */
  observe(route: string, method: string, status: number, durationMs: number): void {
    let methods = this.routes.get(route);
    if (methods === undefined) {
      methods = new Map();
      this.routes.set(route, methods);
    }
    let s = methods.get(method);
    if (s === undefined) {
      s = { route, method, byStatus: new Map(), buckets: new Array<number>(REQUEST_SECONDS_BUCKETS.length + 1).fill(0), sumSeconds: 0, count: 0 };
      methods.set(method, s);
    }
    s.byStatus.set(status, (s.byStatus.get(status) ?? 0) + 1);
    const seconds = durationMs / 1000;
    let b = 0;
    while (b < REQUEST_SECONDS_BUCKETS.length && seconds > (REQUEST_SECONDS_BUCKETS[b] as number)) b++;
    s.buckets[b] = (s.buckets[b] as number) + 1;
    s.sumSeconds += seconds;
    s.count++;
  }

  private *allSeries(): Iterable<Series> {
    for (const methods of this.routes.values()) yield* methods.values();
  }

  private countValues(): ExportedValue[] {
    const values: ExportedValue[] = [];
    for (const s of this.allSeries()) for (const [status, n] of s.byStatus) values.push({ labels: { route: s.route, method: s.method, status: String(status) }, value: n });
    return values;
  }

  /** As prom-client's Histogram exports: cumulative `_bucket` lines with `le` first, then +Inf, `_sum` and `_count`. */
  private durationValues(): ExportedValue[] {
    const name = 'hypha_http_request_duration_seconds';
    const values: ExportedValue[] = [];
    for (const s of this.allSeries()) {
      let acc = 0;
      REQUEST_SECONDS_BUCKETS.forEach((le, i) => {
        acc += s.buckets[i] as number;
        values.push({ labels: { le, route: s.route, method: s.method }, value: acc, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', route: s.route, method: s.method }, value: s.count, metricName: `${name}_bucket` });
      values.push({ labels: { route: s.route, method: s.method }, value: s.sumSeconds, metricName: `${name}_sum` });
      values.push({ labels: { route: s.route, method: s.method }, value: s.count, metricName: `${name}_count` });
    }
    return values;
  }

  private metric(name: string, help: string, type: 'counter' | 'histogram', values: () => ExportedValue[]): Metric {
    const m: CustomMetric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type, values: values(), aggregator: 'sum' }),
      reset: () => this.routes.clear(),
    };
    // The registry only calls name, get() and reset() (prom-client lib/registry.js); its types list
    // its own classes, so the object goes in through a cast.
    return m as unknown as Metric;
  }
}
