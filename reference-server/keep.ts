/**
 * `npm run build` runs this after tsc: it keeps the server's schema validators
 * as code (validate.ts), so that the server starts without compiling them. A
 * failure is not fatal: the server then compiles them at start, and a broken
 * schema stops it there with its reason.
 */
import { keepValidators } from './validate.js';

try {
  process.stdout.write(`kept the reference server's validators in ${keepValidators()}\n`);
} catch (err) {
  process.stdout.write(`the reference server's validators were not kept (it will compile them at start): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
}
