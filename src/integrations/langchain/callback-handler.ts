import { BaseCallbackHandler, type HandleLLMNewTokenCallbackFields, type NewTokenIndices } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import { z } from 'zod';
import type { CallSubject } from '../../budget/policy-types.js';
import { optionsPrefix, parseOptions } from '../../core/options.js';
import { positiveIntegerOption, unknownKey } from '../../core/option-schemas.js';
import { getUsageTracker } from '../../usage/tracker.js';
import { DEFAULT_MAX_OUTPUT_TOKENS, defaultOnError, idValue, integrationOptionsShape, type IntegrationOptions } from '../integration-options.js';
import { MeteredCall, type AnsweredBy } from '../metered-call.js';
import { estimateLangChainPrompt, estimateTextPrompts } from './message-estimate.js';
import { resultModel, resultText, resultUsage, toolCallText } from './result-usage.js';

/** Options of {@link TokenwardenCallbackHandler}. */
export interface TokenwardenCallbackOptions extends IntegrationOptions {
  /**
   * A run that hears nothing for this long (no token, no end, no error: a stream its consumer stopped
   * reading, which LangChain never ends) is closed: charged what it delivered, or released. Default
   * 600 000 (10 minutes, the ledgers' hold TTL).
   */
  abandonAfterMs?: number;
}

const Schema = z
  .object({ ...integrationOptionsShape, abandonAfterMs: positiveIntegerOption.optional() }, { error: 'must be an object' })
  .catchall(unknownKey(`unknown TokenwardenCallbackHandler option (expected one of ${[...Object.keys(integrationOptionsShape), 'abandonAfterMs'].join(', ')})`));

/** The runs started by one model call (a batch of prompts shares its `extraParams`): one refusal fails them all. */
interface Batch {
  refused: boolean;
  runs: Set<string>;
}

interface Run {
  call: MeteredCall | undefined;
  by: AnsweredBy;
  delivered: string;
  batch: Batch;
  /** Armed by the first streamed token: a stream silent this long was left unread (see `abandonAfterMs`). */
  timer: NodeJS.Timeout | undefined;
  /** Charges what the run delivered, or releases it, once (abort, abandonment). */
  abandon: (() => void) | undefined;
  /** Stops listening to the call's abort signal. */
  unlisten: (() => void) | undefined;
}

type Loose = Record<string, unknown>;

/**
 * A LangChain.js callback handler (`@langchain/core` 1.x) that keeps chat models and LLMs inside their
 * budgets. It raises (`raiseError`) and is awaited (`awaitHandlers`), so a refusal in
 * `handleChatModelStart` (`BudgetExhaustedError`, `PolicyExhaustedError`, `RateLimitedError`) fails the
 * call before the request is sent. Per run it reserves the prompt estimate plus the model's `max_tokens`
 * (from the invocation params; `maxOutputTokensDefault` when unset: set `maxTokens` on the model so the
 * hold bounds the call); `handleLLMEnd` records the usage event and settles to the message's
 * `usage_metadata` (cache and reasoning details included) or `llmOutput.tokenUsage`, or the estimate of the
 * delivered text; `handleLLMError` charges the streamed tokens delivered before the error, or releases.
 * A stream its caller aborts (the call's `signal`) or stops reading (after `abandonAfterMs`) is charged
 * the tokens reported so far: LangChain reports a chunk's token after handing the chunk over, so the
 * chunk being read when the consumer stopped is not counted.
 *
 * The thread, agent, user and org come per call from the run's metadata (`thread_id`, `agent_id`,
 * `user_id`, `org_id`; LangGraph puts `configurable.thread_id` there), else from these options.
 *
 * @example
 * ```ts
 * import { ChatOpenAI } from '@langchain/openai';
 * import { TokenwardenCallbackHandler } from 'tokenwarden/langchain';
 *
 * const budget = new TokenwardenCallbackHandler({ ledger, agentId: 'researcher' });
 * const model = new ChatOpenAI({ model: 'gpt-4o-mini', maxTokens: 512, callbacks: [budget] });
 * await model.invoke('Hi', { metadata: { thread_id: 'ticket-42' } });
 * ```
 */
