#!/usr/bin/env python3
"""Open + get one row by id in a fresh process, on databases of ~100 MB and ~1 GB: remdb's
`rem get` (release build, redb) beside SQLite's `sqlite3` shell reading the same rows by
primary key. Reports wall time, peak RSS and bytes read from disk (page cache dropped before
each run when the machine allows it, else warm).

Usage: python3 benches/open_get.py [--sizes 100,1000] [--runs 5] [--work DIR]
Needs: `cargo build --release --bin rem` (the script runs it) and `sqlite3` on PATH.
"""

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/remdb/target"))
REM = os.path.join(TARGET, "release", "rem")
ROW_BYTES = 1000
BATCH = 2000


def env():
    e = dict(os.environ, REM_EMBEDDING_MODE="off")
    for k in ("REM_DB", "REM_TENANT"):
        e.pop(k, None)
    return e


def rem(db, *args, stdin=None):
    return subprocess.run([REM, "--db", db, "--json", *args], input=stdin, env=env(),
                          capture_output=True, check=True, text=True).stdout


def body(rng):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    out = []
    while sum(len(w) + 1 for w in out) < ROW_BYTES:
        out.append(rng.choice(words) + str(rng.randrange(10000)))
    return " ".join(out)


def build(work, megabytes):
    """Both databases with `megabytes` MB of rows; returns (rem dir, sqlite file, key, id)."""
    rows = megabytes * 1_000_000 // ROW_BYTES
    rem_dir = os.path.join(work, f"rem-{megabytes}mb")
    lite = os.path.join(work, f"sqlite-{megabytes}mb.db")
    if os.path.exists(os.path.join(rem_dir, "done")) and os.path.exists(lite):
        with open(os.path.join(rem_dir, "done")) as f:
            key, rid = f.read().split()
        return rem_dir, lite, key, rid
    shutil.rmtree(rem_dir, ignore_errors=True)
    if os.path.exists(lite):
        os.remove(lite)
    schema = {"title": "doc", "type": "object",
              "properties": {"k": {"type": "string"}, "body": {"type": "string"}},
              "json_schema_extra": {"key_field": "k"}}
    schema_file = os.path.join(work, "schema.json")
    with open(schema_file, "w") as f:
        json.dump(schema, f)
    rem(rem_dir, "schema", "add", schema_file)
    con = sqlite3.connect(lite)
    con.execute("CREATE TABLE doc (id TEXT PRIMARY KEY, k TEXT UNIQUE, body TEXT)")
    rng = random.Random(megabytes)
    batch_file = os.path.join(work, "batch.json")
    probe = rows // 2
    key = rid = None
    for start in range(0, rows, BATCH):
        items = [{"k": f"doc-{i}", "body": body(rng)} for i in range(start, min(rows, start + BATCH))]
        with open(batch_file, "w") as f:
            json.dump(items, f)
        ids = json.loads(rem(rem_dir, "insert", "doc", "@" + batch_file))["ids"]
        con.executemany("INSERT INTO doc VALUES (?, ?, ?)",
                        [(i, it["k"], it["body"]) for i, it in zip(ids, items)])
        if start <= probe < start + BATCH:
            key, rid = f"doc-{probe}", ids[probe - start]
    con.commit()
    con.close()
    with open(os.path.join(rem_dir, "done"), "w") as f:
        f.write(f"{key} {rid}")
    return rem_dir, lite, key, rid


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def measure(cmd, cold, warm_up):
    """(seconds, MB read from disk, stdout) of one run of `cmd` in a fresh process. With
    `cold`, the page cache is dropped first and `warm_up` (the same program, not touching the
    database) is run, so what is read from disk is the database, not the executable."""
    if cold:
        drop_caches()
        subprocess.run(warm_up, capture_output=True, env=env())
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env())
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed: {proc.stderr.decode()}")
    blocks = resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock - before
    return elapsed, blocks * 512 / 1e6, proc.stdout


def peak_rss_mb(cmd):
    """Peak RSS of one run, from GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True,
                         env=env())
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "remdb-open-get"))
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "rem"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=TARGET))
    os.makedirs(a.work, exist_ok=True)
    cold = drop_caches()
    print(f"page cache dropped before each run: {cold}")
    print("| database | engine | file size | open + get (median) | peak RSS | read from disk |")
    print("|---|---|---|---|---|---|")
    for mb in [int(s) for s in a.sizes.split(",")]:
        rem_dir, lite, key, rid = build(a.work, mb)
        rem_size = sum(os.path.getsize(os.path.join(rem_dir, f)) for f in os.listdir(rem_dir))
        cases = [
            ("remdb `rem get ID`", [REM, "--db", rem_dir, "--json", "get", rid], rem_size,
             [REM, "--help"]),
            ("SQLite `sqlite3 … SELECT … WHERE id = ?`",
             ["sqlite3", "-readonly", lite, f"SELECT * FROM doc WHERE id = '{rid}'"],
             os.path.getsize(lite), ["sqlite3", "-version"]),
        ]
        for name, cmd, size, warm_up in cases:
            runs = []
            for _ in range(a.runs):
                secs, read_mb, out = measure(cmd, cold, warm_up)
                assert rid.encode() in out, out[:200]
                runs.append((secs, read_mb))
            runs.sort()
            secs, read_mb = runs[len(runs) // 2]
            rss = peak_rss_mb(cmd)
            print(f"| {mb} MB of rows | {name} | {size / 1e6:.0f} MB | {secs * 1000:.1f} ms "
                  f"| {rss:.1f} MB | {read_mb:.2f} MB |")


if __name__ == "__main__":
    main()
