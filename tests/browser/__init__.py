"""The browser client, /static/backburner.js, in a real Chromium against a real server."""
