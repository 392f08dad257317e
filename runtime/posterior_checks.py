"""What a `Posterior` computes from the model it came from: the posterior predictive and the
pointwise log likelihood (augury/predictive_checks.py), kept once computed, and the
ArviZ groups they fill (`posterior_predictive`, `log_likelihood`)."""

from __future__ import annotations

from typing import Any, Optional

from augury.errors import AuguryError


class PosteriorChecks:
    """Mixed into `Posterior`: `attach_model` is called by `Model.sample`."""

    _model: Any = None
    _data: Any = None

    def attach_model(self, model, data) -> None:
        """Remember the model and the data this posterior came from (not saved with it)."""
        self._model, self._data = model, data
        self._predictive: dict[int, dict] = {}
        self._pointwise: Optional[dict] = None

    def _need_model(self, what: str):
        if self._model is None:
            raise AuguryError(f"{what} needs the model: this posterior was loaded from a file",
                              notes=["use `model.posterior_predictive(post, data)` / `model.log_likelihood(post, data)` "
                                     "with the compiled model and its data"])
        return self._model

    def posterior_predictive(self, seed: int = 0, data: Any = None) -> dict:
        """Replicated data y_rep ~ p(y | θ), one per draw, in the draws' layout: {data name: array}.
        `data`: new covariates to predict at (default: the run's data)."""
        model = self._need_model("the posterior predictive")
        if data is not None:
            return model.posterior_predictive(self, data, seed)
        if seed not in self._predictive:
            self._predictive[seed] = model.posterior_predictive(self, self._data, seed)
        return self._predictive[seed]

    def log_likelihood(self) -> dict:
        """Pointwise log likelihood log p(y_i | θ) per draw and observed element: {data name: array}."""
        model = self._need_model("the pointwise log likelihood")
        if self._pointwise is None:
            self._pointwise = model.log_likelihood(self, self._data)
        return self._pointwise

    def _arviz_checks(self, predictive: Optional[bool], pointwise: Optional[bool]) -> tuple[dict, dict, dict]:
        """The groups `to_arviz` adds, and why one is absent: None includes each where it can be
        computed, True insists (an error says why not), False leaves it out.  A weighted posterior
        gets no `log_likelihood` unless asked: PSIS-LOO would read its particles as equal draws."""
        notes: dict[str, str] = {}
        groups = []
        for flag, name, fn in ((predictive, "posterior_predictive", self.posterior_predictive), (pointwise, "log_likelihood", self.log_likelihood)):
            if flag is False or (flag is None and (self._model is None or self.method == "prior")):
                groups.append({})
                continue
            if flag is None and self.interrupted:  # Ctrl-C asked for a quick stop: no compiling
                notes[name] = "the run was interrupted: call `to_arviz` with it set to True to compute it"
                groups.append({})
                continue
            if flag is None and name == "log_likelihood" and self._log_weights is not None:
                notes[name] = "weighted draws: loo and waic would treat the particles as equally weighted"
                groups.append({})
                continue
            try:
                groups.append(fn())
            except AuguryError as ex:
                if flag:
                    raise
                notes[name] = str(ex).splitlines()[0]
                groups.append({})
        return groups[0], groups[1], notes
