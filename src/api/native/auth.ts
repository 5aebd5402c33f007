import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { OspreyError } from '../../domain/errors.js';
import { ok } from '../common-schemas.js';
import { SESSION_COOKIE, principalOf, requestMeta } from '../plugins/auth.js';

const TokenBody = Type.Object(
  {
    apiKey: Type.Optional(
      Type.String({ description: '"<client_id>:<client_secret>" (the seed cheat sheet form)' }),
    ),
    grant_type: Type.Optional(Type.String({ description: 'client_credentials' })),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const TokenResponse = Type.Object({
  access_token: Type.String(),
  expires_in: Type.Integer(),
  token_type: Type.Literal('Bearer'),
});

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = header ? /^Basic\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  if (at < 0) return undefined;
  // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
  const unescape = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: unescape(decoded.slice(0, at)), secret: unescape(decoded.slice(at + 1)) };
}

function invalidClient(message: string): OspreyError {
  return new OspreyError('INVALID_CLIENT', 401, message, {
    headers: { 'www-authenticate': 'Basic realm="osprey"' },
  });
}

export function authRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    // OAuth2 token requests are form-encoded; this scope is the only one that parses forms.
    await app.register(formbody);
    app.post(
      '/auth/token',
      {
        config: { public: true },
        // OAuth2 clients may send only an Authorization: Basic header and no body at all.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: {
          summary: 'Exchange an API key for a one-hour bearer token',
          description:
            'OAuth2 client credentials (HTTP Basic or form fields with grant_type=client_credentials), or JSON {"apiKey": "<client_id>:<client_secret>"}.',
          tags: ['auth'],
          security: [],
          body: Type.Optional(TokenBody),
          response: { ...ok(), 200: TokenResponse },
        },
      },
      async (request, reply) => {
        const body = request.body ?? {};
        let creds = basicCredentials(request.headers.authorization);
        if (body.grant_type !== undefined && body.grant_type !== 'client_credentials') {
          throw new OspreyError('UNSUPPORTED_GRANT_TYPE', 400, 'grant_type must be client_credentials', {
            details: [{ field: 'grant_type', message: 'unsupported' }],
          });
        }
        if (!creds && body.apiKey !== undefined) {
          const at = body.apiKey.indexOf(':');
          if (at <= 0) throw invalidClient('apiKey must be "<client_id>:<client_secret>"');
          creds = { id: body.apiKey.slice(0, at), secret: body.apiKey.slice(at + 1) };
        }
        if (!creds && body.client_id !== undefined && body.client_secret !== undefined) {
          creds = { id: body.client_id, secret: body.client_secret };
        }
        if (!creds)
          throw invalidClient(
            'send the API key: HTTP Basic client_id:client_secret, form fields, or {"apiKey": …}',
          );
        const token = await services.auth.issueToken(creds.id, creds.secret);
        void reply.header('cache-control', 'no-store');
        return token;
      },
    );

    app.post(
      '/auth/login',
      {
        config: { public: true },
        schema: {
          summary: 'Sign in with email and password (console session cookie)',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            {
              email: Type.String({ format: 'email', maxLength: 320 }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
              workspace_id: Type.Optional(Type.String({ format: 'uuid' })),
            },
            { additionalProperties: false },
          ),
          response: { ...ok() },
        },
      },
      async (request, reply) => {
        const result = await services.auth.login(request.body, requestMeta(request));
        void reply.setCookie(SESSION_COOKIE, result.session, {
          httpOnly: true,
          sameSite: 'strict',
          secure: request.protocol === 'https',
          path: '/',
          expires: new Date(result.expires_at),
        });
        return {
          user: { id: result.principal.actor.userId, email: result.principal.actor.email },
          workspace: { id: result.principal.workspaceId, name: result.principal.workspaceName },
          role: result.principal.role,
          expires_at: result.expires_at,
        };
      },
    );

    app.post(
      '/auth/logout',
      { schema: { summary: 'End the console session', tags: ['auth'] } },
      async (request, reply) => {
        await services.auth.logout(principalOf(request));
        void reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return reply.status(204).send();
      },
    );

    app.post(
      '/auth/switch-workspace',
      {
        schema: {
          summary: 'Move the console session to another workspace of the user',
          tags: ['auth'],
          body: Type.Object(
            { workspace_id: Type.String({ format: 'uuid' }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        await services.auth.switchWorkspace(principalOf(request), request.body.workspace_id);
        return reply.status(204).send();
      },
    );

    app.post(
      '/auth/accept-invitation',
      {
        config: { public: true },
        schema: {
          summary: 'Accept an invitation and set a password',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            {
              token: Type.String({ minLength: 10, maxLength: 256 }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
              name: Type.Optional(Type.String({ maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => ({
        user: await services.users.acceptInvitation(request.body, requestMeta(request)),
      }),
    );

    app.get(
      '/auth/me',
      { schema: { summary: 'Who the credentials belong to', tags: ['auth'] } },
      async (request) => {
        const p = principalOf(request);
        return {
          workspace: { id: p.workspaceId, name: p.workspaceName },
          role: p.role,
          actor: {
            type: p.actor.type,
            email: p.actor.email,
            name: p.actor.name,
            user_id: p.actor.userId ?? null,
          },
        };
      },
    );
  };
}
