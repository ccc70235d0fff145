/**
 * test/support/simulator.ts as the end-to-end tests use it: the truth query over HTTP, and the
 * truth turned into the series an exporter must serve.
 */
import type { RunningSimulator } from '../../src/simulator/index.js';
import {
  campaignTruthSeries,
  enteredTruthSeries,
  truthPath,
  type SimulatorTruth,
} from '../support/simulator.js';
import { ACCOUNT_1, control, http, startFrozen } from './helpers.js';

describe('test/support/simulator.ts', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await startFrozen({ seed: 6, campaignsPerAccount: { mix: 10 } });
    sim.advance(2);
  });
  afterAll(async () => {
    await sim.close();
  });

  test('the truth query over HTTP is the programmatic one', async () => {
    const now = Date.parse('2025-01-03T12:00:00Z');
    const path = truthPath({
      maxLabelValues: 7,
      campaignLookback: '3d',
      maxCampaigns: 4,
      now,
      enteredSince: 1,
    });
    expect(path).toBe(
      `/_sim/truth?maxLabelValues=7&campaignLookback=3d&maxCampaigns=4&now=${now}&enteredSince=1`,
    );
    const overHttp = await control<SimulatorTruth>(sim, path.slice('/_sim/'.length));
    expect(overHttp).toEqual(
      sim.truth({
        maxLabelValues: 7,
        campaignLookbackMs: 3 * 86_400_000,
        maxCampaigns: 4,
        now,
        enteredSince: 1,
      }),
    );
    expect(truthPath(12)).toBe('/_sim/truth?maxLabelValues=12');
    expect(truthPath()).toBe('/_sim/truth');
    for (const bad of ['campaignLookback=soon', 'maxLabelValues=0', 'enteredSince=-1']) {
      expect((await http(`${sim.url}/_sim/truth?${bad}`)).status).toBe(400);
    }
  });

  test('campaign series: one per status, device label set, walked campaign and account × API', () => {
    const truth = sim.truth({ maxCampaigns: 3 }) as unknown as SimulatorTruth;
    const series = campaignTruthSeries(truth);
    const v2 = truth.campaigns[ACCOUNT_1]?.v2;
    const walked = v2?.walked[0];
    expect(walked).toBeDefined();
    const key = (name: string, labels: Record<string, string>): string =>
      `${name}{${Object.keys(labels)
        .sort()
        .map((k) => `${k}=${JSON.stringify(labels[k])}`)
        .join(',')}}`;
    const id = { account: ACCOUNT_1, api: 'v2', campaign_id: walked?.campaign_id ?? '' };
    expect(series.get(key('thingspace_fota_campaign_total_devices', id))).toBe(
      walked?.total_devices,
    );
    expect(
      series.get(
        key('thingspace_fota_campaign_info', {
          ...id,
          campaign_name: walked?.campaign_name ?? '',
          firmware_from: walked?.firmware_from ?? '',
          firmware_to: walked?.firmware_to ?? '',
          campaign_status: walked?.campaign_status ?? '',
        }),
      ),
    ).toBe(1);
    expect(
      series.get(key('thingspace_fota_campaigns_folded', { account: ACCOUNT_1, api: 'v2' })),
    ).toBe(v2?.folded);
    const perAccountApi = (t: typeof v2): number =>
      (t?.campaigns.length ?? 0) +
      (t?.devices.length ?? 0) +
      1 +
      (t?.walked ?? []).reduce(
        (sum, w) => sum + 2 + w.device_status.length + (w.end_timestamp_seconds === null ? 0 : 1),
        0,
      );
    const expected = Object.values(truth.campaigns)
      .flatMap((apis) => [apis.v2, apis.v3])
      .reduce((sum, t) => sum + perAccountApi(t), 0);
    expect(series.size).toBe(expected);
    expect(campaignTruthSeries(truth, (_account, api) => api === 'v3').size).toBeLessThan(
      series.size,
    );
  });

  test('entered series need a truth asked with enteredSince', () => {
    const plain = sim.truth() as unknown as SimulatorTruth;
    expect(() => enteredTruthSeries(plain)).toThrow(/enteredSince/);
    const entered = enteredTruthSeries(sim.truth({ enteredSince: 0 }) as unknown as SimulatorTruth);
    // Two accounts × six statuses × two counters, and two accounts × two APIs × seven statuses.
    expect(entered.size).toBe(2 * 6 * 2 + 2 * 2 * 7);
    expect([...entered.values()].some((value) => value > 0)).toBe(true);
  });
});
