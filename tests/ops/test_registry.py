"""Every op in the registry has at least one gradient-check case in some tests/ops module."""
import importlib
import pkgutil

import tapegraph as tg
import tests.ops


def all_cases():
    cases = {}
    for mod in pkgutil.iter_modules(tests.ops.__path__):
        if mod.name.startswith("test_"):
            m = importlib.import_module(f"tests.ops.{mod.name}")
            for op, items in getattr(m, "GRAD_CASES", {}).items():
                cases.setdefault(op, []).extend(items)
    return cases


def test_every_registered_op_has_a_gradient_check():
    cases = all_cases()
    missing = sorted(set(tg.REGISTRY) - set(cases))
    assert not missing, f"ops without a gradient-check case in tests/ops: {missing}"


def test_cases_name_only_registered_ops():
    unknown = sorted(set(all_cases()) - set(tg.REGISTRY))
    assert not unknown, f"gradient cases for ops that are not registered: {unknown}"
