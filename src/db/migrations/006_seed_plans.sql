-- The four standard plans, their monthly quotas and USD prices (micro-dollars). Idempotent.
-- priority_tier: admission weight (higher = larger share). Quotas: free/starter hard, pro/enterprise soft.
INSERT INTO plans (code, name, description, priority_tier, rate_limit_rps, burst, max_concurrency) VALUES
  ('free',       'Free',       'Try Tollgate: small hard quotas, no charges.',        1,   5,   10,   2),
  ('starter',    'Starter',    'Package pricing per 1,000 requests.',                 2,  20,   40,   8),
  ('pro',        'Pro',        'Graduated pricing; soft quotas with alerts.',          3, 100,  200,  32),
  ('enterprise', 'Enterprise', 'Volume pricing; high limits; soft quotas.',            4, 500, 1000, 128)
ON CONFLICT (code) DO NOTHING;

INSERT INTO plan_quotas (plan_id, meter, limit_value, hard, soft_thresholds)
SELECT p.id, q.meter, q.limit_value, q.hard, q.soft_thresholds
FROM (VALUES
  ('free',       'requests',               10000::bigint, true,  '{80,100}'::int[]),
  ('free',       'items',                 100000,         true,  '{80,100}'),
  ('free',       'compute_ms_cpu',       3600000,         true,  '{80,100}'),
  ('free',       'compute_ms_cuda',            0,         true,  '{100}'),
  ('starter',    'requests',             1000000,         true,  '{80,90,100}'),
  ('starter',    'items',               10000000,         true,  '{80,90,100}'),
  ('starter',    'compute_ms_cpu',     360000000,         true,  '{80,90,100}'),
  ('starter',    'compute_ms_cuda',     36000000,         true,  '{80,90,100}'),
  ('pro',        'requests',            20000000,         false, '{80,100,150}'),
  ('pro',        'items',              200000000,         false, '{80,100,150}'),
  ('pro',        'compute_ms_cpu',    3600000000,         false, '{80,100,150}'),
  ('pro',        'compute_ms_cuda',    360000000,         false, '{80,100,150}'),
  ('enterprise', 'requests',          1000000000,         false, '{80,100,200}'),
  ('enterprise', 'items',            10000000000,         false, '{80,100,200}'),
  ('enterprise', 'compute_ms_cpu',  100000000000,         false, '{80,100,200}'),
  ('enterprise', 'compute_ms_cuda',  10000000000,         false, '{80,100,200}')
) AS q(code, meter, limit_value, hard, soft_thresholds)
JOIN plans p ON p.code = q.code
ON CONFLICT (plan_id, meter) DO NOTHING;

-- Free has no price components (nothing to charge). No conflict target: also covers the exclusion constraint.
INSERT INTO price_components (plan_id, meter, model, unit_price_micros, tiers, package_size, included_quantity, effective_from)
SELECT p.id, c.meter, c.model, c.unit_price_micros, c.tiers, c.package_size, c.included_quantity, '2020-01-01T00:00:00Z'
FROM (VALUES
  -- starter: $0.50 per started pack of 1,000 requests after 10,000 included; $0.00001/item; compute per ms.
  ('starter', 'requests',        'package',  500000::numeric, NULL::jsonb, 1000::bigint, 10000::bigint),
  ('starter', 'items',           'standard',     10,          NULL,        NULL,         100000),
  ('starter', 'compute_ms_cpu',  'standard',      1,          NULL,        NULL,        3600000),
  ('starter', 'compute_ms_cuda', 'standard',     10,          NULL,        NULL,              0),
  -- pro: graduated; the first units of each meter are free.
  ('pro', 'requests', 'graduated', NULL,
     '[{"up_to": 100000, "unit_price_micros": 0, "flat_fee_micros": 0},
       {"up_to": 10000000, "unit_price_micros": 400, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 250, "flat_fee_micros": 0}]', NULL, 0),
  ('pro', 'items', 'graduated', NULL,
     '[{"up_to": 1000000, "unit_price_micros": 0, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 5, "flat_fee_micros": 0}]', NULL, 0),
  ('pro', 'compute_ms_cpu', 'graduated', NULL,
     '[{"up_to": 36000000, "unit_price_micros": 0, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 1, "flat_fee_micros": 0}]', NULL, 0),
  ('pro', 'compute_ms_cuda', 'graduated', NULL,
     '[{"up_to": 3600000, "unit_price_micros": 0, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 8, "flat_fee_micros": 0}]', NULL, 0),
  -- enterprise: volume; the whole quantity is priced at the tier it reaches, with a platform fee in the first tier.
  ('enterprise', 'requests', 'volume', NULL,
     '[{"up_to": 10000000, "unit_price_micros": 300, "flat_fee_micros": 500000000},
       {"up_to": 100000000, "unit_price_micros": 200, "flat_fee_micros": 500000000},
       {"up_to": null, "unit_price_micros": 100, "flat_fee_micros": 500000000}]', NULL, 0),
  ('enterprise', 'items', 'volume', NULL,
     '[{"up_to": 100000000, "unit_price_micros": 4, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 2, "flat_fee_micros": 0}]', NULL, 0),
  ('enterprise', 'compute_ms_cpu', 'volume', NULL,
     '[{"up_to": 360000000, "unit_price_micros": 2, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 1, "flat_fee_micros": 0}]', NULL, 0),
  ('enterprise', 'compute_ms_cuda', 'volume', NULL,
     '[{"up_to": 36000000, "unit_price_micros": 8, "flat_fee_micros": 0},
       {"up_to": null, "unit_price_micros": 6, "flat_fee_micros": 0}]', NULL, 0)
) AS c(code, meter, model, unit_price_micros, tiers, package_size, included_quantity)
JOIN plans p ON p.code = c.code
ON CONFLICT DO NOTHING;
