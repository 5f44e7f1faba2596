#!/usr/bin/env python3
"""Side-by-side load harness: kakehashi and rotel under the same load into the same sink.

For each scenario and repetition, each collector runs in turn as its own process; `loadgen`
offers the load over loopback; `kakehashi intake --count-only` is the Datadog intake. Measured
for the collector process only: CPU seconds (utime + stime from /proc/PID/stat, from just before
the load starts until every accepted span reached the sink), peak RSS (VmHWM), spans accepted by
the collector and spans delivered to the sink (they must be equal).

Scenarios:
  a  the seed pipeline: OTLP/gRPC -> resource -> batch/datadog -> datadog, as fast as accepted
     (rotel: OTLP/gRPC -> datadog exporter; it has no resource processor)
  b  OTLP/HTTP -> batch -> nop, as fast as accepted (rotel: --exporter blackhole)
  c  the seed pipeline at a fixed offered load (default 20k spans/s): CPU% and RSS at equal work
  d  decode-only of the same payloads in one process (`loadgen decode`): the limit

Usage:  python3 scripts/perf/side_by_side.py [--repeat 3] [--duration 10] [--scenarios abcd]
        python3 scripts/perf/side_by_side.py --smoke      # CI: builds, runs everything briefly
Results: target/perf/results.json and target/perf/results.md (the markdown table).
rotel is installed by this script into target/perf/venv from PyPI (pinned below).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "perf"
ROTEL_VERSION = "0.0.1a15"  # its binary reports "0.0.1-alpha10"
API_KEY = "0123456789abcdef0123456789abcdef"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Scenarios a and c run the checked-in seed config itself; only what must differ on this machine
# is overridden with --set (loopback ports, the sink as Datadog, no host metadata, the log level).
SEED_CONFIG = ROOT / "config" / "examples" / "seed-datadog.yaml"


def seed_overrides(grpc: int, sink: int, log_level: str) -> list[str]:
    dd = "exporters.datadog."
    sets = [
        f"receivers.otlp.protocols.grpc.endpoint=127.0.0.1:{grpc}",
        f"{dd}hostname=bench-collector",
        f"{dd}traces.endpoint=http://127.0.0.1:{sink}",
        f"{dd}metrics.endpoint=http://127.0.0.1:{sink}",
        f"{dd}host_metadata.enabled=false",
        f"service.telemetry.logs.level={log_level}",
        "service.telemetry.metrics.level=none",
    ]
    return [arg for s in sets for arg in ("--set", s)]


NOP_CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http}
processors:
  batch:
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [nop]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Env:
    def __init__(self, build: bool, profile: str) -> None:
        out_dir = "release" if profile == "release" else "debug"
        self.kakehashi = ROOT / "target" / out_dir / "kakehashi"
        self.loadgen = ROOT / "target" / out_dir / "loadgen"
        if build:
            subprocess.run(
                ["cargo", "build", "--profile", profile, "-p", "kakehashi-collector", "-p", "kakehashi-loadgen"],
                cwd=ROOT,
                check=True,
            )
        for binary in (self.kakehashi, self.loadgen):
            if not binary.is_file():
                sys.exit(f"{binary} does not exist: build it (or run without --no-build)")
        venv = OUT / "venv"
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", f"rotel=={ROTEL_VERSION}"],
            check=True,
        )
        rotel = next((venv / "lib").glob("python*/site-packages/rotel/rotel-agent"))
        self.rotel = rotel
        self.tmp = Path(tempfile.mkdtemp(prefix="kakehashi-perf-"))


def start_sink(env: Env) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(env.kakehashi), "intake", "--count-only", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(env.tmp / "sink.log", "ab"),
    )
    wait_port(port, proc)
    return proc, port


def start_collector(env: Env, who: str, scenario: str, sink: int | None, args: argparse.Namespace):
    grpc, http = free_port(), free_port()
    log = open(env.tmp / f"{who}-{scenario}.log", "ab")
    proc_env = dict(os.environ, DD_API_KEY=API_KEY)
    if who in ("kakehashi", "baseline"):
        # The baseline is another kakehashi binary (--baseline), run exactly as kakehashi is.
        binary = env.kakehashi if who == "kakehashi" else args.baseline
        if scenario in "ac":
            cmd = [
                str(binary),
                "--config",
                str(SEED_CONFIG),
                *seed_overrides(grpc, sink, args.log_level),
                *args.kakehashi_arg,
            ]
        else:
            cfg = env.tmp / f"{scenario}.yaml"
            cfg.write_text(NOP_CONFIG.format(http=http))
            cmd = [str(binary), "--config", str(cfg)]
    else:
        cmd = [
            str(env.rotel),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http}",
            "--pid-file",
            str(env.tmp / "rotel.pid"),
            "--log-file",
            str(env.tmp / "rotel.log"),
        ]
        if scenario in "ac":
            cmd += [
                "--exporter",
                "datadog",
                "--datadog-exporter-custom-endpoint",
                f"http://127.0.0.1:{sink}",
                "--datadog-exporter-api-key",
                API_KEY,
            ]
        else:
            cmd += ["--exporter", "blackhole"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=proc_env)
    port = grpc if scenario in "ac" else http
    wait_port(port, proc)
    return proc, port


def run_loadgen(env: Env, protocol: str, port: int, duration: float, rate: int, batch: int, conns: int) -> dict:
    cmd = [
        str(env.loadgen),
        "send",
        "--endpoint",
        f"127.0.0.1:{port}",
        "--protocol",
        protocol,
        "--rate",
        str(rate),
        "--batch-size",
        str(batch),
        "--connections",
        str(conns),
        "--duration",
        f"{duration}s",
        "--json",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def wait_delivered(sink: int, want: int, timeout: float = 60.0) -> dict:
    """Waits until the sink counted `want` spans (or stops changing for 5 s)."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        c = get_json(f"http://127.0.0.1:{sink}/counts")
        if c["spans"] >= want:
            return c
        if c["spans"] != last:
            last, last_change = c["spans"], time.monotonic()
        if time.monotonic() - last_change > 5 or time.monotonic() > deadline:
            return c
        time.sleep(0.1)


