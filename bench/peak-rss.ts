/**
 * Loaded with `node --import` into a process the bench spawns: at exit it
 * writes the process's peak resident set size to stderr, on a line of its
 * own that the bench reads (PEAK_RSS_PREFIX, then kilobytes).
 */
import { writeSync } from 'node:fs';
import { PEAK_RSS_PREFIX } from './peak-rss-line.js';

process.on('exit', () => {
  writeSync(2, `\n${PEAK_RSS_PREFIX}${process.resourceUsage().maxRSS}\n`);
});
