/** Object types: tenant webhook endpoints and their delivery log. */
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';

@ObjectType({ description: 'Where Tollgate posts signed events (Standard Webhooks). The secret is shown only on creation and rotation.' })
export class WebhookEndpoint {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  url!: string;

  @Field(() => [String], { description: 'alert.opened | alert.resolved | quota.threshold' })
  events!: string[];

  @Field(() => Boolean)
  active!: boolean;

  @Field(() => String)
  description!: string;

  @Field(() => String, { nullable: true, description: 'Why it was disabled: by an admin, a 410 answer, or failing for 5 days.' })
  disabledReason!: string | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'First failed attempt since the last success.' })
  failingSince!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'After a rotation: until then the previous signing key also signs (a second signature).' })
  rotationOverlapEndsAt!: Date | null;

  @Field(() => DateTimeResolver)
  createdAt!: Date;
}

@ObjectType()
export class WebhookEndpointWithSecret {
  @Field(() => WebhookEndpoint)
  endpoint!: WebhookEndpoint;

  @Field(() => String, { description: 'whsec_… — shown once; store it to verify signatures.' })
  secret!: string;
}

@ObjectType()
export class WebhookAttempt {
  @Field(() => Int)
  attempt!: number;

  @Field(() => DateTimeResolver)
  startedAt!: Date;

  @Field(() => Int, { nullable: true })
  statusCode!: number | null;

  @Field(() => Int, { nullable: true })
  latencyMs!: number | null;

  @Field(() => String, { nullable: true })
  error!: string | null;
}

@ObjectType()
export class WebhookDelivery {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The webhook-id header (the same on every attempt).' })
  messageId!: string;

  @Field(() => String)
  eventType!: string;

  @Field(() => String, { description: 'pending | succeeded | failed' })
  status!: string;

  @Field(() => Int)
  attempts!: number;

  @Field(() => DateTimeResolver, { nullable: true })
  nextAttemptAt!: Date | null;

  @Field(() => Int, { nullable: true })
  lastStatusCode!: number | null;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  @Field(() => [WebhookAttempt])
  log!: WebhookAttempt[];
}
