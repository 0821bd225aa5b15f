import type { AnsweredBy, MeteredCall } from '../metered-call.js';
import type { StreamPart } from './model-types.js';
import { toMeteredUsage } from './usage-map.js';

/**
 * The model's stream, passed through part by part while the call's bill is kept: the `finish` part's
 * usage settles the call; a stream that ends without one (cut by the network, an error part, the
 * consumer's abort or cancel) is charged the estimate of what it delivered (text, reasoning, tool
 * inputs), or released when it delivered nothing. A pulled `ReadableStream` rather than a
 * `TransformStream`: Node 20's transformers are not told when the reader cancels, and a cancel is an
 * abandoned stream to be charged.
 */
export function meterStream(
  source: ReadableStream<StreamPart>,
  call: MeteredCall,
  by: AnsweredBy,
  onError: (err: unknown) => void,
): ReadableStream<StreamPart> {
  const reader = source.getReader();
  const counted = new DeliveredCounter();
  let failed = false;

  const chargeCut = async (): Promise<void> => {
    if (call.ended) return;
    if (counted.text === '') await call.release();
    else await call.settle(call.estimateDelivered(counted.text), by, onError);
  };

  return new ReadableStream<StreamPart>({
    async pull(controller) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        await chargeCut().catch(onError);
        controller.error(err);
        return;
      }
      if (next.done) {
        await chargeCut().catch(onError);
        controller.close();
        return;
      }
      const part = next.value;
      if (part.type === 'error') failed = true;
      else counted.add(part);
      if (part.type === 'finish') {
        try {
          await settleFinish(part, call, by, counted.text, failed, onError);
        } catch (err) {
          // The usage was not recorded (a durable store failed): the caller must not get a free answer silently.
          controller.error(err);
          await reader.cancel(err).catch(() => undefined);
          return;
        }
      }
      controller.enqueue(part);
    },
    async cancel(reason) {
      await chargeCut().catch(onError);
      await reader.cancel(reason);
    },
  });
}

async function settleFinish(
  part: Extract<StreamPart, { type: 'finish' }>,
  call: MeteredCall,
  by: AnsweredBy,
  delivered: string,
  failed: boolean,
  onError: (err: unknown) => void,
): Promise<void> {
  const estimate = (): ReturnType<MeteredCall['estimateDelivered']> => call.estimateDelivered(delivered);
  const usage = toMeteredUsage(part.usage, estimate);
  // A stream that failed before delivering anything, and reports no usage, was not served: release it.
  if (usage === undefined && delivered === '' && (failed || part.finishReason?.unified === 'error')) {
    await call.release();
    return;
  }
  await call.settle(usage ?? estimate(), by, onError);
}

/** The text a stream delivered, as it would be billed: text, reasoning and tool-call inputs. */
class DeliveredCounter {
  text = '';
  private readonly streamedTools = new Set<string>();

  add(part: StreamPart): void {
    switch (part.type) {
      case 'text-delta':
      case 'reasoning-delta':
        this.text += part.delta;
        break;
      case 'tool-input-start':
        this.streamedTools.add(part.id);
        this.text += part.toolName;
        break;
      case 'tool-input-delta':
        this.text += part.delta;
        break;
      case 'tool-call':
        // A provider that streams a tool's input sends it again whole here: count it once.
        if (!this.streamedTools.has(part.toolCallId)) this.text += part.toolName + part.input;
        break;
      default:
        break;
    }
  }
}
