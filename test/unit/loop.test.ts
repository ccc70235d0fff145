/**
 * Durations on the monotonic clock: a wall clock stepped back (NTP, a VM restored from a snapshot) must
 * neither delay the next collection nor freeze the live counters in a scrape.
 */
import { jest } from '@jest/globals';
import { systemClock } from '../../src/clock.js';
import { CollectionLoop } from '../../src/collection/loop.js';
import { Exposition, MAX_AGE_MS } from '../../src/metrics/exposition.js';
import type { LiveMetrics } from '../../src/metrics/live.js';

const HOUR = 3_600_000;

afterEach(() => {
  jest.useRealTimers();
});

describe('CollectionLoop', () => {
  it('runs the next collection one interval after the last started, whatever the wall clock does', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    let collections = 0;
    const loop = new CollectionLoop(
      async () => {
        collections++;
      },
      60_000,
      systemClock,
      (error) => {
        throw error;
      },
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(collections).toBe(1);
    // The wall clock is stepped back by an hour; the monotonic clock goes on.
    jest.setSystemTime(Date.now() - HOUR);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(collections).toBe(2);
    jest.setSystemTime(Date.now() + 2 * HOUR);
    await jest.advanceTimersByTimeAsync(59_000);
    expect(collections).toBe(2);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(collections).toBe(3);
    loop.stop();
  });

  it('joins a collection already running instead of starting a second one', async () => {
    let release!: () => void;
    let started = 0;
    const loop = new CollectionLoop(
      () => {
        started++;
        return new Promise<void>((resolve) => (release = resolve));
      },
      60_000,
      systemClock,
      () => undefined,
    );
    const a = loop.runOnce();
    const b = loop.runOnce();
    release();
    await Promise.all([a, b]);
    expect(started).toBe(1);
  });
});

describe('Exposition', () => {
  function live(): LiveMetrics & { renders: number } {
    const fake = {
      renders: 0,
      render: async () => `live_metric ${++fake.renders}\n`,
    };
    return fake as unknown as LiveMetrics & { renders: number };
  }

  it('refreshes the live part after MAX_AGE_MS of monotonic time, even with the wall clock stepped back', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const metrics = live();
    const exposition = new Exposition(metrics, systemClock);
    exposition.publish('collected 1\n');
    expect(await exposition.text()).toBe('collected 1\nlive_metric 1\n');
    expect(await exposition.text()).toBe('collected 1\nlive_metric 1\n');
    jest.setSystemTime(Date.now() - HOUR);
    jest.advanceTimersByTime(MAX_AGE_MS);
    expect(await exposition.text()).toBe('collected 1\nlive_metric 2\n');
  });

  it('serves a new collection at once, and gzips each text once', async () => {
    const metrics = live();
    const exposition = new Exposition(metrics, systemClock);
    exposition.publish('collected 1\n');
    const first = await exposition.gzipped();
    expect(await exposition.gzipped()).toBe(first);
    exposition.publish('collected 2\n');
    expect(await exposition.text()).toMatch(/^collected 2\n/);
  });
});
