/** Object types: invoices, lines and credit notes. Amounts need admin, finance or platform (money). */
import { Authorized, Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { MONEY } from '../../auth/checker.js';
import { DecimalMicrosScalar, MicrosScalar } from '../scalars.js';
import { PageInfo } from '../common.js';

@ObjectType()
export class InvoiceLine {
  @Field(() => Int)
  lineNo!: number;

  @Field(() => String)
  meter!: string;

  @Field(() => String)
  model!: string;

  @Field(() => String)
  description!: string;

  @Field(() => String, { description: 'Decimal quantity, as a string.' })
  quantity!: string;

  @Authorized(...MONEY)
  @Field(() => DecimalMicrosScalar, { nullable: true })
  unitPriceMicros!: string | null;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  amountMicros!: bigint | null;
}

@ObjectType()
export class CreditNote {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  number!: string;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  amountMicros!: bigint | null;

  @Field(() => String)
  currency!: string;

  @Field(() => String)
  reason!: string;

  @Field(() => DateTimeResolver)
  createdAt!: Date;
}

@ObjectType()
export class Invoice {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: 'Set when finalized.' })
  number!: string | null;

  @Field(() => String, { description: 'draft | finalized | void (generating while the period is being priced). Payment is paymentStatus.' })
  status!: string;

  @Field(() => String, { description: 'pending | paid | failed | uncollectible' })
  paymentStatus!: string;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true, description: "The tenant's credit balance applied at finalization." })
  creditAppliedMicros!: bigint | null;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true, description: 'totalMicros − creditAppliedMicros.' })
  amountDueMicros!: bigint | null;

  @Field(() => String, { nullable: true, description: 'Why the invoice was voided.' })
  voidReason!: string | null;

  @Field(() => DateTimeResolver)
  periodStart!: Date;

  @Field(() => DateTimeResolver)
  periodEnd!: Date;

  @Field(() => String)
  currency!: string;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  subtotalMicros!: bigint | null;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  taxMicros!: bigint | null;

  @Authorized(...MONEY)
  @Field(() => MicrosScalar, { nullable: true })
  totalMicros!: bigint | null;

  @Field(() => DateTimeResolver, { nullable: true })
  finalizedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  paidAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  voidedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  dueAt!: Date | null;

  // lines, creditNotes: field resolvers (batched).
}

@ObjectType()
export class InvoiceEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Invoice)
  node!: Invoice;
}

@ObjectType()
export class InvoiceConnection {
  @Field(() => [InvoiceEdge])
  edges!: InvoiceEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
