/** Osprey's release version (package.json's), shown by the CLI, the OpenAPI document and release_version. */
export const OSPREY_VERSION = '0.1.0';
