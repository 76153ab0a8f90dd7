import { Field, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';

@ObjectType({ description: "An invoice's collection through Stripe (finance and platform)." })
export class InvoiceStripeSync {
  @Field(() => String, { nullable: true })
  stripeInvoiceId!: string | null;

  @Field(() => String, { nullable: true })
  stripeCustomerId!: string | null;

  @Field(() => String, { description: 'pending | syncing | synced | failed' })
  syncState!: string;

  @Field(() => String, { nullable: true, description: 'The step the sync reached: customer | invoice | items | finalize | done' })
  syncStep!: string | null;

  @Field(() => Int)
  itemsSynced!: number;

  @Field(() => Int)
  attempts!: number;

  @Field(() => String, { nullable: true, description: 'The last sync error (cleared by a successful sync).' })
  lastError!: string | null;

  @Field(() => DateTimeResolver, { nullable: true })
  lastAttemptAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  syncedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'What Stripe last reported: draft | open | paid | void | uncollectible' })
  stripeStatus!: string | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'First failed payment of the current unpaid run (dunning counts from it).' })
  paymentFailedAt!: Date | null;
}
