#!/usr/bin/env python3
"""The OpenSSL seed source (issue 14) against the real preemptd on a
temporary socket: the system openssl CLI and test-rand, configured by the
installed example (openssl/preemptd-openssl.cnf) with only socket and strict
added; the daemon serving, stopped, and failed (fault build), each under the
default and the strict setting; and fork.

The daemon's served.conditioned counter is the witness that a seed came from
preemptd: each seed draws 32 conditioned bytes (256 bits)."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import harness
from rel import PREEMPTD, PREEMPTD_FAULT, EventWatch, Load, read_ok
from checks import Checks

OPENSSL = os.environ.get("PBD_OPENSSL_BIN", "")
TEST_RAND = os.environ["PBD_TEST_RAND"]
CNF = os.environ["PBD_OPENSSL_CNF"]
MODULES = os.environ["OPENSSL_MODULES"]
PRELOAD = os.environ.get("PBD_SANITIZER_PRELOAD", "").strip()
SEED = 32
LOG = "preemptd-provider["

t = Checks()
tmp = tempfile.mkdtemp(prefix="pbd-ossl-")
assert OPENSSL, "no openssl binary: install the openssl package"


def config(sock, strict, verbose=False):
    """The example config with socket and strict (True, False or a string)
    set, and verbose = yes when asked; returns its path."""
    with open(CNF) as f:
        text = f.read()
    word = {True: "yes", False: "no"}.get(strict, strict)
    extra = "socket = %s\nstrict = %s\n" % (sock, word)
    if verbose:
        extra += "verbose = yes\n"
    out = text.replace("[preemptd_sect]\n", "[preemptd_sect]\n" + extra, 1)
    assert extra in out, "no [preemptd_sect] in " + CNF
    path = os.path.join(tmp, "strict-%s%s.cnf" % (word, "-v" if verbose
                                                   else ""))
    with open(path, "w") as f:
        f.write(out)
    return path


def run(argv, cnf=None):
    env = dict(os.environ)
    env.pop("OPENSSL_CONF", None)
    if cnf:
        env["OPENSSL_CONF"] = cnf
    if argv[0] == OPENSSL and PRELOAD:
        # An instrumented preemptd.so in the uninstrumented system openssl:
        # the sanitizer run-times must come first. The provider's code is
        # checked (leaks included), openssl's own code is not.
        env["LD_PRELOAD"] = PRELOAD
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=120)


def served(d):
    """Conditioned bytes served so far, once the daemon has the blocks the
    next check draws: the provider waits at most its timeout_ms (1 s by
    default) for a seed and otherwise, rightly, seeds from the OS alone, so
    on a loaded machine (an idle-priority sampler makes tens of events a
    second under ASan and a parallel test) the checks must not race the
    source."""
    d.wait_stock(1024, timeout=180)  # 6 blocks of 160 raw bytes
    return d.stats()["served"]["conditioned"]


def rand_cli(cnf):
    return run([OPENSSL, "rand", "-hex", "32"], cnf)


def status(out, who="self"):
    m = re.search(r"^status %s (.*)$" % who, out, re.M)
    assert m, "no status %s line in %r" % (who, out)
    return dict(kv.split("=", 1) for kv in m.group(1).split())


def provider_lines(err):
    return [ln for ln in err.splitlines() if ln.startswith(LOG)]


def listed():
    p = run([OPENSSL, "list", "-random-generators", "-provider-path", MODULES,
             "-provider", "preemptd"])
    assert p.returncode == 0, p.stderr
    assert re.search(r"^\s*PREEMPTD @ preemptd$", p.stdout, re.M), p.stdout
    print("   ", " | ".join(ln.strip() for ln in p.stdout.splitlines()))


def cli_seeds_from_daemon(d, cnf):
    before = served(d)
    p = rand_cli(cnf)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", p.stdout), p.stdout
    assert not provider_lines(p.stderr), p.stderr
    delta = served(d) - before
    print("    openssl rand -hex 32 -> %s; served.conditioned +%d"
          % (p.stdout.strip()[:16] + "...", delta))
    assert delta == SEED, "served.conditioned rose by %d, not %d" % (delta, SEED)


def program_seeds_from_daemon(d, cnf, strict):
    before = served(d)
    p = run([TEST_RAND, "bytes"], cnf)
    assert p.returncode == 0, p.stdout + p.stderr
    pub = re.search(r"^public ([0-9a-f]{64})$", p.stdout, re.M)
    priv = re.search(r"^private ([0-9a-f]{64})$", p.stdout, re.M)
    assert pub and priv and pub.group(1) != priv.group(1), p.stdout
    st = status(p.stdout)
    print("    " + re.search(r"^status .*$", p.stdout, re.M).group(0))
    assert st["source"] == "preemptd+os" and st["last_error"] == "-", st
    assert st["seeds"] == "1" and st["daemon_bytes"] == str(SEED), st
    assert st["strict"] == ("1" if strict else "0"), st
    assert st["strength"] == "256", st
    assert served(d) - before == SEED, (before, served(d))


def forked(d, cnf):
    before = served(d)
    p = run([TEST_RAND, "fork"], cnf)
    print("    " + "\n    ".join(p.stdout.splitlines()))
    assert p.returncode == 0, p.stdout + p.stderr
    par = re.search(r"^parent ([0-9a-f]{64})$", p.stdout, re.M).group(1)
    chi = re.search(r"^child ([0-9a-f]{64})$", p.stdout, re.M).group(1)
    assert par != chi
    # The child drew a seed of its own from the daemon (its counters carry
    # on from the parent's copy); the parent drew exactly one.
    c, q = status(p.stdout, "child"), status(p.stdout, "parent")
    assert c["seeds"] == "2" and c["daemon_bytes"] == str(2 * SEED), c
    assert c["source"] == "preemptd+os", c
    assert q["seeds"] == "1" and q["daemon_bytes"] == str(SEED), q
    assert served(d) - before == 2 * SEED, (before, served(d))


def os_only(cnf, why, errname, d=None, verbose_cnf=None):
    """Default setting without a usable daemon: output and nothing on stderr
    (every OpenSSL program of the host would print it), one syslog line per
    process however many seeds, the state in get_ctx_params, nothing
    served; with verbose = yes, the line on stderr."""
    # A failed source: nothing in stock to wait for.
    before = d.stats()["served"]["conditioned"] if d else 0
    p = rand_cli(cnf)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", p.stdout), p.stdout
    print("    openssl rand: rc 0; stderr: %r" % p.stderr)
    assert p.stderr == "", "a line on stderr: %r" % p.stderr
    p = run([TEST_RAND, "reseed"], cnf)
    assert p.returncode == 0, p.stdout + p.stderr
    st = status(p.stdout)
    print("    " + "\n    ".join(p.stdout.splitlines()[-3:]))
    assert st["source"] == "os-only" and st["last_error"] == errname, st
    assert st["os_only"] == "4" and st["daemon_bytes"] == "0", st
    assert p.stderr == "", p.stderr
    assert re.search(r"^syslog 1$", p.stdout, re.M), p.stdout
    m = re.search(r"^syslog-line (\d+) (.*)$", p.stdout, re.M)
    assert m and why in m.group(2) and LOG in m.group(2), p.stdout
    p = rand_cli(verbose_cnf)
    lines = provider_lines(p.stderr)
    print("    verbose = yes: stderr: " + " / ".join(lines))
    assert p.returncode == 0 and len(lines) == 1 and why in lines[0] and \
        "seeding from the OS alone" in lines[0], p.stderr
    if d:
        assert d.stats()["served"]["conditioned"] == before, \
            "served while failed?"


def refused(cnf, why, errname):
    """Strict setting without a usable daemon: openssl rand fails and says
    why; so does RAND_bytes."""
    p = rand_cli(cnf)
    assert p.returncode != 0, "strict gave output: %r" % p.stdout
    assert p.stdout == "", p.stdout
    print("    openssl rand: rc %d; stderr:\n      %s" % (
        p.returncode, "\n      ".join(p.stderr.splitlines()[:2])))
    assert "preemptd unavailable and strict = yes" in p.stderr, p.stderr
    assert why in p.stderr, p.stderr
    p = run([TEST_RAND, "bytes"], cnf)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "public FAILED" in p.stdout and "private FAILED" in p.stdout, p.stdout
    st = status(p.stdout)
    assert st["source"] == "refused" and st["last_error"] == errname, st
    assert st["seeds"] == "0" and int(st["refused"]) >= 1, st


def wait_failed(d):
    end = harness.time.time() + 60
    while harness.time.time() < end:
        if d.stats()["health"]["state"] == "failed":
            return
        harness.time.sleep(0.2)
    raise AssertionError("the fault build never reported a failed source")


t.check("openssl list -random-generators -provider preemptd shows PREEMPTD",
        listed)

with harness.Daemon(ring=2048) as d:
    dflt, strict = config(d.sock, False), config(d.sock, True)
    t.check("daemon up: openssl rand seeds from preemptd (+32 conditioned)",
            cli_seeds_from_daemon, d, dflt)
    t.check("daemon up: RAND_bytes + RAND_priv_bytes, one seed from preemptd",
            program_seeds_from_daemon, d, dflt, False)
    t.check("daemon up, strict: openssl rand seeds from preemptd",
            cli_seeds_from_daemon, d, strict)
    t.check("daemon up, strict: RAND_bytes + RAND_priv_bytes",
            program_seeds_from_daemon, d, strict, True)
    t.check("fork: parent and child differ; the child draws its own seed",
            forked, d, dflt)
    t.ok("daemon exits 0", d.stop() == 0)



def busy_host_seeds_from_daemon():
    """Issue 21: with every CPU busy (stress-ng, a worker pinned to each
    CPU: rel.Load), `openssl rand`
    configured as docs/openssl.md says gets its seed from preemptd within
    the provider's default timeout_ms (1 s), three times, with no stock to
    take it from: the waiting read makes the sampler sample at normal
    priority, within its budget. (At --priority idle the sampler saw 16-25
    events a second under such load: 160 events took 6-10 s, and every
    seed came from the OS alone.) The events are the fault build's
    injected ones on top of the host's (harness.RATE a second): on the
    host's own, the seed's 160 events under this load took 0.2-1.02 s
    here, so a 1 s deadline measured the host's event rate, and CI once
    failed at 1.02 s. Whether the boost itself comes in time on the host's
    events is rel-demand's check, with a deadline from the budget."""
    with Load(60), harness.Daemon("--priority", "demand", ring=65536,
                                  wait_ready=False) as d:
        watch = EventWatch(stalled=40)
        while True:
            st = d.stats()
            if st["health"]["source"] == "ok" and st["drbg"]["seeded"]:
                break
            watch.check(st, "start-up")
            harness.time.sleep(0.2)
        cnf = config(d.sock, False)
        for i in range(3):
            # No stock at all (raw bytes drained too): the seed's 160
            # events must be sampled now, on the busy host.
            with d.connect() as s:
                while True:
                    stock = d.stats()["entropy"]["conditioned_stock"]
                    if stock == 0:
                        break
                    read_ok(s, min(stock, SEED), mode="conditioned")
                while True:
                    level = d.stats()["ring"]["bytes"]
                    if level == 0:
                        break
                    read_ok(s, min(level, 256), mode="raw")
            before = d.stats()["served"]["conditioned"]
            t0 = harness.time.time()
            p = rand_cli(cnf)
            took = harness.time.time() - t0
            pol = d.stats()["policy"]
            print("    seed %d: openssl rand took %.2f s; sampler boosted "
                  "%d times, %.2f CPU-s in all" % (i, took, pol["boosts"],
                                                   pol["boost_cpu_s"]))
            assert p.returncode == 0, p.stderr
            assert not provider_lines(p.stderr), p.stderr
            assert d.stats()["served"]["conditioned"] - before == SEED


