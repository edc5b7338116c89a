"""The ``anxin`` command: serve, worker, migrate, migrate-storage, demo, export-schema,
token, reconcile, rotate-pii-key."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from pydantic import ValidationError

from api.logging import configure_logging
from api.settings import Settings
from models.clock import local_today

if TYPE_CHECKING:
    from workflows.auth import IssuedTokens

log = logging.getLogger("anxin.cli")


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.header_timeout import header_timeout_protocol

    settings = Settings()
    if settings.is_development and args.host not in LOOPBACK:
        sys.exit(
            f"refusing to serve development settings (public signing keys) on {args.host}: "
            "set ANXIN_ENV=production and real secrets, or serve on 127.0.0.1"
        )

    uvicorn.run(
        "api.serving:serve_app",  # process-wide set-up in each worker process
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        # X-Forwarded-For/-Proto only from ANXIN_TRUSTED_PROXIES, as the app reads them
        # (uvicorn's own default trusts any process on this host).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxy_networks],
        # Slow clients (README: Deployment): the headers' deadline is ours (uvicorn has
        # none); an idle kept-alive connection; open connections at a graceful stop.
        http=header_timeout_protocol(settings.request_header_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        # The server refuses bigger frames before buffering them (the app checks too).
        ws_max_size=settings.websocket_max_message_bytes,
        ws_per_message_deflate=settings.websocket_compression,
    )


def _migrate(args: argparse.Namespace) -> None:
    from api.services import build_pii_cipher
    from models.database import migrate_database

    settings = Settings()
    asyncio.run(migrate_database(settings.database_url, build_pii_cipher(settings)))
    print("database is up to date")


def _demo(args: argparse.Namespace) -> None:
    from api.demo import load_demo

    settings = Settings()
    if not settings.is_development:
        sys.exit("refusing to load demo data outside ANXIN_ENV=development")
    asyncio.run(load_demo(settings, only_if_empty=args.if_empty))


def _export_schema(args: argparse.Namespace) -> None:
    from schema import build_schema

    sys.stdout.write(build_schema().as_str() + "\n")


def _build_persisted_queries(args: argparse.Namespace) -> None:
    """The allow-list manifest: every operation of the given sources, validated against
    the schema (an operation the schema refuses would be refused at run time anyway)."""
    import graphql

    from api.persisted_queries import build_manifest, sources_in
    from schema import build_schema

    manifest = build_manifest(sources_in(args.sources))
    schema = graphql.build_schema(build_schema().as_str())
    for query in manifest.values():
        if problems := graphql.validate(schema, graphql.parse(query)):
            sys.exit(f"anxin: not valid against the schema: {problems[0].message}\n{query}")
    text = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"{len(manifest)} entries ({len(manifest) // 2} operations) -> {args.output}")


def _token(args: argparse.Namespace) -> None:
    """A development session for a demo account, without the SMS or password step."""
    from models.config import existing_database, sqlite_candidates

    settings = Settings()
    if not settings.is_development:  # a session without a password or an SMS code
        sys.exit("refusing to issue tokens outside ANXIN_ENV=development")
    database_url = existing_database(settings.database_url)
    if database_url is None:
        looked = sqlite_candidates(settings.database_url)
        where = " and ".join(str(path.resolve()) for path in looked)
        sys.exit(
            f"no database at {where}: run `make serve` (or `anxin migrate` and "
            "`anxin demo`) first, or set ANXIN_DATABASE_URL"
        )

    async def issue() -> IssuedTokens:
        from tortoise.exceptions import OperationalError

        from api.services import build_services
        from models.auth import SubjectKind
        from models.customers import Customer
        from models.database import open_database
        from models.pii import normalize_phone
        from models.staff import StaffUser
        from workflows.auth import Channel, start_session

        async with httpx.AsyncClient() as http, open_database(database_url):
            services = build_services(settings, http, None)
            try:
                if args.phone:
                    phone_hash = services.pii.phone_hash(normalize_phone(args.phone))
                    customer = await Customer.get_or_none(phone_hash=phone_hash)
                    if customer is None:
                        sys.exit(f"no customer with phone {args.phone}")
                    return await start_session(
                        services, SubjectKind.CUSTOMER, customer.id, Channel.CLI
                    )
                username = args.staff.strip().lower()
                staff = await StaffUser.get_or_none(username=username, is_active=True)
                if staff is None:
                    sys.exit(f"no active staff member {args.staff}")
                return await start_session(
                    services, SubjectKind.STAFF, staff.id, Channel.CLI, role=staff.role
                )
            except OperationalError as exc:  # a file that is not (yet) our database
                sys.exit(f"{database_url} is not migrated ({exc}): run `anxin migrate`")

    tokens = asyncio.run(issue())
    if not args.json:
        print(tokens.access_token)
        return
    print(
        json.dumps(
            {
                "accessToken": tokens.access_token,
                "accessTokenExpiresAt": tokens.access_expires_at.isoformat(),
                "refreshToken": tokens.refresh_token,
            }
        )
    )


def _reconcile(args: argparse.Namespace) -> None:
    async def run() -> int:
        from api.services import build_services
        from models.database import open_database
        from workflows.payments.reconcile import reconcile

        settings = Settings()
        async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
            services = build_services(settings, http, None)
            async with open_database(settings.database_url):
                differences = await reconcile(
                    services.payment_providers,
                    args.date,
                    transfer_providers=services.transfer_providers,
                )
        for d in differences:
            print(f"{d.kind:20} {d.reference:22} ours={d.ours:12} theirs={d.theirs}")
        print(f"{len(differences)} differences on {args.date}")
        return 1 if differences else 0

    args.date = args.date or local_today()
    sys.exit(asyncio.run(run()))


PROGRESS_EVERY = 1000  # objects between progress lines of migrate-storage


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _migrate_storage(args: argparse.Namespace) -> None:
    """Copy the local folder's objects into the configured S3 bucket (storage/migrate.py)."""
    from storage.migrate import Outcome, migrate_to_s3
    from storage.s3 import S3Storage

    settings = Settings()
    if not (settings.s3_endpoint_url and settings.s3_bucket and settings.s3_access_key_id):
        sys.exit(
            "anxin migrate-storage: set ANXIN_S3_ENDPOINT_URL, ANXIN_S3_BUCKET, "
            "ANXIN_S3_ACCESS_KEY_ID and ANXIN_S3_SECRET_ACCESS_KEY (ANXIN_STORAGE_BACKEND may "
            "still be local: copy first, switch, then run again for what came in meanwhile)"
        )
    root = args.source or settings.storage_root
    done = 0

    def show(key: str, outcome: Outcome) -> None:
        nonlocal done
        done += 1
        if args.verbose or outcome in (Outcome.CONFLICT, Outcome.FAILED):
            print(f"{outcome:14} {key}", flush=True)
        elif done % PROGRESS_EVERY == 0:
            print(f"... {done} objects checked", flush=True)

    async def run() -> int:
        from storage.base import StorageError

        async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
            target = S3Storage(
                http,
                endpoint_url=settings.s3_endpoint_url,
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key.get_secret_value(),
                temp_dir=settings.storage_temp_dir,
            )
            try:
                await target.check()
            except StorageError as exc:
                print(f"anxin migrate-storage: the bucket is not usable: {exc}", file=sys.stderr)
                return 2
            report = await migrate_to_s3(
                root,
                target,
                dry_run=args.dry_run,
                delete_local=args.delete_local,
                concurrency=args.concurrency,
                progress=show,
            )
        for name in report.skipped:
            print(f"{'skipped':14} {name} (not an object key)")
        for key, outcome, why in report.problems:
            print(f"{outcome:14} {key}: {why}", file=sys.stderr)
        print(f"{root} -> s3 bucket {settings.s3_bucket}: {report.summary()}")
        return 0 if report.ok else 1

    sys.exit(asyncio.run(run()))


