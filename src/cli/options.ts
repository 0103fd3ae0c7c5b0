/**
 * The command line's one option table. Every option is declared once, here:
 * its type, the commands that take it, its value's name and check, and its
 * help line. The table drives node:util parseArgs (tokens), the usage text,
 * and the validation that collects every problem of a command line at once.
 */
import { parseArgs } from 'node:util';
import { REPORTERS } from '../report/index.js';
import { escapeForTerminal } from '../text.js';

export const COMMANDS = ['run', 'list', 'serve', 'compare', 'coverage'] as const;
export type Command = (typeof COMMANDS)[number];

export const COMMAND_HELP: Record<Command, { args: string; text: string }> = {
  run: { args: '[--target URL] [options]', text: 'run the cases (without --target: against the bundled reference server); the default command' },
  list: { args: '[--target URL] [options]', text: 'list the cases a run would select (with --target: after asking the target what it serves)' },
  serve: { args: '[--port N] [--host H] [options]', text: 'run the bundled reference server until interrupted' },
  compare: { args: '[NAME=]REPORT.json... [options]', text: 'compare JSON reports case by case (Markdown; --html FILE for a page)' },
  coverage: { args: '[--cases DIR]', text: 'requirement -> level, versions, spec link -> cases' },
};

/** What a value may be turned into: the option's parsed value, or a problem (one line, shown after "conformance: "). */
export type Check = (value: string, name: string) => { value: unknown } | { problem: string };

export interface OptionSpec {
  /** The long name, without dashes: `target` is --target. */
  name: string;
  type: 'string' | 'boolean';
  /** May be given several times (values in order). */
  multiple?: boolean;
  short?: string;
  /** The value's name in the usage text (URL, MS, FILE). */
  value?: string;
  commands: readonly Command[];
  help: string;
  /** A secret: its value is taken even when it starts with "-", and never echoed. */
  secret?: boolean;
  check?: Check;
}

/** An argument as a problem may show it: no user name or password (a password may hold / # @), cut, escaped. */
export function shownArg(raw: string): string {
  return escapeForTerminal(raw.replace(/([a-z][a-z0-9+.-]*:\/\/)\S*@/gi, '$1…@').slice(0, 80));
}

export const wholeNumber =
  (min: number, max: number, scale = 1): Check =>
  (raw, name) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && n >= min && n <= max ? { value: n * scale } : { problem: `--${name} takes a whole number from ${min} to ${max}, got "${shownArg(raw)}"` };
  };

const oneOf =
  (values: readonly string[]): Check =>
  (raw, name) =>
    values.includes(raw) ? { value: raw } : { problem: `--${name} is ${values.slice(0, -1).join(', ')} or ${values[values.length - 1] ?? ''}, got "${shownArg(raw)}"` };

const httpUrl: Check = (raw, name) => {
  const u = URL.parse(raw);
  if (!u || !['http:', 'https:'].includes(u.protocol)) return { problem: `--${name} must be an http(s) URL, got "${shownArg(raw)}"` };
  if (u.username !== '' || u.password !== '') return { problem: `--${name} must not carry a user name or password (${escapeForTerminal(u.protocol)}//…@${escapeForTerminal(u.host)}): they would be used for nothing; give accounts with --user or CONFORMANCE_USERS` };
  return { value: raw.replace(/\/+$/, '') };
};

const notifyUrl: Check = (raw, name) => {
  const u = URL.parse(raw);
  return u && ['http:', 'https:'].includes(u.protocol) && u.pathname === '/_matrix/push/v1/notify' ? { value: raw } : { problem: `--${name} is the full notify URL targets must use, ending in /_matrix/push/v1/notify, got "${shownArg(raw)}"` };
};

const hostPort: Check = (raw, name) =>
  /^(?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}$/.test(raw) && Number(raw.slice(raw.lastIndexOf(':') + 1)) <= 65535 ? { value: raw } : { problem: `--${name} takes HOST:PORT, got "${escapeForTerminal(raw)}"` };

const v1Version: Check = (raw, name) => (/^v1\.\d{1,3}$/.test(raw) ? { value: raw } : { problem: `--${name} takes a version of the v1 edition such as v1.6, got "${escapeForTerminal(raw)}"` });

