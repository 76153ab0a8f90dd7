/**
 * The WAL's id scopes batch ids and dedup marks, so it must survive a crash once used (review
 * finding 3): the `wal-id` file's content is fsync'd before the rename that publishes it, and
 * the directory after. Observed by recording the real file system calls in order.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Wal } from '../../src/usage/wal.js';
import { tempStateDir } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('wal-id', () => {
  it('is fsync\'d (file, then directory) before the WAL uses it, and stays the same on reopen', async () => {
    const dir = await tempStateDir('walid');
    const events: string[] = [];
    const realOpen = fsp.open.bind(fsp);
    vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const fh = await realOpen(...args);
      const name = path.relative(dir, String(args[0])) || '.';
      const realSync = fh.sync.bind(fh);
      fh.sync = async () => {
        events.push(`sync ${name}`);
        return realSync();
      };
      return fh;
    });
    const realRename = fsp.rename.bind(fsp);
    vi.spyOn(fsp, 'rename').mockImplementation(async (from, to) => {
      events.push(`rename ${path.relative(dir, String(from))} -> ${path.relative(dir, String(to))}`);
      return realRename(from, to);
    });

    const wal = await Wal.open({ dir, syncIntervalMs: 1, syncMaxRecords: 16, maxBytes: 1024 * 1024 });
    const id = wal.id;
    await wal.close();
    const i = events.indexOf('rename wal-id.tmp -> wal-id');
    expect(i).toBeGreaterThan(0);
    expect(events.slice(0, i)).toContain('sync wal-id.tmp');
    expect(events.slice(i + 1)).toContain('sync .');
    expect((await fsp.readFile(path.join(dir, 'wal-id'), 'utf8')).trim()).toBe(id);

    vi.restoreAllMocks();
    const again = await Wal.open({ dir, syncIntervalMs: 1, syncMaxRecords: 16, maxBytes: 1024 * 1024 });
    expect(again.id).toBe(id);
    await again.close();
  });
});
