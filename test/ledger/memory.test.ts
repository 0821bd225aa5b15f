import { MemoryBudgetLedger } from '../../src/stores/memory/memory-ledger.js';
import { runBudgetLedgerContract } from './contract.js';

runBudgetLedgerContract('MemoryBudgetLedger', async (options) => new MemoryBudgetLedger(options));
