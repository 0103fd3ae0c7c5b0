/**
 * Where the memory of a normal run goes: resident set size and V8 heap after
 * each thing a run does, in a fresh process (spawned by memory.ts), then the
 * peak of a run against the target in argv. Prints one JSON line.
 */
import { memoryUsage } from 'node:process';

const steps: Array<{ step: string; rssMB: number; heapMB: number }> = [];
const mark = (step: string): void => {
  const m = memoryUsage();
  steps.push({ step, rssMB: Math.round(m.rss / 1e5) / 10, heapMB: Math.round(m.heapTotal / 1e5) / 10 });
};

mark('node itself');
await import('undici');
mark('+ undici imported');
await import('ajv');
await import('yaml');
mark('+ ajv and yaml imported');
const lib = await import('../src/index.js');
mark('+ the runner library imported');
const suite = lib.loadSuite();
mark('+ cases loaded and validated');
const target = process.argv[2] as string;
await lib.run({ target, editions: 'auto', suite, services: new Map([['gateway', lib.gatewayService(target, { off: true })]]) });
mark('+ a run (no delivery)');
process.stdout.write(`${JSON.stringify({ steps, peakMB: Math.round(process.resourceUsage().maxRSS / 100) / 10 })}\n`);
