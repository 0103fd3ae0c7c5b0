import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { SpecError } from './errors.js';
import { schemasDir, specDir } from './paths.js';

/**
 * The one Ajv instance of the runner. Every schema in spec/ is compiled once,
 * here, and looked up by its $id; ajv's own errors are kept, not reduced to a
 * boolean, so a failure can say which member was wrong and why.
 */
let ajv: Ajv | undefined;
/** The same schemas, stopping at the first error: for what a target sent (see problemsOf). */
let firstError: Ajv | undefined;

function instance(): Ajv {
  ajv ??= build(true);
  return ajv;
}

function build(allErrors: boolean): Ajv {
  // strictRequired off: if/then branches require members that the schema's top level defines.
  const a = new Ajv({ allErrors, strict: true, strictRequired: false, allowUnionTypes: true });
  const files = readdirSync(schemasDir).filter((f) => f.endsWith('.json')).map((f) => join(schemasDir, f));
  // The suite's own formats (cases, expectations) sit beside the API schemas.
  files.push(...readdirSync(specDir).filter((f) => f.endsWith('.schema.json')).map((f) => join(specDir, f)));
  for (const file of files) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { $id?: string; description?: string };
    if (!schema.$id || !schema.description) throw new SpecError(`${file}: every schema needs $id and description`);
    a.addSchema(schema);
  }
  return a;
}

export function schemaIds(): string[] {
  return Object.keys(instance().schemas).filter((id) => !id.startsWith('http'));
}

export function getValidator(id: string): ValidateFunction {
  const fn = instance().getSchema(id);
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

export function hasSchema(id: string): boolean {
  return instance().getSchema(id) !== undefined;
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
  firstError ??= build(false);
  const quick = firstError.getSchema(id);
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
