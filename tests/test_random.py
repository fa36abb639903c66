"""funcgrad.random against stored ``jax.random`` values (JAX 0.10.2 in its
default configuration: the threefry2x32 implementation with
``jax_threefry_partitionable``; float64 and int64 results with
``jax_enable_x64``); the same numbers eager, traced and under ``vmap``;
statistics of every sampler with fixed keys; errors that name the problem.

The reference values were computed with JAX once and pasted here: neither
the tests nor the package import JAX.
"""

import math

import numpy as np
import pytest
from fnp_harness import run_traced
from hypothesis import given
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import errors, random

P = [0.1, 0.2, 0.3, 0.2, 0.2]
LOGITS = np.log([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])

# name: the call, on one key.  The JAX twin of each is the same call on jax.random.
CALLS = {
    "split": lambda k: random.split(k, 3),
    "split_shape": lambda k: random.split(k, (2, 2)),
    "fold_in": lambda k: fnp.stack([random.fold_in(k, d) for d in (0, 5, 2**32 - 1)]),
    "bits_scalar": lambda k: random.bits(k),
    "bits8": lambda k: random.bits(k, (7,), np.uint8),
    "bits16": lambda k: random.bits(k, (3, 3), np.uint16),
    "bits32": lambda k: random.bits(k, (7,)),
    "bits64": lambda k: random.bits(k, (5,), np.uint64),
    "uniform32": lambda k: random.uniform(k, (7,), np.float32),
    "uniform64": lambda k: random.uniform(k, (2, 3)),
    "uniform16": lambda k: random.uniform(k, (5,), np.float16),
    "bernoulli": lambda k: random.bernoulli(k, 0.3, (9,)),
    "bernoulli32": lambda k: random.bernoulli(k, np.float32(0.7), (5,)),
    "randint": lambda k: random.randint(k, (9,), -5, 17),
    "randint_int32_range": lambda k: random.randint(k, (5,), -2**31, 2**31, np.int32),
    "randint_int64_range": lambda k: random.randint(k, (3,), -2**63, 2**63 - 1),
    "randint_uint8": lambda k: random.randint(k, (6,), 0, 256, np.uint8),
    "permutation": lambda k: random.permutation(k, 10),
    "permutation_rows": lambda k: random.permutation(k, np.arange(12).reshape(4, 3)),
    "permutation_independent": lambda k: random.permutation(k, np.arange(12).reshape(3, 4), axis=1,
                                                            independent=True),
    "permutation_two_rounds": lambda k: random.permutation(k, 2000)[:12],  # 2000 > 2**(32/3)
    "choice": lambda k: random.choice(k, 10, (4,)),
    "choice_no_replace": lambda k: random.choice(k, np.arange(10.0) * 1.5, (2, 3), replace=False),
    "choice_p": lambda k: random.choice(k, 5, (6,), p=np.asarray(P)),
    "choice_p_no_replace": lambda k: random.choice(k, 5, (3,), replace=False, p=np.asarray(P)),
    "categorical": lambda k: random.categorical(k, LOGITS, shape=(4, 2)),
    "categorical_axis0": lambda k: random.categorical(k, LOGITS.T, axis=0),
    "normal32": lambda k: random.normal(k, (7,), np.float32),
    "normal64": lambda k: random.normal(k, (2, 3)),
    "normal_scalar": lambda k: random.normal(k),
    "normal16": lambda k: random.normal(k, (4,), np.float16),
    "uniform_bounds32": lambda k: random.uniform(k, (5,), np.float32, -2.5, 3.7),
    "uniform_bounds64": lambda k: random.uniform(k, (5,), np.float64, np.arange(5.0), 10.0),
    "truncated_normal": lambda k: random.truncated_normal(k, -1.5, 0.7, (5,)),
    "truncated_normal32": lambda k: random.truncated_normal(k, -np.inf, np.float32([0, 1, 2]),
                                                            dtype=np.float32),
    "gamma": lambda k: random.gamma(k, np.array([0.3, 1.0, 2.5, 7.0]), (2, 4)),
    "gamma32": lambda k: random.gamma(k, 0.8, (5,), np.float32),
    "beta": lambda k: random.beta(k, 2.0, 0.5, (5,)),
}

