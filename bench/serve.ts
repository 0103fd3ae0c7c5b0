/**
 * Child-process entry for the throughput benchmark: serves on 127.0.0.1 in its
 * own process (so the load generator and the server each get a core) and tells
 * the parent its URL over IPC.
 *
 *   node dist/bench/serve.js bare   a node:http server answering 200 `{}` to everything
 *   node dist/bench/serve.js ref    the reference server (createServer({ port: 0 }))
 *
 * It exits when the parent goes away, when told to, or after a hard bound.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from '../reference-server/index.js';

const HARD_BOUND_MS = 120_000;

async function main(): Promise<void> {
  const kind = process.argv[2];
  let url: string;
  let close: () => Promise<void>;
  if (kind === 'bare') {
    const server = createHttpServer((req, res) => {
      // Read the body as any real handler must, then answer.
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
  } else if (kind === 'ref') {
    // The benchmark grows one user's store past the caps a long serve session needs: lifted here, and bounded by the benchmark's own time.
    const server = await createServer({ port: 0, maxPushersPerUser: Infinity, maxPusherStorageBytes: Infinity });
    url = server.url;
    close = () => server.close();
  } else {
    throw new Error(`serve.ts: unknown kind ${String(kind)} (bare | ref)`);
  }
  const stop = (): void => {
    void close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('disconnect', stop);
  process.on('message', (m) => {
    if (m === 'stop') stop();
  });
  setTimeout(stop, HARD_BOUND_MS).unref();
  process.send?.({ url });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
