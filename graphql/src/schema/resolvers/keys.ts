import { Arg, Args, ArgsType, Authorized, Ctx, Field, FieldResolver, ID, InputType, Mutation, Query, Resolver, Root } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { createApiKey, revokeApiKey } from '../../../../src/keys/index.js';
import { isUuid } from '../../../../src/db/index.js';
import { notFound } from '../../../../src/shared/index.js';
import { ADMIN } from '../../auth/checker.js';
import { actorOf, resolveTenant, scoped, type ApiContext } from '../../context.js';
import { apiKeysPage } from '../../data/pg.js';
import { decodeCursor, encodeCursor, KeyRoleEnum } from '../common.js';
import { PageSizeScalar } from '../scalars.js';
import { ApiKey, ApiKeyConnection, CreateApiKeyPayload, User } from '../types.js';
import { toApiKey, toUser } from './mappers.js';

@ArgsType()
class ApiKeysArgs {
  @Field(() => PageSizeScalar)
  first!: number;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => Boolean, { defaultValue: false })
  includeRevoked!: boolean;

  @Field(() => ID, { nullable: true, description: 'Platform operators only: the tenant to list.' })
  tenantId?: string | null;
}

@InputType()
class CreateApiKeyInput {
  @Field(() => String, { defaultValue: '' })
  name!: string;

  @Field(() => KeyRoleEnum, { defaultValue: KeyRoleEnum.MEMBER })
  role!: KeyRoleEnum;

  @Field(() => DateTimeResolver, { nullable: true })
  expiresAt?: Date | null;

  @Field(() => ID, { nullable: true, description: 'Platform operators only.' })
  tenantId?: string | null;
}

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  @Authorized()
  @Query(() => ApiKeyConnection, { description: "The tenant's API keys, newest first. Secrets are never readable here." })
  async apiKeys(@Args(() => ApiKeysArgs) args: ApiKeysArgs, @Ctx() ctx: ApiContext): Promise<ApiKeyConnection> {
    const tenantId = await resolveTenant(ctx, args.tenantId);
    const after = decodeCursor(args.after, 2);
    if (after && !isUuid(after[1])) throw notFound('invalid cursor');
    const rows = await scoped(ctx, (c) =>
      apiKeysPage(c, { tenantId, limit: args.first, after: after ? { createdAt: String(after[0]), id: String(after[1]) } : null, includeRevoked: args.includeRevoked }),
    );
    const page = rows.slice(0, args.first);
    const edges = page.map((r) => ({ cursor: encodeCursor([r.cursorTs, r.id]), node: toApiKey(r) }));
    return { edges, pageInfo: { hasNextPage: rows.length > args.first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @FieldResolver(() => User, { nullable: true, description: 'The user who created the key (null when created by another key, an operator or the system).' })
  async createdBy(@Root() key: ApiKey, @Ctx() ctx: ApiContext): Promise<User | null> {
    const m = /^user:([0-9a-f-]{36})$/i.exec(key.createdByRef ?? '');
    if (!m) return null;
    const row = await ctx.loaders.member.load(`${key.tenantId}|${m[1]!.toLowerCase()}`);
    return row ? toUser(row) : null;
  }

  @Authorized(...ADMIN)
  @Mutation(() => CreateApiKeyPayload, { description: 'Issues a key. The secret is in this payload only (admin, platform). Audited.' })
  async createApiKey(@Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput, @Ctx() ctx: ApiContext): Promise<CreateApiKeyPayload> {
    const tenantId = await resolveTenant(ctx, input.tenantId);
    const created = await createApiKey(ctx.services, { tenantId, name: input.name, role: input.role, expiresAt: input.expiresAt ?? null, actor: actorOf(ctx) });
    return { apiKey: toApiKey(created.key), secret: created.secret };
  }

  @Authorized(...ADMIN)
  @Mutation(() => ApiKey, { description: 'Revokes a key (idempotent; admin, platform). Audited.' })
  async revokeApiKey(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<ApiKey> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const key = await revokeApiKey(ctx.services, { tenantId, keyId: id, actor: actorOf(ctx) });
    return toApiKey(key);
  }
}