def run_case(env: Env, who: str, scenario: str, args) -> dict:
    sink_proc, sink = (None, None)
    proc = None
    try:
        if scenario in "ac":
            sink_proc, sink = start_sink(env)
        proc, port = start_collector(env, who, scenario, sink, args)
        time.sleep(0.5)  # let start-up settle: its CPU is not the pipeline's
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        protocol = "grpc" if scenario in "ac" else "http"
        rate = args.rate if scenario == "c" else 0
        lg = run_loadgen(env, protocol, port, args.duration, rate, args.batch_size, args.connections)
        if scenario in "ac":
            counts = wait_delivered(sink, lg["accepted_spans"])
            delivered = counts["unique_spans"]
        else:
            counts, delivered = None, lg["accepted_spans"]
            time.sleep(0.5)
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.monotonic() - t0
        rss = peak_rss_mb(proc.pid)
        if proc.poll() is not None:
            raise RuntimeError(f"{who} exited during the run")
        return {
            "collector": who,
            "scenario": scenario,
            "accepted": lg["accepted_spans"],
            "refused": lg["refused_spans"],
            "failed": lg["failed_spans"],
            "delivered": delivered,
            "duplicates": counts["duplicate_spans"] if counts else 0,
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "cpu_pct": round(100 * cpu / wall, 1),
            "spans_per_cpu_s": round(delivered / cpu) if cpu > 0 else None,
            "peak_rss_mb": round(rss, 1),
            "achieved_rate": lg["achieved_rate"],
            "p99_ms": lg["latency_ms"]["p99"],
            "sink": counts,
        }
    finally:
        stop(proc)
        stop(sink_proc)


