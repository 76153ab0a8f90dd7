/** The roles `tollgate serve` can run; a module of its own so the CLI can name them without loading them. */
export const allRoles = ['inference', 'api', 'worker', 'otlp'] as const;
export type Role = (typeof allRoles)[number];
