"""Tape records -> onnx.ModelProto: value names, initializers, the symbolic batch axis, the check and the atomic write.

The per-op translations live in ``translations.py``; each receives the ``Graph`` below and one tape record and
returns the ONNX value name of the record's output. Nothing is written until the whole model is built and passes
``onnx.checker``; the file is written to a temporary name beside ``path`` and moved into place.
"""
from __future__ import annotations

import os
import re
import tempfile

import numpy as np


class ExportError(ValueError):
    """The tape cannot be exported (an op without a translation, an option ONNX lacks); nothing was written."""


def require_onnx():
    """The ``onnx`` module, or an ImportError naming the extra to install."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError('tapegraph.onnx needs the optional extra [onnx]: pip install -e ".[onnx]" '
                          "(onnx>=1.15, onnxruntime>=1.17)") from e
    return onnx


_SAFE = re.compile(r"[^A-Za-z0-9_.:/\-]+")


class Graph:
    """What a translation writes into: ONNX nodes, initializers and the names of the tape's tensors.

    ``batch`` is the example's batch size when the batch axis is symbolic (``dynamic_batch``), else None; a value
    in ``batched`` has the batch on axis 0, so shape tensors built for it must not spell the batch size out.
    """

    def __init__(self, opset: int, batch, const_names: dict, records: list, outputs: list):
        self.opset = opset
        self.batch = batch
        self.nodes = []                      # onnx NodeProto, in order
        self.inits: dict[str, np.ndarray] = {}
        self.values: dict[int, str] = {}     # id(tensor) -> value name
        self.batched: set[str] = set()
        self.fused: dict[int, str] = {}      # id(record) -> value name of its output (folded into an earlier record)
        self._const_names = const_names      # id(Parameter) or id(buffer ndarray) -> dotted name
        self._taken: set[str] = set()
        self._int_consts: dict[tuple, str] = {}
        self._prefix = ""
        self.records = records
        self.uses: dict[int, int] = {}       # id(tensor) -> number of reads (record inputs and graph outputs)
        for r in records:
            for t in r.inputs:
                self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        for t in outputs:
            self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        self.index = -1                      # tape index of the record being translated

    # -- names ---------------------------------------------------------------------------------------------------
    def unique(self, name: str) -> str:
        name = _SAFE.sub("_", name) or "value"
        out, k = name, 1
        while out in self._taken:
            out = f"{name}_{k}"
            k += 1
        self._taken.add(out)
        return out

    def begin(self, index: int, record):
        """Start translating ``record``: node names get the prefix ``<layer>/<op>_<tape index>``."""
        self.index = index
        layer = record.layer
        self._prefix = f"{layer}/{record.name}_{index}" if layer else f"{record.name}_{index}"

    # -- emitting ------------------------------------------------------------------------------------------------
    def op(self, op_type: str, inputs, n_out: int = 1, **attrs):
        """Append one ONNX node; returns its output name (a list of names when ``n_out > 1``). ``inputs`` may
        hold "" for an omitted optional input; attributes that are None are left out."""
        from onnx import helper
        name = self.unique(f"{self._prefix}/{op_type}")
        outs = [name] if n_out == 1 else [self.unique(f"{name}:{k}") for k in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, array, hint: str = "const") -> str:
        """A new initializer holding ``array``; returns its name."""
        name = self.unique(hint)
        self.inits[name] = np.ascontiguousarray(array)
        return name

    def ints(self, values) -> str:
        """An int64 1-D initializer (shared by equal values)."""
        key = tuple(int(v) for v in values)
        if key not in self._int_consts:
            self._int_consts[key] = self.const(np.array(key, dtype=np.int64), "ints")
        return self._int_consts[key]

    def scalar(self, value, like) -> str:
        """A 0-d initializer of ``value`` in the dtype of the tape tensor ``like``."""
        return self.const(np.asarray(value, dtype=like.dtype), "scalar")

    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        """Reduce* over ``axes``: an input from opset 18 (ReduceSum from 13), an attribute before."""
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))

    def batch_aware_shape(self, x: str, shape) -> str:
        """An int64 shape tensor for Reshape of ``x`` to ``shape``: when ``x`` carries the symbolic batch on axis 0,
        the batch size is written as 0 (copy it) when it stays on axis 0, or -1 when axis 0 folds it in."""
        dims = [int(s) for s in shape]
        if self.batch is not None and x in self.batched and dims:
            if dims[0] == self.batch:
                dims[0] = 0
            elif dims[0] % self.batch == 0 and -1 not in dims:
                dims[0] = -1
        return self.ints(dims)

    def fuse(self, record, value: str):
        """Mark a later ``record`` as already translated: its output is ``value``."""
        self.fused[id(record)] = value

    # -- reading the record ----------------------------------------------------------------------------------------
    def x(self, record, i: int = 0) -> str:
        """The ONNX value name of ``record.inputs[i]`` (a constant becomes an initializer on first use)."""
        return self.value(record.inputs[i], record)

    def value(self, t, record=None) -> str:
        name = self.values.get(id(t))
        if name is not None:
            return name
        data = getattr(t, "data", None)
        if not isinstance(data, np.ndarray):
            where = f" (input of {self.describe(record)})" if record is not None else ""
            raise ExportError(f"onnx export: a constant {t.dtype}{list(t.shape)}{where} has no data: this tape's "
                              f"saved arrays were released; record the pass again and export before backward")
        label = self._const_names.get(id(t)) or self._const_names.get(id(data)) or getattr(t, "name", None)
        name = self.const(data, label or "const")
        self.values[id(t)] = name
        return name

    def describe(self, record) -> str:
        return f"op '{record.name}' in layer '{record.layer or '<root>'}' (tape index {self.records.index(record)})"

    def fail(self, record, message: str) -> ExportError:
        return ExportError(f"onnx export: {self.describe(record)}: {message}")

    def next_record(self, record):
        """The record after ``record`` on the tape, or None."""
        i = self.index + 1
        return self.records[i] if i < len(self.records) and self.records[i - 1] is record else None


def build_model(records, inputs, outputs, *, opset=17, dynamic_batch=True, input_names=None, output_names=None,
                const_names=None, doc=""):
    """Translate tape records into a checked ``onnx.ModelProto`` (nothing is written)."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper
    from .translations import TRANSLATIONS

    max_opset = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not 13 <= opset <= max_opset:
        raise ValueError(f"onnx export: opset must be an int from 13 to {max_opset} (this onnx), got {opset!r}")
    inputs, outputs = list(inputs), list(outputs)
    if not outputs:
        raise ExportError("onnx export: no outputs to export")
    input_names = _names(input_names, len(inputs), "input", "input_names")
    output_names = _names(output_names, len(outputs), "output", "output_names")
    if len(set(input_names + output_names)) != len(input_names) + len(output_names):
        raise ValueError(f"onnx export: input and output names must be distinct, got {input_names} and "
                         f"{output_names}")
    batch = None
    if dynamic_batch and inputs and len(inputs[0].shape) > 0:
        batch = int(inputs[0].shape[0])
    g = Graph(opset, batch, const_names or {}, list(records), outputs)
    for name in input_names + output_names:
        g._taken.add(name)
    graph_inputs = []
    for t, name in zip(inputs, input_names):
        g.values[id(t)] = name
        dims = list(t.shape)
        if batch is not None and dims and dims[0] == batch:
            dims[0] = "batch"
            g.batched.add(name)
        graph_inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t.dtype), dims))

    recorded = {}                            # value name -> (record, shape on the tape): checked after inference
    for i, r in enumerate(g.records):
        if id(r) in g.fused:
            g.values[id(r.output)] = g.fused[id(r)]
            _mark_batched(g, r, g.fused[id(r)])
            continue
        fn = TRANSLATIONS.get(r.name)
        if fn is None:
            raise ExportError(f"onnx export: op '{r.name}' (layer '{r.layer or '<root>'}', tape index {i}) has no "
                              f"ONNX translation; translated ops: {', '.join(sorted(TRANSLATIONS))}")
        g.begin(i, r)
        out = fn(g, r)
        g.values[id(r.output)] = out
        recorded.setdefault(out, (r, tuple(r.output.shape)))
        _mark_batched(g, r, out)

    graph_outputs = []
    renamed = {}
    produced = {o for n in g.nodes for o in n.output}
    g._prefix = "outputs"
    for t, name in zip(outputs, output_names):
        v = g.value(t)
        if v in produced and v not in renamed and v not in input_names:
            renamed[v] = name
        else:
            g.nodes.append(helper.make_node("Identity", [renamed.get(v, v)], [name], name=g.unique(f"{name}/Identity")))
        dims = list(t.shape)
        if batch is not None and dims and v in g.batched:
            dims[0] = "batch"
        graph_outputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t.dtype), dims))
    if renamed:
        for n in g.nodes:
            for k, v in enumerate(n.input):
                if v in renamed:
                    n.input[k] = renamed[v]
            for k, v in enumerate(n.output):
                if v in renamed:
                    n.output[k] = renamed[v]

    inits = [numpy_helper.from_array(a, name) for name, a in g.inits.items()]
    graph = helper.make_graph(g.nodes, "tapegraph", graph_inputs, graph_outputs, initializer=inits, doc_string=doc)
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)],
                                          producer_name="tapegraph")
    try:
        onnx.checker.check_model(model, full_check=True)
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)   # shapes on every edge (Netron)
    except Exception as e:  # onnx raises ValidationError / InferenceError
        raise ExportError(f"onnx export: the translated model fails onnx.checker: {e}") from e
    _check_shapes(g, model, {renamed.get(k, k): v for k, v in recorded.items()})
    return model