t.check("busy host (stress-ng on every CPU): openssl rand seeds from preemptd "
        "within the default timeout", busy_host_seeds_from_daemon)

# The daemon gone: its socket path now names nothing.
t.check("daemon stopped, default: OS-only seed, quiet, state reported",
        os_only, dflt, "no daemon socket", "PBD_ENOSOCKET", None,
        config(d.sock, False, True))
t.check("daemon stopped, strict: openssl rand fails with a clear error",
        refused, strict, "no daemon socket", "PBD_ENOSOCKET")

def unreadable_strict(cnf):
    """A strict value it cannot read is taken as yes, and said so: failing
    to load would leave OpenSSL on its own seed source without a word."""
    p = rand_cli(cnf)
    assert p.returncode != 0, p.stdout
    assert "strict = maybe: want yes or no; taking yes" in p.stderr, p.stderr
    assert "preemptd unavailable and strict = yes" in p.stderr, p.stderr


t.check("daemon stopped, strict = maybe: taken as yes, openssl rand fails",
        unreadable_strict, config(os.path.join(tmp, "gone.sock"), "maybe"))

def comes_back(strict):
    """The daemon appears after a process's first seed: the next seed is
    drawn from it again, and one line says so."""
    link = os.path.join(tmp, "back-%s.sock" % strict)
    cnf = config(link, strict, verbose=True)
    env = dict(os.environ, OPENSSL_CONF=cnf)
    p = subprocess.Popen([TEST_RAND, "again"], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = [p.stdout.readline(), p.stdout.readline()]
    st = status("".join(first), "first")
    assert st["source"] == ("refused" if strict else "os-only"), first
    with harness.Daemon(ring=2048) as d:
        os.symlink(d.sock, link)  # the configured path now reaches it
        before = served(d)
        out, err = p.communicate("go\n", timeout=120)
        print("    " + "\n    ".join((first[1] + out).splitlines()))
        assert p.returncode == 0, out + err
        # Strict: the primary is created anew (one seed), then reseeded.
        want = SEED * (2 if strict else 1)
        st = status(out, "second")
        assert st["source"] == "preemptd+os", st
        assert st["daemon_bytes"] == str(want), st
        assert served(d) - before == want
        lines = provider_lines(err)
        assert len(lines) == 2 and "answers again" in lines[1], err
        os.unlink(link)


t.check("daemon back, default: the next seed comes from it again",
        comes_back, False)
t.check("daemon back, strict: RAND_bytes works again", comes_back, True)

with harness.Daemon("--fault", "stuck", "--stall-ms", "500",
                    ring=2048, wait_ready=False) as d:
    dflt, strict = config(d.sock, False), config(d.sock, True)
    t.check("fault build reports a failed source", wait_failed, d)
    t.check("failed source, default: OS-only seed, quiet, state reported",
            os_only, dflt, "health test", "PBD_EHEALTH", d,
            config(d.sock, False, True))
    t.check("failed source, strict: openssl rand fails with a clear error",
            refused, strict, "health test", "PBD_EHEALTH")
    t.ok("fault daemon exits 0", d.stop() == 0)


def stopped_full_backlog(d, cnf):
    """A stopped daemon whose listen backlog is full: a seed gives up after
    timeout_ms (1000 by default), connecting included, and comes from the OS
    (it once took libpbd's 15 s connect deadline)."""
    os.kill(d.proc.pid, signal.SIGSTOP)
    fill = []
    try:
        while len(fill) < 1024:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(d.sock)
            except BlockingIOError:
                s.close()
                break
            fill.append(s)
        t0 = time.monotonic()
        p = rand_cli(cnf)
        el = time.monotonic() - t0
        print("    %d connections queued; openssl rand took %.2f s "
              "(timeout_ms 1000)" % (len(fill), el))
        assert p.returncode == 0 and p.stderr == "", p.stderr
        # 1 s for the seed; OpenSSL's start-up and a loaded machine's
        # scheduling in the rest (sanitizers included), a choice.
        assert el < 1.0 + 2.0, el
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
        for s in fill:
            s.close()


with harness.Daemon(ring=2048) as d:
    t.check("stopped daemon, full backlog: a seed ends by timeout_ms",
            stopped_full_backlog, d, config(d.sock, False))
    t.ok("daemon exits 0", d.stop() == 0)

t.finish()
