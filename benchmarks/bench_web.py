"""Web benchmark: 50 concurrent clients on the ask page, with the bot's load beside it.

    .venv/bin/python benchmarks/bench_web.py [--quick] [--requests 5000] [--rate 300]
                                             [--updates 3000] [--web-rate 200]
                                             [--rounds 3] [--one-process] [--web-nice N]
                                             [--fixes-share 0.4]

The server runs as ``shopbot run`` with a token and long polling does: the
bot (polling the fake Bot API server of bench_bot.py, which runs in its own
process) on this process's uvloop event loop, and the web app in a child
process of its own (bot/web/process.py ``WebProcess``, spawned, its own App
over the same database). ``--one-process`` serves the web app on the bot's
event loop instead, sharing its App: SHOPBOT_WEB_PROCESS=0, to compare in one
sitting. The 50 web clients run in another process (aiohttp, one connection
each, loopback), so that their CPU is not the server's; on a 2-core machine
they still compete with it for the cores, as real clients on the same
machine would.

The web traffic: each client has its own signed-in session and asks
``/ask?q=...`` again and again: 60% glossary lookups (``mode=term``: seed
terms in all five languages, as bench_bot.py picks them) and 40% fix searches
(``mode=fix``: the alarm codes and symptom words of the sample fixes).
Every answer must be a 200 with a glossary or a fixes section.

Runs:

(W) web alone: ``--requests`` requests (default 5,000; --quick 1,000) by the
    50 clients as fast as they get answers: requests/s, p50, p99 (in a
    closed loop the latency includes the wait behind the 49 other clients:
    about 50 / throughput on average).
(W') the same, the 50 clients together at a steady ``--paced`` requests/s
    (default 200): the latency a request sees at that load.
(B0) the bot alone: bench_bot.py's traffic (``--updates`` updates, default
    3,000) at a steady ``--rate`` updates/s (default 300): the bot's p99.
(B1) the same bot traffic again with the 50 web clients asking beside it
    at ``--web-rate`` requests/s in all (default 200; 0: as fast as they
    are answered): the bot's p99, and the web's requests/s and p99 during
    that run. B0 and B1 use plans drawn alike and alternate ``--rounds``
    times (default 3, --quick 1); B1/B0 is the ratio of the medians of the
    rounds' p99, so that a shared machine's drifting load weighs less.

Also printed: the CPU each server process used per update and per ask in
(B1), and B1/B0, the ratio of the bot's p99 with and without the web load.

Targets (issue 11): >= 200 ask requests/s with p99 < 150 ms (W); the bot's
p99 grows by less than 20% from (B0) to (B1) with the web at >= 200 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_bot as bb  # noqa: E402  (its fake server, traffic and statistics)
from common import pct  # noqa: E402

CLIENTS = 50


# -- the web clients (their own process) ----------------------------------------------

async def _clients(url: str, cookies: list[str], queries: list[str], total: int, rate: float,
                   stop_conn) -> dict:
    import aiohttp

    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    issued = 0
    stopping = asyncio.Event()
    t0 = time.perf_counter()

    if stop_conn is not None:  # run until the parent says stop
        loop.add_reader(stop_conn.fileno(), stopping.set)

    async def client(k: int) -> None:
        nonlocal issued, errors
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(url, cookie_jar=jar, cookies={"shopbot_session": cookies[k]},
                                         connector=aiohttp.TCPConnector(limit=1)) as http:
            while not stopping.is_set() and (total == 0 or issued < total):
                n = issued
                issued += 1
                if rate > 0:  # a steady schedule for all clients together
                    delay = t0 + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                start = time.perf_counter()
                async with http.get("/ask?" + queries[n % len(queries)]) as r:
                    body = await r.text()
                if r.status != 200 or ("h-terms" not in body and "h-fixes" not in body):
                    errors += 1
                latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(client(k) for k in range(len(cookies))))
    wall = time.perf_counter() - t0
    return {"n": len(latencies), "wall": wall, "errors": errors, "lat": latencies}


def clients_main(conn, url, cookies, queries, total, rate, until) -> None:
    import uvloop

    result = uvloop.run(_clients(url, cookies, queries, total, rate, conn if until else None))
    if until:
        conn.recv()
    conn.send(result)


class Clients:
    def __init__(self, url, cookies, queries, total=0, rate=0.0, until=False):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=clients_main, args=(child, url, cookies, queries, total, rate, until),
                                daemon=True, name="web-clients")
        self.proc.start()
        self.until = until

    async def result(self) -> dict:
        if self.until:
            self.conn.send("stop")
        out = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        self.proc.join(10)
        return out


def quiet_logging() -> None:
    """The web app's process: warnings and errors only (the run's own log is the figures)."""
    import logging

    logging.basicConfig(level=logging.WARNING)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (its threads included) so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def merged(runs: list[dict]) -> dict:
    """Rounds of one kind: counts added, latencies the median of the rounds'."""
    return {"n": sum(r["n"] for r in runs), "answered": sum(r["answered"] for r in runs),
            "p50": statistics.median(r["p50"] for r in runs), "p99": statistics.median(r["p99"] for r in runs)}


