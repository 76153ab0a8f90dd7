-- 005 pinned auth_api_key's search_path to `pg_catalog, public`. A search_path that does not name
-- pg_temp searches it FIRST for tables, so a session of the app role could create temporary
-- tables called api_keys and tenants and have this SECURITY DEFINER function authenticate a hash
-- of its choosing as any tenant's admin (test/postgres/search-path.test.ts). pg_temp goes last,
-- as Postgres advises for SECURITY DEFINER functions, and the tables are schema-qualified too.
-- CREATE OR REPLACE keeps the owner and the grants (EXECUTE for the app role only).
CREATE OR REPLACE FUNCTION auth_api_key(p_hash text)
  RETURNS TABLE (key_id uuid, tenant_id uuid, role text, tenant_status text, expires_at timestamptz)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp
  SET app.platform = 'on'
AS $$
  SELECT k.id, k.tenant_id, k.role, t.status, k.expires_at
  FROM public.api_keys k JOIN public.tenants t ON t.id = k.tenant_id
  WHERE k.hash = p_hash AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
$$;
REVOKE ALL ON FUNCTION auth_api_key(text) FROM PUBLIC;
