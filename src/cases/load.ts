import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { CaseFileError, type CaseProblem } from '../errors.js';
import { casesDir, packageRoot } from '../paths.js';
import { compileSchema, describeErrors, getValidator } from '../schemas.js';
import { loadSpec, type Edition, type SpecText } from '../spec/requirements.js';
import type { EditionInfo } from '../spec/editions.js';
import type { Case, CaseKinds, Check, EditionSetup, Expectation, References, Step, Suite } from './types.js';
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

function loadTemplates(dir: string, edition: Edition, problems: CaseProblem[]): Record<string, unknown> {
  const file = join(dir, edition, '_templates.yaml');
  try {
    statSync(file);
  } catch {
    return {};
  }
  const pf = parseFile(file, problems);
  if (!pf) return {};
  if (!isPlainObject(pf.data)) {
    problems.push({ file: pf.display, line: 1, message: 'a templates file is a mapping of template name to object' });
    return {};
  }
  const out: ValueProblem[] = [];
  for (const [name, value] of Object.entries(pf.data)) {
    if (!isPlainObject(value)) out.push([[name], `template ${name} must be an object`]);
    checkOperators(value, [name], false, out);
  }
  for (const [path, message] of out) problems.push({ file: pf.display, line: lineOf(pf, path), message });
  return pf.data;
}

export interface LoadOptions {
  /** The step and expectation kinds the cases may use (the runner's registries: see run/suite.ts). */
  kinds: CaseKinds;
  /** Folder holding <edition>/*.yaml; default: the suite's cases/. */
  dir?: string;
  editions?: readonly Edition[];
  spec?: SpecText;
}

/** Reads cases/<edition>/_edition.yaml: the clean-up rules and the baseline of the edition's cases. */
function loadSetup(dir: string, edition: EditionInfo, problems: CaseProblem[]): EditionSetup {
  const file = join(dir, edition.id, '_edition.yaml');
  try {
    statSync(file);
  } catch {
    return { cleanup: [] };
  }
  const pf = parseFile(file, problems);
  if (!pf) return { cleanup: [] };
  const validate = getValidator('edition-setup');
  const data = pf.data ?? {};
  if (!validate(data)) {
    const lines = describeErrors(validate.errors);
    (validate.errors ?? []).forEach((e, i) => problems.push({ file: pf.display, line: lineOf(pf, pointerToPath(e.instancePath)), message: lines[i] ?? e.keyword }));
    return { cleanup: [] };
  }
  const setup = data as EditionSetup;
  const out: ValueProblem[] = [];
  setup.cleanup = (setup.cleanup ?? []).map((rule, i) => {
    checkOperators(rule.after.sent, ['cleanup', i, 'after', 'sent'], true, out);
    checkOperators(rule.send.json, ['cleanup', i, 'send', 'json'], false, out, true);
    checkOperators(rule.send.path, ['cleanup', i, 'send', 'path'], false, out, true);
    const abs = (p: string): string => (p.startsWith('/_matrix/') ? p : edition.prefix + p);
    const sendPath = typeof rule.send.path === 'string' ? abs(rule.send.path) : Array.isArray(rule.send.path) && typeof rule.send.path[0] === 'string' ? [abs(rule.send.path[0]), ...rule.send.path.slice(1)] : rule.send.path;
    if (sendPath === rule.send.path && typeof rule.send.path !== 'string') out.push([['cleanup', i, 'send', 'path'], 'a path, or a list of parts starting with a literal path']);
    return { ...rule, after: { ...rule.after, path: abs(rule.after.path) }, send: { ...rule.send, path: sendPath } };
  });
  if (setup.baseline) setup.baseline = { ...setup.baseline, request: { ...setup.baseline.request, path: setup.baseline.request.path.startsWith('/_matrix/') ? setup.baseline.request.path : edition.prefix + setup.baseline.request.path } };
  for (const [path, message] of out) problems.push({ file: pf.display, line: lineOf(pf, path), message });
  return setup;
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
  const editions = options.editions ?? ([...spec.editions.keys()] as Edition[]);
  const problems: CaseProblem[] = [];
  const templates = {} as Record<Edition, Record<string, unknown>>;
  const setups = {} as Record<Edition, EditionSetup>;
  const cases: Case[] = [];
  const seen = new Map<string, string>();
  const validate = getValidator('case');

  for (const edition of editions) {
    const info = spec.editions.get(edition);
    if (!info) {
      problems.push({ file: join(display(dir), edition), message: `edition ${edition} is not in spec/editions.yaml` });
      continue;
    }
    templates[edition] = loadTemplates(dir, edition, problems);
    setups[edition] = loadSetup(dir, info, problems);
    let files: string[];
    try {
      files = readdirSync(join(dir, edition)).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('_')).sort();
    } catch {
      continue;
    }
    for (const name of files) {
      const file = join(dir, edition, name);
      const pf = parseFile(file, problems);
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
      const raw = pf.data as Record<string, unknown>;
      const c = toCase(raw, pf, info, at, kinds);
      if (!c) continue;
      checkCase(c, edition, spec, templates[edition], at, kinds);
      const dup = seen.get(c.id);
      if (dup) at(['id'], `case id ${c.id} is already used by ${dup}`);
      seen.set(c.id, pf.display);
      cases.push(c);
    }
  }
  if (problems.length) throw new CaseFileError(problems);
  return { cases, templates, setups };
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

