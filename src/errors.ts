/**
 * Every error the library throws on purpose carries a stable `code`; callers
 * (the CLI above all) branch on the code, never on the message.
 */
export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_CASE_FILE'
  | 'ERR_SPEC'
  | 'ERR_TARGET_UNREACHABLE'
  | 'ERR_TARGET_NOT_MATRIX'
  | 'ERR_TARGET_USERS'
  | 'ERR_TARGET_EDITION'
  | 'ERR_EXPECTATIONS'
  | 'ERR_REPORT_FILE'
  | 'ERR_SERVICE';

export class ConformanceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad command line: the CLI prints usage and exits 2. */
export class UsageError extends ConformanceError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('ERR_USAGE', problems.join('\n'));
    this.problems = problems;
  }
}

export interface CaseProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
}

export function formatProblem(p: CaseProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}${p.column === undefined ? '' : `:${p.column}`}`;
  return `${where}: ${p.message}`;
}

/** One or more case files are invalid; every problem is listed, nothing was sent. */
export class CaseFileError extends ConformanceError {
  readonly problems: CaseProblem[];
  constructor(problems: CaseProblem[]) {
    super('ERR_CASE_FILE', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** The spec/ data itself is inconsistent: a bug in the suite, not in the target. */
export class SpecError extends ConformanceError {
  constructor(message: string) {
    super('ERR_SPEC', message);
  }
}

/** The target cannot be tested at all: unreachable, not Matrix, or no users. */
export class TargetError extends ConformanceError {
  constructor(code: 'ERR_TARGET_UNREACHABLE' | 'ERR_TARGET_NOT_MATRIX' | 'ERR_TARGET_USERS' | 'ERR_TARGET_EDITION', message: string) {
    super(code, message);
  }
}
