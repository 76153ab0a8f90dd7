/**
 * NAB's three cost profiles (NAB `config/profiles.json`). `tnWeight` is in NAB's file but
 * unused by its scorer, so it is not carried here.
 */
export interface CostProfile {
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
}

export const nabProfiles = {
  standard: { tpWeight: 1.0, fpWeight: 0.11, fnWeight: 1.0 },
  reward_low_FP_rate: { tpWeight: 1.0, fpWeight: 0.22, fnWeight: 1.0 },
  reward_low_FN_rate: { tpWeight: 1.0, fpWeight: 0.11, fnWeight: 2.0 },
} as const satisfies Record<string, CostProfile>;

export type NabProfileName = keyof typeof nabProfiles;
export const nabProfileNames = Object.keys(nabProfiles) as NabProfileName[];
