/**
 * Preloaded (`node --import`) into a process whose peak memory the bench
 * measures: at exit, it writes the process's peak resident set size as the
 * last line of stderr. Written with writeSync: at exit nothing asynchronous runs.
 */
import { writeSync } from 'node:fs';

process.on('exit', () => {
  writeSync(2, `\npeak-rss-kb ${process.resourceUsage().maxRSS}\n`);
});
