"""Card-reader benchmark: a whole teller check through real PC/SC, and CardVerify alone.

    python -m bench.card_reader_bench [--records 20000] [--reads 50] [--rate 50]
        [--seconds 10] [--json FILE] [--no-pcsc]

Set-up: `nikgate demo --no-serve --dir var/bench-card --records N` makes (once) the data,
the index, the PKI, the grants, the demo KTP-el cards and the SAM of card-reader-demo,
registered and active on reader DEMO-READER-0001. The server is `nikgate serve` in a
subprocess with one worker (bench/service_bench.py's Server), audit on.

1. **Full check** (`--reads` times): the teller client (nikgate.clients.cardreader) with
   the emulated chip and SAM behind a private pcscd and vpcd (nikgate/card/pcscd.py, needs
   `make cardreader` and root or user namespaces), one SAM unlock, then per card: read
   (UID, mutual authentication, every EF over secure messaging, signature check in the SAM),
   fingerprint (a synthetic genuine capture matched on the device; attempts until a match),
   GetChallenge + the SAM's signature, CardVerify. Per-step milliseconds, p50/p90/p99/max.
   The same through the in-process emulators (sim) for comparison.
2. **CardVerify alone**, open loop at `--rate` calls/s for `--seconds`: requests are read,
   matched and signed beforehand (the server keeps enough challenges outstanding for it:
   NIKGATE_CARD_READER_MAX_OUTSTANDING_CHALLENGES), then sent on schedule; latency is
   measured from the scheduled send time (no coordinated omission).

Bounded: about a minute after the first set-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.machine import machine
from nikgate.loadgen.percentiles import nearest_rank

ROOT = Path(__file__).resolve().parent.parent
INSTITUTION = "card-reader-demo"
WARM_UP = 20                # unmeasured CardVerify calls before the open loop


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def stats(values_ms: list[float]) -> dict[str, float]:
    v = sorted(values_ms)
    return {"n": len(v), "p50": round(nearest_rank(v, 50), 3),
            "p90": round(nearest_rank(v, 90), 3), "p99": round(nearest_rank(v, 99), 3),
            "max": round(v[-1], 3), "mean": round(statistics.fmean(v), 3)}


def connection(work: Path, port: int):
    from nikgate.clients import Connection
    from nikgate.server.pki import ca as pki

    layout = pki.Layout(work / "pki")
    cert, key = layout.client_paths("institution", INSTITUTION)
    return Connection(f"127.0.0.1:{port}", layout.ca_cert, cert, key)


def full_checks(session_factory, secret: str, nik: str, reads: int) -> dict[str, Any]:
    """`reads` whole checks on one session; per-step ms."""
    from nikgate.clients.cardreader import SyntheticSensor

    steps: dict[str, list[float]] = {k: [] for k in
                                     ("read", "fingerprint", "challenge_and_sign",
                                      "card_verify", "total")}
    attempts: list[int] = []
    verdicts: dict[str, int] = {}
    with session_factory() as s:
        t = time.perf_counter()
        s.unlock(secret)
        unlock_ms = (time.perf_counter() - t) * 1e3
        for i in range(reads):
            t0 = time.perf_counter()
            s.read_card()
            t1 = time.perf_counter()
            fp = s.match_fingerprint(SyntheticSensor(nik, seed=i))
            t2 = time.perf_counter()
            request = s.signed_request()
            t3 = time.perf_counter()
            check = s.send(request)
            t4 = time.perf_counter()
            for k, a, b in (("read", t0, t1), ("fingerprint", t1, t2),
                            ("challenge_and_sign", t2, t3), ("card_verify", t3, t4),
                            ("total", t0, t4)):
                steps[k].append((b - a) * 1e3)
            attempts.append(fp.attempts)
            verdicts[check.verdict] = verdicts.get(check.verdict, 0) + 1
    return {"unlock_ms": round(unlock_ms, 1), "steps_ms": {k: stats(v) for k, v in
                                                           steps.items()},
            "fingerprint_attempts_mean": round(statistics.fmean(attempts), 3),
            "verdicts": verdicts}


def open_loop(session, nik: str, rate: int, seconds: float) -> dict[str, Any]:
    """CardVerify alone at `rate` calls/s: pre-signed requests sent on schedule."""
    from nikgate.clients.cardreader import SyntheticSensor

    total = int(rate * seconds)
    session.read_card()
    session.match_fingerprint(SyntheticSensor(nik, seed=1))
    log(f"signing {total + WARM_UP} readouts for the open loop")
    requests = [session.signed_request() for _ in range(total + WARM_UP)]
    for request in requests[total:]:     # unmeasured: the server's first calls
        session.send(request)
    latencies: list[float] = []
    service: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    interval = 1.0 / rate
    start = time.perf_counter() + 0.2
    threads = []

    def fire(i: int) -> None:
        scheduled = start + i * interval
        t = time.perf_counter()
        try:
            session.send(requests[i])
        except Exception as e:   # noqa: BLE001 - reported in the figures
            with lock:
                errors.append(type(e).__name__ + ": " + str(e)[:120])
            return
        done = time.perf_counter()
        with lock:
            latencies.append((done - scheduled) * 1e3)
            service.append((done - t) * 1e3)

    for i in range(total):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        th = threading.Thread(target=fire, args=(i,))
        th.start()
        threads.append(th)
    for th in threads:
        th.join(30)
    achieved = len(latencies) / max(1e-9, (time.perf_counter() - start))
    return {"rate": rate, "seconds": seconds, "calls": total, "ok": len(latencies),
            "errors": errors[:5], "error_count": len(errors),
            "latency_ms": stats(latencies) if latencies else None,
            "over_50ms": sum(1 for v in latencies if v > 50),
            "service_ms": stats(service) if service else None,
            "achieved_per_s": round(achieved, 1)}


def demo_session(card_reader, sam_reader, conn):
    """A teller session on the demo's reader (the serial its SAM is active on)."""
    from nikgate.cli.demo import DEMO_READER
    from nikgate.clients.cardreader import CardReaderSession

    return CardReaderSession(card_reader, sam_reader, reader_serial=DEMO_READER,
                             connection=conn)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-card")
    p.add_argument("--reads", type=int, default=50, help="full checks per reader path")
    p.add_argument("--rate", type=int, default=50, help="CardVerify calls/s (default 50)")
    p.add_argument("--seconds", type=float, default=10.0, help="open loop length")
    p.add_argument("--no-pcsc", action="store_true", help="skip the PC/SC path")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)

    import subprocess

    from bench.service_bench import Server
    from nikgate.card import CardImage, SamImage, SimReader
    from nikgate.card.chip import ChipEmulator
    from nikgate.card.sam import SamEmulator

    work = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log(f"preparing {work} ({args.records:,} records)")
    subprocess.run([sys.executable, "-m", "nikgate", "demo", "--no-serve", "--dir",
                    str(work), "--records", str(args.records), "--port", "0"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    card = CardImage.load(work / "cards" / "current.card.json")
    nik = card.nik
    sam_image = SamImage.load(work / "cards" / "sam.json")
    secret = (work / "cards" / "sam-secret").read_text().strip()
    outstanding = int(args.rate * args.seconds) + WARM_UP + 16
    os.environ["NIKGATE_CARD_READER_MAX_OUTSTANDING_CHALLENGES"] = str(outstanding)
    server = Server("nikgate", 1, work, work / "pki", 1)
    results: dict[str, Any] = {"machine": machine(), "records": args.records,
                               "reads": args.reads}
    try:
        conn = connection(work, server.port)
        # Two warm-up checks (connection set-up, the first challenge) are not measured.
        def sim():
            return demo_session(SimReader(ChipEmulator(card)),
                                SimReader(SamEmulator(sam_image)), conn)

        full_checks(sim, secret, nik, 2)
        log(f"full check, in-process emulators: {args.reads} reads")
        results["full_check_sim"] = full_checks(sim, secret, nik, args.reads)
        if not args.no_pcsc:
            results["full_check_pcsc"] = _pcsc(card, sam_image, conn, secret, nik,
                                               args.reads)
        log(f"CardVerify alone: {args.rate} calls/s for {args.seconds:g} s")
        with sim() as s:
            s.unlock(secret)
            results["card_verify_open_loop"] = open_loop(s, nik, args.rate, args.seconds)
    finally:
        server.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


def _pcsc(card, sam_image, conn, secret: str, nik: str, reads: int) -> dict[str, Any]:
    from nikgate.card.chip import ChipEmulator
    from nikgate.card.pcscd import PcscdNotInstalled, PrivatePcscd
    from nikgate.card.reader import PcscReader
    from nikgate.card.sam import SamEmulator
    from nikgate.card.vpcd import VirtualCard

    daemon = PrivatePcscd(Path(tempfile.mkdtemp(prefix="bench-pcscd-")))
    try:
        daemon.start()
    except PcscdNotInstalled as e:
        log(f"PC/SC path skipped: {e}")
        return {"skipped": str(e)}
    os.environ.update(daemon.client_env())
    cards = [VirtualCard(ChipEmulator(card), daemon.ports[0]).start(),
             VirtualCard(SamEmulator(sam_image), daemon.ports[1]).start()]
    try:
        for name in daemon.readers:
            deadline = time.monotonic() + 10
            while not PcscReader(name).card_present():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: the virtual card did not arrive")
                time.sleep(0.02)
        def factory():
            return demo_session(f"pcsc:{daemon.readers[0]}", f"pcsc:{daemon.readers[1]}",
                                conn)

        full_checks(factory, secret, nik, 2)
        log(f"full check through PC/SC: {reads} reads")
        return full_checks(factory, secret, nik, reads)
    finally:
        for c in cards:
            c.stop()
        daemon.stop()


if __name__ == "__main__":
    sys.exit(main())
