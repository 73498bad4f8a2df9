"""The moderator page end to end in real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright): sign in, see counts and highlighted hits, decide two items with the keyboard, and
check the decisions through the API, also after a restart of the service."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLIENT, MOD, ADMIN = "client-key-b1", "moderator-key-b1", "admin-key-b1"
TIMEOUT_MS = 15_000


def test_moderator_page_end_to_end(uvicorn_server, tiny_wordlists, tmp_path):
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    from playwright.sync_api import expect, sync_playwright

    env = {"MODERATION_API_KEYS": f"client:{CLIENT},moderator:{MOD},admin:{ADMIN}",
           "MODERATION_WORDLISTS": str(tiny_wordlists), "MODERATION_DATA_DIR": str(tmp_path / "var"),
           "MODERATION_REDIS_URL": "", "MODERATION_REVIEW_LEASE_SECONDS": "600"}
    srv = uvicorn_server(env=env)
    api = httpx.Client(base_url=srv.url, timeout=10)
    C = {"Authorization": f"Bearer {CLIENT}"}
    texts = {
        # Emoji outside the BMP before the hit: offsets are code points, not UTF-16 units.
        "m1": "😀😀你好测试诈骗词，转账到卡号6222020200112233445",
        "m2": "这是测试低俗詞吗",  # found through the traditional form
        "m3": "我讨厌测试歧视词的人",
    }
    rid = {}
    for mid, text in texts.items():
        r = api.post("/v1/moderate", json={"text": text, "scene": "post", "id": mid}, headers=C)
        assert r.status_code == 200, r.text
        v = r.json()
        assert v["decision"] == "review", v
        rid[mid] = v["review_id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)  # the machine may be busy; waits are bounded
            page.goto(srv.url + "/review")
            expect(page.locator("#signin")).to_be_visible()

            for key, message in [("wrong-key", "密钥无效"), (CLIENT, "没有审核权限")]:
                page.fill("#key", key)
                page.click("#signin-form button[type=submit]")
                expect(page.locator("#signin-error")).to_contain_text(message)
            page.fill("#key", MOD)
            page.click("#signin-form button[type=submit]")
            expect(page.locator("#app")).to_be_visible()
            expect(page.locator("#signin")).to_be_hidden()

            # Counts per category, and the oldest item opened with its hit highlighted.
            expect(page.locator(".chip", has_text="全部")).to_contain_text("3")
            expect(page.locator(".chip.cat-fraud")).to_contain_text("1")
            expect(page.locator(".chip.cat-porn")).to_contain_text("1")
            expect(page.locator("#item-text mark")).to_have_text("测试诈骗词")
            expect(page.locator("#item-text")).to_contain_text("622************3445")
            assert "6222020200112233445" not in page.content()
            row = page.locator("#hits tr").first
            expect(row).to_contain_text("欺诈")
            expect(row).to_contain_text("fraud.test:测试诈骗词")
            expect(row).to_contain_text("原文直接命中")
            shot = tmp_path / "review.png"
            page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("REVIEW_SCREENSHOT"):
                shutil.copy(shot, os.environ["REVIEW_SCREENSHOT"])

            # Decide by keyboard: reason, leave the field, r = block.
            page.fill("#reason", "诈骗引流")
            page.press("#reason", "Escape")
            page.keyboard.press("r")
            expect(page.locator("#status")).to_contain_text("已拦截")
            expect(page.locator("#item-text mark")).to_have_text("测试低俗詞")  # next opened itself
            expect(page.locator("#hits tr").first).to_contain_text("繁体")
            expect(page.locator(".chip", has_text="全部")).to_contain_text("2")
            page.keyboard.press("n")  # skip to the next one
            expect(page.locator("#item-text mark")).to_have_text("测试歧视词")
            page.click("#btn-pass")
            expect(page.locator("#status")).to_contain_text("已通过")
            expect(page.locator("#item-text mark")).to_have_text("测试低俗詞")
            expect(page.locator(".chip", has_text="全部")).to_contain_text("1")

            # The rules page shares the sign-in of this tab.
            page.goto(srv.url + "/review/rules")
            expect(page.locator("#rules")).to_contain_text("fraud.test:测试诈骗词")
            expect(page.locator("#rules tr", has_text="测试歧视词")).to_contain_text("100%")
            if os.environ.get("REVIEW_SCREENSHOT"):
                page.screenshot(path=os.environ["REVIEW_SCREENSHOT"].replace(".png", "-rules.png"))
        finally:
            browser.close()

    def check(client: httpx.Client) -> None:
        d1 = client.get(f"/v1/reviews/{rid['m1']}", headers=C).json()
        assert d1["status"] == "decided" and d1["decision"]["decision"] == "block"
        assert d1["decision"]["reason"] == "诈骗引流" and d1["request_id"] == "m1"
        d3 = client.get(f"/v1/reviews/{rid['m3']}", headers=C).json()
        assert d3["decision"]["decision"] == "pass"
        M = {"Authorization": f"Bearer {MOD}"}
        pending = client.get("/v1/reviews?status=pending", headers=M).json()["items"]
        assert [it["id"] for it in pending] == [rid["m2"]]
        audit = client.get("/v1/audit?format=jsonl", headers={"Authorization": f"Bearer {ADMIN}"}).text
        assert audit.count('"action":"decision"') == 2 and '"action":"claim"' in audit
        assert "6222020200112233445" not in audit and "测试低俗詞" not in audit

    check(api)
    srv.stop()
    again = uvicorn_server(env=env)  # same data dir: the queue and decisions are still there
    check(httpx.Client(base_url=again.url, timeout=10))
