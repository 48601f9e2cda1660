// Turning errors into plain words for the page.
import { ProtocolError, type ErrorCode, type ErrorMsg } from '../protocol/messages.ts';

const CODE_WORDS: Record<ErrorCode, string> = {
  'bad-payload': 'The server could not read a message from this tab',
  'bad-weights': 'The adapter weights did not match what was expected',
  'wrong-federation': 'That message belonged to an earlier federation (it was reset or reconfigured)',
  'stale-round': 'That round had already closed',
  'not-selected': 'This institution was not picked for that round',
  duplicate: 'The server already had that message',
  'not-joined': 'The server does not know this tab yet (it joins again by itself)',
  'bad-config': 'The configuration was not accepted',
};

export function describeCode(code: ErrorCode, detail?: string): string {
  const words = CODE_WORDS[code] ?? `The server refused (${code})`;
  return detail ? `${words}: ${detail}` : `${words}.`;
}

export function describeServerError(msg: ErrorMsg): string {
  const where = msg.round > 0 ? ` (round ${msg.round})` : '';
  return `${describeCode(msg.code, msg.message)}${where}`;
}

export function describeError(e: unknown): string {
  if (e instanceof ProtocolError) return describeCode(e.code, e.message);
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
