/** Processes, users, folders, ports, installing and the state file: the plumbing under services.mjs. */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const START_TIMEOUT_MS = 30_000;
export const isRoot = process.getuid?.() === 0;

export class Fatal extends Error {}
export const log = (msg) => process.stderr.write(`[services] ${msg}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Processes, users, folders

export function procState(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s*/, '')[0];
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie left unreaped by a minimal init counts as gone). */
export function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;
  }
  const st = procState(pid);
  return st !== 'Z' && st !== 'X';
}

export const cmdline = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

export function lookupUser(name) {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (line) {
    const [, , uid, gid, , home] = line.split(':');
    return { name, uid: Number(uid), gid: Number(gid), home };
  }
  const id = spawnSync('id', [name], { encoding: 'utf8' });
  const m = /uid=(\d+).*gid=(\d+)/.exec(id.stdout ?? '');
  return m ? { name, uid: Number(m[1]), gid: Number(m[2]), home: '/' } : null;
}

/** spawn options that run a child as `user` (root only; otherwise we run as ourselves). */
export const asUser = (user) => (user ? { uid: user.uid, gid: user.gid, env: { ...process.env, HOME: user.home, USER: user.name, LOGNAME: user.name } } : {});

export function chownTo(file, user) {
  if (!user) return;
  const st = fs.statSync(file);
  if (st.uid !== user.uid || st.gid !== user.gid) fs.chownSync(file, user.uid, user.gid);
}

export function findBinary(name, dirs = []) {
  const path_ = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of [...dirs, ...path_, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * The folder a service keeps its config, data and logs in, owned by the user it runs as. When
 * that user cannot reach the state folder (a repo under /root, say), a folder under /var/tmp
 * named after the state folder is used instead.
 */
export function serviceDir(ctx, name, user) {
  const preferred = path.join(ctx.servicesDir, name);
  fs.mkdirSync(preferred, { recursive: true });
  if (!user) return preferred;
  chownTo(preferred, user);
  const reachable = spawnSync(findBinary('test') ?? '/usr/bin/test', ['-w', preferred, '-a', '-x', preferred], { ...asUser(user), stdio: 'ignore' });
  if (reachable.status === 0) return preferred;
  const hash = createHash('sha256').update(ctx.servicesDir).digest('hex').slice(0, 12);
  const fallback = path.join('/var/tmp', `tollgate-${hash}`, name);
  fs.mkdirSync(path.dirname(fallback), { recursive: true, mode: 0o755 });
  fs.mkdirSync(fallback, { recursive: true, mode: 0o700 });
  chownTo(fallback, user);
  fs.writeFileSync(path.join(preferred, 'LOCATION'), `${fallback}\n`);
  log(`${name}: user ${user.name} cannot reach ${preferred}; keeping its data in ${fallback}`);
  return fallback;
}

export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(preferred, avoid) {
  for (let p = preferred; p < preferred + 50 && p <= 65535; p++) if (!avoid.includes(p) && (await portIsFree(p))) return p;
  for (;;) {
    const p = await new Promise((resolve) => {
      const srv = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!avoid.includes(p)) return p;
  }
}

/** Runs a command to completion with its output on our stderr (never our stdout). */
export function runOrFail(cmd, args, opts = {}, quiet = false) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', quiet ? 'pipe' : 2, quiet ? 'pipe' : 2], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    const output = quiet ? `\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim()}` : '';
    throw new Fatal(`${path.basename(cmd)} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})${output}`);
  }
}

/** Spawns a detached child (own session, stdin /dev/null, output to `logFile`) and waits for it to exit. */
export function runDetached(cmd, args, logFile, opts = {}) {
  const fd = fs.openSync(logFile, 'a');
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...opts });
    fs.closeSync(fd);
    child.once('error', (err) => resolve({ code: -1, error: err }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

export async function waitFor(label, probe, failed, timeoutMs = START_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probe();
    if (r.state === 'up') return;
    const why = failed();
    if (why) throw new Fatal(`${label} did not start: ${why}`);
    if (Date.now() > deadline) throw new Fatal(`${label} did not answer within ${timeoutMs / 1000} s (last: ${r.state}${r.detail ? `, ${r.detail}` : ''})`);
    await sleep(100);
  }
}


export async function killAndWait(pid, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Installing

/** Finds the service's programs, installing its Debian packages first when root (`apt` remembers whether apt-get update ran). */
export function ensureInstalled(svc, apt) {
  const found = svc.binaries();
  if (found) return found;
  const cmd = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${svc.packages.join(' ')}`;
  if (!isRoot || !findBinary('apt-get')) {
    throw new Fatal(`${svc.label} is not installed and nothing answers at ${svc.where}. Install it with:\n  sudo sh -c '${cmd}'\nor point ${svc.key} at a running ${svc.label}.`);
  }
  log(`${svc.label} is not installed: installing ${svc.packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!apt.updated) runOrFail('apt-get', ['update'], { env });
  apt.updated = true;
  runOrFail('apt-get', ['install', '-y', ...svc.packages], { env });
  const installed = svc.binaries();
  if (!installed) throw new Fatal(`${svc.label}: apt-get installed ${svc.packages.join(' ')} but its programs are still not found`);
  return installed;
}

// ---------------------------------------------------------------------------------------------
// State: what we started, and a lock so concurrent `up`s do not start things twice

export function readStarted(ctx) {
  try {
    const parsed = JSON.parse(fs.readFileSync(ctx.startedFile, 'utf8'));
    return Array.isArray(parsed.services) ? parsed.services : [];
  } catch {
    return [];
  }
}

export function writeStarted(ctx, services) {
  const tmp = `${ctx.startedFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ services }, null, 2)}\n`);
  fs.renameSync(tmp, ctx.startedFile);
}

export async function withLock(ctx, fn) {
  fs.mkdirSync(ctx.servicesDir, { recursive: true });
  const file = path.join(ctx.servicesDir, '.lock');
  const deadline = Date.now() + 15 * 60_000; // apt-get may hold it a while
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let holder;
      let age;
      try {
        holder = Number(fs.readFileSync(file, 'utf8'));
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue;
      }
      if ((holder > 0 && !alive(holder)) || (!(holder > 0) && age > 10_000)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Fatal(`${file} is held by process ${holder}; remove it if that process is gone`);
      if (!told) log(`waiting for another services.mjs (pid ${holder}) to finish`);
      told = true;
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}
