"""Score an export of any size: whole-thread chunks, worker processes, resumable, streamed.

`score_export` runs `Moderator.score` over an export in bounded memory and
gives exactly the output of one call over everything, in input order:

1. **Index.** The export is read once into a `moderation.threadindex.ThreadIndex`
   (SQLite) that plans chunks of whole threads (linked threads together); smaller
   chunks when it is too small to keep `LocalRunner`'s workers busy.
2. **Score.** Each chunk is scored by a *runner*: `LocalRunner` in this process
   or in worker processes (forked once the model is loaded on Linux, else each
   loading it once), or the Dask runner of `moderation.cluster`. A scored chunk
   is saved as an Arrow file in the state directory, moved into place only when
   complete. For CSV, TSV and JSON Lines output the scorer also formats the
   chunk's rows as the output will hold them (`moderation.tablewriter.format_rows`),
   so that work is shared by the workers.
3. **Merge.** The chunks are merged back into input order and streamed to the
   output through a `TableWriter` (temporary file, renamed at the end): by copying
   the formatted rows when every chunk has them, else from the Arrow files.
4. **Review list.** With `BatchJob.queue`, the escalated rows are listed as
   `moderation.review.build_queue` lists them without holding them in memory: their
   order is decided from a few numbers per row, and their full rows are spilled to
   rank-ordered files in the state directory and written from there (`_write_queue`).

The state directory sits next to the output (``.<name>.moderation/``) with a
``manifest.json`` tying it to the input (size, mtime, SHA-256), the model and
the rules. ``resume=True`` reuses its index and finished chunks; a finished
run deletes it. Nothing here prints: progress goes to a `Progress`-like object.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation import schema
from moderation.errors import InputError
from moderation.io import iter_export, read_articles, write_table
from moderation.moderator import Moderator
from moderation.review import ITEM_COMMENTS, ITEM_SIZE, build_queue
from moderation.rules import REVIEW_GROUP
from moderation.tablewriter import (
    FormattedRows,
    TableWriter,
    format_rows,
    line_end,
    write_format,
    write_rows,
)
from moderation.threadindex import AUTHOR_WIDE, ThreadIndex

__all__ = [
    "BatchJob",
    "BatchResult",
    "ChunkDone",
    "LocalRunner",
    "Plan",
    "Runner",
    "score_chunk",
    "score_export",
    "state_dir_for",
]

logger = logging.getLogger(__name__)

#: Comments per chunk by default: large enough for vectorised scoring, small in memory.
CHUNK_ROWS = 20_000
#: Rows per record batch in a chunk file, and per block when merging.
BATCH_ROWS = 2_048
MERGE_ROWS = 10_000
_POS = "__pos"
_QUEUE = "__queue"
_RANK = "__rank"
#: Review-list items per spill bucket (`_write_queue`): memory holds one bucket's full rows
#: while the list is written, however many rows are escalated.
QUEUE_BUCKET_ROWS = 10_000
#: Bucket files open at once at most; beyond QUEUE_BUCKET_ROWS x this many items, buckets grow.
QUEUE_MAX_BUCKETS = 256
_META = b"moderation"
_OBJECTS = b"moderation.object_columns"
#: Input position of the first row of each record batch: the merge reads a batch only once the
#: output has reached it, so memory holds the batches of the current window, not one per chunk.
_FIRSTS = b"moderation.batch_first_positions"
#: How the chunk's rows were formatted beside it (kind, line end, header, first position).
_TEXT = b"moderation.text"
#: Output kinds whose rows the scorers format (Parquet is written from the Arrow files).
TEXT_KINDS = ("csv", "tsv", "jsonl")
_MANIFEST_VERSION = 1
_DUPLICATE = re.compile(r"duplicate comment_id ")


class ProgressLike(Protocol):
    """What `score_export` reports progress to (`moderation.progress.Progress` fits)."""

    def start(self, label: str, total: int | None = None, done: int = 0) -> None: ...
    def update(self, done: int) -> None: ...
    def finish(self) -> None: ...


@dataclass(frozen=True)
class BatchJob:
    """What to score and where: the options of ``moderation score`` as a value.

    Attributes
    ----------
    export : str
        A local path or an fsspec URL (``s3://…``, ``memory://…``) of any export format.
    output : str
        Output file (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``, gzipped CSV/JSONL), or ``-``.
    articles : str, optional
        Articles file for off-topic scoring (a path or fsspec URL).
    format, columns, article_columns
        As `moderation.io.read_export` / `read_articles`.
    model, rules : Path, optional
        Model bundle and rules file (default: bundled).
    chunk_rows : int
        Comments per chunk (linked threads may make a chunk larger).
    resume : bool
        Continue from the state directory of an interrupted run with the same inputs.
    queue : str, optional
        Also write the review list (`moderation.review.build_queue` of the scored export)
        to this ``.csv`` / ``.jsonl`` / ``.parquet`` file, streamed (`_write_queue`).
    """

    export: str
    output: str
    articles: str | None = None
    format: str | None = None
    columns: Mapping[str, str] | None = None
    article_columns: Mapping[str, str] | None = None
    model: Path | None = None
    rules: Path | None = None
    chunk_rows: int = CHUNK_ROWS
    resume: bool = False
    queue: str | None = None


@dataclass(frozen=True)
class ChunkDone:
    """A finished chunk: how many rows, its actions, rows with problems, and "\\r" in any cell."""

    number: int
    rows: int
    actions: dict[str, int]
    problems: int
    carriage_return: bool


@dataclass
class BatchResult:
    """What a run scored: counts for the summary and the rows the review queue needs.

    ``queue_rows`` holds, in input order, every escalated row plus the rows its queue
    item looks up (its parent, repeated ids), so `moderation.review.build_queue` and
    `ReviewQueue.add` give what they give on the whole scored export.
    """

    rows: int
    actions: dict[str, int]
    problems: int
    chunks: int
    reused: int
    queue_rows: pd.DataFrame = field(repr=False)
    #: ``thread_id`` and ``title`` of the articles the queue rows were scored against (the
    #: files' or a platform export's posts), for the review queue; None without articles.
    articles: pd.DataFrame | None = field(default=None, repr=False)
    #: Items written to `BatchJob.queue` (None when the job writes no review list).
    queue_items: int | None = None


@dataclass
class Plan:
    """A prepared run, handed to a runner: the index, the state directory and the scorer."""

    job: BatchJob
    index: ThreadIndex
    state: Path
    history: pd.DataFrame | None
    moderator: Moderator
    #: The output's kind when the scorers format rows for it (`TEXT_KINDS`), else None.
    text: str | None = None

    def chunk_path(self, number: int) -> Path:
        return self.state / "chunks" / f"{number:06d}.arrow"


def text_kind(output: str) -> str | None:
    """The kind of rows to format while scoring for `output` (None: Parquet)."""
    kind = "csv" if output == "-" else write_format(output)
    return kind if kind in TEXT_KINDS else None


def _text_paths(chunk: Path) -> tuple[Path, Path]:
    """A chunk's formatted rows, and its (position, end offset) pairs as int64."""
    return chunk.with_suffix(".rows"), chunk.with_suffix(".ends")


class Runner(Protocol):
    """Scores the `pending` chunks of a plan, calling `done` as each one is saved."""

    def __call__(
        self, plan: Plan, pending: Sequence[int], done: Callable[[ChunkDone], None]
    ) -> None: ...


# --- scoring one chunk -----------------------------------------------------------------------


def score_chunk(
    moderator: Moderator,
    comments: pd.DataFrame,
    positions: npt.NDArray[np.int64],
    articles: pd.DataFrame | None,
    history: pd.DataFrame | None,
) -> pd.DataFrame:
    """`Moderator.score` on one chunk, stated as in the whole export.

    Row numbers in problems (``duplicate comment_id 'x' (first at row 3)``) count
    from the start of the chunk; they are rewritten to count from the start of the
    export (`positions` are the rows' positions there).
    """
    scored = moderator.score(comments, articles, author_history=history)
    problems = scored[schema.PROBLEMS]
    touched = problems.str.contains(_DUPLICATE, regex=True).to_numpy(dtype=bool)
    if touched.any():
        ids = comments[schema.COMMENT_ID].astype(str).to_numpy(dtype=object)
        first = pd.Series(np.arange(len(ids))).groupby(ids).transform("min").to_numpy()
        fixed = problems.to_numpy(dtype=object).copy()
        for i in np.flatnonzero(touched).tolist():
            local = f"(first at row {first[i] + 1})"
            whole = f"(first at row {positions[first[i]] + 1})"
            fixed[i] = str(fixed[i]).replace(local, whole, 1)
        scored[schema.PROBLEMS] = pd.array(fixed, dtype="str")
    return scored


def _queue_mask(scored: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Escalated rows and the rows their queue items look up (same thread and id or parent)."""
    escalated = (scored[schema.ACTION] != schema.Action.ALLOW.value).to_numpy(dtype=bool)
    if not escalated.any():
        return escalated
    threads = (
        scored[schema.THREAD_ID].astype(str)
        if schema.THREAD_ID in scored.columns
        else pd.Series("", index=scored.index)
    ).to_numpy(dtype=object)
    ids = scored[schema.COMMENT_ID].astype(str).to_numpy(dtype=object)
    wanted = set(zip(threads[escalated], ids[escalated], strict=True))
    if schema.PARENT_ID in scored.columns:
        parents = scored[schema.PARENT_ID].astype(str).to_numpy(dtype=object)
        wanted |= set(zip(threads[escalated], parents[escalated], strict=True))
    keys = zip(threads, ids, strict=True)
    looked_up = np.fromiter((k in wanted for k in keys), dtype=bool, count=len(ids))
    return np.asarray(escalated | looked_up, dtype=bool)


def save_chunk(
    path: Path,
    number: int,
    scored: pd.DataFrame,
    positions: npt.NDArray[np.int64],
    text: str | None = None,
) -> ChunkDone:
    """Write a scored chunk as an Arrow file, atomically, and summarise it.

    With `text` (``csv``, ``tsv`` or ``jsonl``) its rows are also formatted as that
    output will hold them, beside the Arrow file, which is written last: a chunk
    whose Arrow file exists is complete.
    """
    import pyarrow as pa

    actions = {str(k): int(v) for k, v in scored[schema.ACTION].value_counts().items()}
    done = ChunkDone(
        number,
        len(scored),
        actions,
        int((scored[schema.PROBLEMS] != "").sum()),
        line_end(scored) == "\r\n",
    )
    table = pa.Table.from_pandas(scored, preserve_index=False)
    table = table.append_column(_POS, pa.array(positions, type=pa.int64()))
    table = table.append_column(_QUEUE, pa.array(_queue_mask(scored), type=pa.bool_()))
    meta = dict(table.schema.metadata or {})
    meta[_META] = json.dumps(asdict(done)).encode()
    # Arrow reads text back as ``str``; remember which columns were plain objects.
    objects = [str(c) for c, t in scored.dtypes.items() if t is np.dtype(object)]
    meta[_OBJECTS] = json.dumps(objects).encode()
    firsts = [b.column(_POS)[0].as_py() for b in table.to_batches(max_chunksize=BATCH_ROWS)]
    meta[_FIRSTS] = json.dumps(firsts).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None and len(scored):
        formatted = _format_chunk(scored, text, "\r\n" if done.carriage_return else "\n")
        if formatted is not None:
            _save_rows(path, formatted, positions)
            meta[_TEXT] = json.dumps(
                {
                    "kind": formatted.kind,
                    "newline": formatted.newline,
                    "header": formatted.header.decode("utf-8"),
                    "first": int(positions[0]),
                }
            ).encode()
    table = table.replace_schema_metadata(meta)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)
    os.replace(temporary, path)
    return done


def _format_chunk(scored: pd.DataFrame, kind: str, newline: str) -> FormattedRows | None:
    """The chunk's rows as the output holds them; None leaves them to the merge (which then
    reports what cannot be written, as it always did)."""
    try:
        return format_rows(scored, kind, newline=newline)
    except (ValueError, TypeError, NotImplementedError):  # UnicodeEncodeError is a ValueError
        return None


def _save_rows(path: Path, formatted: FormattedRows, positions: npt.NDArray[np.int64]) -> None:
    """Write a chunk's formatted rows and their (position, end) pairs, each atomically."""
    rows, ends = _text_paths(path)
    pairs = np.stack([np.asarray(positions, dtype=np.int64), formatted.ends], axis=1)
    for target, data in ((rows, formatted.body), (ends, pairs.astype("<i8").tobytes())):
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)


