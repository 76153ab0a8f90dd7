/**
 * The usage write-ahead log: append-only segment files on local disk.
 *
 * Frame: u32 LE payload length, u32 LE CRC32(payload), payload. A frame that is cut short or
 * fails its CRC ends a segment (a torn tail after a crash); replay truncates it away.
 *
 * Group commit: `append` queues a frame; one write + fdatasync covers every frame queued
 * since the last one, started after `syncIntervalMs` or as soon as `syncMaxRecords` are
 * waiting. `append` resolves only after the fsync that covers its frame.
 *
 * The flusher reads durable frames from a cursor and calls `confirm(cursor)` once they are
 * in ClickHouse; the checkpoint is written atomically and only then are whole segments
 * before it deleted. Past `maxBytes` on disk, `accepting()` is false.
 */
import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { unavailable, type Logger } from '../shared/index.js';

export interface WalOptions {
  dir: string;
  /** Longest a queued frame waits before its fsync starts (0 = next turn of the event loop). */
  syncIntervalMs: number;
  /** A group is synced at once when this many frames are waiting. */
  syncMaxRecords: number;
  /** Disk cap over all segments; past it `accepting()` is false and `append` rejects. */
  maxBytes: number;
  /** A segment is sealed and a new one started past this size (clamped to maxBytes / 4). */
  segmentBytes?: number;
  logger?: Logger;
}

/** A place in the log: the next frame to read is at `offset` in segment number `segment`. */
export interface WalPosition {
  segment: number;
  offset: number;
}

export interface WalEntry {
  segment: number;
  offset: number;
  payload: Buffer;
}

export interface WalStats {
  segments: number;
  bytes: number;
  pendingRecords: number;
  durableRecords: number;
  syncs: number;
  checkpoint: WalPosition;
}

const HEADER = 8;
const MAX_FRAME = 16 * 1024 * 1024;
const READ_CHUNK = 4 * 1024 * 1024;
const SEGMENT_RE = /^wal-(\d{12})\.log$/;
const CHECKPOINT = 'checkpoint.json';
const ID_FILE = 'wal-id';

interface Pending {
  frame: Buffer;
  resolve: (pos: WalPosition) => void;
  reject: (err: Error) => void;
}

const segmentName = (n: number) => `wal-${String(n).padStart(12, '0')}.log`;

export function encodeFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, HEADER);
  return frame;
}

