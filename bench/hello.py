"""The baseline: a bare Flask "hello" app, served by the same gunicorn settings as the real one."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """Hello, world."""
    return "Hello, World!"
