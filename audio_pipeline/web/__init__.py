"""The supervisors' review UI: a Starlette app over the SQLite store (`audio-pipeline serve`).

Server-rendered Jinja2 pages with a small vanilla script (static/call.js); no build step. A future
live page (calls being streamed) fits beside the call page: it would render `call_body.html` from a
partial review and refresh it, the same view model (callview.py) feeding both.
"""
