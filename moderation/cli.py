"""Command line: thin wrappers that compose library calls and format results for people.

Exit status: 0 success, 1 a `ModerationError` (bad input, model or rules), 2 usage.
Library errors are turned into one readable line here, once; ``--traceback``
shows the full Python traceback instead.
"""

from __future__ import annotations

import atexit
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from moderation import schema
from moderation.errors import InputError, ModerationError
from moderation.formats import FORMATS

#: Where `moderation train` / `evaluate` look for the labelled datasets by default.
DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
#: Review queue of `moderation review` when neither --queue nor MODERATION_QUEUE is given
#: (same value as `moderation.reviewqueue.DEFAULT_QUEUE_URL`; kept literal so that --help
#: does not import SQLAlchemy).
DEFAULT_QUEUE = "sqlite:///moderation-queue.db"


class _Group(click.Group):
    """Turns every `ModerationError` into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModerationError as exc:
            if ctx.find_root().params.get("traceback"):
                raise
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--traceback", is_flag=True, help="Show the Python traceback on errors.")
@click.version_option(package_name="moderation")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool, traceback: bool) -> None:
    """Score comment threads for hostile and off-topic replies and queue them for review.

    Example:

    \b
        moderation score data/examples/azerbaijan-csto/comments.csv \\
            --articles data/examples/azerbaijan-csto/articles.csv -o scored.csv
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    ctx.obj = {"quiet": quiet}


def _parse_map(values: Sequence[str]) -> dict[str, str]:
    """``text=body,comment_id=id`` (repeatable) → ``{"text": "body", "comment_id": "id"}``."""
    mapping: dict[str, str] = {}
    for value in values:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            canonical, sep, source = pair.partition("=")
            if not sep or not canonical or not source:
                raise click.BadParameter(f"'{pair}' is not CANONICAL=COLUMN", param_hint="--map")
            known = (*schema.INPUT_COLUMNS, *schema.ARTICLE_COLUMNS)
            if canonical not in known:
                names = ", ".join(dict.fromkeys(known))
                raise click.BadParameter(
                    f"'{canonical}' is not a canonical column. Known: {names}", param_hint="--map"
                )
            mapping[canonical] = source
    return mapping


