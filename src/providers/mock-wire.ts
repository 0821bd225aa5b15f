import type { ForwardEvent, WireApi } from '../core/types.js';
import { chatBody, chatEvents } from './mock-chat.js';
import { completionsBody, completionsEvents } from './mock-completions.js';
import { countTokensBody, messagesBody, messagesEvents } from './mock-messages.js';
import { responsesBody, responsesEvents } from './mock-responses.js';
import type { MockTurn } from './mock-turn.js';

type Body = Record<string, unknown>;

/** The wire APIs the mock streams (`embeddings` and `count_tokens` answer in one body). */
export const MOCK_STREAM_APIS: ReadonlySet<WireApi> = new Set<WireApi>(['chat', 'responses', 'completions', 'messages']);

/** The mock's answer to a non-streamed request of `api` (not `embeddings`: see mock-embeddings.ts), in that API's format. */
export function mockWireBody(api: WireApi, turn: MockTurn, body: Body): Record<string, unknown> {
  switch (api) {
    case 'responses':
      return responsesBody(turn, body);
    case 'completions':
      return completionsBody(turn);
    case 'messages':
      return messagesBody(turn);
    case 'count_tokens':
      return countTokensBody(turn);
    default:
      return chatBody(turn, body);
  }
}

/** The SSE events of the mock's streamed answer to a request of `api` (one of {@link MOCK_STREAM_APIS}). */
export function mockWireEvents(api: WireApi, turn: MockTurn, body: Body): ForwardEvent[] {
  switch (api) {
    case 'responses':
      return responsesEvents(turn, body);
    case 'completions':
      return completionsEvents(turn, body);
    case 'messages':
      return messagesEvents(turn);
    default:
      return chatEvents(turn, body);
  }
}
