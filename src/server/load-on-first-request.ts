// A request listener that is loaded (by a dynamic import) when the first request needs it.
//
// serve answers its hot paths (POST /validate and /mutate; GET /healthz, /readyz and /metrics) with
// plain node handlers and leaves the rest (wrong methods and paths, HEAD, unusual spellings) to
// express. Loading express and its dependencies at start-up holds about 3 MB of V8 heap in a process
// whose resident-memory budget is 100 MB (npm run bench:memory), for requests a healthy cluster never
// sends; so express is imported the first time such a request arrives.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/**
 * A listener that imports and builds the real one on its first call and hands every request to it.
 * `onError` answers a request whose listener failed to load (the import threw).
 */
export function loadOnFirstRequest(
  load: () => Promise<RequestListener>,
  onError: (request: IncomingMessage, response: ServerResponse, error: unknown) => void,
): RequestListener {
  let loading: Promise<RequestListener> | undefined;
  let loaded: RequestListener | undefined;
  return (request, response) => {
    if (loaded !== undefined) {
      loaded(request, response);
      return;
    }
    loading ??= load().then((listener) => (loaded = listener));
    loading.then(
      (listener) => listener(request, response),
      (error: unknown) => onError(request, response, error),
    );
  };
}
