import { Ajv } from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
const vs = process.argv[2] === 'novalidate';
const t0 = performance.now();
for (const allErrors of [true, false, false]) {
  const a = new Ajv({ allErrors, strict: true, strictRequired: false, allowUnionTypes: true, verbose: !allErrors, validateSchema: !vs });
  for (const f of readdirSync('spec/schemas')) a.addSchema(JSON.parse(readFileSync('spec/schemas/' + f, 'utf8')));
  for (const f of readdirSync('spec').filter((f) => f.endsWith('.schema.json'))) a.addSchema(JSON.parse(readFileSync('spec/' + f, 'utf8')));
  for (const id of Object.keys(a.schemas)) if (!id.startsWith('http')) a.getSchema(id);
}
console.log(process.argv[2], (performance.now() - t0).toFixed(0), 'ms');