def _mappings(
    column_map: Sequence[str], map_file: Path | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Comment and article column mappings from ``--map-file`` then ``--map`` (which wins)."""
    from moderation.io import read_column_map

    comments: dict[str, str] = {}
    articles: dict[str, str] = {}
    if map_file is not None:
        loaded = read_column_map(map_file)
        comments.update(loaded.comments)
        articles.update(loaded.articles)
    for canonical, source in _parse_map(column_map).items():
        if canonical in schema.INPUT_COLUMNS:
            comments[canonical] = source
        if canonical in (schema.TITLE, schema.BODY):
            articles[canonical] = source
    return comments, articles


# Options shared by several commands.
_datasets_option = click.option(
    "--datasets",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATASETS,
    show_default=True,
    help="Folder of labelled datasets.",
)
_format_option = click.option(
    "--format",
    "export_format",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Format of EXPORT; 'auto' recognises WordPress, Disqus and Reddit exports by their "
    "content and tables by their extension.",
)
_map_option = click.option(
    "--map",
    "column_map",
    multiple=True,
    metavar="CANONICAL=COLUMN[,...]",
    help="Read a differently named column, e.g. --map text=body,comment_id=id.",
)
_map_file_option = click.option(
    "--map-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file mapping canonical names to the columns of a dump (see README, Formats).",
)
_model_option = click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Model bundle directory [default: the bundled model].",
)


@cli.command()
@click.argument("export", metavar="EXPORT")
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Scored file: .csv, .tsv, .jsonl or .parquet (.csv.gz, .jsonl.gz); '-' writes CSV "
    "to stdout.",
)
@click.option(
    "--articles",
    metavar="FILE|URL",
    help="Articles file (thread_id, title, body) for off-topic scoring.",
)
@_model_option
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rules file (YAML) [default: the shipped rules].",
)
@click.option(
    "--queue",
    "queue_target",
    metavar="FILE|URL",
    help="Also queue the escalated rows, most urgent first: a .csv/.jsonl/.parquet file "
    "(streamed through disk: memory grows by tens of bytes per escalated comment), or a "
    "review queue database (sqlite:///queue.db, postgresql://user@host/db) that re-scoring "
    "updates without duplicates (gathered in memory first: every column of every escalated "
    "comment).",
)
@_map_option
@_map_file_option
@_format_option
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (local engine; on Linux forked after the model is loaded, so they "
    "share it) or local Dask workers.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Comments per chunk of whole threads (memory use grows with it).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run on the same export, model and rules from its last "
    "finished chunk (state kept in .OUTPUT.moderation/ next to the output).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where chunks are scored: here (with --workers processes) or on a Dask cluster "
    "(pip install 'moderation[dask]').",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786) for --engine dask; default: a local cluster.",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Do not print the summary or draw the progress bar."
)
@click.pass_context
def score(
    ctx: click.Context,
    export: str,
    output: str,
    articles: str | None,
    model_dir: Path | None,
    rules_path: Path | None,
    queue_target: str | None,
    column_map: tuple[str, ...],
    map_file: Path | None,
    export_format: str,
    workers: int,
    chunk_rows: int,
    resume: bool,
    engine: str,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Score every comment in EXPORT and decide an action.

    EXPORT is a CSV, TSV, JSONL or Parquet table, or a WordPress (WXR), Disqus
    or Reddit export, whose posts become the articles unless --articles is
    given; a local path or an fsspec URL (s3://..., https://...). Writes one row
    per input comment, in input order: the input columns, the scores, action,
    priority, reasons, depth, root_id and problems.

    Any size: the export is indexed on disk and scored in chunks of whole
    threads, so memory stays bounded and thread context intact; the output is
    written to a temporary file and renamed when complete. A progress bar with
    rows/s and time left is drawn on a terminal.

    Example:

    \b
        moderation score comments.csv --articles articles.csv -o scored.csv \\
            --queue review.csv
        moderation score comments.csv -o scored.csv --queue sqlite:///queue.db
        moderation score wordpress-export.xml -o scored.csv
        moderation score big-dump.jsonl.gz -o scored.parquet --workers 2
        moderation score big-dump.jsonl.gz -o scored.parquet --workers 2 --resume
        moderation score s3://bucket/dump.csv -o scored.csv --engine dask \\
            --scheduler tcp://10.0.0.5:8786
    """
    from moderation.batch import BatchJob, LocalRunner, Runner, score_export
    from moderation.moderator import Moderator
    from moderation.progress import Progress

    if scheduler and engine != "dask":
        raise click.BadParameter("only applies with --engine dask", param_hint="--scheduler")
    review_db = None
    if queue_target:
        database, shown = False, queue_target
        if "://" in queue_target:
            # SQLAlchemy only for URLs: its import is serial time in every run (~0.2 s).
            from moderation.reviewqueue import ReviewQueue, is_database_url, safe_url

            database, shown = is_database_url(queue_target), safe_url(queue_target)
        if not database and Path(queue_target).suffix.lower() not in (".csv", ".jsonl", ".parquet"):
            raise InputError(
                f"--queue {shown}: write the queue to a .csv, .jsonl or .parquet file, or a "
                "database URL (sqlite:///queue.db, postgresql://user@host/db)"
            )
        # Open the database before scoring: a bad URL or a server that is down fails fast.
        review_db = ReviewQueue(queue_target) if database else None
    comment_map, article_map = _mappings(column_map, map_file)
    # The process ends with this command: the collector's passes over the loaded model and
    # scikit-learn at interpreter exit took 0.7-1.1 s (load 6, 2 cores); frozen, 0.15-0.2 s.
    atexit.register(gc.freeze)
    moderator = Moderator.load(model_dir, rules=rules_path)
    history = review_db.author_history() if review_db is not None else None
    job = BatchJob(
        export=export,
        output=output,
        articles=articles,
        format=None if export_format == "auto" else export_format,
        columns=comment_map or None,
        article_columns=article_map or None,
        model=model_dir,
        rules=rules_path,
        chunk_rows=chunk_rows,
        resume=resume,
        # A file review list is streamed from the chunk files; a database gets the rows.
        queue=queue_target if queue_target and review_db is None else None,
    )
    runner: Runner = LocalRunner(workers)
    silent = quiet or ctx.obj["quiet"]
    if engine == "dask":
        from moderation.cluster import DaskRunner

        # Dask logs each scheduler and connection event at INFO: shown with -v only.
        verbose = bool(ctx.find_root().params.get("verbose"))
        dask_logs = None if verbose else logging.ERROR if silent else logging.WARNING
        runner = DaskRunner(scheduler, workers=max(workers, 1), log_level=dask_logs)
    progress = Progress(enabled=False if silent else None)
    # One "scored N comments" line per chunk would break up the bar; the summary says it.
    chatty = logging.getLogger("moderation.moderator")
    level = chatty.level
    if not ctx.find_root().params.get("verbose"):
        chatty.setLevel(logging.WARNING)
    try:
        result = score_export(
            job,
            runner=runner,
            moderator=moderator,
            history=history,
            progress=progress,
            keep_queue_rows=review_db is not None,
        )
    except KeyboardInterrupt:
        progress.finish()
        if output != "-":
            click.echo("Interrupted; run the same command with --resume to continue.", err=True)
        ctx.exit(130)
    finally:
        chatty.setLevel(level)
    added = None
    if review_db is not None:
        thresholds = {**moderator.bundle.thresholds, schema.OFF_TOPIC: 0.5}
        # The scored rows do not carry the article title: the run kept the articles' titles.
        with review_db:
            added = review_db.add(
                result.queue_rows, thresholds=thresholds, articles=result.articles
            )
    if not silent:
        summary = ", ".join(
            f"{a.value} {int(result.actions.get(a.value, 0))}" for a in schema.Action
        )
        where = "stdout" if output == "-" else output
        resumed = f" (resumed: {result.reused} of {result.chunks} chunks)" if result.reused else ""
        click.echo(
            f"Scored {result.rows} comments → {where}: {summary}; "
            f"{result.problems} with problems.{resumed}",
            err=True,
        )
        if result.queue_items is not None:
            click.echo(f"Review list: {result.queue_items} comments → {queue_target}", err=True)
        if added is not None and review_db is not None:
            click.echo(
                f"Review queue {review_db.display_url}: {added.items} items "
                f"({added.added} new, {added.updated} updated, "
                f"{added.already_decided} already decided).",
                err=True,
            )


@cli.command()
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    help="Comments file: .csv, .tsv, .jsonl or .parquet (optionally .gz).",
)
@click.option(
    "--articles-output",
    help="Also write the export's articles (posts, threads, submissions) to this file.",
)
@_map_option
@_map_file_option
@_format_option
@click.pass_context
def convert(
    ctx: click.Context,
    export: Path,
    output: str,
    articles_output: str | None,
    column_map: tuple[str, ...],
    map_file: Path | None,
    export_format: str,
) -> None:
    """Write EXPORT as canonical columns, to inspect what was read or feed other tools.

    Reads any format `moderation score` reads and writes comment_id,
    thread_id, parent_id, author, text, created_at, the format's own columns
    (status, text_html, ...) and problems; articles as thread_id, title, body,
    url, body_html. Streams: a multi-gigabyte export converts in bounded memory.

    Example:

    \b
        moderation convert disqus-export.xml -o comments.csv \\
            --articles-output articles.csv
    """
    from moderation.io import convert_export

    comment_map, _ = _mappings(column_map, map_file)
    comments, articles = convert_export(
        export,
        output,
        articles_output=articles_output,
        format=export_format,
        columns=comment_map or None,
    )
    if not ctx.obj["quiet"]:
        also = f"; {articles} articles → {articles_output}" if articles_output else ""
        click.echo(f"Converted {comments} comments → {output}{also}", err=True)


