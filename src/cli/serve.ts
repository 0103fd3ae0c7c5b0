/** `conformance serve`: the bundled reference server until interrupted. */
import { advertisedVersions, startReferenceServer } from './run.js';
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
  const server = await startReferenceServer({ port: s.port, host: s.host, pushTlsVerify: s.pushTlsVerify, versions: advertisedVersions(s.specVersion) });
  io.out(`reference server listening on ${server.listening}${server.listening === server.url ? '' : ` (from this machine: ${server.url})`}\n`);
  if (!server.loopbackOnly) io.err(`conformance: warning: the reference server listens on ${server.listening}, beyond this machine: anyone who can reach it can register users and set pushers, and it is built for tests, not for a network\n`);
  await io.stopped;
  await server.close();
  return 0;
}
