/**
 * The dependency rule (run by `npm run lint`, inside `npm test`): three floors, modules
 * entered through their public index.ts, no cycles, no devDependencies in production code.
 *   app/                          wires; may import anything
 *   inference/ graphql/ otlp/     edges: translate HTTP/GraphQL/OTLP into domain calls
 *   src/<module>/                 the domain: every table, query and business rule
 * Run with scripts/depcruise.mjs (dependency-cruiser's own CLI refuses Node 20; its API runs).
 * @type {import('dependency-cruiser').IConfiguration}
 */
const EDGE = '(inference|graphql|otlp)';
const PRODUCTION = '^(app|src|inference|graphql|otlp)/';

module.exports = {
  forbidden: [
    {
      name: 'domain-imports-edge-or-app',
      comment: 'src/ owns tables and rules; it never imports an edge (inference/, graphql/, otlp/) or app/. Pass what it needs in (a callback, a contract type) instead.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: `^(app|${EDGE})/` },
    },
    {
      name: 'edge-imports-app',
      comment: 'Edges translate; only app/ wires. An edge never imports app/.',
      severity: 'error',
      from: { path: `^${EDGE}/` },
      to: { path: '^app/' },
    },
    {
      name: 'edge-imports-other-edge',
      comment: 'Edges do not build on each other; what two edges share belongs in src/.',
      severity: 'error',
      from: { path: `^${EDGE}/` },
      to: { path: `^${EDGE}/`, pathNot: '^$1/' },
    },
    {
      name: 'module-entered-not-through-index',
      comment: 'Code outside src/<module>/ imports only src/<module>/index.ts (export what others need there).',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/.', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'module-entered-not-through-index-from-app-or-edge',
      comment: 'app/ and the edges import only src/<module>/index.ts.',
      severity: 'error',
      from: { path: '^(app|bin|scripts|bench|inference|graphql|otlp)/' },
      to: { path: '^src/[^/]+/.', pathNot: '^src/[^/]+/index\\.ts$' },
    },
    {
      name: 'module-entered-not-through-index-from-tests',
      comment: "Tests import a module through its index.ts; only that module's own test folder (test/<module>/) may reach its internals.",
      severity: 'error',
      from: { path: '^test/([^/]+)/' },
      to: { path: '^src/[^/]+/.', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'edge-entered-not-through-index',
      comment: 'Outside an edge (app/, other tests) only <edge>/src/index.ts is imported; test/<edge>/ may reach its internals.',
      severity: 'error',
      from: { pathNot: [`^${EDGE}/`, `^test/${EDGE}/`] },
      to: { path: `^${EDGE}/src/.`, pathNot: `^${EDGE}/src/index\\.ts$` },
    },
    {
      name: 'no-circular',
      comment: 'ESM import cycles can leave a binding undefined while modules initialise; break the cycle (move the shared piece down).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-dev-dependencies-in-production',
      comment: 'The image runs after `npm prune --omit=dev`: production code may not import devDependencies.',
      severity: 'error',
      from: { path: PRODUCTION },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a broken build or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^inference/models/', '^dist/', '^node_modules/', '^\\.state/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], mainFields: ['module', 'main', 'types', 'typings'] },
  },
};
