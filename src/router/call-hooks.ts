import type { PolicyStanding } from '../budget/policy-types.js';
import type { CompletionRequest } from '../core/types.js';

/** Per-call callbacks of the router's charged calls (`complete`, `stream`, `embed`, `forward`, `forwardStream`; `forwardUncharged` holds nothing and never calls them). */
export interface RouterCallHooks {
  /**
   * Called once per call, right after its budget holds were taken and before the first backend attempt
   * (so before any byte of a stream), with where each budget-policy line stands with the call's hold —
   * `[]` when no policy applies or the router has no `policies`. Not called when a hold is refused. A
   * gateway sets its budget headers from it. Throwing from it fails the call (its holds are released).
   *
   * @example
   * ```ts
   * await router.complete({ model, messages, metadata: { user_id: 'ann' }, onReserved: (s) => (standings = s) });
   * ```
   */
  onReserved?: (standings: PolicyStanding[]) => void;
}

/** What {@link LLMRouter.complete} and `stream()` take: a completion request and its call hooks. */
export interface RouterCompletionRequest extends CompletionRequest, RouterCallHooks {}
