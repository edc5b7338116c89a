// Apollo Client for the anxin gateway: the README's "Using the API from an app" snippet,
// run by tests/api/test_apollo_client.py (cache) and test_apollo_upload.py (uploads).
import { ApolloClient, ApolloLink, InMemoryCache } from '@apollo/client/core';
import { SetContextLink } from '@apollo/client/link/context';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { createLiveClient, currentToken } from './anxin-live.mjs';

// graphqlUrl: 'https://api.anxin.example.cn/graphql'; session and onSession as for
// createLiveClient; live: more graphql-ws options (e.g. on: { connected }).
export function createAnxinClient({ graphqlUrl, session, onSession, live = {} }) {
  const auth = { graphqlUrl, session, onSession };
  // Every request carries a current token (the same refresh as the socket's).
  const withToken = new SetContextLink(async ({ headers }) => ({
    headers: { ...headers, authorization: `Bearer ${await currentToken(auth)}` },
  }));
  // JSON for queries and mutations; a GraphQL multipart request when the variables hold
  // a File or Blob (claim photos), which the gateway takes only with a preflight header.
  const http = new UploadHttpLink({
    uri: graphqlUrl,
    headers: { 'apollo-require-preflight': 'true' },
  });
  const socket = createLiveClient({ url: graphqlUrl.replace(/^http/, 'ws'), ...auth, ...live });
  return new ApolloClient({
    // Every `id` is a global ID: the default cache keys (`__typename:id`) are unique.
    cache: new InMemoryCache(),
    link: ApolloLink.split(
      ({ query }) => getMainDefinition(query).operation === 'subscription',
      new GraphQLWsLink(socket),
      ApolloLink.from([withToken, http]),
    ),
  });
}