@cli.command()
@_datasets_option
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the new model bundle to.",
)
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bundle).")
@click.option(
    "--include-restricted",
    is_flag=True,
    help="Also train on non-commercial / unlicensed sets (research bundle; do not ship).",
)
@click.option(
    "--feedback",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled decisions from `moderation review export-labels`: retrain --model on the "
    "datasets plus these, and compare old and new on held-out threads.",
)
@click.option(
    "--feedback-weight",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Weight of one decision relative to one dataset row.",
)
@click.option(
    "--heldout-thread",
    "heldout_threads",
    multiple=True,
    help="With --feedback: hold out the decisions of this thread (repeatable) "
    "[default: a quarter of the threads, by hash].",
)
@_model_option
def train(
    datasets: Path,
    out_dir: Path,
    seed: int,
    include_restricted: bool,
    feedback: Path | None,
    feedback_weight: float,
    heldout_threads: tuple[str, ...],
    model_dir: Path | None,
) -> None:
    """Train a model bundle on the labelled datasets and record held-out metrics.

    With --feedback, retrain the bundle given by --model (default: the bundled
    one) on the datasets plus moderators' decisions, and print the old and new
    model side by side on decisions from threads neither trained on.

    Example:

    \b
        moderation train --datasets ../shared/datasets -o models/my-model
        moderation train --datasets ../shared/datasets -o models/retrained \\
            --feedback labels.csv --feedback-weight 3
    """
    if feedback is not None:
        from moderation.feedback import retrain_with_feedback

        report = retrain_with_feedback(
            datasets,
            feedback,
            out_dir,
            base=model_dir,
            weight=feedback_weight,
            seed=seed,
            include_restricted=include_restricted,
            heldout_threads=list(heldout_threads) or None,
        )
        click.echo(
            f"Wrote {report.bundle.path}: trained on {report.train_decisions} decisions "
            f"(weight {report.weight:g}); {report.heldout_decisions} held out from "
            f"{len(report.heldout_threads)} thread(s).",
            err=True,
        )
        if report.comparison.empty:
            click.echo("No held-out decisions to compare old and new on.", err=True)
        else:
            click.echo(report.table())
        return
    from moderation.train import train_bundle

    bundle = train_bundle(datasets, out_dir, seed=seed, include_restricted=include_restricted)
    click.echo(f"Wrote {bundle.path} (model card: {bundle.path / 'MODEL_CARD.md'})", err=True)


