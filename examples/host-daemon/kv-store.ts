// kv: an example in-house plugin with a daemon of its own. A small key-value
// store runs on the host, in the `bottle` process, for as long as the bottle
// runs; the agent reaches it at http://127.0.0.1:7070 (in $KV_URL):
//
//   curl -X PUT --data-binary 'done: step 1' $KV_URL/kv/progress
//   curl $KV_URL/kv/progress
//   curl $KV_URL/kv/                      the keys, one a line
//
// The guest has no network: the store is reached through a door. The plugin
// asks the kernel for one in `plan` (a Unix socket path in the bottle's
// doors dir, and the guest port the forwarder offers it on), listens on that
// socket in `preStart` and registers its undo at once; each request is an
// audit record; teardown closes the store (and writes it to `saveTo`, if
// set) however the bottle ends.
//
//   plan       checks its keys, asks for the door, declares the daemon and $KV_URL
//   preStart   starts the store on the door's socket, registers its undo
//   (undo)     closes it, saves it, records how many entries it held
//
// Only types come from 'claude-bottle' at the top (Node strips them); the
// daemon kit (listenOnDoor, closeServer, safeSink) is imported when a bottle
// starts a store, so `bottle plan` and bottles without one never load it.
import { stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { AuditEvent, BottlePlugin, ConfigShapes, Door } from 'claude-bottle';
import { z } from 'zod';

const NAME = 'kv';
/** Keys are plain names: no path, nothing to neutralise when they are shown. */
const KEY = /^[A-Za-z0-9._-]{1,128}$/;

/** The key this plugin adds to every bottle: off when absent; `kv: {}` runs it with the defaults. */
export const kvConfig = {
  bottle: {
    kv: z
      .strictObject({
        port: z.number().int().min(1024).max(65535).default(7070).describe('The port the guest reaches the store on, at 127.0.0.1.'),
        maxValueBytes: z.number().int().positive().default(64 * 1024).describe('The largest value one PUT may store; a larger one is refused (413).'),
        maxEntries: z.number().int().positive().default(1000).describe('How many keys the store holds at most; a PUT of a new key beyond is refused (507).'),
        seed: z
          .record(z.string().regex(KEY, { error: 'keys use letters, digits, ".", "_" and "-" (at most 128)' }), z.string())
          .default({})
          .describe('Entries the store starts with.'),
        saveTo: z
          .string()
          .min(1)
          .optional()
          .describe('A host file (relative to the config file) the entries are written to, as a JSON object, when the bottle ends.'),
      })
      .optional()
      .describe('A key-value store on the host, reached from the guest at http://127.0.0.1:<port>/kv/<key> (GET, PUT, DELETE); off when absent.'),
  },
} satisfies ConfigShapes;

type KvConfig = NonNullable<z.output<(typeof kvConfig)['bottle']['kv']>>;

/** What kv offers other plugins: `api.use('kv')`, with 'kv' in their `dependencies`. */
export interface KvApi {
  /**
   * An entry for the store. From a plan tap (any stage) or `preStart`, it is
   * there when the store starts (the config's `seed` wins over it); while the
   * store runs, it is set at once; after the store stopped, it throws.
   */
  set(key: string, value: string): void;
}

// Makes `api.use('kv')` typed in every plugin that sees this file.
declare module 'claude-bottle' {
  interface PluginApis {
    kv: KvApi;
  }
}

export function kvStore(): BottlePlugin<typeof kvConfig, KvApi> {
  // What `plan` decided, for `preStart` (the plugin object lives as long as the bottle).
  let cfg: KvConfig | undefined;
  let door: Door | undefined;
  let saveTo: string | undefined;
  /** What other plugins set before the store started; the running store; whether it stopped. */
  const contributed = new Map<string, string>();
  let running: Map<string, string> | undefined;
  let stopped = false;
  /** Whether this bottle has a store (its `kv` key): known once the kernel applies the plugin. */
  let enabled = false;

  const kvApi: KvApi = {
    set(key, value) {
      if (!KEY.test(key)) throw new Error(`kv: set(${JSON.stringify(key)}): keys use letters, digits, ".", "_" and "-" (at most 128)`);
      if (!enabled) throw new Error(`kv: set("${key}"): this bottle has no store (no \`kv\` key)`);
      if (stopped) throw new Error(`kv: set("${key}") came after the store stopped`);
      (running ?? contributed).set(key, String(value));
    },
  };

  return {
    name: NAME,
    config: kvConfig,
    api: kvApi,
    apply(hooks, api) {
      enabled = api.config.bottle.kv !== undefined;
      hooks.plan.tapPromise(NAME, async (draft, ctx) => {
        cfg = api.config.bottle.kv;
        door = undefined;
        saveTo = undefined;
        if (!cfg) return;
        const at = `bottles.${draft.bottle}.kv`;
        if (cfg.saveTo) {
          saveTo = path.resolve(draft.configDir, cfg.saveTo);
          // Found now, as a config error, not when the bottle ends and the entries are lost.
          const dir = await stat(path.dirname(saveTo)).catch(() => undefined);
          if (!dir?.isDirectory()) throw ctx.configError(`${at}.saveTo`, `${path.dirname(saveTo)} is not a directory`, 'create it, or name a file in an existing directory (relative to the config file)');
        }
        const description = `key-value store, ${Object.keys(cfg.seed).length} seeded entr${Object.keys(cfg.seed).length === 1 ? 'y' : 'ies'}${saveTo ? `, saved to ${saveTo}` : ''}`;
        try {
          door = ctx.door({ name: 'kv', port: cfg.port, description });
        } catch (e) {
          // A port another plugin's door has: the user's key to change, so a config error (exit 2).
          throw ctx.configError(`${at}.port`, (e as Error).message, 'choose another port');
        }
        draft.daemons.push({ name: 'kv', plugin: NAME, description: `${description}; door ${door.url}` });
        draft.env.KV_URL = door.url;
      });

      hooks.preStart.tapPromise(NAME, async (ctx) => {
        if (!cfg || !door) return;
        const { listenOnDoor, closeServer, safeSink } = await import('claude-bottle/doors');
        // An audit sink that cannot throw into the server.
        const audit = safeSink((e: AuditEvent) => ctx.bus.emit('audit', { plugin: NAME, ...e }));
        const store = new Map([...contributed, ...Object.entries(cfg.seed)]);
        const limits = { maxValueBytes: cfg.maxValueBytes, maxEntries: cfg.maxEntries };
        const live = new Set<Socket>();
        const server = createServer((req, res) => serve(req, res, store, limits, audit));
        server.on('connection', (s) => {
          live.add(s);
          s.on('close', () => live.delete(s));
        });
        await listenOnDoor(server, door.socketPath);
        running = store;
        // Registered as soon as the store exists: a later failure still closes it.
        const file = saveTo;
        ctx.onUndo('stop the key-value store', async () => {
          stopped = true;
          running = undefined;
          await closeServer(server, live);
          if (file) await writeFile(file, `${JSON.stringify(Object.fromEntries(store), null, 2)}\n`, { mode: 0o600 });
          audit({ type: 'kv.stopped', entries: store.size, ...(file ? { savedTo: file } : {}) });
        });
        audit({ type: 'kv.started', socket: door.socketPath, guest: door.url, entries: store.size });
        ctx.bus.emit('log', { plugin: NAME, message: `key-value store on ${door.url} (${door.socketPath})` });
      });
    },
  };
}

/** One request: GET, PUT or DELETE /kv/<key>, or GET /kv/ for the keys. Values are never audited (they may be anything). */
function serve(req: IncomingMessage, res: ServerResponse, store: Map<string, string>, limits: { maxValueBytes: number; maxEntries: number }, audit: (e: AuditEvent) => void): void {
  const answer = (status: number, text: string, close = false) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(close ? { connection: 'close' } : {}) });
    res.end(text ? `${text}\n` : '');
  };
  const url = new URL(req.url ?? '/', 'http://kv');
  if (url.pathname === '/kv' || url.pathname === '/kv/') {
    if (req.method !== 'GET') return answer(405, 'GET /kv/ lists the keys');
    audit({ type: 'kv.list', entries: store.size });
    return answer(200, [...store.keys()].join('\n'));
  }
  const key = url.pathname.startsWith('/kv/') ? url.pathname.slice(4) : '';
  if (!KEY.test(key)) return answer(404, 'use /kv/<key>: letters, digits, ".", "_" and "-"');

  if (req.method === 'GET') {
    const value = store.get(key);
    audit({ type: 'kv.get', key, found: value !== undefined });
    return value === undefined ? answer(404, `no key "${key}"`) : answer(200, value);
  }
  if (req.method === 'DELETE') {
    const found = store.delete(key);
    audit({ type: 'kv.delete', key, found });
    return answer(found ? 200 : 404, found ? 'deleted' : `no key "${key}"`);
  }
  if (req.method !== 'PUT') return answer(405, 'GET, PUT or DELETE');

  const chunks: Buffer[] = [];
  let bytes = 0;
  // A client that goes away mid-body: nothing to store, and no unhandled error in the `bottle` process.
  req.on('error', () => {});
  let refused = false;
  req.on('data', (c: Buffer) => {
    if (refused) return;
    bytes += c.length;
    if (bytes <= limits.maxValueBytes) return void chunks.push(c);
    // Answered at once; the rest of the body is not read (the connection closes after the answer).
    refused = true;
    audit({ type: 'kv.refused', key, reason: 'too large', status: 413 });
    answer(413, `a value holds at most ${limits.maxValueBytes} bytes`, true);
  });
  req.on('end', () => {
    if (refused) return;
    if (!store.has(key) && store.size >= limits.maxEntries) {
      audit({ type: 'kv.refused', key, reason: 'full', status: 507 });
      return answer(507, `the store holds at most ${limits.maxEntries} keys`);
    }
    store.set(key, Buffer.concat(chunks).toString('utf8'));
    audit({ type: 'kv.put', key, bytes });
    answer(200, 'stored');
  });
}
