"""Entry point for `python -m harmony_sim`."""

from harmony_sim.cli import main

raise SystemExit(main())
