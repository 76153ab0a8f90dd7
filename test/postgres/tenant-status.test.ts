import { afterAll, describe, expect, it } from 'vitest';
import { changeTenantStatus, getTenant, setTenantStatus } from '../../src/tenants/index.js';
import { createApiKeyAuthenticator } from '../../src/keys/index.js';
import { listAudit } from '../../src/audit/index.js';
import { withPlatform, withTenant } from '../../src/db/index.js';
import { closeFactories, createApiKey, createTenant, factoryDeps, testActor } from '../factories.js';

const { pools, config } = factoryDeps();
afterAll(closeFactories);

describe('tenant status: past_due and the suspension reason', () => {
  it('past_due is a status of its own (keys report it, nothing refuses it); a suspension records its reason; audited', async () => {
    const t = await createTenant();
    const key = await createApiKey({ tenantId: t.id });
    const pastDue = await setTenantStatus({ pools }, { tenantId: t.id, status: 'past_due', actor: testActor });
    expect(pastDue).toMatchObject({ status: 'past_due', suspensionReason: null });
    const auth = createApiKeyAuthenticator({ pools, redis: null, config });
    await auth.ready;
    expect(await auth.authenticate(key.secret)).toMatchObject({ tenantId: t.id, tenantStatus: 'past_due' });
    await auth.close();

    expect(await setTenantStatus({ pools }, { tenantId: t.id, status: 'suspended', actor: testActor })).toMatchObject({ status: 'suspended', suspensionReason: 'operator' });
    expect(await setTenantStatus({ pools }, { tenantId: t.id, status: 'suspended', reason: 'dunning', actor: testActor })).toMatchObject({ suspensionReason: 'dunning' });
    expect(await setTenantStatus({ pools }, { tenantId: t.id, status: 'active', actor: testActor })).toMatchObject({ status: 'active', suspensionReason: null });
    const audit = await withTenant(pools.app, { tenantId: t.id }, (c) => listAudit(c, { tenantId: t.id, targetType: 'tenant' }));
    expect(audit.filter((a) => a.action === 'tenant.status').map((a) => [(a.before as { status: string }).status, (a.after as { status: string; suspensionReason: string | null }).suspensionReason])).toEqual([
      ['suspended', null],
      ['suspended', 'dunning'],
      ['past_due', 'operator'],
      ['active', null],
    ]);
  });

  it('changeTenantStatus changes nothing when the guard refuses the current state', async () => {
    const t = await createTenant();
    await setTenantStatus({ pools }, { tenantId: t.id, status: 'suspended', actor: testActor });
    const r = await withPlatform(pools.app, (c) => changeTenantStatus(c, { tenantId: t.id, status: 'active', actor: testActor, only: (cur) => cur.suspensionReason === 'dunning' }));
    expect(r.changed).toBe(false);
    expect(await getTenant({ pools }, { tenantId: t.id })).toMatchObject({ status: 'suspended', suspensionReason: 'operator' });
  });

  it('the database refuses a reason on a tenant that is not suspended, and an unknown status', async () => {
    const t = await createTenant();
    await expect(withPlatform(pools.app, (c) => c.query(`UPDATE tenants SET suspension_reason = 'dunning' WHERE id = $1`, [t.id]))).rejects.toThrow(/suspension_reason_only_when_suspended/);
    await expect(withPlatform(pools.app, (c) => c.query(`UPDATE tenants SET status = 'frozen' WHERE id = $1`, [t.id]))).rejects.toThrow(/tenants_status_check/);
  });
});
