// The egress proxy: the bottle's only door to the network. An HTTP forward
// proxy and CONNECT endpoint behind the bottle's door that lets the guest reach
// allowed hosts only, intercepts TLS with the bottle's CA where it must see the
// requests (route hosts, DLP), swaps in route credentials, and scans what
// leaves. Node's http/https/net/tls only; everything fails closed.
//
// This file is the proxy's public face; its parts live in proxy/:
//   server.ts     startProxy: the state, the two HTTP servers, listen, close
//   options.ts    ProxyOptions and the settings derived from them
//   context.ts    one proxy's state and policy questions (no module state)
//   admission.ts  which requests and CONNECTs are taken on, by target
//   requests.ts   plain-HTTP and in-tunnel requests, into the pipeline
//   connect.ts    CONNECT: raw tunnel or TLS interception
//   forward.ts    DLP, sending upstream, relaying the masked answer
//   headers.ts    what headers go up and come back
//   body.ts       reading, decoding, bounding and judging request bodies
//   dial.ts       upstream agents, the guarded DNS lookup, destinations
//   refusals.ts   the proxy's own answers, with their counters and audit
//   target.ts, credentials.ts, mask.ts: targets, route credentials, masking
//
// Decisions (the why; the what is in each function):
// - A CONNECT to an allowed host with DLP off that is not a route is a raw TCP
//   tunnel to the address we resolved and checked, nothing more: no leaf
//   certificate, no second TLS, the guest sees the real server. Everything
//   else is intercepted: TLS is terminated on the CONNECT socket with a leaf
//   for the CONNECT host, and the HTTP/1.1 requests inside are parsed by one
//   in-process http.Server (`emit('connection')`), so keep-alive, pipelining,
//   100-continue and Node's strict parser come for free.
// - The CONNECT host decides where a tunnel's requests go. The SNI must name
//   it (or be absent, as for IP literals) and so must every Host header
//   (421 otherwise): a tunnel to an allowed CDN host cannot front another.
// - Ports: intercepted or tunnelled CONNECT only to `tlsPorts` (443), plain
//   HTTP only to `httpPorts` (80); a route host takes any port, since its
//   traffic goes where the route says.
// - A host reached by name is dialled only at an address `forbiddenAddress`
//   accepts, checked in the socket's own lookup (so the checked address is
//   the dialled one) and, for IP literals, before dialling. A route's
//   explicit `upstream` is the one exception (it may be on loopback); it has
//   its own agents so that a pooled upstream socket can never serve a host
//   reached by name.
// - Injection: every credential header the guest sent to a route host is
//   dropped (the route's header, `authorization`, `x-api-key`,
//   `proxy-authorization`), then the route's header is set. The real value is
//   masked (same-length `*`) in the response headers and body, which is
//   requested uncompressed (and decompressed if the upstream insists), so an
//   upstream that echoes requests cannot hand it to the guest. Error texts
//   carry error codes, never messages (Node's header errors quote values).
// - DLP runs before a single byte goes upstream: the host name (a wildcard
//   lets the guest spell anything in a label), URL, headers, then the body
//   buffered up to `maxBodyBytes`. Route credentials off their route are
//   findings of their own (`route-placeholder`, `route-credential`), whether
//   or not a DLP rule knows their shape. With DLP off nothing is scanned
//   (placeholders are worthless outside the proxy; real tokens never enter
//   the guest).
// - Timeouts: headers (and TLS handshakes) within `headersMs`, a whole request
//   within `requestMs`, `idleMs` of silence on either side closes a socket,
//   except that a client waiting for its answer is not cut off: the upstream
//   request's own timeout answers 504. The tunnels' http.Server never listens,
//   so its connection tracking (which enforces headersTimeout) is started by
//   hand; a test catches it if Node changes that.
// - A route's `upstream` receives the upstream's own Host (and SNI), plus its
//   path as a prefix; the guest's path and query follow.
// - Nothing the guest sends may crash the process: every handler is wrapped,
//   every stream has an error listener, and no promise is left floating.
export type { EgressProxy, ProxyOptions, ProxyStats, ProxyTimeouts } from './proxy/options.ts';
export { startProxy } from './proxy/server.ts';
