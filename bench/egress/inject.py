# mitmproxy addon for `bench/egress.ts`: the same credential injection as a
# claude-bottle route: drop every credential header the client sent (the
# route's header, authorization, x-api-key, proxy-authorization), then set the
# route's header. Unlike our proxy it does not mask the value in responses.
# The header and value come from the environment (BENCH_INJECT_HEADER,
# BENCH_INJECT_VALUE), so the value never appears on a command line.
import os

HEADER = os.environ.get("BENCH_INJECT_HEADER", "x-api-key")
VALUE = os.environ["BENCH_INJECT_VALUE"]
DROP = {HEADER.lower(), "authorization", "x-api-key", "proxy-authorization"}


class Inject:
    def request(self, flow):
        headers = flow.request.headers
        for name in DROP:
            if name in headers:
                del headers[name]
        headers[HEADER] = VALUE


addons = [Inject()]