# jax.random's values for seeds 0, 42 and 2**31 + 11, equal bit for bit.
EXACT_JAX = {
    "split": {
        0: [[1797259609, 2579123966], [928981903, 3453687069], [4146024105, 2718843009]],
        42: [[1832780943, 270669613], [64467757, 2916123636], [2465931498, 255383827]],
        2147483659: [[702684888, 1207209948], [2015779633, 868860949], [3900803798, 2048276721]],
    },
    "split_shape": {
        0: [[[1797259609, 2579123966], [928981903, 3453687069]],
            [[4146024105, 2718843009], [2467461003, 3840466878]]],
        42: [[[1832780943, 270669613], [64467757, 2916123636]],
             [[2465931498, 255383827], [3134548294, 894150801]]],
        2147483659: [[[702684888, 1207209948], [2015779633, 868860949]],
                     [[3900803798, 2048276721], [3570182475, 1779683366]]],
    },
    "fold_in": {
        0: [[1797259609, 2579123966], [1524306142, 1887795613], [743310391, 3789761811]],
        42: [[1832780943, 270669613], [2765691542, 824333390], [2398536845, 3890976714]],
        2147483659: [[702684888, 1207209948], [891741945, 691570689], [4069734945, 1095890077]],
    },
    "bits_scalar": {
        0: 4070199207,
        42: 2098992034,
        2147483659: 1846972676,
    },
    "bits8": {
        0: [167, 146, 40, 53, 183, 67, 125],
        42: [162, 217, 249, 215, 21, 216, 153],
        2147483659: [4, 36, 39, 109, 174, 248, 132],
    },
    "bits16": {
        0: [[20391, 13970, 3624], [43061, 15287, 26947], [60029, 52478, 6499]],
        42: [[5026, 12505, 63993], [49623, 29461, 20184], [47001, 9392, 65165]],
        2147483659: [[37124, 40740, 45607], [31085, 54190, 28408], [53124, 17113, 53067]],
    },
    "bits32": {
        0: [4070199207, 4202968722, 1427181096, 2012915765, 2447653815, 710830403, 1332275837],
        42: [2098992034, 2919706841, 2646866425, 2409546199, 1935504149, 2516274904, 321304473],
        2147483659: [1846972676, 1273995044, 2459415079, 3202316653, 3113931694, 471756536, 4271951748],
    },
    "bits64": {
        0: [7719171245655871230, 3989946895414531357, 17807037942121513089, 10597664315880824766,
            9817845818006947190],
        42: [7871734211187709741, 276886910877598708, 10591095138341673235, 13462782411356743825,
             12687676868490354166],
        2147483659: [3018008614560632796, 8657707600546743317, 16753824742570866929,
                     15333816972657020966, 8746087253794261930],
    },
    "uniform32": {
        0: [0.9476670026779175, 0.9785798788070679, 0.33229148387908936, 0.46866846084594727,
            0.569888710975647, 0.16550302505493164, 0.31019461154937744],
        42: [0.48870956897735596, 0.6797971725463867, 0.6162714958190918, 0.5610160827636719,
             0.4506446123123169, 0.58586585521698, 0.07480943202972412],
        2147483659: [0.43003177642822266, 0.296625018119812, 0.5726271867752075, 0.7455973625183105,
                     0.7250186204910278, 0.10983932018280029, 0.9946411848068237],
    },
    "uniform64": {
        0: [[0.41845711171638644, 0.21629545460551136, 0.9653214611189975],
            [0.5745005337275046, 0.5322264882505428, 0.35490518026974427]],
        42: [[0.4267275666499091, 0.015010069515314584, 0.5741444178995352],
             [0.7298188969046309, 0.687800341230566, 0.6439377419166104]],
        2147483659: [[0.16360657482433005, 0.4693352694628521, 0.9082266591668364],
                     [0.8312478837124921, 0.47412634006557575, 0.20762485106499362]],
    },
    "uniform16": {
        0: [0.310546875, 0.212890625, 0.0546875, 0.65625, 0.232421875],
        42: [0.076171875, 0.1904296875, 0.9755859375, 0.7568359375, 0.44921875],
        2147483659: [0.56640625, 0.62109375, 0.6953125, 0.4736328125, 0.826171875],
    },
    "bernoulli": {
        0: [0, 1, 0, 0, 0, 0, 0, 0, 0],
        42: [0, 1, 0, 0, 0, 0, 0, 0, 1],
        2147483659: [1, 0, 0, 0, 0, 1, 0, 1, 1],
    },
    "bernoulli32": {
        0: [0, 0, 1, 1, 1],
        42: [1, 1, 1, 1, 1],
        2147483659: [1, 1, 1, 0, 0],
    },
    "randint": {
        0: [-4, 4, -4, -2, -4, -4, 11, 7, 13],
        42: [0, 7, 10, 10, 0, 13, 11, 10, -1],
        2147483659: [16, 1, 12, -3, 9, 1, 5, -2, 2],
    },
    "randint_int32_range": {
        0: [-2116156571, -2057756336, 349724616, -593401283, -1189543933],
        42: [977810628, 1236381714, -1367112521, -1019495231, -1671904627],
        2147483659: [-1557490689, -359118860, -615800335, -892930054, 937676956],
    },
    "randint_int64_range": {
        0: [-7736114978893213937, 7820475669948582015, 4315659036180353743],
        42: [4466307427195926069, 869870568124700350, -8118644187909895017],
        2147483659: [1062911121988168695, 1761227725498574012, 6933000026972837691],
    },
    "randint_uint8": {
        0: [101, 80, 200, 61, 3, 211],
        42: [196, 18, 183, 193, 141, 107],
        2147483659: [255, 244, 241, 250, 156, 5],
    },
    "permutation": {
        0: [0, 1, 8, 5, 6, 4, 3, 2, 7, 9],
        42: [7, 4, 2, 5, 3, 6, 8, 9, 0, 1],
        2147483659: [6, 0, 9, 3, 2, 1, 5, 4, 7, 8],
    },
    "permutation_rows": {
        0: [[0, 1, 2], [3, 4, 5], [9, 10, 11], [6, 7, 8]],
        42: [[6, 7, 8], [9, 10, 11], [0, 1, 2], [3, 4, 5]],
        2147483659: [[0, 1, 2], [9, 10, 11], [6, 7, 8], [3, 4, 5]],
    },
    "permutation_independent": {
        0: [[0, 1, 3, 2], [5, 6, 4, 7], [8, 10, 11, 9]],
        42: [[2, 3, 0, 1], [7, 4, 5, 6], [10, 11, 8, 9]],
        2147483659: [[0, 3, 2, 1], [6, 5, 4, 7], [9, 11, 10, 8]],
    },
    "permutation_two_rounds": {
        0: [988, 23, 1144, 1675, 1700, 884, 311, 1604, 1450, 1655, 475, 1923],
        42: [1474, 815, 539, 874, 1693, 84, 995, 1191, 1713, 508, 594, 825],
        2147483659: [1300, 1806, 1201, 596, 962, 865, 1163, 1672, 1255, 589, 761, 1111],
    },
    "choice": {
        0: [5, 1, 5, 7],
        42: [5, 8, 3, 1],
        2147483659: [1, 8, 9, 8],
    },
    "choice_no_replace": {
        0: [[0.0, 1.5, 12.0], [7.5, 9.0, 6.0]],
        42: [[10.5, 6.0, 3.0], [7.5, 4.5, 9.0]],
        2147483659: [[9.0, 0.0, 13.5], [4.5, 3.0, 1.5]],
    },
    "choice_p": {
        0: [2, 3, 0, 2, 2, 3],
        42: [2, 4, 2, 1, 2, 2],
        2147483659: [4, 2, 0, 1, 2, 3],
    },
    "choice_p_no_replace": {
        0: [2, 3, 4],
        42: [3, 2, 4],
        2147483659: [2, 3, 4],
    },
    "categorical": {
        0: [[2, 0], [2, 1], [1, 2], [1, 0]],
        42: [[2, 0], [2, 0], [2, 2], [1, 2]],
        2147483659: [[2, 0], [0, 1], [2, 2], [2, 0]],
    },
    "categorical_axis0": {
        0: [1, 1],
        42: [2, 1],
        2147483659: [1, 1],
    },
}