function toCase(raw: Record<string, unknown>, pf: ParsedFile, edition: EditionInfo, at: (path: Path, message: string) => void, kinds: CaseKinds): Case | undefined {
  const users = (raw['users'] as string[] | undefined) ?? [];
  let ok = true;
  const steps = (raw['steps'] as Array<Record<string, unknown>>).map((s, i): Step => {
    const known = kinds.steps.all.map((k) => k.name);
    const others = Object.keys(s).filter((k) => !['title', 'expect', 'capture', 'setup', 'skip_if'].includes(k));
    const kindKeys = others.filter((k) => kinds.steps.get(k) && !['setup', 'skip_if'].includes(k));
    for (const k of others.filter((x) => !kinds.steps.get(x))) {
      at(['steps', i, k], `/steps/${i}: must NOT have additional properties '${k}' (a step holds title, expect, capture and one step kind: ${known.join(', ')})`);
      ok = false;
    }
    if (kindKeys.length !== 1) {
      at(['steps', i], kindKeys.length === 0 ? `/steps/${i}: a step needs one step kind (${known.join(', ')})` : `/steps/${i}: a step has one step kind, this one has ${kindKeys.join(', ')}`);
      ok = false;
    }
    const kindName = kindKeys[0] ?? '';
    const kind = kinds.steps.get(kindName);
    let spec = s[kindName];
    if (kind) {
      if (!checkKindValue(kind.schema, spec, ['steps', i, kindName], kindName, at)) ok = false;
      else {
        // The request's default user: the case's first.
        if (isPlainObject(spec) && kind.name === 'request' && spec['auth'] === undefined) spec = { ...spec, auth: users[0] ?? 'none' };
        spec = kind.prepare ? kind.prepare(spec, edition) : spec;
      }
    }
    if (s['expect'] === undefined && s['setup'] === undefined) {
      at(['steps', i], `/steps/${i}: a step needs expectations (expect), or setup: {status} for a step that only sets the scene`);
      ok = false;
    }
    if (s['expect'] !== undefined && s['setup'] !== undefined) {
      at(['steps', i, 'setup'], `/steps/${i}: a step has expectations or setup, not both`);
      ok = false;
    }
    const statuses = (v: unknown): number[] => (Array.isArray(v) ? (v as number[]) : [v as number]);
    const setup = isPlainObject(s['setup']) ? { status: statuses(s['setup']['status']) } : undefined;
    const skipIf = isPlainObject(s['skip_if']) ? { status: statuses(s['skip_if']['status']), ...(s['skip_if']['errcode'] !== undefined ? { errcode: Array.isArray(s['skip_if']['errcode']) ? (s['skip_if']['errcode'] as string[]) : [s['skip_if']['errcode'] as string] } : {}), reason: s['skip_if']['reason'] as string } : undefined;
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
    return { kind: kindName, title: s['title'] as string, spec, expect, ...(setup ? { setup } : {}), ...(skipIf ? { skipIf } : {}), capture: (s['capture'] as Record<string, string> | undefined) ?? {}, line: lineOf(pf, ['steps', i]) };
  });
  if (!ok) return undefined;
  return {
    id: raw['id'] as string,
    title: raw['title'] as string,
    edition: raw['edition'] as Edition,
    requirements: raw['requirements'] as string[],
    tags: (raw['tags'] as string[] | undefined) ?? [],
    users,
    freshUsers: raw['fresh_users'] === true,
    needs: (raw['needs'] as string[] | undefined) ?? [],
    steps,
    file: pf.display,
    line: 1,
  };
}

