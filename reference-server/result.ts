/** What a route handler returns; app.ts turns it into an HTTP response. */

export interface HandlerResult {
  status: number;
  /** Serialised with JSON.stringify, unless it is already JSON text. */
  body: object | JsonText;
  headers?: Readonly<Record<string, string>>;
}

/**
 * A body that is already serialised: GET /pushers assembles its answer from the
 * stored JSON text of each pusher instead of parsing and re-serialising them.
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

export interface MatrixErrorBody {
  errcode: string;
  error: string;
}

export function ok(body: object = {}): HandlerResult {
  return { status: 200, body };
}

export function matrixError(status: number, errcode: string, error: string): HandlerResult {
  const body: MatrixErrorBody = { errcode, error };
  return { status, body };
}
