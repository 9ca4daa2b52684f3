"""``python -m bot`` is ``hearth``."""

from bot.cli import main

raise SystemExit(main())
