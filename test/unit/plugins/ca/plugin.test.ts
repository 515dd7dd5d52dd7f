// The ca plugin: nothing unless another plugin requests the CA in plan; when
// requested, the cert file, the one post-command and the trust env are
// declared, the fingerprint is logged and audited in preStart, and the CA
// key is nowhere in the plan or in what the guest gets.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, LogEvent, WarnEvent } from '../../../../core/bus.ts';
import type { BottlePlugin } from '../../../../core/hooks.ts';
import { Kernel } from '../../../../core/kernel.ts';
import type { Plan } from '../../../../core/plan.ts';
import { provisionScript } from '../../../../core/guest-files.ts';
import { CA_BUNDLE, CA_ENV, CA_GUEST_PATH, CA_INSTALL_SCRIPT, caPlugin } from '../../../../plugins/ca/index.ts';
import { FakeBackend } from '../../../helpers/fake-backend.ts';
import { oneAgent, resolve } from '../../../helpers/plan.ts';

/** A tiny plugin standing in for egress: requests the CA in plan when `want` is set (or, `late`, in preStart). */
function requester(want: boolean, stage?: number, late = false): BottlePlugin {
  return {
    name: 'requester',
    dependencies: ['ca'],
    apply(hooks, api) {
      hooks.plan.tapPromise(stage === undefined ? 'requester' : { name: 'requester', stage }, async () => {
        if (want && !late) api.use('ca').request();
      });
      hooks.preStart.tapPromise('requester', async () => {
        if (late) api.use('ca').request();
      });
    },
  };
}

function kernelWith(want: boolean, bottle: object = {}, opts: { stage?: number; late?: boolean } = {}) {
  const plugin = caPlugin();
  const ca = plugin.api!;
  const backend = new FakeBackend();
  const kernel = new Kernel({
    config: resolve(oneAgent({}, bottle)),
    configName: 'bottle.config.ts',
    configDir: '/cfg',
    cwd: '/cfg',
    backend,
    builtins: [requester(want, opts.stage, opts.late), plugin],
    stateRoot: mkdtempSync(path.join(tmpdir(), 'bottle-ca-unit-')),
    hostEnv: { HOME: '/home/someone' },
    slug: 'demo-abc12',
  });
  return { kernel, backend, ca };
}

