/** Tenant webhook endpoints (admin, platform): create, list, rotate, disable, test, delivery log. Rules live in src/webhooks. */
import { Arg, Authorized, Ctx, Field, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import { isUuid } from '../../../../src/db/index.js';
import { notFound } from '../../../../src/shared/index.js';
import { disableEndpoint, listDeliveries, listEndpoints, recordTestEvent, registerEndpoint, rotateEndpointSecret, type WebhookDelivery as DeliveryRow, type WebhookEndpoint as EndpointRow } from '../../../../src/webhooks/index.js';
import { ADMIN } from '../../auth/checker.js';
import { actorOf, resolveTenant, scoped, type ApiContext } from '../../context.js';
import { PageSizeScalar } from '../scalars.js';
import { WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret } from '../types.js';

@InputType()
class CreateWebhookEndpointInput {
  @Field(() => String, { description: 'http(s) URL of a public host (checked after DNS resolution).' })
  url!: string;

  @Field(() => [String], { description: 'Event types: alert.opened, alert.resolved, quota.threshold.' })
  events!: string[];

  @Field(() => String, { defaultValue: '' })
  description!: string;

  @Field(() => ID, { nullable: true, description: 'Platform operators only.' })
  tenantId?: string | null;
}

const toEndpoint = ({ previousSecretExpiresAt, ...e }: EndpointRow) => Object.assign(new WebhookEndpoint(), { ...e, rotationOverlapEndsAt: previousSecretExpiresAt });
const toDelivery = (d: DeliveryRow) => Object.assign(new WebhookDelivery(), { ...d, log: d.log.map((a) => Object.assign(new WebhookAttempt(), a)) });

function endpointId(id: string): string {
  if (!isUuid(id)) throw notFound('webhook endpoint not found');
  return id;
}

@Resolver(() => WebhookEndpoint)
export class WebhookResolver {
  @Authorized(...ADMIN)
  @Query(() => [WebhookEndpoint], { description: "The tenant's webhook endpoints (admin, platform)." })
  async webhookEndpoints(@Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<WebhookEndpoint[]> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    return (await scoped(ctx, (c) => listEndpoints(c, { tenantId }))).map(toEndpoint);
  }

  @Authorized(...ADMIN)
  @Query(() => [WebhookDelivery], { description: "An endpoint's deliveries, newest first, each with its attempts (status, latency, error)." })
  async webhookDeliveries(
    @Arg('endpointId', () => ID) id: string,
    @Arg('first', () => PageSizeScalar) first: number,
    @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null,
    @Ctx() ctx: ApiContext,
  ): Promise<WebhookDelivery[]> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    return (await scoped(ctx, (c) => listDeliveries(c, { tenantId, endpointId: endpointId(id), limit: first }))).map(toDelivery);
  }

  @Authorized(...ADMIN)
  @Mutation(() => WebhookEndpointWithSecret, { description: 'Creates an endpoint; its whsec_ secret is returned only here. Refuses private/loopback/metadata targets. Audited.' })
  async createWebhookEndpoint(@Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput, @Ctx() ctx: ApiContext): Promise<WebhookEndpointWithSecret> {
    const tenantId = await resolveTenant(ctx, input.tenantId);
    const actor = actorOf(ctx);
    const allowPrivateTargets = ctx.services.config.WEBHOOK_ALLOW_PRIVATE_TARGETS;
    const r = await scoped(ctx, (c) => registerEndpoint(c, { tenantId, url: input.url, events: input.events, description: input.description, actor, allowPrivateTargets }));
    return Object.assign(new WebhookEndpointWithSecret(), { endpoint: toEndpoint(r.endpoint), secret: r.secret });
  }

  @Authorized(...ADMIN)
  @Mutation(() => WebhookEndpointWithSecret, { description: 'A new secret (returned only here); the old one keeps signing as a second signature for 24 h. Audited.' })
  async rotateWebhookEndpointSecret(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<WebhookEndpointWithSecret> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const actor = actorOf(ctx);
    const r = await scoped(ctx, (c) => rotateEndpointSecret(c, { tenantId, id: endpointId(id), actor }));
    return Object.assign(new WebhookEndpointWithSecret(), { endpoint: toEndpoint(r.endpoint), secret: r.secret });
  }

  @Authorized(...ADMIN)
  @Mutation(() => WebhookEndpoint, { description: 'Disables an endpoint: nothing more is delivered to it. Audited.' })
  async disableWebhookEndpoint(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<WebhookEndpoint> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    const actor = actorOf(ctx);
    return toEndpoint(await scoped(ctx, (c) => disableEndpoint(c, { tenantId, id: endpointId(id), reason: `disabled by ${actor.type} ${actor.id}`, actor })));
  }

  @Authorized(...ADMIN)
  @Mutation(() => ID, { description: 'Queues a webhook.test event to the endpoint (sent by the worker within seconds); returns the delivery id (see webhookDeliveries).' })
  async sendTestWebhook(@Arg('id', () => ID) id: string, @Arg('tenantId', () => ID, { nullable: true }) tenantIdArg: string | null, @Ctx() ctx: ApiContext): Promise<string> {
    const tenantId = await resolveTenant(ctx, tenantIdArg);
    return scoped(ctx, (c) => recordTestEvent(c, { tenantId, endpointId: endpointId(id) }));
  }
}
