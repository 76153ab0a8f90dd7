import { describe, expect, it } from 'vitest';
import { importedTagsSchema, tagsFromParameters, MAX_TAGS } from '../../src/usage/index.js';

describe('usage tag rules (one owner for inference and import)', () => {
  it('inference keeps well-shaped tag parameters, ignores other parameters and keys outside the key rule', () => {
    const tags = tagsFromParameters({ 'tag.team': 'search', 'tag.env:region/zone-1': 'eu', 'tag.has space': 'x', 'tag.': 'empty', [`tag.${'k'.repeat(65)}`]: 'long', other: 'y', 'tag.n': 3 });
    expect(tags).toEqual({ team: 'search', 'env:region/zone-1': 'eu', n: '3' });
  });

  it('inference keeps at most 16 tags and cuts values to 256 UTF-16 units without splitting a surrogate pair', () => {
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`tag.k${i}`, 'v']));
    expect(Object.keys(tagsFromParameters(many))).toHaveLength(MAX_TAGS);
    expect(tagsFromParameters({ 'tag.e': '😀'.repeat(300) }).e).toBe('😀'.repeat(128));
    expect(tagsFromParameters({ 'tag.e': `x${'😀'.repeat(300)}` }).e).toBe(`x${'😀'.repeat(127)}`);
  });

  it('inference refuses broken UTF-16 with a 400', () => {
    expect(() => tagsFromParameters({ 'tag.x': 'a\ud800' })).toThrow(/well-formed Unicode/);
  });

  it('the import accepts exactly what inference would store unchanged, and refuses the rest', () => {
    const ok = { team: 'search', 'env:region/zone-1': 'eu', e: '😀'.repeat(128) };
    expect(importedTagsSchema.parse(ok)).toEqual(ok);
    expect(tagsFromParameters(Object.fromEntries(Object.entries(ok).map(([k, v]) => [`tag.${k}`, v])))).toEqual(ok);
    expect(importedTagsSchema.safeParse({ 'has space': 'x' }).success).toBe(false);
    expect(importedTagsSchema.safeParse({ e: 'x'.repeat(257) }).success).toBe(false);
    expect(importedTagsSchema.safeParse({ x: 'a\ud800' }).success).toBe(false);
    expect(importedTagsSchema.safeParse(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))).success).toBe(false);
  });
});
