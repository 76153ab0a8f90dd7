/**
 * Property-style tests of the sql`` tagged template against the real ClickHouse server:
 * thousands of random strings, numbers, bigints and dates are bound and read back exactly,
 * injection attempts stay literals, and everything unbindable is rejected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sql, SqlBindError, ident, inList, join, literal, sql, tableNames, type SqlValue } from '../../src/clickhouse/index.js';
import { createTestDatabase, prng, testSeed, type TestDatabase } from './helpers.js';

let db: TestDatabase;
const seed = testSeed('sql.test');
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

const NASTY = ["'", "''", '\\', "\\'", '\\\\', '"', '`', '--', '/*', '*/', '#', ';', '{x:String}', '?', '$1', '\\0', '\\N', '\\x00', '%s', 'NULL', "' OR 1=1 --", "'); DROP TABLE x; --", '\u2028', '\u2029', '\uFEFF'];

/** A random valid UTF-16 string mixing ASCII, quotes, controls, BMP and astral characters. */
function randomString(): string {
  const len = int(40);
  let s = '';
  for (let i = 0; i < len; i++) {
    switch (int(8)) {
      case 0:
        s += String.fromCharCode(int(32)); // C0 controls incl. NUL, \t, \n, \r
        break;
      case 1:
        s += pick(["'", '\\', '"', '`', '\x7f', '\n', '\r', '\t', '\0']);
        break;
      case 2:
        s += pick(NASTY);
        break;
      case 3:
        s += String.fromCharCode(0x80 + int(0x780)); // Latin-1 supplement .. Arabic
        break;
      case 4: {
        let c = 0x800 + int(0xfffe - 0x800); // rest of the BMP, minus surrogates
        if (c >= 0xd800 && c <= 0xdfff) c = 0x4e00 + (c & 0xff);
        s += String.fromCharCode(c);
        break;
      }
      case 5:
        s += String.fromCodePoint(0x10000 + int(0x10ffff - 0x10000)); // astral (surrogate pairs)
        break;
      default:
        s += String.fromCharCode(0x20 + int(0x5f)); // printable ASCII
    }
  }
  return s;
}