def _chunk_summary(path: Path) -> ChunkDone | None:
    """The summary saved in a chunk file, or None if the file is not a finished chunk."""
    import pyarrow as pa

    try:
        with pa.OSFile(str(path)) as source:
            meta = pa.ipc.open_file(source).schema.metadata or {}
        return ChunkDone(**json.loads(meta[_META]))
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowInvalid):
        return None


# --- runners ---------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}
#: An export smaller than this many comments per wanted chunk is not re-planned for workers:
#: each `Moderator.score` call has a fixed cost (~0.2 s), more than tiny chunks would save.
SPLIT_MIN_ROWS = 1_000


def _start_method() -> str:
    """``fork`` on Linux (workers share the parent's loaded model), ``spawn`` elsewhere.

    A forked worker needs no start-up: the model, rules and lazily read parts are
    already in memory. macOS offers ``fork`` but its system libraries are not safe
    to use after it, and Windows has only ``spawn``; there each worker loads its own.
    """
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _one_thread_each() -> None:
    """Keep each worker's OpenMP and BLAS to one thread.

    The workers already use the cores; and a forked child must not use a GNU OpenMP
    thread pool its parent started (the off-topic classifier's), which would hang it.
    """
    os.environ["OMP_NUM_THREADS"] = "1"  # for libraries a spawned worker loads later
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return
    threadpool_limits(1)  # for the libraries already loaded (inherited by a fork)


