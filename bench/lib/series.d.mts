/** Types of series.mjs, for the TypeScript tests that import it through test/support. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface StatusTruth {
  upgrades: { firmware_to: string; count: number }[];
  devices: { firmware_to: string; device_status: string; result_reason: string; count: number }[];
  oldestStartTimestampSeconds: number | null;
}

export interface Truth {
  generation: number;
  accounts: Record<string, Record<string, StatusTruth>>;
}

export declare const BUSINESS_METRICS: string[];
export declare function parseExposition(text: string): Sample[];
export declare function seriesKey(name: string, labels: Record<string, string>): string;
export declare function seriesMap(samples: Sample[], names: readonly string[]): Map<string, number>;
export declare function truthSeries(
  truth: Truth,
  only?: (account: string, status: string) => boolean,
): Map<string, number>;
export declare function diffSeries(
  expected: ReadonlyMap<string, number>,
  actual: ReadonlyMap<string, number>,
  limit?: number,
): string[];
