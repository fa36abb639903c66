"""Optimizers against their update equations written out in NumPy, schedules,
clipping, chain, dtypes; checkpoints round trips and their errors."""

import dataclasses
import math
import os
import warnings
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import DtypeError, ShapeError, StructureError
from funcgrad.nn import optim
from funcgrad.nn.checkpoint import load, save

# ---------------------------------------------------------------- update equations by hand
# Each reference maps one parameter array and its gradient at steps t = 1, 2, ...
# to the parameters after each step, in float64.


def sgd_ref(p, grads, lr, momentum=0.0, nesterov=False, decay=1.0):
    buf, out = np.zeros_like(p), []
    for t, g in enumerate(grads):
        buf = momentum * buf + g
        direction = g + momentum * buf if nesterov else buf
        p = p - lr * decay ** t * direction
        out.append(p)
    return out


def adam_ref(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p)
        out.append(p)
    return out


def rmsprop_ref(p, grads, lr, decay=0.9, eps=1e-8, momentum=0.0):
    v, buf, out = np.zeros_like(p), np.zeros_like(p), []
    for g in grads:
        v = decay * v + (1 - decay) * g ** 2
        buf = momentum * buf + g / (np.sqrt(v) + eps)
        p = p - lr * buf
        out.append(p)
    return out


def adagrad_ref(p, grads, lr, initial=0.1, eps=1e-7):
    v, out = np.full_like(p, initial), []
    for g in grads:
        v = v + g ** 2
        p = p - lr * g / (np.sqrt(v) + eps)
        out.append(p)
    return out


# name: (optimizer, reference with the same hyperparameters)
OPTIMIZERS = {
    "sgd": (optim.sgd(0.1), lambda p, g: sgd_ref(p, g, 0.1)),
    "sgd momentum": (optim.sgd(0.1, momentum=0.9), lambda p, g: sgd_ref(p, g, 0.1, 0.9)),
    "sgd nesterov": (optim.sgd(0.1, momentum=0.9, nesterov=True),
                     lambda p, g: sgd_ref(p, g, 0.1, 0.9, nesterov=True)),
    "sgd schedule": (optim.sgd(optim.exponential_decay(0.1, 1, 0.5)),
                     lambda p, g: sgd_ref(p, g, 0.1, decay=0.5)),
    "momentum": (optim.momentum(0.05, beta=0.8), lambda p, g: sgd_ref(p, g, 0.05, 0.8)),
    "adam": (optim.adam(0.01, b1=0.8, b2=0.99), lambda p, g: adam_ref(p, g, 0.01, 0.8, 0.99)),
    "adamw": (optim.adamw(0.01, weight_decay=0.1),
              lambda p, g: adam_ref(p, g, 0.01, weight_decay=0.1)),
    "rmsprop": (optim.rmsprop(0.01, decay=0.8), lambda p, g: rmsprop_ref(p, g, 0.01, 0.8)),
    "rmsprop momentum": (optim.rmsprop(0.01, momentum=0.5),
                         lambda p, g: rmsprop_ref(p, g, 0.01, momentum=0.5)),
    "adagrad": (optim.adagrad(0.1, initial_accumulator_value=0.5),
                lambda p, g: adagrad_ref(p, g, 0.1, initial=0.5)),
}


def _run(opt, params, grads_per_step):
    state = opt.init(params)
    trajectory = []
    for grads in grads_per_step:
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        trajectory.append(params)
    return trajectory, state


@pytest.mark.parametrize("name", OPTIMIZERS)
@given(seed=st.integers(0, 2 ** 16), steps=st.integers(1, 5))
def test_optimizer_follows_its_update_equations(name, seed, steps):
    opt, reference = OPTIMIZERS[name]
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    grads = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(steps)]
    trajectory, _ = _run(opt, params, grads)
    for key in params:
        expected = reference(params[key], [g[key] for g in grads])
        np.testing.assert_allclose([p[key] for p in trajectory], expected, rtol=1e-12, atol=1e-14)


def _quadratic(params):
    return fnp.sum(np.array([1.0, 4.0]) * (params["x"] - np.array([1.0, -2.0])) ** 2) + \
        (params["y"] - 3.0) ** 2


