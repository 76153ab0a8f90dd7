import net from 'node:net';

/**
 * A real TCP proxy in front of a real server (ClickHouse, Redis) that tests cut and restore. Modes:
 * - 'pass': forward both ways;
 * - 'down': refuse (accept and destroy at once) and cut every open connection — the server is "down";
 * - 'drop-insert-responses' (ClickHouse HTTP): forward everything, but when the server starts answering an
 *   INSERT, cut the connection instead — the insert ran, the client never learns it (an
 *   ambiguous failure). Other requests pass.
 */
export interface TcpProxy {
  port: number;
  url: string;
  mode: 'pass' | 'down' | 'drop-insert-responses';
  setMode(mode: TcpProxy['mode']): void;
  /** Requests whose responses were dropped. */
  dropped: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: TcpProxy = {
    port: 0,
    url: '',
    mode: 'pass',
    dropped: 0,
    setMode(mode) {
      proxy.mode = mode;
      if (mode === 'down') for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((client) => {
    if (proxy.mode === 'down') {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || defaultPort(target)), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const cleanup = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cleanup).on('close', cleanup);
    upstream.on('error', cleanup).on('close', cleanup);
    let isInsert = false;
    client.on('data', (chunk) => {
      if (proxy.mode === 'down') return cleanup();
      const head = chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
      if (/^(GET|POST) \//.test(head)) isInsert = /[?&]query=INSERT/i.test(head.split('\r\n', 1)[0] ?? '');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (proxy.mode === 'pass' || (proxy.mode === 'drop-insert-responses' && !isInsert)) {
        client.write(chunk);
        return;
      }
      if (proxy.mode === 'drop-insert-responses') proxy.dropped++;
      cleanup();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  // Same scheme and path (e.g. a Redis database number) as the target, through the proxy.
  proxy.url = `${target.protocol}//127.0.0.1:${proxy.port}${target.pathname.length > 1 ? target.pathname : ''}`;
  return proxy;
}

function defaultPort(target: URL): number {
  return target.protocol === 'redis:' ? 6379 : target.protocol === 'https:' ? 443 : 80;
}
