/**
 * Keyed rows that persist between refreshes: a row made once per key is updated in place
 * (so a button under the pointer stays the same element while the figures change), rows of
 * keys gone are removed, and the order follows the items'.
 */

/** Make `el` with class `className` (and text), appended to `parent` when given. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent?: HTMLElement,
  text?: string
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) {
    el.className = className;
  }
  if (text !== undefined) {
    el.textContent = text;
  }
  parent?.appendChild(el);
  return el;
}

/** Set `el`'s text, touching the page only when it changed. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) {
    el.textContent = text;
  }
}

/** Children of `parent` for `items`, one per `keyOf(item)`: made by `make` the first time,
 * then given to `update` at every call. */
export function syncRows<T, E extends HTMLElement>(
  parent: HTMLElement,
  items: T[],
  keyOf: (item: T) => string,
  make: (item: T) => E,
  update: (el: E, item: T) => void
): void {
  const existing = new Map<string, E>();
  for (const child of Array.from(parent.children)) {
    const key = (child as HTMLElement).dataset.key;
    if (key !== undefined) {
      existing.set(key, child as E);
    }
  }
  const wanted = new Set(items.map(keyOf));
  for (const [key, el] of existing) {
    if (!wanted.has(key)) {
      el.remove();
    }
  }
  let previous: Element | null = null;
  for (const item of items) {
    const key = keyOf(item);
    let el = existing.get(key);
    if (el === undefined) {
      el = make(item);
      el.dataset.key = key;
    }
    update(el, item);
    const next: Element | null = previous ? previous.nextElementSibling : parent.firstElementChild;
    if (next !== el) {
      parent.insertBefore(el, next);
    }
    previous = el;
  }
}
