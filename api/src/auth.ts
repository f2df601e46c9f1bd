import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Store } from '../../core/store/store.ts';
import { ApiKeyAuthenticator, type Principal, requireScope, type Scope } from './api-keys.ts';

export interface AuthenticationOptions {
  store: Store;
  /** The key cache, when someone else must reach it too (credential changes); default: a new one. */
  authenticator?: ApiKeyAuthenticator;
}

/** An `onRequest` hook: resolves the caller's key and refuses it without the scope. */
export type ScopeHook = (request: FastifyRequest) => Promise<void>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller behind the API key; set on routes that require a scope, before anything else runs. */
    principal: Principal;
  }
  interface FastifyInstance {
    /** The hook a route puts in its `onRequest`: `onRequest: app.requireScope('messages:write')`. */
    requireScope(scope: Scope): ScopeHook;
  }
}

/**
 * API key authentication for the whole app: one authenticator, so one key cache whichever route a
 * key arrives on, and the request's `principal`.
 *
 * A route opts in with `onRequest: app.requireScope(scope)`, or a route plugin whose every call
 * needs one scope with `app.addHook('onRequest', app.requireScope(scope))`. That is the form
 * Fastify's own auth plugins hand out (@fastify/jwt, @fastify/auth), chosen over a
 * `config: { scope }` read by one global hook: the scope is written where the route is, the hook
 * runs only on routes that name it (a global one would run on every request, 404s and docs
 * included, to find it has nothing to do), and routes without it (receipt and inbound webhooks,
 * health, metrics, docs) stay public with no list of exceptions to keep in step. In `onRequest`
 * the key and scope are checked before the body is read or validated, so a caller without the
 * scope costs a hash and a cache lookup, never a parse.
 *
 * Registered once on the root instance, before the routes: skip-override (what fastify-plugin
 * sets) keeps the decorators out of an encapsulated context of their own so every route plugin
 * sees them.
 */
export async function authentication(app: FastifyInstance, options: AuthenticationOptions): Promise<void> {
  const authenticator = options.authenticator ?? new ApiKeyAuthenticator(options.store);
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorate('requireScope', (scope: Scope): ScopeHook => {
    return async (request) => {
      request.principal = await authenticator.authenticate(request.headers.authorization);
      requireScope(request.principal, scope);
    };
  });
}
Object.assign(authentication, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'pigeon-authentication',
});
