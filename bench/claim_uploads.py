"""Claim-photo upload benchmark: throughput and server peak memory of concurrent uploads.

What is measured, against the real app served by uvicorn (one worker, 127.0.0.1), through
``uploadClaimDocuments`` over the GraphQL multipart request spec (with the
``apollo-require-preflight`` header), one photo per request, one claim per photo:

- a baseline round: ``--sequential`` uploads one at a time on a fresh server (what one
  upload costs alone);
- the load round: ``--uploads`` (20) uploads fired at once on a fresh server, with the
  app's decode limiter at ``--decode-concurrency`` (2, the app's default), and again at
  ``--compare-decode-concurrency`` (4) unless that is 0.

Per round: wall time, MB/s of uploaded input, per-request latency p50/max, the server's
CPU, and its memory: resident set size (``VmRSS``) sampled from ``/proc/<pid>/status``
every 20 ms, and the kernel's exact peak (``VmHWM``, reset through ``clear_refs`` just
before the round). Reported: the baseline RSS before the round, the peak, the RSS right
after and ``SETTLE_SECONDS`` (3 s) after the round, and peak-minus-baseline per
concurrent upload, beside the ratio to the one-at-a-time round.

Issue 19's goals, printed with ``_harness.goal_line`` for the first load round (the app's
default decode settings): the peak above the baseline under 200 MB, and the memory
returned: 3 s after the burst, at most ``RETURNED_GOAL_MB`` above the baseline (less
than half a decoded 12 MP photo: a kept frame, what the allocator did before, is 48 MB).

The photos are realistic for size: 4000x3000 (12 MP) JPEGs at quality 95 with camera
noise, calibrated to ``--size-mb`` (10 MB = 10**6 bytes), carrying EXIF with a GPS
position and an ICC profile as phone photos do. Each upload is a different scene (so no
two are near-duplicates and the fraud check stays quiet, as for 20 different customers);
``--same-scene`` sends one scene with a few pixels changed per upload, which makes every
claim a near-duplicate of every other and exercises the fraud flagging too.

Checked after each round: every request answered 200 with no GraphQL or payload error
and a 4000x3000 JPEG document; every stored file (photo and thumbnail) carries no EXIF,
no GPS, no ICC profile; no upload temp file is left behind.

    python bench/claim_uploads.py [--uploads 20] [--size-mb 10] [--backend sqlite|postgres]
        [--decode-concurrency 2] [--compare-decode-concurrency 4] [--sequential 3]
        [--decode-memory-mb N] [--same-scene]

SQLite (a temp file) by default; ``--backend postgres`` needs PostgreSQL at
127.0.0.1:5432 (trust auth, user postgres) and creates, then drops, the database
``anxin_bench_uploads``. Temp files, the server and the database are removed at the end,
however the run ends. ``MALLOC_*`` variables (glibc allocator tuning) in the environment
pass through to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import signal
import statistics
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx
from _harness import (
    Server,
    bench_suffix,
    die_with_parent,
    drop,
    goal_line,
    machine_busy_seconds,
    name_of,
    process_cpu_seconds,
    recreate,
    running_server,
    settings_from,
)
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageDraw
from strawberry import relay

from api.demo import PRODUCTS, id_number
from api.services import Services, build_services
from api.settings import Settings
from models.auth import SubjectKind
from models.claims import Claim, ClaimDocument, ReportChannel
from models.customers import Customer
from models.database import migrate_database, open_database
from models.policies import Coverage, PaymentFrequency, Policy, PolicyStatus, Product, ProductKind
from storage.images import dhash, hamming
from workflows.access import Actor
from workflows.auth import Channel, start_session
from workflows.claims import LossReport, report_loss

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_BENCH_URL = "postgres://postgres@127.0.0.1:5432/anxin_bench_uploads" + bench_suffix()
MB = 1_000_000
WIDTH, HEIGHT = 4000, 3000  # 12 MP: a phone's main camera
SOURCE_QUALITY = 95  # what phones write; the app re-encodes at 85
WARMUP_SIZE = (640, 480)
SAMPLE_INTERVAL = 0.02
REQUEST_TIMEOUT = 180.0
ROUND_TIMEOUT = 900.0
MIN_SCENE_DISTANCE = 16  # dHash bits; the app calls <= 6 a near-duplicate
SETTLE_SECONDS = 3.0  # after a round: what the process gave back by then
PEAK_GOAL_MB = 200  # issue 19: peak memory above the baseline, 20 x 10 MB at once
RETURNED_GOAL_MB = 24  # still resident SETTLE_SECONDS after the burst, above the baseline
BYTES_PER_PIXEL = 4  # Pillow keeps an RGB frame as 4 bytes a pixel
CHECKLIST_CODE = "D01"  # 事故现场照片 in the demo AUTO product's COLLISION checklist

UPLOAD = """mutation Upload($input: UploadClaimDocumentsInput!) {
  uploadClaimDocuments(input: $input) {
    claim { id status documents { checklistCode contentType size width height } }
    errors { field message code }
  }
}"""


# ------------------------------------------------------------------ the photos


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    width: int
    height: int


def scene(seed: int, size: tuple[int, int]) -> Image.Image:
    """A picture with structure (gradient, large shapes), so that perceptual hashes of
    different seeds differ as those of different real photos do."""
    rng = random.Random(seed)
    width, height = size
    base = Image.linear_gradient("L").resize(size).rotate(rng.choice([0, 90, 180, 270]))
    image = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = x0 + rng.randrange(width // 8, width // 2)
        y1 = y0 + rng.randrange(height // 8, height // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour)
    return image


def noise(size: tuple[int, int], sigma: float) -> Image.Image:
    """Gaussian sensor noise around 128 in each channel: what makes a phone JPEG big."""
    return Image.merge("RGB", [Image.effect_noise(size, sigma) for _ in range(3)])


def camera_exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15 Pro"
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.Base.BodySerialNumber] = "F17XK0000000"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (31.0, 14.0, 2.5),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (121.0, 28.0, 1.0),
        }
    )
    return exif.tobytes()


def encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(buffer, "JPEG", quality=SOURCE_QUALITY, exif=camera_exif(), icc_profile=icc)
    return buffer.getvalue()


def calibrate_sigma(target_bytes: int, size: tuple[int, int]) -> float:
    """The noise level that makes a ``size`` photo about ``target_bytes``, found by
    bisection on a crop of 1/16 of the area (JPEG size grows with area here)."""
    crop = (size[0] // 4, size[1] // 4)
    target = target_bytes / 16
    structure = scene(0, crop)
    low, high = 0.5, 128.0
    for _ in range(12):
        sigma = (low + high) / 2
        if len(encode(ImageChops.add(structure, noise(crop, sigma), 1.0, -128))) < target:
            low = sigma
        else:
            high = sigma
    return (low + high) / 2


def distinct_seeds(count: int, size: tuple[int, int]) -> list[int]:
    """``count`` scene seeds whose dHashes differ by >= MIN_SCENE_DISTANCE bits pairwise,
    so the app's near-duplicate check (<= 6 bits) cannot match two of them."""
    small = (320, 320 * size[1] // size[0])
    seeds: list[int] = []
    hashes = [dhash(scene(0, small))]  # the warm-up photo's scene
    seed = 1
    while len(seeds) < count:
        value = dhash(scene(seed, small))
        if all(hamming(value, other) >= MIN_SCENE_DISTANCE for other in hashes):
            seeds.append(seed)
            hashes.append(value)
        seed += 1
    return seeds


def make_photos(count: int, size_mb: float, same_scene: bool) -> tuple[list[Photo], float]:
    """``count`` photos of about ``size_mb`` MB each; returns them and the noise sigma."""
    scale = max(1.0, (size_mb / 10) ** 0.5)  # 12 MP carries ~10 MB at most noise levels
    size = (round(WIDTH * scale), round(HEIGHT * scale))
    sigma = calibrate_sigma(round(size_mb * MB), size)
    layer = noise(size, sigma)
    photos = []
    if same_scene:
        shared = scene(1, size)
        for index in range(count):
            picture = ImageChops.add(shared, layer, 1.0, -128)
            for k in range(4):  # a few pixels: other bytes, same picture to the eye
                picture.putpixel((index * 7 + k, k), (index % 256, 255 - index % 256, k))
            photos.append(Photo(f"现场照片-{index:02d}.jpg", encode(picture), *size))
    else:
        for index, seed in enumerate(distinct_seeds(count, size)):
            picture = ImageChops.add(scene(seed, size), layer, 1.0, -128)
            photos.append(Photo(f"现场照片-{index:02d}.jpg", encode(picture), *size))
    return photos, sigma


def warmup_photo() -> Photo:
    picture = ImageChops.add(scene(0, WARMUP_SIZE), noise(WARMUP_SIZE, 20), 1.0, -128)
    return Photo("warmup.jpg", encode(picture), *WARMUP_SIZE)


# ------------------------------------------------------------------ the database


def bench_environment(
    database_url: str, workdir: Path, max_bytes: int, max_pixels: int
) -> dict[str, str]:
    return {
        "ANXIN_ENV": "development",
        "ANXIN_DATABASE_URL": database_url,
        "ANXIN_ACCESS_TOKEN_TTL_SECONDS": "7200",
        "ANXIN_BACKGROUND_JOBS": "false",  # no outbox relay or reminders in the way
        # Nor the complaint classifier's and assistant's background load after start-up
        # (~70 MiB, 1.5-3 s on a busy machine): it landed inside the rounds' peaks.
        "ANXIN_COMPLAINT_CLASSIFIER_WARM_UP": "false",
        "ANXIN_STORAGE_ROOT": str(workdir / "files"),
        "ANXIN_STORAGE_TEMP_DIR": str(workdir / "spool"),
        "ANXIN_UPLOAD_MAX_BYTES": str(max_bytes),
        "ANXIN_UPLOAD_MAX_PIXELS": str(max_pixels),
    }


@dataclass(frozen=True)
class Target:
    """Where one photo goes: a customer's token and their reported claim."""

    token: str
    claim_id: str


async def make_claimant(services: Services, product: Product, index: int) -> Target:
    """A customer with an active auto policy (the demo AUTO terms and coverages), a
    collision reported three hours ago through ``report_loss``, and an app token."""
    phone = services.pii.seal_phone(f"137{index:08d}")
    ident = services.pii.seal_id_number(id_number("110101", "19900101", f"{index % 1000:03d}"))
    customer = await Customer.create(
        name=f"车主{index}",
        phone_encrypted=phone.encrypted,
        phone_hash=phone.lookup_hash,
        phone_masked=phone.masked,
        id_number_encrypted=ident.encrypted,
        id_number_hash=ident.lookup_hash,
        id_number_masked=ident.masked,
    )
    now = datetime.now(UTC)
    policy = await Policy.create(
        number=f"AXB{index:010d}",
        product=product,
        holder=customer,
        status=PolicyStatus.ACTIVE,
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=335),
        issued_at=now - timedelta(days=31),
        sum_insured=Decimal("180000.00"),
        premium=Decimal("4860.00"),
        payment_frequency=PaymentFrequency.ANNUAL,
    )
    spec = next(p for p in PRODUCTS if p["kind"] is ProductKind.AUTO)
    for position, (code, name, deductible) in enumerate(spec["coverages"]):
        await Coverage.create(
            policy=policy,
            code=code,
            name=name,
            sum_insured=Decimal("180000"),
            deductible=Decimal(deductible),
            position=position,
        )
    actor = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
    outcome = await report_loss(
        services.pii,
        actor,
        LossReport(
            policy_id=policy.id,
            loss_type="COLLISION",
            loss_at=now - timedelta(hours=3),
            location="上海市浦东新区世纪大道100号",
            description="倒车时与路边石墩发生碰撞，后保险杠受损",
            channel=ReportChannel.APP,
            contact_name=customer.name,
            contact_phone=f"137{index:08d}",
        ),
    )
    assert outcome.claim is not None
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    return Target(tokens.access_token, str(relay.GlobalID("Claim", str(outcome.claim.id))))


