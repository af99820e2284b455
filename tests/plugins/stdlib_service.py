"""A recommender service written from recommenders/openapi.yaml alone: stdlib only.

It imports nothing from ampaudit (or numpy): it is what a platform engineer writes
in any language from the spec. Windowless popularity: items ranked by how often
they were consumed, ties by lower id; never removed or already-consumed items. It
does not offer the optional ``related`` endpoint and draws no random numbers.

Usage: python stdlib_service.py [NAME [VERSION]]   (prints its URL, serves until killed)
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = sys.argv[1] if len(sys.argv) > 1 else "stdlib-popularity"
VERSION = sys.argv[2] if len(sys.argv) > 2 else "0.3.1"
SESSIONS = {}
LOCK = threading.Lock()


class RefusedError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Session:
    def __init__(self):
        self.seq = 0
        self.last = None  # (path, status, answer) of seq
        self.lock = threading.Lock()
        self.n_items = 0
        self.available = []
        self.counts = []
        self.consumed = {}  # user -> set of items
        self.events = 0
        self.impressions = 0
        self.n_users = 0

    def sync(self, sync):
        if "n_users" in sync:
            self.n_users = sync["n_users"]
        new = sync.get("new_items")
        if new:
            m = len(new["features"])
            self.n_items += m
            self.available += [True] * m
            self.counts += [0] * m
        for item in sync.get("removed", []):
            self.available[item] = False
        for item in sync.get("restored", []):
            self.available[item] = True
        events = sync["events"]
        for user, item in zip(events["users"], events["items"], strict=True):
            self.counts[item] += 1
            self.consumed.setdefault(user, set()).add(item)
        self.events += len(events["users"])

    def state(self):
        return {"items": self.n_items, "events": self.events, "impressions": self.impressions}

    def recommend(self, users, n):
        ranked = sorted(range(self.n_items), key=lambda i: (-self.counts[i], i))
        ranked = [i for i in ranked if self.available[i]]
        items, scores = [], []
        for user in users:
            seen = self.consumed.get(user, set())
            row = [i for i in ranked if i not in seen][:n]
            items.append(row + [-1] * (n - len(row)))
            scores.append([float(self.counts[i]) for i in row] + [0.0] * (n - len(row)))
        return items, scores


def serve(path, body):
    if path not in ("/v1/fit", "/v1/observe", "/v1/recommend", "/v1/related"):
        raise RefusedError(404, f"no route {path}")
    if path == "/v1/related":
        raise RefusedError(404, "related is not offered")
    sid, seq = body.get("session"), body.get("seq")
    if not isinstance(sid, str) or not isinstance(seq, int) or seq < 1:
        raise RefusedError(400, "session and seq are required")
    with LOCK:
        session = SESSIONS.get(sid)
        if session is None:
            if seq != 1 or "n_users" not in body.get("sync", {}):
                raise RefusedError(404, f"unknown session {sid}")
            session = SESSIONS[sid] = Session()
    with session.lock:
        if session.last is not None and seq == session.seq and session.last[0] == path:
            return session.last[1], session.last[2]
        if seq != session.seq + 1:
            raise RefusedError(409, f"out of sequence: expected seq {session.seq + 1}")
        status, answer = 200, None
        try:
            if path in ("/v1/fit", "/v1/observe"):
                session.sync(body["sync"])
                if path == "/v1/observe":
                    session.impressions += len(body["impressions"]["users"])
                answer = {"ok": True, "state": session.state()}
            else:
                items, scores = session.recommend(body["users"], body["n"])
                answer = {"items": items, "scores": scores, "rng_state": body["rng_state"]}
            answer = {"session": sid, "seq": seq, **answer}
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            status, answer = 400, {"error": f"bad request: {exc!r}"}
        session.seq, session.last = seq, (path, status, answer)
        return status, answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: without this, Nagle's algorithm holds the
    # body until the client's delayed ACK (~40 ms on Linux, every request)
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        if self.path != "/v1/health":
            return self.send(404, {"error": "no route"})
        return self.send(
            200,
            {
                "status": "ok",
                "protocol": "ampaudit-recommender/1.1",
                "name": NAME,
                "version": VERSION,
                "retrain_every": 1,
                "capabilities": [],
                "stochastic": False,
            },
        )

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send(*serve(self.path, body))
        except RefusedError as exc:
            self.send(exc.status, {"error": str(exc)})
        except ValueError as exc:
            self.send(400, {"error": f"not JSON: {exc}"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
