#!/usr/bin/env python3
"""Load (issues 3 and 5): N clients x M requests in parallel across all
modes and both main dialects, with zero protocol errors, no 32-byte block
ever served twice across all conditioned and drbg output, and the daemon's
peak RSS (VmHWM) bounded. Memory is asserted; speed is only reported."""
import random
import threading
import time

import harness
from harness import recv_frame, recv_line
from rel import alive, read_ok, vmhwm_kib
from checks import Checks

N_CLIENTS = 12
M_REQUESTS = 40
RSS_LIMIT_KIB = 64 * 1024

t = Checks()
lock = threading.Lock()
blocks = []          # every 32-byte block of conditioned and drbg output
errors = []
counts = {"requests": 0, "bytes": 0}


def keep(data):
    with lock:
        for i in range(0, len(data) - 31, 32):
            blocks.append(data[i:i + 32])
        counts["bytes"] += len(data)
        counts["requests"] += 1


def binary_client(d, rng, idx):
    with d.connect(60) as s:
        for j in range(M_REQUESTS):
            r = rng.random()
            if j == idx % M_REQUESTS:
                keep(read_ok(s, 32, "conditioned", wait_ms=60000))
            elif r < 0.1:
                data = read_ok(s, 16, "raw", wait_ms=60000)
                with lock:
                    counts["bytes"] += len(data)
                    counts["requests"] += 1
            elif r < 0.2:
                s.sendall(harness.hdr(2 if r < 0.15 else 3, 0))
                typ, _ = recv_frame(s)
                assert typ in (0x82, 0x83), typ
                with lock:
                    counts["requests"] += 1
            else:
                n = rng.choice([32, 64, 4096, 65536, 1 << 20])
                keep(read_ok(s, n, "drbg"))


def text_client(d, rng, idx):
    with d.connect(60) as s:
        for j in range(M_REQUESTS):
            if j == idx % M_REQUESTS:
                s.sendall(b"read 32\n")
            else:
                s.sendall(b"read %d drbg\n" % rng.choice([32, 256, 4096]))
            line = recv_line(s)
            assert not line.startswith("error"), line
            keep(bytes.fromhex(line))


def run(fn, d, seed, idx):
    try:
        fn(d, random.Random(seed), idx)
    except Exception as e:  # noqa: BLE001
        errors.append("%s %d: %r" % (fn.__name__, idx, e))


# Conditioned output is slow on a slow source (32 bytes per 160 events,
# and 150 events/s have been seen): text clients, which cannot ask for a
# wait limit, get a long default one.
with harness.Daemon("--wait-ms", "90000", ring=2048) as d:
    t0 = time.time()
    ths = [threading.Thread(target=run, args=(
        binary_client if i % 2 == 0 else text_client, d, 1000 + i, i))
        for i in range(N_CLIENTS)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(240)
    elapsed = time.time() - t0
    hwm = vmhwm_kib(d.proc.pid)
    st = d.stats()
    print("load: %d clients x %d requests: %d requests, %d bytes, %d blocks "
          "checked, in %.1f s; daemon VmHWM %d KiB; daemon errors %d" % (
              N_CLIENTS, M_REQUESTS, counts["requests"], counts["bytes"],
              len(blocks), elapsed, hwm, st["errors"]), flush=True)
    t.ok("all clients finished", not any(th.is_alive() for th in ths))
    # With the health and sampler figures: an EHEALTH here (seen once,
    # with a slow and starved sampler) says which test failed and the rate.
    t.ok("zero protocol errors on the client side", not errors,
         (errors, st["health"], {k: st["sampler"][k] for k in (
             "events", "event_rate", "event_rate_wall", "gaps")}))
    t.ok("zero errors counted by the daemon", st["errors"] == 0, st["errors"])
    t.ok("every request answered", counts["requests"] == N_CLIENTS * M_REQUESTS,
         counts["requests"])
    t.ok("no 32-byte block served twice (%d blocks)" % len(blocks),
         len(set(blocks)) == len(blocks), len(blocks) - len(set(blocks)))
    t.ok("peak RSS %d KiB < %d KiB" % (hwm, RSS_LIMIT_KIB),
         0 < hwm < RSS_LIMIT_KIB, hwm)
    t.check("daemon still serves", alive, d)
t.finish()
