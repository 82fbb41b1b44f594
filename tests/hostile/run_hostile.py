"""The full hostile pass (issue 13): every target x every hostile value; prints counts and the non-OK findings.

    cd /work/wt/hostile && PYTHONPATH=$PWD python tests/hostile/run_hostile.py [--quiet]
"""
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import hostile_lib as H  # noqa: E402


def main():
    quiet = "--quiet" in sys.argv
    t0 = time.time()
    total, allf = {}, []
    for part, runner in [("ops", lambda: H.run_all(H.op_targets())),
                         ("layers", lambda: H.run_all(H.layer_targets())),
                         ("optim/loop", lambda: H.run_misc(H.misc_cases()))]:
        counts, findings = runner()
        print(f"{part}: {counts}")
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        allf += findings
    print(f"TOTAL inputs={sum(total.values())} {total}  ({time.time() - t0:.0f} s)")
    if not quiet:
        for c, name, label, d in sorted(allf):
            print(f"{c:8s} {name:32s} {label:34s} {d}")
    return 0 if not any(c in ("BARE", "SILENT", "HANG") for c, *_ in allf) else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
