/**
 * The depth limit for introspection. graphql-armor's depth rule skips `__schema`
 * (`ignoreIntrospection`), because the standard introspection query (graphql-js's
 * `getIntrospectionQuery`, sent by GraphiQL, Apollo Sandbox and graphql-codegen) is ~21 levels
 * deep only through its `TypeRef` fragment's chain of nine `ofType`s — one small object per level.
 * Within `__schema` and `__type` this rule therefore
 * - allows a chain of `ofType` up to MAX_OF_TYPE levels, not counted as depth;
 * - counts every other field against the same depth limit as any query.
 * Re-entering types (`fields` → `type` → `fields` …, the introspection bomb) is refused by
 * graphql-js's own MaxIntrospectionDepthRule, one of the specified rules Apollo always runs.
 * Other queries are untouched: armor's limit applies to them (and to `__type` as well).
 */
import type { ASTVisitor, FieldNode, SelectionSetNode, ValidationContext } from 'graphql';
import { GraphQLError, Kind } from '../graphql-runtime.js';

/** getIntrospectionQuery nests ofType 9 times by default (typeDepth; older versions 7). */
export const MAX_OF_TYPE = 10;

interface PathState {
  depth: number;
  ofTypeRun: number;
}

export function introspectionDepthRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    const checkSet = (set: SelectionSetNode | undefined, state: PathState, fragments: ReadonlySet<string>): string | undefined => {
      for (const sel of set?.selections ?? []) {
        let problem: string | undefined;
        if (sel.kind === Kind.FIELD) problem = checkField(sel, state, fragments);
        else if (sel.kind === Kind.INLINE_FRAGMENT) problem = checkSet(sel.selectionSet, state, fragments);
        else {
          const name = sel.name.value;
          // Cycles are reported by graphql's NoFragmentCyclesRule; do not follow them here.
          const fragment = fragments.has(name) ? undefined : context.getFragment(name);
          if (fragment) problem = checkSet(fragment.selectionSet, state, new Set(fragments).add(name));
        }
        if (problem) return problem;
      }
      return undefined;
    };
    const checkField = (field: FieldNode, parent: PathState, fragments: ReadonlySet<string>): string | undefined => {
      const ofType = field.name.value === 'ofType';
      const state = { depth: ofType ? parent.depth : parent.depth + 1, ofTypeRun: ofType ? parent.ofTypeRun + 1 : 0 };
      if (state.ofTypeRun > MAX_OF_TYPE) return `introspection: type reference depth (nested ofType) over ${MAX_OF_TYPE} levels`;
      if (state.depth > maxDepth) return `introspection: query depth limit of ${maxDepth} exceeded (ofType levels not counted)`;
      return checkSet(field.selectionSet, state, fragments);
    };
    return {
      Field(node) {
        if (node.name.value !== '__schema' && node.name.value !== '__type') return undefined;
        const problem = checkSet(node.selectionSet, { depth: 1, ofTypeRun: 0 }, new Set());
        if (problem) context.reportError(new GraphQLError(problem, { nodes: [node] }));
        return false; // checked above, including what lies below
      },
    };
  };
}
