"""The full hostile pass (issue 13): every target x every hostile value; prints counts and the non-OK findings.

    python tests/hostile/run_hostile.py [--quiet]       # from the project root
"""
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import hostile_lib as H  # noqa: E402


def random_combinations(n, seed=0):
    """n random multi-argument mutations (several bad arguments at once, random shapes/dtypes of the input)."""
    rng = np.random.default_rng(seed)
    targets = H.op_targets() + H.layer_targets()
    counts, findings = {}, []
    for _ in range(n):
        t = targets[rng.integers(len(targets))]
        args = list(t.base_args)
        bad = []
        for i, kind in enumerate(t.kinds):
            if kind in H.BAD_VALUES and rng.random() < 0.4:
                vals = H.BAD_VALUES[kind]
                v = vals[rng.integers(len(vals))]
                args[i] = v
                bad.append((kind, v, i in t.nullable, i in t.documented))
        if rng.random() < 0.5 and isinstance(args[t.primary], np.ndarray):
            shape = tuple(int(rng.integers(0, 7)) if rng.random() < 0.3 else s for s in args[t.primary].shape)
            dtype = [np.float32, np.float64, np.float16, np.int64, np.bool_][rng.integers(5)]
            args[t.primary] = (rng.standard_normal(shape) * 2).astype(dtype)
        try:
            H.run_call(t.fn, args)
            c, d = "OK", ""
            for kind, v, nullable, documented in bad:
                if not documented and H.must_refuse(kind, v, nullable):
                    c, d = "SILENT", f"accepted {H._short(v)} for a {kind} argument"
        except Exception as e:  # noqa: BLE001
            c, d = H.classify_exc(e, t), f"{type(e).__name__}: {str(e)[:160]}"
        counts[c] = counts.get(c, 0) + 1
        if c not in ("OK", "CLEAN"):
            findings.append((c, t.name, "random:" + ",".join(H._short(b[1]) for b in bad), d))
    return counts, findings


def main():
    quiet = "--quiet" in sys.argv
    total, allf = {}, []
    for part, runner in [("ops", lambda: H.run_all(H.op_targets())),
                         ("layers", lambda: H.run_all(H.layer_targets())),
                         ("optim/loop", lambda: H.run_misc(H.misc_cases())),
                         ("random combinations", lambda: random_combinations(4000))]:
        counts, findings = runner()
        print(f"{part}: {counts}")
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
        allf += findings
    print(f"TOTAL inputs={sum(total.values())} {total}")
    if not quiet:
        for c, name, label, d in sorted(allf):
            print(f"{c:8s} {name:32s} {label:34s} {d}")
    return 0 if not any(c in ("BARE", "SILENT", "HANG") for c, *_ in allf) else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
