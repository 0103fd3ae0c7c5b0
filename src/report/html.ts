/**
 * `html`: one self-contained page per run (no script, no external resource):
 * totals and verdicts at the top, a row per case, and for each case that did
 * not pass its failures grouped by requirement (statement and spec link), the
 * request, the response and the curl line of each failing step. Every string
 * is escaped for HTML; control characters are shown as escapes.
 */
import { isFailing, type CaseResult, type Exchange, type RunReport } from '../run/types.js';
import { cutText, escapeForTerminal, escapeHtml } from '../text.js';
import type { Reporter, ReporterDef } from './types.js';
import { conformanceVerdict, countsLine, exchangesOf, gateVerdict, versionsLine } from './view.js';

const BODY_SHOWN = 16 * 1024;
const h = (s: string): string => escapeHtml(escapeForTerminal(s, true));
const link = (url: string, label?: string): string => (/^https?:\/\/[^\s"'<>]+$/.test(url) ? `<a href="${escapeHtml(url)}" rel="noreferrer noopener">${h(label ?? url)}</a>` : h(label ?? url));

function body(s: string, cut?: boolean, truncated?: boolean): string {
  let text = s;
  try {
    const v = JSON.parse(s) as unknown;
    if (!s.includes('\n') && s.length < 8000) text = JSON.stringify(v, null, 2);
  } catch {
    // not JSON: shown as it is
  }
  const c = cutText(text, BODY_SHOWN);
  return `<pre>${h(c.text)}${c.cut || cut ? '\n… (cut)' : ''}${truncated ? '\n… (the rest was not read: over the size cap)' : ''}</pre>`;
}

function exchange(x: Exchange): string {
  const headers = (hs: Record<string, string>): string => Object.entries(hs).map(([k, v]) => `${h(k)}: ${h(v)}`).join('\n');
  return `<div class="x"><p class="k">request</p><pre>${h(`${x.request.method} ${x.request.url}`)}\n${headers(x.request.headers)}</pre>${x.request.body !== undefined ? body(x.request.body, x.request.bodyCut) : ''}<p class="k">response</p>${x.response ? `<pre>${h(String(x.response.status))} (${Math.round(x.durationMs)} ms)\n${headers(x.response.headers)}</pre>${body(x.response.body, x.response.bodyCut, x.response.truncated)}` : '<pre>(none)</pre>'}<p class="k">reproduce</p><pre class="curl">${[...(x.before ?? []), x.curl].map((c, i, all) => h(all.length > 1 ? `${i + 1}. ${c}` : c)).join('\n')}</pre></div>`;
}

function caseDetails(r: CaseResult, strict: boolean): string {
  const parts: string[] = [];
  if (r.outcome === 'xpassed') parts.push('<p>Listed as a known failure, but passes now: remove it from the expectations file.</p>');
  if (r.expectation?.matched === false) parts.push(`<p>Fails differently than expected: ${h(r.expectation.mismatch ?? '')}</p>`);
  if (r.error) parts.push(`<p class="err"><b>${h(r.error.code)}</b>: ${h(r.error.message)}</p>`);
  const reqs = new Map<string, typeof r.failures>();
  for (const f of [...r.failures, ...r.warnings]) reqs.set(f.requirement, [...(reqs.get(f.requirement) ?? []), f]);
  for (const [id, fs] of reqs) {
    const f = fs[0] as (typeof fs)[number];
    const counted = f.level === 'MUST' || strict;
    parts.push(`<div class="req ${counted ? 'must' : 'should'}"><p><span class="lvl">${h(f.level)}</span> <code>${h(id)}</code> · ${h(f.versions)} · ${h(f.ground)} · ${link(f.link, 'spec section')}</p><blockquote>${h(f.quote)}</blockquote><ul>${fs.map((x) => `<li>step ${x.step} “${h(x.stepTitle)}”: ${h(x.message)} <span class="src">${h(x.source)}</span></li>`).join('')}</ul></div>`);
  }
  for (const x of exchangesOf(r)) parts.push(`<details class="step"><summary>step ${x.step}${x.title ? ` “${h(x.title)}”` : ''}: the exchange</summary>${exchange(x.exchange)}</details>`);
  if (r.skipReason && (r.outcome === 'skipped' || r.outcome === 'notrun')) parts.push(`<p>${h(r.skipReason)}</p>`);
  if (r.outcome === 'xfailed') parts.push(`<p>Expected failure: ${h(r.expectation?.reason ?? '')}${r.expectation?.link ? ` (${link(r.expectation.link)})` : ''}</p>`);
  return parts.join('');
}

export function htmlPage(report: RunReport): string {
  const m = report.meta;
  const strict = m.strict;
  const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
  const gate = gateVerdict(report, strict);
  const rows = report.results
    .map((r) => {
      const detail = r.outcome === 'passed' ? '' : caseDetails(r, strict);
      const title = `<code>${h(r.id)}</code> ${h(r.title)}`;
      // What counts against the target at the level of the run is open: a SHOULD failure too under --strict.
      return `<tr class="o-${r.outcome}"><td class="badge">${h(r.outcome)}</td><td>${detail ? `<details${isFailing(r, strict) ? ' open' : ''}><summary>${title}</summary>${detail}</details>` : title}</td><td class="num">${Math.round(r.durationMs)} ms</td></tr>`;
    })
    .join('\n');
  const versions = ((m.versions as { versions?: string[] } | undefined)?.versions ?? []).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pushers conformance — ${h(m.target)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}td{border-top:1px solid #ddd;padding:.35em .5em;vertical-align:top}
.badge{font-weight:600;white-space:nowrap}.num{text-align:right;white-space:nowrap;color:#666}
.o-passed .badge{color:#1a7f37}.o-failed .badge,.o-xpassed .badge{color:#cf222e}.o-warned .badge{color:#9a6700}.o-errored .badge{color:#8250df}.o-skipped .badge,.o-notrun .badge,.o-xfailed .badge{color:#57606a}
.totals{display:flex;gap:1.5em;flex-wrap:wrap;margin:1em 0}.totals div{background:#f6f8fa;border-radius:6px;padding:.4em .8em}.totals b{font-size:1.3em;display:block}
.verdict{font-weight:600}.bad{color:#cf222e}.good{color:#1a7f37}
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:.2em 0}
blockquote{margin:.3em 0 .3em 1em;color:#444}.req{border-left:3px solid #cf222e;padding-left:.6em;margin:.5em 0}.req.should{border-color:#9a6700}
.lvl{font-weight:700}.src{color:#666;font-size:.9em}.k{margin:.4em 0 0;font-weight:600}.err{color:#8250df}
</style>
</head>
<body>
<h1>Matrix pushers conformance</h1>
<p>${h(m.suite.name)} ${h(m.suite.version)} · target <code>${h(m.target)}</code>${m.embedded ? ' (bundled reference server)' : ''}${m.server ? ` · server <code>${h(m.server)}</code>` : ''}</p>
<p>advertised versions: ${h(versions || '(none)')}<br>${h(versionsLine(report))}<br>level: ${strict ? 'SHOULD (--strict)' : 'MUST (SHOULD failures are warnings)'} · started ${h(m.startedAt)} · ${(m.durationMs / 1000).toFixed(1)} s${m.interrupted ? ' · <b>interrupted</b>' : ''}</p>
<div class="totals">${(['passed', 'failed', 'warned', 'errored', 'skipped', 'xfailed', 'xpassed', 'notrun'] as const).map((o) => `<div><b>${report.results.filter((r) => r.outcome === o).length}</b>${o}</div>`).join('')}</div>
<p class="verdict ${verdict.conforms ? 'good' : 'bad'}">${h(verdict.text)}</p>
${gate ? `<p class="verdict ${gate.passed ? 'good' : 'bad'}">${h(gate.text)}</p>` : ''}
<p>${h(countsLine(report))}</p>
<table>
<tbody>
${rows}
</tbody>
</table>
</body>
</html>
`;
}

export const htmlReporter: ReporterDef = {
  name: 'html',
  description: 'one self-contained HTML page: totals, a row per case, failures with spec links, exchanges and curl lines',
  extension: 'html',
  create: (): Reporter => ({ finish: (report) => htmlPage(report) }),
};
