/**
 * Asking for a lead: a caller RetailCRM does not know gets one order per period. The crm_leads row and its
 * outbox job are written in one transaction; the row's unique key makes three concurrent calls of one number
 * (on any instance) ask once.
 */
import { inTransaction, type Pool } from '../db/pool.js';
import { enqueueJob, notifyOutbox } from '../outbox/enqueue.js';
import { LEAD_CREATE, leadCreateKey, type LeadCreatePayload } from './job-kinds.js';
import { claimLead } from './lead-store.js';

export interface LeadRequest {
  readonly enterprise: string;
  readonly phone: string;
  readonly linkedid: string;
  readonly calledAt: Date;
  readonly periodHours: number;
}

export class LeadRequests {
  constructor(private readonly pool: Pool) {}

  /** Resolves with the lead's id when this call claimed it, null when the number already has its lead. */
  async request(req: LeadRequest): Promise<number | null> {
    return inTransaction(this.pool, async (db) => {
      const lead = await claimLead(db, req);
      if (!lead) return null;
      const payload: LeadCreatePayload = { leadId: lead.id, phone: req.phone, calledAt: req.calledAt.toISOString() };
      await enqueueJob(db, { enterprise: req.enterprise, kind: LEAD_CREATE, jobKey: leadCreateKey(req.enterprise, lead.id), payload });
      await notifyOutbox(db, req.enterprise);
      return lead.id;
    });
  }
}
