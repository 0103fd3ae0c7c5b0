#!/usr/bin/env node
/**
 * Standalone entry: `node dist/reference-server/main.js [--port N] [--host H] [--verbose]
 * [--no-push-tls-verify] [--push-allow-host HOST]...`.
 * Prints the URL on stdout; the CLI's `serve` command calls createServer itself.
 */
import { createServer } from './index.js';

interface Args {
  port: number;
  host: string;
  verbose: boolean;
  pushTlsVerify: boolean;
  pushAllowHosts: string[];
}

function parseArgs(argv: readonly string[]): Args | string {
  const args: Args = { port: 0, host: '127.0.0.1', verbose: false, pushTlsVerify: true, pushAllowHosts: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--verbose' || flag === '--no-push-tls-verify') {
      if (flag === '--verbose') args.verbose = true;
      else args.pushTlsVerify = false;
      continue;
    }
    if (flag !== '--port' && flag !== '--host' && flag !== '--push-allow-host') return `unknown argument ${arg}`;
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') return `${flag} needs a value`;
    if (flag === '--push-allow-host') {
      args.pushAllowHosts.push(value);
    } else if (flag === '--host') {
      args.host = value;
    } else {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) return `--port must be an integer from 0 to 65535, not ${value}`;
      args.port = port;
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (typeof args === 'string') {
  process.stderr.write(`reference-server: ${args}\nusage: main.js [--port N] [--host H] [--verbose] [--no-push-tls-verify] [--push-allow-host HOST]...\n`);
  process.exit(2);
}
try {
  const log = args.verbose ? (line: string) => void process.stderr.write(`${line}\n`) : undefined;
  const server = await createServer({ port: args.port, host: args.host, log, pushTlsVerify: args.pushTlsVerify, pushAllowHosts: args.pushAllowHosts });
  process.stdout.write(`${server.url}\n`);
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  process.stderr.write(`reference-server: cannot listen on ${args.host}:${args.port}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
