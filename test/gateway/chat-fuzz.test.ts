/**
 * Issue 11 (checks): thousands of random and mutated chat bodies from org A, while org B sends normal
 * calls. Every answer to A is a 4xx or a correct 200 (never a 5xx), every 200 is stored, and none of
 * A's bodies fails or slows a call of org B.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { call, HELLO, startTestGateway } from './harness.js';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = ['\u0000', '\u0001', '\t', '\n', '\u001f', '\u007f', '\u0085', '\u009f', '\ud800', '\udfff', '\ud83d\ude00', 'é', '日本', '\u2028', '"', '\\', '/', '%00', ''];
const VALUES: unknown[] = [null, true, false, 0, -1, 1, 1.5, 2 ** 53, 2 ** 53 + 2, 1e300, -1e300, '', 'x', [], {}, [1], { a: 1 }];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function nastyString(r: () => number): string {
  const n = Math.floor(r() * 6);
  let s = r() < 0.5 ? 'm' : '';
  for (let i = 0; i < n; i++) s += r() < 0.7 ? pick(r, NASTY) : String.fromCharCode(Math.floor(r() * 0x10000));
  if (r() < 0.05) s += 'y'.repeat(250 + Math.floor(r() * 20));
  return s;
}

function anyValue(r: () => number): unknown {
  return r() < 0.5 ? nastyString(r) : pick(r, VALUES);
}

const FIELDS = ['model', 'user', 'messages', 'max_tokens', 'max_completion_tokens', 'n', 'stream', 'stream_options', 'temperature', 'top_p', 'stop', 'tools', 'tool_choice', 'extra'];

/** A valid body with one to three fields mutated, or (sometimes) any value at all. */
function mutatedBody(r: () => number): unknown {
  if (r() < 0.05) return anyValue(r);
  const body: Record<string, unknown> = { model: 'm', messages: HELLO };
  const mutations = 1 + Math.floor(r() * 3);
  for (let i = 0; i < mutations; i++) {
    const field = pick(r, FIELDS);
    const roll = r();
    if (field === 'messages' && roll < 0.5) {
      const content = roll < 0.25 ? nastyString(r) : anyValue(r);
      body.messages = [{ role: r() < 0.8 ? 'user' : anyValue(r), content, ...(r() < 0.2 ? { name: anyValue(r) } : {}) }];
    } else if (field === 'stream') {
      body.stream = r() < 0.5 ? false : anyValue(r); // streams are covered by their own tests
    } else if (roll < 0.1) {
      delete body[field];
    } else {
      body[field] = field === 'model' || field === 'user' ? nastyString(r) : anyValue(r);
    }
  }
  return body;
}

const sha = (secret: string): string => `sha256:${createHash('sha256').update(secret).digest('hex')}`;

describe('chat body fuzz', () => {
  it('2,000 random and mutated bodies: only 4xx or a stored 200, and org B is never affected', async () => {
    const tg = await startTestGateway({
      keys: [
        { name: 'a', sha256: sha('key-a'), org: 'orgA' },
        { name: 'b', sha256: sha('key-b'), org: 'orgB' },
      ],
    });
    try {
      const url = `${tg.url}/v1/chat/completions`;
      const r = rng(11);
      const bodies = Array.from({ length: 2000 }, () => mutatedBody(r));
      const statusesA = new Map<number, number>();
      const fiveHundreds: Array<{ body: unknown; status: number }> = [];
      let okA = 0;
      let okB = 0;
      let callsB = 0;
      let next = 0;
      const workerA = async (): Promise<void> => {
        while (next < bodies.length) {
          const body = bodies[next++];
          const res = await call(url, { headers: { authorization: 'Bearer key-a' }, rawBody: JSON.stringify(body) ?? 'null' });
          statusesA.set(res.status, (statusesA.get(res.status) ?? 0) + 1);
          if (res.status >= 500) fiveHundreds.push({ body, status: res.status });
          if (res.status === 200) okA++;
        }
      };
      let doneA = false;
      const workerB = async (): Promise<void> => {
        while (!doneA) {
          callsB++;
          const res = await call(url, { headers: { authorization: 'Bearer key-b' }, body: { model: 'm', messages: HELLO, user: 'b-user' } });
          if (res.status === 200) okB++;
        }
      };
      const bs = Array.from({ length: 4 }, workerB);
      await Promise.all(Array.from({ length: 12 }, workerA));
      doneA = true;
      await Promise.all(bs);
      expect(fiveHundreds.slice(0, 5)).toEqual([]);
      for (const status of statusesA.keys()) expect(status === 200 || (status >= 400 && status < 500), `status ${status}`).toBe(true);
      expect(statusesA.get(400)).toBeGreaterThan(500); // the mutations do reach the validation
      expect(okA).toBeGreaterThan(50); // and some mutated bodies are still valid
      expect(okB).toBe(callsB);
      expect(await tg.store.count({ orgId: 'orgB' })).toBe(callsB);
      expect(await tg.store.count({ orgId: 'orgA' })).toBe(okA);
    } finally {
      await tg.close();
    }
  }, 60_000);
});
