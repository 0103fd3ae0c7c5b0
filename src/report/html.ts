/**
 * `html`: one self-contained page per run (no external resource): totals and
 * verdicts at the top, the failures grouped by requirement, then a row per
 * case, failing cases first. Each case that did not pass shows its failures
 * (statement and spec link), every exchange of its steps in order and the
 * curl lines that reproduce them. The count tiles and a text box filter the
 * rows, by one script of this module's own, allowed by its hash in the
 * page's Content-Security-Policy; without it every row is shown. Every
 * string is escaped for HTML; control characters are shown as escapes, and
 * `inline code` in the suite's own texts is set as code.
 */
import { createHash } from 'node:crypto';
import { isFailing, type CaseExchange, type CaseResult, type RunReport } from '../run/types.js';
import { cutText, escapeForTerminal, escapeHtml, shortJson } from '../text.js';
import type { Reporter, ReporterDef } from './types.js';
import { byRequirement, caseExchanges, conformanceVerdict, countsLine, failingSteps, gateVerdict, periodsText, reproduction, versionsLine } from './view.js';

const BODY_SHOWN = 16 * 1024;
const h = (s: string): string => escapeHtml(escapeForTerminal(s, true));
/** Escaped text with `backticked` spans set as code (escaping leaves backticks as they are). */
const inline = (s: string): string => h(s).replace(/`([^`\n]+)`/g, '<code>$1</code>');
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

/** The start of a body on the summary line of its exchange: a JSON body as a short, well-formed value. */
function peek(text: string): string {
  try {
    return shortJson(JSON.parse(text) as unknown, 120);
  } catch {
    return cutText(text.replace(/\s+/g, ' '), 120).text + (text.length > 120 ? '…' : '');
  }
}

function oneExchange(x: CaseExchange, open: boolean): string {
  const headers = (hs: Record<string, string>): string => Object.entries(hs).map(([k, v]) => `${h(k)}: ${h(v)}`).join('\n');
  const from = x.direction === 'from-target';
  const answer = x.response ? `${from ? `the ${h(x.service ?? 'service')} answered ` : ''}${h(String(x.response.status))} (${Math.round(x.durationMs)} ms)` : `no answer${x.error ? `: ${h(x.error)}` : ''}`;
  const summary = `<span class="at">+${Math.round(x.atMs)} ms</span> ${from ? `<span class="from">the target → the mock ${h(x.service ?? 'service')}:</span> ` : '→ '}${h(`${x.request.method} ${x.request.url}`)} ← ${answer}${x.response?.body ? ` <span class="peek">${h(peek(x.response.body))}</span>` : ''}`;
  const detail = `<p class="k">request</p><pre>${headers(x.request.headers)}</pre>${x.request.body !== undefined ? body(x.request.body, x.request.bodyCut) : ''}${x.response ? `<p class="k">response</p><pre>${headers(x.response.headers)}</pre>${body(x.response.body, x.response.bodyCut, x.response.truncated)}` : ''}`;
  return `<details class="x${from ? ' in' : ''}"${open ? ' open' : ''}><summary>${summary}</summary>${detail}</details>`;
}

/** Every exchange of a case under the step it happened during, the failing steps' open, then the curl lines in order. */
function exchanges(r: CaseResult, failing: ReadonlySet<number>): string {
  const xs = caseExchanges(r);
  if (!xs.length) return '';
  const parts: string[] = [`<p class="k">exchanges, in order${r.exchangesOmitted ? ` (the ${r.exchangesOmitted} oldest left out)` : ''}</p>`];
  let step: number | undefined;
  for (const x of xs) {
    if (x.step !== step) {
      step = x.step;
      parts.push(`<p class="stp">${step === 0 ? 'before the first step (what the users held)' : `step ${step}${x.stepTitle ? ` “${inline(x.stepTitle)}”` : ''}${failing.has(step) ? ' — <b>failed here</b>' : ''}`}</p>`);
    }
    parts.push(oneExchange(x, failing.has(x.step)));
  }
  const curls = reproduction(xs);
  if (curls.length) parts.push(`<p class="k">reproduce</p><pre class="curl">${curls.map((c, i, all) => h(all.length > 1 ? `${i + 1}. ${c}` : c)).join('\n')}</pre>`);
  return parts.join('');
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
    parts.push(`<div class="req ${counted ? 'must' : 'should'}"><p><span class="lvl">${h(f.level)}</span> <code>${h(id)}</code> · ${h(f.versions)} · ${h(f.ground)} · ${link(f.link, 'spec section')}</p><blockquote>${inline(f.quote)}</blockquote><ul>${fs.map((x) => `<li>step ${x.step} “${inline(x.stepTitle)}”: ${h(x.message)} <span class="src">${h(x.source)}</span></li>`).join('')}</ul></div>`);
  }
  parts.push(exchanges(r, new Set(failingSteps(r).map((st) => st.step))));
  if (r.skipReason && (r.outcome === 'skipped' || r.outcome === 'notrun')) parts.push(`<p>${h(r.skipReason)}</p>`);
  if (r.outcome === 'xfailed') parts.push(`<p>Expected failure: ${h(r.expectation?.reason ?? '')}${r.expectation?.link ? ` (${link(r.expectation.link)})` : ''}</p>`);
  return parts.join('');
}

/** Rows in this order: what counts against the target first, then the rest of what did not pass, then passes. */
const ORDER: Record<CaseResult['outcome'], number> = { failed: 0, errored: 1, xpassed: 2, warned: 3, xfailed: 4, skipped: 5, notrun: 6, passed: 7 };
const TILES = ['failed', 'warned', 'errored', 'skipped', 'passed', 'xfailed', 'xpassed', 'notrun'] as const;

/**
 * The page's one script: a click on a count tile shows only the cases of that
 * outcome (a second click shows all again); text typed in the box shows only
 * the cases whose row holds it; the tiles count what the text leaves. It
 * reads the page and never writes markup, only `hidden` and counts.
 */
const SCRIPT = `(() => {
  const rows = [...document.querySelectorAll('tr[data-outcome]')];
  const tiles = [...document.querySelectorAll('button[data-outcome]')];
  const box = document.getElementById('filter-text');
  const shown = document.getElementById('shown');
  let outcome = '';
  const apply = () => {
    const q = box.value.trim().toLowerCase();
    const counts = {};
    let n = 0;
    for (const r of rows) {
      const hasText = q === '' || r.textContent.toLowerCase().includes(q);
      if (hasText) counts[r.dataset.outcome] = (counts[r.dataset.outcome] || 0) + 1;
      r.hidden = !(hasText && (outcome === '' || r.dataset.outcome === outcome));
      if (!r.hidden) n++;
    }
    for (const t of tiles) {
      t.querySelector('b').textContent = String(counts[t.dataset.outcome] || 0);
      t.setAttribute('aria-pressed', String(t.dataset.outcome === outcome));
    }
    shown.textContent = n + ' of ' + rows.length + ' cases shown';
  };
  for (const t of tiles) t.addEventListener('click', () => { outcome = outcome === t.dataset.outcome ? '' : t.dataset.outcome; apply(); });
  box.addEventListener('input', apply);
  apply();
})();`;
/** The script's hash, as the Content-Security-Policy names what it allows to run. */
export const SCRIPT_HASH = `sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}`;

/** The failures grouped by requirement (statement and link once each), each case a link to its row. */
function failureGroups(report: RunReport): string {
  const strict = report.meta.strict;
  const groups = byRequirement(report.results, true, (r) => r.outcome !== 'xfailed');
  if (!groups.length) return '';
  const items = groups.map((g) => {
    const counted = g.level === 'MUST' || strict;
    const cases = g.cases.map((c) => `<li><a href="#${h(anchor(c.result.id))}"><code>${h(c.result.id)}</code></a> step ${c.failures.map((f) => f.step).join(', ')}: ${h(c.failures[0]?.message ?? '')}</li>`).join('');
    return `<div class="req ${counted ? 'must' : 'should'}"><p><span class="lvl">${h(g.level)}</span> <code>${h(g.requirement)}</code> · ${h(g.versions)} · ${h(g.ground)} · ${link(g.link, 'spec section')}</p><blockquote>${inline(g.quote)}</blockquote><ul>${cases}</ul></div>`;
  });
  return `<h2>Failures by requirement (${groups.length})</h2>\n${items.join('\n')}`;
}

const anchor = (id: string): string => `case-${id.replace(/[^A-Za-z0-9._-]/g, '_')}`;

export function htmlPage(report: RunReport): string {
  const m = report.meta;
  const strict = m.strict;
  const verdict = conformanceVerdict(report.results, strict, report.meta.areas);
  const gate = gateVerdict(report, strict);
  const ordered = report.results.map((r, i) => ({ r, i })).sort((a, b) => ORDER[a.r.outcome] - ORDER[b.r.outcome] || a.i - b.i).map((x) => x.r);
  const rows = ordered
    .map((r) => {
      const detail = r.outcome === 'passed' ? '' : caseDetails(r, strict);
      const periods = periodsText(r);
      const title = `<code>${h(r.id)}</code> ${inline(r.title)}${periods ? ` <span class="periods">(${h(periods)})</span>` : ''}`;
      // What counts against the target at the level of the run is open: a SHOULD failure too under --strict.
      return `<tr class="o-${r.outcome}" id="${h(anchor(r.id))}" data-outcome="${r.outcome}"><td class="badge">${h(r.outcome)}</td><td>${detail ? `<details${isFailing(r, strict) ? ' open' : ''}><summary>${title}</summary>${detail}</details>` : title}</td><td class="num">${Math.round(r.durationMs)} ms</td></tr>`;
    })
    .join('\n');
  const versions = ((m.versions as { versions?: string[] } | undefined)?.versions ?? []).join(', ');
  const count = (o: string): number => report.results.filter((r) => r.outcome === o).length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src '${SCRIPT_HASH}'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pushers conformance — ${h(m.target)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1em 1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}table{border-collapse:collapse;width:100%;table-layout:fixed}td{border-top:1px solid #ddd;padding:.35em .5em;vertical-align:top;overflow-wrap:anywhere}
td.badge{width:6.5em}td.num{width:5.5em}
.badge{font-weight:600;white-space:nowrap}.num{text-align:right;white-space:nowrap;color:#666}.periods{color:#666}
.o-passed .badge{color:#1a7f37}.o-failed .badge,.o-xpassed .badge{color:#cf222e}.o-warned .badge{color:#9a6700}.o-errored .badge{color:#8250df}.o-skipped .badge,.o-notrun .badge,.o-xfailed .badge{color:#57606a}
.totals{display:flex;gap:.8em;flex-wrap:wrap;margin:1em 0;align-items:center}.totals button{font:inherit;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.4em .8em;cursor:pointer;text-align:left}
.totals button[aria-pressed=true]{background:#ddf4ff;border-color:#0969da}.totals b{font-size:1.3em;display:block}.totals input{font:inherit;padding:.45em .6em;min-width:18em;border:1px solid #d0d7de;border-radius:6px}
.verdict{font-weight:600}.bad{color:#cf222e}.good{color:#1a7f37}
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all;margin:.2em 0}
code{background:#eff1f3;border-radius:3px;padding:0 .25em;font-size:.95em}
blockquote{margin:.3em 0 .3em 1em;color:#444}.req{border-left:3px solid #cf222e;padding-left:.6em;margin:.5em 0}.req.should{border-color:#9a6700}
.lvl{font-weight:700}.src{color:#666;font-size:.9em}.k{margin:.4em 0 0;font-weight:600}.err{color:#8250df}
.stp{margin:.5em 0 .1em;font-weight:600}.x{margin:.15em 0 .15em 1em}.x summary{font-family:ui-monospace,monospace;font-size:.92em;overflow-wrap:anywhere}.x.in summary{color:#0550ae}.at,.peek{color:#666}
</style>
</head>
<body>
<h1>Matrix pushers conformance</h1>
<p>${h(m.suite.name)} ${h(m.suite.version)} · target <code>${h(m.target)}</code>${m.embedded ? ' (bundled reference server)' : ''}${m.server ? ` · server <code>${h(m.server)}</code>` : ''}</p>
<p>advertised versions: ${h(versions || '(none)')}<br>${h(versionsLine(report))}<br>level: ${strict ? 'SHOULD (--strict)' : 'MUST (SHOULD failures are warnings)'} · started ${h(m.startedAt)} · ${(m.durationMs / 1000).toFixed(1)} s${m.interrupted ? ' · <b>interrupted</b>' : ''}</p>
<div class="totals">${TILES.map((o) => `<button type="button" data-outcome="${o}" aria-pressed="false" title="show only the ${o} cases (click again for all)"><b>${count(o)}</b>${o}</button>`).join('')}<input id="filter-text" type="search" placeholder="filter by text: case id, requirement, message…" aria-label="filter the cases by text"><span id="shown">${report.results.length} cases</span></div>
<p class="verdict ${verdict.conforms ? 'good' : 'bad'}">${h(verdict.text)}</p>
${gate ? `<p class="verdict ${gate.passed ? 'good' : 'bad'}">${h(gate.text)}</p>` : ''}
<p>${h(countsLine(report))}</p>
${failureGroups(report)}
<h2>Cases</h2>
<table>
<tbody>
${rows}
</tbody>
</table>
<script>${SCRIPT}</script>
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