@cli.command()
@_model_option
@_datasets_option
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation"),
    show_default=True,
    help="Directory for report.md / report.json.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Also refit the recipe for Davidson 5-fold cross-validation and leave-one-source-out "
    "cross-domain tests (about 15-20 minutes on 2 cores).",
)
@click.option(
    "--update-card",
    is_flag=True,
    help="Record the results in the bundle's manifest and MODEL_CARD.md (pipeline unchanged).",
)
def evaluate(
    model_dir: Path | None, datasets: Path, out_dir: Path, full: bool, update_card: bool
) -> None:
    """Evaluate a model bundle on held-out and cross-domain test sets.

    Writes report.md and report.json: held-out and cross-domain metrics, OLID, toxic spans,
    identity-term bias per identity, thresholds at target precision and the curves that
    notebooks/02-evaluation-curves.ipynb plots.

    Example:

    \b
        moderation evaluate --datasets ../shared/datasets -o evaluation/
        moderation evaluate --full --update-card --model models/my-model
    """
    from moderation.bundle import default_bundle_path, load_bundle
    from moderation.evaluate import evaluate_bundle, refresh_card, write_report

    bundle = load_bundle(model_dir or default_bundle_path())
    report = evaluate_bundle(bundle, datasets, full=full)
    markdown, json_path = write_report(report, out_dir)
    click.echo(f"Wrote {markdown} and {json_path}", err=True)
    if update_card:
        refresh_card(bundle.path, datasets, report=report)
        click.echo(f"Updated {bundle.path / 'manifest.json'} and MODEL_CARD.md", err=True)