# jax.random's values of the calls that agree to a few ulps only: XLA's log1p
# and its fused multiply-adds (floats * (maxval - minval) + minval is one
# rounding there, two in NumPy) round differently.
CLOSE_JAX = {
    "normal32": {
        0: [1.622642159461975, 2.0252647399902344, -0.4335944354534149, -0.07861734926700592,
            0.17609089612960815, -0.9720892310142517, -0.49529874324798584],
        42: [-0.02830461598932743, 0.4671318531036377, 0.2957029640674591, 0.15354591608047485,
             -0.12403281778097153, 0.21692314743995667, -1.440878987312317],
        2147483659: [-0.17629317939281464, -0.5341322422027588, 0.18306683003902435, 0.6606992483139038,
                     0.5978160500526428, -1.227383017539978, 2.551774740219116],
    },
    "normal64": {
        0: [[-0.2058421394796434, -0.7847657764467411, 1.8160866726679836],
            [0.1878440128937887, 0.08086788103743275, -0.3721107933346203]],
        42: [[-0.18471174528191162, -2.169824560397754, 0.18693555179382582],
             [0.6122653570510959, 0.4896249504757018, 0.36900430470828355]],
        2147483659: [[-0.9797426861938885, -0.07694092708138962, 1.3299137769032694],
                     [0.9591082145516204, -0.06490118118259502, -0.814690134034451]],
    },
    "normal_scalar": {
        0: -0.2058421394796434,
        42: -0.18471174528191162,
        2147483659: -0.9797426861938885,
    },
    "normal16": {
        0: [-0.49365234375, -0.79541015625, -1.5986328125, 0.40283203125],
        42: [-1.4296875, -0.87548828125, 1.974609375, 0.69677734375],
        2147483659: [0.1678466796875, 0.30908203125, 0.51171875, -0.06549072265625],
    },
    "uniform_bounds32": {
        0: [3.375535249710083, 3.567195177078247, -0.4397928714752197, 0.40574437379837036,
            1.0333099365234375],
        42: [0.5299992561340332, 1.7147423028945923, 1.3208831548690796, 0.978299617767334,
             0.29399651288986206],
        2147483659: [0.16619692742824554, -0.6609249711036682, 1.050288438796997, 2.1227035522460938,
                     1.9951152801513672],
    },
    "uniform_bounds64": {
        0: [4.184571117163864, 2.946659091449602, 9.72257168895198, 7.021503736092533,
            7.1933589295032565],
        42: [4.26727566649909, 1.1350906256378313, 6.5931553431962815, 8.108732278332416,
             8.126802047383396],
        2147483659: [1.6360657482433005, 5.224017425165669, 9.265813273334691, 8.818735185987444,
                     6.8447580403934545],
    },
    "truncated_normal": {
        0: [-0.369018538285395, -0.7846925574282734, 0.6251556019171318, -0.09056602417316224,
            -0.16442659973185622],
        42: [-0.3537216900020396, -1.424280819191988, -0.09118560297717561, 0.17963208902563205,
             0.10606559064897425],
        2147483659: [-0.915758320374864, -0.2761265905470569, 0.5089316695339612, 0.3621765968940652,
                     -0.2675128869087727],
    },
    "truncated_normal32": {
        0: [-0.0656367838382721, 0.9281031489372253, -0.4545075297355652],
        42: [-0.6923627257347107, 0.1813250184059143, 0.25917848944664],
        2147483659: [-0.7891372442245483, -0.675862729549408, 0.14995472133159637],
    },
    "gamma": {
        0: [[0.01796465549854392, 0.34852732423339494, 4.442491722277749, 2.8034820627061774],
            [0.1167591117739631, 3.509874050598992, 1.7775451569215601, 7.816129696192686]],
        42: [[0.04064462722988022, 0.5161877343182824, 5.75709708230657, 7.678113743828001],
             [0.02697239794727436, 0.03941439189594221, 0.6049587266626295, 5.42219229082276]],
        2147483659: [[0.0011951811558949814, 1.0421731333492672, 2.8803025387532166,
                      4.6335178780318325],
                     [0.08777557421140411, 0.1676017729850727, 1.0999403799510936, 4.632991705097295]],
    },
    "gamma32": {
        0: [1.2152503728866577, 1.3798426389694214, 0.17454740405082703, 0.34582123160362244,
            0.8305120468139648],
        42: [1.7249228954315186, 0.762587308883667, 2.321746587753296, 0.155955508351326,
             0.020533261820673943],
        2147483659: [1.0473828315734863, 0.046648282557725906, 0.2355872243642807, 0.8218656778335571,
                     1.8991971015930176],
    },
    "beta": {
        0: [0.7292969816256261, 0.9607190925773001, 0.993434099565037, 0.30113948701463433,
            0.7788548607131055],
        42: [0.7993467003516027, 0.929322012829492, 0.10682233980211973, 0.5847345349376467,
             0.9931209713594861],
        2147483659: [0.9516308329738263, 0.9345626843979589, 0.278015560626774, 0.5509289803608451,
                     0.6305368600217928],
    },
}

