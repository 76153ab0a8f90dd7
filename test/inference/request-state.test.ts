/**
 * The inference request's state as immutable values (request-state.ts): what its usage record
 * says at each point it can end, and that a step adds its facts without touching earlier values.
 */
import { describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { figuresOf, usageRecordOf, type RequestState } from '../../inference/src/request-state.js';

const span = trace.getTracer('test').startSpan('t');
const principal = { keyId: '00000000-0000-4000-8000-000000000001', tenantId: '00000000-0000-4000-8000-000000000002', role: 'member' };
const arrived: RequestState = {
  arrival: { infer: true, startedAt: 1_700_000_000_000, startNs: 0n, span, model: 'mlp-demo', version: '', requestId: 'x-corr', device: 'cpu' },
  principal,
};

describe('request state', () => {
  it('a failure before the body named an id: a fresh event id made distinct, the header id as request id, nothing measured', () => {
    const rec = usageRecordOf({ ...arrived, principal }, 401);
    expect(rec.eventId).toMatch(/^[0-9a-f-]{36}#[0-9a-f-]{36}$/);
    expect(rec).toMatchObject({ requestId: 'x-corr', status: 'client_error', items: 0, batchSize: 0, billedComputeUs: 0, modelVersion: '' });
  });

  it('a failure after the id: the client id is kept as request id and made distinct as event id', () => {
    const s: RequestState = { ...arrived, target: { version: '1', device: 'cpu' }, id: { requestId: 'r-1', eventId: 'r-1', fingerprint: 'f' }, input: { items: 3, inputBytes: 10, tags: {} } };
    const rec = usageRecordOf({ ...s, principal }, 400);
    expect(rec.eventId).toMatch(/^r-1#[0-9a-f-]{36}$/);
    expect(rec).toMatchObject({ requestId: 'r-1', modelVersion: '1', items: 3, inputBytes: 10 });
  });

  it('a success owns the id; its compute share is by items of the batch; the batch device wins', () => {
    const s: RequestState = {
      ...arrived,
      target: { version: '1', device: 'cpu' },
      id: { requestId: 'r-2', eventId: 'r-2' },
      input: { items: 2, inputBytes: 20, tags: { team: 'a' } },
      run: { queueUs: 5, computeUs: 900, batchSize: 6, device: 'cuda' },
      outputBytes: 40,
    };
    expect(figuresOf(s)).toMatchObject({ resolved: true, billedComputeUs: 300, device: 'cuda' });
    expect(usageRecordOf({ ...s, principal }, 200)).toMatchObject({ eventId: 'r-2', status: 'ok', billedComputeUs: 300, computeUs: 900, outputBytes: 40, tags: { team: 'a' } });
  });

  it('a step is a new value: the earlier one is unchanged', () => {
    const before: RequestState = { ...arrived, target: { version: '1', device: 'cpu' } };
    const after: RequestState = { ...before, run: { queueUs: 1, computeUs: 2, batchSize: 1, device: 'cpu' } };
    expect(before.run).toBeUndefined();
    expect(figuresOf(before).computeUs).toBe(0);
    expect(figuresOf(after).computeUs).toBe(2);
  });
});
