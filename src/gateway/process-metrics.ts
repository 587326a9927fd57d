// The process's default Prometheus metrics (prom-client's collectDefaultMetrics), with how often the event loop's delay is sampled.
import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * How often (ms) the event-loop-delay histogram behind hypha_nodejs_eventloop_lag_* takes a sample.
 * prom-client's default is 10: a timer that wakes an idle gateway 100 times a second, which cost
 * 5–8 ms of CPU a second on the 2-core bench VM (bench/auth's "idle ms/s"; 0.1 ms/s without it,
 * 0.7–0.8 at 100) — CPU taken from requests at any load below saturation. At 100 ms the lag metrics
 * keep their names and meaning (each sample is how late a timer fired); a stall shorter than 100 ms
 * is caught only when it covers a sample, a longer one always.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Registers the process's default metrics (CPU, memory, GC, handles, event-loop lag) in `register`, names prefixed hypha_. */
export function collectProcessMetrics(register: Registry): void {
  collectDefaultMetrics({ register, prefix: 'hypha_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}
