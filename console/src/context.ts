/** What every page gets: who is signed in (from `viewer`) and a way to re-render itself. */
export interface Viewer {
  kind: string;
  role: string;
  tenantId: string | null;
  user: { name: string } | null;
  tenant: {
    id: string;
    name: string;
    displayName: string;
    currency: string;
    timezone: string;
    status: string;
    plan: { name: string; code: string } | null;
    period: { start: string; end: string };
  } | null;
}

export interface PageContext {
  viewer: Viewer;
  /** Renders the current page again (after a mutation). */
  refresh(): void;
}

export type Page = (ctx: PageContext, params: URLSearchParams) => Promise<HTMLElement>;