def _die_with_parent() -> None:
    """Ask Linux to end this worker when the process that started it dies.

    A forked worker inherits both ends of its task pipes, so it never sees them close:
    if `moderation score` is killed (Ctrl-C, SIGTERM, a crash), its workers would wait
    for work forever. ``prctl(PR_SET_PDEATHSIG)`` makes the kernel send them SIGTERM.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _start_worker(
    model: Moderator | tuple[Path | None, Path | None],
    index: Path,
    history: pd.DataFrame | None,
    text: str | None = None,
) -> None:
    """Worker initializer: the parent's loaded `Moderator` when forked (inherited, not
    pickled), or the bundle and rules paths to load once in a spawned worker."""
    _die_with_parent()
    _one_thread_each()
    if isinstance(model, Moderator):
        moderator = model
    else:
        moderator = Moderator.load(model[0], rules=model[1])
        moderator.bundle.off_topic  # noqa: B018 - read the pipeline now, not in a chunk
    _WORKER["moderator"] = moderator
    _WORKER["index"] = ThreadIndex.open(index)
    _WORKER["history"] = history
    _WORKER["text"] = text


def _work(number: int, target: str) -> ChunkDone:
    """Score chunk `number` in a worker and save it to `target`."""
    index: ThreadIndex = _WORKER["index"]
    comments, positions = index.chunk(number)
    scored = score_chunk(
        _WORKER["moderator"], comments, positions, index.articles(number), _WORKER["history"]
    )
    return save_chunk(Path(target), number, scored, positions, _WORKER.get("text"))


def _score_here(plan: Plan, number: int) -> ChunkDone:
    comments, positions = plan.index.chunk(number)
    scored = score_chunk(
        plan.moderator, comments, positions, plan.index.articles(number), plan.history
    )
    return save_chunk(plan.chunk_path(number), number, scored, positions, plan.text)


@dataclass(frozen=True)
class LocalRunner:
    """Score chunks here (``workers=1``) or in `workers` processes.

    On Linux the workers are forked from this process after the model is fully
    loaded, so they start at once and share its memory; elsewhere they are
    spawned and each loads the model once (`start_method` overrides the choice).
    Chunks are handed out a few at a time (two per worker in flight), so memory
    holds a bounded number of chunks whatever the export's size. `score_export`
    plans at least `chunks_wanted` chunks when the export is large enough, so a
    small export still keeps every worker busy.
    """

    workers: int = 1
    start_method: str | None = None

    @property
    def chunks_wanted(self) -> int:
        """Chunks worth planning: one per worker, of equal scoring weight (`ThreadIndex.build`).

        Not more: each `Moderator.score` call repeats work that one call over more rows
        shares (10,000 bench comments in 2 or 4 calls took 0.2-0.3 CPU s more per extra
        call than in one, at a load of 7 on the 2-core machine), and chunks balanced on
        their text leave no worker much to wait for (the four chunks of the 20,000-comment
        bench export took 1.89-2.02 CPU s each, against 1.5-2.2 s when planned by rows).
        """
        return self.workers

    def __call__(
        self, plan: Plan, pending: Sequence[int], done: Callable[[ChunkDone], None]
    ) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.workers == 1 or len(pending) <= 1:
            for number in pending:
                done(_score_here(plan, number))
            return
        method = self.start_method or _start_method()
        context = multiprocessing.get_context(method)
        source: Moderator | tuple[Path | None, Path | None] = (plan.job.model, plan.job.rules)
        with contextlib.ExitStack() as stack:
            if method == "fork":
                # Read the lazily loaded pipeline once, here: every forked worker then has it.
                plan.moderator.bundle.off_topic  # noqa: B018
                source = plan.moderator
                stack.enter_context(_frozen_heap())
            self._run(plan, pending, done, context, source)

    def _run(
        self,
        plan: Plan,
        pending: Sequence[int],
        done: Callable[[ChunkDone], None],
        context: Any,
        source: Moderator | tuple[Path | None, Path | None],
    ) -> None:
        with ProcessPoolExecutor(
            min(self.workers, len(pending)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(source, plan.index.path, plan.history, plan.text),
        ) as pool:
            queue = list(pending)
            running: set[Future[ChunkDone]] = set()
            try:
                while queue or running:
                    while queue and len(running) < 2 * self.workers:
                        number = queue.pop(0)
                        running.add(pool.submit(_work, number, str(plan.chunk_path(number))))
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        done(future.result())
            except BaseException:
                for future in running:
                    future.cancel()
                raise


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Move this process's objects out of the garbage collector's reach while workers fork.

    A forked worker's collections would otherwise walk the inherited model (~140k
    objects), writing to their pages and so copying them: ~0.4 CPU s and ~0.2 s of wall
    time of a 7 s two-worker run on the 20k bench export (`gc.freeze`, as the Python docs
    advise before a fork). No collection first: it took 0.08 s of the parent's serial
    time, and garbage frozen with the heap is collected once the workers are done, when
    the parent's objects are collectable again.
    """
    ours = gc.get_freeze_count() == 0  # a caller freezing its own objects keeps them frozen
    gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()


# --- state directory -------------------------------------------------------------------------


def state_dir_for(output: str) -> Path:
    """The state directory of a run writing `output`: ``.<name>.moderation`` next to it."""
    target = Path(output)
    return target.with_name(f".{target.name}.moderation")


def _is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(location: str, local: Path) -> dict[str, Any]:
    stat = local.stat()
    return {
        "location": location,
        "size": stat.st_size,
        "mtime_ns": None if _is_url(location) else stat.st_mtime_ns,
        "sha256": _sha256(local),
    }


def _fetch(location: str, state: Path, name: str) -> Path:
    """A local file for `location`: itself, or a copy of an fsspec URL in the state directory."""
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    if not _is_url(location):
        return Path(location)
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - fsspec comes with the dask extra
        raise InputError(f"{location}: reading URLs needs fsspec (pip install fsspec)") from exc
    suffixes = "".join(Path(location.split("?", 1)[0]).suffixes[-2:])
    local = state / f"{name}{suffixes}"
    try:
        with fsspec.open(location, "rb") as source, local.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    except (OSError, ValueError, ImportError) as exc:
        raise InputError(f"{location}: cannot read: {exc}") from exc
    return local


def _rules_digest(rules: Path | None) -> str:
    if rules is None:
        text = resources.files("moderation").joinpath("defaults/rules.yaml").read_bytes()
        return hashlib.sha256(text).hexdigest()
    return _sha256(rules)


