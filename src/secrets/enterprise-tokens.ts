/**
 * The per-enterprise URL tokens (webhook, dashboard): HMACs of the enterprise number and a generation that
 * `enterprise rotate` increments, so one company's token can be replaced without touching SECRET_KEY (which would
 * break every recording link). Generation 0 signs the bare number: tokens issued before rotation existed stay valid.
 */
import type { TokenGenerations } from '../domain/enterprise.js';
import type { SecretBox } from './secret-box.js';

export type TokenPurpose = 'webhook' | 'dashboard';

export type { TokenGenerations } from '../domain/enterprise.js';

export const INITIAL_GENERATIONS: TokenGenerations = Object.freeze({ webhook: 0, dashboard: 0 });

function payload(number: string, generation: number): string {
  return generation === 0 ? number : `${number}#${generation}`;
}

export function enterpriseToken(box: Pick<SecretBox, 'sign'>, purpose: TokenPurpose, number: string, gens: TokenGenerations): string {
  return box.sign(purpose, payload(number, gens[purpose]));
}

/** Checks `token` against the enterprise's current generation (unknown enterprise: generation 0, still computed). */
export function verifyEnterpriseToken(
  box: Pick<SecretBox, 'verify'>,
  purpose: TokenPurpose,
  number: string,
  gens: TokenGenerations | undefined,
  token: string,
): boolean {
  return box.verify(purpose, payload(number, (gens ?? INITIAL_GENERATIONS)[purpose]), token);
}

export function parseGenerations(raw: unknown): TokenGenerations {
  const obj = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const gen = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);
  return { webhook: gen(obj['webhook']), dashboard: gen(obj['dashboard']) };
}