def web_summary(r: dict) -> dict:
    lat = r["lat"]
    return {"n": r["n"], "rps": r["n"] / r["wall"] if r["wall"] else 0.0, "errors": r["errors"],
            "p50": pct(lat, 50) if lat else float("nan"), "p99": pct(lat, 99) if lat else float("nan")}


# -- the server side -----------------------------------------------------------------

def web_queries(storage, rng: random.Random, n: int = 2000, fixes_share: float = 0.4) -> list[str]:
    from urllib.parse import urlencode

    terms, _ = bb.load_vocabulary(storage)
    flat = [t for lang in terms for t in terms[lang]]
    fixes = storage.read(lambda db: db.execute(
        "SELECT f.codes, t.symptom FROM fix f JOIN fix_text t ON t.snippet_id = f.id "
        "WHERE f.status = 'approved' AND t.lang = f.original_lang").fetchall())
    fix_queries = []
    for codes, symptom in fixes:
        fix_queries += json.loads(codes)
        fix_queries.append(" ".join(symptom.split()[:3]))
    out = []
    for _ in range(n):
        if rng.random() >= fixes_share:
            out.append(urlencode({"q": rng.choice(flat), "mode": "term"}))
        else:
            out.append(urlencode({"q": rng.choice(fix_queries), "mode": "fix"}))
    return out


