import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { yaml } from '../yaml.js';
import { CaseFileError, type CaseProblem } from '../errors.js';
import { casesDir, packageRoot } from '../paths.js';
import { compileSchema, describeErrors, getValidator } from '../schemas.js';
import { loadSpec, type Edition, type SpecText } from '../spec/requirements.js';
import type { EditionInfo } from '../spec/editions.js';
import { scopeOf, type AnswerMatch, type Case, type CaseKinds, type Check, type EditionSetup, type Expectation, type References, type StatusWant, type Step, type Suite } from './types.js';
import { checkOperators, isPlainObject, type ValueProblem } from './values.js';

type Path = (string | number)[];

interface ParsedFile {
  file: string;
  display: string;
  doc: Document;
  lines: LineCounter;
  data: unknown;
}

function display(file: string): string {
  const rel = relative(packageRoot, file);
  return rel.startsWith('..') ? file : rel;
}

function parseFile(file: string, problems: CaseProblem[]): ParsedFile | undefined {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const text = readFileSync(file, 'utf8');
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const shown = display(file);
  const first = doc.errors[0];
  if (first) {
    // Only the first: a syntax error makes the parser's later complaints noise.
    const pos = lines.linePos(first.pos[0]);
    problems.push({ file: shown, line: pos.line, column: pos.col, message: `YAML syntax: ${first.message.split('\n')[0]}` });
    return undefined;
  }
  return { file, display: shown, doc, lines, data: doc.toJS({ maxAliasCount: 100 }) };
}

/** The line of the deepest node that exists along `path` (the parent for a missing member). */
function lineOf(pf: ParsedFile, path: Path): number {
  const { isMap, isSeq } = yaml();
  let node: unknown = pf.doc.contents;
  let best = 1;
  const lineAt = (n: unknown): number | undefined => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    return range ? pf.lines.linePos(range[0]).line : undefined;
  };
  best = lineAt(node) ?? best;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      best = lineAt(pair.key) ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (!node) break;
      best = lineAt(node) ?? best;
    } else break;
  }
  return best;
}

function pointerToPath(ptr: string): Path {
  if (!ptr) return [];
  return ptr.slice(1).split('/').map((s) => {
    const k = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(k) ? Number(k) : k;
  });
}

function checkTemplates(data: unknown, pf: ParsedFile, at: Path, problems: CaseProblem[]): Record<string, unknown> {
  if (!isPlainObject(data)) {
    problems.push({ file: pf.display, line: lineOf(pf, at), message: 'templates are a mapping of template name to object' });
    return {};
  }
  const out: ValueProblem[] = [];
  for (const [name, value] of Object.entries(data)) {
    if (!isPlainObject(value)) out.push([[...at, name], `template ${name} must be an object`]);
    checkOperators(value, [...at, name], false, out);
  }
  for (const [path, message] of out) problems.push({ file: pf.display, line: lineOf(pf, path), message });
  return data;
}

/** Reads cases/<edition>/_templates.yaml, the named values of every case of the edition. */
function loadTemplates(dir: string, edition: Edition, problems: CaseProblem[]): Record<string, unknown> {
  const file = join(dir, edition, '_templates.yaml');
  if (!isFile(file)) return {};
  const pf = parseFile(file, problems);
  return pf ? checkTemplates(pf.data, pf, [], problems) : {};
}

