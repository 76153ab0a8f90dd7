/**
 * The model repository on disk: <root>/<model>/config.json plus numbered version folders
 * holding model.onnx, and/or versions declared in config.json that point into an npm package.
 * `scan()` is pure reading; the server diffs successive scans for hot reload.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { classesPerItem, modelConfigSchema, type ModelConfig } from './config.js';

export interface ModelVersionSpec {
  name: string;
  version: string;
  config: ModelConfig;
  file: string;
  /** Labels of the outputs that name a label_filename (line i = class i). */
  labels: Record<string, readonly string[]>;
  /** Changes when the config, a labels file or the model file changes (hot reload). */
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

const MAX_LABELS_BYTES = 4 * 1024 * 1024;

/**
 * Reads the labels files of a model's outputs. A file whose line count cannot match its output
 * (the classes per item are known from the config's dims) is a configuration error, not a
 * silent misnaming of classes.
 */
function readLabels(dir: string, config: ModelConfig): { labels: Record<string, readonly string[]>; text: string } {
  const labels: Record<string, string[]> = {};
  let text = '';
  for (const o of config.outputs) {
    if (!o.label_filename) continue;
    const file = path.join(dir, o.label_filename);
    if (!existsSync(file)) throw new Error(`output ${o.name}: label_filename ${o.label_filename} not found`);
    if (statSync(file).size > MAX_LABELS_BYTES) throw new Error(`output ${o.name}: ${o.label_filename} is larger than ${MAX_LABELS_BYTES} bytes`);
    const content = readFileSync(file, 'utf8');
    const lines = content.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    const classes = classesPerItem(o.shape);
    if (classes !== undefined && lines.length !== classes) throw new Error(`output ${o.name}: ${o.label_filename} has ${lines.length} labels for ${classes} classes`);
    labels[o.name] = lines;
    text += `${o.name}\n${content}\n`;
  }
  return { labels, text };
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
      const labels = readLabels(dir, config);
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
      if (files.size === 0) throw new Error(`no model file: expected ${path.join(dir, '<version>', 'model.onnx')} or a "versions" entry in config.json`);
      for (const [version, file] of files) versions.push({ name, version, config, file, labels: labels.labels, fingerprint: fingerprint(file, text + labels.text) });
    } catch (err) {
      problems.push({ model: name, error: (err as Error).message });
    }
  }
  return { versions, problems };
}