@cli.group(cls=_Group)
def rules() -> None:
    """Work with rules files.

    Example:

    \b
        moderation rules check my-rules.yaml
    """


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def rules_check(path: Path) -> None:
    """Report every problem in a rules file with its line and column; exit 1 if any.

    Also warns, without failing, about valid rules that are probably a mistake: a
    `remove` rule that tests off_topic or derailed (off-topic replies should go to
    review, never to automatic removal).

    Example:

    \b
        moderation rules check moderation/defaults/rules.yaml
    """
    from moderation.rules import check_rules, load_rules, rule_warnings

    problems = check_rules(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise SystemExit(1)
    loaded = load_rules(path)
    warnings = rule_warnings(loaded)
    for warning in warnings:
        click.echo(str(warning), err=True)
    also = f", {len(warnings)} warning{'s' * (len(warnings) != 1)}" if warnings else ""
    click.echo(f"{path}: {len(loaded.rules)} rules, no problems{also}.")


_queue_url_option = click.option(
    "--queue",
    "queue_url",
    envvar="MODERATION_QUEUE",
    default=DEFAULT_QUEUE,
    show_default=True,
    metavar="URL",
    help="Review queue database: sqlite:///queue.db or postgresql://user@host/db "
    "(environment: MODERATION_QUEUE).",
)


@cli.group(cls=_Group)
def review() -> None:
    """Decide the items of a review queue database and export the decisions.

    Fill the queue with `moderation score EXPORT --queue sqlite:///queue.db`.

    Example:

    \b
        moderation review list --queue sqlite:///queue.db
        moderation review decide 3 --reject --moderator ana --queue sqlite:///queue.db
    """


@review.command("list")
@_queue_url_option
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "rejected", "relabelled", "all"]),
    default="pending",
    show_default=True,
    help="Only items with this status.",
)
@click.option(
    "--action",
    type=click.Choice([a.value for a in schema.Action if a is not schema.Action.ALLOW]),
    help="Only items with this action.",
)
@click.option("--min-priority", type=int, help="Only items with at least this priority.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def review_list(
    queue_url: str, status: str, action: str | None, min_priority: int | None, limit: int
) -> None:
    """List queue items, highest priority first.

    Example:

    \b
        moderation review list --status pending --min-priority 50 --queue sqlite:///queue.db
    """
    from moderation.reviewqueue import ReviewQueue

    with ReviewQueue(queue_url, create=False) as queue:
        found = queue.list_items(
            status=None if status == "all" else status,
            action=action,
            min_priority=min_priority,
            limit=limit,
        )
    if found.empty:
        click.echo(f"No {'' if status == 'all' else status + ' '}items.", err=True)
        return
    click.echo(
        f"{'ID':>5}  {'STATUS':<10} {'ACTION':<6} {'PRIO':>4} {'SCORE':>5} {'SIZE':>4}  "
        f"{'ARTICLE':<{_TITLE_WIDTH}}  TEXT"
    )
    for row in found.to_dict("records"):
        title = _excerpt(row["article_title"] or "-", _TITLE_WIDTH)
        click.echo(
            f"{row['id']:>5}  {row['status']:<10} {row['action']:<6} {row['priority']:>4} "
            f"{row['top_score']:>5.2f} {row['item_size']:>4}  {title:<{_TITLE_WIDTH}}  "
            f"{row['comment_id']}: {_excerpt(row['text'], 60)}"
        )


