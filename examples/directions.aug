# Directions on the sphere: a mixture of von Mises–Fisher components whose concentrations
# are unknown (gamma prior), fitted by EM (MAP, several k-means++ restarts).
model directions
const K = 3
data  X : sphere(3)[N]
param w : simplex(K)
param mu : sphere(3)[K]
param kappa : positive[K]
param z : category(K)[N]

w ~ dirichlet(ones(K))
mu ~ flat()                                # uniform on the sphere
kappa ~ gamma(2, 0.01)
for n in range(N) {
  z[n] ~ categorical(w)
  X[n] ~ von_mises_fisher(mu[z[n]], kappa[z[n]])
}
infer by em(restarts = 4)
