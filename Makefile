.PHONY: install lint test slow check example
install: ; python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'
lint: ; .venv/bin/ruff check . && .venv/bin/ruff format --check moderation tests && .venv/bin/mypy
test: ; .venv/bin/pytest
slow: ; .venv/bin/pytest -m slow
check: lint test
example: ; .venv/bin/moderation score data/examples/azerbaijan-csto/comments.csv --articles data/examples/azerbaijan-csto/articles.csv -o scored.csv --queue review.csv
