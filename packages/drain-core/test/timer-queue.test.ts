import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueue } from '../src/timer-queue.js';

describe('TimerQueue', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const clock = () => now;
  const advance = async (ms: number) => {
    now += ms;
    await vi.advanceTimersByTimeAsync(ms);
  };

  it('runs items in time order, ties in insertion order, with one armed timer', async () => {
    const ran: string[] = [];
    const queue = new TimerQueue<string>({ run: (item) => ran.push(item), now: clock });
    for (const [at, name] of [
      [300, 'c'],
      [100, 'a'],
      [200, 'b1'],
      [200, 'b2'],
      [50, 'first'],
    ] as const) {
      queue.schedule(at, name);
    }
    expect(vi.getTimerCount()).toBe(1);
    await advance(100);
    expect(ran).toEqual(['first', 'a']);
    await advance(250);
    expect(ran).toEqual(['first', 'a', 'b1', 'b2', 'c']);
    expect(queue.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('orders 10,000 random times correctly', async () => {
    const ran: number[] = [];
    const queue = new TimerQueue<number>({ run: (at) => ran.push(at), now: clock, batchLimit: 1_000_000 });
    const times = Array.from({ length: 10_000 }, () => Math.floor(Math.random() * 10_000));
    for (const at of times) queue.schedule(at, at);
    await advance(10_001);
    expect(ran).toEqual([...times].sort((a, b) => a - b));
  });

  it('yields between batches when more than batchLimit are due', async () => {
    const ran: number[] = [];
    const queue = new TimerQueue<number>({ run: (i) => ran.push(i), now: clock, batchLimit: 10 });
    for (let i = 0; i < 25; i++) queue.schedule(5, i);
    await advance(5);
    // The first wake-up stops at the batch limit and continues on a later turn of the event loop.
    expect(ran).toHaveLength(10);
    await vi.runAllTimersAsync();
    expect(ran).toHaveLength(25);
    expect(ran).toEqual([...ran].sort((a, b) => a - b));
  });

  it('keeps going when an item throws, reporting the error', async () => {
    const errors: unknown[] = [];
    const ran: number[] = [];
    const queue = new TimerQueue<number>({
      run: (i) => {
        if (i === 1) throw new Error('boom');
        ran.push(i);
      },
      onError: (error) => errors.push(error),
      now: clock,
    });
    for (const i of [0, 1, 2]) queue.schedule(i, i);
    await advance(3);
    expect(ran).toEqual([0, 2]);
    expect(errors).toHaveLength(1);
  });

  it('clear() drops pending items and disarms', async () => {
    const ran: number[] = [];
    const queue = new TimerQueue<number>({ run: (i) => ran.push(i), now: clock });
    queue.schedule(10, 1);
    queue.clear();
    expect(vi.getTimerCount()).toBe(0);
    await advance(20);
    expect(ran).toEqual([]);
    queue.schedule(now + 5, 2);
    await advance(5);
    expect(ran).toEqual([2]);
  });

  it('re-arms earlier when an earlier item arrives', async () => {
    const ran: number[] = [];
    const queue = new TimerQueue<number>({ run: (i) => ran.push(i), now: clock });
    queue.schedule(1000, 2);
    queue.schedule(10, 1);
    expect(vi.getTimerCount()).toBe(1);
    await advance(10);
    expect(ran).toEqual([1]);
  });
});
