"""import tapegraph raises glibc's malloc thresholds (the step's buffers stay mapped); TAPEGRAPH_MALLOC_TUNING=0
leaves malloc alone."""
import os
import platform
import subprocess
import sys

import tapegraph as tg

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
PROBE = "import tapegraph.allocator as a, tapegraph; print(a.tuned)"


def test_tuned_on_import_where_glibc_is_the_allocator():
    assert tg.allocator.tuned is GLIBC
    assert tg.allocator.tune() is GLIBC


def test_environment_switch_leaves_malloc_alone():
    for value, expected in (("0", False), ("1", GLIBC)):
        env = dict(os.environ, TAPEGRAPH_MALLOC_TUNING=value)
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == str(expected)
