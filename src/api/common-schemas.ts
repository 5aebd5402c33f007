import Type from 'typebox';
import { ROLE_NAMES } from '../domain/roles.js';

export const ErrorBody = Type.Object(
  {
    code: Type.Union([Type.String(), Type.Integer()], {
      description: 'stable code (native) or gRPC status (Torq surface)',
    }),
    message: Type.String(),
    details: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error' },
);

/** Standard error responses every authenticated route may answer. */
export const errorResponses = {
  400: Type.Ref('Error'),
  401: Type.Ref('Error'),
  403: Type.Ref('Error'),
  404: Type.Ref('Error'),
  409: Type.Ref('Error'),
  413: Type.Ref('Error'),
  429: Type.Ref('Error'),
};

/** The success response (documented as any JSON) plus the standard errors. */
export function ok(status: 200 | 201 | 204 = 200) {
  return { [status]: status === 204 ? Type.Null() : Type.Unknown(), ...errorResponses } as Record<
    typeof status,
    ReturnType<typeof Type.Unknown>
  > &
    typeof errorResponses;
}

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const PageQuery = Type.Object(
  {
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    page_token: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  },
  { additionalProperties: false },
);

/** A page of a searchable list: `q` matches titles and names. */
export const SearchPageQuery = Type.Object(
  { ...PageQuery.properties, q: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);

export const RoleName = Type.Union(
  ROLE_NAMES.map((r) => Type.Literal(r)),
  { description: 'owner, contributor, creator, operator or viewer' },
);

/** Names usable in expressions: `$secrets.<name>`, `$vars.<name>`. */
export const ResourceName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$',
  description: 'letters, digits, _ . -; starts with a letter or _',
});

export const Timestamp = Type.String({ format: 'date-time' });
