/** Object types: API keys. Guarded fields are nullable so a denial nulls only that field. */
import { Field, ID, ObjectType } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { KeyRoleEnum, PageInfo } from '../common.js';

@ObjectType({ description: 'An API key. Its secret is shown once, in CreateApiKeyPayload, and never again.' })
export class ApiKey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'The first characters of the secret, to recognise it.' })
  prefix!: string;

  @Field(() => KeyRoleEnum)
  role!: KeyRoleEnum;

  @Field(() => DateTimeResolver)
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true })
  lastUsedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true })
  expiresAt!: Date | null;

  /** Internal: `user:<id>`, `api_key:<id>`, `platform:<id>` (resolved to a User by createdBy). */
  createdByRef!: string | null;
  tenantId!: string;
}

@ObjectType()
export class ApiKeyEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => ApiKey)
  node!: ApiKey;
}

@ObjectType()
export class ApiKeyConnection {
  @Field(() => [ApiKeyEdge])
  edges!: ApiKeyEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType()
export class CreateApiKeyPayload {
  @Field(() => ApiKey)
  apiKey!: ApiKey;

  @Field(() => String, { description: 'The secret. Shown only in this response; store it now.' })
  secret!: string;
}
