// utils/anxin.js of the mini-program: the gateway over wx.request (queries, mutations),
// wx.uploadFile (claim photos, one file per call) and wx.connectSocket (live updates).
// session = { accessToken, refreshToken, ... } from wechatLogin / bindWechatPhone.
const API = 'https://api.anxin.example.cn'; // the gateway; add it to the request,
// uploadFile and socket domain lists of the mini-program

function graphql(session, query, variables, api = API) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${api}/graphql`,
      method: 'POST',
      header: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
        authorization: `Bearer ${session.accessToken}`,
      },
      data: { query, variables },
      // 200: the operation ran (field errors, if any, in body.errors); 400: it could not
      success: (res) => (res.statusCode === 200 ? resolve(res.data) : reject(res.data.errors)),
      fail: reject,
    });
  });
}

// One photo or PDF for one checklist item of a claim (wx.chooseMedia gives filePath).
function uploadClaimDocument(session, { claimId, checklistCode, filePath }, api = API) {
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: `${api}/uploads/claim-documents`,
      filePath,
      name: 'file',
      formData: { claimId, checklistCode },
      header: { authorization: `Bearer ${session.accessToken}` },
      success: (res) => {
        const body = JSON.parse(res.data); // uploadFile hands the body over as a string
        // 200: { claim, document }; else errors: [{ field, message, code }], 413 too large
        res.statusCode === 200 ? resolve(body) : reject(body.errors);
      },
      fail: reject,
    });
  });
}

// A subscription over graphql-transport-ws. onClosed(code): 4403 = the token expired
// (refresh it, then subscribe again: claimUpdated answers with the current state first),
// 4401 = the session ended (log in again). Returns a function that stops it.
function subscribe(session, query, variables, { onData, onClosed }, api = API) {
  const socket = wx.connectSocket({
    url: `${api.replace(/^http/, 'ws')}/graphql`,
    protocols: ['graphql-transport-ws'],
  });
  const send = (message) => socket.send({ data: JSON.stringify(message) });
  socket.onOpen(() =>
    send({ type: 'connection_init', payload: { authorization: `Bearer ${session.accessToken}` } }),
  );
  socket.onMessage(({ data }) => {
    const message = JSON.parse(data);
    if (message.type === 'connection_ack') {
      send({ id: '1', type: 'subscribe', payload: { query, variables } });
    } else if (message.type === 'ping') {
      send({ type: 'pong' });
    } else if (message.type === 'next') {
      onData(message.payload);
    }
  });
  socket.onClose(({ code }) => onClosed && onClosed(code));
  return () => socket.close({ code: 1000 });
}

module.exports = { graphql, uploadClaimDocument, subscribe };
