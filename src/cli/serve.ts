/** `conformance serve`: the bundled reference server until interrupted. */
import { startReferenceServer } from './run.js';
import type { Io } from './io.js';

export interface ServeSettings {
  port: number;
  host: string;
  pushTlsVerify: boolean;
  /** Advertise up to this v1 version, and follow its push rules. */
  specVersion?: string;
}

export function serveSettings(values: Record<string, unknown>): ServeSettings {
  return {
    port: (values['port'] as number | undefined) ?? 8008,
    host: (values['host'] as string | undefined) ?? '127.0.0.1',
    pushTlsVerify: values['no-push-tls-verify'] !== true,
    ...(typeof values['spec-version'] === 'string' ? { specVersion: values['spec-version'] } : {}),
  };
}

export async function serveCommand(s: ServeSettings, io: Io): Promise<number> {
  const versions = s.specVersion ? ['r0.6.1', ...Array.from({ length: Number(s.specVersion.replace(/^v1\./, '')) }, (_, i) => `v1.${i + 1}`)] : undefined;
  const server = await startReferenceServer({ port: s.port, host: s.host, pushTlsVerify: s.pushTlsVerify, ...(versions ? { versions } : {}) });
  io.out(`reference server listening on ${server.url}\n`);
  await io.stopped;
  await server.close();
  return 0;
}