def _manifest(job: BatchJob, moderator: Moderator, inputs: dict[str, Any]) -> dict[str, Any]:
    bundle_manifest = moderator.bundle.path / "manifest.json"
    return {
        "version": _MANIFEST_VERSION,
        **inputs,
        "model": _sha256(bundle_manifest) if bundle_manifest.is_file() else None,
        "rules": _rules_digest(job.rules),
        "options": {
            "format": job.format,
            "columns": dict(job.columns or {}),
            "article_columns": dict(job.article_columns or {}),
            "chunk_rows": job.chunk_rows,
        },
    }


def _differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    names = {"input": "export", "articles": "articles file", "model": "model"}
    names |= {"rules": "rules", "options": "options", "version": "state format"}
    return [names.get(k, k) for k in wanted if saved.get(k) != wanted[k]]


# --- the run ---------------------------------------------------------------------------------


def score_export(
    job: BatchJob,
    *,
    runner: Runner | None = None,
    moderator: Moderator | None = None,
    history: pd.DataFrame | None = None,
    progress: ProgressLike | None = None,
    keep_queue_rows: bool = True,
) -> BatchResult:
    """Score `job.export` into `job.output` chunk by chunk; see the module notes.

    Parameters
    ----------
    job
        What to score and where.
    runner
        Who scores the chunks (default: `LocalRunner()`, this process).
    moderator
        The loaded model and rules (default: loaded from `job.model` / `job.rules`).
        Forked workers (Linux) use this one; spawned workers and Dask load their
        own from the job, so pass the same ones.
    history
        Authors' review-queue history (`ReviewQueue.author_history`); a resumed
        run uses the history saved when it started.
    progress
        Told about reading and scoring; nothing is printed here.
    keep_queue_rows
        Gather `BatchResult.queue_rows` in memory, all columns of every escalated row
        (what `ReviewQueue.add` needs; memory grows with them); False leaves it empty.
        A review list file (`BatchJob.queue`) needs neither: it is streamed.

    Raises
    ------
    InputError
        As `moderation.io.read_export`, or when `resume` finds the state of a run
        on another export, model, rules or options.
    OutputError
        As `moderation.io.write_table`.
    """
    runner = runner or LocalRunner()
    moderator = moderator or Moderator.load(job.model, rules=job.rules)
    to_stdout = job.output == "-"
    if to_stdout and job.resume:
        raise InputError("--resume needs an output file: a run writing to stdout keeps no state")
    if not to_stdout:
        TableWriter(job.output)  # checks the extension and directory before any work
    if job.queue is not None:
        TableWriter(job.queue)
    with _state(job) as state:
        inputs_dir = state / "inputs"
        inputs_dir.mkdir(parents=True, exist_ok=True)
        export = _fetch(job.export, inputs_dir, "export")
        articles = _fetch(job.articles, inputs_dir, "articles") if job.articles else None
        for location, local in ((job.export, export), (job.articles, articles)):
            if location and local is not None and not local.is_file():
                what = "not a file" if local.exists() else "file not found"
                raise InputError(f"{location}: {what}")
        inputs = {
            "input": _fingerprint(job.export, export),
            "articles": _fingerprint(job.articles, articles) if job.articles and articles else None,
        }
        manifest = _manifest(job, moderator, inputs)
        history = _prepare_state(state, job, manifest, history)
        index = ThreadIndex.open(state / "index.sqlite") if job.resume else None
        if index is None:
            _clear_chunks(state)
            began = time.perf_counter()
            # Too few chunks to keep the workers busy get smaller ones, planned from the same
            # read (the rows per chunk given as an option stay the manifest's; a resume
            # reuses this plan).
            wanted = runner.chunks_wanted if isinstance(runner, LocalRunner) else 1
            index = _build_index(job, state, export, articles, moderator, progress, wanted)
            logger.debug(
                "indexed %d comments in %d chunks in %.1f s",
                index.rows,
                index.chunks,
                time.perf_counter() - began,
            )
        plan = Plan(job, index, state, history, moderator, text_kind(job.output))
        finished: dict[int, ChunkDone] = {}
        for number in range(index.chunks):
            found = _chunk_summary(plan.chunk_path(number))
            if found is not None:
                finished[number] = found
        reused = len(finished)
        pending = [n for n in range(index.chunks) if n not in finished]
        if reused:
            logger.info("resuming: %d of %d chunks already scored", reused, index.chunks)

        scored_rows = sum(d.rows for d in finished.values())
        if progress is not None:
            progress.start("scoring", index.rows, scored_rows)

        def done(chunk: ChunkDone) -> None:
            nonlocal scored_rows
            finished[chunk.number] = chunk
            scored_rows += chunk.rows
            if progress is not None:
                progress.update(scored_rows)

        try:
            began = time.perf_counter()
            runner(plan, pending, done)
            logger.debug("scored %d chunks in %.1f s", len(pending), time.perf_counter() - began)
        finally:
            if progress is not None:
                progress.finish()
        summaries = [finished[n] for n in range(index.chunks)]
        began = time.perf_counter()
        queue_rows = _merge(plan, summaries, moderator, to_stdout, keep_queue_rows)
        logger.debug("merged into %s in %.1f s", job.output, time.perf_counter() - began)
        queue_items = None
        if job.queue is not None:
            began = time.perf_counter()
            queue_items = _write_queue(plan, len(summaries), moderator, job.queue)
            logger.debug("wrote the review list in %.1f s", time.perf_counter() - began)
        actions: dict[str, int] = {}
        for summary in summaries:
            for action, count in summary.actions.items():
                actions[action] = actions.get(action, 0) + count
        result = BatchResult(
            rows=index.rows,
            actions=actions,
            problems=sum(s.problems for s in summaries),
            chunks=index.chunks,
            reused=reused,
            queue_rows=queue_rows,
            articles=_queue_articles(index, queue_rows) if keep_queue_rows else None,
            queue_items=queue_items,
        )
    return result


def _queue_articles(index: ThreadIndex, queue_rows: pd.DataFrame) -> pd.DataFrame | None:
    """``thread_id`` and ``title`` of the articles of the queue rows' threads.

    The lone article of an export is kept whatever the rows' thread ids, because comments
    without a thread id are scored against it (as `moderation.thread.attach_context` does).
    """
    articles = index.articles()
    if articles is None or not {schema.THREAD_ID, schema.TITLE} <= set(articles.columns):
        return None
    articles = articles[[schema.THREAD_ID, schema.TITLE]]
    if len(articles) <= 1 or schema.THREAD_ID not in queue_rows.columns:
        return articles.reset_index(drop=True)
    threads = set(queue_rows[schema.THREAD_ID].astype(str))
    return articles[articles[schema.THREAD_ID].isin(threads)].reset_index(drop=True)


