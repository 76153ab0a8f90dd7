/** Object types: anomaly and Grafana alerts. */
import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { PageInfo } from '../common.js';

@ObjectType()
export class Alert {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  kind!: string;

  @Field(() => String)
  metric!: string;

  @Field(() => String, { description: 'info | warning | critical' })
  severity!: string;

  @Field(() => String, { description: 'open | acknowledged | resolved' })
  status!: string;

  @Field(() => String, { description: 'tollgate | grafana' })
  source!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String, { description: 'Details as a JSON document.' })
  detailsJson!: string;

  @Field(() => DateTimeResolver)
  openedAt!: Date;

  @Field(() => DateTimeResolver)
  updatedAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true })
  acknowledgedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  resolvedAt!: Date | null;
}

@ObjectType()
export class AlertEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Alert)
  node!: Alert;
}

@ObjectType()
export class AlertConnection {
  @Field(() => [AlertEdge])
  edges!: AlertEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
