import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidArgument } from '../domain/errors.js';
import { PACKAGE_LIMITS } from '../integrations/apps/package.js';

/** Lets a plugin's routes take an app package: a raw ZIP body, or a multipart file part. */
export async function acceptPackages(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: { fileSize: PACKAGE_LIMITS.packedBytes, files: 1 } });
  for (const type of ['application/zip', 'application/x-zip-compressed', 'application/octet-stream'])
    app.addContentTypeParser(
      type,
      { parseAs: 'buffer', bodyLimit: PACKAGE_LIMITS.packedBytes },
      (_r, body, done) => done(null, body),
    );
}

/** The uploaded package: the raw body, or the multipart file field `package` (or Orchestrate's `module`). */
export async function packageUpload(request: FastifyRequest, field = 'package'): Promise<Buffer> {
  let archive: Buffer | undefined;
  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      // Every file part is read to its end, or the request would never finish.
      const data = await part.toBuffer();
      if (part.fieldname === 'package' || part.fieldname === 'module') archive = data;
    }
  } else if (Buffer.isBuffer(request.body)) archive = request.body;
  if (!archive || archive.length === 0)
    throw invalidArgument(
      field,
      `send the package as an application/zip body, or as the multipart file field "${field}"`,
    );
  return archive;
}
