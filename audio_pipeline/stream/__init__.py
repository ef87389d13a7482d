"""Live call monitoring: a WebSocket protocol for a call's audio as it happens (`protocol`), the
per-call incremental state that turns it into committed words and live findings (`monitor`), and
the server that runs many calls at once and fans their alerts out to subscribers (`server`)."""
