"""The whole pipeline through the installed `resizer` command, against a real emulator."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from PIL import Image, ImageDraw


def make_images(folder: Path) -> dict[str, tuple[int, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB")
    photo.save(folder / "photo.jpg", "JPEG", quality=88)
    logo = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((50, 50, 550, 350), fill=(200, 30, 30, 180))
    logo.save(folder / "logo.png")
    frames = [Image.new("P", (300, 200), i) for i in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00JFIF" + bytes(500))
    return {"photo.jpg": (1600, 1200), "logo.png": (600, 400), "anim.gif": (300, 200)}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_setup_upload_logs_teardown(emulator, run_resizer, tmp_path: Path) -> None:
    images = make_images(tmp_path / "images")
    setup = run_resizer("setup", "--stack", "e2e", "--json", check=True)
    assert json.loads(setup.stdout.splitlines()[-1])["stack"] == "e2e"

    out = tmp_path / "thumbs"
    upload = run_resizer("upload", str(tmp_path / "images"), "--wait", "--timeout", "90",
                         "--download", str(out), "--json")
    assert upload.returncode == 1, upload.stderr  # the corrupt file is reported as failed
    results = {Path(r["file"]).name: r for r in json_lines(upload.stdout)}
    assert set(results) == {*images, "corrupt.jpg"}
    assert results["corrupt.jpg"]["status"] == "failed"
    assert results["corrupt.jpg"]["error_code"] == "corrupt"
    for name, (width, height) in images.items():
        res = results[name]
        assert res["status"] == "ok", res
        assert len(res["thumbnails"]) == 2
        for thumb in res["thumbnails"]:
            with Image.open(thumb["local_path"]) as img:  # a real, decodable thumbnail
                assert img.size == (thumb["width"], thumb["height"])
                assert max(img.size) <= 512
                assert abs(img.size[0] / img.size[1] - width / height) < 0.02

    logs = run_resizer("logs", "--stack", "e2e", "--format", "json", "--since", "10m",
                       check=True)
    messages = [e["message"] for e in json_lines(logs.stdout)]
    starts = [m for m in messages if m.startswith("START RequestId:")]
    reports = [m for m in messages if m.startswith("REPORT RequestId:")]
    assert len(starts) == len(reports) == 4  # one invocation per upload, no retries
    assert any("Init Duration:" in r for r in reports)
    assert any('"corrupt"' in m for m in messages)

    status = run_resizer("local", "status", "--json", check=True)
    info = json.loads(status.stdout)
    fn = next(f for f in info["functions"] if f["name"].startswith("e2e"))
    assert fn["invocations"] == 4 and fn["errors"] == 0

    workers = [psutil.Process(pid) for pid in info["workers"]]
    assert workers
    run_resizer("teardown", "--stack", "e2e", "--yes", check=True)
    gone = run_resizer("status", "--stack", "e2e")
    assert gone.returncode != 0 and "no stack 'e2e'" in gone.stderr
    # Teardown deleted the function: its warm workers go too; the emulator keeps running.
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive
    assert run_resizer("local", "status").returncode == 0
