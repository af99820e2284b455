"""A recommender service that misbehaves in one chosen way, for the adapter's tests.

Usage: python hostile_service.py MODE
Prints the URL it serves on, then serves until killed. It is the reference service
(popularity) with one fault:

garbage        /v1/recommend answers HTML with status 200
out_of_range   /v1/recommend answers ids beyond the catalog
nan            /v1/recommend answers NaN scores
slow           /v1/recommend never answers in time
http500        /v1/recommend answers HTTP 500 with an error text
huge           /v1/recommend answers a 3 MB body
drop           /v1/recommend hangs up without an answer
replay         /v1/recommend answers with its previous answer (another seq)
rng_numbers    /v1/recommend sends the generator's 128-bit words as JSON numbers
old_protocol   /v1/health declares ampaudit-recommender/1
slow_once      the first /v1/observe is answered too late, so the adapter resends it
               (a conforming service: the resend is answered, not applied again)
double_apply   as slow_once, but the resend is applied again (a non-conforming service)
"""

import sys
import time

from ampaudit.recommenders import PopularityRecommender
from ampaudit.recommenders.stub_server import RecommenderService, make_server

MODE = sys.argv[1]
DELAY_S = 2.5  # longer than the tests' timeout_s=1


class Hostile(RecommenderService):
    slowed = False

    def health(self):
        answer = super().health()
        if MODE == "old_protocol":
            answer["protocol"] = "ampaudit-recommender/1"
        return answer

    def handle(self, path, body):
        if path == "/v1/observe" and MODE == "double_apply":
            session = self.sessions.get(body.get("session"))
            if session is not None and body.get("seq") == session.seq:
                session.seq -= 1  # forget the resend was seen: apply it again
                session.last = None
        status, answer = super().handle(path, body)
        if path == "/v1/observe" and MODE in ("slow_once", "double_apply") and not self.slowed:
            self.slowed = True
            time.sleep(DELAY_S)
        if path != "/v1/recommend" or status != 200:
            return status, answer
        if MODE == "out_of_range":
            answer = {**answer, "items": [[10**6 + j for j in r] for r in answer["items"]]}
        elif MODE == "nan":
            answer = {**answer, "scores": [[float("nan")] * len(r) for r in answer["scores"]]}
        elif MODE == "http500":
            return 500, {"error": "model server overloaded"}
        elif MODE == "huge":
            answer = {**answer, "padding": "x" * 3 * 2**20}
        elif MODE == "replay":
            previous, self.previous = getattr(self, "previous", None), answer
            answer = previous or answer
        elif MODE == "rng_numbers":
            state = answer["rng_state"]
            answer = {
                **answer,
                "rng_state": {**state, "state": {k: int(v) for k, v in state["state"].items()}},
            }
        return status, answer


server = make_server(Hostile(PopularityRecommender(), "hostile", version="1"), port=0)
Base = server.RequestHandlerClass


class Handler(Base):
    def do_POST(self):
        if self.path == "/v1/recommend" and MODE in ("garbage", "slow", "drop"):
            self.rfile.read(int(self.headers["Content-Length"]))
            if MODE == "drop":  # hang up without an answer
                self.close_connection = True
                return
            if MODE == "slow":
                time.sleep(30)
            raw = b"<html>internal oops</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        super().do_POST()


server.RequestHandlerClass = Handler
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
