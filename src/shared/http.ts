/** Small helpers shared by the HTTP roles (inference, api, otlp), all on fastify. */
import type { FastifyInstance } from 'fastify';

/** Listens and returns the port actually bound (differs from `port` when it is 0, as in tests). */
export async function listenOn(app: Pick<FastifyInstance, 'listen' | 'server'>, port: number, host: string): Promise<number> {
  await app.listen({ port, host });
  const addr = app.server.address();
  return typeof addr === 'object' && addr ? addr.port : port;
}
