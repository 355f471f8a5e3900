"""Score an export on a Dask cluster: the same chunks of whole threads, scored remotely.

`DaskRunner` is a `moderation.batch.Runner`: the client reads the export and
plans whole-thread chunks exactly as a local run does (so context never splits
across machines and the output is the local engine's, byte for byte), sends the
loaded model to every worker once, ships each chunk's comments to a worker, and
saves and merges the scored chunks locally. Resumption, progress and atomic
output therefore work as in a local run. The export may be any fsspec URL
(``s3://…``, ``gs://…``, ``https://…``): `moderation.batch.score_export` fetches it.

Dask is an optional extra (``pip install 'moderation[dask]'``); this module
imports it only when a run starts, so the CLI never pays for it otherwise.

Dask logs every scheduler, nanny and connection event at INFO (two dozen lines
for one small run); `DaskRunner.log_level` raises its loggers, here and in the
local cluster's worker processes, so a run prints only what matters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from moderation.batch import ChunkDone, Plan, save_chunk, score_chunk
from moderation.errors import ModerationError
from moderation.moderator import Moderator

__all__ = ["DaskRunner"]

#: Chunks in flight per worker thread: enough to keep workers busy, few enough to bound memory.
IN_FLIGHT_PER_THREAD = 2
#: Loggers of the Dask stack whose INFO chatter `DaskRunner.log_level` holds back.
DASK_LOGGERS = ("distributed", "dask")


@contextlib.contextmanager
def _raised_log_level(level: int | None) -> Iterator[None]:
    """Raise the Dask loggers (and their children set explicitly) to ``level`` for a run.

    Only raises: a logger Dask already keeps quieter (``distributed.client`` at WARNING)
    stays so. ``None`` leaves Dask's own configuration. Levels are restored afterwards, so a
    library caller's logging is untouched once the run ends.
    """
    if level is None:
        yield
        return
    names = [
        name
        for name, found in logging.root.manager.loggerDict.items()
        if isinstance(found, logging.Logger)
        and name.startswith(tuple(f"{root}." for root in DASK_LOGGERS))
        and found.level != logging.NOTSET
    ]
    saved: list[tuple[logging.Logger, int]] = []
    for name in (*DASK_LOGGERS, *names):
        logger = logging.getLogger(name)
        if logger.level < level:  # NOTSET (0) included: it would inherit the root's level
            saved.append((logger, logger.level))
            logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old in saved:
            logger.setLevel(old)


def _score_remote(
    moderator: Moderator,
    comments: pd.DataFrame,
    positions: npt.NDArray[np.int64],
    articles: pd.DataFrame | None,
    history: pd.DataFrame | None,
) -> pd.DataFrame:
    """Runs on a Dask worker: score one chunk (the model arrives once, scattered)."""
    return score_chunk(moderator, comments, positions, articles, history)


@dataclass(frozen=True)
class DaskRunner:
    """Scores chunks on a Dask cluster.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None starts a
        `distributed.LocalCluster` of `workers` single-threaded workers.
    workers
        Workers of the local cluster.
    processes
        Whether the local cluster's workers are processes (threads otherwise).
    connect_timeout
        Seconds to wait for `scheduler` before giving up.
    log_level
        Least severe Dask log record shown (in this process and the local
        cluster's workers); ``None`` keeps Dask's configuration (INFO).
    """

    scheduler: str | None = None
    workers: int = 2
    processes: bool = True
    connect_timeout: float = 10.0
    log_level: int | None = logging.WARNING

    def __call__(
        self, plan: Plan, pending: Sequence[int], done: Callable[[ChunkDone], None]
    ) -> None:
        if not pending:
            return
        try:
            import distributed
        except ImportError as exc:
            raise ModerationError(
                "--engine dask needs the dask extra: pip install 'moderation[dask]'"
            ) from exc
        dist: Any = distributed  # untyped library
        with contextlib.ExitStack() as stack:
            # Entered first, left last: the cluster logs while it shuts down too.
            stack.enter_context(_raised_log_level(self.log_level))
            if self.scheduler:
                try:
                    timeout = f"{self.connect_timeout}s"
                    client = stack.enter_context(dist.Client(self.scheduler, timeout=timeout))
                except (OSError, TimeoutError) as exc:
                    raise ModerationError(
                        f"--scheduler {self.scheduler}: cannot connect: {exc}"
                    ) from exc
            else:
                cluster = stack.enter_context(
                    dist.LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=self.processes,
                        dashboard_address=None,
                        # Level of the worker processes' own log handlers.
                        silence_logs=self.log_level if self.log_level is not None else False,
                    )
                )
                client = stack.enter_context(dist.Client(cluster))
            threads = max(sum(client.nthreads().values()), 1)
            model = client.scatter(plan.moderator, broadcast=True)
            history = (
                client.scatter(plan.history, broadcast=True) if plan.history is not None else None
            )
            queue = list(pending)
            positions_of: dict[Any, tuple[int, npt.NDArray[np.int64]]] = {}
            running = dist.as_completed()

            def submit() -> None:
                number = queue.pop(0)
                comments, positions = plan.index.chunk(number)
                future = client.submit(
                    _score_remote,
                    model,
                    comments,
                    positions,
                    plan.index.articles(number),
                    history,
                    pure=False,
                )
                positions_of[future.key] = (number, positions)
                running.add(future)

            for _ in range(min(len(queue), IN_FLIGHT_PER_THREAD * threads)):
                submit()
            for future in running:
                number, positions = positions_of.pop(future.key)
                scored = future.result()
                future.release()
                done(save_chunk(plan.chunk_path(number), number, scored, positions))
                if queue:
                    submit()