export class TokenwardenCallbackHandler extends BaseCallbackHandler {
  name = 'TokenwardenCallbackHandler';
  override raiseError = true;
  override awaitHandlers = true;
  private readonly options: TokenwardenCallbackOptions;
  private readonly abandonAfterMs: number;
  private readonly runs = new Map<string, Run>();
  private readonly batches = new WeakMap<object, Batch>();

  constructor(options: TokenwardenCallbackOptions = {}) {
    super({ raiseError: true });
    this.options = parseOptions(Schema, options, optionsPrefix(options));
    this.abandonAfterMs = this.options.abandonAfterMs ?? 600_000;
  }

  /** One handler keeps every run's hold: a copy shares them (LangChain copies handlers in some paths). */
  override copy(): BaseCallbackHandler {
    return this;
  }

  /** Runs holding a reservation now. */
  get openRuns(): number {
    return this.runs.size;
  }

  override async handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    _parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
    const invocation = loose(extraParams?.invocation_params);
    const model = requestedModel(llm, invocation, metadata);
    await this.open(runId, model, estimateLangChainPrompt(messages.flat(), invocation, model), invocation, extraParams, metadata);
  }

  override async handleLLMStart(
    llm: Serialized,
    prompts: string[],
    runId: string,
    _parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): Promise<void> {
    const invocation = loose(extraParams?.invocation_params);
    const model = requestedModel(llm, invocation, metadata);
    await this.open(runId, model, estimateTextPrompts(prompts, model), invocation, extraParams, metadata);
  }

  override handleLLMNewToken(token: string, _idx: NewTokenIndices, runId: string, _p?: string, _t?: string[], fields?: HandleLLMNewTokenCallbackFields): void {
    const run = this.runs.get(runId);
    if (!run) return;
    run.delivered += token;
    const chunks = loose(loose(fields?.chunk).message).tool_call_chunks;
    if (Array.isArray(chunks)) for (const chunk of chunks) run.delivered += toolCallText(chunk);
    if (run.timer !== undefined) run.timer.refresh();
    else if (run.abandon !== undefined) run.timer = setTimeout(run.abandon, this.abandonAfterMs).unref();
  }

  override async handleLLMEnd(output: LLMResult, runId: string): Promise<void> {
    const run = this.take(runId);
    if (!run?.call) return;
    const call = run.call;
    const usage = resultUsage(output) ?? call.estimateDelivered(resultText(output) || run.delivered);
    await call.settle(usage, { ...run.by, model: resultModel(output) ?? run.by.model }, this.options.onError ?? defaultOnError);
  }

  override async handleLLMError(err: unknown, runId: string): Promise<void> {
    await this.close(this.take(runId), err);
  }

  /** Closes every open run (charged what it delivered, or released), e.g. at shutdown. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.runs.keys()].map((id) => this.close(this.take(id))));
  }

  private async open(runId: string, model: string, promptTokens: number, invocation: Loose, extraParams: Loose | undefined, metadata: Loose | undefined): Promise<void> {
    if (this.runs.has(runId)) return; // the handler is attached twice (model and config): one hold per run
    const batch = this.batchOf(extraParams);
    if (batch.refused) return; // a sibling prompt was refused: the whole call fails before any request
    const o = this.options;
    const meta = loose(metadata);
    const pick = (snake: string, camel: string, fallback: string | undefined): string | undefined => idValue(meta[snake]) ?? idValue(meta[camel]) ?? fallback;
    const subject: CallSubject = {
      model,
      thread: pick('thread_id', 'threadId', o.threadId),
      agent: pick('agent_id', 'agentId', o.agentId),
      user: pick('user_id', 'userId', o.userId),
      org: pick('org_id', 'orgId', o.orgId),
      key: o.keyName,
    };
    const estimate = { promptTokens, completionTokens: outputCap(invocation, meta, o.maxOutputTokensDefault ?? DEFAULT_MAX_OUTPUT_TOKENS) };
    const run: Run = { call: undefined, by: { provider: provider(meta), model }, delivered: '', batch, timer: undefined, abandon: undefined, unlisten: undefined };
    this.runs.set(runId, run);
    batch.runs.add(runId);
    let call: MeteredCall;
    try {
      const tracker = o.tracker ?? getUsageTracker();
      call = await MeteredCall.start({ ledger: o.ledger, policies: o.policies, subject, tracker, estimate, metadata: { ...o.metadata, langchain_run_id: runId } });
    } catch (err) {
      this.runs.delete(runId);
      batch.refused = true;
      await Promise.all([...batch.runs].map((id) => this.close(this.take(id))));
      throw err;
    }
    if (this.runs.get(runId) !== run) {
      await call.release(); // a sibling was refused meanwhile
      return;
    }
    run.call = call;
    const end = (): void => void this.close(this.take(runId)).catch(defaultOnError);
    // No timer until the first token: a call that does not stream always gets its end or error reported,
    // however long it runs, and closing it early would leave that answer unbilled.
    run.abandon = end;
    // A stream aborted by its caller is left suspended by LangChain: neither its end nor its error is reported.
    const signal = loose(extraParams?.options).signal;
    if (signal instanceof AbortSignal) {
      if (signal.aborted) return end();
      signal.addEventListener('abort', end, { once: true });
      run.unlisten = () => signal.removeEventListener('abort', end);
    }
  }

  /** Charges what a run delivered, or releases it when it delivered nothing. */
  private async close(run: Run | undefined, failure?: unknown): Promise<void> {
    const call = run?.call;
    if (!call) return;
    if (run.delivered === '') await call.release(failure);
    else await call.settle(call.estimateDelivered(run.delivered), run.by, this.options.onError ?? defaultOnError);
  }

  /** The run, once: removed from the open runs and its timer stopped. */
  private take(runId: string): Run | undefined {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    this.runs.delete(runId);
    run.batch.runs.delete(runId);
    clearTimeout(run.timer);
    run.unlisten?.();
    return run;
  }

  private batchOf(extraParams: Loose | undefined): Batch {
    if (!extraParams) return { refused: false, runs: new Set() };
    let batch = this.batches.get(extraParams);
    if (!batch) this.batches.set(extraParams, (batch = { refused: false, runs: new Set() }));
    return batch;
  }
}

function loose(v: unknown): Loose {
  return typeof v === 'object' && v !== null ? (v as Loose) : {};
}

/** The model asked for: the invocation params' `model`, else LangSmith's `ls_model_name`, else the serialized model's. */
function requestedModel(llm: Serialized, invocation: Loose, metadata: Loose | undefined): string {
  const kwargs = loose((llm as unknown as Loose).kwargs);
  for (const v of [invocation.model, invocation.model_name, loose(metadata).ls_model_name, kwargs.model, kwargs.model_name]) {
    if (typeof v === 'string' && v !== '') return v;
  }
  return 'unknown';
}

/** The output cap of the call (times `n` completions): `max_tokens`, `max_completion_tokens`, `ls_max_tokens`, else the default. */
function outputCap(invocation: Loose, metadata: Loose, fallback: number): number {
  let cap = fallback;
  for (const v of [invocation.max_tokens, invocation.max_completion_tokens, invocation.maxTokens, metadata.ls_max_tokens]) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) {
      cap = v;
      break;
    }
  }
  const n = invocation.n;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 1 ? cap * n : cap;
}

function provider(metadata: Loose): string {
  const p = metadata.ls_provider;
  return typeof p === 'string' && p !== '' ? p : 'langchain';
}