const isFile = (file: string): boolean => {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

export interface LoadOptions {
  /** The step and expectation kinds the cases may use (the core's and the areas': see src/kinds.ts). */
  kinds: CaseKinds;
  /** Folder holding <edition>/*.yaml; default: the suite's cases/. */
  dir?: string;
  editions?: readonly Edition[];
  spec?: SpecText;
}

/**
 * Reads a setup file: cases/<edition>/_edition.yaml (clean-up rules and the
 * baseline of every case of the edition) or cases/<edition>/<area>/_area.yaml
 * (those of the area's cases, and its templates).
 */
function loadSetup(file: string, edition: EditionInfo, problems: CaseProblem[]): EditionSetup & { templates?: Record<string, unknown> } {
  if (!isFile(file)) return { cleanup: [] };
  const pf = parseFile(file, problems);
  if (!pf) return { cleanup: [] };
  const validate = getValidator('edition-setup');
  const data = pf.data ?? {};
  if (!validate(data)) {
    const lines = describeErrors(validate.errors);
    (validate.errors ?? []).forEach((e, i) => problems.push({ file: pf.display, line: lineOf(pf, pointerToPath(e.instancePath)), message: lines[i] ?? e.keyword }));
    return { cleanup: [] };
  }
  const setup = data as EditionSetup & { templates?: Record<string, unknown> };
  const out: ValueProblem[] = [];
  const abs = (p: string): string => (p.startsWith('/_matrix/') ? p : edition.prefix + p);
  setup.cleanup = (setup.cleanup ?? []).map((rule, i) => {
    checkOperators(rule.after.sent, ['cleanup', i, 'after', 'sent'], true, out);
    checkOperators(rule.send.json, ['cleanup', i, 'send', 'json'], false, out, true);
    checkOperators(rule.send.path, ['cleanup', i, 'send', 'path'], false, out, true);
    const sendPath = typeof rule.send.path === 'string' ? abs(rule.send.path) : Array.isArray(rule.send.path) && typeof rule.send.path[0] === 'string' ? [abs(rule.send.path[0]), ...rule.send.path.slice(1)] : rule.send.path;
    if (sendPath === rule.send.path && typeof rule.send.path !== 'string') out.push([['cleanup', i, 'send', 'path'], 'a path, or a list of parts starting with a literal path']);
    const stars = rule.after.path.split('/').filter((seg) => seg === '*').length;
    for (const n of matchedRefs([rule.send.path, rule.send.json])) if (n > stars) out.push([['cleanup', i, 'send'], `{$matched: ${n}}: after.path has ${stars} * segment(s)`]);
    return { ...rule, after: { ...rule.after, path: abs(rule.after.path) }, send: { ...rule.send, path: sendPath } };
  });
  if (setup.baseline) setup.baseline = { ...setup.baseline, request: { ...setup.baseline.request, path: abs(setup.baseline.request.path) } };
  if (setup.templates !== undefined) setup.templates = checkTemplates(setup.templates, pf, ['templates'], problems);
  for (const [path, message] of out) problems.push({ file: pf.display, line: lineOf(pf, path), message });
  return setup;
}

/** The numbers {$matched: N} reads anywhere in a value. */
function matchedRefs(value: unknown, out: number[] = []): number[] {
  if (Array.isArray(value)) for (const v of value) matchedRefs(v, out);
  else if (isPlainObject(value)) {
    if (typeof value['$matched'] === 'number') out.push(value['$matched']);
    for (const v of Object.values(value)) matchedRefs(v, out);
  }
  return out;
}

/** The folders below cases/<edition>/ (its areas), sorted; files there that are not setup files are problems. */
function areaFolders(dir: string, edition: Edition, problems: CaseProblem[]): string[] {
  let entries: string[];
  try {
    entries = readdirSync(join(dir, edition)).sort();
  } catch {
    return [];
  }
  const folders: string[] = [];
  for (const name of entries) {
    const full = join(dir, edition, name);
    if (statSync(full).isDirectory()) folders.push(name);
    else if (/\.ya?ml$/.test(name) && !name.startsWith('_')) problems.push({ file: display(full), message: `a case lives in the folder of its area, cases/${edition}/<area>/ (areas: spec/areas.yaml)` });
  }
  return folders;
}

/**
 * Loads and validates every case file before anything is sent. All problems of
 * all files are collected and thrown together as one CaseFileError, each with
 * file:line, so a suite author fixes them in one pass.
 */
export function readSuite(options: LoadOptions): Suite {
  const { kinds } = options;
  const dir = options.dir ?? casesDir;
  const spec = options.spec ?? loadSpec();
  const editions = options.editions ?? [...spec.editions.keys()];
  const problems: CaseProblem[] = [];
  const templates: Suite['templates'] = {};
  const setups: Suite['setups'] = {};
  const cases: Case[] = [];
  const seen = new Map<string, string>();

  for (const edition of editions) {
    const info = spec.editions.get(edition);
    if (!info) {
      problems.push({ file: join(display(dir), edition), message: `edition ${edition} is not in spec/editions.yaml` });
      continue;
    }
    const editionTemplates = loadTemplates(dir, edition, problems);
    const editionSetup = loadSetup(join(dir, edition, '_edition.yaml'), info, problems);
    // Areas in the order of spec/areas.yaml: the suite's order, which reports keep.
    const order = [...spec.areas.keys()];
    const folders = areaFolders(dir, edition, problems).sort((a, b) => (order.indexOf(a) + 1 || order.length + 1) - (order.indexOf(b) + 1 || order.length + 1));
    for (const area of folders) {
      if (!spec.areas.has(area)) {
        problems.push({ file: join(display(dir), edition, area), message: `${area} is not an area of spec/areas.yaml (${[...spec.areas.keys()].join(', ')})` });
        continue;
      }
      const areaSetup = loadSetup(join(dir, edition, area, '_area.yaml'), info, problems);
      const scope = scopeOf({ edition, area });
      templates[scope] = { ...editionTemplates, ...(areaSetup.templates ?? {}) };
      const baseline = areaSetup.baseline ?? editionSetup.baseline;
      const alternatives = [...(editionSetup.alternatives ?? []), ...(areaSetup.alternatives ?? [])];
      setups[scope] = { cleanup: [...editionSetup.cleanup, ...areaSetup.cleanup], ...(baseline ? { baseline } : {}), ...(alternatives.length ? { alternatives } : {}) };
      for (const c of readArea(join(dir, edition, area), { edition: info, area, spec, templates: templates[scope] as Record<string, unknown>, kinds }, problems)) {
        const dup = seen.get(c.id);
        if (dup) problems.push({ file: c.file, line: 1, message: `case id ${c.id} is already used by ${dup}` });
        seen.set(c.id, c.file);
        cases.push(c);
      }
    }
  }
  if (problems.length) throw new CaseFileError(problems);
  return { cases, templates, setups };
}

interface AreaContext {
  edition: EditionInfo;
  area: string;
  spec: SpecText;
  templates: Record<string, unknown>;
  kinds: CaseKinds;
}

/** Loads and validates the case files of one area folder. */
function readArea(folder: string, a: AreaContext, problems: CaseProblem[]): Case[] {
  const validate = getValidator('case');
  const out: Case[] = [];
  for (const name of readdirSync(folder).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('_')).sort()) {
    const pf = parseFile(join(folder, name), problems);
    if (!pf) continue;
    const at = (path: Path, message: string): void => {
      problems.push({ file: pf.display, line: lineOf(pf, path), message });
    };
    if (!validate(pf.data)) {
      // Report the most specific errors; oneOf/if noise adds nothing for a case author.
      const all = validate.errors ?? [];
      const errors = all.filter((e) => !['oneOf', 'if', 'not'].includes(e.keyword) || all.length === 1);
      const shown = errors.length ? errors : all;
      const lines = describeErrors(shown);
      shown.forEach((e, i) => {
        const extra = e.keyword === 'additionalProperties' ? [(e.params as { additionalProperty: string }).additionalProperty] : [];
        at([...pointerToPath(e.instancePath), ...extra], lines[i] ?? e.message ?? e.keyword);
      });
      continue;
    }
    const c = toCase(pf.data as Record<string, unknown>, pf, a, at);
    if (!c) continue;
    checkCase(c, a, at);
    out.push(c);
  }
  return out;
}