#: Characters of an article title in `review list` ("-" where the queue has no title).
_TITLE_WIDTH = 28


def _excerpt(text: str, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@review.command("show")
@click.argument("item_id", type=int)
@_queue_url_option
def review_show(item_id: int, queue_url: str) -> None:
    """Show an item: its comments with scores, reasons, parent text, and its history.

    Example:

    \b
        moderation review show 3 --queue sqlite:///queue.db
    """
    from moderation.reviewqueue import ReviewQueue

    with ReviewQueue(queue_url, create=False) as queue:
        found = queue.item(item_id)
    item = found.item
    kind = (
        f"derailed sub-thread of {item['item_size']} comments from {item['comment_id']}"
        if item["kind"] == "subthread"
        else f"comment {item['comment_id']}"
    )
    lines = [
        f"Item {item['id']}: {item['status']} (version {item['version']}), action "
        f"{item['action']}, priority {item['priority']}",
        f"Thread {item['thread_id']}: {kind}",
        *([f"Article: {_excerpt(item['article_title'], 200)}"] if item["article_title"] else []),
        f"Flagged labels: {item['flagged'] or 'none'}",
        f"Reasons: {item['reasons']}",
    ]
    if item["decision"]:
        labels = ",".join(f"{k}={v}" for k, v in item["labels"].items())
        lines.append(
            f"Decision: {item['decision']}{' ' + labels if labels else ''} by "
            f"{item['decided_by']} at {item['decided_at']:%Y-%m-%d %H:%M:%S} UTC"
            + (f" ({item['note']})" if item["note"] else "")
        )
    for member in found.comments.to_dict("records"):
        scores = ", ".join(
            f"{name} {member[name]:.2f}"
            for name in schema.SCORES
            if member[name] is not None and member[name] == member[name]
        )
        lines += ["", f"── {member['comment_id']} by {member['author'] or '(unknown)'}"]
        if member["parent_id"]:
            lines.append(
                f"   in reply to {member['parent_id']}: {_excerpt(member['parent_text'], 100)}"
            )
        lines += [f"   {line}" for line in str(member["text"]).splitlines() or [""]]
        lines.append(f"   scores: {scores}")
        lines.append(f"   {member['action']} ({member['priority']}): {member['reasons']}")
    if found.history:
        lines += ["", "History:"]
        for record in found.history:
            labels = ",".join(f"{k}={v}" for k, v in record.labels.items())
            lines.append(
                f"  {record.decided_at:%Y-%m-%d %H:%M:%S} {record.moderator}: {record.decision}"
                f"{' ' + labels if labels else ''} → {record.outcome} ({record.detail})"
                + (f" — {record.note}" if record.note else "")
            )
    click.echo("\n".join(lines))


def _parse_labels(value: str) -> dict[str, int]:
    """``toxicity=0,insult=1`` → ``{"toxicity": 0, "insult": 1}``."""
    labels: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        name, sep, raw = pair.partition("=")
        if not sep or raw.strip() not in ("0", "1"):
            raise click.BadParameter(f"'{pair}' is not LABEL=0 or LABEL=1", param_hint="--relabel")
        labels[name.strip()] = int(raw)
    if not labels:
        raise click.BadParameter("give at least one LABEL=0/1", param_hint="--relabel")
    return labels


@review.command("decide")
@click.argument("item_id", type=int)
@click.option("--approve", is_flag=True, help="The escalation was wrong.")
@click.option("--reject", is_flag=True, help="The escalation was right.")
@click.option(
    "--relabel",
    metavar="LABEL=0|1[,...]",
    help="State the labels yourself, e.g. toxicity=0,insult=1,off_topic=1.",
)
@click.option(
    "--moderator", envvar="MODERATION_MODERATOR", required=True, help="Who decides (audit trail)."
)
@click.option("--note", default="", help="Why (kept in the audit trail).")
@click.option("--override", is_flag=True, help="Replace an earlier decision on this item.")
@_queue_url_option
def review_decide(
    item_id: int,
    approve: bool,
    reject: bool,
    relabel: str | None,
    moderator: str,
    note: str,
    override: bool,
    queue_url: str,
) -> None:
    """Approve, reject or relabel an item; the first decision committed wins.

    A decision on an item someone else already decided is recorded in the
    audit trail but not applied (exit status 1), unless --override is given.

    Example:

    \b
        moderation review decide 3 --approve --moderator ana --note "quoting, not insulting"
        moderation review decide 4 --relabel insult=1,toxicity=1 --moderator ben
    """
    from moderation.reviewqueue import APPROVE, REJECT, RELABEL, ReviewQueue

    if approve + reject + (relabel is not None) != 1:
        raise click.UsageError("give exactly one of --approve, --reject or --relabel")
    labels = _parse_labels(relabel) if relabel is not None else None
    decision = RELABEL if relabel is not None else APPROVE if approve else REJECT
    with ReviewQueue(queue_url, create=False) as queue:
        record = queue.decide(
            item_id, decision, moderator=moderator, labels=labels, note=note, override=override
        )
    click.echo(f"Item {item_id}: {record.detail} by {moderator}.", err=True)


@review.command("export-labels")
@click.option(
    "-o",
    "--output",
    required=True,
    help="Labelled comments: .csv, .jsonl or .parquet (train with `train --feedback`).",
)
@_queue_url_option
def review_export_labels(output: str, queue_url: str) -> None:
    """Write the decided items' comments as labelled training data.

    approve → the flagged labels are 0, reject → they are 1, relabel → the
    moderator's labels; every other label is empty (unknown). Columns:
    comment_id, thread_id, text, parent_text, decision, moderator, ... then
    toxicity ... profanity, off_topic.

    Example:

    \b
        moderation review export-labels -o labels.csv --queue sqlite:///queue.db
    """
    from moderation.io import write_table
    from moderation.reviewqueue import ReviewQueue

    with ReviewQueue(queue_url, create=False) as queue:
        labelled = queue.export_labels()
    write_table(labelled, output)
    click.echo(
        f"Exported {len(labelled)} labelled comments from "
        f"{labelled['item_id'].nunique()} decided items → {output}",
        err=True,
    )


_users_file_option = click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MODERATION_USERS",
    required=True,
    help="Accounts file of the review page (or MODERATION_USERS).",
)


