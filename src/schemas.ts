import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import { SpecError } from './errors.js';
import { writeKeptFile } from './kept-file.js';
import { packageRoot, schemasDir, specDir } from './paths.js';

/**
 * The runner's validators for every schema in spec/, looked up by $id; ajv's
 * own errors are kept, not reduced to a boolean, so a failure can say which
 * member was wrong and why. There are two sets: `all` reports every error (the
 * suite's own files, reports), `first` stops at the first one (what a target
 * sent; see problemsOf).
 *
 * Compiling them is most of ajv's cost at start-up (about 0.1 s), so the build
 * keeps them as code (keepSchemas, in dist/src/schemas.*.kept.cjs) with a
 * fingerprint of the schema files, the options and ajv's version. A run whose
 * fingerprint matches loads that code and never loads ajv's compiler; any
 * change compiles the files afresh, exactly as before.
 */
const require = createRequire(import.meta.url);

// strictRequired off: if/then branches require members that the schema's top level defines.
const COMMON: Options = { strict: true, strictRequired: false, allowUnionTypes: true };
const SETS = { all: { ...COMMON, allErrors: true }, first: { ...COMMON, allErrors: false } } as const satisfies Record<string, Options>;
/** `first` judges only what targets send: the API schemas of spec/schemas. */
const API_ONLY: Record<SetName, boolean> = { all: false, first: true };
type SetName = keyof typeof SETS;
const SET_NAMES = Object.keys(SETS) as SetName[];

interface SchemaFile {
  readonly file: string;
  readonly text: string;
  readonly schema: { $id: string };
  /** An API schema (spec/schemas), as opposed to one of the suite's own formats. */
  readonly api: boolean;
}

/** spec/schemas/*.json, and the suite's own formats (cases, expectations), which sit beside them as spec/*.schema.json. */
function schemaFiles(): SchemaFile[] {
  const files = readdirSync(schemasDir).filter((f) => f.endsWith('.json')).sort().map((f) => join(schemasDir, f));
  files.push(...readdirSync(specDir).filter((f) => f.endsWith('.schema.json')).sort().map((f) => join(specDir, f)));
  return files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const schema = JSON.parse(text) as { $id?: unknown; description?: unknown };
    if (typeof schema.$id !== 'string' || !schema.$id || !schema.description) throw new SpecError(`${file}: every schema needs $id and description`);
    return { file, text, schema: schema as { $id: string }, api: file.startsWith(schemasDir) };
  });
}

function inSet(set: SetName, files: readonly SchemaFile[]): SchemaFile[] {
  return files.filter((f) => !API_ONLY[set] || f.api);
}

function newAjv(set: SetName, files: readonly SchemaFile[], source = false): Ajv {
  const { Ajv: AjvClass } = require('ajv') as typeof import('ajv');
  const a = new AjvClass({ ...SETS[set], ...(source ? { code: { source: true } } : {}) });
  for (const f of inSet(set, files)) a.addSchema(f.schema);
  return a;
}

function fingerprint(files: readonly SchemaFile[]): string {
  const hash = createHash('sha256');
  const { version } = require('ajv/package.json') as { version: string };
  hash.update(`ajv ${version}\n${JSON.stringify(SETS)}\n${JSON.stringify(API_ONLY)}\n`);
  for (const f of files) hash.update(`${relative(packageRoot, f.file)}\n${f.text}\n`);
  return hash.digest('hex');
}

interface ValidatorSet {
  readonly ids: readonly string[];
  get(id: string): ValidateFunction | undefined;
}

const sets: Partial<Record<SetName, ValidatorSet>> = {};
let files: SchemaFile[] | undefined;
let print: string | undefined;
/** Ajv instances, made only when needed: `all` also compiles the schemas that modules carry (compileSchema). */
const instances: Partial<Record<SetName, Ajv>> = {};

function instance(set: SetName = 'all'): Ajv {
  files ??= schemaFiles();
  return (instances[set] ??= newAjv(set, files));
}

function keptPath(set: SetName): string {
  return fileURLToPath(new URL(`./schemas.${set}.kept.cjs`, import.meta.url));
}

/** One set, from its kept code when that was made from exactly these schema files, options and ajv; compiled otherwise. */
function validatorSet(set: SetName): ValidatorSet {
  const done = sets[set];
  if (done) return done;
  files ??= schemaFiles();
  print ??= fingerprint(files);
  const ids = inSet(set, files).map((f) => f.schema.$id);
  const kept = keptCode(set, print);
  const made: ValidatorSet = kept
    ? { ids, get: (id) => (Object.hasOwn(kept, id) ? kept[id] : undefined) }
    : { ids, get: (id) => instance(set).getSchema(id) };
  sets[set] = made;
  return made;
}

