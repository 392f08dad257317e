"""Train the digits diffusion prior shipped as augury/priors/digits.safetensors.

    python3 scripts/train_digits.py            # train (a few minutes on 2 CPU cores), save, sample
    python3 scripts/train_digits.py --sample   # only sample from the shipped weights and score them

Data: sklearn.datasets.load_digits(), x0 = pixels / 16 * 2 - 1 in [-1, 1], shape (8, 8).
Noise: VP SDE, beta in [0.1, 20]: x_t = alpha(t) x0 + sigma(t) eps, alpha = exp(-B(t)/2),
B(t) = 0.1 t + 19.9 t^2 / 2, sigma = sqrt(1 - alpha^2).
Loss: E_{x0, t ~ U(1e-3, 1), eps} mean_pixels (eps_hat(x_t, t) - eps)^2  (eps prediction).
Optimizer: Adam with a warmup + cosine decay, gradient clipping; the saved weights are an EMA.
Deterministic: every random draw comes from jax.random with a fixed seed.

The sample check draws 512 images with DDPM ancestral steps on a uniform grid of 200 times
from 1 to 1e-3, classifies them with a logistic regression fitted on the real digits, and
writes a grid of 64 of them to /tmp/digits_samples.png.
"""

from __future__ import annotations

import argparse
import time

import augury  # noqa: F401  (its XLA CPU workaround must be in force before JAX starts)
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from safetensors.numpy import save_file
from sklearn.datasets import load_digits

from augury.priors import digits
from augury.runtime.schedules import VP

SEED = 0
STEPS = 30_000
BATCH = 256
LR = 1e-3
WARMUP = 500
EMA_DECAY = 0.9995
CHUNK = 1_000  # steps per jitted lax.scan, between progress lines
T_MIN = 1e-3  # t ~ U(T_MIN, 1): at t -> 0 the eps target is pure noise the net cannot see

SDE = VP(0.1, 20.0)


def data() -> np.ndarray:
    """The 1797 digits in network coordinates, (1797, 8, 8) float32 in [-1, 1]."""
    return (load_digits().images / 16.0 * 2.0 - 1.0).astype(np.float32)


def check_metadata(x: np.ndarray) -> None:
    """METADATA's data_mean / data_var are the float64 statistics of the data: keep them in sync."""
    x64 = x.reshape(len(x), -1).astype(np.float64)
    mean, var = float(x64.mean()), float(x64.var(axis=0).mean())
    assert abs(float(digits.METADATA["data_mean"]) - mean) < 1e-6, mean
    assert abs(float(digits.METADATA["data_var"]) - var) < 1e-6, var


def loss_fn(model: eqx.Module, x0: jax.Array, key: jax.Array) -> jax.Array:
    """Mean over batch and pixels of (eps_hat(alpha x0 + sigma eps, t) - eps)^2."""
    kt, ke = jax.random.split(key)
    t = jax.random.uniform(kt, (x0.shape[0],), minval=T_MIN, maxval=1.0)
    eps = jax.random.normal(ke, x0.shape)
    a, s = SDE.alpha(t)[:, None, None], SDE.sigma(t)[:, None, None]
    return jnp.mean((model(a * x0 + s * eps, t) - eps) ** 2)


