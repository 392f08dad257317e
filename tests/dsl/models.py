"""Valid model texts shared by the parser and checker tests (LANGUAGE.md §10 and friends)."""

DEBLUR = """\
model deblur
data  y : real[1, 28, 28]
param x : real[1, 28, 28]
const noise = 0.05

x ~ diffusion(net = "digits", sde = vp(beta_min = 0.1, beta_max = 20))
op A = blur(gaussian_kernel(size = 7, std = 1.5))
y ~ normal(A(x), noise)

infer x by ensemble(particles = 64, steps = 200)
"""

GCD = """\
model gcd
const Kmax = 30
data  X : real[N, D]
data  z : category(Kmax)[N] missing -1     # -1 where the label is unknown
param w : simplex(Kmax)
param mu : real[Kmax, D]
param Sigma : spd(D)[Kmax]

w ~ dirichlet_process(alpha = 1.0)
Sigma ~ inv_wishart(D + 2, eye(D))
for k in range(Kmax) { mu[k] ~ mvnormal(zeros(D), 10 * Sigma[k]) }
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ mvnormal(mu[z[n]], Sigma[z[n]])
}
infer by split_merge(sweeps = 200)
"""

AR1 = """\
model ar1
data  y : real[T]
param x : real[T]
const a = 0.9

x[0] ~ normal(0, 1)
for t in range(1, T) { x[t] ~ normal(a * x[t - 1], 0.5) }
for t in range(T)    { y[t] ~ normal(x[t], 1.0) }
infer x by particle_filter(particles = 1000)
"""

EIGHT_SCHOOLS = """\
data  y : real[J]
data  sigma : positive[J]
param mu : real
param tau : positive
param theta : real[J]

mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta ~ normal(mu, tau)
y ~ normal(theta, sigma)
"""

LANGUAGE_EXAMPLES = {"deblur": DEBLUR, "gcd": GCD, "ar1": AR1, "eight_schools": EIGHT_SCHOOLS}

AR_K = """\
data N : int
data y : real[N]
data K : int
param alpha : real
param beta : real[K]
param sigma : positive
alpha ~ normal(0, 10)
beta ~ normal(0, 10)
sigma ~ cauchy(0, 2.5)
for t in range(K, N) { y[t] ~ normal(alpha + dot(beta, y[t - K:t]), sigma) }
"""

MIXTURE = """\
data N : int
data y : real[N]
param theta : unit
param mu : ordered(2)
param sigma : positive[2]
mu ~ normal(0, 2)
sigma ~ normal(0, 2)
theta ~ beta(5, 5)
y ~ mixture([theta, 1 - theta], normal(mu, sigma))
"""

HMM = """\
data N : int
data K : int
data y : real[N]
param theta : simplex(K)[K]
param mu : positive_ordered(K)
param z : category(K)[N]
mu[0] ~ normal(3, 1)
mu[1] ~ normal(10, 1)
theta ~ flat()
z[0] ~ categorical(theta[0])
for t in range(1, N) { z[t] ~ categorical(theta[z[t - 1]]) }
for t in range(N) { y[t] ~ normal(mu[z[t]], 1) }
"""

HMM_THETA = """\
data y : real[T]
param Theta : simplex(K)[K]
param mu : ordered(K)
param z : category(K)[T]
Theta ~ dirichlet(ones(K))
mu ~ normal(0, 5)
z[0] ~ categorical(ones(K) / K)
for t in range(1, T) { z[t] ~ categorical(Theta[z[t - 1]]) }
for t in range(T) { y[t] ~ normal(mu[z[t]], 1) }
"""

GARCH = """\
data y : real[T]
param a0 : positive
param a1 : unit
param s0 : positive
a0 ~ half_normal(1)
a1 ~ beta(2, 2)
s0 ~ half_normal(1)
let s[0] = s0
for t in range(1, T) {
  let s[t] = sqrt(a0 + a1 * s[t - 1] ** 2)
}
for t in range(T) { y[t] ~ normal(0, s[t]) }
"""

BOUNDS = """\
param a : unit
param b : real(lower = 0, upper = 1 - a)
a ~ uniform(0, 1)
b ~ uniform(0, 1)
"""

SEMI_SUPERVISED = """\
const K = 3
data X : real[N, D]
data z : category(K)[N] missing -1
param w : simplex(K)
param mu : real[K, D]
w ~ dirichlet(ones(K))
mu ~ normal(0, 10)
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ normal(mu[z[n]], 1)
}
infer [w, mu, z] by gibbs(sweeps = 100)
"""

TRANSFORMED_DATA = """\
data y : positive[N]
param m : real
param s : positive
let logy = log(y)
m ~ normal(0, 1)
s ~ exponential(1)
logy ~ normal(m, s)
"""

LINREG = """\
data N : int
data X : real[N, P]
data y : real[N]
param beta : real[P]
param alpha : real
param sigma : positive
let mu = alpha + X @ beta
beta ~ normal(0, 1)
alpha ~ student_t(3, 0, 2.5)
sigma ~ exponential(1)
y ~ normal(mu, sigma)
infer by nuts(warmup = 500, samples = 500, chains = 2)
"""

INPAINT = """\
data y : real[1, 28, 28]
data m : real[1, 28, 28]
param x : real[1, 28, 28]
op A = mask(m)
op B = compose(A, blur(uniform_kernel(3)))
x ~ gaussian(zeros(1, 28, 28), 1)
y ~ normal(B(x), 0.1)
infer x by ddrm(steps = 20, eta = 0.85, teleport = 0.2)
"""

VALID = {**LANGUAGE_EXAMPLES, "ar_k": AR_K, "mixture": MIXTURE, "hmm": HMM, "hmm_theta": HMM_THETA,
         "garch": GARCH, "bounds": BOUNDS, "semi_supervised": SEMI_SUPERVISED,
         "transformed_data": TRANSFORMED_DATA, "linreg": LINREG, "inpaint": INPAINT}
