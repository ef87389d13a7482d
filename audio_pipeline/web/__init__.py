"""The supervisors' review UI: a Starlette app over the SQLite store (`audio-pipeline serve`).

Server-rendered Jinja2 pages with small vanilla scripts (static/call.js, static/live.js); no build
step. The Live calls page (`serve --live ws://…`) reads the live server's alert WebSocket straight
from the browser; a live call's review, once stored, opens as any other call page.
"""
