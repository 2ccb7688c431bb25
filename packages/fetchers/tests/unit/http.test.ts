import { describe, expect, it } from '@jest/globals';
import { RateLimiter, parseRetryAfter, redactKey } from '../../src/http.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2024-03-15T20:00:00Z');
  it.each([
    ['7', 7_000],
    ['0', 0],
    ['1.5', 1_500],
    ['Fri, 15 Mar 2024 20:00:30 GMT', 30_000],
    ['Fri, 15 Mar 2024 19:00:00 GMT', 0],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([null, '', 'soon'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('RateLimiter', () => {
  it('lets rpm requests start in any 60 s window and makes the next wait for the oldest to leave it', async () => {
    let now = 0;
    const waits: number[] = [];
    const limiter = new RateLimiter(3, () => now, async (ms) => {
      waits.push(ms);
      now += ms;
    });
    const starts: number[] = [];
    for (let i = 0; i < 7; i++) {
      await limiter.acquire();
      starts.push(now);
      now += 1_000; // each request takes a second
    }
    expect(starts).toEqual([0, 1_000, 2_000, 60_000, 61_000, 62_000, 120_000]);
    expect(waits).toEqual([57_000, 57_000]);
  });

  it('serves concurrent callers one at a time, in order', async () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now, async (ms) => {
      now += ms;
    });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map(async (i) => {
      await limiter.acquire();
      order.push(i);
    }));
    expect(order).toEqual([0, 1, 2, 3]);
    expect(now).toBe(60_000);
  });
});

describe('redactKey', () => {
  it('blanks apiKey query parameters and verbatim keys', () => {
    const key = 'abcdef0123456789';
    expect(redactKey(`{"next_url":"https://api.polygon.io/v3/x?cursor=1&apiKey=${key}"}`, key)).toBe('{"next_url":"https://api.polygon.io/v3/x?cursor=1&apiKey=REDACTED"}');
    expect(redactKey(`token ${key} here`, key)).toBe('token REDACTED here');
    expect(redactKey('?api_key=zzz&x=1', key)).toBe('?api_key=REDACTED&x=1');
  });
});