function checkCase(c: Case, dirEdition: Edition, spec: SpecText, templates: Record<string, unknown>, at: (path: Path, message: string) => void, kinds: CaseKinds): void {
  if (c.edition !== dirEdition) at(['edition'], `edition is ${c.edition} but the file is under cases/${dirEdition}/`);
  if (!c.id.startsWith(c.edition + '.')) at(['id'], `case id must start with "${c.edition}."`);
  c.requirements.forEach((id, i) => {
    const r = spec.requirements.get(id);
    if (!r) at(['requirements', i], `unknown requirement ${id}: not defined in spec/${basename(spec.file)}`);
    else if (r.edition !== c.edition) at(['requirements', i], `requirement ${id} belongs to edition ${r.edition}, not ${c.edition}`);
  });
  const cited = new Set<string>();
  const captured = new Set<string>();
  c.steps.forEach((step, i) => {
    const kind = kinds.steps.get(step.kind);
    const ops: ValueProblem[] = [];
    const refs: References = { auth: new Set<string>(), vars: new Set<string>(), users: new Set<string>(), templates: new Set<string>(), services: new Set<string>() };
    kind?.check?.(step.spec, ['steps', i, step.kind], ops, refs);
    for (const u of refs.auth) if (!c.users.includes(u)) at(['steps', i, step.kind, 'auth'], `auth "${u}" is not one of the case's users (${c.users.join(', ') || 'none declared'}), "none" or "invalid"`);
    const stepRefs: References = { auth: refs.auth, vars: refs.vars, users: refs.users, templates: refs.templates, services: refs.services };
    step.expect.forEach((e, j) => {
      cited.add(e.requirement);
      if (!c.requirements.includes(e.requirement)) at(['steps', i, 'expect', j, 'requirement'], `requirement ${e.requirement} is not listed in the case's requirements`);
      for (const check of e.checks) kinds.expects.get(check.kind)?.check?.(check.value, ['steps', i, 'expect', j, check.kind], ops, stepRefs);
    });
    for (const [path, message] of ops) at(path, message);
    for (const v of refs.vars) if (!captured.has(v)) at(['steps', i], `{$var: ${v}} is used before any earlier step captures it`);
    for (const u of stepRefs.users) if (!c.users.includes(u)) at(['steps', i], `{$user_id: ${u}} names no user of this case`);
    for (const t of refs.templates) if (!(t in templates)) at(['steps', i], `{$template: ${t}}: no such template in cases/${c.edition}/_templates.yaml`);
    for (const svc of refs.services) if (!c.needs.includes(svc)) at(['steps', i], `{$service: ${svc}.…} names a service the case does not list in needs`);
    for (const name of Object.keys(step.capture)) captured.add(name);
  });
  c.requirements.forEach((id, i) => {
    if (!cited.has(id)) at(['requirements', i], `requirement ${id} is listed but no expectation checks it`);
  });
}
