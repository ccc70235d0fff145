/**
 * A small parser of the Prometheus text format, for comparing /metrics with what a fake says is true.
 * The code is shared with the benchmark, which runs without a build step: it lives in bench/lib/series.mjs.
 */
export { parseExposition, seriesKey, seriesMap } from '../../bench/lib/series.mjs';
export type { Sample } from '../../bench/lib/series.mjs';
