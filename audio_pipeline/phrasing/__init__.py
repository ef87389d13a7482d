"""The trained phrasing model: a calibrated classifier head over sentence embeddings of
(context, utterance), with the lexicon's matches as extra features. `labels` names what it
predicts, `corpus` reads the labelled dialogues, `features` builds the input vectors, `model`
holds and applies the head (numpy only), `train` fits it (`make train-phrasing`)."""
