// An upstream URL as logs and errors may show it: a URL can carry credentials (user:password@, a token in the
// query), and those must never reach a log line or an error message.

/** `url` with its user, password and query replaced by `***`; a text that is no URL shows only its scheme. */
export function redactedUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(String(url))?.[0];
    return scheme ? `${scheme}… (not a URL)` : '(not a URL)';
  }
  if (parsed.username) parsed.username = '***';
  if (parsed.password) parsed.password = '***';
  if (parsed.search) parsed.search = '?***';
  return parsed.toString();
}
