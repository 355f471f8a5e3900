"""Model bundles: the directory that carries a trained model from ``train`` to ``score``.

Flow: ``train -> evaluate -> **model bundle (models/)** -> score``. A bundle holds
``pipeline.pkl.gz`` (the fitted :class:`~moderation.model.HostilityModel` and off-topic scorer),
``compiled.npz`` (the hostility model as plain arrays for :mod:`moderation.fastscore`),
``offtopic.npz`` (the off-topic scorer as plain arrays for :mod:`moderation.offtopicarrays`),
``manifest.json`` (versions, SHA-256 of every file, labels, thresholds, training sources with
licences, held-out metrics) and ``MODEL_CARD.md``. Loading checks the manifest, the hashes and
the scikit-learn version *before* reading anything else, and every failure is a
:class:`~moderation.errors.ModelLoadError` that says what is wrong and how to fix it.

Scoring needs only ``compiled.npz`` and ``offtopic.npz`` (read without pickle), so loading is
fast and imports neither scikit-learn nor pandas: the hostility arrays are read at load, and the
:class:`~moderation.model.HostilityModel` over them (which imports pandas) is built when first
used, while :meth:`moderation.moderator.Moderator.score_one` scores from the arrays directly
(:mod:`moderation.single`). The off-topic arrays are read, from bytes whose hash is checked
again, the first time a comment has an article, parent or thread to compare with. The
pipeline file is unpickled only when something needs the fitted scikit-learn objects (the
reference engine, retraining, :attr:`Bundle.fitted_off_topic`), from bytes whose hash is
checked again. Bundles written before ``compiled.npz`` existed still load: their model is
unpickled at once and compiled on first use; bundles without ``offtopic.npz`` score off-topic
with the pickled scorer, and :func:`add_off_topic_arrays` adds the file to them. Why: reading
the pickled off-topic scorer imports scikit-learn (and with it ``scipy.stats``) and unpickles
the whole pipeline, about 1.1 CPU s of serial time before a batch run's first chunk; its
arrays take a few milliseconds.

Format 2 (this code writes it) stores the pipeline as a protocol-5 pickle written by the C
pickler, compressed with gzip level 6 (``pipeline.pkl.gz``, named in the manifest's
``pipeline`` entry). Format 1 stored it with ``joblib.dump(..., compress=3)`` as
``pipeline.joblib``; such bundles still load (through joblib) and :func:`upgrade_bundle`
rewrites them as format 2 without retraining. Why: every batch run and every ``--workers`` run
reads the pipeline before its first chunk, and ``joblib.load`` unpickles with the pure-Python
``pickle._Unpickler``. Measured in fresh processes on the default bundle (5 alternated rounds,
load 3, medians; scikit-learn's import, about 1.1 s of each, included): joblib 2.18 s
(7.05 MB); the C unpickler on the raw pickle 1.25 s (15.3 MB), on gzip/zlib level 6 1.29-1.34 s
(6.85 MB; decompressing takes 0.05 s), on lzma 1.57-1.60 s (5.9-6.4 MB), on bz2 1.71 s
(6.1 MB). Gzip level 6 costs 0.05 s more than no compression at under half the size, which
keeps the default bundle well under the 30 MB of ``models/``; level 1 is 6 % larger for no
faster a read, level 9 1 % smaller for ten times the write time. The container is gzip
(readable with ``zcat``), written and read with :mod:`zlib` alone.

Security: the pipeline file is a pickle, and unpickling runs code. Load only bundles you
trust; the hash check detects accidental damage, not a malicious bundle with a rewritten
manifest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import pickle
import platform
import shutil
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from moderation import contract
from moderation.calibration import Calibration
from moderation.errors import ModelLoadError

if TYPE_CHECKING:
    from moderation.model import HostilityModel

__all__ = [
    "COMPILED",
    "DEFAULT_BUNDLE_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "MODEL_CARD",
    "OFF_TOPIC",
    "PIPELINE",
    "PIPELINE_V1",
    "READ_FORMATS",
    "Bundle",
    "add_off_topic_arrays",
    "default_bundle_path",
    "load_bundle",
    "save_bundle",
    "upgrade_bundle",
]

logger = logging.getLogger(__name__)

#: Directory name of the default model under ``<repo root>/models/``.
DEFAULT_BUNDLE_NAME = "hostility-2026-11-30e"
#: Bundle layout version this code writes.
FORMAT_VERSION = 2
#: Bundle layout versions this code reads (1: the pipeline pickled by joblib).
READ_FORMATS = (1, 2)
#: Array layout of ``compiled.npz`` this code reads (``fastscore.COMPILED_FORMAT``).
COMPILED_FORMAT = 1

#: The pipeline file of a format-2 bundle: a protocol-5 pickle, gzip-compressed.
PIPELINE = "pipeline.pkl.gz"
#: The pipeline file of a format-1 bundle, written by ``joblib.dump``.
PIPELINE_V1 = "pipeline.joblib"
PICKLE_PROTOCOL = 5
GZIP_LEVEL = 6
COMPILED = "compiled.npz"
#: The off-topic scorer as plain arrays (``moderation.offtopicarrays``), named in the manifest's
#: ``off_topic_compiled`` entry.
OFF_TOPIC = "offtopic.npz"
#: Array layout of ``offtopic.npz`` this code reads (``offtopicarrays.OFFTOPIC_FORMAT``).
OFF_TOPIC_FORMAT = 1
MANIFEST = "manifest.json"
MODEL_CARD = "MODEL_CARD.md"

_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")


def __getattr__(name: str) -> Any:
    # joblib is imported only when a format-1 bundle's pickle is read (it is slow to import and
    # scoring does not need it); ``moderation.bundle.joblib`` still names the module.
    if name == "joblib":
        import joblib

        return joblib
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Pipeline:
    """The pipeline file of a verified bundle, unpickled once, when first needed.

    Picklable (worker processes get the path, not the loaded objects or the lock).
    """

    def __init__(self, path: Path, sha256: str, format_version: int = FORMAT_VERSION) -> None:
        self.path = path
        self.sha256 = sha256
        self.format_version = format_version
        self._payload: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "format_version": self.format_version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"], state["sha256"], state.get("format_version", 1)
        )

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            if self._payload is None:
                self._payload = _unpickle(self.path, self.sha256, self.format_version)
            return self._payload

    def hostility(self) -> HostilityModel:
        model: HostilityModel = self()["hostility"]
        return model


class _OffTopicArrays:
    """``offtopic.npz`` of a verified bundle: the off-topic scorer built over its arrays once,
    when first needed, from bytes whose hash is checked again (as the pipeline's are).

    Picklable (worker processes get the path, not the loaded arrays or the lock).
    """

    def __init__(self, path: Path, sha256: str) -> None:
        self.path = path
        self.sha256 = sha256
        self._scorer: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["sha256"])  # type: ignore[misc]

    def __call__(self) -> Any:
        with self._lock:
            if self._scorer is None:
                self._scorer = _read_off_topic(self.path, self.sha256)
            return self._scorer


def _read_off_topic(path: Path, expected: str) -> Any:
    """The off-topic scorer over ``offtopic.npz`` (read with NumPy, never unpickled)."""
    import io

    from moderation.offtopic import OffTopicScorer

    data = _read_checked(path, expected)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as found:
            return OffTopicScorer.from_arrays({name: found[name] for name in found.files})
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc}); {_retrain_hint()}") from exc


#: The arrays of ``compiled.npz`` by name (see ``CompiledModel.to_arrays``).
Arrays = Mapping[str, npt.NDArray[Any]]
#: Members only the batch engine's hash index uses: read from the file when first asked for.
_LATER = ("_keys", "_columns")


class _CompiledArrays(Mapping[str, npt.NDArray[Any]]):
    """``compiled.npz``: read at load except the hash index, which single-comment scoring
    never uses and the batch engine reads when first built (after checking the file's hash
    again, as the pipeline's is)."""

    def __init__(self, path: Path, sha256: str) -> None:
        self.path = path
        self.sha256 = sha256
        with np.load(path, allow_pickle=False) as found:
            self._names = list(found.files)
            self._loaded: dict[str, npt.NDArray[Any]] = {
                n: found[n] for n in self._names if not n.endswith(_LATER)
            }
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        found = self._loaded.get(name)
        if found is None:
            if name not in self._names:
                raise KeyError(name)
            with self._lock:
                if name not in self._loaded:
                    self._read_rest()
            found = self._loaded[name]
        return found

    def _read_rest(self) -> None:
        actual = sha256_file(self.path) if self.path.is_file() else "nothing (the file is missing)"
        if actual != self.sha256:
            raise ModelLoadError(
                f"{self.path} does not match its SHA-256 in {MANIFEST} (expected {self.sha256}, "
                f"found {actual}): the file was altered or damaged after the bundle was loaded; "
                f"{_retrain_hint()}"
            )
        with np.load(self.path, allow_pickle=False) as found:
            for name in self._names:
                if name not in self._loaded:
                    self._loaded[name] = found[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names  # without reading it

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified model bundle.

    ``arrays`` holds ``compiled.npz`` (``None`` for a bundle written before it existed);
    ``hostility`` is built over them on first access. ``off_topic`` is built over
    ``offtopic.npz`` on first access, or unpickled from the pipeline file for a bundle without
    it (see the module notes).
    """

    path: Path
    manifest: dict[str, Any]
    pipeline: _Pipeline = field(repr=False)
    arrays: Arrays | None = field(default=None, repr=False)
    off_topic_arrays: _OffTopicArrays | None = field(default=None, repr=False)

    @cached_property
    def hostility(self) -> HostilityModel:
        """The hostility model (imports pandas and builds the compiled model the first time)."""
        from moderation.fastscore import CompiledModel
        from moderation.model import HostilityModel

        info = self.compiled_info
        if self.arrays is None or info is None:
            model = self.pipeline.hostility()
        else:
            try:
                compiled = CompiledModel.from_arrays(self.arrays)
            except ValueError as exc:
                raise ModelLoadError(
                    f"{self.path / str(info['file'])} cannot be read ({exc}); {_retrain_hint()}"
                ) from exc
            model = HostilityModel.from_compiled(
                compiled,
                sentence_weight=self.sentence_weight,
                calibration=self.calibration,
                loader=self.pipeline.hostility,
            )
        # Spans and explanations default to the thresholds chosen when the bundle was trained.
        model.thresholds = self.thresholds
        return model

    @property
    def compiled_info(self) -> dict[str, Any] | None:
        """The manifest's ``compiled`` entry, when the bundle has compiled arrays."""
        info = self.manifest.get("compiled")
        return info if isinstance(info, dict) and self.arrays is not None else None

    @property
    def sentence_weight(self) -> float:
        """How much a text's best sentence counts (``HostilityModel.sentence_weight``)."""
        info = self.compiled_info
        if info is None:
            return float(getattr(self.hostility, "sentence_weight", 0.0))
        return float(info.get("sentence_weight", 0.0))

    @cached_property
    def calibration(self) -> dict[str, Calibration]:
        """Per-label calibration maps of the hostility scores."""
        info = self.compiled_info
        if info is None:
            found: dict[str, Calibration] = self.hostility.__dict__.get("calibration_") or {}
            return dict(found)
        return _calibration(info.get("calibration") or {})

    @property
    def off_topic(self) -> Any:
        """The off-topic scorer: over ``offtopic.npz`` when the bundle has it (no scikit-learn),
        else the pickled one (the same scores either way)."""
        if self.off_topic_arrays is not None:
            return self.off_topic_arrays()
        return self.fitted_off_topic

    @property
    def fitted_off_topic(self) -> Any:
        """The off-topic scorer as fitted (scikit-learn objects; unpickles the pipeline).

        What retraining from a bundle should carry over (with its metrics); scoring uses
        :attr:`off_topic`.
        """
        return self.pipeline()["off_topic"]

    @property
    def thresholds(self) -> dict[str, float]:
        """Per-label decision thresholds chosen on held-out data."""
        return {k: float(v) for k, v in self.manifest.get("thresholds", {}).items()}

    @property
    def precision_thresholds(self) -> dict[str, dict[str, float]]:
        """Label → target precision (``"0.8"``) → the threshold reaching it on held-out data."""
        found = self.manifest.get("thresholds_at_precision") or {}
        return {
            label: {
                str(float(p)): float(v["threshold"])
                for p, v in targets.items()
                if isinstance(v, dict) and v.get("threshold") is not None
            }
            for label, targets in found.items()
            if isinstance(targets, dict)
        }


def package_version() -> str:
    """Installed version of this package (``0+unknown`` when run from a bare checkout)."""
    try:
        return metadata.version("moderation")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def library_versions() -> dict[str, str]:
    """Versions recorded in the manifest: Python and the libraries the pickle depends on."""
    return {"python": platform.python_version(), **{name: _installed(name) for name in _LIBRARIES}}


def _installed(name: str) -> str:
    """The installed version of a distribution, or ``"unknown"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_bundle(
    path: Path,
    *,
    hostility: HostilityModel,
    off_topic: Any,
    manifest_extra: dict[str, Any],
    card: str,
) -> Path:
    """Write a bundle directory atomically.

    The files go to a temporary sibling directory that is renamed into place at the end, so a
    crash never leaves half a bundle; an existing bundle at ``path`` is replaced.

    Parameters
    ----------
    path
        Bundle directory to create (e.g. ``models/hostility-2026-11-30e``).
    hostility
        The fitted hostility model.
    off_topic
        The fitted off-topic scorer (any picklable object with a ``score`` method).
    manifest_extra
        Keys merged into the manifest: ``thresholds``, ``sources``, ``metrics``, ...
    card
        Markdown text of ``MODEL_CARD.md``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiled = hostility.compiled()
    portable = hostility.portable()
    off_topic_arrays = _off_topic_arrays(off_topic)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp creates 0700; a bundle is read by other users and CI
        _write_pipeline(tmp / PIPELINE, {"hostility": portable, "off_topic": off_topic})
        with (tmp / COMPILED).open("wb") as handle:
            np.savez_compressed(handle, allow_pickle=False, **compiled.to_arrays())
        names = [PIPELINE, COMPILED, MODEL_CARD]
        if off_topic_arrays is not None:
            _write_off_topic(tmp / OFF_TOPIC, off_topic_arrays)
            names.append(OFF_TOPIC)
        (tmp / MODEL_CARD).write_text(card, encoding="utf-8")
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": path.name,
            "created": _dt.date.today().isoformat(),
            "package_version": package_version(),
            "versions": library_versions(),
            "labels": list(contract.LABELS),
            **manifest_extra,
            "pipeline": _PIPELINE_ENTRY,
            "compiled": {
                "file": COMPILED,
                "sentence_weight": float(portable.sentence_weight),
                # Knots of each label's calibration map, at full precision (JSON floats
                # round-trip exactly), so the compiled model scores like the pickled one.
                "calibration": {
                    label: found.as_lists()
                    for label, found in portable.__dict__.get("calibration_", {}).items()
                },
                "n_features": int(compiled.coef64().shape[0]),
            },
            **(
                {"off_topic_compiled": _off_topic_entry(off_topic_arrays)}
                if off_topic_arrays is not None
                else {}
            ),
            "files": {name: sha256_file(tmp / name) for name in sorted(names)},
        }
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote model bundle %s", path)
    return path


def _off_topic_arrays(off_topic: Any) -> dict[str, npt.NDArray[Any]] | None:
    """The off-topic scorer's arrays, or ``None`` for a scorer that cannot be compiled (a
    stand-in, or settings :mod:`moderation.offtopicarrays` does not reproduce: such a bundle
    scores off-topic with its pickle, as bundles did before ``offtopic.npz``)."""
    to_arrays = getattr(off_topic, "to_arrays", None)
    if to_arrays is None:
        return None
    try:
        arrays: dict[str, npt.NDArray[Any]] = to_arrays()
    except ValueError as exc:
        logger.warning("the off-topic scorer is stored as a pickle only: %s", exc)
        return None
    return arrays


def _write_off_topic(path: Path, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    with path.open("wb") as handle:
        np.savez_compressed(handle, allow_pickle=False, **arrays)


def _off_topic_entry(arrays: Mapping[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """The manifest's ``off_topic_compiled`` entry."""
    return {
        "file": OFF_TOPIC,
        "format": OFF_TOPIC_FORMAT,
        "terms": len(arrays["v_idf"]),
        "trees": len(arrays["t_roots"]),
        "nodes": len(arrays["t_value"]),
    }


#: The manifest's ``pipeline`` entry of a format-2 bundle.
_PIPELINE_ENTRY = {"file": PIPELINE, "pickle_protocol": PICKLE_PROTOCOL, "compression": "gzip"}


def _write_pipeline(path: Path, payload: dict[str, Any]) -> None:
    """Pickle ``payload`` with the C pickler and write it gzip-compressed (see the module notes).

    The gzip header written by :mod:`zlib` has no time stamp, so the same payload gives the
    same bytes.
    """
    raw = pickle.dumps(payload, protocol=PICKLE_PROTOCOL)
    path.write_bytes(zlib.compress(raw, GZIP_LEVEL, wbits=31))


def _replace_dir(new: Path, path: Path) -> None:
    """Move the finished directory ``new`` to ``path``, replacing what is there."""
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(new, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, path)


def upgrade_bundle(path: str | Path) -> Path:
    """Rewrite a format-1 bundle as format 2, without retraining.

    The pickled objects are read and written again as they are, so the bundle scores exactly
    as before; the manifest keeps every metric, threshold and version (plus a ``resaved``
    note), its file list and hashes are updated, and the model card's mentions of the old file
    name are replaced (unless it names the new file already, as cards rendered since format 2
    do). Written atomically, like :func:`save_bundle`. A format-2 bundle is left untouched.

    Parameters
    ----------
    path
        The bundle directory (verified by :func:`load_bundle` first).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    bundle = load_bundle(path)
    if bundle.pipeline.format_version == FORMAT_VERSION:
        return path
    payload = bundle.pipeline()
    manifest = dict(bundle.manifest)
    old_name = bundle.pipeline.path.name

    def write(tmp: Path) -> None:
        _write_pipeline(tmp / PIPELINE, payload)
        card = (tmp / MODEL_CARD).read_text(encoding="utf-8")
        if f"`{PIPELINE}`" not in card:
            (tmp / MODEL_CARD).write_text(
                card.replace(f"`{old_name}`", f"`{PIPELINE}`"), encoding="utf-8"
            )

    manifest["format_version"] = FORMAT_VERSION
    manifest["pipeline"] = _PIPELINE_ENTRY
    manifest["resaved"] = {
        "date": _dt.date.today().isoformat(),
        "from_format": bundle.pipeline.format_version,
        "package_version": package_version(),
    }
    _rewrite_bundle(path, manifest, write, drop={old_name})
    logger.info("rewrote model bundle %s as format %d", path, FORMAT_VERSION)
    return path


def add_off_topic_arrays(path: str | Path) -> Path:
    """Add ``offtopic.npz`` (the off-topic scorer as plain arrays) to a bundle, without retraining.

    Compiles the pickled off-topic scorer (:func:`moderation.offtopicarrays.compile_off_topic`,
    which scores exactly as it does), writes the arrays beside the other files and adds the
    manifest's ``off_topic_compiled`` entry and the file's hash; every other file and manifest
    key is kept as it is. Written atomically, like :func:`save_bundle`. A bundle that has the
    arrays already gets them written again from its pickle. Bundles from ``moderation train``
    have them from the start.

    Parameters
    ----------
    path
        The bundle directory (verified by :func:`load_bundle` first).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ModelLoadError
        If the bundle does not load, or its off-topic scorer cannot be compiled.
    """
    path = Path(path)
    bundle = load_bundle(path)
    arrays = _off_topic_arrays(bundle.fitted_off_topic)
    if arrays is None:
        raise ModelLoadError(
            f"the off-topic scorer of {path} cannot be stored as arrays (see the log); the "
            f"bundle keeps scoring off-topic with its pickle"
        )
    manifest = dict(bundle.manifest)
    manifest["off_topic_compiled"] = _off_topic_entry(arrays)
    _rewrite_bundle(
        path, manifest, lambda tmp: _write_off_topic(tmp / OFF_TOPIC, arrays), drop={OFF_TOPIC}
    )
    logger.info("added %s to model bundle %s", OFF_TOPIC, path)
    return path


def _rewrite_bundle(
    path: Path, manifest: dict[str, Any], write: Callable[[Path], None], drop: Collection[str]
) -> None:
    """Rewrite a bundle directory atomically: its listed files but ``drop`` are copied into a
    new directory, ``write(new_dir)`` adds or edits files there, every file is hashed into
    ``manifest["files"]`` and the new directory replaces ``path`` (as :func:`save_bundle`)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tmp.chmod(0o755)
        for name in manifest["files"]:
            if name not in drop:
                shutil.copy2(path / name, tmp / name)
        write(tmp)
        manifest["files"] = {
            f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.name != MANIFEST
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_bundle(path: Path) -> Bundle:
    """Load and verify a bundle directory.

    Checks, in order: the directory and manifest exist, the manifest parses, its
    ``format_version`` is supported, every listed file exists and matches its SHA-256, and the
    installed scikit-learn has the major.minor version the bundle was trained with. Only then
    are the compiled arrays read; the pipeline file is unpickled -- which runs code: load only
    bundles you trust -- when first needed, or at once for a bundle without ``compiled.npz``.

    Parameters
    ----------
    path
        The bundle directory.

    Returns
    -------
    Bundle

    Raises
    ------
    ModelLoadError
        Naming the problem (and the file) and how to fix it.
    """
    path = Path(path)
    retrain = "retrain with `moderation train` or reinstall the package to restore it"
    if not path.is_dir():
        raise ModelLoadError(
            f"model bundle {path} does not exist or is not a directory; pass the directory "
            f"that holds {MANIFEST} and {PIPELINE} (or {retrain})"
        )
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(
            f"{manifest_path} is missing, so {path} is not a model bundle; {retrain}"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"{manifest_path} cannot be parsed as JSON ({exc}); {retrain}"
        ) from exc
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{manifest_path} is not a JSON object; {retrain}")
    found = manifest.get("format_version")
    if found not in READ_FORMATS or isinstance(found, bool):
        raise ModelLoadError(
            f"{manifest_path}: format_version {found!r} is not supported (this moderation "
            f"{package_version()} reads formats {', '.join(map(str, READ_FORMATS))}); install "
            f"the moderation version that wrote the bundle, or {retrain}"
        )
    pipeline_name = _pipeline_name(manifest, int(found))
    files = manifest.get("files")
    if not isinstance(files, dict) or pipeline_name not in files:
        raise ModelLoadError(f"{manifest_path} lists no file hash for {pipeline_name}; {retrain}")
    for name, expected in files.items():
        file_path = path / name
        if not file_path.is_file():
            raise ModelLoadError(f"{file_path} is missing from the bundle; {retrain}")
        actual = sha256_file(file_path)
        if actual != expected:
            raise ModelLoadError(
                f"{file_path} does not match its SHA-256 in {MANIFEST} (expected {expected}, "
                f"found {actual}): the file was altered or damaged; {retrain}"
            )
    recorded = str(manifest.get("versions", {}).get("scikit-learn", "unknown"))
    installed = _installed("scikit-learn")
    if _major_minor(recorded) != _major_minor(installed):
        raise ModelLoadError(
            f"{path} was trained with scikit-learn {recorded} but scikit-learn {installed} is "
            f"installed; pickled models only load reliably on the same minor version. Install "
            f"it with `pip install 'scikit-learn=={_major_minor(recorded)}.*'`, or {retrain}"
        )
    pipeline = _Pipeline(path / pipeline_name, str(files[pipeline_name]), int(found))
    off_topic = _off_topic_loader(path, manifest, files)
    compiled_info = manifest.get("compiled")
    if isinstance(compiled_info, dict) and compiled_info.get("file") in files:
        name = str(compiled_info["file"])
        arrays = _read_compiled(path / name, str(files[name]), manifest)
        bundle = Bundle(
            path=path,
            manifest=manifest,
            pipeline=pipeline,
            arrays=arrays,
            off_topic_arrays=off_topic,
        )
        bundle.calibration  # noqa: B018 -- malformed maps are a load error, not a scoring one
    else:  # a bundle written before compiled.npz: unpickle now, compile on first use
        bundle = Bundle(path=path, manifest=manifest, pipeline=pipeline, off_topic_arrays=off_topic)
        bundle.hostility  # noqa: B018
    return bundle


def _off_topic_loader(
    path: Path, manifest: Mapping[str, Any], files: Mapping[str, Any]
) -> _OffTopicArrays | None:
    """The loader of ``offtopic.npz`` when the manifest lists it (``None`` otherwise)."""
    entry = manifest.get("off_topic_compiled")
    if not isinstance(entry, dict):
        return None
    name = entry.get("file")
    if not isinstance(name, str) or name not in files or Path(name).name != name:
        raise ModelLoadError(
            f"{MANIFEST}: the 'off_topic_compiled' entry names {name!r}, which is not a file "
            f"listed with its hash; {_retrain_hint()}"
        )
    if entry.get("format") != OFF_TOPIC_FORMAT:
        raise ModelLoadError(
            f"{path / name} has array format {entry.get('format')!r}, this version reads "
            f"{OFF_TOPIC_FORMAT}; install the moderation version that wrote the bundle, or "
            f"{_retrain_hint()}"
        )
    return _OffTopicArrays(path / name, str(files[name]))


def _pipeline_name(manifest: Mapping[str, Any], format_version: int) -> str:
    """The pipeline's file name: ``pipeline.joblib`` in format 1, the manifest's in format 2."""
    if format_version == 1:
        return PIPELINE_V1
    found = manifest.get("pipeline")
    entry: Mapping[str, Any] = found if isinstance(found, dict) else {}
    name = entry.get("file")
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ModelLoadError(
            f"{MANIFEST}: format {format_version} needs a 'pipeline' entry naming the pipeline "
            f"file in the bundle (found {found!r}); {_retrain_hint()}"
        )
    if entry.get("compression") != "gzip":
        raise ModelLoadError(
            f"{MANIFEST}: the pipeline compression {entry.get('compression')!r} is not "
            f"supported (this version reads 'gzip'); {_retrain_hint()}"
        )
    return name


def _retrain_hint() -> str:
    return "retrain with `moderation train` or reinstall the package to restore it"


def _calibration(knots: Mapping[str, Any]) -> dict[str, Calibration]:
    """Calibration maps from the manifest's ``{label: {"x": [...], "y": [...]}}``."""
    try:
        return {
            str(label): Calibration(
                x=np.asarray(k["x"], dtype=np.float64), y=np.asarray(k["y"], dtype=np.float64)
            )
            for label, k in knots.items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(
            f"{MANIFEST}: the compiled model's calibration maps are malformed ({exc}); "
            f"{_retrain_hint()}"
        ) from exc


def _read_compiled(path: Path, sha256: str, manifest: dict[str, Any]) -> Arrays:
    """The compiled arrays of a bundle, checked against the manifest's labels.

    Read with NumPy alone: ``CompiledModel.from_arrays`` (which imports SciPy) checks their
    shapes when the batch model is first built; the single-comment path checks what it uses.
    """
    try:
        arrays = _CompiledArrays(path, sha256)
        fmt = int(arrays["format"][0]) if "format" in arrays else None
        if fmt != COMPILED_FORMAT:
            raise ValueError(f"compiled arrays have format {fmt}, this version reads 1")
        labels = [str(x) for x in arrays["labels"]] if "labels" in arrays else None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ModelLoadError(f"{path} cannot be read ({exc}); {_retrain_hint()}") from exc
    wanted = list(manifest.get("labels", []))
    if labels != wanted:
        raise ModelLoadError(
            f"{path} scores labels {labels} but {MANIFEST} lists {wanted}; {_retrain_hint()}"
        )
    return arrays


def _read_checked(path: Path, expected: str) -> bytes:
    """The bytes of a bundle file, checked again against its SHA-256 (the file may have changed
    since the bundle was loaded; the bytes checked are the bytes then read)."""
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    actual = "nothing (the file is missing)" if data is None else hashlib.sha256(data).hexdigest()
    if data is None or actual != expected:
        raise ModelLoadError(
            f"{path} does not match its SHA-256 in {MANIFEST} (expected {expected}, found "
            f"{actual}): the file was altered or damaged after the bundle was loaded; "
            f"{_retrain_hint()}"
        )
    return data


def _unpickle(path: Path, expected: str, format_version: int) -> dict[str, Any]:
    """Unpickle the pipeline file from bytes whose hash is checked again (the file may have
    changed since the bundle was loaded; the bytes checked are the bytes unpickled)."""
    data = _read_checked(path, expected)
    try:
        if format_version == 1:
            import io

            import joblib

            payload = joblib.load(io.BytesIO(data))
        else:
            payload = pickle.loads(zlib.decompress(data, wbits=31))
    except Exception as exc:  # unpickling can fail in many ways; all mean "unusable bundle"
        raise ModelLoadError(f"{path} cannot be unpickled ({exc!r}); {_retrain_hint()}") from exc
    from moderation.model import HostilityModel

    if not isinstance(payload, dict) or not isinstance(payload.get("hostility"), HostilityModel):
        raise ModelLoadError(
            f"{path} does not hold a HostilityModel and off-topic scorer; {_retrain_hint()}"
        )
    return payload


def default_bundle_path() -> Path:
    """Path of the default bundle, ``<repo root>/models/<DEFAULT_BUNDLE_NAME>``.

    Located relative to this file, so it works from a checkout or an editable install.

    Raises
    ------
    ModelLoadError
        If the directory is absent (e.g. a wheel install without the model).
    """
    path = Path(__file__).resolve().parent.parent / "models" / DEFAULT_BUNDLE_NAME
    if not path.is_dir():
        raise ModelLoadError(
            f"default model bundle not found at {path}. It ships in the repository's models/ "
            "directory: run from a checkout or an editable install (`pip install -e .`), pass "
            "a bundle directory explicitly, or train one with `moderation train`"
        )
    return path
