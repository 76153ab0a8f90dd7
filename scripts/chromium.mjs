#!/usr/bin/env node
/**
 * Makes sure a Chromium for the console's browser tests is installed and prints its path on
 * stdout (logs on stderr). CHROMIUM_PATH wins when set; else `chromium` on the PATH (Debian's
 * package installs /usr/bin/chromium); else, as root with apt-get, installs Debian's `chromium`
 * package the way scripts/services.mjs installs ClickHouse/Postgres/Redis (waiting for apt's lock
 * when another install holds it). Node builtins only.
 *
 *   CHROMIUM="$(node scripts/chromium.mjs)"
 */
import fs from 'node:fs';
import { Fatal, findBinary, isRoot, log, runOrFail } from './services/system.mjs';

export function findChromium(env = process.env) {
  if (env.CHROMIUM_PATH) {
    if (!fs.existsSync(env.CHROMIUM_PATH)) throw new Fatal(`CHROMIUM_PATH=${env.CHROMIUM_PATH} does not exist`);
    return env.CHROMIUM_PATH;
  }
  return findBinary('chromium') ?? findBinary('chromium-browser');
}

export function ensureChromium(env = process.env) {
  const found = findChromium(env);
  if (found) return found;
  const cmd = 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium';
  if (!isRoot || !findBinary('apt-get')) {
    throw new Fatal(`Chromium is not installed (the console's browser tests need it). Install it with:\n  sudo sh -c '${cmd}'\nor set CHROMIUM_PATH to a Chromium or Chrome binary.`);
  }
  log('Chromium is not installed: installing Debian\'s chromium package with apt-get');
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const wait = ['-o', 'DPkg::Lock::Timeout=600'];
  runOrFail('apt-get', [...wait, 'update'], { env: aptEnv });
  runOrFail('apt-get', [...wait, 'install', '-y', '--no-install-recommends', 'chromium'], { env: aptEnv });
  const installed = findChromium(env);
  if (!installed) throw new Fatal('apt-get installed chromium but no chromium binary is on the PATH');
  return installed;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.stdout.write(`${ensureChromium()}\n`);
  } catch (err) {
    process.stderr.write(`[chromium] ${err instanceof Fatal ? err.message : err.stack}\n`);
    process.exit(1);
  }
}