@cli.group(cls=_Group)
def users() -> None:
    """Manage the moderator accounts of the review page (`moderation serve`).

    Accounts are `name:hash` lines (scrypt, random salt); the file is written
    readable by its owner only.

    Example:

    \b
        moderation users add ana --users moderators.txt
    """


@users.command("add")
@click.argument("name")
@_users_file_option
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@click.option("--replace", is_flag=True, help="Reset the password of an existing account.")
def users_add(name: str, users_file: Path, password_stdin: bool, replace: bool) -> None:
    """Create the account NAME, asking for its password (hidden).

    Example:

    \b
        moderation users add ana --users moderators.txt
        moderation users add ben --users moderators.txt --password-stdin < password.txt
    """
    from moderation.service.auth import AccountError, add_user, check_name, read_users

    check_name(name)
    if not replace and name in read_users(users_file):  # say so before asking for a password
        raise AccountError(f"{name} already has an account in {users_file}; pass --replace")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    existed = add_user(users_file, name, password, replace=replace)
    click.echo(
        f"{'Reset the password of' if existed else 'Added'} {name} in {users_file}.", err=True
    )


@users.command("remove")
@click.argument("name")
@_users_file_option
def users_remove(name: str, users_file: Path) -> None:
    """Delete the account NAME (a running review page signs it out at once).

    Example:

    \b
        moderation users remove ana --users moderators.txt
    """
    from moderation.service.auth import remove_user

    remove_user(users_file, name)
    click.echo(f"Removed {name} from {users_file}.", err=True)


