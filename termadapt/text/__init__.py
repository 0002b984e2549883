"""Text: the first stages of the pipeline, from a term dictionary to the sentences to speak.

- :mod:`.dictionary` reads and validates term dictionaries → ``TermEntry`` records;
- :mod:`.readings` derives readings and builds the OpenJTalk user dictionary;
- :mod:`.homophones` finds general words that sound like a term;
- :mod:`.terms` is the ``terms`` stage (dictionaries → ``terms.jsonl``);
- :mod:`.templates` reads carrier templates and general sentences;
- :mod:`.sentences` is the ``sentences`` stage (``terms.jsonl`` → ``utterances.jsonl``).
"""
