/** Probes: does the expected service answer at host:port? Node builtins only. */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** 'up' | 'down' (nothing listens) | 'starting' | 'silent' (accepts, says nothing) | 'foreign' */
/** Connects, writes `payload`, collects bytes until `complete(data)` or end/timeout. */
export function tcpTalk(host, port, payload, complete, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: host.replace(/^\[|\]$/g, ''), port });
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (result, goodbye) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (goodbye) socket.end(goodbye);
      else socket.destroy();
      setTimeout(() => socket.destroy(), 200).unref();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ data, timedOut: true }), timeoutMs);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const goodbye = complete(data);
      if (goodbye) finish({ data }, goodbye === true ? undefined : goodbye);
    });
    socket.on('end', () => finish({ data }));
    socket.on('error', (err) =>
      finish(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(err.code) ? { refused: err.code } : { data, error: err }),
    );
  });
}

const printable = (buf) => JSON.stringify(buf.subarray(0, 60).toString('latin1'));

export async function probePostgres(host, port, url) {
  const user = decodeURIComponent(url.username) || 'postgres';
  const params = Buffer.from(`user\0${user}\0database\0postgres\0application_name\0tollgate-services\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
  const r = await tcpTalk(host, port, Buffer.concat([head, params]), (d) =>
    d.length >= 5 && d.length >= 1 + d.readInt32BE(1) ? terminate : d.length > 4096,
  );
  if (r.refused) return { state: 'down' };
  if (!r.data?.length) return { state: 'silent' };
  const type = String.fromCharCode(r.data[0]);
  const len = r.data.length >= 5 ? r.data.readInt32BE(1) : -1;
  if (type === 'R' && len >= 8 && len < 1024) return { state: 'up' };
  if (type === 'E' && len > 4 && len < 8192) {
    const fields = {};
    for (const part of r.data.subarray(5, 1 + len).toString('utf8').split('\0')) if (part) fields[part[0]] = part.slice(1);
    if (fields.C === '57P03') return { state: 'starting' };
    // Any other error (unknown role, bad password, too many clients) still proves it is Postgres.
    return { state: 'up', note: `${fields.C ?? ''} ${fields.M ?? ''}`.trim() };
  }
  return { state: 'foreign', detail: `answered ${printable(r.data)}` };
}

export function probeClickHouse(host, port, url) {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = lib.get({ host: host.replace(/^\[|\]$/g, ''), port, path: '/ping', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        resolve(res.statusCode === 200 && body.trim() === 'Ok.' ? { state: 'up' } : { state: 'foreign', detail: `GET /ping gave HTTP ${res.statusCode} ${JSON.stringify(body.slice(0, 60))}` }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(err.code)) resolve({ state: 'down' });
      else if (err.message === 'timeout' || err.code === 'ECONNRESET') resolve({ state: 'silent' });
      else resolve({ state: 'foreign', detail: `not HTTP (${err.code ?? err.message})` });
    });
  });
}

export async function probeRedis(host, port, url) {
  const resp = (...args) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const password = decodeURIComponent(url.password);
  const user = decodeURIComponent(url.username);
  const auth = password ? resp('AUTH', ...(user ? [user] : []), password) : '';
  const replies = auth ? 2 : 1;
  const r = await tcpTalk(host, port, auth + resp('PING'), (d) => d.toString('latin1').split('\r\n').length > replies || d.length > 4096);
  if (r.refused) return { state: 'down' };
  if (!r.data?.length) return { state: 'silent' };
  const last = r.data.toString('latin1').split('\r\n').filter(Boolean).at(-1) ?? '';
  if (last === '+PONG') return { state: 'up' };
  if (last.startsWith('-LOADING')) return { state: 'starting' };
  if (/^-(NOAUTH|WRONGPASS|ERR invalid password|ERR AUTH)/.test(last)) return { state: 'up', note: last };
  return { state: 'foreign', detail: `answered ${printable(r.data)}` };
}
