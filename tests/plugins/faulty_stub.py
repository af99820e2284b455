"""A recommender service that misbehaves on /v1/recommend, for the adapter's tests.

Usage: python faulty_stub.py MODE   (garbage | out_of_range | stall | drop)
Prints the URL it serves on, then serves until killed.
"""

import json
import sys
import time

from ampaudit.recommenders import PopularityRecommender
from ampaudit.recommenders.stub_server import RecommenderService, make_server

MODE = sys.argv[1]
server = make_server(RecommenderService(PopularityRecommender(), "faulty"), port=0)
Base = server.RequestHandlerClass


class Faulty(Base):
    def do_POST(self):
        if self.path != "/v1/recommend":
            return super().do_POST()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if MODE == "drop":  # hang up without an answer
            self.close_connection = True
            return None
        if MODE == "stall":
            time.sleep(30)
        if MODE == "garbage":
            raw = b"<html>internal oops</html>"
        else:
            n_users, n = len(body["users"]), body["n"]
            raw = json.dumps(
                {
                    "items": [[10**6 + j for j in range(n)]] * n_users,
                    "scores": [[0.0] * n] * n_users,
                    "rng_state": body["rng_state"],
                }
            ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        return None


server.RequestHandlerClass = Faulty
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
