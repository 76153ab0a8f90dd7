/**
 * The only way the console builds DOM: elements from a tag, a few allow-listed attributes and
 * children that are nodes or *text*. Strings always become text nodes (textContent), never
 * markup, so a tenant-supplied model name, tag value or alert title cannot inject HTML. The page
 * also runs under `require-trusted-types-for 'script'`, which makes any innerHTML assignment throw.
 */
export type Child = Node | string | number | bigint | null | undefined | false;

export interface Attrs {
  class?: string;
  id?: string;
  type?: string;
  name?: string;
  value?: string;
  placeholder?: string;
  title?: string;
  /** Only in-app (#…) or same-origin relative links. */
  href?: string;
  target?: string;
  rel?: string;
  for?: string;
  disabled?: boolean;
  checked?: boolean;
  selected?: boolean;
  autocomplete?: string;
  max?: string;
  testid?: string;
  onclick?: (ev: MouseEvent) => void;
  onchange?: (ev: Event) => void;
  onsubmit?: (ev: SubmitEvent) => void;
}

const SAFE_HREF = /^(#|\/(?!\/))/;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs) as [keyof Attrs, unknown][]) {
    if (v === undefined || v === null || v === false) continue;
    switch (k) {
      case 'onclick':
        el.addEventListener('click', v as EventListener);
        break;
      case 'onchange':
        el.addEventListener('change', v as EventListener);
        break;
      case 'onsubmit':
        el.addEventListener('submit', v as EventListener);
        break;
      case 'class':
        el.className = String(v);
        break;
      case 'testid':
        el.setAttribute('data-testid', String(v));
        break;
      case 'href':
        if (!SAFE_HREF.test(String(v))) throw new Error(`refusing link ${String(v)}`);
        el.setAttribute('href', String(v));
        break;
      case 'value':
        (el as unknown as { value: string }).value = String(v);
        break;
      case 'disabled':
      case 'checked':
      case 'selected':
        (el as unknown as Record<string, boolean>)[k] = true;
        break;
      default:
        el.setAttribute(k, String(v));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

export function table(headers: string[], rows: Child[][], testid?: string): HTMLTableElement {
  return h(
    'table',
    { class: 'grid', testid },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}
