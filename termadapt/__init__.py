"""termadapt: teach a speech recognizer new vocabulary without making it forget.

Pipeline (one module per stage, each a function from an input manifest to an output
manifest in a run directory): ``dictionary`` → ``readings`` → ``sentences`` → ``synth`` →
``dataset`` → ``train`` → ``merge`` → ``evaluate`` → ``report``; ``pipeline`` runs them all.
"""

from .errors import ConfigError, DictionaryError, MissingDependencyError, TermadaptError
from .records import Clip, TermEntry, Utterance

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "TermadaptError",
    "DictionaryError",
    "ConfigError",
    "MissingDependencyError",
    "TermEntry",
    "Utterance",
    "Clip",
]
