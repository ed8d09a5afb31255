/**
 * Writing to the outbox, as the call path sees it: inserting a job (deduplicated by its key), waking workers with
 * NOTIFY, and dropping jobs that lost their point before delivery. The SQL lives in outbox-store.ts.
 */
export { outboxJobKey } from './job-types.js';
export { dropPendingJobs, enqueueJob, notifyOutbox, type ClaimedBatch, type DropSelector, type NewJob } from './outbox-store.js';
export { enqueueClaimedJob, enqueueClaimedJobsAfter, type ClaimedAfter } from './claimed-jobs-store.js';
