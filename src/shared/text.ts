/** String helpers for client-chosen text that ends up in ClickHouse rows (ClickHouse rejects broken UTF-16). */

/** At most `max` UTF-16 code units of `s`, never ending in half of a surrogate pair. */
export function truncateCodePoints(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  // A high surrogate as the last unit kept would leave its pair's low half behind.
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** True when `s` holds no lone surrogate (Node 20's String.prototype.isWellFormed). */
export function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** `s` with every lone surrogate replaced by U+FFFD (for names that are only echoed or labelled). */
export function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
