// The MCP sessions of one supervise server: an McpServer and its Streamable
// HTTP transport per session, bounded (beyond the cap the least recently
// used is dropped; its client re-initialises on 404). They hold nothing but
// the connection: the queue is on disk.
import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/** Live MCP sessions per bottle; beyond it the least recently used is dropped. */
export const MAX_SESSIONS = 32;
const MAX_BODY = 256 * 1024;

export interface Session {
  /** Set once the client's `initialize` went through. */
  id: string | undefined;
  transport: StreamableHTTPServerTransport;
  mcp: McpServer;
  lastSeen: number;
}

export interface Sessions {
  get(id: string): Session | undefined;
  /** A session for a request without a session ID; it gets its ID if the request is an `initialize`. */
  open(): Session;
  /** Forgets the session and closes its transport and server. Idempotent. */
  drop(s: Session): void;
  /** Drops every session, initialised or not (close). */
  dropAll(): void;
}

/**
 * The session to drop once `live` holds more than `max`: the least recently
 * used, never `keep` (the one just initialised, whose lastSeen may be the oldest).
 */
export function evictionVictim<S extends { lastSeen: number }>(live: readonly S[], keep: S, max: number): S | undefined {
  if (live.length <= max) return undefined;
  return live.filter((o) => o !== keep).sort((a, b) => a.lastSeen - b.lastSeen)[0];
}

/** `build` makes the MCP server of one session (the SDK binds a server to one transport). */
export function createSessions(build: () => McpServer): Sessions {
  const byId = new Map<string, Session>();
  /** Sessions being initialised (no id yet) and live ones, for dropAll(). */
  const all = new Set<Session>();

  const drop = (s: Session) => {
    all.delete(s);
    if (s.id && byId.get(s.id) === s) byId.delete(s.id);
    void s.transport.close().catch(() => {});
    void s.mcp.close().catch(() => {});
  };

  const open = (): Session => {
    const s: Session = {
      id: undefined,
      lastSeen: Date.now(),
      mcp: build(),
      transport: new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        maxRequestBodySize: MAX_BODY,
        onsessioninitialized: (id) => {
          s.id = id;
          byId.set(id, s);
          const victim = evictionVictim([...byId.values()], s, MAX_SESSIONS);
          if (victim) drop(victim);
        },
        onsessionclosed: () => drop(s),
      }),
    };
    s.transport.onclose = () => drop(s);
    all.add(s);
    return s;
  };

  return {
    get: (id) => byId.get(id),
    open,
    drop,
    dropAll() {
      for (const s of [...all]) drop(s);
    },
  };
}
