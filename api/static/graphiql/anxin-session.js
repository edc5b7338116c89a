// One token for every GraphiQL tab: remembered from a login's answer (or pasted with
// the key button), sent by every tab that does not set its own Authorization header.
// Plain functions, so tests/api/test_graphiql_session.py runs them under Node.
(function (root) {
  const STORAGE_KEY = "anxin.graphiql.accessToken";

  // The accessToken a login answered with (loginWithCode, staffLogin, wechatLogin,
  // bindWechatPhone, refreshToken, under any alias), or null.
  function tokenIn(result) {
    const data = result && result.data;
    if (!data || typeof data !== "object") return null;
    for (const field of Object.values(data)) {
      const token = field && field.session && field.session.accessToken;
      if (typeof token === "string" && token) return token;
    }
    return null;
  }

  // The tab's headers with the shared token added; a tab's own Authorization wins.
  function withToken(headers, token) {
    const merged = Object.assign({}, headers || {});
    const own = Object.keys(merged).some((name) => name.toLowerCase() === "authorization");
    if (token && !own) merged.Authorization = "Bearer " + token;
    return merged;
  }

  // A pasted value: "Bearer x", a JSON headers object or the bare token; "" clears.
  function parsePasted(text) {
    let value = (text || "").trim();
    if (value.startsWith("{")) {
      try {
        const headers = JSON.parse(value);
        const key = Object.keys(headers).find((k) => k.toLowerCase() === "authorization");
        value = key ? String(headers[key]) : "";
      } catch (e) {
        return null;
      }
    }
    value = value.replace(/^bearer\s+/i, "").trim();
    return /^[A-Za-z0-9._~+/=-]*$/.test(value) ? value : null;
  }

  function store(storage) {
    return {
      get: () => storage.getItem(STORAGE_KEY) || "",
      set: (token) => (token ? storage.setItem(STORAGE_KEY, token) : storage.removeItem(STORAGE_KEY)),
    };
  }

  root.AnxinSession = { tokenIn, withToken, parsePasted, store };
})(globalThis);