function keptCode(set: SetName, expected: string): Record<string, ValidateFunction> | undefined {
  let kept: { fingerprint?: unknown; validators?: Record<string, ValidateFunction> };
  try {
    kept = require(keptPath(set)) as typeof kept;
  } catch {
    return undefined;
  }
  return kept.fingerprint === expected ? kept.validators : undefined;
}

/** For tests: a set's kept code (undefined when it is missing or was made from other inputs), and the same set compiled now. */
export function validatorSources(set: SetName, expected?: string): { kept: Record<string, ValidateFunction> | undefined; compiled: Record<string, ValidateFunction> } {
  const read = schemaFiles();
  const a = newAjv(set, read);
  const compiled = Object.fromEntries(inSet(set, read).map((f) => [f.schema.$id, a.getSchema(f.schema.$id) as ValidateFunction]));
  return { kept: keptCode(set, expected ?? fingerprint(read)), compiled };
}

/** Writes each set's validators as a CommonJS file of ajv's standalone code. The build runs this. */
export function keepSchemas(): string[] {
  // What an earlier build kept goes first: a build that fails here leaves nothing a run could take.
  for (const set of SET_NAMES) rmSync(keptPath(set), { force: true });
  const read = schemaFiles();
  const print = fingerprint(read);
  const { default: standaloneCode } = require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
  return SET_NAMES.map((set) => {
    const code = standaloneCode(newAjv(set, read, true), Object.fromEntries(inSet(set, read).map((f) => [f.schema.$id, f.schema.$id])));
    const header = `// Made by the build (keepSchemas in schemas.ts) from the schemas in spec/. Not edited by hand.\n`;
    return writeKeptFile(keptPath(set), `${header}exports.fingerprint = ${JSON.stringify(print)};\nexports.validators = {};\n(function (exports) {\n${code}\n})(exports.validators);\n`);
  });
}

export function schemaIds(): string[] {
  return [...validatorSet('all').ids];
}

export function getValidator(id: string): ValidateFunction {
  const fn = validatorSet('all').get(id);
  if (!fn) throw new SpecError(`no schema with $id "${id}" in spec/`);
  return fn;
}

const compiled = new WeakMap<object, ValidateFunction>();

/** Compiles a schema that a module carries (a step or expectation kind's), once per schema object. */
export function compileSchema(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = instance().compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Whether a value matches the API schema `id`, stopping at its first error. */
export function conforms(id: string, value: unknown): boolean {
  const fn = validatorSet('first').get(id);
  if (!fn) throw new SpecError(`no schema with $id "${id}" in spec/schemas`);
  return fn(value);
}

/** Whether spec/schemas holds an API schema with this $id (what the `schema` expectation may name). */
export function hasSchema(id: string): boolean {
  return validatorSet('first').get(id) !== undefined;
}

/**
 * Values a body may hold and still be validated for every error: past it, a
 * target's array of 262 000 empty objects would make millions of error
 * objects (hundreds of megabytes) to show five of them.
 */
export const ALL_ERRORS_UP_TO = 2_000;

/**
 * What is wrong with a value a target sent, against the API schema `id`, as
 * short lines (at most `max`); empty when it is valid. The verdict comes from
 * a validator that stops at its first error; only a small invalid value is
 * validated again for all of its errors.
 */
export function problemsOf(id: string, value: unknown, max: number): string[] {
  const quick = validatorSet('first').get(id);
  if (!quick) throw new SpecError(`no schema with $id "${id}" in spec/`);
  if (quick(value)) return [];
  if (!fewerValuesThan(value, ALL_ERRORS_UP_TO)) return [...describeErrors(quick.errors).slice(0, max), `(the first problem only: the body holds over ${ALL_ERRORS_UP_TO} values)`];
  const full = getValidator(id);
  full(value);
  return describeErrors(full.errors).slice(0, max);
}

/** Whether a JSON value holds fewer than `limit` values, counted without recursion and stopping at the limit. */
function fewerValuesThan(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  let seen = 0;
  while (stack.length) {
    const v = stack.pop();
    const inner = Array.isArray(v) ? v : typeof v === 'object' && v !== null ? Object.values(v) : [];
    seen += 1 + inner.length;
    if (seen >= limit) return false;
    stack.push(...inner);
  }
  return true;
}

/** ajv errors as short lines: "/pushers/0: must have required property 'lang'". */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'` : ''}`);
}
