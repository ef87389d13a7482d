"""Pure analysis over a Conversation: turn-taking (turns.py) and empathy phrasing (empathy.py)."""