/** Parses whole, valid frames from `buf` (which starts at file offset `base`); stops at the first torn or corrupt one. */
export function parseFrames(buf: Buffer, base: number, segment: number, limit = Infinity): { entries: WalEntry[]; end: number; corrupt: boolean } {
  const entries: WalEntry[] = [];
  let at = 0;
  let corrupt = false;
  while (entries.length < limit && at + HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    if (len === 0 || len > MAX_FRAME) {
      corrupt = true;
      break;
    }
    if (at + HEADER + len > buf.length) break; // incomplete (torn, or cut by the read chunk)
    const payload = buf.subarray(at + HEADER, at + HEADER + len);
    if (crc32(payload) !== buf.readUInt32LE(at + 4)) {
      corrupt = true;
      break;
    }
    entries.push({ segment, offset: base + at, payload });
    at += HEADER + len;
  }
  return { entries, end: base + at, corrupt };
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export class Wal {
  /** Stable id of this log directory (batch ids and dedup marks are scoped by it). */
  readonly id: string;
  private readonly opts: Required<Omit<WalOptions, 'logger'>> & { logger?: Logger };
  /** Segment number -> durable size in bytes (the active one included). */
  private readonly sizes = new Map<number, number>();
  private active = 0;
  private activeFh: FileHandle | null = null;
  private readonly readers = new Map<number, FileHandle>();
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private syncing: Promise<void> | null = null;
  private closed = false;
  private broken: Error | null = null;
  private checkpointPos: WalPosition;
  private durable = 0;
  private syncs = 0;
  private readonly durableListeners = new Set<() => void>();

  private constructor(opts: WalOptions, id: string, checkpoint: WalPosition) {
    const segmentBytes = Math.max(4096, Math.min(opts.segmentBytes ?? 64 * 1024 * 1024, Math.floor(opts.maxBytes / 4)));
    this.opts = { ...opts, segmentBytes };
    this.id = id;
    this.checkpointPos = checkpoint;
  }

  /** The log's directory (the flusher keeps its dead-letter file next to the segments). */
  get dir(): string {
    return this.opts.dir;
  }

  /** Opens (creating if needed) the log in `opts.dir`, validating every segment after the checkpoint and truncating a torn tail. */
  static async open(opts: WalOptions): Promise<Wal> {
    await fsp.mkdir(opts.dir, { recursive: true });
    const id = await readOrCreateId(opts.dir);
    const checkpoint = await readCheckpoint(opts.dir);
    const wal = new Wal(opts, id, checkpoint);
    await wal.replay();
    return wal;
  }

  private async replay(): Promise<void> {
    const dir = this.opts.dir;
    const numbers = (await fsp.readdir(dir))
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    let recovered = 0;
    for (const n of numbers) {
      const file = path.join(dir, segmentName(n));
      if (n < this.checkpointPos.segment) {
        await fsp.rm(file, { force: true }); // confirmed; the crash came between checkpoint and delete
        continue;
      }
      const buf = await fsp.readFile(file);
      const { entries, end, corrupt } = parseFrames(buf, 0, n);
      if (end < buf.length) {
        this.opts.logger?.warn({ segment: n, validBytes: end, fileBytes: buf.length, corrupt }, 'usage WAL: truncating a torn or corrupt tail');
        await fsp.truncate(file, end);
      }
      this.sizes.set(n, end);
      const from = n === this.checkpointPos.segment ? this.checkpointPos.offset : 0;
      recovered += entries.filter((e) => e.offset >= from).length;
    }
    this.durable = recovered;
    if (recovered > 0) this.opts.logger?.info({ records: recovered, segments: this.sizes.size }, 'usage WAL: replaying unconfirmed records');
    // Always write into a fresh segment: older ones are never appended to again.
    await this.openSegment((numbers.at(-1) ?? 0) + 1);
  }

  private async openSegment(n: number): Promise<void> {
    const fh = await fsp.open(path.join(this.opts.dir, segmentName(n)), 'wx');
    await fsyncDir(this.opts.dir); // the new directory entry must survive a crash too
    if (this.activeFh) await this.activeFh.close();
    this.activeFh = fh;
    this.active = n;
    this.sizes.set(n, 0);
  }

  /** Bytes on disk over all segments, plus frames waiting for their fsync. */
  bytes(): number {
    let total = this.pendingBytes;
    for (const s of this.sizes.values()) total += s;
    return total;
  }

  accepting(): boolean {
    return !this.closed && this.broken === null && this.bytes() < this.opts.maxBytes;
  }

  /** Appends one record; resolves with its position once an fsync covers it. */
  append(payload: Buffer): Promise<WalPosition> {
    if (this.closed) return Promise.reject(unavailable('usage WAL is closed'));
    if (this.broken) return Promise.reject(unavailable('usage WAL failed', { cause: this.broken.message }));
    if (this.bytes() >= this.opts.maxBytes) return Promise.reject(unavailable('usage WAL is full: ClickHouse is behind', { maxBytes: this.opts.maxBytes }));
    const frame = encodeFrame(payload);
    return new Promise<WalPosition>((resolve, reject) => {
      this.pending.push({ frame, resolve, reject });
      this.pendingBytes += frame.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.syncing) return; // the running sync starts the next group when it ends
    if (this.pending.length >= this.opts.syncMaxRecords || this.opts.syncIntervalMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.immediate ??= setImmediate(() => this.startSync());
    } else {
      this.timer ??= setTimeout(() => this.startSync(), this.opts.syncIntervalMs);
    }
  }

  private startSync(): void {
    this.timer = null;
    this.immediate = null;
    if (this.syncing || this.pending.length === 0) return;
    this.syncing = this.syncGroup().finally(() => {
      this.syncing = null;
      if (this.pending.length > 0) this.schedule();
    });
  }

  private async syncGroup(): Promise<void> {
    const group = this.pending;
    const groupBytes = this.pendingBytes;
    this.pending = [];
    try {
      let size = this.sizes.get(this.active) ?? 0;
      if (size > 0 && size + groupBytes > this.opts.segmentBytes) {
        await this.openSegment(this.active + 1);
        size = 0;
      }
      const buf = group.length === 1 ? group[0]!.frame : Buffer.concat(group.map((p) => p.frame), groupBytes);
      let written = 0;
      while (written < buf.length) {
        const { bytesWritten } = await this.activeFh!.write(buf, written, buf.length - written, size + written);
        written += bytesWritten;
      }
      await this.activeFh!.datasync();
      this.pendingBytes -= groupBytes;
      this.sizes.set(this.active, size + groupBytes);
      this.durable += group.length;
      this.syncs++;
      let at = size;
      for (const p of group) {
        p.resolve({ segment: this.active, offset: at });
        at += p.frame.length;
      }
      for (const l of this.durableListeners) l();
    } catch (err) {
      // A failed write or fsync leaves the file in an unknown state: stop accepting (fsyncgate).
      this.pendingBytes -= groupBytes;
      this.broken = err as Error;
      this.opts.logger?.error({ err }, 'usage WAL: write/fsync failed; refusing new records');
      for (const p of group) p.reject(unavailable('usage WAL write failed'));
    }
  }

  /** Calls `fn` after each group becomes durable (the flusher uses it to wake early). */
  onDurable(fn: () => void): () => void {
    this.durableListeners.add(fn);
    return () => this.durableListeners.delete(fn);
  }

  /** Records made durable since open, counting the replayed ones. */
  durableRecords(): number {
    return this.durable;
  }

  checkpoint(): WalPosition {
    return { ...this.checkpointPos };
  }

  /** Moves a cursor at the end of a sealed segment on to the next segment. */
  private normalize(pos: WalPosition): WalPosition {
    let { segment, offset } = pos;
    for (;;) {
      if (segment >= this.active) return { segment, offset };
      const size = this.sizes.get(segment);
      if (size !== undefined && offset < size) return { segment, offset };
      segment += 1;
      offset = 0;
    }
  }

  /** Reads up to `maxRecords` durable frames starting at `from`; returns them and the cursor after them. */
  async read(from: WalPosition, maxRecords: number): Promise<{ entries: WalEntry[]; next: WalPosition }> {
    const entries: WalEntry[] = [];
    let pos = this.normalize(from);
    while (entries.length < maxRecords) {
      const end = this.sizes.get(pos.segment);
      if (end === undefined || pos.offset >= end) break;
      const fh = await this.reader(pos.segment);
      const len = Math.min(end - pos.offset, READ_CHUNK);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos.offset);
      let parsed = parseFrames(buf.subarray(0, bytesRead), pos.offset, pos.segment, maxRecords - entries.length);
      if (parsed.entries.length === 0 && !parsed.corrupt && bytesRead >= HEADER) {
        // A frame larger than one chunk: read exactly that frame.
        const big = Buffer.allocUnsafe(HEADER + buf.readUInt32LE(0));
        await fh.read(big, 0, big.length, pos.offset);
        parsed = parseFrames(big, pos.offset, pos.segment, 1);
      }
      if (parsed.entries.length === 0) {
        this.opts.logger?.error({ segment: pos.segment, offset: pos.offset }, 'usage WAL: unreadable frame; skipping the rest of the segment');
        pos = this.skipSegment(pos);
        continue;
      }
      entries.push(...parsed.entries);
      pos = this.normalize({ segment: pos.segment, offset: parsed.end });
    }
    return { entries, next: pos };
  }

  private skipSegment(pos: WalPosition): WalPosition {
    if (pos.segment >= this.active) return { segment: pos.segment, offset: this.sizes.get(pos.segment) ?? pos.offset };
    return this.normalize({ segment: pos.segment + 1, offset: 0 });
  }

  private async reader(n: number): Promise<FileHandle> {
    let fh = this.readers.get(n);
    if (!fh) {
      fh = await fsp.open(path.join(this.opts.dir, segmentName(n)), 'r');
      this.readers.set(n, fh);
    }
    return fh;
  }

  /** Everything before `pos` is in ClickHouse: persist the checkpoint, then delete whole segments before it. */
  async confirm(pos: WalPosition): Promise<void> {
    const cp = this.normalize(pos);
    const file = path.join(this.opts.dir, CHECKPOINT);
    const tmp = `${file}.tmp`;
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(cp));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    this.checkpointPos = cp;
    for (const n of [...this.sizes.keys()]) {
      if (n >= cp.segment || n === this.active) continue;
      await this.readers.get(n)?.close();
      this.readers.delete(n);
      await fsp.rm(path.join(this.opts.dir, segmentName(n)), { force: true });
      this.sizes.delete(n);
    }
  }

  /** Stops accepting and writes out frames still waiting for their group; reads and confirms still work. */
  async seal(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    while (this.syncing || this.pending.length > 0) {
      if (this.syncing) await this.syncing;
      else this.startSync();
    }
  }

  /** Seals the log, then closes its files. */
  async close(): Promise<void> {
    await this.seal();
    await this.activeFh?.close();
    this.activeFh = null;
    for (const fh of this.readers.values()) await fh.close();
    this.readers.clear();
  }

  stats(): WalStats {
    return {
      segments: this.sizes.size,
      bytes: this.bytes(),
      pendingRecords: this.pending.length,
      durableRecords: this.durable,
      syncs: this.syncs,
      checkpoint: this.checkpoint(),
    };
  }
}