SEEDS = (0, 42, 2**31 + 11)
# A key is the seed's 64 bits as (high, low) uint32, as jax.random.PRNGKey makes it with x64.
JAX_KEYS = [(0, [0, 0]), (42, [0, 42]), (-1, [2**32 - 1, 2**32 - 1]), (2**40 + 5, [256, 5]),
            (2**63 - 1, [2**31 - 1, 2**32 - 1]), (np.uint64(2**64 - 1), [2**32 - 1, 2**32 - 1])]


@pytest.mark.parametrize("seed, expected", JAX_KEYS)
def test_key_matches_jax(seed, expected):
    np.testing.assert_array_equal(random.key(seed), np.array(expected, np.uint32))
    assert random.key(seed).dtype == np.uint32


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", EXACT_JAX)
def test_matches_jax_bit_for_bit(name, seed):
    actual = CALLS[name](random.key(seed))
    expected = np.array(EXACT_JAX[name][seed], actual.dtype)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", CLOSE_JAX)
def test_matches_jax_to_a_few_ulps(name, seed):
    actual = CALLS[name](random.key(seed))
    expected = np.array(CLOSE_JAX[name][seed], actual.dtype)
    eps = np.finfo(actual.dtype).eps
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=64 * eps, atol=16 * eps)


def test_every_call_has_jax_values():
    assert set(CALLS) == set(EXACT_JAX) | set(CLOSE_JAX)