@contextlib.contextmanager
def _state(job: BatchJob) -> Iterator[Path]:
    """The run's state directory; removed when the run succeeds, kept for --resume otherwise."""
    if job.output == "-":
        state = Path(tempfile.mkdtemp(prefix="moderation-"))
        try:
            yield state
        finally:
            shutil.rmtree(state, ignore_errors=True)
        return
    state = state_dir_for(job.output)
    if not job.resume and state.exists():
        shutil.rmtree(state)
    existed = state.exists()
    state.mkdir(exist_ok=True)
    try:
        yield state
    except BaseException:
        # Keep what a --resume can use: an earlier run's state, or a finished index.
        if not existed and ThreadIndex.open(state / "index.sqlite") is None:
            shutil.rmtree(state, ignore_errors=True)
        raise
    shutil.rmtree(state, ignore_errors=True)


def _prepare_state(
    state: Path, job: BatchJob, manifest: dict[str, Any], history: pd.DataFrame | None
) -> pd.DataFrame | None:
    """Check (on resume) or write the manifest; return the author history to score with."""
    path = state / "manifest.json"
    saved_history = state / "history.json"
    if job.resume and path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        differ = _differences(saved, manifest)
        if differ:
            raise InputError(
                f"--resume: the interrupted run in {state} was started with another "
                f"{' / '.join(differ)}; run without --resume to start again"
            )
        if saved_history.is_file():
            return pd.read_json(saved_history, orient="table")
        return history
    if job.resume:
        logger.info("--resume: no interrupted run in %s; starting from the beginning", state)
    _clear_chunks(state)
    (state / "index.sqlite").unlink(missing_ok=True)
    if history is not None:
        history.to_json(saved_history, orient="table", index=False)
    path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return history


def _clear_chunks(state: Path) -> None:
    shutil.rmtree(state / "chunks", ignore_errors=True)


def _build_index(
    job: BatchJob,
    state: Path,
    export: Path,
    articles: Path | None,
    moderator: Moderator,
    progress: ProgressLike | None,
    min_chunks: int = 1,
) -> ThreadIndex:
    article_frame = read_articles(articles, columns=job.article_columns) if articles else None
    chunks = iter_export(
        export, format=job.format, columns=job.columns, chunk_rows=min(job.chunk_rows, 10_000)
    )
    link_authors = any(column in AUTHOR_WIDE for column in moderator.rules.columns())
    if progress is not None:
        progress.start("reading")
    try:
        return ThreadIndex.build(
            state / "index.sqlite",
            ((chunk.comments, chunk.articles) for chunk in chunks),
            articles=article_frame,
            chunk_rows=job.chunk_rows,
            link_authors=link_authors,
            progress=progress.update if progress is not None else None,
            min_chunks=min_chunks,
            min_chunk_rows=SPLIT_MIN_ROWS,
        )
    finally:
        if progress is not None:
            progress.finish()


# --- merging ---------------------------------------------------------------------------------


class _ChunkReader:
    """Reads a chunk file batch by batch; hands out its rows below a position."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        # Read, not memory-mapped: mapped pages of every chunk file would count as resident.
        self.source = pa.OSFile(str(path))
        self.file = pa.ipc.open_file(self.source)
        self.next_batch = 0
        self.buffer: Any = None  # a pyarrow Table of pending rows
        found = (self.file.schema.metadata or {}).get(_FIRSTS)
        # Chunk files written before the positions were recorded: read batches as they come.
        firsts = json.loads(found) if found else None
        self.firsts: list[int] | None = (
            firsts if firsts is not None and len(firsts) == self.file.num_record_batches else None
        )
        self.batches_read = 0

    def take_below(self, end: int) -> Any:
        """All rows with a position below `end` (they come first: a chunk is in input order)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        pieces = []
        while True:
            if self.buffer is None or self.buffer.num_rows == 0:
                self.buffer = None
                if self.next_batch >= self.file.num_record_batches:
                    break
                if self.firsts is not None and self.firsts[self.next_batch] >= end:
                    break  # the next batch starts beyond this window: leave it on disk
                batch = self.file.get_batch(self.next_batch)
                self.next_batch += 1
                self.batches_read += 1
                self.buffer = pa.Table.from_batches([batch])
            positions = self.buffer.column(_POS)
            count = int(pc.sum(pc.less(positions, end)).as_py() or 0)
            pieces.append(self.buffer.slice(0, count))
            self.buffer = self.buffer.slice(count)
            if self.buffer.num_rows:
                break
        return pieces

    def close(self) -> None:
        self.source.close()


def _merge(
    plan: Plan, summaries: list[ChunkDone], moderator: Moderator, to_stdout: bool, keep: bool
) -> pd.DataFrame:
    """Stream the chunks into the output in input order; return the queue's rows.

    When every chunk's rows were formatted for this output (`save_chunk` with a text
    kind), writing is copying their bytes in input order; otherwise (Parquet, chunks
    of an earlier version or of a Dask run, chunks whose columns differ in type) the
    Arrow files are read back and written as frames.
    """
    texts = _formatted_chunks(plan, summaries)
    if texts is None:
        logger.debug("merging %d chunks from their Arrow files", len(summaries))
        return _merge_tables(plan, summaries, moderator, to_stdout, keep)
    logger.debug("merging %d chunks by copying their formatted rows", len(summaries))
    newline = "\r\n" if any(s.carriage_return for s in summaries) else "\n"
    with contextlib.ExitStack() as stack:
        writer: TableWriter | None = None
        if not to_stdout:
            writer = stack.enter_context(TableWriter(plan.job.output, newline=newline))
        sink = writer.write_formatted if writer is not None else _stdout_sink
        _copy_rows(texts, plan.index.rows, newline, sink)
        if to_stdout:
            sys.stdout.buffer.flush()
    schema_ = texts[0].schema
    if keep:
        found = _queue_rows(plan, len(summaries))
        if len(found):
            return found
        return _empty_output(plan, moderator)
    return pd.DataFrame(columns=[n for n in schema_.names if n not in (_POS, _QUEUE)])


def _stdout_sink(data: bytes, rows: int) -> None:
    sys.stdout.buffer.write(data)


@dataclass
class _Formatted:
    """A chunk whose rows were formatted by its scorer: what its Arrow file says of them."""

    rows_path: Path
    ends_path: Path
    rows: int
    kind: str
    newline: str
    header: str
    first: int
    schema: Any  # pyarrow.Schema, without metadata


