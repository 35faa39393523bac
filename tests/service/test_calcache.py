"""The calibration cache (issue 21): with a state directory, the first
start measures and writes the cache; a restart uses it after its quick
check and still passes its start-up test; a cache whose figures disagree
with the machine (another frequency), or under another key, is measured
afresh and rewritten; a state directory that does not exist is left alone;
a malformed cache is measured over, never trusted; a threshold given once
(or written into the cache) is never carried into a later start; a link
planted beside the cache is never written through."""
import os
import re
import shutil

from svcutil import Checks, Proc, tmpdir


def start(d, state, name, *extra):
    return start_log(d, state, name, *extra)[0]


def start_log(d, state, name, *extra, ready=True):
    """The calibration note and the threshold in effect, in ticks. Without
    ready, stops once the sampler is set up: a tiny --threshold may well
    fail the start-up test."""
    p = Proc(os.path.join(d, name), "--state-dir", state, *extra)
    try:
        if ready:
            p.wait_ready()
        elif not p.wait_log(" us); credit ", timeout=60.0):
            raise RuntimeError("no threshold logged: " + p.logtext())
        p.stop()
    finally:
        p.kill()  # a failed check leaves no daemon behind
    log = p.logtext()
    return (re.search(r"calibration: ([^\n]*)", log).group(1),
            int(re.search(r"threshold (\d+) ticks", log).group(1)))


def fields(path):
    with open(path) as f:
        return dict(l.rstrip("\n").split("=", 1) for l in f
                    if "=" in l and not l.startswith("#"))


def t_cache(c):
    d = tmpdir()
    try:
        state = os.path.join(d, "state")
        os.mkdir(state)
        cache = os.path.join(state, "calibration")
        note = start(d, state, "a.sock")
        c.ok(note.startswith("measured; cached in " + cache) and
             os.path.exists(cache), "first start measures and writes", note)
        f = fields(cache)
        c.ok(f["key"].startswith("counter=") and ";cpu=" in f["key"] and
             ";model=" in f["key"] and int(f["hz"]) > 0 and
             int(f["threshold"]) > 0, "the cache holds key and figures",
             str(f))
        note = start(d, state, "b.sock")
        c.ok(note.startswith("from the cache " + cache + " (checked)"),
             "a restart uses the cache after its quick check", note)
        # Another frequency: the quick check must catch it. (From the file
        # as it is now: had the restart measured, it rewrote the figures.)
        f = fields(cache)
        with open(cache) as g:
            text = g.read()
        with open(cache, "w") as g:
            g.write(text.replace("hz=" + f["hz"],
                                 "hz=%d" % (int(f["hz"]) * 3 // 2)))
        note = start(d, state, "c.sock")
        hz = int(fields(cache)["hz"])
        c.ok(note.startswith("measured; cached") and
             "(the cache disagreed: frequency " in note and
             abs(hz - int(f["hz"])) < int(f["hz"]) // 200,
             "a cache that disagrees with the counter is measured over",
             note + " " + str(fields(cache)))
        with open(cache, "w") as g:
            g.write(text.replace(";cpu=", ";cpu=9"))
        note = start(d, state, "d.sock")
        c.ok(note.startswith("measured; cached") and
             fields(cache)["key"] == f["key"],
             "a cache under another key is measured over", note)
        with open(cache, "w") as g:
            g.write("key=%s\nhz=x\n" % f["key"])
        note = start(d, state, "e.sock")
        c.ok(note.startswith("measured; cached"),
             "a malformed cache is measured over", note)
        # A threshold given once stays with that start: the cache holds
        # the calibrated one (above 3 on any counter of 4 MHz or more),
        # and a hit derives it again.
        os.unlink(cache)
        note, given = start_log(d, state, "h.sock", "--threshold", "3",
                                ready=False)
        auto = int(fields(cache)["threshold"])
        c.ok(note.startswith("measured; cached") and given == 3 and auto > 3,
             "--threshold is not written into the cache",
             "%s: %d, cached %s" % (note, given, fields(cache)))
        with open(cache) as g:
            text = g.read()
        with open(cache, "w") as g:
            g.write(re.sub(r"threshold=\d+", "threshold=3", text))
        note, after = start_log(d, state, "i.sock", ready=False)
        c.ok(note.startswith("from the cache") and after == auto,
             "a hit takes no threshold from the cache",
             "%s: %d, calibrated %d" % (note, after, auto))
        # Regression: the cache went through a fixed CACHE.tmp opened
        # O_CREAT|O_TRUNC, which followed a link planted there: the link's
        # target was overwritten with the cache. Now a new mkostemp name.
        victim = os.path.join(d, "victim")
        with open(victim, "w") as g:
            g.write("not yours\n")
        planted = cache + ".tmp"
        os.symlink(victim, planted)
        os.unlink(cache)
        note = start(d, state, "j.sock")
        with open(victim) as g:
            kept = g.read()
        c.ok(note.startswith("measured; cached") and kept == "not yours\n"
             and os.path.islink(planted) and
             sorted(os.listdir(state)) == ["calibration", "calibration.tmp"]
             and os.stat(cache).st_mode & 0o777 == 0o600,
             "a link planted at the cache's old temporary name is not "
             "followed", "%s; victim %r; %s" % (note, kept,
                                                 os.listdir(state)))
        gone = os.path.join(d, "nonexistent")
        note = start(d, gone, "f.sock")
        c.ok(note.startswith("measured (no state directory") and
             not os.path.exists(gone),
             "a state directory that does not exist is not created", note)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    c = Checks()
    c.run(t_cache)
    c.finish()


if __name__ == "__main__":
    main()
