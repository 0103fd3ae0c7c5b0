/**
 * What the delivery steps say about the pokes they saw: each poke once, with
 * when it arrived (in ms since its case started) and what the gateway
 * answered, so a message counts what was sent, never the same poke twice.
 */
import type { Poke } from '../gateway/gateway.js';
import { eventOf, isBadge } from './notification-common.js';

/** "about event $x", "a badge update", "about an event it does not name". */
function about(p: Poke): string {
  if (isBadge(p)) return 'a badge update (counts only)';
  const e = eventOf(p);
  return e === undefined ? 'about an event it does not name' : `about event ${e}`;
}

/** One poke: when it arrived and how the gateway answered it. */
export function pokeText(p: Poke, caseStarted: number, withWhat = false): string {
  return `${withWhat ? `${about(p)} ` : ''}at +${Math.round(p.at - caseStarted)} ms, answered ${p.answered}`;
}

/**
 * Why an await_notification step saw less than it waited for: how many of
 * the pokes it counted came (each with its time and answer), that no more
 * came within the time, and the other pokes for the pushkey.
 */
export function missingText(o: { what: string; timeoutMs: number; counted: readonly Poke[]; forPushkey: readonly Poke[]; caseStarted: number }): string {
  const within = `within ${o.timeoutMs % 1000 === 0 ? `${o.timeoutMs / 1000} s` : `${o.timeoutMs} ms`}`;
  const others = o.forPushkey.filter((p) => !o.counted.includes(p));
  const rest = others.length ? `; other pokes for the pushkey: ${others.slice(0, 5).map((p) => pokeText(p, o.caseStarted, true)).join('; ')}${others.length > 5 ? `; and ${others.length - 5} more` : ''}` : '';
  if (o.counted.length === 0) return `the gateway did not receive ${o.what} ${within}${rest}`;
  const counted = o.counted.map((p) => pokeText(p, o.caseStarted)).join(', then ');
  const n = o.counted.length;
  const next = n === 1 ? 'second' : n === 2 ? 'third' : `${n + 1}th`;
  return `waited for ${o.what}: ${n} arrived (${counted}); no ${next} came ${within}${rest}`;
}
