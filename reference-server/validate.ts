import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { jsonType } from './json.js';
import { packageInfo } from './paths.js';
import { matrixError, type HandlerResult } from './result.js';

export type Validation<T> = { ok: true; value: T } | { ok: false; error: HandlerResult };

export interface Validators {
  /** The `$id`s of every schema found in spec/schemas. */
  readonly ids: readonly string[];
  /**
   * Checks `value` against the schema with this `$id`. `T` is the TypeScript
   * view of that schema, which the caller names; a failure is already a Matrix error.
   */
  check<T>(id: string, value: unknown): Validation<T>;
}

let shared: Validators | undefined;

/**
 * One Ajv instance for the whole process, compiled from spec/schemas at first
 * use: the server and the runner judge bodies by the same files, so the
 * reference server cannot drift from what the cases expect.
 */
export function loadValidators(): Validators {
  shared ??= compileSchemas(join(packageInfo().root, 'spec', 'schemas'));
  return shared;
}

function compileSchemas(dir: string): Validators {
  const ajv = new Ajv({
    // verbose puts the offending value on each error, which the errcode choice needs.
    verbose: true,
    allErrors: false,
    // Strict, as the runner's: a schema in spec/ that Ajv finds ambiguous fails at start, not quietly.
    strict: true,
    allowUnionTypes: true,
    // if/then branches require members that the schema's top level defines.
    strictRequired: false,
  });
  const ids: string[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    const schema: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const id = typeof schema === 'object' && schema !== null ? (schema as { $id?: unknown }).$id : undefined;
    if (typeof id !== 'string') throw new Error(`reference server: ${file} has no string $id`);
    ajv.addSchema(schema as object);
    ids.push(id);
  }
  // Compile everything now so that a broken schema stops the server at start, not mid-run.
  const compiled = new Map<string, ValidateFunction>();
  for (const id of ids) {
    const fn = ajv.getSchema(id);
    if (fn === undefined) throw new Error(`reference server: schema ${id} did not compile`);
    compiled.set(id, fn);
  }
  return {
    ids,
    check<T>(id: string, value: unknown): Validation<T> {
      const fn = compiled.get(id);
      if (fn === undefined) throw new Error(`reference server: unknown schema ${id}`);
      // Ajv has just proven that value has the shape of schema `id`, which T describes.
      if (fn(value)) return { ok: true, value: value as T };
      return { ok: false, error: toMatrixError(fn.errors ?? []) };
    },
  };
}

/** Maps the first meaningful Ajv error to the errcode the spec's SHOULD rows ask for. */
export function toMatrixError(errors: readonly ErrorObject[]): HandlerResult {
  // `if` only reports that its `then` failed; the error from inside `then` is the useful one.
  const error = errors.find((e) => e.keyword !== 'if') ?? errors[0];
  if (error === undefined) return matrixError(400, 'M_BAD_JSON', 'request body does not match the schema');
  const where = fieldName(error.instancePath);
  const message = `${where === '' ? 'body' : where}: ${error.message ?? 'is invalid'}`;
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty?: unknown }).missingProperty;
      const field = typeof missing === 'string' ? (where === '' ? missing : `${where}.${missing}`) : where;
      return matrixError(400, 'M_MISSING_PARAM', `missing field '${field}' (${message})`);
    }
    case 'type':
      return matrixError(400, 'M_BAD_JSON', message);
    case 'const':
    case 'enum': {
      // A value of the wrong JSON type is malformed; a value of the right type that
      // is not one of the allowed ones is a bad parameter.
      const allowed: unknown[] = error.keyword === 'const' ? [error.schema] : Array.isArray(error.schema) ? error.schema : [];
      const actual = jsonType(error.data);
      const sameType = allowed.some((v) => jsonType(v) === actual);
      return matrixError(400, sameType ? 'M_INVALID_PARAM' : 'M_BAD_JSON', message);
    }
    default:
      return matrixError(400, 'M_INVALID_PARAM', message);
  }
}

/** "/data/url" → "data.url"; JSON Pointer escapes decoded. */
function fieldName(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}
