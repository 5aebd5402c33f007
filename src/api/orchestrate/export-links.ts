import type { FastifyRequest } from 'fastify';

/**
 * Orchestrate answers a large field's export with a presigned download URL. Osprey's is the
 * field's content route, signed with the request's own AccessID, Expires and Signature: it works
 * until that signature expires, like a presigned URL.
 */
export function fileUrl(request: FastifyRequest, path: string, field: string): string {
  const q = request.query as Record<string, unknown>;
  const url = new URL(`/soarapi/openapi/${path}`, `${request.protocol}://${request.host}`);
  url.searchParams.set('field', field);
  for (const k of ['AccessID', 'Expires', 'Signature'])
    if (typeof q[k] === 'string') url.searchParams.set(k, q[k]);
  url.searchParams.set('response-content-disposition', 'attachment');
  return url.toString();
}
