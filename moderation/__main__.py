"""Allow ``python -m moderation``."""

from moderation.cli import main

main()