async function drain(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describe('ca plugin', () => {
  it('declares the cert (root, 0644), one root post-command and the trust env when requested', async () => {
    const { kernel, ca } = kernelWith(true);
    const plan = await kernel.plan();
    const authority = ca.authority();

    expect(plan.files.filter((f) => f.plugin === 'ca')).toEqual([
      { guestPath: CA_GUEST_PATH, content: authority.certPem, owner: 'root', mode: 0o644, plugin: 'ca' },
    ]);
    expect(CA_GUEST_PATH).toBe('/usr/local/share/ca-certificates/claude-bottle.crt');
    expect(new X509Certificate(authority.certPem).ca).toBe(true);
    expect(new X509Certificate(authority.certPem).subject).toContain('CN=claude-bottle CA demo-abc12');

    // What the script does is checked in a real guest (test/integration/ca.test.ts).
    expect(plan.commands.filter((c) => c.plugin === 'ca')).toEqual([{ argv: ['sh', '-c', CA_INSTALL_SCRIPT, 'trust-ca', authority.subjectHash], title: 'trust the bottle CA', user: 'root', plugin: 'ca' }]);

    expect(plan.env).toMatchObject({
      NODE_EXTRA_CA_CERTS: CA_GUEST_PATH,
      SSL_CERT_FILE: CA_BUNDLE,
      REQUESTS_CA_BUNDLE: CA_BUNDLE,
      CURL_CA_BUNDLE: CA_BUNDLE,
      GIT_SSL_CAINFO: CA_BUNDLE,
    });
    expect(CA_BUNDLE).toBe('/etc/ssl/certs/ca-certificates.crt');
  });

  it('declares nothing, and has no authority, when nobody requests it', async () => {
    const { kernel, ca } = kernelWith(false);
    const plan = await kernel.plan();
    expect(plan.files).toEqual([]);
    expect(plan.commands).toEqual([]);
    expect(Object.keys(plan.env).filter((k) => k in CA_ENV)).toEqual([]);
    expect(() => ca.authority()).toThrow('no plugin called request() in plan');
  });

  it('authority() before plan is a clear error', () => {
    const { ca } = kernelWith(true);
    expect(() => ca.authority()).toThrow('authority() was called before the plan made the CA');
  });

  it('a request from a plan tap at any stage counts, even after ca\'s own tap', async () => {
    const { kernel, ca } = kernelWith(true, {}, { stage: Number.MAX_SAFE_INTEGER });
    const plan = await kernel.plan();
    expect(plan.files.map((f) => f.guestPath)).toContain(CA_GUEST_PATH);
    expect(ca.authority().certPem).toContain('BEGIN CERTIFICATE');
  });

  it('a request after the plan (in preStart) is a clear error naming the requester', async () => {
    const { kernel } = kernelWith(false, {}, { late: true });
    const r = await kernel.run();
    expect(r.error).toMatchObject({ plugin: 'requester', message: expect.stringContaining('request() came after the CA was planned') });
  });

  it('overrides a bottle env that points clients elsewhere, with a warning', async () => {
    const { kernel } = kernelWith(true, { env: { SSL_CERT_FILE: '/my/bundle.pem', KEEP: '1' } });
    const warnings: WarnEvent[] = [];
    kernel.bus.on('warn', (w) => warnings.push(w));
    const plan = await kernel.plan();
    expect(plan.env).toMatchObject({ SSL_CERT_FILE: CA_BUNDLE, KEEP: '1' });
    expect(warnings.map((w) => w.message)).toEqual([`ca: the guest's SSL_CERT_FILE=/my/bundle.pem is replaced by ${CA_BUNDLE} so clients trust the bottle's CA`]);
  });

  it('keeps the CA key out of the plan and out of what the guest gets; logs and audits the fingerprint', async () => {
    const { kernel, backend, ca } = kernelWith(true);
    const logs: LogEvent[] = [];
    const audits: AuditEvent[] = [];
    kernel.bus.on('log', (e) => logs.push(e));
    kernel.bus.on('audit', (e) => audits.push(e));
    let planJson = '';
    let started: Plan | undefined;
    kernel.hooks.postStart.tapPromise('probe', async (ctx) => {
      started = ctx.plan;
      planJson = JSON.stringify(ctx.plan);
    });

    const r = await kernel.run(['true']);
    expect(r.exitCode).toBe(0);
    const { fingerprint256, certPem } = ca.authority();

    expect(planJson).toContain(JSON.stringify(certPem));
    expect(planJson).not.toContain('PRIVATE KEY');

    // The one provisioning: the tar stream holds the cert only, the script runs the install.
    const provisions = backend.calls.filter((c) => c.method === 'guest.provision');
    expect(provisions).toHaveLength(1);
    expect(provisions[0]!.args[0]).toBe(provisionScript(started!.files, started!.commands));
    const tar = await drain(backend.inputs[0] as Readable);
    expect(tar.toString('latin1')).toContain(certPem);
    expect(tar.toString('latin1')).not.toContain('PRIVATE KEY');

    expect(logs).toContainEqual({ plugin: 'ca', message: `CA claude-bottle CA demo-abc12, SHA-256 fingerprint ${fingerprint256}` });
    expect(audits).toContainEqual(expect.objectContaining({ type: 'ca.created', plugin: 'ca', fingerprint256 }));
    expect(fingerprint256).toBe(new X509Certificate(certPem).fingerprint256);
  });

  it('logs and audits nothing when not requested', async () => {
    const { kernel } = kernelWith(false);
    const events: Array<LogEvent | AuditEvent> = [];
    kernel.bus.on('log', (e) => events.push(e));
    kernel.bus.on('audit', (e) => events.push(e));
    expect((await kernel.run(['true'])).exitCode).toBe(0);
    expect(events.filter((e) => (e as { plugin?: string }).plugin === 'ca')).toEqual([]);
  });

  it('a failing install stops the bottle with an error naming the ca plugin', async () => {
    const { kernel, backend } = kernelWith(true);
    backend.execResult = {
      exitCode: 1,
      stdout: '',
      stderr: 'the bottle CA is not trusted: OpenSSL does not find it through /etc/ssl/certs\n__bottle_fail__ 0 1\n',
    };
    const r = await kernel.run(['true']);
    expect(r.exitCode).toBe(1);
    expect(r.error).toMatchObject({ plugin: 'ca', message: expect.stringContaining('the bottle CA is not trusted') });
    expect(backend.methods()).not.toContain('attach');
  });
});
