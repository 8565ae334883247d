"""A word index on port 7700: POST /index {"id": 1, "text": "..."} adds a
document, GET /search?q=word lists the ids of the documents that have the
word, GET /health answers ok."""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

index = {}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/health":
            return self.reply(200, {"status": "ok"})
        if url.path == "/search":
            word = parse_qs(url.query).get("q", [""])[0].lower()
            return self.reply(200, {"ids": sorted(index.get(word, set()))})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        if urlparse(self.path).path != "/index":
            return self.reply(404, {"error": "not found"})
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        for word in doc["text"].lower().split():
            index.setdefault(word, set()).add(doc["id"])
        self.reply(201, {"indexed": doc["id"]})


ThreadingHTTPServer(("0.0.0.0", 7700), Handler).serve_forever()
