/** What a route handler returns; app.ts turns it into an HTTP response. */

export interface HandlerResult {
  status: number;
  body: object;
  headers?: Readonly<Record<string, string>>;
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
