/**
 * The one `graphql` module instance. graphql 16 has no "exports" map: Node's ESM loader (used by
 * type-graphql, Apollo and graphql-scalars) resolves it to the CommonJS build, while bundler-style
 * resolvers (vitest/vite) pick the .mjs build for our own files — two copies, and `instanceof`
 * checks (scalars, GraphQLError) fail across them. Requiring it here pins everyone to the one
 * Node loads. Import graphql values from this file, types from 'graphql' directly.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const graphql = require('graphql') as typeof import('graphql');

export const { GraphQLError, GraphQLScalarType, Kind, Lexer, Source, TokenKind, printSchema, lexicographicSortSchema, getArgumentValues } = graphql;
