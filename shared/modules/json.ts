import { ParseError } from '../errors';

/** JSON.parse whose failure is a ParseError naming the response (the client retries those). */
export function parseJsonBody(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ParseError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}
