/** Keys whose string values are output a model produced, in every wire API's answer. */
const TEXT_KEYS: ReadonlySet<string> = new Set(['content', 'text', 'arguments', 'refusal', 'thinking', 'partial_json', 'reasoning_content']);

/**
 * The output text of an answer body of any wire API (chat, completions, Responses, Anthropic Messages):
 * every string under a text-bearing key (`content`, `text`, `arguments`, `refusal`, ...) plus tool inputs
 * as JSON. Used only when an upstream reported no usage, to charge an estimate of what it delivered: an
 * answered call is never free.
 */
export function bodyText(body: unknown): string {
  const parts: string[] = [];
  collect(body, parts, 0);
  return parts.join(' ');
}

function collect(value: unknown, parts: string[], depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 64) return;
  if (Array.isArray(value)) {
    for (const item of value) collect(item, parts, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const v = record[key];
    if (typeof v === 'string') {
      if (TEXT_KEYS.has(key)) parts.push(v);
    } else if (key === 'input' && v !== null && typeof v === 'object') {
      parts.push(JSON.stringify(v)); // an Anthropic tool_use block's arguments
    } else {
      collect(v, parts, depth + 1);
    }
  }
}