/** Binds many values as columns c0..cN of one row and returns the row. */
async function roundTrip(values: readonly SqlValue[], wrap: (v: Sql) => Sql = (v) => v): Promise<Record<string, unknown>> {
  const names = values.map((_, i) => `c${i}`);
  const cols = values.map((v, i) => sql`${wrap(literal(v))} AS ${ident(names[i]!, names)}`);
  const rows = await db.ch.query(sql`SELECT ${join(cols)}`);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('sql tagged template against ClickHouse', () => {
  it('round-trips 3000 random strings exactly', async () => {
    const strings = Array.from({ length: 3000 }, randomString);
    strings.push('', ...NASTY, '\0'.repeat(5), "'".repeat(9), '\\'.repeat(9), 'a\r\nb', '😀', 'é\u0301');
    for (let start = 0; start < strings.length; start += 300) {
      const batch = strings.slice(start, start + 300);
      const row = await roundTrip(batch);
      batch.forEach((s, i) => expect(row[`c${i}`], `seed=${seed} string #${start + i} ${JSON.stringify(s)}`).toBe(s));
      // Byte lengths agree too, so nothing was normalised on the way.
      const lens = await roundTrip(batch, (v) => sql`length(${v})`);
      batch.forEach((s, i) => expect(Number(lens[`c${i}`]), `seed=${seed} byte length #${start + i}`).toBe(Buffer.byteLength(s, 'utf8')));
    }
  });

  it('keeps injection attempts literal in a WHERE clause', async () => {
    await db.ch.exec(sql`CREATE TABLE victims (name String) ENGINE = MergeTree ORDER BY name`);
    await db.ch.insert('victims', [{ name: 'alice' }, { name: 'bob' }], { format: 'JSONEachRow' });
    const attacks = ["' OR 1=1 --", "alice' OR '1'='1", "\\' OR 1=1 --", "'); DROP TABLE victims; --", "alice'/*", '*/ OR 1=1', "{x:String}", "alice\\", "' UNION ALL SELECT name FROM victims --"];
    for (const attack of attacks) {
      const rows = await db.ch.query<{ n: string }>(sql`SELECT count() AS n FROM victims WHERE name = ${attack}`);
      expect(rows[0]!.n, attack).toBe('0');
      const echoed = await db.ch.query<{ v: string }>(sql`SELECT ${attack} AS v`);
      expect(echoed[0]!.v).toBe(attack);
    }
    const still = await db.ch.query<{ n: string }>(sql`SELECT count() AS n FROM victims WHERE name = ${'alice'}`);
    expect(still[0]!.n).toBe('1');
  });

  it('round-trips random integers, floats and bigints', async () => {
    const ints: number[] = [0, 1, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 255, -128, 65536];
    for (let i = 0; i < 300; i++) ints.push(Math.floor((rand() - 0.5) * 2 * 10 ** int(16)));
    const intRow = await roundTrip(ints);
    ints.forEach((n, i) => expect(Number(intRow[`c${i}`]), `seed=${seed} int ${n}`).toBe(n));

    const floats: number[] = [0.1, -0.1, 0.30000000000000004, 1.5e-7, -2.5e-300, 2.2250738585072014e-308, 123456789.12345679, Math.PI, -Math.E];
    const view = new DataView(new ArrayBuffer(8));
    while (floats.length < 400) {
      for (let b = 0; b < 8; b++) view.setUint8(b, int(256));
      const x = view.getFloat64(0);
      if (!Number.isFinite(x) || Math.abs(x) < 2.2250738585072014e-308 || Number.isInteger(x)) continue;
      floats.push(x);
    }
    const floatRow = await roundTrip(floats);
    floats.forEach((x, i) => expect(Number(floatRow[`c${i}`]), `seed=${seed} float ${x}`).toBe(x));

    const bigs: bigint[] = [0n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, -1n];
    for (let i = 0; i < 200; i++) {
      let b = 0n;
      for (let k = 0; k < 4; k++) b = (b << 16n) | BigInt(int(65536));
      bigs.push(rand() < 0.5 ? b : -(b >> 1n));
    }
    const bigRow = await roundTrip(bigs, (v) => sql`toString(${v})`);
    bigs.forEach((b, i) => expect(BigInt(bigRow[`c${i}`] as string), `seed=${seed} bigint ${b}`).toBe(b));
  });

  it('parenthesises negatives so `x -${n}` is arithmetic, not a comment', async () => {
    const n = -5;
    const rows = await db.ch.query<{ v: number }>(sql`SELECT 10 -${n} AS v`);
    expect(rows[0]!.v).toBe(15);
    const b = -7n;
    const rows2 = await db.ch.query<{ v: string }>(sql`SELECT toString(10 -${b}) AS v`);
    expect(rows2[0]!.v).toBe('17');
  });

  it('binds booleans, null, dates and (nested) arrays', async () => {
    const dates = Array.from({ length: 50 }, () => new Date(int(4_000_000_000) * 1000 + int(1000)));
    const row = await roundTrip(dates, (v) => sql`toUnixTimestamp(${v})`);
    dates.forEach((d, i) => expect(Number(row[`c${i}`])).toBe(Math.floor(d.getTime() / 1000)));

    const [r] = await db.ch.query<Record<string, unknown>>(
      sql`SELECT ${true} AS t, ${false} AS f, isNull(${null}) AS n, ${[1, 2, 3]} AS a, ${["x'", 'y\\', '\n']} AS s, ${[[1], [2, -3]]} AS nested, length(${[] as number[]}) AS e`,
    );
    expect(r).toEqual({ t: 1, f: 0, n: 1, a: [1, 2, 3], s: ["x'", 'y\\', '\n'], nested: [[1], [2, -3]], e: '0' });
  });

  it('binds IN lists as tuples', async () => {
    const names = ["a'", 'b\\', 'c'];
    const rows = await db.ch.query<{ v: number }>(sql`SELECT ${"a'"} IN ${inList(names)} AS v`);
    expect(rows[0]!.v).toBe(1);
    const none = await db.ch.query<{ v: number }>(sql`SELECT ${"' OR 1=1"} IN ${inList(names)} AS v`);
    expect(none[0]!.v).toBe(0);
    expect(() => inList([])).toThrow(SqlBindError);
  });

  it('inlines nested fragments and joins them', async () => {
    const cond = join([sql`x > ${1}`, sql`x < ${5}`], sql` AND `);
    const rows = await db.ch.query<{ x: string }>(sql`SELECT x FROM (SELECT number AS x FROM system.numbers LIMIT 10) WHERE ${cond} ORDER BY x`);
    expect(rows.map((r) => Number(r.x))).toEqual([2, 3, 4]);
  });
});

describe('sql rejects what it cannot bind safely', () => {
  it('rejects non-finite, unsafe and subnormal numbers', () => {
    for (const bad of [NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53) - 2, 1e300, 5e-324]) {
      expect(() => sql`SELECT ${bad}`, String(bad)).toThrow(SqlBindError);
    }
    expect(() => sql`SELECT ${2n ** 64n}`).toThrow(SqlBindError);
    expect(() => sql`SELECT ${-(2n ** 63n) - 1n}`).toThrow(SqlBindError);
  });

  it('rejects lone surrogates (no UTF-8 encoding) but accepts pairs', () => {
    for (const bad of ['\uD800', 'a\uDC00b', '\uDBFFx', 'x\uD83D']) expect(() => sql`SELECT ${bad}`).toThrow(/surrogate/);
    expect(sql`SELECT ${'😀'}`.text).toBe("SELECT '😀'");
  });

  it('rejects undefined, objects, symbols, functions, bad dates', () => {
    const bads: unknown[] = [undefined, {}, { text: "'; DROP" }, Symbol('x'), () => 1, new Map(), new Date(NaN), new Date(-1000), [1, undefined]];
    for (const bad of bads) expect(() => sql`SELECT ${bad as SqlValue}`).toThrow(SqlBindError);
  });

  it('allows identifiers only from the allow-list', () => {
    expect(ident('usage_events_v1', tableNames).text).toBe('usage_events_v1');
    expect(ident('Events.Name', ['Events.Name']).text).toBe('Events.Name');
    expect(() => ident('users', tableNames)).toThrow(/allow-list/);
    expect(() => ident('a', 'abc' as unknown as string[])).toThrow(/allow-list/);
    for (const bad of ['x; DROP TABLE y', 'a b', '`x`', "x'", '1abc', '', 'a.b.c', 'x--']) {
      expect(() => ident(bad, [bad]), bad).toThrow(SqlBindError);
    }
  });

  it('cannot be called with a plain array or build fragments from text', () => {
    const text = "SELECT 1; DROP TABLE x";
    expect(() => sql([text] as unknown as TemplateStringsArray)).toThrow(/tagged template/);
    const fake = Object.assign([text], { raw: [text] }) as unknown as TemplateStringsArray;
    expect(() => sql(fake)).toThrow(/tagged template/);
    expect(() => new Sql(Symbol('tollgate.sql'), text)).toThrow();
    expect(() => join([text as unknown as Sql])).toThrow(SqlBindError);
    expect(() => join([sql`a`], ' OR 1=1 ' as unknown as Sql)).toThrow(SqlBindError);
  });

  it('client methods accept only Sql', async () => {
    await expect(db.ch.query('SELECT 1' as unknown as Sql)).rejects.toThrow(/Sql fragments/);
    await expect(db.ch.exec('DROP TABLE victims' as unknown as Sql)).rejects.toThrow(/Sql fragments/);
    await expect(db.ch.insert('victims; DROP TABLE x', [{}])).rejects.toThrow(/invalid table/);
  });
});
