/**
 * The EHLO extension list as Exchange Online orders it (transcripts published by email-oauth2-proxy, emayili and
 * sasl-xoauth2; see docs/cloud-twin.md "Fidelity"):
 *
 *   before TLS: SIZE 157286400, PIPELINING, DSN, ENHANCEDSTATUSCODES, STARTTLS, 8BITMIME, BINARYMIME, CHUNKING, SMTPUTF8
 *   after TLS:  the same with AUTH LOGIN XOAUTH2 where STARTTLS stood
 *
 * smtp-server builds the list itself, in its own order, from what it implements; this module only reorders it, so
 * the twin never advertises an extension the library does not handle. The one deviation: BINARYMIME and CHUNKING are
 * not advertised, because smtp-server has no BDAT (RFC 3030) and a client may use BDAT only when CHUNKING is listed
 * (BINARYMIME needs BDAT too). The library's REQUIRETLS is hidden by the server options, as Exchange lists none.
 */

/** Exchange's order, by keyword. STARTTLS and AUTH share a place: only one of them is listed at a time. */
const EXCHANGE_ORDER = ['SIZE', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'AUTH', '8BITMIME', 'BINARYMIME', 'CHUNKING', 'SMTPUTF8'];

const rank = (line: string): number => {
  const i = EXCHANGE_ORDER.indexOf((line.split(' ')[0] ?? '').toUpperCase());
  return i === -1 ? EXCHANGE_ORDER.length : i; // anything Exchange does not list keeps its place at the end
};

/** The library's extension lines (the EHLO reply without its first, greeting line) in Exchange's order. */
export function inExchangeOrder(extensions: readonly string[]): string[] {
  return extensions
    .map((line, i) => ({ line, i }))
    .sort((a, b) => rank(a.line) - rank(b.line) || a.i - b.i)
    .map((e) => e.line);
}
