"""Two uvicorn worker processes share the SQLite review store: racing moderators never both get
the same item, and every decision is recorded once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

CLIENT, MOD1, MOD2 = "client-key-w1", "moderator-key-w1", "moderator-key-w2"


def test_claims_race_across_worker_processes(uvicorn_server, tiny_wordlists, tmp_path):
    env = {"MODERATION_API_KEYS": f"client:{CLIENT},moderator:{MOD1},moderator:{MOD2}",
           "MODERATION_WORDLISTS": str(tiny_wordlists), "MODERATION_DATA_DIR": str(tmp_path / "var"),
           "MODERATION_REDIS_URL": ""}
    srv = uvicorn_server(env=env, workers=2)
    C = {"Authorization": f"Bearer {CLIENT}"}
    with httpx.Client(base_url=srv.url, timeout=20) as api:
        ids = []
        for i in range(6):
            r = api.post("/v1/moderate", json={"text": f"第{i}条测试低俗词", "scene": "post", "id": f"w{i}"},
                         headers=C)
            assert r.status_code == 200, r.text
            ids.append(r.json()["review_id"])

    def attempt(args):
        key, rid = args
        # A fresh connection per request spreads the calls over both workers.
        with httpx.Client(base_url=srv.url, timeout=20) as c:
            return key, rid, c.post(f"/v1/reviews/{rid}/claim", headers={"Authorization": f"Bearer {key}"}).status_code

    jobs = [(key, rid) for rid in ids for key in (MOD1, MOD2, MOD1, MOD2)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, jobs))
    with httpx.Client(base_url=srv.url, timeout=20) as api:
        for rid in ids:
            codes = {key: [] for key in (MOD1, MOD2)}
            for key, r_id, code in results:
                if r_id == rid:
                    codes[key].append(code)
            winners = [k for k, cs in codes.items() if 200 in cs]
            assert len(winners) == 1, codes  # exactly one moderator holds each item
            loser = MOD2 if winners[0] == MOD1 else MOD1
            assert codes[loser] == [409, 409]
            r = api.post(f"/v1/reviews/{rid}/decision", json={"decision": "pass"},
                         headers={"Authorization": f"Bearer {loser}"})
            assert r.status_code == 409
            r = api.post(f"/v1/reviews/{rid}/decision", json={"decision": "block"},
                         headers={"Authorization": f"Bearer {winners[0]}"})
            assert r.status_code == 200, r.text
        assert api.get("/v1/reviews", headers={"Authorization": f"Bearer {MOD1}"}).json()["items"] == []
        stats = api.get("/v1/rules/stats", headers={"Authorization": f"Bearer {MOD2}"}).json()["rules"]
        assert [(s["confirmed"], s["overturned"]) for s in stats] == [(6, 0)]