@pytest.mark.parametrize("opt", [
    optim.sgd(0.05), optim.sgd(0.05, momentum=0.9), optim.momentum(0.05, nesterov=True),
    optim.adam(0.1), optim.adamw(0.1, weight_decay=1e-6), optim.rmsprop(optim.cosine_decay(0.05, 300)),
    optim.adagrad(1.0),
    optim.chain(optim.clip_by_global_norm(1.0),
                optim.adam(optim.join_schedules([optim.linear_warmup(0.1, 10),
                                                 optim.cosine_decay(0.1, 290)], [10]))),
], ids=["sgd", "sgd momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "clip+schedule"])
def test_optimizer_minimizes_a_quadratic(opt):
    params = {"x": np.zeros(2), "y": np.array(0.0)}
    state = opt.init(params)
    for _ in range(300):
        grads = fg.grad(_quadratic)(params)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    assert _quadratic(params) < 1e-3
    np.testing.assert_allclose(params["x"], [1.0, -2.0], atol=0.03)


# ---------------------------------------------------------------- dtypes and tracing


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_parameters_and_state_keep_their_dtypes(name):
    opt = OPTIMIZERS[name][0]
    params = {"f32": np.ones(3, np.float32), "f16": np.ones((), np.float16), "f64": np.ones(2)}
    init_dtypes = [x.dtype for x in fg.tree_leaves(opt.init(params))]
    trajectory, state = _run(opt, params, [params, params])
    assert {k: v.dtype for k, v in trajectory[-1].items()} == {k: v.dtype for k, v in params.items()}
    assert [np.result_type(x) for x in fg.tree_leaves(state)] == init_dtypes
    assert all(d == np.int32 for d in init_dtypes if d.kind == "i")  # step counts


def test_numpy_scalar_hyperparameters_do_not_promote_float32():
    # np.float64 scalars are strong under NEP 50; the optimizers take their value only.
    opt = optim.chain(optim.clip_by_global_norm(np.float64(1.0)),
                      optim.adamw(np.float64(0.1), b1=np.float64(0.9), weight_decay=np.float64(0.1)))
    params = np.ones(3, np.float32)
    (params_after,), _ = _run(opt, params, [params])
    assert params_after.dtype == np.float32


def test_an_update_step_traces_to_float32():
    opt = optim.chain(optim.clip_by_global_norm(1.0),
                      optim.adamw(optim.cosine_decay(1e-3, 100), weight_decay=0.1))
    params = {"w": np.ones((2, 2), np.float32)}

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    ir = fg.make_ir(step)(params, opt.init(params), params)
    out_dtypes = [aval.dtype for aval in ir.out_avals]
    assert out_dtypes == [np.float32, np.int32, np.float32, np.float32, np.int32]


def test_the_update_is_differentiable_in_the_learning_rate():
    def loss_after_step(lr, p):
        opt = optim.sgd(lr)
        updates, _ = opt.update(fg.grad(_quadratic)(p), opt.init(p), p)
        return _quadratic(optim.apply_updates(p, updates))

    p = {"x": np.array([0.0, 0.0]), "y": np.array(1.0)}
    g = fg.grad(_quadratic)(p)
    lr = 0.01
    moved = {k: p[k] - lr * g[k] for k in p}
    expected = -sum(np.sum(a * b) for a, b in zip(fg.tree_leaves(fg.grad(_quadratic)(moved)),
                                                   fg.tree_leaves(g)))
    np.testing.assert_allclose(fg.grad(loss_after_step)(lr, p), expected)


# ---------------------------------------------------------------- schedules

SCHEDULES = [
    (optim.constant(0.3), {0: 0.3, 10 ** 6: 0.3}),
    (optim.exponential_decay(2.0, 10, 0.5), {0: 2.0, 5: 2.0 * 0.5 ** 0.5, 10: 1.0, 30: 0.25}),
    (optim.exponential_decay(2.0, 10, 0.5, staircase=True), {9: 2.0, 10: 1.0, 29: 0.5}),
    (optim.exponential_decay(2.0, 10, 0.5, transition_begin=5), {0: 2.0, 5: 2.0, 15: 1.0}),
    (optim.exponential_decay(1.0, 1, 0.5, end_value=0.2), {1: 0.5, 2: 0.25, 3: 0.2, 50: 0.2}),
    (optim.exponential_decay(1.0, 1, 2.0, end_value=5.0), {2: 4.0, 3: 5.0}),
    (optim.cosine_decay(1.0, 100), {0: 1.0, 25: 0.5 * (1 + math.cos(math.pi / 4)), 50: 0.5,
                                    100: 0.0, 1000: 0.0}),
    (optim.cosine_decay(2.0, 10, alpha=0.5), {5: 2.0 * (0.5 * 0.5 + 0.5), 10: 1.0}),
    (optim.linear_warmup(1.0, 10), {0: 0.0, 3: 0.3, 10: 1.0, 11: 1.0}),
    (optim.linear_warmup(1.0, 4, init_value=0.2), {0: 0.2, 2: 0.6, 4: 1.0}),
    (optim.join_schedules([optim.linear_warmup(1.0, 10), optim.exponential_decay(1.0, 10, 0.1),
                           optim.constant(0.05)], [10, 30]),
     {0: 0.0, 5: 0.5, 10: 1.0, 20: 0.1, 29: 0.1 ** 1.9, 30: 0.05, 99: 0.05}),
]


@pytest.mark.parametrize(("schedule", "values"), SCHEDULES)
def test_schedule_values(schedule, values):
    for count, expected in values.items():
        for step in (count, np.int32(count), np.array(count, np.int32)):
            assert math.isclose(float(schedule(step)), expected, rel_tol=1e-12, abs_tol=1e-15), count
        (traced,) = fg.eval_ir(fg.make_ir(schedule)(np.int32(count)), np.int32(count))
        assert math.isclose(float(traced), expected, rel_tol=1e-12, abs_tol=1e-15), count


@pytest.mark.parametrize(("make", "message"), [
    (lambda: optim.join_schedules([optim.constant(1.0)], [3]), "1 schedules need 0 boundaries"),
    (lambda: optim.cosine_decay(1.0, 0), "decay_steps must be positive"),
    (lambda: optim.linear_warmup(1.0, -1), "warmup_steps must be positive"),
    (lambda: optim.exponential_decay(1.0, 0, 0.5), "transition_steps must be positive"),
    (lambda: optim.clip_by_global_norm(0.0), "max_norm must be positive"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------- clipping, chain, decay


@given(scale=st.floats(1e-3, 1e3), max_norm=st.floats(0.1, 10.0))
def test_clip_by_global_norm(scale, max_norm):
    updates = {"a": scale * np.array([1.0, -2.0]), "b": [scale * np.array([[2.0]], np.float32)]}
    clipped, _ = optim.clip_by_global_norm(max_norm).update(updates, optim.EmptyState())
    norm = 3.0 * scale
    if norm <= max_norm:  # untouched
        np.testing.assert_allclose(clipped["a"], updates["a"], rtol=1e-12)
    else:
        np.testing.assert_allclose(float(optim.global_norm(clipped)), max_norm, rtol=1e-6)
        np.testing.assert_allclose(clipped["a"], updates["a"] * max_norm / norm)
    assert clipped["b"][0].dtype == np.float32


def test_clipping_zero_gradients_gives_zeros_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clipped, _ = optim.clip_by_global_norm(1.0).update([np.zeros(3)], optim.EmptyState())
    assert clipped[0].tolist() == [0.0, 0.0, 0.0]


def _add(amount):
    """A transformation adding ``amount`` and counting its calls in its state."""
    return optim.GradientTransformation(lambda params: 0,
                                        lambda u, calls, params=None: (u + amount, calls + 1))


def _times(factor):
    return optim.GradientTransformation(lambda params: (), lambda u, s, params=None: (u * factor, s))


def test_chain_applies_in_order_and_threads_each_state():
    opt = optim.chain(_add(1.0), _times(10.0), _add(2.0))
    state = opt.init(None)
    assert state == (0, (), 0)
    updates, state = opt.update(np.array([1.0]), state)
    assert updates.tolist() == [22.0] and state == (1, (), 1)
    empty = optim.chain()
    updates, state = empty.update(np.array([5.0]), empty.init(None))
    assert updates.tolist() == [5.0] and state == ()


def test_chain_passes_params_to_every_link():
    opt = optim.chain(optim.add_decayed_weights(0.5), optim.sgd(1.0))
    params = {"w": np.array([2.0]), "b": np.array([4.0])}
    updates, _ = opt.update({"w": np.zeros(1), "b": np.zeros(1)}, opt.init(params), params)
    assert updates["w"].tolist() == [-1.0] and updates["b"].tolist() == [-2.0]


@pytest.mark.parametrize("mask", [{"w": True, "b": False}, lambda p: {k: k == "w" for k in p}])
def test_weight_decay_mask(mask):
    opt = optim.adamw(0.1, weight_decay=0.5, mask=mask)
    params = {"w": np.array([2.0]), "b": np.array([2.0])}
    updates, _ = opt.update({"w": np.zeros(1), "b": np.zeros(1)}, opt.init(params), params)
    assert updates["w"].tolist() == [-0.1] and updates["b"].tolist() == [0.0]


def test_adamw_without_params_says_so():
    opt = optim.adamw(0.1)
    with pytest.raises(ValueError, match=r"needs the parameters: call update\(grads, state, params\)"):
        opt.update(np.ones(2), opt.init(np.ones(2)))


def test_none_leaves_are_left_alone():
    params = {"frozen": None, "w": np.ones(2)}
    trajectory, state = _run(optim.adam(0.1), params, [{"frozen": None, "w": np.ones(2)}])
    assert trajectory[0]["frozen"] is None and state[0].mu["frozen"] is None


# ---------------------------------------------------------------- checkpoints

Point = namedtuple("Point", "x y")


@dataclasses.dataclass
class Layer:
    w: object
    b: object = None


class Pair:
    def __init__(self, first, second):
        self.first, self.second = first, second


fg.register_pytree_node(Pair, lambda p: ((p.first, p.second), None), lambda _, ch: Pair(*ch))


def _identical(a, b):
    """Same containers, same leaf types, and arrays equal in dtype, shape and value."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and a.tobytes() == b.tobytes()
    if dataclasses.is_dataclass(a):
        return all(_identical(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, Pair):
        return _identical(a.first, b.first) and _identical(a.second, b.second)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_identical, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)  # nan


TREES = {
    "nested": {"b": [np.arange(3, dtype=np.int32), (np.array(True), None)],
               "a": {"x": np.ones((2, 0), np.float32), "y": ()}},
    "namedtuple and dataclass": [Point(np.float16(1.5), Layer(np.eye(2, dtype=np.complex64))),
                                 Layer(w=np.zeros((), np.uint8))],
    "python scalars": {"int": 3, "float": -0.5, "bool": False, "complex": 1 - 2j, "big": 2 ** 62},
    "numpy scalars": (np.float32(2.5), np.int64(-7), np.bool_(True)),
    "a bare array": np.arange(6.0).reshape(2, 3),
    "empty containers": [[], (), {}, None],
    "non-string keys": {1: np.ones(1), 2.5: [], "a": None, False: 0},
    "strings and nan": {"s": np.array(["ab", "c"]), "nan": np.array([np.nan, -np.inf])},
}


@pytest.mark.parametrize("name", TREES)
def test_checkpoint_round_trip(name, tmp_path):
    tree = TREES[name]
    save(tmp_path / "ckpt.npz", tree)
    assert _identical(load(tmp_path / "ckpt.npz"), tree)
    assert _identical(load(str(tmp_path / "ckpt.npz"), like=tree), tree)


def test_optimizer_state_round_trip(tmp_path):
    params = {"w": np.ones((2, 2), np.float32)}
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(optim.cosine_decay(0.1, 10)))
    (params,), state = _run(opt, params, [params])
    save(tmp_path / "state.npz", {"params": params, "opt_state": state})
    restored = load(tmp_path / "state.npz")
    assert _identical(restored, {"params": params, "opt_state": state})
    # and training resumes from it exactly
    grads = {"w": np.full((2, 2), 0.5, np.float32)}
    assert _identical(opt.update(grads, restored["opt_state"], params), opt.update(grads, state, params))


arrays = st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.bool_, np.complex128]).flatmap(
    lambda dtype: st.lists(st.integers(-5, 5), max_size=4).map(lambda v: np.array(v).astype(dtype)))
trees = st.recursive(
    st.one_of(arrays, st.integers(-10, 10), st.floats(allow_nan=False), st.booleans()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=3),
        st.tuples(children, children).map(lambda t: Point(*t)),
        st.tuples(children, children).map(lambda t: Layer(*t)), st.just(None)),
    max_leaves=8)


@given(tree=trees)
def test_checkpoint_round_trips_any_tree(tree, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tree"
    save(path, tree)
    assert _identical(load(path), tree)


def test_save_writes_exactly_the_path_and_overwrites(tmp_path):
    save(tmp_path / "ckpt", [np.ones(2)])
    save(tmp_path / "ckpt", [np.zeros(3)])
    assert os.listdir(tmp_path) == ["ckpt"]
    assert load(tmp_path / "ckpt")[0].tolist() == [0.0, 0.0, 0.0]


def test_like_rebuilds_with_the_templates_types(tmp_path):
    Local = namedtuple("Local", "w")  # not importable: only like= can rebuild it
    save(tmp_path / "ckpt", Local(np.ones(2)))
    with pytest.raises(StructureError, match=r"the top level is a namedtuple .*Local, which cannot be "
                                             r"imported[\s\S]*fix: pass like="):
        load(tmp_path / "ckpt")
    assert _identical(load(tmp_path / "ckpt", like=Local(np.zeros(2))), Local(np.ones(2)))


def test_registered_nodes_load_only_with_like(tmp_path):
    tree = {"pair": Pair(np.ones(1), 2)}
    save(tmp_path / "ckpt", tree)
    with pytest.raises(StructureError, match=r"\['pair'\] is a registered node .*Pair, which only load"):
        load(tmp_path / "ckpt")
    assert _identical(load(tmp_path / "ckpt", like=tree), tree)


def test_a_dataclass_whose_fields_changed(tmp_path, monkeypatch):
    save(tmp_path / "ckpt", [Layer(np.ones(1))])

    @dataclasses.dataclass
    class Layer2:
        w: object
        scale: object

    monkeypatch.setitem(globals(), "Layer", Layer2)
    with pytest.raises(StructureError, match=r"\[0\] was saved as a .*Layer with fields \['w', 'b'\], "
                                             r"but .*Layer now has \['w', 'scale'\]"):
        load(tmp_path / "ckpt")


MISMATCHES = [
    ({"w": np.ones(2), "b": np.ones(2)}, {"w": np.ones(2), "c": np.ones(2)},
     r"the top level holds \['b'\] only in the checkpoint and \['c'\] only in like"),
    ({"w": [np.ones(2)]}, {"w": (np.ones(2),)}, r"\['w'\] is a list in the checkpoint but a tuple in like"),
    ([np.ones(1), np.ones(1)], [np.ones(1)], r"the top level holds \[1\] only in the checkpoint and nothing"),
    ({"p": Point(1, 2)}, {"p": Layer(1, 2)}, r"\['p'\] is a namedtuple .*Point in the checkpoint but a "
                                             r"dataclass .*Layer in like"),
    ([None], [np.ones(1)], r"\[0\] is None in the checkpoint but a leaf in like"),
]


@pytest.mark.parametrize(("saved", "like", "message"), MISMATCHES)
def test_a_checkpoint_that_does_not_fit_like(saved, like, message, tmp_path):
    save(tmp_path / "ckpt", saved)
    with pytest.raises(StructureError, match="does not fit like: " + message):
        load(tmp_path / "ckpt", like=like)


def test_shape_and_dtype_mismatches_name_the_leaf(tmp_path):
    save(tmp_path / "ckpt", {"layers": [Layer(np.ones((2, 3), np.float32))]})
    with pytest.raises(ShapeError, match=r"\['layers'\]\[0\]\.w has shape \(2, 3\) in the checkpoint "
                                         r"but \(3, 2\) in like"):
        load(tmp_path / "ckpt", like={"layers": [Layer(np.ones((3, 2), np.float32))]})
    with pytest.raises(DtypeError, match=r"\.w has dtype float32 in the checkpoint but float64 in like"):
        load(tmp_path / "ckpt", like={"layers": [Layer(np.ones((2, 3)))]})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load: no checkpoint file at '.*nothing'$"):
        load(tmp_path / "nothing")
    np.savez(tmp_path / "other", x=np.ones(1))  # NumPy appended .npz
    with pytest.raises(FileNotFoundError, match=r"other' \(there is '.*other\.npz'\)"):
        load(tmp_path / "other")


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "text").write_text("hello")
    np.save(tmp_path / "array.npy", np.ones(2))
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    for name in ("text", "array.npy", "plain.npz"):
        with pytest.raises(ValueError, match="is not a checkpoint written by funcgrad"):
            load(tmp_path / name)


@pytest.mark.parametrize(("tree", "message"), [
    ({"w": "text"}, r"save: \['w'\] is a str; a checkpoint holds NumPy arrays"),
    ([np.array([None, 1])], r"save: \[0\] would be stored as Python objects, which need pickle"),
    ({"n": 2 ** 70}, r"save: \['n'\] would be stored as Python objects"),
    ({(1, 2): np.ones(1)}, r"dict key \(1, 2\) is a tuple; keys must be str, int, float or bool"),
    (object(), "the top-level leaf is a object"),
])
def test_unsavable_trees(tree, message, tmp_path):
    with pytest.raises(TypeError, match=message):
        save(tmp_path / "ckpt", tree)
