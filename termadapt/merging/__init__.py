"""Merging: the adapted model interpolated back toward its base.

- :mod:`.interpolate` — θ = (1−α)·θ_base + α·θ_adapted, exact where the models agree;
- :mod:`.alpha` — the α sweep on the validation split and the budget's choice;
- :mod:`.merge` — the ``merge`` stage (``model/`` + base → ``merged/``).
"""

from .merge import merge

__all__ = ["merge"]
