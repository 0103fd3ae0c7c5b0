import { Ajv } from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
const a = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const files = [...readdirSync('spec/schemas').map((f) => 'spec/schemas/' + f), ...readdirSync('spec').filter((f) => f.endsWith('.schema.json')).map((f) => 'spec/' + f)];
let t = performance.now();
for (const f of files) a.addSchema(JSON.parse(readFileSync(f, 'utf8')));
console.log('add', (performance.now() - t).toFixed(0));
for (const id of Object.keys(a.schemas)) { if (id.startsWith('http')) continue; t = performance.now(); a.getSchema(id); console.log(id, (performance.now() - t).toFixed(1)); }
