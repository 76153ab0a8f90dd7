/**
 * Who is calling: src/identity's one principal type (resolved once per request by its
 * `authenticateBearer` and put in the GraphQL context); the auth checker and tenant scoping
 * are pure functions of it.
 */
export { roles, actorOf, type Principal, type Role } from '../../../src/identity/index.js';
