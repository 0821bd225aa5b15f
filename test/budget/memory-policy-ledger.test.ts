import { MemoryPolicyLedger } from '../../src/budget/memory-policy-ledger.js';
import { runPolicyLedgerContract } from './policy-ledger-contract.js';

runPolicyLedgerContract('MemoryPolicyLedger', async (opts) => {
  const ledger = new MemoryPolicyLedger(opts);
  return { ledger, cleanup: () => ledger.close() };
});
