"""``python -m lslib`` is the same as the ``lslib`` console command."""

from lslib.cli.main import main

raise SystemExit(main())
