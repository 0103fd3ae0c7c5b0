/**
 * Report files: written whole or not at all, and never left claiming what
 * their run did not judge. A CI job that publishes its reports `if: always()`
 * publishes what is at their paths however the run ended: a crash, a kill,
 * a full disk.
 *
 * - Each report is written to a temporary file beside its path and renamed
 *   over it once complete, so a reader never sees half a report.
 * - Before the first request, each report path gets an "incomplete" report
 *   of its format (the caller gives its text). An earlier green report at
 *   that path is gone from then on: a run that ends any other way than by
 *   writing its reports (exit 70, an abort, kill -9) leaves the incomplete
 *   one, which every reader takes as a run that did not pass.
 *
 * Paths that are not regular files (/dev/stdout, a pipe, /dev/null) are
 * written in place, and get no incomplete report: there is nothing to leave
 * behind, and a rename would replace the device itself.
 */
import { closeSync, existsSync, openSync, readSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Where a rename lands: the file a symbolic link points to, so the link stays a link. */
function resolved(path: string): { real: string; exists: boolean; regular: boolean; mode?: number } {
  if (!existsSync(path)) return { real: path, exists: false, regular: true };
  const real = realpathSync(path);
  const stat = statSync(real);
  return { real, exists: true, regular: stat.isFile(), mode: stat.mode & 0o777 };
}

/**
 * Writes `text` to `path` whole or not at all. Where no temporary file can be
 * made beside it (a directory the user may not write, holding a file he may),
 * the file is written in place.
 */
export function writeReportFile(path: string, text: string): void {
  const target = resolved(path);
  if (!target.regular) {
    writeFileSync(target.real, text);
    return;
  }
  const temporary = join(dirname(target.real), `.${basename(target.real)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temporary, text, { flag: 'wx', ...(target.mode !== undefined ? { mode: target.mode } : {}) });
  } catch (err) {
    rmSync(temporary, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (target.exists && (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')) {
      writeFileSync(target.real, text);
      return;
    }
    throw err;
  }
  try {
    renameSync(temporary, target.real);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}

export interface ReportPath {
  path: string;
  /** The incomplete report of its format; absent for a file the run streams itself (the trace), which is only checked. */
  incomplete?: string;
}

/**
 * Before the first request: gives each report path its incomplete report
 * (or, for a streamed file, checks that it can be opened), so a path that
 * cannot be written is found now. Returns the problems, one line each, and
 * the paths this created (to be removed again if the run cannot start).
 */
export function prepareReportFiles(paths: readonly ReportPath[]): { problems: Array<{ path: string; code: string }>; created: string[] } {
  const problems: Array<{ path: string; code: string }> = [];
  const created: string[] = [];
  for (const { path, incomplete } of paths) {
    try {
      const target = resolved(path);
      if (incomplete === undefined || !target.regular) closeSync(openSync(path, 'a'));
      else writeReportFile(path, incomplete);
      if (!target.exists) created.push(path);
    } catch (err) {
      problems.push({ path, code: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
  }
  return { problems, created };
}

/** The largest expectations file or report the suite reads (its own reports of the whole suite are a few megabytes). */
export const INPUT_CAP = 16 * 1024 * 1024;

/** An input file over the cap: its size is not known (it may never end, as /dev/zero does not). */
export class InputTooLarge extends Error {
  readonly code = 'ETOOLARGE';
  constructor(readonly cap: number) {
    super(`larger than ${cap / (1024 * 1024)} MiB`);
  }
}

/**
 * Reads an input file (an expectations file, a report) as UTF-8, at most
 * `cap` bytes: a larger one, or one without end, is refused having read a
 * byte more than the cap, never taken in whole.
 */
export function readInputFile(path: string, cap = INPUT_CAP): string {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(cap + 1, 1024 * 1024));
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, cap + 1 - size), null);
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      size += n;
      if (size > cap) throw new InputTooLarge(cap);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