@pytest.mark.parametrize("name", CALLS)
def test_same_numbers_eager_traced_and_batched(name):
    """The IR evaluates to the eager numbers; vmap over keys to a loop over them."""
    call = CALLS[name]
    keys = random.split(random.key(7), 2)
    eager = call(keys[0])
    traced = run_traced(call, (keys[0],), {})
    assert traced.dtype == eager.dtype and traced.shape == eager.shape
    np.testing.assert_array_equal(traced, eager)
    batched = fg.vmap(call)(keys)
    looped = np.stack([call(k) for k in keys])
    assert batched.dtype == looped.dtype
    np.testing.assert_array_equal(batched, looped)


def test_keys_from_traced_seeds():
    seeds = np.array([0, 42, -1])
    np.testing.assert_array_equal(fg.vmap(random.key)(seeds), np.stack([random.key(s) for s in seeds]))
    np.testing.assert_array_equal(run_traced(random.key, (np.int64(5),), {}), random.key(5))


def test_fold_in_is_a_row_of_split():
    k = random.key(3)
    data = np.arange(6, dtype=np.uint32)
    np.testing.assert_array_equal(fg.vmap(lambda d: random.fold_in(k, d))(data), random.split(k, 6))


def test_the_ir_draws_from_threefry():
    text = str(fg.make_ir(lambda k: random.uniform(k, (3,)))(random.key(0)))
    assert "threefry2x32" in text and "iota" in text


@given(seed=st.integers(-2**63, 2**63 - 1), shape=st.lists(st.integers(0, 5), max_size=3))
def test_uniform_is_the_mantissa_of_bits(seed, shape):
    """[0, 1) floats are the top mantissa bits scaled: JAX's bitcast, exactly."""
    k = random.key(seed)
    x32, x64 = random.uniform(k, shape, np.float32), random.uniform(k, shape)
    assert x32.shape == x64.shape == tuple(shape)
    assert x32.dtype == np.float32 and x64.dtype == np.float64
    np.testing.assert_array_equal(x32, (random.bits(k, shape) >> 9) * np.float32(2.0 ** -23))
    np.testing.assert_array_equal(x64, (random.bits(k, shape, np.uint64) >> 12) * 2.0 ** -52)
    assert np.all((0 <= x64) & (x64 < 1)) and np.all((0 <= x32) & (x32 < 1))


@given(seed=st.integers(0, 2**32 - 1), low=st.integers(-1000, 1000), span=st.integers(-3, 300),
       dtype=st.sampled_from([np.int8, np.int32, np.int64, np.uint16, np.uint64]))
