import type { CaseResult, CheckFailure, Exchange, RunMeta } from '../run/types.js';

const MAX_SHOWN = 2000;

function clip(s: string): string {
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}… (${s.length - MAX_SHOWN} more characters)` : s;
}

function indent(text: string, pad: string): string {
  return text.split('\n').map((l, i) => (i === 0 ? l : pad + l)).join('\n');
}

export function formatExchange(x: Exchange): string {
  const pad = '            ';
  const lines: string[] = [];
  lines.push(`request:    ${x.request.method} ${x.request.url}`);
  for (const [k, v] of Object.entries(x.request.headers)) lines.push(`${pad}${k}: ${v}`);
  if (x.request.body !== undefined) lines.push(pad + indent(clip(x.request.body), pad));
  if (x.response) {
    lines.push(`response:   ${x.response.status} (${Math.round(x.durationMs)} ms)`);
    const ct = x.response.headers['content-type'];
    if (ct) lines.push(`${pad}content-type: ${ct}`);
    lines.push(pad + indent(clip(x.response.body) + (x.response.truncated ? ' … (body cut at the size cap)' : ''), pad));
  } else lines.push('response:   (none)');
  if (x.before?.length) {
    lines.push(`reproduce:  ${x.before.length} earlier step(s) of the case first, then this request:`);
    x.before.forEach((c, i) => lines.push(`${pad}${i + 1}. ${c}`));
    lines.push(`${pad}${x.before.length + 1}. ${x.curl}`);
  } else lines.push(`reproduce:  ${x.curl}`);
  return lines.join('\n');
}

export function formatFailure(f: CheckFailure): string {
  return [
    `${f.level} ${f.requirement} — step ${f.step} "${f.stepTitle}" (${f.source})`,
    `  ${f.message}`,
    `  spec (${f.level}): "${f.quote}"`,
    ...(f.exchange ? ['  ' + indent(formatExchange(f.exchange), '  ')] : []),
  ].join('\n');
}

/** Everything a reader needs about one case that did not pass. */
export function formatCaseProblems(r: CaseResult, includeWarnings: boolean): string {
  const parts: string[] = [];
  if (r.error) {
    parts.push(`ERROR ${r.error.code}: ${r.error.message}`);
    if (r.error.exchange) parts.push('  ' + indent(formatExchange(r.error.exchange), '  '));
  }
  for (const f of r.failures) parts.push(formatFailure(f));
  if (includeWarnings) for (const f of r.warnings) parts.push(formatFailure(f));
  return parts.join('\n\n');
}

export function formatHeader(meta: RunMeta): string {
  const versions = (meta.versions as { versions?: unknown } | undefined)?.versions;
  return [
    `${meta.suite.name} ${meta.suite.version}`,
    `target:   ${meta.target}${meta.embedded ? ' (bundled reference server)' : ''}${meta.server ? ` — server: ${meta.server}` : ''}`,
    `versions: ${Array.isArray(versions) ? versions.join(', ') : '?'}`,
    `editions: ${meta.editions.join(', ')} — level: ${meta.strict ? 'strict (MUST and SHOULD)' : 'MUST (SHOULD failures are warnings)'}`,
    `started:  ${meta.startedAt}`,
  ].join('\n');
}
