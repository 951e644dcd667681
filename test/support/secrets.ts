// Secrets for tests: generated once with `openssl rand -base64 32`, as a deployment's would be. drain-core and
// handoff refuse repeated patterns and placeholder words, so a test secret must look like a real one. Test-only:
// never use them anywhere else.

/** A handoff key (32 bytes, base64). */
export const TEST_HANDOFF_SECRET = 'p6gh/BEr317caceVD5nKy3sWGtRpceZ/NhKN6sf3aAA=';
/** BATON_HANDOFF_KEYS with that key as k1. */
export const TEST_HANDOFF_KEYS = `k1=${TEST_HANDOFF_SECRET}`;
/** An admin token (openssl rand -base64 32). */
export const TEST_ADMIN_TOKEN = 'PUmMdRBAx4UWjFrdzOHTNQCn4B+TdlfWAxoI7LZ0Fq0=';