def test_randint_stays_in_range(seed, low, span, dtype):
    info = np.iinfo(dtype)
    low = int(np.clip(low, info.min, info.max))
    high = low + span
    x = random.randint(random.key(seed), (50,), low, high, dtype)
    assert x.dtype == dtype and x.shape == (50,)
    if high <= low:
        assert np.all(x == low)
    else:
        assert np.all((low <= x) & (x < min(high, info.max + 1)))


# ---------------------------------------------------------------- independence


def test_split_keys_are_distinct():
    k = random.key(0)
    keys = random.split(k, 2000)
    assert len(np.unique(keys, axis=0)) == 2000
    assert not np.any(np.all(keys == k, axis=1))
    # fold_in(k, i) is split(k, n)[i] (JAX's choice too): other data, other keys.
    folded = fg.vmap(lambda i: random.fold_in(k, i))(np.arange(5000, 5100))
    assert len(np.unique(np.concatenate([keys, folded]), axis=0)) == 2100


def test_split_streams_are_uncorrelated():
    n = 4000
    streams = fg.vmap(lambda k: random.uniform(k, (n,)))(random.split(random.key(1), 8))
    assert len(np.unique(streams[:, :4], axis=0)) == 8  # no stream repeats another
    correlations = np.corrcoef(streams)[np.triu_indices(8, 1)]
    assert np.all(np.abs(correlations) < 4 / math.sqrt(n))
    # Nor is a stream correlated with its own next element.
    assert np.all(np.abs([np.corrcoef(s[:-1], s[1:])[0, 1] for s in streams]) < 4 / math.sqrt(n))


# ---------------------------------------------------------------- distributions

