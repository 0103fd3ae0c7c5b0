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

function instance(): Ajv {
  if (ajv) return ajv;
  // strictRequired off: if/then branches require members that the schema's top level defines.
  const a = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  const files = readdirSync(schemasDir).filter((f) => f.endsWith('.json')).map((f) => join(schemasDir, f));
  // The suite's own formats (cases, expectations) sit beside the API schemas.
  files.push(...readdirSync(specDir).filter((f) => f.endsWith('.schema.json')).map((f) => join(specDir, f)));
  for (const file of files) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { $id?: string; description?: string };
    if (!schema.$id || !schema.description) throw new SpecError(`${file}: every schema needs $id and description`);
    a.addSchema(schema);
  }
  ajv = a;
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

/** ajv errors as short lines: "/pushers/0: must have required property 'lang'". */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'` : ''}`);
}
