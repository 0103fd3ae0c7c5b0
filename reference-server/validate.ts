import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
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

const require = createRequire(import.meta.url);
/** ajv's standalone code for every schema, made by the build (keepValidators) so that the server starts without compiling them. */
const KEPT = fileURLToPath(new URL('./validators.kept.cjs', import.meta.url));

const OPTIONS: Options = {
  // verbose puts the offending value on each error, which the errcode choice needs.
  verbose: true,
  allErrors: false,
  // Strict, as the runner's: a schema in spec/ that Ajv finds ambiguous fails at start, not quietly.
  strict: true,
  allowUnionTypes: true,
  // if/then branches require members that the schema's top level defines.
  strictRequired: false,
};

interface SchemaFile {
  readonly name: string;
  readonly text: string;
  readonly schema: { $id: string };
}

function schemaFiles(): SchemaFile[] {
  const dir = join(packageInfo().root, 'spec', 'schemas');
  return readdirSync(dir).filter((name) => name.endsWith('.json')).sort().map((name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const schema: unknown = JSON.parse(text);
    const id = typeof schema === 'object' && schema !== null ? (schema as { $id?: unknown }).$id : undefined;
    if (typeof id !== 'string') throw new Error(`reference server: ${name} has no string $id`);
    return { name, text, schema: schema as { $id: string } };
  });
}

/** A hash of what the validators are made from: the schema files, the options and ajv's version. */
function fingerprint(files: readonly SchemaFile[]): string {
  const hash = createHash('sha256');
  hash.update(`ajv ${(require('ajv/package.json') as { version: string }).version}\n${JSON.stringify(OPTIONS)}\n`);
  for (const f of files) hash.update(`${f.name}\n${f.text}\n`);
  return hash.digest('hex');
}

function newAjv(files: readonly SchemaFile[], source: boolean): Ajv {
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  const ajv = new AjvClass({ ...OPTIONS, ...(source ? { code: { source: true } } : {}) });
  for (const f of files) ajv.addSchema(f.schema);
  return ajv;
}

let shared: Validators | undefined;

/**
 * One set of validators for the whole process, from spec/schemas: the server
 * and the runner judge bodies by the same files, so the reference server
 * cannot drift from what the cases expect. They come from the build's kept
 * code when it was made from exactly these files; otherwise they are compiled
 * here, all at once, so that a broken schema stops the server at start, not mid-run.
 */
export function loadValidators(): Validators {
  shared ??= makeValidators();
  return shared;
}

function makeValidators(): Validators {
  const files = schemaFiles();
  const ids = files.map((f) => f.schema.$id);
  const compiled = new Map<string, ValidateFunction>(Object.entries(keptCode(fingerprint(files)) ?? compileAll(files)));
  for (const id of ids) if (!compiled.has(id)) throw new Error(`reference server: schema ${id} did not compile`);
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

function compileAll(files: readonly SchemaFile[]): Record<string, ValidateFunction> {
  const ajv = newAjv(files, false);
  const out: Record<string, ValidateFunction> = {};
  for (const f of files) {
    const fn = ajv.getSchema(f.schema.$id);
    if (fn !== undefined) out[f.schema.$id] = fn;
  }
  return out;
}

function keptCode(expected: string): Record<string, ValidateFunction> | undefined {
  let kept: { fingerprint?: unknown; validators?: Record<string, ValidateFunction> };
  try {
    kept = require(KEPT) as typeof kept;
  } catch {
    return undefined;
  }
  return kept.fingerprint === expected ? kept.validators : undefined;
}

/** For tests: the kept code (undefined when it is missing or was made from other inputs), and the same validators compiled now. */
export function validatorSources(expected?: string): { kept: Record<string, ValidateFunction> | undefined; compiled: Record<string, ValidateFunction> } {
  const files = schemaFiles();
  return { kept: keptCode(expected ?? fingerprint(files)), compiled: compileAll(files) };
}

/** Writes the validators as ajv's standalone code (whole, then renamed into place); the build runs this through keep.ts. */
export function keepValidators(): string {
  // What an earlier build kept goes first: a build that fails here leaves nothing the server could take.
  rmSync(KEPT, { force: true });
  const files = schemaFiles();
  const { default: standaloneCode } = require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
  const code = standaloneCode(newAjv(files, true), Object.fromEntries(files.map((f) => [f.schema.$id, f.schema.$id])));
  const temp = `${KEPT}.${process.pid}.tmp`;
  writeFileSync(temp, `// Made by the build (keepValidators in validate.ts) from spec/schemas. Not edited by hand.\nexports.fingerprint = ${JSON.stringify(fingerprint(files))};\nexports.validators = {};\n(function (exports) {\n${code}\n})(exports.validators);\n`);
  renameSync(temp, KEPT);
  return KEPT;
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