def train(x: np.ndarray) -> eqx.Module:
    """Adam + cosine decay on the eps loss; returns the EMA of the weights."""
    key = jax.random.PRNGKey(SEED)
    key, kinit = jax.random.split(key)
    model = digits.DigitsEpsNet(key=kinit)
    params, static = eqx.partition(model, eqx.is_array)
    n = sum(p.size for p in jax.tree_util.tree_leaves(params))
    print(f"parameters: {n:,} ({4 * n / 2**20:.2f} MiB float32)", flush=True)

    schedule = optax.warmup_cosine_decay_schedule(0.0, LR, WARMUP, STEPS, end_value=LR * 1e-2)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    state = (params, params, opt.init(params))  # (params, ema, optimizer state)
    xs = jnp.asarray(x)

    def step(carry, key):
        params, ema, opt_state = carry
        kb, kl = jax.random.split(key)
        batch = xs[jax.random.randint(kb, (BATCH,), 0, xs.shape[0])]
        loss, grads = jax.value_and_grad(
            lambda p: loss_fn(eqx.combine(p, static), batch, kl))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        ema = jax.tree_util.tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p, ema, params)
        return (params, ema, opt_state), loss

    @jax.jit
    def chunk(state, key):
        return jax.lax.scan(step, state, jax.random.split(key, CHUNK))

    start = time.perf_counter()
    for i in range(STEPS // CHUNK):
        key, k = jax.random.split(key)
        state, losses = chunk(state, k)
        print(f"step {(i + 1) * CHUNK:6d}  loss {float(losses.mean()):.4f}  "
              f"lr {float(schedule((i + 1) * CHUNK)):.2e}  {time.perf_counter() - start:6.1f}s",
              flush=True)
    return eqx.combine(state[1], static)


def eval_loss(model: eqx.Module, x: np.ndarray, key: jax.Array, reps: int = 8) -> float:
    """The training loss of `model` on the whole data set, averaged over `reps` noise draws."""
    f = eqx.filter_jit(loss_fn)
    return float(np.mean([f(model, jnp.asarray(x), k) for k in jax.random.split(key, reps)]))


def save(model: eqx.Module) -> None:
    """Write the array leaves, named keystr(path), and METADATA to digits.WEIGHTS."""
    tensors = {k: np.asarray(v, np.float32) for k, v in digits.tensor_names(model).items()}
    save_file(tensors, str(digits.WEIGHTS), metadata=digits.METADATA)
    print(f"saved {digits.WEIGHTS} ({digits.WEIGHTS.stat().st_size / 2**20:.2f} MiB)", flush=True)


@eqx.filter_jit
def sample(model: eqx.Module, key: jax.Array, n: int = 512, steps: int = 200,
           clip: bool = False) -> jax.Array:
    """DDPM ancestral sampling on t_0 = 1 > ... > t_steps = 1e-3, then Tweedie's mean at 1e-3.

    From t to s < t: x0_hat = (x_t - sigma_t eps_hat) / alpha_t, and x_s ~ q(x_s | x_t, x0_hat):
    alpha_ts = alpha_t / alpha_s, sigma_ts^2 = sigma_t^2 - alpha_ts^2 sigma_s^2,
    mean = alpha_s sigma_ts^2 / sigma_t^2 x0_hat + alpha_ts sigma_s^2 / sigma_t^2 x_t,
    var = sigma_ts^2 sigma_s^2 / sigma_t^2.  `clip` clips x0_hat to [-1, 1] (off by default:
    the check is of the network, not of the sampler's tricks)."""
    ts = jnp.linspace(1.0, T_MIN, steps + 1)
    key, k0 = jax.random.split(key)
    x = jax.random.normal(k0, (n, 8, 8))

    def x0_hat(x, t):
        tt = jnp.full((n,), t)
        x0 = (x - SDE.sigma(t) * model(x, tt)) / SDE.alpha(t)
        return jnp.clip(x0, -1.0, 1.0) if clip else x0

    def body(x, inp):
        t, s, k = inp
        at, st, as_, ss = SDE.alpha(t), SDE.sigma(t), SDE.alpha(s), SDE.sigma(s)
        ats = at / as_
        var_ts = st**2 - ats**2 * ss**2
        mean = as_ * var_ts / st**2 * x0_hat(x, t) + ats * ss**2 / st**2 * x
        return mean + jnp.sqrt(var_ts * ss**2 / st**2) * jax.random.normal(k, x.shape), None

    x, _ = jax.lax.scan(body, x, (ts[:-1], ts[1:], jax.random.split(key, steps)))
    return x0_hat(x, ts[-1])


def check_samples(model: eqx.Module, x: np.ndarray, png: str = "/tmp/digits_samples.png") -> None:
    """Classify 512 samples with a logistic regression fitted on the real digits; save a grid."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    labels = load_digits().target
    pix = (x.reshape(len(x), -1) + 1.0) / 2.0  # = pixels / 16
    a, b, ya, yb = train_test_split(pix, labels, test_size=0.25, random_state=SEED)
    clf = LogisticRegression(max_iter=5000).fit(a, ya)
    held = clf.predict_proba(b)
    print(f"classifier on held-out real digits: accuracy {np.mean(held.argmax(1) == yb):.3f}, "
          f"mean max probability {held.max(1).mean():.3f}")
    clf = LogisticRegression(max_iter=5000).fit(pix, labels)

    for clip in (False, True):
        t0 = time.perf_counter()
        s = np.asarray(sample(model, jax.random.PRNGKey(SEED + 1), clip=clip))
        sp = np.clip((s.reshape(len(s), -1) + 1.0) / 2.0, 0.0, 1.0)
        prob = clf.predict_proba(sp)
        # nearest training image (L2 in pixels/16), against the real digits' own nearest-other
        d = ((sp[:, None, :] - pix[None, :, :]) ** 2).sum(-1).min(1) ** 0.5
        print(f"samples (clip x0_hat={clip}, {time.perf_counter() - t0:.1f}s): range "
              f"[{s.min():.2f}, {s.max():.2f}], mean {s.mean():.3f} (data {x.mean():.3f}), "
              f"mean max class probability {prob.max(1).mean():.3f}, "
              f"median nearest-training distance {np.median(d):.3f}")
        print("  class histogram:", np.bincount(prob.argmax(1), minlength=10).tolist())
        if not clip:
            grid = s[:64]
    dd = ((pix[:, None, :] - pix[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dd, np.inf)
    nearest = np.median(dd.min(1) ** 0.5)
    print(f"real digits: median distance to the nearest other digit {nearest:.3f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(8, 8, figsize=(8, 8))
    for img, ax in zip(grid, axes.ravel()):
        ax.imshow(img, cmap="gray_r", vmin=-1, vmax=1)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    print(f"wrote {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true",
                        help="skip training: sample from the shipped weights and score them")
    args = parser.parse_args()
    x = data()
    check_metadata(x)
    if args.sample:
        model = digits.load()
    else:
        t0 = time.perf_counter()
        model = train(x)
        print(f"training took {time.perf_counter() - t0:.0f}s", flush=True)
        save(model)
    print(f"EMA model, full-data loss: {eval_loss(model, x, jax.random.PRNGKey(SEED + 2)):.4f}")
    check_samples(model, x)


if __name__ == "__main__":
    main()
