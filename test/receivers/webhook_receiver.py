#!/usr/bin/python3
"""A stand-alone webhook receiver for tests (stdlib only, shares no code with swarmwatch).

Records every request as one JSON line {time, method, path, headers, body} in OUT and answers 200,
or 503 while the file FAIL_FILE exists (to simulate an outage). Prints "listening <port>" when ready.
usage: webhook_receiver.py PORT OUT [FAIL_FILE]
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
fail_file = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length).decode('utf-8', 'replace')
        if fail_file and os.path.exists(fail_file):
            self.send_response(503)
            self.end_headers()
            return
        with open(out, 'a') as f:
            f.write(json.dumps({'time': time.time(), 'method': 'POST', 'path': self.path,
                                'headers': {k.lower(): v for k, v in self.headers.items()}, 'body': body}) + '\n')
            f.flush()
            os.fsync(f.fileno())
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(('127.0.0.1', port), Handler)
print('listening', server.server_address[1], flush=True)
server.serve_forever()
