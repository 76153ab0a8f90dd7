/** Custom scalars: money as exact integer strings, bounded page sizes (rejected before execution). */
import { GraphQLScalarType, Kind } from '../graphql-runtime.js';

/** Integer micro-units of the currency, as a decimal string (exact beyond 2^53; never a float). */
export const MicrosScalar = new GraphQLScalarType({
  name: 'Micros',
  description: 'Integer micro-units of the currency (1 USD = 1,000,000), as a decimal string.',
  serialize(value) {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
    throw new TypeError('Micros must be an integer');
  },
  parseValue(value) {
    if (typeof value === 'string' && /^-?\d{1,30}$/.test(value)) return BigInt(value);
    throw new TypeError('Micros must be an integer string');
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING && /^-?\d{1,30}$/.test(ast.value)) return BigInt(ast.value);
    throw new TypeError('Micros must be an integer string');
  },
});

/** A decimal amount of micros with up to 6 decimal places (unit prices), as a string. */
export const DecimalMicrosScalar = new GraphQLScalarType({
  name: 'DecimalMicros',
  description: 'A non-negative decimal amount of micro-units (unit prices may be fractional micros), as a string.',
  serialize(value) {
    if (typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)) return value;
    if (typeof value === 'bigint') return value.toString();
    throw new TypeError('DecimalMicros must be a decimal string');
  },
});

export const MAX_PAGE_SIZE = 100;

function pageSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw new TypeError(`page size must be an integer between 1 and ${MAX_PAGE_SIZE}`);
  }
  return value;
}

/** `first` of a Relay connection: 1..100, checked during validation/variable coercion, so huge pages never execute. */
export const PageSizeScalar = new GraphQLScalarType({
  name: 'PageSize',
  description: `A page size between 1 and ${MAX_PAGE_SIZE}.`,
  serialize: pageSize,
  parseValue: pageSize,
  parseLiteral(ast) {
    if (ast.kind !== Kind.INT) throw new TypeError('page size must be an integer');
    return pageSize(Number(ast.value));
  },
});
