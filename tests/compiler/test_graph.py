"""The model graph in a notebook (`Model._repr_svg_`)."""
def test_a_notebook_shows_the_graph_with_or_without_graphviz(monkeypatch):
    import shutil

    import augury
    model = augury.compile("data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the matplotlib drawing
    svg = model._repr_svg_()
    assert svg is not None and "<svg" in svg


def _distance(p, a, b) -> float:
    """Distance from point p to the segment a–b."""
    import numpy as np
    p, a, b = map(np.asarray, (p, a, b))
    t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def test_the_drawing_without_graphviz_routes_edges_around_the_boxes():
    """Every edge of the layered drawing goes down one layer per segment, through a bend of its
    own on each layer it crosses, and keeps clear of every box but its two ends (a straight edge
    across several layers went through the boxes between)."""
    import augury
    from augury.compiler.graph import layered_layout
    for path in ("examples/eight_schools.aug", "examples/gcd.aug", "examples/stochastic_volatility_params.aug",
                 "examples/change_point.aug"):
        g = augury.compile(path).graph
        pos, routes = layered_layout(g)
        assert set(routes) == set(g.edges) and len(set(pos.values())) == len(pos)
        for (u, v), route in routes.items():
            assert route[0] == pos[u] and route[-1] == pos[v]
            assert all(b[1] == a[1] - 1 for a, b in zip(route, route[1:])), (u, v, route)
            for n, p in pos.items():
                if n not in (u, v):
                    assert min(_distance(p, a, b) for a, b in zip(route, route[1:])) > 0.3, (path, u, v, n)
