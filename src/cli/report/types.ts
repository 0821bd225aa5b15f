import type { UsageAggregate, UsageFilter } from '../../usage/usage-store.js';

/** Where the command writes. `isTTY` (of stderr) turns on the progress indicator for long exports. */
export interface ReportCommandIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTTY?: boolean;
}

export type GroupBy = 'model' | 'agent' | 'day' | 'thread' | 'event';
export type ReportFormat = 'table' | 'json' | 'csv';

/** `tokenwarden report`'s command line, checked. */
export interface ReportArgs {
  filter: UsageFilter;
  by: GroupBy;
  format: ReportFormat;
  db: string | undefined;
  databaseUrl: string | undefined;
  schema: string | undefined;
  table: string | undefined;
  lockTimeoutMs: number;
  env: NodeJS.ProcessEnv;
}

/** One report row: a group's key (`null` for events without one) and its sums. */
export interface ReportRow extends UsageAggregate {
  key: string | null;
}
