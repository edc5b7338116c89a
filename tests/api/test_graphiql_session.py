"""GraphiQL's example tabs and its one token for every tab. The token logic
(api/static/graphiql/anxin-session.js) runs under Node, as the browser runs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import graphql
import pytest

from schema import build_schema

STATIC = Path(__file__).resolve().parents[2] / "api" / "static" / "graphiql"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="needs Node.js")


def _tabs() -> list[str]:
    script = (STATIC / "anxin-graphiql.js").read_text()
    return re.findall(r"query: `(.*?)`,", script, flags=re.DOTALL)


def _operations(tab: str) -> dict[str, graphql.OperationDefinitionNode]:
    document = graphql.parse(tab)
    return {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, graphql.OperationDefinitionNode) and node.name
    }


def _run(source: str) -> object:
    program = (STATIC / "anxin-session.js").read_text() + "\n" + source
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", program], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def test_every_tab_is_a_working_example() -> None:
    schema = build_schema()._schema
    tabs = _tabs()
    for tab in tabs:
        assert graphql.validate(schema, graphql.parse(tab)) == [], tab.splitlines()[0]
    kinds = {op.operation for tab in tabs for op in _operations(tab).values()}
    assert graphql.OperationType.SUBSCRIPTION in kinds
    report = next(tab for tab in tabs if "报案" in tab.splitlines()[0])
    assert "reportLoss" in report
    for tab in tabs:  # staff tabs say how to get a staff token
        if tab.startswith("# ") and "Staff" in tab.splitlines()[0]:
            assert "staff" in tab.split("\n\n")[0].lower() and "token" in tab.lower()


def test_no_tab_hard_codes_an_idempotency_key() -> None:
    for tab in _tabs():
        for argument in re.findall(r"idempotencyKey:\s*([^\s,})]+)", tab):
            assert argument.startswith("$"), argument


@needs_node
def test_the_page_scripts_parse() -> None:
    assert NODE is not None
    for name in ("anxin-session.js", "anxin-graphiql.js"):
        subprocess.run([NODE, "--check", str(STATIC / name)], check=True, timeout=30)


@needs_node
def test_a_login_in_any_tab_is_remembered_for_every_tab() -> None:
    answers = _run(
        """
        const staff = {data: {staffLogin: {session: {accessToken: "staff.jwt"}}}};
        const aliased = {data: {me: {session: {accessToken: "alias.jwt"}}}};
        const failed = {data: {loginWithCode: {session: null, errors: [{code: "X"}]}}};
        const plain = {data: {myPolicies: {totalCount: 1}}};
        console.log(JSON.stringify([staff, aliased, failed, plain, {errors: []}, null]
          .map(AnxinSession.tokenIn)));
        """
    )
    assert answers == ["staff.jwt", "alias.jwt", None, None, None, None]


@needs_node
def test_the_shared_token_goes_with_every_tab_unless_the_tab_sets_its_own() -> None:
    headers = _run(
        """
        console.log(JSON.stringify([
          AnxinSession.withToken({}, "t1"),
          AnxinSession.withToken({"X-Anxin-Installation": "i"}, "t1"),
          AnxinSession.withToken({authorization: "Bearer own"}, "t1"),
          AnxinSession.withToken(undefined, ""),
        ]));
        """
    )
    assert headers == [
        {"Authorization": "Bearer t1"},
        {"X-Anxin-Installation": "i", "Authorization": "Bearer t1"},
        {"authorization": "Bearer own"},
        {},
    ]


@needs_node
def test_a_pasted_token_may_come_in_any_usual_shape() -> None:
    pasted = _run(
        """
        const memory = {}; const storage = {getItem: k => memory[k] ?? null,
          setItem: (k, v) => { memory[k] = v; }, removeItem: k => { delete memory[k]; }};
        const store = AnxinSession.store(storage);
        const parsed = ["eyJ.a.b", "Bearer eyJ.a.b", '{"Authorization": "Bearer eyJ.a.b"}',
          "", "not a token!", "{broken"].map(AnxinSession.parsePasted);
        store.set("eyJ.a.b"); const kept = store.get(); store.set(""); const cleared = store.get();
        console.log(JSON.stringify({parsed, kept, cleared}));
        """
    )
    assert pasted == {
        "parsed": ["eyJ.a.b", "eyJ.a.b", "eyJ.a.b", "", None, None],
        "kept": "eyJ.a.b",
        "cleared": "",
    }


@needs_node
def test_the_page_remembers_a_login_and_sends_its_token_from_every_tab() -> None:
    """The page script wired to stand-ins for GraphiQL, React and the browser: the
    fetcher asks for plain JSON answers (a multipart stream would hide the token),
    keeps GraphiQL's tabs per browser tab, and sends a remembered login's token."""
    page = (STATIC / "anxin-graphiql.js").read_text()
    seen = _run(
        """
        const memory = {};
        const sessionStorage = {getItem: k => memory[k] ?? null,
          setItem: (k, v) => { memory[k] = v; }, removeItem: k => { delete memory[k]; }};
        globalThis.window = {location: {origin: "http://127.0.0.1:8000", pathname: "/graphql"},
          sessionStorage, prompt: () => null, alert: () => null};
        globalThis.document = {getElementById: () => ({})};
        let rendered = null, options = null; const sent = [];
        globalThis.React = {createElement: (type, props) => ({type, props})};
        globalThis.ReactDOM = {createRoot: () => ({render: (element) => { rendered = element; }})};
        globalThis.GraphiQLPluginExplorer = {explorerPlugin: () => ({})};
        globalThis.GraphiQL = {createFetcher: (given) => { options = given;
          return async (params, opts) => { sent.push(opts.headers);
            return {data: {loginWithCode: {session: {accessToken: "tok.1"}}}}; }; }};
        """
        + page
        + """
        (async () => {
          const fetcher = rendered.props.fetcher;
          await fetcher({query: "mutation Login { x }"}, {headers: {}});
          await fetcher({query: "query MyPolicies { x }"}, {headers: {}});
          console.log(JSON.stringify({
            incremental: options.enableIncrementalDelivery,
            subscriptions: options.subscriptionUrl,
            tabsKeptInSession: rendered.props.storage === sessionStorage,
            tabs: rendered.props.defaultTabs.length,
            sent,
          }));
        })();
        """
    )
    assert seen == {
        "incremental": False,
        "subscriptions": "ws://127.0.0.1:8000/graphql",
        "tabsKeptInSession": True,
        "tabs": 21,
        "sent": [{}, {"Authorization": "Bearer tok.1"}],
    }
