"""Service latency: /health, /setup, webhook acks under 50 concurrent senders, /predict x1000.

Starts a real `labelloop serve` (uvicorn, SQLite in a temp dir, in-process worker) on loopback and
drives it from this process with httpx. Prints a markdown section.

    .venv/bin/python bench/bench_service.py
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
          '<Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>'
          '</Choices></View>')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABELLOOP_", "LABEL_STUDIO",
                                                                      "OPENAI_"))}
    env["LABELLOOP_LOG_LEVEL"] = "WARNING"
    env["LABELLOOP_RETRAIN_DEBOUNCE_S"] = "3600"  # measure the ack path, not background jobs
    # --no-worker: the jobs the events trigger (embedding thousands of texts, retraining) would
    # otherwise share the 2 cores with the server being measured; deployments that care run
    # them in `labelloop worker`.
    proc = subprocess.Popen([str(ROOT / ".venv/bin/labelloop"), "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", str(data_dir), "--no-worker"],
                            env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("labelloop serve did not start")


def sequential(client: httpx.Client, method: str, path: str, n: int, **kw) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.request(method, path, **kw)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def seed_predictions(data_dir: Path, n: int) -> None:
    from labelloop.storage import open_storage
    from labelloop.storage.records import Prediction

    st = open_storage(f"sqlite:///{data_dir / 'labelloop.db'}")
    res = [{"from_name": "sentiment", "to_name": "text", "type": "choices",
            "value": {"choices": ["negative"]}, "score": 0.7}]
    with st.write() as tx:
        tx.upsert_tasks(1, [{"id": 10_000_000 + i, "data": {"text": f"t{i}"}} for i in range(n)])
        tx.save_predictions([Prediction(10_000_000 + i, 1, "llm", "llm-bench", res, 0.7)
                             for i in range(n)])
    st.close()


def _request_bytes(host: str, path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _read_response(sock: socket.socket, buf: bytearray) -> bool:
    """Read what is there; True once one whole response (headers + Content-Length) is in."""
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("server closed the connection")
    buf.extend(chunk)
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    if not buf.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {bytes(buf[:80])!r}")
    length = 0
    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(buf) >= head_end + 4 + length


def webhook_bursts(url: str, senders: int, bursts: int, *, base: int = 5_000_000) -> list[float]:
    """``senders`` webhooks that land at the same instant, ``bursts`` times (50 annotators who
    submit together). Requests are pre-built and written to ``senders`` open keep-alive
    connections in a tight loop, so the client adds microseconds, not milliseconds; each
    latency runs from the first write of the burst to that response's last byte."""
    host, port = url.removeprefix("http://").split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(senders)]
    lat: list[float] = []
    try:
        for b in range(bursts):
            reqs = []
            for i in range(senders):
                aid = base + b * 1000 + i
                body = json.dumps({
                    "action": "ANNOTATION_CREATED",
                    "annotation": {"id": aid, "task": aid, "completed_by": i + 1, "result": [],
                                   "updated_at": "2026-11-24T00:00:00Z"},
                    "task": {"id": aid, "data": {"text": f"review {aid}"}},
                    "project": {"id": 1}}).encode()
                reqs.append(_request_bytes(host, "/webhook", body))
            sel = selectors.DefaultSelector()
            bufs = {s.fileno(): bytearray() for s in socks}
            t0 = time.perf_counter()
            for s, r in zip(socks, reqs):
                s.sendall(r)
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            pending = len(socks)
            while pending:
                for key, _ in sel.select(timeout=10):
                    s = key.fileobj
                    if _read_response(s, bufs[s.fileno()]):  # type: ignore[arg-type]
                        lat.append((time.perf_counter() - t0) * 1000)
                        sel.unregister(s)
                        pending -= 1
            sel.close()
            time.sleep(0.2)
    finally:
        for s in socks:
            s.close()
    return lat


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local id = 9000000 + counter * 7 + math.random(0, 6)
  local body = '{"action":"ANNOTATION_CREATED","annotation":{"id":' .. id .. ',"task":' .. id ..
    ',"completed_by":1,"result":[],"updated_at":"2026-11-24"},"task":{"id":' .. id ..
    ',"data":{"text":"review ' .. id .. '"}},"project":{"id":1}}'
  return wrk.format("POST", "/webhook", {["Content-Type"]="application/json"}, body)