async def bench(args) -> None:
    import collections

    import bot.telegram.wiring as telegram
    from bot.app import App
    from bot.config import Settings
    from bot.people import signin
    from bot.storage import Storage
    from bot.web import process as web_process, server as web_server, site

    tmp = Path(tempfile.mkdtemp(prefix="shopbot-bench-web-"))
    fake = None
    try:
        Storage(tmp / "bench.db").close()
        (tmp / "models").mkdir()
        fake = bb.Server()
        telegram.set_up_logging(handlers=[__import__("logging").FileHandler(tmp / "bot.log")])
        __import__("logging").getLogger().setLevel(__import__("logging").WARNING)
        app = App(Settings(db=tmp / "bench.db", models_dir=tmp / "models"))

        class Lifted(telegram.FloodLimit):
            def __init__(self, rate: int = bb.LIFTED_RATE, per: float = 30.0):
                super().__init__(rate, per)

        original, telegram.FloodLimit = telegram.FloodLimit, Lifted
        try:
            dp = telegram.build_dispatcher(app)
        finally:
            telegram.FloodLimit = original
        people = dp["people"]
        await people.ensure_admins([bb.ADMIN])
        users = []
        for k in range(bb.USERS):
            uid, lang = bb.FIRST_USER + k, bb.LANG_CODES[k % 5]
            invite = await people.create_invite("operator", bb.ADMIN)
            await people.redeem(invite.code, uid, f"Op{k:02d}", lang)
            users.append((uid, lang, f"Op{k:02d}"))
        terms, phrases = bb.load_vocabulary(app.storage)
        rng = random.Random(args.seed)
        plans = [bb.make_plan(rng, args.updates, users, terms, phrases, 0.4) for _ in range(2 * args.rounds)]
        queries = web_queries(app.storage, rng, fixes_share=args.fixes_share)

        runner = web = None
        if args.one_process:
            runner, url = await site.start(app, web_server.Status(), "127.0.0.1", 0)
            web_pid = os.getpid()
        else:
            web = web_process.WebProcess(app.settings.model_copy(update={"web_port": 0}),
                                         setup=quiet_logging, nice=args.web_nice)
            url = await web.start()
            web_pid = web.pid

        def sessions(db):
            out = []
            for k in range(CLIENTS):
                person = signin.create_web_person(db, "operator", lang=bb.LANG_CODES[k % 5])
                link = signin.create_link(db, person.user_id)
                out.append(signin.redeem_link(db, link.token, f"10.0.0.{k}")[1])
            return out

        cookies = app.storage.write(sessions)
        bot = telegram.build_bot(bb.TOKEN, fake.url)
        polling = asyncio.create_task(dp.start_polling(
            bot, handle_signals=False, tasks_concurrency_limit=64,
            allowed_updates=dp.resolve_used_update_types()))
        if not await fake.wait_polling(timeout=60):
            raise RuntimeError("the bot did not start polling")
        loop_name = type(asyncio.get_running_loop()).__module__
        if args.one_process:
            print(f"one process, one {loop_name} loop: web app on {url} and the bot polling the fake "
                  f"Bot API (its own process); {CLIENTS} web clients in another process; no translation "
                  f"model installed")
        else:
            print(f"as shopbot run: the bot on this process's {loop_name} loop polling the fake Bot API "
                  f"(its own process), the web app on {url} in a child process (pid {web_pid}"
                  f"{f', nice {args.web_nice}' if args.web_nice else ''}); {CLIENTS} web clients in "
                  f"another process; no translation model installed")
        # warm-up: a few hundred requests, not measured
        await (Clients(url, cookies, queries, total=300).result())

        web_alone = web_summary(await Clients(url, cookies, queries, total=args.requests).result())
        # the same clients at a steady offered rate: latency without the closed loop's own queue
        web_paced = web_summary(await Clients(url, cookies, queries, total=args.requests,
                                              rate=args.paced).result())
        timeout = max(60.0, args.updates / 50)
        # B0 and B1 alternate ``--rounds`` times: a shared machine's load drifts
        # over minutes, and a single B0 then B1 compares two moments as much
        # as two loads. The medians of the rounds' p99 make B1/B0.
        b0s, b1s, webs, bot_cpu, web_cpu, asks = [], [], [], 0.0, 0.0, 0.0
        for k in range(args.rounds):
            r0 = await fake.run_phase(plan=plans[2 * k], mode="rate", rate=args.rate, window=0,
                                      arrivals="steady", timeout=timeout, seed=args.seed + 2 * k)
            b0s.append(bb.summarise("(B0)", plans[2 * k], r0, 0.0, collections.Counter(), {}))
            beside = Clients(url, cookies, queries, rate=args.web_rate, until=True)
            await asyncio.sleep(2.0)  # the clients' process is up and asking before the bot's run starts
            cpu0, cpu1, t1 = cpu_seconds(os.getpid()), cpu_seconds(web_pid), time.perf_counter()
            r1 = await fake.run_phase(plan=plans[2 * k + 1], mode="rate", rate=args.rate, window=0,
                                      arrivals="steady", timeout=timeout, seed=args.seed + 2 * k + 1)
            bot_cpu += cpu_seconds(os.getpid()) - cpu0
            web_cpu += cpu_seconds(web_pid) - cpu1
            phase_wall = time.perf_counter() - t1
            webs.append(web_summary(await beside.result()))
            asks += webs[-1]["rps"] * phase_wall
            b1s.append(bb.summarise("(B1)", plans[2 * k + 1], r1, 0.0, collections.Counter(), {}))
        b0, b1 = merged(b0s), merged(b1s)
        web_during = {"rps": min(w["rps"] for w in webs), "p50": statistics.median(w["p50"] for w in webs),
                      "p99": max(w["p99"] for w in webs), "errors": sum(w["errors"] for w in webs)}

        await dp.stop_polling()
        await polling
        await bot.session.close()
        if runner is not None:
            await runner.cleanup()
        if web is not None:
            await web.stop()
        await asyncio.to_thread(app.close)

        print(f"\n(W) web alone, {CLIENTS} clients, {web_alone['n']:,} asks: "
              f"{web_alone['rps']:.0f} requests/s, p50 {web_alone['p50']:.1f} ms, "
              f"p99 {web_alone['p99']:.1f} ms, {web_alone['errors']} bad answers")
        print(f"(W') web alone, {CLIENTS} clients at a steady {args.paced:g} requests/s in all: "
              f"{web_paced['rps']:.0f} requests/s, p50 {web_paced['p50']:.1f} ms, "
              f"p99 {web_paced['p99']:.1f} ms, {web_paced['errors']} bad answers")
        for k, (x, y) in enumerate(zip(b0s, b1s)):
            print(f"round {k + 1}: bot p99 {x['p99']:.1f} ms alone (B0), {y['p99']:.1f} ms beside the web (B1): "
                  f"{y['p99'] / x['p99']:.2f}x; web meanwhile {webs[k]['rps']:.0f}/s, p99 {webs[k]['p99']:.1f} ms")
        rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
        print(f"(B0) bot alone at {args.rate:g} updates/s: {b0['answered']:,}/{b0['n']:,} answered, "
              f"p50 {b0['p50']:.1f} ms, p99 {b0['p99']:.1f} ms{rounds}")
        load = "as fast as they are answered" if not args.web_rate else f"at {args.web_rate:g} requests/s"
        print(f"(B1) bot at {args.rate:g} updates/s with the {CLIENTS} web clients beside it ({load}): "
              f"{b1['answered']:,}/{b1['n']:,} answered, p50 {b1['p50']:.1f} ms, p99 {b1['p99']:.1f} ms{rounds}; "
              f"web meanwhile (slowest round) {web_during['rps']:.0f} requests/s, p50 {web_during['p50']:.1f} ms, "
              f"p99 {web_during['p99']:.1f} ms, {web_during['errors']} bad answers")
        if args.one_process:
            print(f"(B1) CPU of the one server process: {bot_cpu:.1f} s")
        else:
            print(f"(B1) CPU: bot process {bot_cpu:.1f} s ({bot_cpu / b1['n'] * 1000:.2f} ms per update), "
                  f"web process {web_cpu:.1f} s (~{web_cpu / asks * 1000 if asks else float('nan'):.2f} ms "
                  f"per ask)")
        growth = (b1["p99"] / b0["p99"] - 1) * 100 if b0["p99"] else float("nan")
        print(f"B1/B0, bot p99 with the web load / without: {b1['p99'] / b0['p99']:.2f}x ({growth:+.0f}%)")
        checks = [
            (">= 200 ask requests/s (W)", web_alone["rps"] >= 200 and not web_alone["errors"]),
            ("ask p99 < 150 ms (W, closed loop)", web_alone["p99"] < 150),
            (f"ask p99 < 150 ms at {args.paced:g}/s (W')", web_paced["p99"] < 150),
            ("bot p99 grows < 20% (B0 -> B1)", growth < 20 and b1["answered"] == b1["n"]),
            ("web >= 200 req/s, p99 < 150 ms beside the bot (B1)",
             web_during["rps"] >= 199 and web_during["p99"] < 150 and not web_during["errors"]),
        ]
        print("targets: " + ", ".join(f"{n}: {'met' if ok else 'MISSED'}" for n, ok in checks))
    finally:
        if fake is not None:
            fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 asks and 1,000 updates")
    ap.add_argument("--requests", type=int, help="asks in run (W) (default 5,000)")
    ap.add_argument("--updates", type=int, help="bot updates per run (default 3,000)")
    ap.add_argument("--rate", type=float, default=300.0, help="bot updates/s in (B0) and (B1)")
    ap.add_argument("--web-rate", type=float, default=200.0,
                    help="web requests/s beside the bot in (B1), all clients together (0: as fast as answered)")
    ap.add_argument("--one-process", action="store_true",
                    help="the web app on the bot's event loop (SHOPBOT_WEB_PROCESS=0), to compare")
    ap.add_argument("--web-nice", type=int, default=0, help="niceness of the web app's process")
    ap.add_argument("--paced", type=float, default=200.0, help="offered web requests/s of run (W')")
    ap.add_argument("--fixes-share", type=float, default=0.4,
                    help="share of fix searches among the asks (each writes a search-log row)")
    ap.add_argument("--rounds", type=int, help="B0/B1 pairs, alternated (default 3; --quick 1)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    args.requests = args.requests or (1_000 if args.quick else 5_000)
    args.updates = args.updates or (1_000 if args.quick else 3_000)
    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        r.run(bench(args))


if __name__ == "__main__":
    main()
