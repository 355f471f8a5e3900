"""Command line: thin wrappers that compose library calls and format results for people.

Exit status: 0 success, 1 a `ModerationError` (bad input, model or rules), 2 usage.
Library errors are turned into one readable line here, once; ``--traceback``
shows the full Python traceback instead.
"""

from __future__ import annotations

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
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="Scored file: .csv, .jsonl or .parquet; '-' writes CSV to stdout.",
)
@click.option(
    "--articles",
    type=click.Path(dir_okay=False, path_type=Path),
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
    help="Also write the escalated rows, most urgent first, to this .csv/.jsonl file.",
)
@_map_option
@_map_file_option
@_format_option
@click.option("-q", "--quiet", is_flag=True, help="Do not print the summary.")
@click.pass_context
def score(
    ctx: click.Context,
    export: Path,
    output: str,
    articles: Path | None,
    model_dir: Path | None,
    rules_path: Path | None,
    queue_target: str | None,
    column_map: tuple[str, ...],
    map_file: Path | None,
    export_format: str,
    quiet: bool,
) -> None:
    """Score every comment in EXPORT and decide an action.

    EXPORT is a CSV, TSV, JSONL or Parquet table, or a WordPress (WXR), Disqus
    or Reddit export, whose posts become the articles unless --articles is
    given. Writes one row per input comment, in input order: the input
    columns, the scores, action, priority, reasons, depth, root_id and problems.

    Example:

    \b
        moderation score comments.csv --articles articles.csv -o scored.csv \\
            --queue review.csv
        moderation score wordpress-export.xml -o scored.csv
    """
    from moderation.io import read_articles, read_export, write_table
    from moderation.moderator import Moderator
    from moderation.review import build_queue

    if queue_target and Path(queue_target).suffix.lower() not in (".csv", ".jsonl", ".parquet"):
        raise InputError(
            f"--queue {queue_target}: write the queue to a .csv, .jsonl or .parquet file"
        )
    comment_map, article_map = _mappings(column_map, map_file)
    read = read_export(export, format=export_format, columns=comment_map or None)
    comments = read.comments
    article_frame = (
        read_articles(articles, columns=article_map or None) if articles else read.articles
    )
    moderator = Moderator.load(model_dir, rules=rules_path)
    scored = moderator.score(comments, article_frame)
    queue = build_queue(scored) if queue_target else None
    write_table(scored, output)
    if queue is not None and queue_target:
        write_table(queue, queue_target)
    if not (quiet or ctx.obj["quiet"]):
        counts = scored[schema.ACTION].value_counts()
        summary = ", ".join(f"{a.value} {int(counts.get(a.value, 0))}" for a in schema.Action)
        problems = int((scored[schema.PROBLEMS] != "").sum())
        where = "stdout" if output == "-" else output
        click.echo(
            f"Scored {len(scored)} comments → {where}: {summary}; {problems} with problems.",
            err=True,
        )
        if queue is not None:
            click.echo(f"Review list: {len(queue)} comments → {queue_target}", err=True)


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
def train(datasets: Path, out_dir: Path, seed: int, include_restricted: bool) -> None:
    """Train a model bundle on the labelled datasets and record held-out metrics.

    Example:

    \b
        moderation train --datasets ../shared/datasets -o models/my-model
    """
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
def evaluate(model_dir: Path | None, datasets: Path, out_dir: Path) -> None:
    """Evaluate a model bundle on held-out and cross-domain test sets.

    Example:

    \b
        moderation evaluate --datasets ../shared/datasets -o evaluation/
    """
    from moderation.bundle import default_bundle_path, load_bundle
    from moderation.evaluate import evaluate_bundle, write_report

    bundle = load_bundle(model_dir or default_bundle_path())
    markdown, json_path = write_report(evaluate_bundle(bundle, datasets), out_dir)
    click.echo(f"Wrote {markdown} and {json_path}", err=True)


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

    Example:

    \b
        moderation rules check moderation/defaults/rules.yaml
    """
    from moderation.rules import check_rules, load_rules

    problems = check_rules(path)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{path}: {len(load_rules(path).rules)} rules, no problems.")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="moderation")