def _formatted_chunks(plan: Plan, summaries: list[ChunkDone]) -> list[_Formatted] | None:
    """The chunks' formatted rows if every chunk has them for this output, else None.

    Also None when the chunks' columns differ in type: the frames path then casts them
    to one schema, as one table would have.
    """
    import pyarrow as pa

    if plan.text is None or not summaries or plan.index.rows == 0:
        return None
    found: list[_Formatted] = []
    for number, summary in enumerate(summaries):
        path = plan.chunk_path(number)
        rows_path, ends_path = _text_paths(path)
        try:
            with pa.OSFile(str(path)) as source:
                schema_ = pa.ipc.open_file(source).schema
            meta = json.loads((schema_.metadata or {})[_TEXT])
            size = ends_path.stat().st_size
            last = np.fromfile(ends_path, dtype="<i8", count=1, offset=size - 8) if size else None
            complete = (
                size == 16 * summary.rows
                and last is not None
                and int(last[0]) == rows_path.stat().st_size
            )
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowInvalid):
            return None
        entry = _Formatted(
            rows_path,
            ends_path,
            summary.rows,
            str(meta.get("kind")),
            str(meta.get("newline")),
            str(meta.get("header")),
            int(meta.get("first", 0)),
            schema_.remove_metadata(),
        )
        if not complete or entry.kind != plan.text or entry.newline not in ("\n", "\r\n"):
            return None
        if found and (entry.header != found[0].header or not entry.schema.equals(found[0].schema)):
            return None
        if "\r" in entry.header or "\n" in entry.header:
            return None  # a header needing quotes could differ with another line end
        found.append(entry)
    return found


class _RowsReader:
    """A chunk's formatted rows, handed out in input order below a position."""

    def __init__(self, chunk: _Formatted, crlf: bool) -> None:
        self.chunk = chunk
        self.crlf = crlf  # rows end in "\n" but the file's rows end in "\r\n"
        self.source = chunk.rows_path.open("rb")
        self.pairs = np.zeros((0, 2), dtype=np.int64)  # read, not yet handed out
        self.read = 0  # pairs read from the ends file
        self.offset = 0  # bytes handed out from the rows file

    @property
    def done(self) -> bool:
        return self.read >= self.chunk.rows and not len(self.pairs)

    def take_below(self, end: int) -> tuple[npt.NDArray[np.int64], bytes, npt.NDArray[np.int64]]:
        """Positions, bytes and row ends (in those bytes) of its next rows before `end`."""
        while self.read < self.chunk.rows and (not len(self.pairs) or self.pairs[-1, 0] < end):
            count = min(MERGE_ROWS, self.chunk.rows - self.read)
            more = np.fromfile(
                self.chunk.ends_path, dtype="<i8", count=2 * count, offset=16 * self.read
            ).reshape(-1, 2)
            self.pairs = np.concatenate([self.pairs, more.astype(np.int64)])
            self.read += count
        taken = int(np.searchsorted(self.pairs[:, 0], end))
        positions, ends = self.pairs[:taken, 0], self.pairs[:taken, 1] - self.offset
        self.pairs = self.pairs[taken:]
        data = self.source.read(int(ends[-1])) if taken else b""
        self.offset += len(data)
        if self.crlf and taken:
            data, ends = _crlf(data, ends)
        return positions, data, ends

    def close(self) -> None:
        self.source.close()