/** Validates a kind's value against the kind's own schema, reporting at `path`. */
function checkKindValue(schema: object, value: unknown, path: Path, what: string, at: (path: Path, message: string) => void): boolean {
  const v = compileSchema(schema);
  if (v(value)) return true;
  const errors = (v.errors ?? []).filter((e) => !['oneOf', 'if', 'not'].includes(e.keyword) || (v.errors ?? []).length === 1);
  const shown = errors.length ? errors : v.errors ?? [];
  const where = '/' + path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  shown.forEach((e) => {
    const extra = e.keyword === 'additionalProperties' ? [(e.params as { additionalProperty: string }).additionalProperty] : [];
    const line = describeErrors([{ ...e, instancePath: where + e.instancePath }])[0] ?? e.keyword;
    at([...path, ...pointerToPath(e.instancePath), ...extra], `${line} (in ${what})`);
  });
  return false;
}

function toCase(raw: Record<string, unknown>, pf: ParsedFile, a: AreaContext, at: (path: Path, message: string) => void): Case | undefined {
  const { kinds, edition } = a;
  const users = (raw['users'] as string[] | undefined) ?? [];
  let ok = true;
  const toStep = (where: 'steps' | 'finally') => (s: Record<string, unknown>, i: number): Step => {
    const known = kinds.steps.all.map((k) => k.name);
    const others = Object.keys(s).filter((k) => !['title', 'expect', 'capture', 'setup', 'skip_if', 'end_if'].includes(k));
    const kindKeys = others.filter((k) => kinds.steps.get(k));
    for (const k of others.filter((x) => !kinds.steps.get(x))) {
      at([where, i, k], `/${where}/${i}: must NOT have additional properties '${k}' (a step holds title, expect, capture and one step kind: ${known.join(', ')})`);
      ok = false;
    }
    if (kindKeys.length !== 1) {
      at([where, i], kindKeys.length === 0 ? `/${where}/${i}: a step needs one step kind (${known.join(', ')})` : `/${where}/${i}: a step has one step kind, this one has ${kindKeys.join(', ')}`);
      ok = false;
    }
    const kindName = kindKeys[0] ?? '';
    const kind = kinds.steps.get(kindName);
    let spec = s[kindName];
    if (kind) {
      if (where === 'finally' && kind.name !== 'request') {
        at([where, i, kindName], `/finally/${i}: a finally step is a request`);
        ok = false;
      }
      if (!checkKindValue(kind.schema, spec, [where, i, kindName], kindName, at)) ok = false;
      else {
        // The request's default user: the case's first.
        if (isPlainObject(spec) && kind.name === 'request' && spec['auth'] === undefined) spec = { ...spec, auth: users[0] ?? 'none' };
        spec = kind.prepare ? kind.prepare(spec, edition) : spec;
      }
    }
    if (where === 'finally' && ['expect', 'setup', 'skip_if', 'end_if', 'capture'].some((k) => s[k] !== undefined)) {
      at([where, i], `/finally/${i}: a finally step holds a title and its request only: it judges nothing`);
      ok = false;
    }
    if (where === 'steps' && s['expect'] === undefined && s['setup'] === undefined) {
      at(['steps', i], `/steps/${i}: a step needs expectations (expect), or setup: {status} for a step that only sets the scene`);
      ok = false;
    }
    if (s['expect'] !== undefined && s['setup'] !== undefined) {
      at(['steps', i, 'setup'], `/steps/${i}: a step has expectations or setup, not both`);
      ok = false;
    }
    const statuses = (v: unknown): number[] => (Array.isArray(v) ? (v as number[]) : [v as number]);
    const setup = isPlainObject(s['setup']) ? { status: statuses(s['setup']['status']) } : undefined;
    const answerMatch = (key: 'skip_if' | 'end_if'): AnswerMatch | undefined => {
      const raw = s[key];
      if (!isPlainObject(raw)) return undefined;
      if (raw['body'] !== undefined) {
        const ops: ValueProblem[] = [];
        checkOperators(raw['body'], [where, i, key, 'body'], true, ops);
        for (const [path, message] of ops) at(path, message);
      }
      return {
        ...(raw['status'] !== undefined ? { status: Array.isArray(raw['status']) ? (raw['status'] as StatusWant[]) : [raw['status'] as StatusWant] } : {}),
        ...(raw['errcode'] !== undefined ? { errcode: Array.isArray(raw['errcode']) ? (raw['errcode'] as string[]) : [raw['errcode'] as string] } : {}),
        ...(raw['body'] !== undefined ? { body: raw['body'] } : {}),
        reason: raw['reason'] as string,
      };
    };
    const skipIf = answerMatch('skip_if');
    const endIf = answerMatch('end_if');
    const expect = ((s['expect'] as Array<Record<string, unknown>> | undefined) ?? []).map((e, j): Expectation => {
      const checks: Check[] = [];
      for (const [key, value] of Object.entries(e)) {
        if (key === 'requirement') continue;
        const ek = kinds.expects.get(key);
        if (!ek) {
          at(['steps', i, 'expect', j, key], `/steps/${i}/expect/${j}: must NOT have additional properties '${key}' (an expectation holds requirement and expectation kinds: ${kinds.expects.all.map((k) => k.name).join(', ')})`);
          ok = false;
          continue;
        }
        if (kind && !ek.steps.includes(kind.name)) {
          at(['steps', i, 'expect', j, key], `/steps/${i}/expect/${j}/${key}: does not apply to a ${kind.name} step (it applies to ${ek.steps.join(', ')})`);
          ok = false;
        }
        if (!checkKindValue(ek.schema, value, ['steps', i, 'expect', j, key], key, at)) ok = false;
        checks.push({ kind: key, value });
      }
      return { requirement: e['requirement'] as string, checks, line: lineOf(pf, ['steps', i, 'expect', j]) };
    });
    return { kind: kindName, title: s['title'] as string, spec, expect, ...(setup ? { setup } : {}), ...(skipIf ? { skipIf } : {}), ...(endIf ? { endIf } : {}), capture: (s['capture'] as Record<string, string> | undefined) ?? {}, line: lineOf(pf, [where, i]) };
  };
  const steps = (raw['steps'] as Array<Record<string, unknown>>).map(toStep('steps'));
  const final = ((raw['finally'] as Array<Record<string, unknown>> | undefined) ?? []).map(toStep('finally'));
  if (!ok) return undefined;
  return {
    id: raw['id'] as string,
    title: raw['title'] as string,
    edition: raw['edition'] as Edition,
    area: a.area,
    requirements: raw['requirements'] as string[],
    tags: (raw['tags'] as string[] | undefined) ?? [],
    users,
    freshUsers: raw['fresh_users'] === true,
    needs: (raw['needs'] as string[] | undefined) ?? [],
    steps,
    finally: final,
    file: pf.display,
    line: 1,
  };
}

