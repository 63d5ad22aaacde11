"""nlp: a Chinese text summariser built on minigrad (tokenizer, vocabulary, data, models,
decoding, ROUGE metrics, extractive baselines and the ``python -m nlp`` command line)."""
