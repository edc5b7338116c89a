// apollo-upload-client's UploadHttpLink against the gateway: first without the preflight
// header (the CSRF guard refuses it), then through the README's client (anxin-apollo.mjs),
// which sends it, with two photos in one GraphQL multipart request, then a file over the
// size limit. Reports one JSON line for tests/api/test_apollo_upload.py.
import { readFile } from 'node:fs/promises';
import { ApolloClient, InMemoryCache } from '@apollo/client/core';
import UploadHttpLink from 'apollo-upload-client/UploadHttpLink.mjs';
import { parse } from 'graphql';
import WebSocket from 'ws';
import { createAnxinClient } from './anxin-apollo.mjs';

const graphqlUrl = process.env.ANXIN_GRAPHQL_URL;
const session = JSON.parse(process.env.ANXIN_SESSION);
const claimId = process.env.ANXIN_CLAIM_ID;
const [scene, licence] = JSON.parse(process.env.ANXIN_PHOTOS);

const UPLOAD = parse(`mutation Upload($input: UploadClaimDocumentsInput!) {
  uploadClaimDocuments(input: $input) {
    claim { id status missingDocuments
      documents { id checklistCode fileName contentType size width height } }
    errors { field code message } } }`);
const DOCUMENTS = parse(`query Documents($id: ID!) { claim(id: $id) {
  id documents { id checklistCode fileName } } }`);
const photo = async (path, name) => new File([await readFile(path)], name, { type: 'image/jpeg' });
const files = [
  { checklistCode: 'D01', file: await photo(scene, '事故现场 1.jpg') },
  { checklistCode: 'D02', file: await photo(licence, 'licence.jpg') },
];
const variables = { input: { claimId, files } };
const report = {};

function failure(error) {
  return {
    name: error.name,
    message: error.message,
    statusCode: error.statusCode ?? null,
    errors: error.errors?.map(({ message, extensions }) => ({ message, extensions })) ?? null,
  };
}

// An upload link with the token but without the header (as a page's plain form would be).
const bare = new ApolloClient({
  cache: new InMemoryCache(),
  link: new UploadHttpLink({
    uri: graphqlUrl,
    headers: { authorization: `Bearer ${session.accessToken}` },
  }),
});
try {
  report.withoutHeader = { data: (await bare.mutate({ mutation: UPLOAD, variables })).data };
} catch (error) {
  report.withoutHeader = failure(error);
}

const app = createAnxinClient({ graphqlUrl, session, live: { webSocketImpl: WebSocket } });
const before = await app.query({ query: DOCUMENTS, variables: { id: claimId } });
report.documentsBefore = before.data.claim.documents;
try {
  report.uploaded = (await app.mutate({ mutation: UPLOAD, variables })).data.uploadClaimDocuments;
} catch (error) {
  report.uploaded = failure(error);
}
// The claim as the cache now holds it (the mutation's answer), no request made.
report.cached = app.readQuery({ query: DOCUMENTS, variables: { id: claimId } });
// A file larger than any part may be: cut off (413) before the request is read.
const huge = new File([new Uint8Array(Number(process.env.ANXIN_TOO_LARGE))], 'huge.jpg', {
  type: 'image/jpeg',
});
try {
  const tooLarge = { input: { claimId, files: [{ checklistCode: 'D03', file: huge }] } };
  report.tooLarge = { data: (await app.mutate({ mutation: UPLOAD, variables: tooLarge })).data };
} catch (error) {
  report.tooLarge = failure(error);
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(0);
