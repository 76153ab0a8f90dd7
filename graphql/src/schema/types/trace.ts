/** Object types: traces and spans. Guarded fields are nullable so a denial nulls only that field. */
import { Field, ObjectType } from 'type-graphql';
import { SafeIntResolver } from 'graphql-scalars';

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class SpanEvent {
  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'Nanoseconds since the epoch, as a string.' })
  timeUnixNano!: string;
}

// No guarded fields: plain property reads, no middleware chain (hot in large lists).
@ObjectType({ simpleResolvers: true })
export class Attribute {
  @Field(() => String)
  key!: string;

  @Field(() => String)
  value!: string;
}

@ObjectType()
export class Span {
  @Field(() => String)
  traceId!: string;

  @Field(() => String)
  spanId!: string;

  @Field(() => String)
  parentSpanId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String)
  kind!: string;

  @Field(() => String)
  serviceName!: string;

  @Field(() => String, { description: 'Start, nanoseconds since the epoch, as a string.' })
  startTimeUnixNano!: string;

  @Field(() => SafeIntResolver, { description: 'Nanoseconds.' })
  durationNs!: number;

  @Field(() => String)
  statusCode!: string;

  @Field(() => String)
  statusMessage!: string;

  @Field(() => [Attribute])
  attributes!: Attribute[];

  @Field(() => [SpanEvent])
  events!: SpanEvent[];
}

@ObjectType()
export class Trace {
  @Field(() => String)
  traceId!: string;

  @Field(() => [Span])
  spans!: Span[];
}
