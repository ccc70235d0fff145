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
  /** Only when the truth was asked with enteredSince. */
  entered?: { upgrades: number; devices: number };
}

export interface CampaignDeviceStatusCount {
  readonly device_status: string;
  readonly count: number;
}

/** One account × API of the campaign truth (docs/simulator.md, "Truth"). */
export interface CampaignApiTruth {
  readonly campaigns: readonly { readonly campaign_status: string; readonly count: number }[];
  readonly devices: readonly {
    readonly campaign_status: string;
    readonly device_status: string;
    readonly result_reason: string;
    readonly count: number;
  }[];
  readonly walked: readonly {
    readonly campaign_id: string;
    readonly campaign_name: string;
    readonly firmware_from: string;
    readonly firmware_to: string;
    readonly campaign_status: string;
    readonly total_devices: number;
    readonly end_timestamp_seconds: number | null;
    readonly device_status: readonly CampaignDeviceStatusCount[];
  }[];
  readonly folded: number;
  /** Only when the truth was asked with enteredSince. */
  readonly enteredDevices?: readonly CampaignDeviceStatusCount[];
}

export interface Truth {
  generation: number;
  accounts: Record<string, Record<string, StatusTruth>>;
  /** account → api (v2, v3) → its truth. */
  campaigns?: Record<string, Record<string, CampaignApiTruth>>;
  enteredSince?: number | null;
}

export declare const BUSINESS_METRICS: string[];
export declare const CAMPAIGN_METRICS: string[];
export declare const ENTERED_METRICS: string[];
export declare function parseExposition(text: string): Sample[];
export declare function seriesKey(name: string, labels: Record<string, string>): string;
export declare function seriesMap(samples: Sample[], names: readonly string[]): Map<string, number>;
export declare function truthSeries(
  truth: Truth,
  only?: (account: string, status: string) => boolean,
): Map<string, number>;
export declare function campaignTruthSeries(
  truth: Pick<Truth, 'campaigns'>,
  only?: (account: string, api: string) => boolean,
): Map<string, number>;
export declare function enteredTruthSeries(
  truth: Truth,
  apis?: readonly string[],
): Map<string, number>;
export declare function diffSeries(
  expected: ReadonlyMap<string, number>,
  actual: ReadonlyMap<string, number>,
  limit?: number,
): string[];