@cli.command()
@click.option("--host", help="Address to bind [default: 127.0.0.1, this machine only].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: 8080].")
@_model_option
@click.option("--rules", type=click.Path(dir_okay=False, path_type=Path), help="Rules file (YAML).")
@click.option(
    "--queue",
    "queue_url",
    help="Review queue database URL: queues escalated comments and turns on the review page.",
)
@click.option(
    "--feedback-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where comments:suggestscore appends suggestions (suggestions.jsonl).",
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Moderator accounts of the review page.",
)
@click.option("--max-comments", type=click.IntRange(min=1), help="Most comments per request.")
@click.option("--max-text-chars", type=click.IntRange(min=1), help="Longest comment text.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), help="Largest request body.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes, each with its own copy of the model (about 130 MB each).",
)
def serve(
    host: str | None,
    port: int | None,
    model_dir: Path | None,
    rules: Path | None,
    queue_url: str | None,
    feedback_dir: Path | None,
    users_file: Path | None,
    max_comments: int | None,
    max_text_chars: int | None,
    max_body_bytes: int | None,
    workers: int,
) -> None:
    """Run the HTTP service: Perspective-compatible API, Coral webhook, review page.

    Settings come from MODERATION_* environment variables (MODERATION_MODEL,
    MODERATION_RULES, MODERATION_QUEUE, MODERATION_FEEDBACK_DIR, MODERATION_USERS)
    and these flags, which win. Secrets are read only from the environment, so
    they never show in the process list: MODERATION_CORAL_SECRET (Coral's
    signing secret), MODERATION_API_KEY (required ?key= when set) and
    MODERATION_SESSION_SECRET (review page cookies). Needs the `serve` extra:
    pip install 'moderation[serve]'.

    Example:

    \b
        moderation serve --port 8080 --queue sqlite:///queue.db --feedback-dir feedback/
        curl -s localhost:8080/v1alpha1/comments:analyze -H 'content-type: application/json' \\
            -d '{"comment": {"text": "you idiot"}, "requestedAttributes": {"TOXICITY": {}}}'
    """
    import dataclasses

    try:
        import uvicorn

        from moderation.service.app import create_app
        from moderation.service.settings import ServiceSettings
    except ImportError as exc:
        raise click.ClickException(
            f"the HTTP service needs the 'serve' extra ({exc.name} is missing): "
            "pip install 'moderation[serve]'"
        ) from exc

    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "model": model_dir,
        "rules": rules,
        "queue_url": queue_url,
        "feedback_dir": feedback_dir,
        "users_file": users_file,
        "max_comments": max_comments,
        "max_text_chars": max_text_chars,
        "max_body_bytes": max_body_bytes,
    }
    settings = dataclasses.replace(
        ServiceSettings.from_environment(),
        **{key: value for key, value in flags.items() if value is not None},
    )
    if settings.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        click.echo(
            f"Warning: listening on {settings.host} without MODERATION_API_KEY: anyone who "
            "can reach this address can use the scoring API.",
            err=True,
        )
    if workers == 1:
        app = create_app(settings)  # loads the model now: a bad bundle stops here
        click.echo(f"Serving on http://{settings.host}:{settings.port} (Ctrl+C to stop)", err=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
        return
    import os
    import secrets

    from moderation.service.app import SETTINGS_VARIABLE, settings_to_json

    if settings.session_secret is None:  # one key for all workers, or sessions break
        settings = dataclasses.replace(settings, session_secret=secrets.token_urlsafe(32))
    os.environ[SETTINGS_VARIABLE] = settings_to_json(settings)
    click.echo(
        f"Serving on http://{settings.host}:{settings.port} with {workers} workers "
        "(Ctrl+C to stop)",
        err=True,
    )
    uvicorn.run(
        "moderation.service.app:app_from_environment",
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level="warning",
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="moderation")
