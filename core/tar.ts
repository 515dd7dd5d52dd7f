// A minimal tar (ustar + pax long names) writer: just what provisioning
// needs, fast for many small files (one header Buffer per entry, no stream
// per file).

export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Date;
  size?: number;
  linkname?: string;
}

const BLOCK = 512;
const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;

function octal(n: number, width: number): string {
  // width - 1 digits and a NUL, as tar readers expect.
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function rawHeader(e: { name: string; type: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; uname: string; gname: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(e.mode & 0o7777, 8), 100, 8, 'ascii');
  h.write(octal(e.uid, 8), 108, 8, 'ascii');
  h.write(octal(e.gid, 8), 116, 8, 'ascii');
  h.write(octal(e.size, 12), 124, 12, 'ascii');
  h.write(octal(e.mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(e.type, 156, 1, 'ascii');
  h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257, 8, 'ascii');
  h.write(e.uname, 265, 32, 'utf8');
  h.write(e.gname, 297, 32, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

function paxRecord(key: string, value: string): string {
  // "<len> key=value\n" where len counts itself.
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Zero bytes that pad `size` to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest ? Buffer.alloc(BLOCK - rest) : Buffer.alloc(0);
}

/** The header block(s) of one entry: a pax header first when a name does not fit. */
export function header(e: TarEntry): Buffer {
  const size = e.type === 'file' ? (e.size ?? 0) : 0;
  const linkname = e.linkname ?? '';
  const mtime = Math.floor(e.mtime.getTime() / 1000);
  const base = { mode: e.mode, uid: e.uid, gid: e.gid, mtime, uname: e.uname, gname: e.gname };
  const main = rawHeader({ ...base, name: fit(e.name), type: TYPEFLAG[e.type], size, linkname: fit(linkname) });
  const records = (Buffer.byteLength(e.name) > 100 ? paxRecord('path', e.name) : '') + (Buffer.byteLength(linkname) > 100 ? paxRecord('linkpath', linkname) : '');
  if (!records) return main;
  const body = Buffer.from(records, 'utf8');
  const pax = rawHeader({ ...base, name: 'PaxHeader', type: 'x', size: body.length, linkname: '' });
  return Buffer.concat([pax, body, padding(body.length), main]);
}

function fit(s: string): string {
  return Buffer.byteLength(s) > 100 ? Buffer.from(s).subarray(0, 100).toString('utf8') : s;
}

/** Two zero blocks end an archive. */
export const END = Buffer.alloc(BLOCK * 2);
