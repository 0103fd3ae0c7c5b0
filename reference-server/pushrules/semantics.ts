/**
 * Where the push-rule text of one spec version contradicts another's, which one
 * the server follows. Everywhere else it behaves the same at every version (see
 * reference-server/README.md, "Push rules across spec versions"); these are the
 * only places no single behaviour conforms to both:
 *
 * - v1.1–v1.4: server-default rules rank below the user's own, `.m.rule.master`
 *   included. From v1.5 master outranks every rule.
 * - v1.1–v1.6: `coalesce` notifies (a server that does not coalesce "should
 *   treat it as the notify action"), `dont_notify` forbids a notification, and
 *   the default rules that do not notify say so with `["dont_notify"]`. From v1.7
 *   both actions are ignored (from v1.12 they MUST be), and those defaults are `[]`.
 * - v1.1–v1.6: `event_property_is` and `event_property_contains` do not exist,
 *   so as unrecognised conditions they match nothing, and the default rules
 *   added in v1.7 and later are not served. The legacy mention rules apply to
 *   every event; from v1.7 they step aside for events with `m.mentions`.
 */

export interface PushRuleSemantics {
  /** The version followed, e.g. "v1.19". */
  readonly version: string;
  /** Its minor number: 19 for v1.19. */
  readonly minor: number;
  /** v1.5 and later: `.m.rule.master` outranks the user's own override rules. */
  readonly masterFirst: boolean;
  /** v1.7 and later: `dont_notify` and `coalesce` are ignored. */
  readonly deprecatedActionsIgnored: boolean;
  /** v1.7 and later: mentions (`m.mentions`, event_property_is / _contains). */
  readonly mentions: boolean;
}

const V1 = /^v1\.(0|[1-9][0-9]{0,3})$/;

export function semanticsFor(version: string): PushRuleSemantics {
  const match = V1.exec(version);
  if (match === null) throw new RangeError(`reference server: pushRulesVersion must be a v1 version such as "v1.19", not ${JSON.stringify(version)}`);
  const minor = Number(match[1]);
  return Object.freeze({ version, minor, masterFirst: minor >= 5, deprecatedActionsIgnored: minor >= 7, mentions: minor >= 7 });
}

/** The newest v1 version in a list of advertised versions, or undefined when there is none. */
export function newestV1(versions: readonly string[]): string | undefined {
  let newest: { version: string; minor: number } | undefined;
  for (const version of versions) {
    const match = V1.exec(version);
    if (match === null) continue;
    const minor = Number(match[1]);
    if (newest === undefined || minor > newest.minor) newest = { version, minor };
  }
  return newest?.version;
}
