"""Speech: the sentences spoken by many voices, and real recordings brought in.

- :mod:`.voices` plans which voices speak which split (held-out voices never train);
- :mod:`.synth` is the ``synth`` stage (``utterances.jsonl`` → ``synth.jsonl`` + audio cache);
- :mod:`.augment` draws seeded augmentations of training clips;
- :mod:`.imports` reads real speech (Kaldi, CSV/JSONL, folders, datasets) into clips.

The engines themselves live in :mod:`termadapt.tts`.
"""