end
"""


def wrk_flood(url: str, connections: int, seconds: int) -> dict[str, str] | None:
    """Closed-loop saturation with wrk (C, so the client costs little): None without wrk."""
    if not shutil.which("wrk"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", f.name, url], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            found[parts[0]] = parts[1]
        if line.startswith("Requests/sec:"):
            found["rps"] = line.split()[1]
        if "Non-2xx" in line or "Socket errors" in line:
            found["errors"] = line.strip()
    return found


def main() -> None:
    rows = []
    flood = None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        proc, url = start_server(data_dir)
        try:
            with httpx.Client(base_url=url, timeout=10) as c:
                setup = {"project": "1.1700000000", "schema": CONFIG, "hostname": "",
                         "access_token": ""}
                sequential(c, "POST", "/setup", 20, json=setup)  # warm-up
                h = sequential(c, "GET", "/health", 1000)
                s = sequential(c, "POST", "/setup", 500, json=setup)
            rows.append(("GET /health, sequential, n=1000", h, "p99 ≤ 10 ms"))
            rows.append(("POST /setup, sequential, n=500", s, "(LS timeout 3 s)"))
            cold = webhook_bursts(url, 50, 5, base=4_000_000)  # the first bursts after start
            b = webhook_bursts(url, 50, 40)
            rows.append(("POST /webhook, 5 bursts of 50 simultaneous senders right after "
                         + "start-up, n=250", cold, ""))
            rows.append(("POST /webhook, then 40 more bursts of 50 simultaneous senders, "
                         + "n=2000", b, "p99 ≤ 50 ms"))
            flood = wrk_flood(url, 50, 10)
            with httpx.Client(base_url=url, timeout=10) as c:
                events = c.get("/status").json()["events"]
        finally:
            proc.terminate()
            proc.wait(15)
        # /predict for 1,000 tasks whose predictions are stored
        seed_predictions(data_dir, 1000)
        proc, url = start_server(data_dir)
        try:
            tasks = [{"id": 10_000_000 + i, "data": {"text": f"t{i}"}, "project": 1}
                     for i in range(1000)]
            body = json.dumps({"tasks": tasks, "project": "1.1700000000"})
            with httpx.Client(base_url=url, timeout=60) as c:
                p = sequential(c, "POST", "/predict", 11, content=body,
                               headers={"content-type": "application/json"})
                got = c.post("/predict", content=body,
                             headers={"content-type": "application/json"}).json()
            if got["count"]["predictions"] != 1000:
                raise SystemExit(f"predict answered {got['count']}")
            rows.append(("POST /predict, 1,000 tasks with stored predictions, n=11", p, "≤ 1 s"))
        finally:
            proc.terminate()
            proc.wait(15)
    print("## Service latency (`bench/bench_service.py`)\n")
    print("A real `labelloop serve --no-worker` (uvicorn, SQLite WAL; the jobs the events "
          "trigger are left queued, as for a separate `labelloop worker`) on loopback. The "
          "Python client (httpx) runs on the same 2 cores, so its figures include the client's "
          "own time; the flood uses `wrk` (C).\n")
    print("| what | median ms | p99 ms | max ms | target |")
    print("|---|---:|---:|---:|---|")
    for name, v, target in rows:
        print(f"| {name} | {statistics.median(v):.2f} | {pct(v, 99):.2f} | {max(v):.2f} | "
              f"{target} |")
    if flood:
        print(f"| POST /webhook, closed-loop flood, wrk 50 connections 10 s: "
              f"{flood.get('rps')} req/s {flood.get('errors', '(no errors)')} | "
              f"{flood.get('50%')} | {flood.get('99%')} | | (saturation; not a target) |")
    else:
        print("| POST /webhook flood | wrk not installed: skipped | | | |")
    print(f"\nEvents stored during the run: {events}.\n")


if __name__ == "__main__":
    main()
