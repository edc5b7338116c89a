// Subscribes to claimUpdated with the README's client and reports what happens, one JSON
// line per event, for tests/api/test_graphql_ws_client.py to judge. Exits after a fatal
// close (or after 90 s whatever happens).
import WebSocket from 'ws';
import { createLiveClient } from './anxin-live.mjs';

const emit = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, at: Date.now(), ...fields }) + '\n');
const graphqlUrl = process.env.ANXIN_GRAPHQL_URL;
const session = JSON.parse(process.env.ANXIN_SESSION);

setTimeout(() => {
  emit('timeout');
  process.exit(2);
}, 90_000).unref();

const client = createLiveClient({
  url: graphqlUrl.replace(/^http/, 'ws'),
  graphqlUrl,
  session,
  webSocketImpl: WebSocket,
  onSession: (fresh) => emit('refreshed', { accessToken: fresh.accessToken }),
  on: {
    connecting: (isRetry) => emit('connecting', { retry: isRetry }),
    connected: (_socket, _payload, wasRetry) => emit('connected', { retry: wasRetry }),
    closed: (event) => emit('closed', { code: event.code, reason: event.reason }),
  },
});

client.subscribe(
  {
    query: 'subscription($id: ID!) { claimUpdated(claimId: $id) { id status } }',
    variables: { id: process.env.ANXIN_CLAIM_ID },
  },
  {
    next: (result) => emit('next', { data: result.data ?? null, errors: result.errors ?? null }),
    error: (error) => {
      emit('error', { code: error?.code ?? null, reason: error?.reason ?? String(error) });
      client.dispose();
      setTimeout(() => process.exit(0), 500); // a reconnect, if any, would show by then
    },
    complete: () => emit('complete'),
  },
);
