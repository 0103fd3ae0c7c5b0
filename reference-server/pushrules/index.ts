/**
 * The push rules area of the reference server: the push rules API, the store
 * behind it, and the policy push delivery asks whom an event notifies. app.ts
 * plugs it in with the routes and the policy this returns.
 */
import type { Limits } from '../limits.js';
import type { NotificationPolicy } from '../push/delivery.js';
import type { Route } from '../routes/types.js';
import { accountDataRoutes } from './account-data.js';
import { PushRulePolicy } from './evaluate.js';
import { resolvePushRuleLimits, type PushRuleOptions } from './limits.js';
import { pushRuleRoutes } from './routes.js';
import { newestV1, semanticsFor, type PushRuleSemantics } from './semantics.js';
import { PushRuleStore } from './store.js';

export { DEFAULT_PUSH_RULE_LIMITS, type PushRuleOptions } from './limits.js';

/** What app.ts plugs in from a push rules module (this one, or another in the project's tests): its routes, and the policy delivery asks. */
export interface PushRulesModule {
  readonly routes: readonly Route[];
  readonly policy: NotificationPolicy;
}

export interface PushRules extends PushRulesModule {
  readonly routes: Route[];
  readonly policy: PushRulePolicy;
  readonly store: PushRuleStore;
  readonly semantics: PushRuleSemantics;
}

export interface PushRulesContext {
  /** The versions the server advertises: without pushRulesVersion, the newest v1 one is followed. */
  readonly advertised: readonly string[];
  readonly limits: Limits;
  /** A user's display name (contains_display_name). */
  readonly displayName: (userId: string) => string | undefined;
}

export function createPushRules(options: PushRuleOptions, context: PushRulesContext): PushRules {
  const ruleLimits = resolvePushRuleLimits(options);
  // A server advertising only r0 versions gets v1.1's rules, which r0.6.1's became.
  const semantics = semanticsFor(options.pushRulesVersion ?? newestV1(context.advertised) ?? 'v1.1');
  const store = new PushRuleStore(ruleLimits, semantics);
  return {
    routes: [...pushRuleRoutes(store, context.limits, ruleLimits), ...accountDataRoutes()],
    policy: new PushRulePolicy(store, semantics, context.displayName),
    store,
    semantics,
  };
}
