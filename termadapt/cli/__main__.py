"""``python -m termadapt.cli``: the command-line interface (the same as the ``termadapt`` command)."""

from . import main

main()
