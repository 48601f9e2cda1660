// The one socket of the tab: typed both ways, same origin as the page.
// Created without connecting; the client session or the coordinator view
// connects it. Components subscribe in useEffect with named handlers and
// unsubscribe with socket.off(event, handler).
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../protocol/messages.ts';

export type TabSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const socket: TabSocket = io({ autoConnect: false });

/** Events that the server acknowledges, with what goes out and what comes back. */
type AckedEvents = {
  [K in keyof ClientToServerEvents as Parameters<ClientToServerEvents[K]> extends [...unknown[], (a: never) => void]
    ? K
    : never]: Parameters<ClientToServerEvents[K]> extends [...infer A, (a: infer R) => void] ? { args: A; reply: R } : never;
};
export type AckedEvent = keyof AckedEvents;
export type AckArgs<K extends AckedEvent> = AckedEvents[K]['args'];
export type AckReply<K extends AckedEvent> = AckedEvents[K]['reply'];

export class NoAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAnswerError';
  }
}

/**
 * Emits an event and resolves with the server's acknowledgement. Rejects when
 * the socket is not connected (socket.io would otherwise buffer the message and
 * send it after a reconnect, ahead of the new join) or when no answer comes
 * within timeoutMs.
 */
export function request<K extends AckedEvent>(event: K, args: AckArgs<K>, timeoutMs = 15_000): Promise<AckReply<K>> {
  return new Promise((resolve, reject) => {
    if (!socket.connected) {
      reject(new NoAnswerError(`not connected to the server, so "${event}" was not sent`));
      return;
    }
    const onReply = (err: Error | null, reply: AckReply<K>) => {
      if (err) reject(new NoAnswerError(`the server did not answer "${event}" within ${Math.round(timeoutMs / 1000)} s`));
      else resolve(reply);
    };
    // socket.io's typing cannot follow a generic event name through timeout(); the maps above keep callers typed.
    (socket.timeout(timeoutMs) as unknown as { emit(ev: string, ...a: unknown[]): void }).emit(event, ...(args as unknown[]), onReply);
  });
}