N = 20000


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov: the largest distance between the empirical and the true CDF."""
    x = np.sort(np.ravel(samples))
    c, n = cdf(x), len(x)
    return max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n))


def ks_ok(samples, cdf):
    return ks_statistic(samples, cdf) < 1.95 / math.sqrt(np.size(samples))  # 0.1% level


normal_cdf = np.vectorize(lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2))))


def within(value, expected, sd, sigmas=5):
    return abs(value - expected) < sigmas * sd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_normal_distributions(dtype):
    k1, k2 = random.split(random.key(11))
    u = random.uniform(k1, (N,), dtype)
    x = random.normal(k2, (N,), dtype)
    assert u.dtype == x.dtype == dtype
    assert ks_ok(u, lambda t: t) and ks_ok(x, normal_cdf)
    assert within(u.mean(), 0.5, math.sqrt(1 / 12 / N)) and within(u.var(), 1 / 12, 0.0004)
    assert within(x.mean(), 0, math.sqrt(1 / N)) and within(x.var(), 1, math.sqrt(2 / N))
    # The tails are there too.
    assert np.mean(np.abs(x) > 3) == pytest.approx(0.0027, abs=0.0015)


def test_uniform_bounds_broadcast():
    low, high = np.array([-5.0, 0.0, 100.0]), np.array([[200.0], [1e6]])
    x = random.uniform(random.key(2), (2, 3), np.float64, low, high)
    assert np.all((low <= x) & (x < high))
    many = random.uniform(random.key(3), (N,), np.float32, -3, 5)
    assert ks_ok(many, lambda t: (t + 3) / 8)


def test_truncated_normal():
    lower, upper = -0.5, 2.0
    x = random.truncated_normal(random.key(4), lower, upper, (N,))
    assert np.all((lower < x) & (x < upper))
    mass = normal_cdf(upper) - normal_cdf(lower)
    assert ks_ok(x, lambda t: (normal_cdf(t) - normal_cdf(lower)) / mass)
    density = np.exp(-np.array([lower, upper]) ** 2 / 2) / math.sqrt(2 * math.pi)
    assert within(x.mean(), (density[0] - density[1]) / mass, math.sqrt(1 / N))
    # Bounds broadcast; one-sided (infinite) bounds work.
    y = random.truncated_normal(random.key(5), np.array([-np.inf, 0.0]), np.array([[0.0], [np.inf]]))
    assert y.shape == (2, 2) and y[0, 0] < 0 and y[1, 1] > 0 and np.all(np.isfinite(y))


def test_bernoulli_frequencies():
    p = np.array([0.05, 0.5, 0.95])
    x = random.bernoulli(random.key(6), p, (N, 3))
    assert x.dtype == bool and x.shape == (N, 3)
    for frequency, pi in zip(x.mean(axis=0), p):
        assert within(frequency, pi, math.sqrt(pi * (1 - pi) / N))
    assert random.bernoulli(random.key(6)).shape == ()


def test_categorical_frequencies():
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    logits = np.stack([np.log(probabilities), np.log(probabilities[::-1])])  # two distributions
    x = random.categorical(random.key(7), logits, shape=(N, 2))
    assert x.shape == (N, 2)
    for column, probs in zip(x.T, [probabilities, probabilities[::-1]]):
        counts = np.bincount(column, minlength=4) / N
        assert np.all(np.abs(counts - probs) < 5 * np.sqrt(probs * (1 - probs) / N))
    # A category with zero probability is never drawn; axis picks the categories.
    with np.errstate(divide="ignore"):
        logits = np.log([[0.5, 0.0, 0.5]]).T
    never = random.categorical(random.key(8), logits, axis=0, shape=(500, 1))
    assert set(np.unique(never)) == {0, 2}


def test_randint_frequencies():
    x = random.randint(random.key(9), (N,), -3, 7)
    assert x.dtype == np.int64 and np.all((-3 <= x) & (x < 7))
    counts = np.bincount(x + 3, minlength=10) / N
    assert np.all(np.abs(counts - 0.1) < 5 * math.sqrt(0.09 / N))
    per_column = random.randint(random.key(10), (1000, 3), np.array([0, 10, 5]), np.array([2, 20, 5]))
    assert np.all(per_column[:, 2] == 5) and set(np.unique(per_column[:, 0])) == {0, 1}


def test_permutation_is_a_permutation():
    keys = random.split(random.key(12), 20)
    perms = np.stack([random.permutation(k, 30) for k in keys])
    assert np.all(np.sort(perms, axis=1) == np.arange(30))
    assert len(np.unique(perms, axis=0)) == 20
    # Each position is equally likely to hold each value (first positions of 5000 draws).
    firsts = fg.vmap(lambda k: random.permutation(k, 4)[0])(random.split(random.key(13), 5000))
    assert np.all(np.abs(np.bincount(firsts, minlength=4) / 5000 - 0.25) < 5 * math.sqrt(0.1875 / 5000))
    x = np.arange(20.0).reshape(4, 5)
    rows = random.permutation(keys[0], x)
    assert sorted(map(tuple, rows)) == sorted(map(tuple, x))
    columns = random.permutation(keys[0], x, axis=1, independent=True)
    assert np.all(np.sort(columns, axis=1) == x)
    assert random.permutation(keys[0], [3, 1, 2]).tolist() in [[1, 2, 3], [1, 3, 2], [2, 1, 3],
                                                               [2, 3, 1], [3, 1, 2], [3, 2, 1]]


def test_choice():
    k = random.key(14)
    no_replace = random.choice(k, 50, (7, 3), replace=False)
    assert no_replace.shape == (7, 3) and len(np.unique(no_replace)) == 21
    a = np.arange(12).reshape(3, 4)
    assert random.choice(k, a, (2,), axis=1).shape == (3, 2)
    picked = random.choice(k, a, (2, 2), replace=False, axis=1)
    assert picked.shape == (3, 2, 2) and len(np.unique(picked[0])) == 4
    p = np.array([0.1, 0.0, 0.6, 0.3])
    x = random.choice(k, 4, (N,), p=p)
    assert np.all(np.abs(np.bincount(x, minlength=4) / N - p) < 5 * np.sqrt(p * (1 - p) / N + 1e-12))
    assert 1 not in random.choice(k, 4, (3,), replace=False, p=p)
    assert random.choice(k, 3, (0,)).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gamma_moments(dtype):
    alphas = np.array([0.3, 1.0, 4.5])
    x = random.gamma(random.key(15), alphas, (N, 3), dtype)
    assert x.dtype == dtype and x.shape == (N, 3) and np.all(x >= 0)
    for column, a in zip(x.T, alphas):
        assert within(column.mean(), a, math.sqrt(a / N))
        assert within(column.var(), a, a * math.sqrt((2 + 6 / a) / N))
    assert ks_ok(x[:, 1], lambda t: 1 - np.exp(-t))  # Gamma(1) is Exponential(1)


def test_beta_moments():
    x = random.beta(random.key(16), np.array([0.5, 2.0, 1.0]), np.array([0.5, 5.0, 1.0]), (N, 3))
    assert np.all((0 <= x) & (x <= 1))
    for column, (a, b) in zip(x.T, [(0.5, 0.5), (2.0, 5.0), (1.0, 1.0)]):
        mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
        assert within(column.mean(), mean, math.sqrt(var / N))
    assert ks_ok(x[:, 2], lambda t: t)  # Beta(1, 1) is uniform
    assert ks_ok(x[:, 0], lambda t: 2 / math.pi * np.arcsin(np.sqrt(t)))  # the arcsine law


def test_gradients_flow_through_the_bounds():
    k = random.key(17)
    u = random.uniform(k, (4,))
    np.testing.assert_allclose(fg.grad(lambda m: random.uniform(k, (4,), maxval=m).sum())(2.0), u.sum())
    g = fg.grad(lambda b: random.truncated_normal(k, -1.0, b, (4,)).sum())(0.5)
    assert np.isfinite(g) and g > 0


# ---------------------------------------------------------------- errors

KEY = random.key(0)
ERRORS = [  # call, error class, words the message must contain
    (lambda: random.normal(np.zeros(2)), errors.DtypeError, "normal: a key is a uint32 array of shape (2,)"),
    (lambda: random.uniform(np.zeros(3, np.uint32)), errors.ShapeError, "got uint32[3]"),
    (lambda: random.bits(random.split(KEY, 4)), errors.ShapeError, "fg.vmap"),
    (lambda: random.split([0, 0]), errors.DtypeError, "split: a key"),
    (lambda: random.key(1.5), errors.DtypeError, "key: the seed must be an integer"),
    (lambda: random.key(np.arange(3)), errors.ShapeError, "key: the seed must be a scalar"),
    (lambda: random.fold_in(KEY, 0.5), errors.DtypeError, "fold_in: data must be an integer"),
    (lambda: random.fold_in(KEY, np.arange(2)), errors.ShapeError, "fg.vmap"),
    (lambda: random.uniform(KEY, (-1, 2)), errors.ShapeError, "uniform: shape must be a tuple of non-neg"),
    (lambda: random.normal(KEY, (2.5,)), errors.ShapeError, "normal: shape must be"),
    (lambda: random.split(KEY, "ab"), errors.ShapeError, "split: shape must be"),
    (lambda: random.uniform(KEY, (3,), np.int32), errors.DtypeError, "uniform: dtype must be a float type"),
    (lambda: random.bits(KEY, (3,), np.int32), errors.DtypeError, "bits: dtype must be an unsigned"),
    (lambda: random.randint(KEY, (3,), 0, 9, np.float64), errors.DtypeError, "randint: dtype must be an"),
    (lambda: random.uniform(KEY, (3,), minval=np.zeros(4)), errors.ShapeError, "do not broadcast to (3,)"),
    (lambda: random.gamma(KEY, np.ones(3), (2,)), errors.ShapeError, "gamma: parameters of shapes"),
    (lambda: random.bernoulli(KEY, 1), errors.DtypeError, "bernoulli: needs floating-point"),
    (lambda: random.categorical(KEY, np.array([1, 2])), errors.DtypeError, "categorical: needs floating"),
    (lambda: random.categorical(KEY, np.zeros((2, 3)), axis=2), errors.AxisError, "categorical"),
    (lambda: random.choice(KEY, 3, (5,), replace=False), errors.ShapeError, "without replacement"),
    (lambda: random.choice(KEY, 3, (2,), p=[0.5, 0.5]), errors.ShapeError, "p must have shape (3,)"),
    (lambda: random.choice(KEY, 0, (2,)), errors.ShapeError, "empty population"),
    (lambda: random.permutation(KEY, 2.5), errors.DtypeError, "permutation: needs an integer"),
    (lambda: fg.vmap(random.normal)(np.zeros((3, 2))), errors.DtypeError, "normal: a key"),
    (lambda: fg.make_ir(lambda k: random.normal(k, (-2,)))(KEY), errors.ShapeError, "normal: shape"),
]


@pytest.mark.parametrize("call, error, words", ERRORS)
def test_bad_arguments_raise_clear_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
    assert "test_random.py" in str(info.value)  # the user's line
