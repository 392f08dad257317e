"""The model graph in a notebook (`Model._repr_svg_`)."""
def test_a_notebook_shows_the_graph_with_or_without_graphviz(monkeypatch):
    import shutil

    import augury
    model = augury.compile("data y : real[N]\nparam mu : real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the matplotlib drawing
    svg = model._repr_svg_()
    assert svg is not None and "<svg" in svg
