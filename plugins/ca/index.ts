// ca: the bottle's own certificate authority, for plugins that intercept TLS
// (egress). It does nothing on its own: a plugin that needs it calls
// `api.use('ca').request()` in plan. Only then does this plugin, once the
// plan is otherwise settled, make the CA (in memory: a key is computation, not a side effect)
// and declare its cert in the guest's trust store, the one post-command that
// installs it (and proves OpenSSL then finds it), and the environment that
// points common clients at the bundle. The CA key never leaves this process:
// not on disk, not in the plan, not in the guest.
import { definePlugin } from '../../core/hooks.ts';
import type { AuthorityOptions, BottleAuthority } from './authority.ts';

export type { Authority, AuthorityOptions, BottleAuthority } from './authority.ts';

/** Where the CA certificate goes in the guest (where update-ca-certificates would look for local CAs). */
export const CA_GUEST_PATH = '/usr/local/share/ca-certificates/claude-bottle.crt';
/** The system bundle (Debian's update-ca-certificates writes it), with our CA appended. */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The guest environment that makes common clients trust the bundle. */
export const CA_ENV: Readonly<Record<string, string>> = Object.freeze({
  NODE_EXTRA_CA_CERTS: CA_GUEST_PATH,
  SSL_CERT_FILE: CA_BUNDLE,
  REQUESTS_CA_BUNDLE: CA_BUNDLE,
  CURL_CA_BUNDLE: CA_BUNDLE,
  GIT_SSL_CAINFO: CA_BUNDLE,
});

/**
 * Installs the CA as Debian's update-ca-certificates would for one new local
 * CA, and proves it: the PEM link in /etc/ssl/certs, its subject-hash link
 * (what OpenSSL's CApath lookups use; the hash, `$1`, is computed on the
 * host), the cert appended to the bundle; then OpenSSL must verify the CA
 * through the hashed dir. Any step failing stops the bottle; the last stderr
 * line is what the kernel's error shows.
 *
 * Why not update-ca-certificates itself (the seeds ran it and required
 * "1 added"): it forks a few processes per system CA, 6.6 s of every bottle's
 * start measured here, to rebuild what one appended cert and two links give.
 */
export const CA_INSTALL_SCRIPT = [
  `crt=${CA_GUEST_PATH}; d=/etc/ssl/certs; b=${CA_BUNDLE}; h="$1"`,
  `fail() { echo "the bottle CA is not trusted: $*" >&2; exit 1; }`,
  `command -v openssl >/dev/null || fail 'openssl not found (the image needs the ca-certificates package)'`,
  `[ -f "$b" ] || fail "no system bundle $b (the image needs the ca-certificates package)"`,
  `ln -sf "$crt" "$d/claude-bottle.pem" || fail "cannot link it into $d"`,
  // A hash collision with another CA takes the next free suffix, as c_rehash does.
  `i=0; while [ -e "$d/$h.$i" ] && [ "$(readlink "$d/$h.$i")" != claude-bottle.pem ]; do i=$((i+1)); done`,
  `ln -sf claude-bottle.pem "$d/$h.$i" || fail "cannot link $h.$i in $d"`,
  `sed -e '$a\\' "$crt" >> "$b" || fail "cannot append it to $b"`,
  `openssl verify -CApath "$d" "$crt" >/dev/null 2>&1 || fail "OpenSSL does not find it through $d"`,
].join('\n');

/** What ca offers other plugins: `api.use('ca')`. */
export interface CaApi {
  /** In `plan` (any stage, or a `whenPlanned` registered before ca's): this bottle needs the CA. */
  request(): void;
  /** The CA made in plan; throws when nothing requested it or plan has not run yet. */
  authority(): BottleAuthority;
}

declare module '../../core/hooks.ts' {
  interface PluginApis {
    ca: CaApi;
  }
}

export interface CaPluginOptions {
  /** Options of the authority (CN, cache size); the CN defaults to `claude-bottle CA <slug>`. */
  authority?: AuthorityOptions;
}

export function caPlugin(opts: CaPluginOptions = {}) {
  let requested = false;
  /** True once ca settled its plan: a request then comes too late. */
  let closed = false;
  let authority: BottleAuthority | undefined;

  const api: CaApi = {
    authority(): BottleAuthority {
      if (!authority) {
        throw new Error(
          closed
            ? 'ca: no CA was made for this bottle: no plugin called request() in plan'
            : "ca: authority() was called before the plan made the CA (call request() in plan, use authority() from preStart on)",
        );
      }
      return authority;
    },
    request(): void {
      if (closed) throw new Error("ca: request() came after the CA was planned: call it from a plan tap (any stage)");
      requested = true;
    },
  };

  return definePlugin({
    name: 'ca',
    api,
    apply(hooks) {
      // Each plan starts afresh (a sync tap: no progress step of its own).
      hooks.plan.tap({ name: 'ca', stage: Number.MIN_SAFE_INTEGER }, () => {
        requested = false;
        closed = false;
        authority = undefined;
      });

      // Settled after every other plan tap and after what those registered to run when planned (egress's settling asks for the CA).
      hooks.plan.tap({ name: 'ca', stage: Number.MAX_SAFE_INTEGER }, (draft, ctx) =>
        ctx.whenPlanned(async () => {
          closed = true;
          if (!requested) return;
          // node-forge is loaded only when a bottle needs its CA.
          const { createAuthority } = await import('./authority.ts');
          authority = createAuthority({ commonName: `claude-bottle CA ${draft.slug}`, ...opts.authority });
          draft.files.push({ guestPath: CA_GUEST_PATH, content: authority.certPem, owner: 'root', mode: 0o644, plugin: 'ca' });
          draft.commands.push({ argv: ['sh', '-c', CA_INSTALL_SCRIPT, 'trust-ca', authority.subjectHash], title: 'trust the bottle CA', user: 'root', plugin: 'ca' });
          for (const [k, v] of Object.entries(CA_ENV)) {
            const had = draft.env[k];
            if (had !== undefined && had !== v) ctx.warn(`ca: the guest's ${k}=${had} is replaced by ${v} so clients trust the bottle's CA`);
            draft.env[k] = v;
          }
        }),
      );

      hooks.preStart.tapPromise('ca', async (ctx) => {
        if (!authority) return;
        // The shared leaf key, made in the background while the guest starts.
        authority.warm().catch((e: unknown) => ctx.bus.emit('warn', { plugin: 'ca', message: `making the leaf key ahead of time failed (${String(e)}); it will be made on first use` }));
        ctx.bus.emit('log', { plugin: 'ca', message: `CA ${authority.commonName}, SHA-256 fingerprint ${authority.fingerprint256}` });
        ctx.bus.emit('audit', { type: 'ca.created', plugin: 'ca', fingerprint256: authority.fingerprint256 });
      });
    },
  });
}

/** The ca plugin as the registry holds it. */
export type CaPlugin = ReturnType<typeof caPlugin>;
