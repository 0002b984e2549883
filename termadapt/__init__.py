"""termadapt: teach a speech recognizer new vocabulary without making it forget.

Packages follow the data flow; each stage is a plain function from an input manifest to an
output manifest in a run directory (docs/design.md):

- :mod:`.text` — dictionary → readings, homophones → ``terms.jsonl`` → ``utterances.jsonl``;
- :mod:`.speech` (with :mod:`.tts`) — utterances → synthesized clips (``synth.jsonl``);
- :mod:`.dataset` — clips (+ real speech) → ``dataset/``;
- :mod:`.training` — ``dataset/`` → ``model/``, with the guards against forgetting;
- :mod:`.merging` — ``model/`` + base → ``merged/``;
- :mod:`.decoding` — the one batched decoder every stage transcribes with;
- :mod:`.scoring` — metrics and the one forgetting budget;
- :mod:`.evaluate` and :mod:`.report` — held-out speech → ``report.json`` → md/html/csv;
- :mod:`.models` — model sources, conversions and exports; :mod:`.cli` — the commands;
- :mod:`.pipeline` — ``build-and-train``: every stage in order (only the CLI imports it).
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
