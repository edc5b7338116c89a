"""What one photo's decode holds at its peak stays within the estimate the decode gate
admits it by (storage/decoding.py), for each shape of photo the pipeline treats
differently: upright, rotated, with alpha, grayscale, HEIC. Measured as the process's
peak resident memory (``VmHWM``, reset before each decode) in a fresh process, since
the pixels live in Pillow's C buffers where ``tracemalloc`` does not see them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZE = (3000, 2000)  # 6 MP: 22.9 MiB decoded, big enough to dwarf the rest
FRAME = SIZE[0] * SIZE[1] * 4

MEASURE = textwrap.dedent(
    f"""
    import json, tempfile, threading
    from pathlib import Path
    from PIL import Image
    from api.memory import tune_allocator
    from storage.images import HEIC, JPEG, PNG, _decode_cost, _process_image
    from tests.storage import samples

    tune_allocator()  # as served: freed frames go back, so each peak starts clean
    work = Path(tempfile.mkdtemp())
    picture = samples.photo(3, {SIZE!r})
    rgba = picture.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize({SIZE!r}))
    shapes = {{
        "upright JPEG": (JPEG, samples.jpeg_with_gps(picture)),
        "rotated JPEG": (JPEG, samples.jpeg_with_gps(picture, orientation=6)),
        "RGBA PNG": (PNG, samples.encode(rgba, "PNG", compress_level=1)),
        "grayscale JPEG": (JPEG, samples.encode(picture.convert("L"), "JPEG")),
        "HEIC": (HEIC, samples.heic(picture)),
    }}
    del picture, rgba

    def status(name):
        for line in open("/proc/self/status"):
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024

    results = {{}}
    for name, (kind, data) in shapes.items():
        path = work / "upload"
        path.write_bytes(data)
        cost = _decode_cost(path, kind, 50_000_000)
        _process_image(path, kind, 50_000_000, work / "out.jpg", 320)  # warm the codec
        before = status("VmRSS")
        open("/proc/self/clear_refs", "w").write("5")
        worker = threading.Thread(
            target=_process_image, args=(path, kind, 50_000_000, work / "out.jpg", 320)
        )
        worker.start()
        worker.join()
        results[name] = {{"cost": cost, "peak": status("VmHWM") - before}}
    print(json.dumps(results))
    """
)


def test_each_decode_stays_within_its_admitted_estimate() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    # Upright: one frame, admitted as one; rotated: two (the transposed copy).
    assert measured["upright JPEG"]["cost"] == FRAME
    assert measured["rotated JPEG"]["cost"] == 2 * FRAME
    for name, figures in measured.items():
        # A few MiB beyond the frames: the thumbnail's reduce (1/16), codec buffers.
        assert figures["peak"] <= figures["cost"] + FRAME // 4, (name, figures)
    # An RGBA photo is flattened with no extra copy and its original frame closed
    # before the save: two frames at the peak, not 3.25 held through the encode.
    assert measured["RGBA PNG"]["peak"] <= 2.25 * FRAME
    assert measured["upright JPEG"]["peak"] <= 1.25 * FRAME