async function readOrCreateId(dir: string): Promise<string> {
  const file = path.join(dir, ID_FILE);
  try {
    const id = (await fsp.readFile(file, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  // The id scopes batch ids and dedup marks: it must never change once used, so the file's
  // content is fsync'd before the rename and the directory after it (else a crash could leave
  // an empty wal-id, and a new id would make replayed records look new to the dedup checks).
  const fh = await fsp.open(`${file}.tmp`, 'w');
  try {
    await fh.writeFile(id);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(`${file}.tmp`, file);
  await fsyncDir(dir);
  return id;
}

async function readCheckpoint(dir: string): Promise<WalPosition> {
  try {
    const raw = JSON.parse(await fsp.readFile(path.join(dir, CHECKPOINT), 'utf8')) as unknown;
    const cp = raw as Partial<WalPosition>;
    if (Number.isSafeInteger(cp.segment) && Number.isSafeInteger(cp.offset)) return { segment: cp.segment!, offset: cp.offset! };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { segment: 0, offset: 0 };
}


/** What an operator sees of a WAL folder from outside the process that writes it (read-only). */
export interface WalBacklog {
  dir: string;
  /** The WAL's id (scopes batch ids; one per replica), null before its first start. */
  id: string | null;
  segments: number;
  bytes: number;
  /** Bytes written but not yet confirmed in ClickHouse (after the checkpoint). */
  backlogBytes: number;
  checkpoint: WalPosition;
  /** When the flusher last confirmed a batch (the checkpoint file's time), null if never. */
  lastConfirmedAt: Date | null;
  /** How long records have waited for the flusher: now − lastConfirmedAt while a backlog exists, else 0. */
  flusherLagMs: number;
}

/** Reads a WAL folder's segments and checkpoint without opening the log (null when the folder does not exist). */
export async function inspectWal(dir: string, now = Date.now()): Promise<WalBacklog | null> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const checkpoint = await readCheckpoint(dir);
  const cpStat = await fsp.stat(path.join(dir, CHECKPOINT)).catch(() => null);
  const id = await fsp.readFile(path.join(dir, ID_FILE), 'utf8').then((s) => s.trim(), () => null);
  let bytes = 0;
  let backlogBytes = 0;
  let oldestUnconfirmed: number | null = null;
  let segments = 0;
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (!m) continue;
    const n = Number(m[1]);
    const st = await fsp.stat(path.join(dir, name)).catch(() => null);
    if (!st) continue; // deleted by a confirm meanwhile
    segments++;
    bytes += st.size;
    const pending = n > checkpoint.segment ? st.size : n === checkpoint.segment ? Math.max(0, st.size - checkpoint.offset) : 0;
    if (pending > 0) {
      backlogBytes += pending;
      oldestUnconfirmed = Math.min(oldestUnconfirmed ?? Infinity, st.birthtimeMs || st.mtimeMs);
    }
  }
  const lastConfirmedAt = cpStat ? cpStat.mtime : null;
  const since = lastConfirmedAt ? lastConfirmedAt.getTime() : oldestUnconfirmed;
  return { dir, id, segments, bytes, backlogBytes, checkpoint, lastConfirmedAt, flusherLagMs: backlogBytes > 0 && since !== null ? Math.max(0, now - since) : 0 };
}
