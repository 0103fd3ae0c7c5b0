import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { CaseFileError, type CaseProblem } from '../errors.js';
import { casesDir, packageRoot } from '../paths.js';
import { describeErrors, getValidator, hasSchema } from '../schemas.js';
import { EDITIONS, loadSpec, type Edition, type SpecText } from '../spec/requirements.js';
import type { Case, Expectation, Step, Suite } from './types.js';
import { checkOperators, isPlainObject, references } from './values.js';

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
  const out: Array<[Path, string]> = [];
  for (const [name, value] of Object.entries(pf.data)) {
    if (!isPlainObject(value)) out.push([[name], `template ${name} must be an object`]);
    checkOperators(value, [name], false, out);
  }
  for (const [path, message] of out) problems.push({ file: pf.display, line: lineOf(pf, path), message });
  return pf.data;
}

export interface LoadOptions {
  /** Folder holding <edition>/*.yaml; default: the suite's cases/. */
  dir?: string;
  editions?: readonly Edition[];
  spec?: SpecText;
}

/**
 * Loads and validates every case file before anything is sent. All problems of
 * all files are collected and thrown together as one CaseFileError, each with
 * file:line, so a suite author fixes them in one pass.
 */
export function loadSuite(options: LoadOptions = {}): Suite {
  const dir = options.dir ?? casesDir;
  const editions = options.editions ?? EDITIONS;
  const spec = options.spec ?? loadSpec();
  const problems: CaseProblem[] = [];
  const templates = { v1: {}, draft: {} } as Record<Edition, Record<string, unknown>>;
  const cases: Case[] = [];
  const seen = new Map<string, string>();
  const validate = getValidator('case');

  for (const edition of editions) {
    templates[edition] = loadTemplates(dir, edition, problems);
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
        const errors = (validate.errors ?? []).filter((e) => !['oneOf', 'if', 'not'].includes(e.keyword) || (validate.errors ?? []).length === 1);
        const lines = describeErrors(errors.length ? errors : validate.errors);
        (errors.length ? errors : validate.errors ?? []).forEach((e, i) => {
          const extra = e.keyword === 'additionalProperties' ? [(e.params as { additionalProperty: string }).additionalProperty] : [];
          at([...pointerToPath(e.instancePath), ...extra], lines[i] ?? e.message ?? e.keyword);
        });
        continue;
      }
      const raw = pf.data as Record<string, unknown>;
      const c = toCase(raw, pf, dir);
      checkCase(c, raw, edition, spec, templates[edition], at);
      const dup = seen.get(c.id);
      if (dup) at(['id'], `case id ${c.id} is already used by ${dup}`);
      seen.set(c.id, pf.display);
      cases.push(c);
    }
  }
  if (problems.length) throw new CaseFileError(problems);
  return { cases, templates };
}

function toCase(raw: Record<string, unknown>, pf: ParsedFile, _dir: string): Case {
  const users = (raw['users'] as string[] | undefined) ?? [];
  const steps = (raw['steps'] as Array<Record<string, unknown>>).map((s, i): Step => {
    const request = { ...(s['request'] as Record<string, unknown>) } as unknown as Step['request'];
    if (request.auth === undefined) request.auth = users[0] ?? 'none';
    const expect = (s['expect'] as Array<Record<string, unknown>>).map((e, j) => ({ ...e, line: lineOf(pf, ['steps', i, 'expect', j]) }) as unknown as Expectation);
    return { title: s['title'] as string, request, expect, capture: (s['capture'] as Record<string, string> | undefined) ?? {}, line: lineOf(pf, ['steps', i]) };
  });
  return {
    id: raw['id'] as string,
    title: raw['title'] as string,
    edition: raw['edition'] as Edition,
    requirements: raw['requirements'] as string[],
    tags: (raw['tags'] as string[] | undefined) ?? [],
    users,
    steps,
    file: pf.display,
    line: 1,
  };
}

function checkCase(c: Case, raw: Record<string, unknown>, dirEdition: Edition, spec: SpecText, templates: Record<string, unknown>, at: (path: Path, message: string) => void): void {
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
    const auth = step.request.auth;
    if (auth !== 'none' && auth !== 'invalid' && !c.users.includes(auth)) at(['steps', i, 'request', 'auth'], `auth "${auth}" is not one of the case's users (${c.users.join(', ') || 'none declared'}), "none" or "invalid"`);
    const ops: Array<[Path, string]> = [];
    checkOperators(step.request.json, ['steps', i, 'request', 'json'], false, ops);
    const refs = { vars: new Set<string>(), users: new Set<string>(), templates: new Set<string>() };
    references(step.request.json, refs);
    step.expect.forEach((e, j) => {
      cited.add(e.requirement);
      if (!c.requirements.includes(e.requirement)) at(['steps', i, 'expect', j, 'requirement'], `requirement ${e.requirement} is not listed in the case's requirements`);
      if (e.schema !== undefined && !hasSchema(e.schema)) at(['steps', i, 'expect', j, 'schema'], `no schema with $id "${e.schema}" in spec/schemas`);
      for (const key of ['body', 'body_includes', 'list'] as const) {
        if (e[key] === undefined) continue;
        checkOperators(e[key], ['steps', i, 'expect', j, key], true, ops);
        references(e[key], refs);
      }
    });
    for (const [path, message] of ops) at(path, message);
    for (const v of refs.vars) if (!captured.has(v)) at(['steps', i], `{$var: ${v}} is used before any earlier step captures it`);
    for (const u of refs.users) if (!c.users.includes(u)) at(['steps', i], `{$user_id: ${u}} names no user of this case`);
    for (const t of refs.templates) if (!(t in templates)) at(['steps', i], `{$template: ${t}}: no such template in cases/${c.edition}/_templates.yaml`);
    for (const name of Object.keys(step.capture)) captured.add(name);
  });
  c.requirements.forEach((id, i) => {
    if (!cited.has(id)) at(['requirements', i], `requirement ${id} is listed but no expectation checks it`);
  });
  void raw;
}
