import { Authorized, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { MONEY } from '../../auth/checker.js';
import type { ApiContext } from '../../context.js';
import { Plan, PriceComponentType } from '../types.js';
import { toPriceComponent } from './mappers.js';

@Resolver(() => Plan)
export class PlanResolver {
  @Authorized(...MONEY)
  @FieldResolver(() => [PriceComponentType], { nullable: true, description: 'Prices in effect now (admin, finance, platform).' })
  async priceComponents(@Root() plan: Plan, @Ctx() ctx: ApiContext): Promise<PriceComponentType[]> {
    const rows = await ctx.loaders.priceComponents.load(plan.id);
    return rows.map(toPriceComponent);
  }
}
