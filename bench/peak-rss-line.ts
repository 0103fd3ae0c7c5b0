/** The line bench/peak-rss.ts writes to stderr at exit, before the peak RSS in kilobytes. */
export const PEAK_RSS_PREFIX = 'bench-peak-rss-kb ';
