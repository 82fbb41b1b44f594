"""import tapegraph leaves glibc's malloc alone (the hot ops reuse their buffers: tapegraph.buffers);
tapegraph.allocator.tune() and TAPEGRAPH_MALLOC_TUNING=1 raise its thresholds on request."""
import os
import platform
import subprocess
import sys

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
PROBE = ("import tapegraph.allocator as a, tapegraph; before = a.tuned; ok = a.tune(); "
         "print(before, ok, a.tuned)")


def _probe(**env):
    env = {k: v for k, v in dict(os.environ, **env).items() if v is not None}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return out.stdout.split()


def test_import_leaves_malloc_alone_and_tune_is_explicit():
    before, ok, after = _probe(TAPEGRAPH_MALLOC_TUNING=None)
    assert before == "False"
    assert ok == after == str(GLIBC)


def test_environment_opt_in():
    for value, expected in (("0", False), ("1", GLIBC), ("yes", False)):
        before, _, _ = _probe(TAPEGRAPH_MALLOC_TUNING=value)
        assert before == str(expected), value
