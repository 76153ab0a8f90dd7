/**
 * The tenant console: a single page over Tollgate's GraphQL API. Sign-in takes an API key or a
 * JWT and keeps it in sessionStorage only; routes live in the URL's fragment (#/usage, …),
 * which never carries the credential.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiError, credential, gql, signIn, signOut } from './api.js';
import type { Page, PageContext, Viewer } from './context.js';
import { h, replace } from './dom.js';
import { errorNotice, notice } from './ui.js';
import { usagePage } from './pages/usage.js';
import { quotasPage } from './pages/quotas.js';
import { alertsPage } from './pages/alerts.js';
import { keysPage } from './pages/keys.js';
import { invoicesPage } from './pages/invoices.js';

const VIEWER = `query ConsoleViewer {
  viewer { kind role tenantId user { name } tenant { id name displayName currency timezone status plan { name code } period { start end } } }
}`;

const pages: Record<string, { title: string; page: Page }> = {
  usage: { title: 'Usage', page: usagePage },
  quotas: { title: 'Quotas', page: quotasPage },
  alerts: { title: 'Alerts', page: alertsPage },
  invoices: { title: 'Invoices', page: invoicesPage },
  keys: { title: 'API keys', page: keysPage },
};

const root = document.getElementById('app')!;
let viewer: Viewer | null = null;

function route(): { name: string; params: URLSearchParams } {
  const m = /^#\/([a-z]+)(?:\?(.*))?$/.exec(location.hash);
  const name = m?.[1] && m[1] in pages ? m[1] : 'usage';
  return { name, params: new URLSearchParams(m?.[2] ?? '') };
}

function signInForm(message?: HTMLElement): HTMLElement {
  return h(
    'main',
    { class: 'signin', testid: 'signin' },
    h('h1', {}, 'Tollgate console'),
    message ?? null,
    h(
      'form',
      {
        onsubmit: (ev) => {
          ev.preventDefault();
          const value = String(new FormData(ev.target as HTMLFormElement).get('credential') ?? '').trim();
          if (!value) return;
          signIn(value);
          void start();
        },
      },
      h('label', { for: 'credential' }, 'API key (tg_…) or JWT'),
      h('input', { id: 'credential', name: 'credential', type: 'password', autocomplete: 'off', placeholder: 'tg_…' }),
      h('button', { type: 'submit' }, 'Sign in'),
    ),
    h('p', { class: 'muted' }, 'The credential stays in this tab (session storage) and is sent only to this server’s /graphql.'),
  );
}

function shell(v: Viewer, current: string, body: HTMLElement): HTMLElement {
  const who = v.user?.name ?? (v.kind === 'api_key' ? 'API key' : v.kind);
  return h(
    'div',
    { class: 'shell' },
    h(
      'header',
      { class: 'top' },
      h('strong', { class: 'brand' }, 'Tollgate'),
      h('span', { class: 'tenant', testid: 'tenant-name' }, v.tenant ? v.tenant.displayName || v.tenant.name : 'platform'),
      v.tenant?.plan ? h('span', { class: 'muted' }, `plan ${v.tenant.plan.name}`) : null,
      h('span', { class: 'spacer' }),
      h('span', { class: 'muted', testid: 'whoami' }, `${who} · ${v.role.toLowerCase()}`),
      h(
        'button',
        {
          class: 'link',
          testid: 'signout',
          onclick: () => {
            signOut();
            viewer = null;
            location.hash = '';
            void start();
          },
        },
        'Sign out',
      ),
    ),
    h('nav', { class: 'tabs' }, ...Object.entries(pages).map(([k, p]) => h('a', { href: `#/${k}`, class: k === current ? 'active' : '', testid: `nav-${k}` }, p.title))),
    h('main', { class: 'content' }, body),
  );
}

let renderSeq = 0;
async function render(): Promise<void> {
  if (!viewer) return;
  const seq = ++renderSeq;
  const { name, params } = route();
  const entry = pages[name]!;
  document.title = `${entry.title} · Tollgate`;
  const loading = h('p', { class: 'muted', testid: 'loading' }, 'Loading…');
  replace(root, shell(viewer, name, loading));
  const ctx: PageContext = { viewer, refresh: () => void render() };
  let body: HTMLElement;
  try {
    body = await entry.page(ctx, params);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') {
      signOut();
      viewer = null;
      replace(root, signInForm(notice('error', `Signed out: ${err.message}`)));
      return;
    }
    body = errorNotice(err);
  }
  if (seq !== renderSeq) return; // a newer navigation won
  loading.replaceWith(body);
}

async function start(): Promise<void> {
  if (!credential()) {
    replace(root, signInForm());
    return;
  }
  replace(root, h('p', { class: 'muted' }, 'Signing in…'));
  try {
    const res = await gql<{ viewer: Viewer }>(VIEWER);
    viewer = res.data!.viewer;
    await render();
  } catch (err) {
    signOut();
    replace(root, signInForm(errorNotice(err)));
  }
}

window.addEventListener('hashchange', () => void render());
void start();