def _check_shapes(g, model, recorded):
    """Every shape ONNX infers must be the one the tape recorded (the batch axis as "batch"): a translation that
    gets an attribute wrong fails here, at export, not in the user's runtime."""
    for vi in list(model.graph.value_info) + list(model.graph.output):
        if vi.name not in recorded:
            continue
        r, shape = recorded[vi.name]
        dims = vi.type.tensor_type.shape.dim
        if not vi.type.tensor_type.HasField("shape") or len(dims) != len(shape):
            continue
        for k, (d, want) in enumerate(zip(dims, shape)):
            if d.HasField("dim_value") and d.dim_value != want:
                got = [x.dim_value if x.HasField("dim_value") else x.dim_param or "?" for x in dims]
                raise ExportError(f"onnx export: {g.describe(r)}: ONNX infers shape {got} for its output, the "
                                  f"tape recorded {list(shape)}")


def _mark_batched(g, record, out):
    if g.batch is None:
        return
    shape = record.output.shape
    if shape and shape[0] == g.batch and any(g.values.get(id(t)) in g.batched for t in record.inputs):
        g.batched.add(out)


def _names(names, n, stem, what):
    if names is None:
        return [stem] if n == 1 else [f"{stem}_{k}" for k in range(n)]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != n or not all(isinstance(s, str) and s for s in names) or len(set(names)) != n:
        raise ValueError(f"onnx export: {what} must be {n} distinct non-empty strings, got {names!r}")
    return names


