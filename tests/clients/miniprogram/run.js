// Runs the README's mini-program module (anxin.js) under Node with a small stand-in for
// the three wx APIs it uses, against the gateway: a query, a photo upload, a subscription.
// Prints one JSON line with what each step answered.
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');

global.wx = {
  request({ url, method, header, data, success, fail }) {
    fetch(url, { method, headers: header, body: JSON.stringify(data) })
      .then(async (res) => success({ statusCode: res.status, data: await res.json() }))
      .catch(fail);
  },
  uploadFile({ url, filePath, name, formData, header, success, fail }) {
    // As WeChat does: one multipart/form-data body, the flat fields and one file part.
    const form = new FormData();
    for (const [key, value] of Object.entries(formData)) form.append(key, value);
    const file = new Blob([fs.readFileSync(filePath)], { type: 'image/jpeg' });
    form.append(name, file, path.basename(filePath));
    fetch(url, { method: 'POST', headers: header, body: form })
      .then(async (res) => success({ statusCode: res.status, data: await res.text() }))
      .catch(fail);
  },
  connectSocket({ url, protocols }) {
    const socket = new WebSocket(url, protocols);
    return {
      onOpen: (listener) => socket.on('open', () => listener({})),
      onMessage: (listener) => socket.on('message', (data) => listener({ data: String(data) })),
      onClose: (listener) => socket.on('close', (code, reason) => listener({ code, reason })),
      send: ({ data }) => socket.send(data),
      close: ({ code }) => socket.close(code),
    };
  },
};

const { graphql, uploadClaimDocument, subscribe } = require('./anxin.js');

async function main() {
  const api = process.env.ANXIN_API;
  const session = { accessToken: process.env.ANXIN_ACCESS_TOKEN };
  const claimId = process.env.ANXIN_CLAIM_ID;
  const report = {};
  const query = 'query($id: ID!) { claim(id: $id) { status missingDocuments } }';
  report.query = await graphql(session, query, { id: claimId }, api);
  report.invalid = await graphql(session, '{ nope }', {}, api).catch((errors) => ({ errors }));
  report.upload = await uploadClaimDocument(
    session,
    { claimId, checklistCode: 'D01', filePath: process.env.ANXIN_PHOTO },
    api,
  );
  report.refused = await uploadClaimDocument(
    session,
    { claimId, checklistCode: 'Z99', filePath: process.env.ANXIN_PHOTO },
    api,
  ).catch((errors) => ({ errors }));
  report.live = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no live update in 10 s')), 10000);
    const stop = subscribe(
      session,
      'subscription($id: ID!) { claimUpdated(claimId: $id) { status missingDocuments } }',
      { id: claimId },
      {
        onData: (payload) => {
          clearTimeout(timer);
          stop();
          resolve(payload);
        },
      },
      api,
    );
  });
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ failed: String(error) }) + '\n');
  process.exit(1);
});
