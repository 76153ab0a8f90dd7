/**
 * Usage tags: the one owner of their rules, for every producer of usage (inference request
 * parameters `tag.<key>`, the platform usage import). Tags drive cost attribution by tag and
 * reach finance exports, so both producers store the same shape.
 */
import { z } from 'zod';
import { badInput, isWellFormed, toWellFormed, truncateCodePoints } from '../shared/index.js';

export const MAX_TAGS = 16;
/** Key characters: letters, digits and `_ . : / -`, 1–64 of them (safe in SQL map keys, CSV headers and URLs). */
export const TAG_KEY_PATTERN = /^[A-Za-z0-9_.:/-]{1,64}$/;
/** Longest value, in UTF-16 units (a cut never splits a surrogate pair). */
export const MAX_TAG_VALUE_LENGTH = 256;
/** The inference parameter prefix that marks a tag. */
export const TAG_PARAMETER_PREFIX = 'tag.';

/**
 * Tags of an inference request, lenient like the rest of its metadata: keys outside the key
 * rule and tags past the 16th are ignored, long values cut to 256 UTF-16 units. Broken UTF-16
 * is refused (400): ClickHouse would refuse it and stall metering for every tenant.
 */
export function tagsFromParameters(parameters: Readonly<Record<string, unknown>>): Record<string, string> {
  const tags: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(parameters)) {
    if (n >= MAX_TAGS || !k.startsWith(TAG_PARAMETER_PREFIX)) continue;
    const value = String(v);
    if (!isWellFormed(k) || !isWellFormed(value)) throw badInput(`parameter "${toWellFormed(k)}": tag keys and values must be well-formed Unicode (no lone surrogates)`);
    const key = k.slice(TAG_PARAMETER_PREFIX.length);
    if (!TAG_KEY_PATTERN.test(key)) continue;
    tags[key] = truncateCodePoints(value, MAX_TAG_VALUE_LENGTH);
    n++;
  }
  return tags;
}

/** Tags of an imported usage row, strict: a file with a bad tag is refused whole (the import is all or nothing). */
export const importedTagsSchema = z
  .record(
    z.string().regex(TAG_KEY_PATTERN, 'tag keys: letters, digits, _ . : / -, at most 64'),
    z.string().max(MAX_TAG_VALUE_LENGTH, `tag values: at most ${MAX_TAG_VALUE_LENGTH} UTF-16 units`).refine(isWellFormed, 'must be well-formed Unicode (no lone surrogates)'),
  )
  .refine((t) => Object.keys(t).length <= MAX_TAGS, `at most ${MAX_TAGS} tags`);
