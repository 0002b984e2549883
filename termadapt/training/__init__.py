"""Training: the ``train`` stage and everything it is made of.

- :mod:`.labels` — decoder labels with control tokens and timestamps;
- :mod:`.data` — training rows, the lazy dataset and the collator;
- :mod:`.encoder_cache` — the frozen encoder's outputs, computed once per clip;
- :mod:`.guards` — the guards against forgetting, each declared once;
- :mod:`.validation` — the validation split, decoded and ranked by the forgetting budget;
- :mod:`.trainer` — the ``train`` stage (``dataset/`` → ``model/``).
"""

from .trainer import default_learning_rate, lora_wrap, train, trainer_class

__all__ = ["train", "trainer_class", "default_learning_rate", "lora_wrap"]
