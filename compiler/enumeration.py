"""Summing out finite discrete unknowns exactly, and drawing them afterwards.

- plates (`z[n]` read only at its own element): log-sum-exp per element;
- chains (`z[t] ~ categorical(P[z[t - 1]])`): the forward algorithm, and forward
  filtering / backward sampling for the draws;
- scalars ("global" plans, a change point): every statement that reads them is
  evaluated at each joint value (vmapped) and the terms log-sum-exp'ed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from augury.dsl import ast
from augury.dsl.unparse import unparse
from augury.compiler.evaluate import Env, evaluate

from .analysis import EnumPlan
from .lowering_errors import concrete_int as _concrete_int, lowering_error as _err

ENUM_CUR, ENUM_PREV = "__enum_cur", "__enum_prev"
MAX_ENUMERATED = 100_000  # values (or joint values of scalars) a discrete unknown is summed over


class DiscreteEnumeration:
    """Enumeration methods of `LoweredModel` (which provides `s`, `plans`, `order`, `base`,
    `param_shapes`, `observed`, `unknowns`, `_static_lets` and the evaluation methods)."""

    def _prepare_global_enumeration(self):
        """Scalar discrete unknowns ("global" plans): the joint grid of their values, the
        lets and `~` statements that read them, and the per-element plans nested in them."""
        gplans = [p for p in self.plans.values() if p.kind == "global"]
        self.global_lets = {n for p in gplans for n in p.lets}
        self._global_uses = {id(u.loc) for p in gplans for u in p.uses}
        local = [p for p in self.plans.values() if p.kind != "global"]
        self._global_dependent = {p.name for p in local if any(id(u.loc) in self._global_uses for u in p.uses)}
        self._dependent_uses = {id(u.loc) for p in local if p.name in self._global_dependent for u in p.uses}
        self._global_grid = {}
        if not gplans:
            return
        axes = [self._enum_values(p.name) for p in gplans]
        if int(np.prod([len(a) for a in axes])) > MAX_ENUMERATED:
            raise _err(self.s, "too many joint values to sum out the scalar discrete unknowns "
                               f"{', '.join('`%s`' % p.name for p in gplans)}", gplans[0].span,
                       ["each joint value costs one evaluation of the statements that read them"])
        mesh = np.meshgrid(*axes, indexing="ij")
        self._global_grid = {p.name: m.reshape(-1).astype(np.int32) for p, m in zip(gplans, mesh)}
        for u in self.unknowns:
            bad = u.reads & (self.global_lets | set(self._global_grid))
            if bad:
                raise _err(self.s, f"the bounds of `{u.name}` read `{sorted(bad)[0]}`, which depends on a "
                                   "summed-out discrete unknown", u.decl.span)

    def _enum_values(self, name: str) -> np.ndarray:
        decl = self.s.params.get(name) or self.s.data.get(name)
        t = decl.type
        env = self.base.child(**self._static_lets)

        def bound(e, what):
            v = self._wrap(lambda: evaluate(e, env), e.span, f"cannot compute {what}")
            return _concrete_int(v, what, t.span, self.s)

        if t.base == "bool":
            return np.arange(2)
        if t.base == "category":
            a, b = 0, bound(t.args[0], "the number of categories") - 1
        else:
            lo, hi = t.kwarg("lower"), t.kwarg("upper")
            if lo is None or hi is None:
                raise _err(self.s, f"the discrete unknown `{name}` needs a finite support to be summed out",
                           t.span, ["declare it `category(K)`, `bool`, or `int(lower = A, upper = B)`"])
            a, b = bound(lo, "the bounds of a discrete unknown"), bound(hi, "the bounds of a discrete unknown")
        if b - a + 1 > MAX_ENUMERATED:
            raise _err(self.s, f"the discrete unknown `{name}` has {b - a + 1} values, too many to sum out", t.span,
                       [f"at most {MAX_ENUMERATED} values are summed over"])
        if b < a:
            raise _err(self.s, f"the discrete unknown `{name}` has no values (from {a} to {b})", t.span)
        return np.arange(a, b + 1)

    def _enum_table(self, plan: EnumPlan, env: Env):
        """Per-element log factors: E[elem..., K] (and for chains T[t, K, K])."""
        values = jnp.asarray(self._enum_values(plan.name), jnp.int32)
        k = values.shape[0]
        zshape = self.param_shapes[plan.name]
        emis = jnp.zeros(zshape + (k,))
        trans = jnp.zeros(zshape + (k, k)) if plan.kind == "chain" else None
        for use in plan.uses:
            loc, st = use.loc, use.stmt
            mask = None
            tgt_decl = st.target.name
            if tgt_decl not in (ENUM_CUR,) and self._support_mask_needed(tgt_decl, st.dist.func):
                mask = tgt_decl

            def at(e, cur, prev=None):
                bind = {ENUM_CUR: cur} if prev is None else {ENUM_CUR: cur, ENUM_PREV: prev}
                return self._statement_logp(st, Env({**e.values, **bind}, e.operators, e.loop_vars), mask)

            if use.has_prev:
                fn = lambda e: jax.vmap(lambda i: jax.vmap(lambda j: at(e, j, i))(values))(values)  # noqa: E731
            else:
                fn = lambda e: jax.vmap(lambda j: at(e, j))(values)  # noqa: E731
            grid = self._wrap(lambda: self.over_loops(loc.loops, env, fn), st.span,
                              f"cannot evaluate the distribution of `{unparse(loc.stmt.target)}`")
            if grid is None:
                continue
            # element of the unknown selected at each iteration
            sel = self.target_indices(ast.Target(plan.name, use.cur_index, st.span), loc.loops, env)
            nloop = self.loop_axes(loc.loops)
            event = grid.shape[nloop:]
            flat = jnp.reshape(grid, (-1,) + event)
            idx = tuple(np.reshape(i, -1) for i in sel)
            if len(idx) != len(zshape):
                raise _err(self.s, f"`{plan.name}` must be indexed by one index per dimension", st.span)
            if use.has_prev:
                trans = trans.at[idx].add(flat)
            else:
                emis = emis.at[idx].add(flat)
        if plan.name in self.observed:
            obs = jnp.asarray(self.observed[plan.name])
            raw = jnp.asarray(self.base.values[plan.name])
            hit = raw[..., None] == values
            emis = jnp.where(obs[..., None] & ~hit, -jnp.inf, emis)
        return values, emis, trans

    def _enum_marginal(self, plan: EnumPlan, env: Env, key=None):
        values, emis, trans = self._enum_table(plan, env)
        if plan.kind == "plate":
            lz = jnp.sum(logsumexp(emis, axis=-1))
            draw = None
            if key is not None:
                draw = values[jax.random.categorical(key, emis, axis=-1)]
            return lz, draw
        if emis.ndim != 2:
            raise _err(self.s, "a chain of discrete unknowns must be one-dimensional", plan.span)

        def fwd(alpha, xs):
            tr, e = xs
            a = logsumexp(alpha[:, None] + tr, axis=0) + e
            return a, a

        alpha0 = emis[0]
        last, alphas = jax.lax.scan(fwd, alpha0, (trans[1:], emis[1:]))
        lz = logsumexp(last)
        draw = None
        if key is not None:  # forward filtering, backward sampling
            alphas = jnp.concatenate([alpha0[None], alphas], axis=0)
            keys = jax.random.split(key, emis.shape[0])
            zt = jax.random.categorical(keys[-1], alphas[-1])

            def back(z_next, xs):
                a, tr_next, kk = xs
                z = jax.random.categorical(kk, a + tr_next[:, z_next])
                return z, z

            _, zs = jax.lax.scan(back, zt, (alphas[:-1], trans[1:], keys[:-1]), reverse=True)
            draw = values[jnp.concatenate([zs, zt[None]])]
        return lz, draw

    def _global_marginal(self, env: Env, key=None):
        """log Σ_v p(everything that reads the scalar discrete unknowns | their values v) p(v),
        one evaluation per joint value (vmapped); with `key`, draws v from the terms and
        puts v and the lets that read it into `env`."""
        names = list(self._global_grid)
        grid = [jnp.asarray(self._global_grid[n]) for n in names]
        dependent = [p for p in self.plans.values() if p.name in self._global_dependent]
        sub_keys = None if key is None else jax.random.split(key, len(dependent) + 1)

        def at(*zv):
            e = Env({**env.values, **dict(zip(names, zv))}, env.operators, env.loop_vars)
            for kind, k in self.order:
                if kind == "let" and any(n in self.global_lets for n in k):
                    self._eval_let_group(k, e)
            total = jnp.zeros((), self.dtype)
            for loc in self.s.samples:
                if id(loc) in self._global_uses and id(loc) not in self._dependent_uses:
                    total = total + self._sample_logp(loc, e)
            draws = {}
            for i, plan in enumerate(dependent):
                lz, draw = self._enum_marginal(plan, e, None if sub_keys is None else sub_keys[i])
                total = total + lz
                if draw is not None:
                    draws[plan.name] = draw
            return total, {n: e.values[n] for n in self.global_lets}, draws

        terms, lets, draws = jax.vmap(at)(*grid)
        if key is not None:
            pick = jax.random.categorical(sub_keys[-1], terms)
            for n, g in zip(names, grid):
                env.values[n] = g[pick]
            for n, v in {**lets, **draws}.items():
                env.values[n] = v[pick]
        return logsumexp(terms)

