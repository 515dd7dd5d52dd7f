// The little of git's pkt-line protocol the gate speaks itself: reading the
// command list at the head of a push, answering a push the gate refuses before
// receive-pack runs (report-status, with the reason on the progress channel),
// and `ERR` packets for a fetch that cannot be served.
export const FLUSH = Buffer.from('0000');
/** Largest pkt-line payload (LARGE_PACKET_DATA_MAX). */
const MAX_DATA = 65516;

export function pkt(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (b.length > MAX_DATA) throw new Error('pkt-line too long');
  return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]);
}

export interface PushCommand {
  old: string;
  new: string;
  ref: string;
}

export interface PushHead {
  commands: PushCommand[];
  caps: Set<string>;
}

const COMMAND = /^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (\S+)$/;

/**
 * The commands at the head of a receive-pack request: `undefined` while
 * `buf` does not yet hold the flush that ends them; `null` when the head is
 * not one the gate understands (receive-pack will judge it).
 */
export function parsePushHead(buf: Buffer): PushHead | null | undefined {
  const commands: PushCommand[] = [];
  let caps = new Set<string>();
  let off = 0;
  for (;;) {
    if (buf.length < off + 4) return undefined;
    const len = parseInt(buf.subarray(off, off + 4).toString('latin1'), 16);
    if (Number.isNaN(len) || (len > 0 && len < 4)) return null;
    if (len === 0) return { commands, caps };
    if (buf.length < off + len) return undefined;
    let line = buf.subarray(off + 4, off + len).toString('latin1');
    off += len;
    if (line.endsWith('\n')) line = line.slice(0, -1);
    if (line.startsWith('shallow ')) continue;
    const nul = line.indexOf('\0');
    if (nul >= 0) {
      if (commands.length === 0) caps = new Set(line.slice(nul + 1).split(' ').filter(Boolean));
      line = line.slice(0, nul);
    }
    const m = COMMAND.exec(line);
    if (!m) return null;
    commands.push({ old: m[1]!, new: m[2]!, ref: m[3]! });
  }
}

/** Progress-channel text (`remote: ...` on the client) wrapped for the client's side-band, one packet per line. */
function sideband(channel: 1 | 2 | 3, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += MAX_DATA - 1) out.push(pkt(Buffer.concat([Buffer.from([channel]), data.subarray(i, i + MAX_DATA - 1)])));
  return out;
}

/**
 * A whole receive-pack answer refusing every command: `message` lines on the
 * progress channel, then `unpack <unpack>` and `ng <ref> <reason>` per ref.
 * Speaks whatever the client asked for (side-band-64k or not, report-status
 * or not).
 */
export function refusePush(head: PushHead, reasons: Map<string, string>, message: string[], unpack = 'ok'): Buffer {
  const report: Buffer[] = [];
  if (head.caps.has('report-status') || head.caps.has('report-status-v2')) {
    report.push(pkt(`unpack ${unpack}\n`));
    for (const c of head.commands) report.push(pkt(`ng ${c.ref} ${(reasons.get(c.ref) ?? 'refused with the rest of this push').replace(/\n/g, ' ')}\n`));
    report.push(FLUSH);
  }
  const text = Buffer.from(message.map((l) => `${l}\n`).join(''), 'utf8');
  if (head.caps.has('side-band-64k') || head.caps.has('side-band')) {
    const out = text.length ? sideband(2, text) : [];
    if (report.length) out.push(...sideband(1, Buffer.concat(report)));
    out.push(FLUSH);
    return Buffer.concat(out);
  }
  return Buffer.concat(report);
}

/** An advertisement that makes the client stop with `fatal: remote error: <message>`. */
export function errAdvertisement(service: string, v2: boolean, message: string): Buffer {
  const err = pkt(`ERR ${message.replace(/\s*\n\s*/g, ' | ')}`.slice(0, 4000) + '\n');
  return v2 ? err : Buffer.concat([pkt(`# service=${service}\n`), FLUSH, err]);
}