def _crlf(data: bytes, ends: npt.NDArray[np.int64]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """Rows ended by "\n" ended by "\r\n" instead (only the rows' own line ends)."""
    starts = np.concatenate([[0], ends[:-1]])
    view = memoryview(data)
    out = b"\r\n".join(view[a : b - 1] for a, b in zip(starts.tolist(), ends.tolist(), strict=True))
    return out + b"\r\n", ends + np.arange(1, len(ends) + 1, dtype=np.int64)


def _copy_rows(
    chunks: list[_Formatted], rows: int, newline: str, sink: Callable[[bytes, int], None]
) -> None:
    """Write the header, then every chunk's rows in input order, a window at a time.

    Chunks are opened when the output reaches their first row and closed when done, so
    memory holds the rows of one window of positions. Rows of one chunk that follow each
    other in the output are copied as one block.
    """
    kind = chunks[0].kind
    if kind != "jsonl":
        sink((chunks[0].header + newline).encode("utf-8"), 0)
    waiting = sorted(range(len(chunks)), key=lambda n: chunks[n].first)
    active: list[_RowsReader] = []
    try:
        for start in range(0, max(rows, 1), MERGE_ROWS):
            end = start + MERGE_ROWS
            while waiting and chunks[waiting[0]].first < end:
                chunk = chunks[waiting.pop(0)]
                crlf = kind != "jsonl" and newline == "\r\n" and chunk.newline == "\n"
                active.append(_RowsReader(chunk, crlf))
            parts = [reader.take_below(end) for reader in active]
            parts = [part for part in parts if len(part[0])]
            if len(parts) == 1:
                sink(parts[0][1], len(parts[0][0]))
            elif parts:
                sink(_interleave(parts), sum(len(p[0]) for p in parts))
            for reader in [r for r in active if r.done]:
                reader.close()
                active.remove(reader)
    finally:
        for reader in active:
            reader.close()


def _interleave(
    parts: list[tuple[npt.NDArray[np.int64], bytes, npt.NDArray[np.int64]]],
) -> bytes:
    """The rows of several chunks in order of position: runs of one chunk copied whole."""
    positions = np.concatenate([p[0] for p in parts])
    source = np.concatenate([np.full(len(p[0]), i, dtype=np.int64) for i, p in enumerate(parts)])
    row = np.concatenate([np.arange(len(p[0]), dtype=np.int64) for p in parts])
    order = np.argsort(positions, kind="stable")
    source, row = source[order], row[order]
    cuts = np.flatnonzero(np.diff(source)) + 1
    starts = np.concatenate([[0], cuts]).tolist()
    stops = np.concatenate([cuts, [len(source)]]).tolist()
    views = [memoryview(p[1]) for p in parts]
    pieces = []
    for a, b in zip(starts, stops, strict=True):
        i = int(source[a])
        first, last = int(row[a]), int(row[b - 1])
        ends = parts[i][2]
        pieces.append(views[i][int(ends[first - 1]) if first else 0 : int(ends[last])])
    return b"".join(pieces)


def _queue_rows(plan: Plan, chunks: int) -> pd.DataFrame:
    """The rows the review queue needs (`_queue_mask`), from the Arrow files, in input order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pieces = []
    objects: list[str] = []
    for number in range(chunks):
        with pa.OSFile(str(plan.chunk_path(number))) as source:
            file = pa.ipc.open_file(source)
            if number == 0:
                objects = json.loads((file.schema.metadata or {}).get(_OBJECTS, b"[]"))
            for i in range(file.num_record_batches):
                batch = file.get_batch(i)
                kept = batch.filter(batch.column(_QUEUE))
                if kept.num_rows:
                    pieces.append(pa.Table.from_batches([kept]))
    if not pieces:
        return pd.DataFrame()
    table = pa.concat_tables(pieces)
    table = table.take(pc.sort_indices(table, [(_POS, "ascending")]))
    frame: pd.DataFrame = table.to_pandas().drop(columns=[_POS, _QUEUE])
    for column in objects:
        frame[column] = frame[column].astype(object)
    return frame


def _unified_schema(schemas: Sequence[Any]) -> tuple[Any, list[str]]:
    """One schema every chunk casts to (a column typed null in one chunk takes another's
    type), with the first chunk's metadata, and the columns that were object in pandas."""
    import pyarrow as pa

    if not schemas:
        return None, []
    unified = pa.unify_schemas(list(schemas), promote_options="permissive")
    objects: list[str] = json.loads((schemas[0].metadata or {}).get(_OBJECTS, b"[]"))
    return unified.with_metadata(schemas[0].metadata), objects


def _chunk_schema(paths: Sequence[Path]) -> tuple[Any, list[str]]:
    """`_unified_schema` of the chunk files at `paths`."""
    import pyarrow as pa

    schemas = []
    for path in paths:
        with pa.OSFile(str(path)) as source:
            schemas.append(pa.ipc.open_file(source).schema)
    return _unified_schema(schemas)


def _chunk_batches(paths: Sequence[Path], unified: Any) -> Iterator[Any]:
    """Every record batch of the chunk files as a table of the unified schema, in file order."""
    import pyarrow as pa

    for path in paths:
        with pa.OSFile(str(path)) as source:
            file = pa.ipc.open_file(source)
            for i in range(file.num_record_batches):
                yield pa.Table.from_batches([file.get_batch(i)]).cast(unified)


@dataclass
class _QueueOrder:
    """The review list as `moderation.review.build_queue` orders it, in a few bytes an item.

    ``positions`` are the input positions of the items' lead rows, in list order; beside
    them what `build_queue` sets on an item (highest priority and strongest action of its
    rows, and its size); ``members`` holds ``item_comments`` of the items that group a
    derailed sub-thread (a lone comment's is its own id, read with its row).
    """

    positions: npt.NDArray[np.int64]
    priority: npt.NDArray[np.int64]
    severity: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    members: dict[int, str]

    def __len__(self) -> int:
        return len(self.positions)


def _queue_order(escalated: pd.DataFrame) -> _QueueOrder:
    """`build_queue`'s items and order from the escalated rows' narrow columns.

    `escalated` has, in input order, ``pos``, ``priority``, ``severity``, ``score`` (the
    row's highest score, 0 when it has none) and, for rows in a review group only, ``group``
    and ``id`` (None elsewhere). The rules are `build_queue`'s, row for row (a property test
    compares them): rows sharing a group are one item led by the row whose id is the group
    (else the group's first row), with the group's highest priority and strongest action
    and its ids in input order; items are ranked by priority, action and the lead row's
    highest score, all descending, ties in input order.
    """
    pos = escalated["pos"].to_numpy(dtype=np.int64)
    priority = escalated["priority"].to_numpy(dtype=np.int64, copy=True)  # items' are set below
    severity = escalated["severity"].to_numpy(dtype=np.int64, copy=True)
    score = escalated["score"].to_numpy(dtype=float)
    grouped = escalated["group"].notna().to_numpy(dtype=bool)
    lead = ~grouped
    size = np.ones(len(pos), dtype=np.int64)
    members: dict[int, str] = {}
    if grouped.any():
        at = np.flatnonzero(grouped).tolist()
        keys = escalated["group"].to_numpy(dtype=object)[grouped]
        ids = escalated["id"].to_numpy(dtype=object)[grouped]
        first: dict[str, int] = {}  # a group's first row
        own: dict[str, int] = {}  # the row of the comment where the sub-thread left
        joined: dict[str, list[str]] = {}
        top: dict[str, tuple[int, int]] = {}  # highest priority, strongest action
        for i, key, cid in zip(at, map(str, keys), map(str, ids), strict=True):
            first.setdefault(key, i)
            if cid == key:
                own.setdefault(key, i)
            joined.setdefault(key, []).append(cid)
            best = top.get(key, (int(priority[i]), int(severity[i])))
            top[key] = (max(best[0], int(priority[i])), max(best[1], int(severity[i])))
        for key, first_row in first.items():
            row = own.get(key, first_row)
            lead[row] = True
            priority[row], severity[row] = top[key]
            size[row] = len(joined[key])
            members[int(pos[row])] = " ".join(joined[key])
    items = np.flatnonzero(lead)
    ranked = items[np.lexsort((items, -score[items], -severity[items], -priority[items]))]
    return _QueueOrder(pos[ranked], priority[ranked], severity[ranked], size[ranked], members)


def _escalated_rows(paths: Sequence[Path], unified: Any, objects: Sequence[str]) -> pd.DataFrame:
    """The narrow columns `_queue_order` reads, of every escalated row, in input order."""
    import pyarrow.compute as pc

    severities = {a.value: a.severity for a in schema.Action}
    scores = [c for c in schema.SCORES if c in unified.names]
    pieces = []
    for table in _chunk_batches(paths, unified):
        escalated = pc.fill_null(
            pc.not_equal(table.column(schema.ACTION), schema.Action.ALLOW.value), True
        )
        table = table.filter(escalated)
        if not table.num_rows:
            continue
        frame = table.select([schema.COMMENT_ID, schema.ACTION, schema.PRIORITY, _POS]).to_pandas()
        values = table.select(scores).to_pandas().to_numpy(dtype=float) if scores else None
        with np.errstate(invalid="ignore"):
            best = np.fmax.reduce(values, axis=1) if values is not None else np.zeros(len(frame))
        group = (
            table.column(REVIEW_GROUP).to_pandas().astype(object)
            if REVIEW_GROUP in unified.names
            else pd.Series([""] * len(frame), dtype=object)
        )
        ids = frame[schema.COMMENT_ID]
        if schema.COMMENT_ID in objects:
            ids = ids.astype(object)
        in_group = group.astype(str).to_numpy(dtype=object) != ""
        pieces.append(
            pd.DataFrame(
                {
                    "pos": frame[_POS].to_numpy(dtype=np.int64),
                    "priority": frame[schema.PRIORITY].to_numpy(dtype=np.int64),
                    "severity": frame[schema.ACTION].map(severities).to_numpy(dtype=np.int64),
                    "score": np.nan_to_num(best, nan=0.0),
                    "group": pd.Series(group.to_numpy(dtype=object)).where(in_group, None),
                    "id": pd.Series(ids.to_numpy(dtype=object)).where(in_group, None),
                }
            )
        )
    if not pieces:
        return pd.DataFrame(columns=["pos", "priority", "severity", "score", "group", "id"])
    rows = pd.concat(pieces, ignore_index=True)
    return rows.iloc[np.argsort(rows["pos"].to_numpy(), kind="stable")].reset_index(drop=True)


def _write_queue(plan: Plan, chunks: int, moderator: Moderator, target: str) -> int:
    """Write `build_queue` of the whole scored export to `target`; return the items written.

    Without holding the escalated rows (70 % of the benchmark's) in memory: the items and
    their order are decided from a few numbers per escalated row (`_queue_order`: tens of
    bytes a row, the only part that grows with the export); the items' full rows are then
    copied from the chunk files into spill files of consecutive ranks, and each spill file
    (`QUEUE_BUCKET_ROWS` rows) is sorted and written in turn. The file holds what
    ``write_table(build_queue(scored), target)`` writes (Parquet: the same rows, in row
    groups).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    paths = [plan.chunk_path(n) for n in range(chunks)]
    if not paths or not plan.index.rows:
        write_table(build_queue(_empty_output(plan, moderator)), target)
        return 0
    unified, objects = _chunk_schema(paths)
    order = _queue_order(_escalated_rows(paths, unified, objects))
    count = len(order)
    if not count:
        write_table(build_queue(_empty_output(plan, moderator)), target)
        return 0
    by_position = np.argsort(order.positions, kind="stable")
    sorted_positions = order.positions[by_position]
    buckets = min(QUEUE_MAX_BUCKETS, -(-count // QUEUE_BUCKET_ROWS))
    per_bucket = -(-count // buckets)
    spill = plan.state / "queue"
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir()
    # A "\r" in any cell makes the whole file "\r\n"-terminated, as `line_end` decides.
    crlf = any("\r" in m for m in order.members.values())
    with contextlib.ExitStack() as stack:
        writers: dict[int, Any] = {}
        window: list[Any] = []
        held = 0

        def flush() -> None:
            nonlocal held
            if not window:
                return
            table = pa.concat_tables(window)
            window.clear()
            held = 0
            bucket = table.column(_RANK).to_numpy() // per_bucket
            ordered = np.argsort(bucket, kind="stable")
            table, bucket = table.take(pa.array(ordered)), bucket[ordered]
            starts = np.flatnonzero(np.diff(bucket, prepend=-1))
            for start, stop in zip(starts, [*starts[1:], len(bucket)], strict=True):
                number = int(bucket[start])
                if number not in writers:
                    sink = stack.enter_context(pa.OSFile(str(spill / f"{number:05d}.arrow"), "wb"))
                    writers[number] = stack.enter_context(pa.ipc.new_stream(sink, table.schema))
                writers[number].write_table(table.slice(start, stop - start))

        for table in _chunk_batches(paths, unified):
            found = table.column(_POS).to_numpy()
            where = np.minimum(np.searchsorted(sorted_positions, found), count - 1)
            hit = sorted_positions[where] == found
            if not hit.any():
                continue
            kept = table.filter(pa.array(hit))
            kept = kept.append_column(_RANK, pa.array(by_position[where[hit]], type=pa.int64()))
            crlf = crlf or _holds_carriage_return(kept)
            window.append(kept)
            held += kept.num_rows
            if held >= QUEUE_BUCKET_ROWS:
                flush()
        flush()
    actions = [a.value for a in schema.Action]
    with TableWriter(target, newline="\r\n" if crlf else "\n") as writer:
        for number in range(buckets):
            path = spill / f"{number:05d}.arrow"
            if not path.is_file():
                continue
            with pa.OSFile(str(path)) as source:
                table = pa.ipc.open_stream(source).read_all()
            table = table.take(pc.sort_indices(table, [(_RANK, "ascending")]))
            ranks = table.column(_RANK).to_numpy()
            internal = [c for c in (_POS, _QUEUE, _RANK) if c in table.column_names]
            frame: pd.DataFrame = table.to_pandas().drop(columns=internal)
            del table
            for column in objects:
                frame[column] = frame[column].astype(object)
            # What `build_queue` sets on each item, as it sets it (same types, same text).
            ids = frame[schema.COMMENT_ID].astype(str).tolist()
            positions = order.positions[ranks].tolist()
            frame[schema.PRIORITY] = order.priority[ranks]
            frame[schema.ACTION] = [actions[s] for s in order.severity[ranks].tolist()]
            frame[ITEM_COMMENTS] = np.array(
                [order.members.get(p, own) for p, own in zip(positions, ids, strict=True)],
                dtype=object,
            )
            frame[ITEM_SIZE] = order.size[ranks]
            writer.write(frame)
    shutil.rmtree(spill, ignore_errors=True)
    return count


def _holds_carriage_return(table: Any) -> bool:
    """Whether a text cell of `table` holds "\r" (`moderation.tablewriter.line_end`'s test)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return any(
        (pa.types.is_string(column.type) or pa.types.is_large_string(column.type))
        and bool(pc.any(pc.match_substring(column, "\r")).as_py())
        for column in table.columns
    )


def _merge_tables(
    plan: Plan, summaries: list[ChunkDone], moderator: Moderator, to_stdout: bool, keep: bool
) -> pd.DataFrame:
    """`_merge` from the Arrow files: cast to one schema, a window at a time, as frames."""
    import pyarrow as pa

    readers = [_ChunkReader(plan.chunk_path(n)) for n in range(len(summaries))]
    newline = "\r\n" if any(s.carriage_return for s in summaries) else "\n"
    queue_parts: list[pd.DataFrame] = []
    try:
        unified, objects = _unified_schema([r.file.schema for r in readers])
        with contextlib.ExitStack() as stack:
            writer: TableWriter | None = None
            if not to_stdout:
                writer = stack.enter_context(TableWriter(plan.job.output, newline=newline))
            empty = True
            for start in range(0, max(plan.index.rows, 1), MERGE_ROWS):
                end = start + MERGE_ROWS
                pieces = [p.cast(unified) for r in readers for p in r.take_below(end)]
                if not pieces:
                    continue
                table = pa.concat_tables(pieces)
                table = table.take(pa.compute.sort_indices(table, [(_POS, "ascending")]))
                frame = table.to_pandas()
                queue = frame[_QUEUE].to_numpy(dtype=bool)
                frame = frame.drop(columns=[_POS, _QUEUE])
                for column in objects:
                    frame[column] = frame[column].astype(object)
                if keep and queue.any():
                    queue_parts.append(frame[queue])
                if writer is not None:
                    writer.write(frame)
                else:
                    write_rows(frame, "csv", sys.stdout.buffer, header=empty, newline=newline)
                empty = False
            if empty:
                frame = _empty_output(plan, moderator)
                queue_parts.append(frame)
                if writer is not None:
                    writer.write(frame)
                else:
                    write_rows(frame, "csv", sys.stdout.buffer, header=True, newline=newline)
            if to_stdout:
                sys.stdout.buffer.flush()
    finally:
        for reader in readers:
            reader.close()
    if not queue_parts:
        if keep or unified is None:
            return _empty_output(plan, moderator)
        return pd.DataFrame(columns=[n for n in unified.names if n not in (_POS, _QUEUE)])
    return pd.concat(queue_parts, ignore_index=True)


def _empty_output(plan: Plan, moderator: Moderator) -> pd.DataFrame:
    """The scored frame of an export without comments: its columns and no rows.

    The columns are those of a placeholder comment scored with the export's columns
    (the models refuse zero rows).
    """
    columns = plan.index.columns or [*schema.REQUIRED_COLUMNS, schema.PROBLEMS]
    placeholder = {
        c: pd.array(["x" if c in schema.REQUIRED_COLUMNS else ""], dtype="str") for c in columns
    }
    return moderator.score(pd.DataFrame(placeholder, columns=columns)).iloc[:0]
