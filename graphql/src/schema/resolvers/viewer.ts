import { Authorized, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { requirePrincipal, type ApiContext } from '../../context.js';
import { RoleEnum } from '../common.js';
import { Tenant, User, Viewer } from '../types.js';
import { toTenant, toUser } from './mappers.js';

@Resolver(() => Viewer)
export class ViewerResolver {
  @Authorized()
  @Query(() => Viewer, { description: 'The authenticated principal.' })
  viewer(@Ctx() ctx: ApiContext): Viewer {
    const p = requirePrincipal(ctx);
    return Object.assign(new Viewer(), { kind: p.kind, id: p.id, role: p.role as RoleEnum, tenantId: p.tenantId });
  }

  @FieldResolver(() => Tenant, { nullable: true, description: "The principal's own tenant." })
  async tenant(@Root() viewer: Viewer, @Ctx() ctx: ApiContext): Promise<Tenant | null> {
    if (!viewer.tenantId) return null;
    const row = await ctx.loaders.tenant.load(viewer.tenantId);
    return row ? toTenant(row) : null;
  }

  @FieldResolver(() => User, { nullable: true, description: 'The user behind a JWT principal (null for API keys).' })
  async user(@Root() viewer: Viewer, @Ctx() ctx: ApiContext): Promise<User | null> {
    if (viewer.kind !== 'user' || !viewer.tenantId) return null;
    const row = await ctx.loaders.member.load(`${viewer.tenantId}|${viewer.id}`);
    return row ? toUser(row) : null;
  }
}
