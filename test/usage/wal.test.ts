import { afterEach, describe, expect, it } from 'vitest';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wal, encodeFrame, type WalOptions } from '../../src/usage/wal.js';

const dirs: string[] = [];
const wals: Wal[] = [];

async function tempDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'tollgate-wal-'));
  dirs.push(dir);
  return dir;
}

async function open(opts: Partial<WalOptions> & { dir: string }): Promise<Wal> {
  const wal = await Wal.open({ syncIntervalMs: 2, syncMaxRecords: 64, maxBytes: 64 * 1024 * 1024, ...opts });
  wals.push(wal);
  return wal;
}

async function readAll(wal: Wal): Promise<string[]> {
  const { entries } = await wal.read(wal.checkpoint(), 1_000_000);
  return entries.map((e) => e.payload.toString());
}

afterEach(async () => {
  for (const w of wals.splice(0)) await w.close();
  for (const d of dirs.splice(0)) await fsp.rm(d, { recursive: true, force: true });
});

describe('usage WAL', () => {
  it('group commit: many concurrent appends share a few fsyncs and each resolves with its own position', async () => {
    const wal = await open({ dir: await tempDir(), syncIntervalMs: 20, syncMaxRecords: 100_000 });
    const positions = await Promise.all(Array.from({ length: 500 }, (_, i) => wal.append(Buffer.from(`rec-${i}`))));
    const syncs = wal.stats().syncs;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(50); // one fsync per group, not per record
    expect(new Set(positions.map((p) => `${p.segment}:${p.offset}`)).size).toBe(500);
    expect(await readAll(wal)).toEqual(Array.from({ length: 500 }, (_, i) => `rec-${i}`));
  });

  it('a group is synced as soon as syncMaxRecords are waiting, without waiting for the interval', async () => {
    const wal = await open({ dir: await tempDir(), syncIntervalMs: 60_000, syncMaxRecords: 10 });
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => wal.append(Buffer.from(`x${i}`))));
    await all; // would hang for a minute (test timeout) if the count trigger did not fire
    expect(wal.stats().durableRecords).toBe(10);
  });

  it('replays unconfirmed records after reopening, and skips confirmed ones', async () => {
    const dir = await tempDir();
    const wal = await open({ dir });
    for (let i = 0; i < 20; i++) await wal.append(Buffer.from(`r${i}`));
    const first = await wal.read(wal.checkpoint(), 5);
    await wal.confirm(first.next);
    await wal.close();
    const again = await open({ dir });
    expect(again.id).toBe(wal.id);
    expect(await readAll(again)).toEqual(Array.from({ length: 15 }, (_, i) => `r${i + 5}`));
    expect(again.durableRecords()).toBe(15);
  });

  it('tolerates a torn tail: a half-written last frame and a frame with a bad CRC are cut off on replay', async () => {
    const dir = await tempDir();
    const wal = await open({ dir });
    for (let i = 0; i < 3; i++) await wal.append(Buffer.from(`good${i}`));
    await wal.close();
    const seg = (await fsp.readdir(dir)).filter((f) => f.endsWith('.log')).sort().at(-1)!;
    const file = path.join(dir, seg);
    const torn = encodeFrame(Buffer.from('torn-record-payload')).subarray(0, 13);
    await fsp.appendFile(file, torn);
    const reopened = await open({ dir });
    expect(await readAll(reopened)).toEqual(['good0', 'good1', 'good2']);
    await reopened.close();

    // Corrupt the CRC of the last good frame: only it is lost, the earlier ones survive.
    const bytes = await fsp.readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await fsp.writeFile(file, bytes);
    const third = await open({ dir });
    expect(await readAll(third)).toEqual(['good0', 'good1']);
    // New appends after a truncated tail go on normally.
    await third.append(Buffer.from('after'));
    expect(await readAll(third)).toEqual(['good0', 'good1', 'after']);
  });

  it('rotates segments and deletes a segment only once everything in it is confirmed', async () => {
    const dir = await tempDir();
    const wal = await open({ dir, segmentBytes: 4096, maxBytes: 1024 * 1024, syncIntervalMs: 0 });
    const payload = Buffer.alloc(500, 'a');
    for (let i = 0; i < 40; i++) await wal.append(payload);
    const segmentsBefore = (await fsp.readdir(dir)).filter((f) => f.endsWith('.log')).length;
    expect(segmentsBefore).toBeGreaterThan(3);
    const some = await wal.read(wal.checkpoint(), 20);
    await wal.confirm(some.next);
    const segmentsMid = (await fsp.readdir(dir)).filter((f) => f.endsWith('.log')).length;
    expect(segmentsMid).toBeLessThan(segmentsBefore);
    expect((await wal.read(wal.checkpoint(), 1000)).entries).toHaveLength(20);
    const rest = await wal.read(wal.checkpoint(), 1000);
    await wal.confirm(rest.next);
    expect((await fsp.readdir(dir)).filter((f) => f.endsWith('.log')).length).toBe(1);
  });

  it('disk cap: past maxBytes it stops accepting and rejects with UNAVAILABLE, and accepts again once confirmed', async () => {
    const dir = await tempDir();
    const wal = await open({ dir, maxBytes: 16 * 1024, segmentBytes: 4096, syncIntervalMs: 0 });
    const payload = Buffer.alloc(1000, 'b');
    let accepted = 0;
    let rejection: unknown;
    for (let i = 0; i < 100; i++) {
      try {
        await wal.append(payload);
        accepted++;
      } catch (err) {
        rejection = err;
        break;
      }
    }
    expect(accepted).toBeGreaterThan(5);
    expect(accepted).toBeLessThan(100);
    expect(wal.accepting()).toBe(false);
    expect(rejection).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    const all = await wal.read(wal.checkpoint(), 1000);
    expect(all.entries).toHaveLength(accepted);
    await wal.confirm(all.next);
    expect(wal.accepting()).toBe(true);
    await wal.append(payload);
  });

  it('close() writes out a pending group before returning', async () => {
    const dir = await tempDir();
    const wal = await open({ dir, syncIntervalMs: 60_000, syncMaxRecords: 1000 });
    const p = wal.append(Buffer.from('late'));
    await wal.close();
    await expect(p).resolves.toMatchObject({ offset: 0 });
    await expect(wal.append(Buffer.from('x'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const again = await open({ dir });
    expect(await readAll(again)).toEqual(['late']);
  });
});