async def prepare_database(settings: Settings, count: int) -> list[Target]:
    url = settings.database_url
    if not url.startswith("sqlite"):
        await recreate(name_of(url))
    await migrate_database(url)
    async with httpx.AsyncClient(trust_env=False) as http, open_database(url):
        services = build_services(settings, http, None)
        spec = next(p for p in PRODUCTS if p["kind"] is ProductKind.AUTO)
        product = await Product.create(**{k: v for k, v in spec.items() if k != "coverages"})
        return [await make_claimant(services, product, index) for index in range(count)]


async def database_summary(url: str) -> tuple[int, int]:
    """(documents stored, claims flagged for review)."""
    async with open_database(url):
        return await ClaimDocument.all().count(), await Claim.filter(fraud_flag=True).count()


# ------------------------------------------------------------------ the server


def serve(port: int, parent_pid: int) -> None:
    """Child-process entry: the app exactly as ``anxin serve`` builds it, no access log."""
    import uvicorn

    die_with_parent(parent_pid)
    uvicorn.run(
        "api.serving:serve_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


# ------------------------------------------------------------------ memory and CPU

CORES = os.cpu_count() or 1


def proc_status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, ...), in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[name] = int(parts[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset the kernel's VmHWM to the current RSS (Linux >= 4.0, our own child)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples a process's VmRSS every SAMPLE_INTERVAL in a thread (the client's event
    loop is busy sending 200 MB meanwhile, so a task would sample late)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.samples.append(proc_status(self.pid)["VmRSS"])
            self._stop.wait(SAMPLE_INTERVAL)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


# ------------------------------------------------------------------ the uploads


@dataclass
class Outcome:
    seconds: float
    error: str | None


async def upload(client: httpx.AsyncClient, target: Target, photo: Photo) -> Outcome:
    """One GraphQL multipart request: operations, map, then the file."""
    operations = {
        "query": UPLOAD,
        "variables": {
            "input": {
                "claimId": target.claim_id,
                "files": [{"checklistCode": CHECKLIST_CODE, "file": None}],
            }
        },
    }
    started = time.perf_counter()
    try:
        response = await client.post(
            "/graphql",
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.input.files.0.file"]}),
            },
            files={"0": (photo.name, photo.data, "image/jpeg")},
            headers={
                "authorization": f"Bearer {target.token}",
                "apollo-require-preflight": "true",
            },
        )
    except httpx.HTTPError as exc:
        return Outcome(time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    return Outcome(seconds, answer_error(response, photo))


def answer_error(response: httpx.Response, photo: Photo) -> str | None:
    """None if the upload was stored as a JPEG of the photo's size, else what went wrong."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    body = response.json()
    if body.get("errors"):
        return f"GraphQL errors: {body['errors']}"
    payload = body["data"]["uploadClaimDocuments"]
    if payload["errors"]:
        return f"payload errors: {payload['errors']}"
    documents = payload["claim"]["documents"]
    stored = [
        d
        for d in documents
        if d["contentType"] == "image/jpeg"
        and (d["width"], d["height"]) == (photo.width, photo.height)
    ]
    if not stored:
        return f"no {photo.width}x{photo.height} JPEG among the documents: {documents}"
    return None


@dataclass
class Round:
    label: str
    decode_concurrency: int
    concurrent: int
    photos: list[Photo]
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0  # this process: httpx building and sending the bodies
    machine_cpu: float = 0.0  # all cores, every process
    rss_start: int = 0  # right after start-up, before the warm-up upload
    baseline: int = 0  # after the warm-up, just before the round
    peak_sampled: int = 0
    peak_hwm: int = 0
    hwm_reset: bool = False
    rss_after: int = 0  # right after the last answer
    rss_settled: int = 0  # SETTLE_SECONDS later
    samples: int = 0

    @property
    def input_bytes(self) -> int:
        return sum(len(p.data) for p in self.photos)

    @property
    def peak(self) -> int:
        return max(self.peak_hwm if self.hwm_reset else 0, self.peak_sampled)

    @property
    def peak_delta(self) -> int:
        return self.peak - self.baseline

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / MB / self.seconds

    def latency(self, which: str) -> float:
        values = [o.seconds for o in self.outcomes]
        return statistics.median(values) if which == "p50" else max(values)

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]


async def run_uploads(
    server: Server, targets: list[Target], photos: list[Photo], concurrent: int
) -> list[Outcome]:
    limits = httpx.Limits(max_connections=concurrent, max_keepalive_connections=concurrent)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=REQUEST_TIMEOUT, limits=limits, trust_env=False
    ) as client:
        if concurrent == 1:
            return [await upload(client, t, p) for t, p in zip(targets, photos, strict=True)]
        tasks = [upload(client, t, p) for t, p in zip(targets, photos, strict=True)]
        return list(await asyncio.gather(*tasks))


def upload_round(
    server: Server, round_: Round, warmup: tuple[Target, Photo], targets: list[Target]
) -> None:
    """Warm up (imports, Pillow plugins, lcms transforms) with a small photo, then time
    the round while sampling the server's memory."""
    pid = server.process.pid
    round_.rss_start = proc_status(pid)["VmRSS"]
    [warm] = asyncio.run(run_uploads(server, [warmup[0]], [warmup[1]], 1))
    if warm.error:
        raise SystemExit(f"the warm-up upload failed: {warm.error}")
    time.sleep(0.3)
    round_.baseline = proc_status(pid)["VmRSS"]
    round_.hwm_reset = reset_peak(pid)
    cpu_before = process_cpu_seconds(pid)
    client_before, machine_before = time.process_time(), machine_busy_seconds()
    with RssSampler(pid) as sampler:
        started = time.perf_counter()
        round_.outcomes = asyncio.run(
            asyncio.wait_for(
                run_uploads(server, targets, round_.photos, round_.concurrent), ROUND_TIMEOUT
            )
        )
        round_.seconds = time.perf_counter() - started
    round_.server_cpu = process_cpu_seconds(pid) - cpu_before
    round_.client_cpu = time.process_time() - client_before
    round_.machine_cpu = machine_busy_seconds() - machine_before
    status = proc_status(pid)
    round_.peak_hwm, round_.rss_after = status["VmHWM"], status["VmRSS"]
    round_.peak_sampled, round_.samples = sampler.peak, len(sampler.samples)
    time.sleep(SETTLE_SECONDS)
    round_.rss_settled = proc_status(pid)["VmRSS"]


# ------------------------------------------------------------------ checks


def jpeg_segments(data: bytes) -> list[int]:
    """The marker codes of a JPEG up to its start of scan (0xDA)."""
    markers, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        position += 2 + length
    return markers


def check_storage(workdir: Path, expected_files: int) -> list[str]:
    """Problems with what is on disk: every stored JPEG must be clean (no EXIF, GPS, ICC,
    XMP or comment segment), and the spool folders empty once all requests are done."""
    problems = []
    stored = [p for p in (workdir / "files").rglob("*") if p.is_file()]
    if len(stored) != expected_files:
        problems.append(f"{len(stored)} files stored, expected {expected_files}")
    for path in stored:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            dirty = bool(image.getexif()) or {"exif", "icc_profile", "xmp"} & set(image.info)
        # APP1 (EXIF/XMP), APP2 (ICC), COM: none may be written.
        segments = {0xE1, 0xE2, 0xFE} & set(jpeg_segments(data))
        if dirty or segments or b"GPS" in data[:65536]:
            problems.append(f"{path.name}: metadata left (segments {sorted(segments)})")
    leftovers = [p.name for p in (workdir / "spool").iterdir()]
    if leftovers:
        problems.append(f"temp files left behind: {leftovers[:5]} ({len(leftovers)})")
    return problems


# ------------------------------------------------------------------ the report


def mib(value: float) -> str:
    return f"{value / 2**20:7.1f}"


def print_round(round_: Round, pixels: int) -> None:
    n = round_.concurrent
    print(
        f"\n--- {round_.label}: {len(round_.photos)} uploads, {n} at a time, "
        f"decode limiter {round_.decode_concurrency}"
    )
    print(
        f"  wall {round_.seconds:6.2f} s   input {round_.input_bytes / MB:6.1f} MB   "
        f"throughput {round_.mb_per_s:6.2f} MB/s  ({len(round_.photos) / round_.seconds:.2f} "
        "photos/s)"
    )
    print(
        f"  latency p50 {round_.latency('p50'):6.2f} s   max {round_.latency('max'):6.2f} s   "
        f"server CPU {round_.server_cpu:5.1f} s = {round_.server_cpu / round_.seconds:.2f} of "
        f"{CORES} cores ({round_.server_cpu / len(round_.photos) * 1000:.0f} ms per photo)"
    )
    others = (round_.machine_cpu - round_.server_cpu - round_.client_cpu) / round_.seconds
    print(
        f"  client CPU {round_.client_cpu / round_.seconds:.2f} cores; all processes "
        f"{round_.machine_cpu / round_.seconds:.2f} of {CORES} cores busy, of which others "
        f"(kernel threads, the database, anything else on the machine) {others:.2f}"
    )
    if others > 0.3:
        print(
            f"  warning: other processes used {others:.2f} cores meanwhile: throughput and "
            "latency are noisy (the memory figures are not); rerun on a quiet machine"
        )
    print(
        f"  server RSS MiB: at start {mib(round_.rss_start)}  baseline {mib(round_.baseline)}  "
        f"peak {mib(round_.peak)}  after {mib(round_.rss_after)}  "
        f"{SETTLE_SECONDS:.0f} s later {mib(round_.rss_settled)}"
    )
    hwm = f"VmHWM {mib(round_.peak_hwm).strip()}" if round_.hwm_reset else "VmHWM not reset"
    print(
        f"  peak sources: sampled {mib(round_.peak_sampled).strip()} ({round_.samples} "
        f"samples, every {SAMPLE_INTERVAL * 1000:.0f} ms), {hwm}"
    )
    decoded = pixels * BYTES_PER_PIXEL
    print(
        f"  peak - baseline {mib(round_.peak_delta).strip()} MiB = "
        f"{mib(round_.peak_delta / n).strip()} MiB per concurrent upload "
        f"= {round_.peak_delta / decoded:.1f} decoded frames of {decoded / 2**20:.1f} MiB"
    )
    if round_.errors:
        print(f"  FAILED uploads: {len(round_.errors)}; first: {round_.errors[0][:500]}")


def explain(rounds: list[Round], pixels: int, sequential: Round | None) -> None:
    decoded = pixels * BYTES_PER_PIXEL
    print("\n=== what dominates the server's memory")
    print(
        f"  A decoded {pixels / 1e6:.0f} MP photo is width x height x {BYTES_PER_PIXEL} = "
        f"{decoded / 2**20:.1f} MiB in Pillow's C buffers (RGB is kept as 4 bytes a pixel). "
        "The full-size frame is what the stored re-encode needs; an sRGB profile needs no "
        "conversion, another RGB one converts in place, and the thumbnail's reduce() adds "
        "1/16 of a frame, so one decode holds ~1.1 frames until its JPEG is written (a "
        "rotated or non-RGB photo briefly 2). Everything else per upload is small: the "
        "body streams through 64 KiB chunks to temp files on disk."
    )
    print(
        "  The app lets ANXIN_UPLOAD_DECODE_CONCURRENCY decodes (default 2) run at once, "
        "and only while their estimated bytes fit ANXIN_UPLOAD_DECODE_MEMORY_BYTES "
        "(storage/decoding.py); the other uploads wait with their bytes on disk, so the "
        "peak should follow the limiter, not the number of uploads in flight:"
    )
    unit = sequential.peak_delta if sequential is not None else 2 * decoded
    source = "measured alone" if sequential is not None else "2 frames"
    for r in rounds:
        decoding = min(r.decode_concurrency, r.concurrent)
        print(
            f"    {r.label:<28} peak - baseline {mib(r.peak_delta)} MiB = "
            f"{r.peak_delta / decoded:4.1f} frames; predicted {decoding} decode(s) x "
            f"{mib(unit).strip()} MiB ({source}) = {mib(decoding * unit).strip()} MiB"
        )
    kept = max(r.rss_settled - r.baseline for r in rounds)
    if kept > unit / 2:
        print(
            f"  Freed frames are not all given back: up to {mib(kept).strip()} MiB stayed "
            f"resident {SETTLE_SECONDS:.0f} s after a round. Pillow allocates frames in 16 "
            "MiB blocks; with glibc's dynamic mmap threshold they land on the heaps of "
            "per-thread arenas, which keep them. `anxin serve` fixes the threshold at "
            "start-up (api/memory.py tune_allocator); MALLOC_* variables in this script's "
            "environment reach the server and take precedence."
        )


def print_summary(rounds: list[Round], sequential: Round | None) -> None:
    print("\n=== summary")
    print(
        f"  {'round':<34} {'MB/s':>6} {'p50 s':>6} {'max s':>6} {'peak-base':>9} "
        f"{'per upl.':>8} {'vs 1-at-a-time':>15}"
    )
    print(f"  {'':<34} {'':>6} {'':>6} {'':>6} {'MiB':>9} {'MiB':>8} {'MB/s   memory':>15}")
    for r in rounds:
        ratio = ""
        if sequential is not None and r is not sequential:
            ratio = (
                f"{r.mb_per_s / sequential.mb_per_s:5.2f}x "
                f"{r.peak_delta / max(sequential.peak_delta, 1):6.2f}x"
            )
        print(
            f"  {r.label:<34} {r.mb_per_s:6.2f} {r.latency('p50'):6.2f} {r.latency('max'):6.2f} "
            f"{mib(r.peak_delta):>9} {mib(r.peak_delta / r.concurrent):>8} {ratio:>15}"
        )


def print_goals(rounds: list[Round]) -> None:
    """Issue 19's two goals, for the first load round (the app's default decoding)."""
    load = next((r for r in rounds if r.concurrent > 1), None)
    if load is None:
        return
    what = f"{len(load.photos)} x {load.input_bytes / len(load.photos) / MB:.0f} MB uploads"
    print()
    print(
        goal_line(
            f"peak memory above the baseline, {what} at once",
            load.peak_delta / MB,
            PEAK_GOAL_MB,
            "MB",
            at_most=True,
        )
    )
    print(
        goal_line(
            f"memory returned: still resident {SETTLE_SECONDS:.0f} s after the burst",
            max(0, load.rss_settled - load.baseline) / MB,
            RETURNED_GOAL_MB,
            "MB",
            at_most=True,
        )
    )


# ------------------------------------------------------------------ the run


def run(args: argparse.Namespace, workdir: Path) -> int:
    started = time.perf_counter()
    count = args.sequential + args.uploads
    photos, sigma = make_photos(count, args.size_mb, args.same_scene)
    warm = warmup_photo()
    width, height = photos[0].width, photos[0].height
    sizes = [len(p.data) / MB for p in photos]
    print(
        f"photos: {count} x {width}x{height} JPEG q{SOURCE_QUALITY} with EXIF (GPS) and ICC, "
        f"noise sigma {sigma:.1f}: {min(sizes):.2f}..{max(sizes):.2f} MB "
        f"(mean {statistics.mean(sizes):.2f}), "
        f"{'one scene, a few pixels changed each' if args.same_scene else 'distinct scenes'}; "
        f"made in {time.perf_counter() - started:.1f} s"
    )
    postgres = args.backend == "postgres"
    url = POSTGRES_BENCH_URL if postgres else f"sqlite://{workdir}/bench.sqlite3"
    max_bytes = max(25 * 2**20, 2 * max(len(p.data) for p in photos))
    max_pixels = max(50_000_000, width * height)
    environment = bench_environment(url, workdir, max_bytes, max_pixels)
    started = time.perf_counter()
    targets = asyncio.run(prepare_database(settings_from(environment), count + 1))
    print(
        f"database: {url}; migrated, {count + 1} customers with an auto policy and a reported "
        f"claim each, in {time.perf_counter() - started:.1f} s"
    )
    print(
        f"server: uvicorn, 1 worker, ANXIN_UPLOAD_MAX_BYTES={max_bytes} "
        f"ANXIN_UPLOAD_MAX_PIXELS={max_pixels}; a fresh process per round, warmed up with "
        f"one {WARMUP_SIZE[0]}x{WARMUP_SIZE[1]} upload"
    )
    warmup = (targets[0], warm)
    sequential_targets = targets[1 : 1 + args.sequential]
    load_targets = targets[1 + args.sequential :]
    plan: list[tuple[Round, list[Target]]] = []
    if args.sequential:
        seq = Round("one at a time", args.decode_concurrency, 1, photos[: args.sequential])
        plan.append((seq, sequential_targets))
    for limiter in [args.decode_concurrency, args.compare_decode_concurrency]:
        if limiter:
            label = f"{args.uploads} at once, limiter {limiter}"
            plan.append(
                (Round(label, limiter, args.uploads, photos[args.sequential :]), load_targets)
            )
    rounds: list[Round] = []
    stored_expected = 0
    failed = False
    for round_, round_targets in plan:
        env = environment | {"ANXIN_UPLOAD_DECODE_CONCURRENCY": str(round_.decode_concurrency)}
        if args.decode_memory_mb:
            env["ANXIN_UPLOAD_DECODE_MEMORY_BYTES"] = str(args.decode_memory_mb * 2**20)
        # TMPDIR in the work dir: Starlette's spooled multipart parts land there too (and
        # are checked for leftovers).
        spool = workdir / "spool"
        spool.mkdir(exist_ok=True)
        env |= {"TMPDIR": str(spool)}
        with running_server(__file__, env, workdir, name=f"server-{len(rounds)}") as server:
            upload_round(server, round_, warmup, round_targets)
            stored_expected += 2 * (len(round_.photos) + 1)  # photo + thumbnail, + warm-up
            problems = check_storage(workdir, stored_expected)
        log = server.log.read_text(errors="replace").strip()
        print_round(round_, width * height)
        for problem in problems:
            print(f"  CHECK FAILED: {problem}")
        if log:
            print(f"  server log (last 1500 chars):\n{log[-1500:]}")
        failed = failed or bool(problems or round_.errors)
        if not problems and not round_.errors:
            print(
                f"  checked: {len(round_.photos)} answers without errors, each a "
                f"{width}x{height} JPEG; {stored_expected} stored files (photos and "
                "thumbnails) with no EXIF/GPS/ICC/XMP/comment; no temp file left"
            )
        rounds.append(round_)
    documents, flagged = asyncio.run(database_summary(url))
    expected_flags = count if args.same_scene else 0
    print(
        f"\ndatabase after the rounds: {documents} documents, {flagged} claims flagged as "
        f"reused photos (expected {expected_flags})"
    )
    if flagged != expected_flags:
        print("  CHECK FAILED: the near-duplicate flags are not what the photos call for")
        failed = True
    sequential = rounds[0] if args.sequential else None
    explain(rounds, width * height, sequential)
    print_summary(rounds, sequential)
    print_goals(rounds)
    return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=20, help="concurrent uploads")
    parser.add_argument("--size-mb", type=float, default=10.0, help="photo size, 10**6 bytes")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--decode-concurrency", type=int, default=2, help="the app's limiter")
    parser.add_argument(
        "--compare-decode-concurrency", type=int, default=4, help="second round (0: skip)"
    )
    parser.add_argument(
        "--sequential", type=int, default=3, help="one-at-a-time baseline uploads (0: skip)"
    )
    parser.add_argument(
        "--decode-memory-mb", type=int, default=0, help="the app's decode budget, MiB (0: default)"
    )
    parser.add_argument("--same-scene", action="store_true", help="near-duplicate photos")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return args
    if not 1 <= args.uploads <= 200 or not 0.1 <= args.size_mb <= 40:
        parser.error("--uploads must be 1..200 and --size-mb 0.1..40")
    if not 1 <= args.decode_concurrency <= 64 or not 0 <= args.compare_decode_concurrency <= 64:
        parser.error("--decode-concurrency must be 1..64, --compare-decode-concurrency 0..64")
    if not 0 <= args.sequential <= 20:
        parser.error("--sequential must be 0..20")
    return args


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.port, args.parent_pid)
        return 0
    signal.signal(signal.SIGTERM, stop)  # clean up (server, files, database) on kill too
    with tempfile.TemporaryDirectory(prefix="anxin-bench-uploads-") as workdir:
        try:
            return run(args, Path(workdir))
        finally:
            if args.backend == "postgres":
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    asyncio.run(drop(name_of(POSTGRES_BENCH_URL)))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: server stopped, temporary files and the bench database removed")
