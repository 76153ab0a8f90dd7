/** Object types: anomaly and Grafana alerts. */
import { Field, Float, ID, ObjectType } from 'type-graphql';
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

  @Field(() => String, {
    description:
      'What happened, for a person: for anomaly alerts the detector\'s sentence ("errors 12.4 % vs expected 0.8 % ± 0.5 % for Tuesdays 14:00, last 4 weeks"). Spend amounts are left out for members.',
  })
  explanation!: string;

  @Field(() => String, { nullable: true, description: "Anomaly alerts: the model whose series it is; null for the tenant's whole traffic and other kinds." })
  model!: string | null;

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

@ObjectType({ description: "One hourly bucket of an anomaly series: the value and the detector's expected band." })
export class AnomalyPoint {
  @Field(() => DateTimeResolver, { description: 'Start of the hour.' })
  bucket!: Date;

  @Field(() => Float)
  value!: number;

  @Field(() => Float, { description: 'Expected value (the baseline).' })
  expected!: number;

  @Field(() => Float, { description: 'Lower edge of the band: values inside [lower, upper] are not anomalous.' })
  lower!: number;

  @Field(() => Float)
  upper!: number;

  @Field(() => Float, { description: '0..1; 0.5 at the edge of the band (in the direction that matters for the metric).' })
  score!: number;

  @Field(() => Boolean)
  anomalous!: boolean;
}

@ObjectType()
export class AnomalySeries {
  @Field(() => String, { description: 'requests | error_ratio | latency_p95 (ms) | spend (micros of the plan currency) | quota_burn (share of a monthly quota per hour)' })
  metric!: string;

  @Field(() => String, { nullable: true, description: "null: the tenant's whole traffic." })
  model!: string | null;

  @Field(() => [AnomalyPoint], { description: 'Scored buckets in time order; hours not scored yet (or without a baseline) are absent.' })
  points!: AnomalyPoint[];
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