def run_decode(env: Env, args) -> dict:
    out = subprocess.run(
        [str(env.loadgen), "decode", "--batch-size", str(args.batch_size), "--duration", f"{args.duration}s", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    d = json.loads(out.stdout)
    return {"collector": "decode-only", "scenario": "d", "spans_per_cpu_s": round(d["spans_per_cpu_s"])}


def median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def paired_ratios(results: list[dict], scenario: str) -> list[float]:
    """kakehashi/baseline spans per CPU-s of each repetition: the two ran back to back, so a
    ratio per pair cancels most of the VM's drift, which a ratio of medians does not."""
    by_rep: dict[int, dict[str, float]] = {}
    for r in results:
        if r["scenario"] == scenario and r["collector"] in ("kakehashi", "baseline") and r.get("spans_per_cpu_s"):
            by_rep.setdefault(r["rep"], {})[r["collector"]] = r["spans_per_cpu_s"]
    return [p["kakehashi"] / p["baseline"] for p in by_rep.values() if len(p) == 2]


def summarize(results: list[dict]) -> tuple[str, dict]:
    def med(who, scenario, key):
        return median([r for r in results if r["collector"] == who and r["scenario"] == scenario], key)

    lines = [
        "| scenario | collector | spans/CPU-s | CPU % | peak RSS MB | accepted | delivered | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario in "abc":
        for who in ("kakehashi", "baseline", "rotel"):
            rows = [r for r in results if r["collector"] == who and r["scenario"] == scenario]
            if not rows:
                continue
            lines.append(
                f"| {scenario} | {who} | {med(who, scenario, 'spans_per_cpu_s'):,.0f} | "
                f"{med(who, scenario, 'cpu_pct'):.1f} | {med(who, scenario, 'peak_rss_mb'):.1f} | "
                f"{med(who, scenario, 'accepted'):,.0f} | {med(who, scenario, 'delivered'):,.0f} | "
                f"{med(who, scenario, 'p99_ms'):.1f} |"
            )
    d = med("decode-only", "d", "spans_per_cpu_s")
    if d:
        lines.append(f"| d | decode-only | {d:,.0f} | | | | | |")

    ratios = {}

    def ratio(name, num, den):
        if num and den:
            ratios[name] = round(num / den, 2)

    ratio("a: kakehashi/rotel spans per CPU-s (target >= 10)", med("kakehashi", "a", "spans_per_cpu_s"), med("rotel", "a", "spans_per_cpu_s"))
    ratio("a: kakehashi/rotel peak RSS", med("kakehashi", "a", "peak_rss_mb"), med("rotel", "a", "peak_rss_mb"))
    ratio("b: kakehashi/rotel-blackhole spans per CPU-s (target >= 1.5)", med("kakehashi", "b", "spans_per_cpu_s"), med("rotel", "b", "spans_per_cpu_s"))
    ratio("c: kakehashi/rotel peak RSS at equal load (target <= 0.2)", med("kakehashi", "c", "peak_rss_mb"), med("rotel", "c", "peak_rss_mb"))
    ratio("c: kakehashi/rotel CPU at equal load", med("kakehashi", "c", "cpu_pct"), med("rotel", "c", "cpu_pct"))
    ratio("a/d: kakehashi seed pipeline / decode-only (target >= 0.35)", med("kakehashi", "a", "spans_per_cpu_s"), d)
    for scenario in "abc":
        pairs = paired_ratios(results, scenario)
        if pairs:
            above = sum(1 for r in pairs if r > 1)
            ratios[f"{scenario}: kakehashi/baseline spans per CPU-s, median of {len(pairs)} back-to-back pairs"] = round(
                statistics.median(pairs), 3
            )
            ratios[f"{scenario}: pairs where kakehashi did more spans per CPU-s"] = f"{above} of {len(pairs)}"
    lost = [r for r in results if r["scenario"] in "ac" and r["delivered"] != r["accepted"]]
    lines.append("")
    for k, v in ratios.items():
        lines.append(f"- {k}: **{v}**")
    lines.append(f"- runs where delivered != accepted: {len(lost)}")
    return "\n".join(lines), ratios


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="abcd")
    p.add_argument("--collectors", default="kakehashi,rotel")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    p.add_argument("--rate", type=int, default=20000, help="offered spans/s in scenario c")
    p.add_argument("--batch-size", type=int, default=100, help="spans per OTLP request")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--log-level", default="debug", help="kakehashi's log level in a/c (the seed config says debug)")
    p.add_argument(
        "--kakehashi-arg",
        action="append",
        default=[],
        help="extra argument for kakehashi in a/c, repeatable; e.g. "
        "--kakehashi-arg=--feature-gates=exporter.datadogexporter.DisableAPMStats compares without "
        "APM stats, as rotel runs",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="A/B mode: another kakehashi binary (e.g. a copy of target/release/kakehashi built from "
        "main) run in each scenario right after or before kakehashi, alternating the order per "
        "repetition; prints the median of the per-pair ratios",
    )
    p.add_argument("--no-build", action="store_true", help="use the binaries already in target/ (CI: the tests built them)")
    p.add_argument("--profile", default="release", help="cargo profile of the binaries (dev for --smoke)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CI: one short run of everything with the dev binaries the tests built; checks it completes, not speed",
    )
    args = p.parse_args()
    if args.smoke:
        args.repeat, args.duration, args.rate, args.profile = 1, 2.0, 2000, "dev"
    OUT.mkdir(parents=True, exist_ok=True)
    env = Env(build=not args.no_build, profile=args.profile)
    collectors = args.collectors.split(",")
    if args.baseline:
        if not args.baseline.is_file():
            p.error(f"--baseline {args.baseline}: no such file")
        collectors = [c for c in collectors if c != "rotel"] + ["baseline"]
    results = []
    for rep in range(args.repeat):
        for scenario in args.scenarios:
            if scenario == "d":
                r = run_decode(env, args)
                results.append(r)
                print(f"[{rep + 1}/{args.repeat}] d decode-only: {r['spans_per_cpu_s']:,} spans/CPU-s", flush=True)
                continue
            # Alternate the order per repetition, so neither binary always runs first.
            for who in collectors if rep % 2 == 0 else collectors[::-1]:
                r = run_case(env, who, scenario, args)
                r["rep"] = rep
                results.append(r)
                print(
                    f"[{rep + 1}/{args.repeat}] {scenario} {who}: {r['spans_per_cpu_s']:,} spans/CPU-s, "
                    f"cpu {r['cpu_s']}s ({r['cpu_pct']}%), rss {r['peak_rss_mb']} MB, "
                    f"accepted {r['accepted']:,} delivered {r['delivered']:,} refused {r['refused']:,} failed {r['failed']:,}",
                    flush=True,
                )
    table, ratios = summarize(results)
    if args.smoke:
        table = "SMOKE RUN (dev binaries, 2 s): checks the harness works; the numbers are not measurements.\n\n" + table
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rotel": ROTEL_VERSION,
        "cpus": os.cpu_count(),
    }
    (OUT / "results.json").write_text(json.dumps({"meta": meta, "runs": results, "ratios": ratios}, indent=2))
    (OUT / "results.md").write_text(f"Run {meta['date']}, {json.dumps(meta['args'])}\n\n{table}\n")
    print(table)
    print(f"\nwritten: {OUT / 'results.json'}, {OUT / 'results.md'}; logs in {env.tmp}")
    bad = [r for r in results if r["scenario"] in "ac" and r["collector"] == "kakehashi" and r["delivered"] != r["accepted"]]
    if bad:
        print(f"FAIL: kakehashi lost spans in {len(bad)} run(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