def write_model(model, path) -> str:
    """Save ``model`` to ``path`` atomically (a temporary file in the same folder, then ``os.replace``)."""
    onnx = require_onnx()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tapegraph-", suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save_model(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# -- public entry points --------------------------------------------------------------------------------------------
def export(model, path, example_input, opset=17, dynamic_batch=True, input_names=None, output_names=None):
    """Record one inference pass of ``model`` on ``example_input`` (an array/Tensor, or a tuple of them for several
    inputs) and write it to ``path`` as ONNX. Returns ``path``.

    The model runs in eval mode (each module's mode is restored after); parameters and buffers become initializers
    under their dotted names (``layers.0.weight``, ``layers.2.running_mean``), other constants too. With
    ``dynamic_batch`` the first axis of the inputs (and of every value that carries it) is the symbolic ``batch``.
    Raises ``ExportError`` naming the op and its layer when a record has no translation; nothing is written then.
    """
    require_onnx()
    from ..nn.module import Module
    from ..tape import Tape, _grad_enabled
    from ..tensor import Tensor

    if not isinstance(model, Module):
        raise TypeError(f"onnx.export: model must be a tapegraph Module, got {type(model).__name__}")
    xs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    dt = model.dtype
    ins = []
    for x in xs:
        arr = np.asarray(x.data if isinstance(x, Tensor) else x)
        if arr.dtype.kind in "fiu" and arr.dtype != dt:
            arr = arr.astype(dt)                           # as Module._as_input
        # requires_grad: every op reading the input is recorded, even before the first parameter.
        ins.append(Tensor(arr, requires_grad=arr.dtype.kind == "f"))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    token = _grad_enabled.set(True)
    try:
        with Tape() as tape:
            out = model(*ins)
    finally:
        _grad_enabled.reset(token)
        for m, mode in modes:
            m.__dict__["training"] = mode
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"onnx.export: the model returned a {type(o).__name__}; expected a Tensor or a tuple "
                            f"of Tensors")
    names = {id(p): n for n, p in model.named_parameters()}
    names.update((id(b), n) for n, b in model.named_buffers())
    proto = build_model(tape.nodes, ins, outs, opset=opset, dynamic_batch=dynamic_batch, input_names=input_names,
                        output_names=output_names, const_names=names, doc=f"{type(model).__name__} from tapegraph")
    return write_model(proto, path)


def to_onnx(tape, path, inputs=None, outputs=None, opset=17, dynamic_batch=True, input_names=None,
            output_names=None):
    """Write a tape recorded by hand (inference ops) to ``path`` as ONNX; see ``Tape.to_onnx``. Returns ``path``."""
    require_onnx()
    from ..tensor import Tensor

    if tape._token is not None:
        raise RuntimeError("Tape.to_onnx: call it after the `with Tape()` block has closed")
    records = list(tape.nodes)
    if not records:
        raise ExportError("Tape.to_onnx: the tape recorded no ops")
    produced = {id(r.output) for r in records}
    if inputs is None:
        inputs, seen = [], set()
        for r in records:
            t = r.inputs[0] if r.inputs else None
            if (t is not None and id(t) not in produced and id(t) not in seen and not t.requires_grad
                    and len(t.shape) > 0 and np.dtype(t.dtype).kind != "b"):
                seen.add(id(t))
                inputs.append(t)
    else:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if outputs is None:
        read = {id(t) for r in records for t in r.inputs}
        outputs = [r.output for r in records if id(r.output) not in read]
    else:
        outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    names = {id(t): t.name for r in records for t in r.inputs if getattr(t, "name", None)}
    proto = build_model(records, inputs, outputs, opset=opset, dynamic_batch=dynamic_batch,
                        input_names=input_names, output_names=output_names, const_names=names,
                        doc="tape from tapegraph")
    return write_model(proto, path)
