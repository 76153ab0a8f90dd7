/** Small building blocks shared by the pages. */
import { ApiError, type GqlError } from './api.js';
import { h, type Child } from './dom.js';

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export function notice(kind: 'info' | 'error' | 'ok' | 'warn', ...children: Child[]): HTMLElement {
  return h('div', { class: `notice ${kind}`, testid: `notice-${kind}` }, ...children);
}

export function errorNotice(err: unknown): HTMLElement {
  if (err instanceof ApiError) return notice('error', `${err.message} (${err.code})`);
  return notice('error', (err as Error)?.message ?? String(err));
}

export function errorsNotice(errors: GqlError[]): HTMLElement | null {
  if (errors.length === 0) return null;
  return notice('error', ...errors.map((e) => h('div', {}, `${e.message}${e.extensions?.code ? ` (${e.extensions.code})` : ''}${e.path ? ` at ${e.path.join('.')}` : ''}`)));
}

/** Shown where the API withheld a field from this principal's role. */
export function notVisible(what: string, role: string): HTMLElement {
  return h('span', { class: 'muted denied', testid: 'denied' }, `${what} not visible to your role (${role.toLowerCase()})`);
}

export function badge(text: string, kind = text): HTMLElement {
  return h('span', { class: `badge ${kind.replace(/[^a-z0-9-]/gi, '')}` }, text);
}
