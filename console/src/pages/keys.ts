/**
 * API keys: list, create (the secret is shown once, in the create answer, and never again),
 * revoke (two clicks). Creating and revoking need an admin; other roles get the API's FORBIDDEN.
 */
import { gql, unexpectedErrors } from '../api.js';
import type { Page } from '../context.js';
import { h, replace, table } from '../dom.js';
import { fmtTime } from '../format.js';
import { badge, errorNotice, errorsNotice, notice, section } from '../ui.js';

const LIST = `
query ConsoleKeys($revoked: Boolean!) {
  apiKeys(first: 100, includeRevoked: $revoked) { edges { node { id name prefix role createdAt lastUsedAt revokedAt expiresAt } } }
}`;
const CREATE = `mutation ConsoleCreateKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name prefix role } } }`;
const REVOKE = `mutation ConsoleRevokeKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;

interface Key {
  id: string;
  name: string;
  prefix: string;
  role: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  expiresAt: string | null;
}

/** The secret of the key created last, until the page is left (never stored anywhere). */
let justCreated: { name: string; secret: string } | null = null;

export const keysPage: Page = async (ctx, params) => {
  const showRevoked = params.get('revoked') === '1';
  const res = await gql<{ apiKeys: { edges: { node: Key }[] } }>(LIST, { revoked: showRevoked });
  const keys = res.data!.apiKeys.edges.map((e) => e.node);
  const feedback = h('div', { testid: 'key-feedback' });

  const created = justCreated;
  justCreated = null;
  if (created) {
    replace(
      feedback,
      notice(
        'ok',
        h('p', {}, `Key “${created.name}” created. Copy its secret now: it is shown only this once.`),
        h('code', { class: 'secret', testid: 'new-secret' }, created.secret),
      ),
    );
  }

  const create = async (ev: SubmitEvent) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    try {
      const r = await gql<{ createApiKey: { secret: string; apiKey: { name: string } } }>(CREATE, { input: { name: String(f.get('name') ?? ''), role: String(f.get('role') ?? 'MEMBER') } });
      justCreated = { name: r.data!.createApiKey.apiKey.name, secret: r.data!.createApiKey.secret };
      ctx.refresh();
    } catch (err) {
      replace(feedback, errorNotice(err));
    }
  };

  const revokeButton = (k: Key) => {
    const btn = h('button', { class: 'danger', testid: 'revoke' }, 'Revoke');
    btn.addEventListener('click', () => {
      if (btn.dataset.armed !== '1') {
        btn.dataset.armed = '1';
        btn.textContent = 'Confirm revoke';
        btn.setAttribute('data-testid', 'confirm-revoke');
        return;
      }
      btn.disabled = true;
      gql(REVOKE, { id: k.id }).then(
        () => ctx.refresh(),
        (err: unknown) => replace(feedback, errorNotice(err)),
      );
    });
    return btn;
  };

  const rows = keys.map((k) => [
    h('span', { class: 'key-name' }, k.name || '(unnamed)'),
    h('code', {}, `${k.prefix}…`),
    badge(k.role.toLowerCase()),
    fmtTime(k.createdAt),
    fmtTime(k.lastUsedAt),
    k.revokedAt ? badge(`revoked ${fmtTime(k.revokedAt)}`, 'revoked') : k.expiresAt ? `expires ${fmtTime(k.expiresAt)}` : badge('active'),
    k.revokedAt ? null : revokeButton(k),
  ]);

  return h(
    'div',
    { testid: 'page-keys' },
    section(
      'API keys',
      feedback,
      errorsNotice(unexpectedErrors(res)),
      h(
        'form',
        { class: 'controls', onsubmit: (ev) => void create(ev), testid: 'create-key' },
        h('input', { name: 'name', placeholder: 'name, e.g. ci-pipeline', autocomplete: 'off' }),
        h('select', { name: 'role' }, ...['MEMBER', 'FINANCE', 'ADMIN'].map((r) => h('option', { value: r }, r.toLowerCase()))),
        h('button', { type: 'submit' }, 'Create key'),
      ),
      h('p', {}, h('a', { href: showRevoked ? '#/keys' : '#/keys?revoked=1' }, showRevoked ? 'hide revoked keys' : 'show revoked keys')),
      table(['name', 'prefix', 'role', 'created', 'last used', 'state', ''], rows, 'key-table'),
    ),
  );
};
