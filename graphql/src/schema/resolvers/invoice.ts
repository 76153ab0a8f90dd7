import { Arg, Authorized, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { isUuid } from '../../../../src/db/index.js';
import { notFound } from '../../../../src/shared/index.js';
import { getInvoice, listInvoices, type Invoice as DomainInvoice } from '../../../../src/invoices/index.js';
import { resolveTenant, type ApiContext } from '../../context.js';
import { decodeCursor, encodeCursor } from '../common.js';
import { PageSizeScalar } from '../scalars.js';
import { CreditNote, Invoice, InvoiceConnection, InvoiceLine } from '../types.js';

function toInvoice(r: DomainInvoice): Invoice {
  return Object.assign(new Invoice(), r);
}

@Resolver(() => Invoice)
export class InvoiceResolver {
  @Authorized()
  @Query(() => InvoiceConnection, { description: "The tenant's invoices, newest period first. Amounts need admin, finance or platform." })
  async invoices(
    @Arg('first', () => PageSizeScalar) first: number,
    @Arg('after', () => String, { nullable: true }) afterCursor: string | null,
    @Arg('tenantId', () => ID, { nullable: true, description: 'Platform operators only.' }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<InvoiceConnection> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const after = decodeCursor(afterCursor, 2);
    if (after && !isUuid(after[1])) throw notFound('invalid cursor');
    const rows = await listInvoices(ctx.services, { tenantId, limit: first, after: after ? { periodStart: String(after[0]), id: String(after[1]) } : null });
    const page = rows.slice(0, first);
    const edges = page.map((r) => ({ cursor: encodeCursor([r.cursorTs, r.id]), node: toInvoice(r) }));
    return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  @Authorized()
  @Query(() => Invoice, { description: 'One invoice of your tenant (another tenant\'s reads as NOT_FOUND).' })
  async invoice(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<Invoice> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const row = isUuid(id) ? await getInvoice(ctx.services, { tenantId, id }) : null;
    if (!row) throw notFound('invoice not found');
    return toInvoice(row);
  }

  @FieldResolver(() => [InvoiceLine])
  async lines(@Root() invoice: Invoice, @Ctx() ctx: ApiContext): Promise<InvoiceLine[]> {
    return (await ctx.loaders.invoiceLines.load(invoice.id)).map((l) => Object.assign(new InvoiceLine(), l));
  }

  @FieldResolver(() => [CreditNote])
  async creditNotes(@Root() invoice: Invoice, @Ctx() ctx: ApiContext): Promise<CreditNote[]> {
    return (await ctx.loaders.creditNotes.load(invoice.id)).map((n) => Object.assign(new CreditNote(), n));
  }
}
