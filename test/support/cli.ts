import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, as `npx conformance` runs it. */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface Ran {
  code: number | null;
  /** Set when the run was killed at the timeout instead of ending on its own. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Spawns the real CLI; kills it after `timeoutMs` so a hang fails the test instead of stalling it. */
export function cli(args: readonly string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}
