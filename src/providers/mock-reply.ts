import { estimateTextTokens, tokenProfileForModel } from '../tokens/estimate.js';
import type { BackendRequest, ChatMessage } from '../core/types.js';

/** The words the mock's default replies (and the strings of its JSON answers) are drawn from. */
export const MOCK_WORDS = (
  'the a of to and in that it is for on with as this was be at by an are from or have not but all ' +
  'budget token thread agent model call usage limit cost router reply message system value result ' +
  'data request answer check plan step next first then more each time work good new small large'
).split(' ');

/** Tokens of a reply as the mock reports them: the estimate, at least 1 for non-empty text. */
export function countText(text: string, model: string): number {
  return text ? Math.max(1, estimateTextTokens(text, tokenProfileForModel(model))) : 0;
}

/** The default reply: "Re:" and the first words of the last user message, then seeded filler words. */
export function defaultReply(messages: ChatMessage[], words: number, rng: () => number): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  const topic = textOf(last?.content)
    .replace(/[^\w\s'-]/g, '')
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 6);
  const out: string[] = topic.length ? ['Re:', ...topic.slice(0, -1), `${topic[topic.length - 1]}.`] : ['Mock', 'reply.'];
  while (out.length < words) out.push(pickWord(rng));
  return out.slice(0, Math.max(1, words)).join(' ');
}

/** One word of {@link MOCK_WORDS}, drawn from `rng`. */
export function pickWord(rng: () => number): string {
  return MOCK_WORDS[Math.floor(rng() * MOCK_WORDS.length)] as string;
}

/** The text of a message content: the string, or the `text` of its parts joined by spaces. */
export function textOf(content: ChatMessage['content'] | undefined): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join(' ');
  return '';
}

/** FNV-1a over the model and messages: the same request always gets the same reply. */
export function hashRequest(request: BackendRequest): number {
  let h = 0x811c9dc5;
  const feed = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  feed(request.model);
  for (const m of request.messages) {
    feed(m.role);
    feed(textOf(m.content));
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The pieces a reply is streamed in: words with their leading space; runs over 12 characters (JSON) are cut. */
export function streamPieces(text: string): string[] {
  const out: string[] = [];
  for (const word of text.match(/\s*\S+/g) ?? []) {
    for (let i = 0; i < word.length; i += 12) out.push(word.slice(i, i + 12));
  }
  return out;
}
