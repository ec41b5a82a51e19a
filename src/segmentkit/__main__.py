"""``python -m segmentkit``: the command line (see :mod:`segmentkit.cli`)."""

from .cli import main

raise SystemExit(main())
