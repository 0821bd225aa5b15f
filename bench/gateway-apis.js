// The client APIs the gateway benchmark calls: for each, its path, a client request body, and the mock
// upstream's answer (the shape OpenAI sends, with the usage block tokenwarden meters).
import { Buffer } from 'node:buffer';

/** An embedding of `dimensions` floats: deterministic, unit length, printed at full double precision as OpenAI does. */
function embeddingVector(dimensions) {
  let seed = 0x9e3779b9;
  const raw = Array.from({ length: dimensions }, () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  });
  const norm = Math.hypot(...raw);
  return raw.map((x) => x / norm);
}

const CHAT_ANSWER = {
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! Nice to meet you.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 14, completion_tokens: 7, total_tokens: 21 },
};

// A Responses API `response` object as OpenAI returns it (non-streaming, one output message).
const RESPONSES_ANSWER = {
  id: 'resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b',
  object: 'response',
  created_at: 1_741_476_542,
  status: 'completed',
  error: null,
  incomplete_details: null,
  instructions: null,
  max_output_tokens: 32,
  model: 'gpt-4o-mini-2024-07-18',
  output: [
    {
      type: 'message',
      id: 'msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'Hello! Nice to meet you.', annotations: [] }],
    },
  ],
  parallel_tool_calls: true,
  previous_response_id: null,
  reasoning: { effort: null, summary: null },
  store: true,
  temperature: 1.0,
  text: { format: { type: 'text' } },
  tool_choice: 'auto',
  tools: [],
  top_p: 1.0,
  truncation: 'disabled',
  usage: {
    input_tokens: 14,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 7,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 21,
  },
  user: null,
  metadata: {},
};

const EMBEDDINGS_ANSWER = {
  object: 'list',
  data: [{ object: 'embedding', index: 0, embedding: embeddingVector(256) }],
  model: 'text-embedding-3-small',
  usage: { prompt_tokens: 9, total_tokens: 9 },
};

/**
 * The benchmarked APIs by name: `path`, the client's `body` (a JSON string) and the mock upstream's
 * `answer` (a Buffer).
 */
export const APIS = {
  chat: {
    path: '/v1/chat/completions',
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
      max_tokens: 32,
    }),
    answer: Buffer.from(JSON.stringify(CHAT_ANSWER)),
  },
  responses: {
    path: '/v1/responses',
    body: JSON.stringify({ model: 'gpt-4o-mini', input: 'Say hello in one short sentence.', max_output_tokens: 32 }),
    answer: Buffer.from(JSON.stringify(RESPONSES_ANSWER)),
  },
  embeddings: {
    path: '/v1/embeddings',
    body: JSON.stringify({ model: 'text-embedding-3-small', input: 'The food was delicious and the waiter was kind.', dimensions: 256 }),
    answer: Buffer.from(JSON.stringify(EMBEDDINGS_ANSWER)),
  },
};

/** The API names, in the order the benchmark measures and reports them. */
export const API_NAMES = Object.keys(APIS);

/** The API whose path is `path` (the mock upstream answers by path), or undefined. */
export function apiForPath(path) {
  const bare = path.split('?')[0];
  return Object.values(APIS).find((a) => bare === a.path || bare.endsWith(a.path));
}
