/**
 * What a command may do to the world, given to it by src/cli.ts: the only
 * module that touches the process's streams, argv, env and signals.
 */
export interface Io {
  /** Standard output. */
  out(text: string): void;
  /** Standard error. */
  err(text: string): void;
  /** Standard output is a terminal that takes colours. */
  color: boolean;
  /** Aborted at the first SIGINT or SIGTERM: no new case starts. */
  signal: AbortSignal;
  /** Resolves at the first SIGINT or SIGTERM (for `serve`). */
  stopped: Promise<void>;
}
