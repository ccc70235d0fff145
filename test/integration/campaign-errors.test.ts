/**
 * The campaign stages' error counters agree with their success gauges: when no campaign listing can be
 * read, the devices stage cannot run either; it reads failed, and its error is counted. In one process
 * against the fake ThingSpace, which serves FOTA v1 only: every campaign listing answers 404.
 */
import { parseExposition, type Sample } from '../support/exposition.js';
import { startExporter, type Harness } from '../support/exporter-harness.js';
import { makeData, startFakeThingSpace, type FakeThingSpace } from '../support/fake-thingspace.js';
import { CAMPAIGN_STATUSES } from '../../src/campaigns/statuses.js';

const ACCOUNT = '0242078689-00001';

let fake: FakeThingSpace | undefined;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  await fake?.close();
  harness = undefined;
  fake = undefined;
});

const values = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.value);

it('every listing failing: the devices stage reads failed and counts one error per collection', async () => {
  fake = await startFakeThingSpace({ data: makeData([ACCOUNT], 1, 1) });
  harness = await startExporter(fake.url, [ACCOUNT], ['--thingspace.apis=v2']);
  for (let collection = 1; collection <= 2; collection++) {
    await harness.exporter.collectOnce();
    const samples = parseExposition((await harness.scrape()).text);
    const success = (stage: string) =>
      values(samples, 'thingspace_fota_campaign_collection_success', { api: 'v2', stage });
    const errors = (stage: string) =>
      values(samples, 'thingspace_fota_campaign_collection_errors_total', {
        api: 'v2',
        stage,
        error: 'http',
      });
    expect(success('listing')).toEqual([0]);
    expect(errors('listing')).toEqual([collection * CAMPAIGN_STATUSES.length]);
    expect(success('devices')).toEqual([0]);
    expect(errors('devices')).toEqual([collection]);
  }
});
