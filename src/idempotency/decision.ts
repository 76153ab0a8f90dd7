/**
 * The one idempotency rule: what an earlier use of a (tenant, request id) means for a request
 * with content fingerprint `fp` (sha256 of model, version and body; none for ids the server
 * generated). Admission applies it to the mark it finds in Redis; nothing else decides.
 */

/** Mark value of a request without a fingerprint (also every mark written before fingerprints). */
export const NO_FINGERPRINT = '1';

/** new: first use, charge and serve it; retry: the same request again; conflict: the id was used for another request (409). */
export type Verdict = 'new' | 'retry' | 'conflict';

/** What an earlier mark (`prior`: its fingerprint, '' or undefined when none) means for a request with fingerprint `fp`. */
export function decide(prior: string | undefined, fp: string | undefined): Verdict {
  if (prior === undefined || prior === '') return 'new';
  if (fp === undefined || prior === NO_FINGERPRINT || prior === fp) return 'retry';
  return 'conflict';
}