def _rotate_pii_key(args: argparse.Namespace) -> None:
    """Rewrap every sealed value to the current key (the first of ANXIN_PII_KEYS); safe
    to run while the API serves, and to run again after a stop (it resumes)."""
    from api.services import build_pii_cipher
    from models.database import open_database
    from workflows.privacy.rotation import rotate, values_under_other_keys

    settings = Settings()
    pii = build_pii_cipher(settings)

    def show(target: str, done: int) -> None:
        if args.verbose or done:
            print(f"{target:40} {done:6} rewrapped", flush=True)

    async def run() -> int:
        async with open_database(settings.database_url):
            report = await rotate(pii, batch_size=args.batch_size, progress=show)
            left = await values_under_other_keys(pii)
        print(f"key {report.key_id}: {report.rewrapped} values rewrapped, {left} under other keys")
        return 0 if left == 0 else 1

    sys.exit(asyncio.run(run()))


def _worker(args: argparse.Namespace) -> None:
    from api.jobs import run_worker
    from api.serving import configure_process

    settings = Settings()
    configure_process(settings)
    asyncio.run(run_worker(settings, once=args.once))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anxin", description="安心 after-sales gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL gateway (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run background jobs")
    worker.add_argument("--once", action="store_true", help="run each job once and exit")
    worker.set_defaults(run=_worker)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)

    rotate = commands.add_parser(
        "rotate-pii-key",
        help="re-encrypt every sealed personal value to the current key id (resumable)",
    )
    rotate.add_argument("--batch-size", type=_positive, default=500, help="rows per batch")
    rotate.add_argument("--verbose", action="store_true", help="a line for every batch")
    rotate.set_defaults(run=_rotate_pii_key)

    reconcile = commands.add_parser(
        "reconcile", help="compare one day's payments, refunds and payouts with the providers"
    )
    reconcile.add_argument(
        "--date",
        type=lambda v: __import__("datetime").date.fromisoformat(v),
        default=None,
        help="YYYY-MM-DD (Asia/Shanghai); default today",
    )
    reconcile.set_defaults(run=_reconcile)

    storage = commands.add_parser(
        "migrate-storage",
        help="copy the local folder's files into the S3 bucket (verified, resumable)",
        description=(
            "Copy every object under ANXIN_STORAGE_ROOT into the ANXIN_S3_* bucket under the "
            "same key, so links to documents stored before a switch to S3 keep working. "
            "Each copy is checked (size and SHA-256); objects already there are skipped, so "
            "an interrupted run is resumed by running it again. Local files stay unless "
            "--delete-local. Exit 0: everything is in the bucket; 1: some objects failed or "
            "conflict (listed); 2: the bucket is not usable."
        ),
    )
    storage.add_argument(
        "--from", dest="source", type=Path, default=None, help="default ANXIN_STORAGE_ROOT"
    )
    storage.add_argument("--dry-run", action="store_true", help="copy nothing, count only")
    storage.add_argument(
        "--delete-local",
        action="store_true",
        help="remove each local file once it is verified in the bucket",
    )
    storage.add_argument(
        "--concurrency", type=_positive, default=4, help="objects at once (default 4)"
    )
    storage.add_argument("--verbose", action="store_true", help="print every object")
    storage.set_defaults(run=_migrate_storage)

    demo = commands.add_parser("demo", help="load demo data and print the demo accounts")
    demo.add_argument("--if-empty", action="store_true", help="skip if there is data already")
    demo.set_defaults(run=_demo)

    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=_export_schema
    )

    persisted = commands.add_parser(
        "persisted-queries",
        help="build the allow-list manifest ({sha256: query}) of the apps' operations",
        description=(
            "Read the operations of .graphql files (a directory: its *.graphql files) and of "
            "the ```graphql blocks of Markdown files, and write the manifest that "
            "ANXIN_PERSISTED_QUERIES_MANIFEST names: each operation (with the fragments it "
            "uses) as graphql's print writes it, and again with the __typename fields "
            "Apollo Client adds, keyed by its SHA-256."
        ),
    )
    persisted.add_argument("sources", type=Path, nargs="+", help=".graphql/.md files, folders")
    persisted.add_argument("-o", "--output", type=Path, default=None, help="default stdout")
    persisted.set_defaults(run=_build_persisted_queries)

    token = commands.add_parser("token", help="print an access token")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="a customer's mobile number")
    who.add_argument("--staff", metavar="USERNAME", help="a staff member's username")
    token.add_argument(
        "--json",
        action="store_true",
        help="print the access token, its expiry and a refresh token as JSON",
    )
    token.set_defaults(run=_token)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        args.run(args)
    except ValidationError as invalid:
        sys.exit(f"anxin: invalid settings: {settings_problems(invalid)}")


def settings_problems(invalid: ValidationError) -> str:
    """What is wrong with the settings, on one line: each problem once, by its variable,
    never the values (a secret may be among them)."""
    problems = []
    for error in invalid.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"ANXIN_{field.upper()}: {message}" if field else message)
    return "; ".join(dict.fromkeys(problems))


if __name__ == "__main__":
    main()
