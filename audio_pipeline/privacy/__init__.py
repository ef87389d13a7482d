"""Personal data: find it in transcripts (presidio + spoken-form rules) and mask it before anything
is written; silence it in an exported copy of the audio."""