function checkCase(c: Case, a: AreaContext, at: (path: Path, message: string) => void): void {
  const { spec, templates, kinds } = a;
  if (c.edition !== a.edition.id) at(['edition'], `edition is ${c.edition} but the file is under cases/${a.edition.id}/`);
  if (!c.id.startsWith(c.edition + '.')) at(['id'], `case id must start with "${c.edition}."`);
  c.requirements.forEach((id, i) => {
    const r = spec.requirements.get(id);
    if (!r) at(['requirements', i], `unknown requirement ${id}: not defined in ${[...spec.areas.values()].map((x) => `spec/${x.requirements}`).join(', ')}`);
    else if (r.edition !== c.edition) at(['requirements', i], `requirement ${id} belongs to edition ${r.edition}, not ${c.edition}`);
  });
  const cited = new Set<string>();
  const captured = new Set<string>();
  const checkStep = (where: 'steps' | 'finally') => (step: Step, i: number): void => {
    const kind = kinds.steps.get(step.kind);
    const ops: ValueProblem[] = [];
    const refs: References = { auth: new Set<string>(), vars: new Set<string>(), users: new Set<string>(), templates: new Set<string>(), services: new Set<string>() };
    kind?.check?.(step.spec, [where, i, step.kind], ops, refs);
    for (const u of refs.auth) if (!c.users.includes(u)) at([where, i, step.kind, 'auth'], `auth "${u}" is not one of the case's users (${c.users.join(', ') || 'none declared'}), "none" or "invalid"`);
    step.expect.forEach((e, j) => {
      cited.add(e.requirement);
      if (!c.requirements.includes(e.requirement)) at([where, i, 'expect', j, 'requirement'], `requirement ${e.requirement} is not listed in the case's requirements`);
      for (const check of e.checks) kinds.expects.get(check.kind)?.check?.(check.value, [where, i, 'expect', j, check.kind], ops, refs);
    });
    for (const [path, message] of ops) at(path, message);
    for (const v of refs.vars) if (!captured.has(v)) at([where, i], where === 'steps' ? `{$var: ${v}} is used before any earlier step captures it` : `{$var: ${v}}: no step captures it`);
    for (const u of refs.users) if (!c.users.includes(u)) at([where, i], `{$user_id: ${u}} names no user of this case`);
    for (const t of refs.templates) if (!(t in templates)) at([where, i], `{$template: ${t}}: no such template in cases/${c.edition}/_templates.yaml or cases/${c.edition}/${c.area}/_area.yaml`);
    for (const svc of refs.services) if (!c.needs.includes(svc)) at([where, i], `{$service: ${svc}.…} names a service the case does not list in needs`);
    for (const name of Object.keys(step.capture)) captured.add(name);
  };
  c.steps.forEach(checkStep('steps'));
  c.finally.forEach(checkStep('finally'));
  c.requirements.forEach((id, i) => {
    if (!cited.has(id)) at(['requirements', i], `requirement ${id} is listed but no expectation checks it`);
  });
}