const account: Check = (raw, name) => {
  const colon = raw.indexOf(':');
  return colon <= 0 || colon === raw.length - 1 ? { problem: `--${name} takes NAME:PASSWORD` } : { value: { kind: 'password', user: raw.slice(0, colon), password: raw.slice(colon + 1) } };
};

/** NAME or NAME:FILE, NAME a reporter. */
const reporterSpec: Check = (raw) => {
  const colon = raw.indexOf(':');
  const name = colon > 0 ? raw.slice(0, colon) : raw;
  return REPORTERS.some((r) => r.name === name) ? { value: { name, ...(colon > 0 ? { file: raw.slice(colon + 1) } : {}) } } : { problem: `--reporter is one of ${REPORTERS.map((r) => r.name).join(', ')} (optionally NAME:FILE), got "${escapeForTerminal(raw)}"` };
};

const RUN_LIST = ['run', 'list'] as const;
const RUN = ['run'] as const;

/** The table. Order is the order of the usage text. */
export const OPTIONS: readonly OptionSpec[] = [
  { name: 'target', type: 'string', value: 'URL', commands: RUN_LIST, check: httpUrl, help: 'base URL of the homeserver, e.g. http://127.0.0.1:8008 (no user:password@ in it)' },
  { name: 'edition', type: 'string', value: 'E', commands: RUN_LIST, check: oneOf(['draft', 'v1', 'all']), help: 'draft, v1 or all (default: what the target advertises; all without --target)' },
  { name: 'spec-version', type: 'string', value: 'V', commands: ['run', 'list', 'serve'], check: v1Version, help: 'judge the v1 edition by this version (e.g. v1.6) instead of the newest the target advertises; serve: advertise up to it and follow its push rules' },
  { name: 'strict', type: 'boolean', commands: RUN, help: 'SHOULD failures count (default: only MUST; SHOULD failures are warnings)' },
  { name: 'reporter', type: 'string', multiple: true, value: 'R[:FILE]', commands: RUN, check: reporterSpec, help: 'spec, json, junit, tap or html; repeat for several reports from one run (default: spec on stdout)' },
  { name: 'output', type: 'string', value: 'FILE', commands: ['run', 'compare'], help: 'run: the file of the one reporter that names none; compare: write the Markdown there instead of stdout' },
  { name: 'grep', type: 'string', value: 'TEXT', commands: RUN_LIST, help: 'only cases whose id, title or tags contain TEXT' },
  { name: 'list', type: 'boolean', commands: RUN, help: 'the same as the list command' },
  { name: 'jobs', type: 'string', value: 'N', commands: RUN_LIST, check: wholeNumber(1, 256), help: 'cases at once (default 16; 1 runs them one by one)' },
  { name: 'timeout', type: 'string', value: 'MS', commands: RUN_LIST, check: wholeNumber(1, 600_000), help: 'per-request deadline (default 10000)' },
  { name: 'rate-limit-budget', type: 'string', value: 'MS', commands: RUN_LIST, check: wholeNumber(0, 3_600_000), help: 'how long one request may spend waiting out 429 answers (default 60000)' },
  { name: 'repeat', type: 'string', value: 'N', commands: RUN, check: wholeNumber(1, 1000), help: 'run every case N times; a case whose outcome varies is reported as flaky' },
  { name: 'expectations', type: 'string', value: 'FILE', commands: RUN, help: 'known failures and skips (YAML: case id -> reason, link, requirements or skipped); the gate passes when they happen as recorded' },
  { name: 'update-expectations', type: 'string', value: 'FILE', commands: RUN, help: 'write the cases failing or not judged now (with the requirements they fail, or why) to FILE' },
  { name: 'trace', type: 'string', value: 'FILE', commands: RUN, help: 'write every exchange of the run to FILE as HAR 1.2 (secrets redacted)' },
  { name: 'follow-redirects', type: 'boolean', commands: RUN_LIST, help: 'follow 3xx answers (credentials are never sent to another origin)' },
  { name: 'cases', type: 'string', value: 'DIR', commands: ['run', 'list', 'coverage'], help: 'read the cases from DIR instead of the bundled ones' },
  { name: 'no-delivery', type: 'boolean', commands: RUN_LIST, help: 'skip the push-delivery cases (they need the mock push gateway)' },
  { name: 'gateway-url', type: 'string', value: 'URL', commands: RUN_LIST, check: notifyUrl, help: 'the notify URL a target on another machine must use to reach the mock gateway' },
  { name: 'gateway-listen', type: 'string', value: 'HOST:PORT', commands: RUN_LIST, check: hostPort, help: 'where the mock gateway listens (default 127.0.0.1 and a free port)' },
  { name: 'gateway-tls', type: 'boolean', commands: RUN_LIST, help: 'offer the mock gateway over HTTPS from the start (it is offered so anyway to a target that refuses http://)' },
  { name: 'gateway-cert', type: 'string', value: 'FILE', commands: RUN_LIST, help: 'a PEM certificate (chain) for the HTTPS gateway that the target already trusts (with --gateway-key)' },
  { name: 'gateway-key', type: 'string', value: 'FILE', commands: RUN_LIST, help: 'the PEM private key of --gateway-cert' },
  { name: 'quiet-period', type: 'string', value: 'MS', commands: RUN, check: wholeNumber(1, 60_000), help: 'how long a check that a poke does not come watches after its witness (default: from the delivery latency measured in the run)' },
  { name: 'retry-window', type: 'string', value: 'SECONDS', commands: RUN, check: wholeNumber(1, 600, 1000), help: 'how long a poke answered 500 may take to come again (default 65); shorter, a retry that does not come in time is not judged (skipped), not a failure' },
  { name: 'registration-token', type: 'string', value: 'T', commands: RUN_LIST, secret: true, help: 'complete the m.login.registration_token stage when registering users' },
  { name: 'user', type: 'string', multiple: true, value: 'NAME:PASSWORD', commands: RUN_LIST, secret: true, check: account, help: 'use this account (repeat for cases that need two users); no registration' },
  { name: 'access-token', type: 'string', multiple: true, value: 'T', commands: RUN_LIST, secret: true, help: 'use the account behind this token (repeatable); no registration' },
  { name: 'port', type: 'string', value: 'N', commands: ['serve'], check: wholeNumber(0, 65535), help: 'the port to listen on (default 8008)' },
  { name: 'host', type: 'string', value: 'H', commands: ['serve'], help: 'the address to listen on (default 127.0.0.1)' },
  { name: 'no-push-tls-verify', type: 'boolean', commands: ['serve'], help: 'accept any certificate from push gateways (for the mock gateway of a run against this server)' },
  { name: 'html', type: 'string', value: 'FILE', commands: ['compare'], help: 'also write a self-contained HTML page' },
  { name: 'changes-only', type: 'boolean', commands: ['compare'], help: 'only the cases whose result differs between reports' },
  { name: 'fail-on-regression', type: 'boolean', commands: ['compare'], help: 'exit 1 when a case is worse (or no longer judged) in the last report than in the first' },
  { name: 'help', type: 'boolean', short: 'h', commands: COMMANDS, help: 'this text' },
  { name: 'version', type: 'boolean', short: 'V', commands: COMMANDS, help: "the suite's version" },
];

const BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
const BY_SHORT = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short as string, o]));

/**
 * Secrets can come from the environment instead of argv, where every user of
 * the machine can read them in the process list. Each variable stands for the
 * option it names; options on the command line come first.
 */
export const SECRET_ENV: Record<string, { option: string; lines: boolean }> = {
  CONFORMANCE_REGISTRATION_TOKEN: { option: 'registration-token', lines: false },
  CONFORMANCE_USERS: { option: 'user', lines: true },
  CONFORMANCE_ACCESS_TOKENS: { option: 'access-token', lines: true },
};

export interface ParsedArgs {
  command: Command;
  /** Parsed values by option name (checked values for options with a check). */
  values: Record<string, unknown>;
  positionals: string[];
  problems: string[];
}

/** Whether an argument is an option of the table (`--name`, `--name=…`, `-h`). */
function isKnownOption(arg: string): boolean {
  if (arg.startsWith('--')) return BY_NAME.has(arg.slice(2).split('=')[0] as string);
  return arg.length === 2 && BY_SHORT.has(arg.slice(1));
}

/**
 * Splits a command line into command, values and positionals, collecting
 * every problem: unknown options, options another command takes, values
 * missing or malformed. A value option followed by another option has no
 * value (the other is read as itself), except a secret, whose value may
 * start with "-" unless it is an option of the table.
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ParsedArgs {
  const problems: string[] = [];
  let args = [...argv];
  let command: Command = 'run';
  if (args[0] !== undefined && (COMMANDS as readonly string[]).includes(args[0])) command = args.shift() as Command;
  else if (args[0] !== undefined && !args[0].startsWith('-')) {
    problems.push(`unknown command "${shownArg(args[0])}" (commands: ${COMMANDS.join(', ')})`);
    args.shift();
  }
  // A value option whose next argument is an option has no value; the next argument is read as itself.
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const spec = arg.startsWith('--') && !arg.includes('=') ? BY_NAME.get(arg.slice(2)) : undefined;
    const next = args[i + 1];
    if (spec?.type === 'string' && (next === undefined || (next.startsWith('-') && next.length > 1 && (!spec.secret || isKnownOption(next))))) {
      problems.push(`--${spec.name} needs a value`);
      continue;
    }
    kept.push(arg);
    if (spec?.type === 'string') kept.push(next as string), i++;
  }
  args = kept;
  // Secrets from the environment join a run against a target only: `npx conformance` alone ignores them.
  if ((command === 'run' || command === 'list') && args.some((a) => a === '--target' || a.startsWith('--target='))) {
    for (const [variable, { option, lines }] of Object.entries(SECRET_ENV)) {
      const raw = env[variable];
      if (!raw) continue;
      for (const v of lines ? raw.split(/\r?\n/).map((x) => x.trim()).filter(Boolean) : [raw.trim()]) args.push(`--${option}=${v}`);
    }
  }
  const config = Object.fromEntries(OPTIONS.map((o) => [o.name, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]));
  const { tokens } = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (command === 'compare') positionals.push(t.value);
      else problems.push(`unexpected argument "${shownArg(t.value)}"`);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec = BY_NAME.get(t.name);
    if (!spec) {
      problems.push(`unknown option ${shownArg(t.rawName)}`);
      continue;
    }
    if (!spec.commands.includes(command)) {
      problems.push(`${command} does not take --${spec.name}`);
      continue;
    }
    if (spec.type === 'boolean') {
      if (t.value !== undefined) problems.push(`--${spec.name} takes no value`);
      else values[spec.name] = true;
      continue;
    }
    const raw = t.value ?? '';
    const checked = spec.check ? spec.check(raw, spec.name) : { value: raw };
    if ('problem' in checked) {
      problems.push(checked.problem);
      continue;
    }
    if (spec.multiple) values[spec.name] = [...((values[spec.name] as unknown[] | undefined) ?? []), checked.value];
    else values[spec.name] = checked.value;
  }
  return { command, values, positionals, problems };
}

/** The usage text, from the table. */
export function usage(): string {
  const lines = ['Usage:'];
  for (const c of COMMANDS) lines.push(`  conformance ${c === 'run' ? '[run]' : c} ${COMMAND_HELP[c].args}`, `      ${COMMAND_HELP[c].text}`);
  const section = (title: string, keep: (o: OptionSpec) => boolean): void => {
    lines.push('', title);
    for (const o of OPTIONS.filter(keep)) {
      const flag = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`;
      lines.push(flag.length < 24 ? `  ${flag.padEnd(24)}${o.help}` : `  ${flag}\n  ${''.padEnd(24)}${o.help}`);
    }
  };
  section('Run and list options:', (o) => o.commands.includes('run') || (o.commands.includes('list') && !o.commands.includes('serve')));
  section('Serve options:', (o) => o.commands.includes('serve') && !o.commands.includes('compare'));
  section('Compare options:', (o) => o.commands.includes('compare') && o.commands.length < COMMANDS.length && o.name !== 'output');
  lines.push(
    '',
    'Environment (keeps secrets out of the process list):',
    ...Object.entries(SECRET_ENV).map(([v, { option, lines: many }]) => `  ${v.padEnd(32)} as --${option}${many ? ', one per line' : ''}`),
    '',
    'Exit codes: 0 what was judged conforms (or the gate passes), 1 some case fails (or the gate fails),',
    '2 usage, case file or report path error, or nothing left to judge after your filters,',
    '3 target unusable, or no selected case could be judged, 130 interrupted.',
  );
  return lines.join('\n');
}
