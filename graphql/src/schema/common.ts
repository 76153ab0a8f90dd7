/** Shared enums, inputs and Relay plumbing. */
import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { badInput } from '../../../src/shared/index.js';

export enum RoleEnum {
  MEMBER = 'member',
  ADMIN = 'admin',
  FINANCE = 'finance',
  PLATFORM = 'platform',
}
registerEnumType(RoleEnum, { name: 'Role', description: 'member, admin and finance act within one tenant; platform operators may name a tenant.' });

export enum KeyRoleEnum {
  MEMBER = 'member',
  ADMIN = 'admin',
  FINANCE = 'finance',
}
registerEnumType(KeyRoleEnum, { name: 'ApiKeyRole' });

@InputType({ description: 'A half-open time range [from, to).' })
export class TimeRangeInput {
  @Field(() => DateTimeResolver)
  from!: Date;

  @Field(() => DateTimeResolver)
  to!: Date;
}

/** Checks a range: ordered and at most `maxSpanMs` long. */
export function checkRange(range: TimeRangeInput, maxSpanMs: number, what: string): { from: Date; to: Date } {
  const from = range.from.getTime();
  const to = range.to.getTime();
  if (!(to > from)) throw badInput('range.to must be after range.from');
  if (to - from > maxSpanMs) throw badInput(`${what}: range spans more than ${Math.round(maxSpanMs / 3_600_000)} hours`, { maxSpanHours: Math.round(maxSpanMs / 3_600_000) });
  return { from: range.from, to: range.to };
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/** Opaque keyset cursors: base64url of JSON [sortValue, id]. */
export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined, arity: number): (string | number)[] | null {
  if (cursor === null || cursor === undefined) return null;
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string' || typeof p === 'number')) return parts;
  } catch {
    // fall through
  }
  throw badInput('invalid cursor');
}
