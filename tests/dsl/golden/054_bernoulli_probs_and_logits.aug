data y : bool[N]
param p : unit
p ~ beta(1, 1)
y ~ bernoulli(p, logits = 0)
