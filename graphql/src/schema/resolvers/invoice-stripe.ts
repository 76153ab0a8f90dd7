/** Stripe fields of Invoice: the hosted invoice URL (money roles) and the sync state (finance, platform). Batched per request. */
import { Authorized, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { MONEY } from '../../auth/checker.js';
import type { ApiContext } from '../../context.js';
import { Invoice } from '../types/invoice.js';
import { InvoiceStripeSync } from '../types/invoice-stripe.js';

const FINANCE = ['finance', 'platform'] as const;

@Resolver(() => Invoice)
export class InvoiceStripeResolver {
  @Authorized(...MONEY)
  @FieldResolver(() => String, { nullable: true, description: "Stripe's hosted page where the invoice is paid (once sent to Stripe)." })
  async hostedInvoiceUrl(@Root() inv: Invoice, @Ctx() ctx: ApiContext): Promise<string | null> {
    return (await ctx.loaders.stripeInvoice.load(inv.id))?.hostedInvoiceUrl ?? null;
  }

  @Authorized(...FINANCE)
  @FieldResolver(() => InvoiceStripeSync, { nullable: true, description: 'Stripe ids, sync state and last sync error (null: never sent to Stripe).' })
  async stripe(@Root() inv: Invoice, @Ctx() ctx: ApiContext): Promise<InvoiceStripeSync | null> {
    const s = await ctx.loaders.stripeInvoice.load(inv.id);
    return s ? Object.assign(new InvoiceStripeSync(), s) : null;
  }
}
