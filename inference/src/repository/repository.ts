/**
 * The model repository on disk: <root>/<model>/config.json plus numbered version folders
 * holding model.onnx, and/or versions declared in config.json that point into an npm package.
 * `scan()` is pure reading; the server diffs successive scans for hot reload.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { modelConfigSchema, type ModelConfig } from './config.js';

export interface ModelVersionSpec {
  name: string;
  version: string;
  config: ModelConfig;
  file: string;
  /** Changes when the config or model file changes (hot reload). */
  fingerprint: string;
}

export interface ScanResult {
  versions: ModelVersionSpec[];
  /** Folders that could not be read, with the reason; logged, never fatal. */
  problems: { model: string; error: string }[];
}

const modelName = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Finds <pkg>/<rel> in node_modules above the repository, the working directory or this code. */
function resolvePackageFile(root: string, pkg: string, rel: string): string | undefined {
  const here = path.dirname(new URL(import.meta.url).pathname);
  for (const base of [path.resolve(root), process.cwd(), here]) {
    const req = createRequire(path.join(base, 'noop.js'));
    for (const dir of req.resolve.paths(pkg) ?? []) {
      const candidate = path.join(dir, pkg, rel);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

function fingerprint(file: string, configText: string): string {
  const st = statSync(file);
  return `${st.size}:${st.mtimeMs}:${configText.length}:${hash(configText)}`;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function scanRepository(root: string): ScanResult {
  const versions: ModelVersionSpec[] = [];
  const problems: ScanResult['problems'] = [];
  if (!existsSync(root)) return { versions, problems: [{ model: '*', error: `model repository ${root} does not exist` }] };
  for (const name of readdirSync(root).sort()) {
    const dir = path.join(root, name);
    const configFile = path.join(dir, 'config.json');
    if (!modelName.test(name) || !existsSync(configFile)) continue;
    try {
      const text = readFileSync(configFile, 'utf8');
      const parsed = modelConfigSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const config = parsed.data;
      const files = new Map<string, string>();
      for (const [v, src] of Object.entries(config.versions)) {
        const file = 'package' in src ? resolvePackageFile(root, src.package, src.path) : path.resolve(dir, src.file);
        if (!file || !existsSync(file)) throw new Error(`version ${v}: model file not found (${JSON.stringify(src)})`);
        files.set(v, file);
      }
      for (const entry of readdirSync(dir)) {
        const file = path.join(dir, entry, 'model.onnx');
        if (/^[1-9][0-9]{0,8}$/.test(entry) && existsSync(file)) files.set(entry, file);
      }
      for (const [version, file] of files) versions.push({ name, version, config, file, fingerprint: fingerprint(file, text) });
    } catch (err) {
      problems.push({ model: name, error: (err as Error).message });
    }
  }
  return { versions, problems };
}
