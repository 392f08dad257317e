"""The model graph: a networkx DiGraph with one node per named thing.

An edge u → v means v's value or distribution reads u.  Node attributes
(ARCHITECTURE.md): kind, type, shape, support, dist, span, plates, chain,
observed.  Analyses add attributes; they never change the structure.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import networkx as nx

from augury.dsl import ast
from augury.errors import AuguryError
from augury.dsl.signatures import TYPES
from augury.dsl.unparse import unparse

from .analysis import chain_variables
from .structure import Structure


def _reads(e) -> set[str]:
    """Names read or called (an `op` is called: `A(x)`)."""
    return ast.free_names(e) | ast.called_names(e)


def _loop_reads(loops) -> set[str]:
    out = set()
    for lp in loops:
        out |= _reads(lp.start) | _reads(lp.stop)
    return out


def build_graph(s: Structure) -> nx.DiGraph:
    """The model graph of a collected program."""
    g = nx.DiGraph(name=s.program.model_name or Path(s.file).stem)
    for name, span in s.sizes.items():
        g.add_node(name, kind="size", type="int", shape=(), support="int", span=span)
    for name, d in s.consts.items():
        g.add_node(name, kind="const", type=unparse(d.type) if d.type else "", shape=None, span=d.span)
    for kind, table in (("data", s.data), ("param", s.params)):
        for name, d in table.items():
            tsig = TYPES.get(d.type.base)
            g.add_node(name, kind=kind, type=unparse(d.type), shape=tuple(unparse(x) for x in d.type.dims),
                       support=tsig.support if tsig else "?", span=d.span, plates=(), chain=False,
                       observed=(None if kind == "param" else ("partial" if d.has_missing else "all")))
    for name, locs in s.lets.items():
        g.add_node(name, kind="let", type="", shape=None, span=locs[0].stmt.span,
                   plates=tuple(v for loc in locs for v in loc.loop_vars), chain=False)
    for name, d in s.ops.items():
        g.add_node(name, kind="op", type="operator", shape=None, span=d.span, dist=unparse(d.value))
    known = set(g.nodes)
    loop_vars = {loc.stmt.var for loc in s.loops}

    def link(reads, v):
        for u in sorted(reads):
            if u in known and u != v and u not in loop_vars:
                g.add_edge(u, v)

    for name, d in list(s.data.items()) + list(s.params.items()):
        link(_reads(d.type), name)
    for name, d in s.consts.items():
        link(_reads(d.value), name)
    for name, d in s.ops.items():
        link(_reads(d.value), name)
    for name, locs in s.lets.items():
        for loc in locs:
            r = _reads(loc.stmt.value) | _loop_reads(loc.loops) | set().union(*[_reads(i) for i in loc.stmt.target.indices] or [set()])
            link(r, name)
    for loc in s.samples:
        st = loc.stmt
        name = st.target.name
        r = _reads(st.dist) | _loop_reads(loc.loops)
        link(r, name)
        node = g.nodes.get(name)
        if node is None:
            continue
        text = unparse(st.target) + " ~ " + unparse(st.dist)
        node["dist"] = text if "dist" not in node else node["dist"] + "; " + text
        if loc.loops:
            node["plates"] = tuple(dict.fromkeys(node.get("plates", ()) + loc.loop_vars))
    for name in chain_variables(s):
        g.nodes[name]["chain"] = True
    return g


MAX_DRAWN_NODES = 2000  # beyond this a layout takes minutes and the picture is unreadable
GRAPHVIZ_TIMEOUT_S = 60

_SHAPES = {"param": "ellipse", "data": "box", "let": "diamond", "const": "plaintext", "size": "plaintext",
           "op": "hexagon"}


def _q(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: nx.DiGraph) -> str:
    """Graphviz DOT text: params as ellipses (observed data shaded boxes), lets as diamonds."""
    lines = [f"digraph {_q(g.graph.get('name') or 'model')} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];']
    for n, a in g.nodes(data=True):
        label = n
        if a.get("shape"):
            label += f"\n[{', '.join(a['shape'])}]"
        if a.get("dist"):
            d = a["dist"].split(" ~ ", 1)[-1]
            label += "\n~ " + (d if len(d) <= 40 else d[:37] + "...")
        style = ', style=filled, fillcolor="#dddddd"' if a.get("kind") == "data" else ""
        if a.get("chain"):
            style += ", peripheries=2"
        lines.append(f"  {_q(n)} [shape={_SHAPES.get(a.get('kind'), 'ellipse')}, label={_q(label)}{style}];")
    for u, v in g.edges():
        lines.append(f"  {_q(u)} -> {_q(v)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(g: nx.DiGraph, path: str) -> Path:
    """Write the graph as .dot, .svg or .png (the last two need Graphviz's `dot`)."""
    out = Path(path)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("dot", "gv", "svg", "png", "pdf"):
        raise AuguryError(f"cannot render a graph as `.{fmt}`", notes=["use a .dot, .svg or .png file name"])
    if fmt not in ("dot", "gv") and g.number_of_nodes() > MAX_DRAWN_NODES:
        raise AuguryError(f"the graph has {g.number_of_nodes()} nodes, too many to draw as `.{fmt}` "
                          f"(at most {MAX_DRAWN_NODES})", notes=["write `.dot` instead (`-o graph.dot`)"])
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise AuguryError(f"cannot write `{out}`: its folder does not exist")
    # written next to the target and renamed: a failed or interrupted render leaves no half file
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if fmt in ("dot", "gv"):
            tmp.write_text(to_dot(g))
        elif shutil.which("dot") is None:
            _render_matplotlib(g, tmp, fmt)
        else:
            try:
                res = subprocess.run([shutil.which("dot"), f"-T{fmt}", "-o", str(tmp)], input=to_dot(g).encode(),
                                     capture_output=True, timeout=GRAPHVIZ_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise AuguryError(f"Graphviz took longer than {GRAPHVIZ_TIMEOUT_S} s to lay out the graph",
                                  notes=["write `.dot` instead (`-o graph.dot`)"]) from None
            if res.returncode != 0:
                raise AuguryError(f"Graphviz failed: {res.stderr.decode().strip()}")
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def layered_layout(g: nx.DiGraph) -> tuple[dict, dict]:
    """A layered drawing (Sugiyama, Tamassia & Toda 1981): nodes on the layers of a topological
    order, an edge that spans several layers routed through a point on each layer between
    (so it passes beside the boxes there, not through them), each layer ordered by the mean
    position of its neighbours above, then below (the barycenter heuristic), a few sweeps.
    Returns ({node: (x, y)}, {edge: [(x, y), ...] from tail to head})."""
    if nx.is_directed_acyclic_graph(g):
        layer = {n: i for i, nodes in enumerate(nx.topological_generations(g)) for n in nodes}
    else:
        layer = {n: 0 for n in g}
    rows: dict[int, list] = {}
    chains: dict = {}
    for n in g:  # graph order: a stable start
        rows.setdefault(layer[n], []).append(n)
    for u, v in g.edges:
        hops = [("·", u, v, k) for k in range(layer[u] + 1, layer[v])]
        for k, d in zip(range(layer[u] + 1, layer[v]), hops):
            rows.setdefault(k, []).append(d)
        chains[(u, v)] = [u] + hops + [v]
    up: dict = {}
    down: dict = {}
    for path in chains.values():
        for a, b in zip(path, path[1:]):
            down.setdefault(a, []).append(b)
            up.setdefault(b, []).append(a)
    order = {k: list(r) for k, r in rows.items()}

    def place():
        return {n: i - (len(r) - 1) / 2 for r in order.values() for i, n in enumerate(r)}

    for _ in range(4):
        for ks, nbr in ((sorted(order), up), (sorted(order, reverse=True), down)):
            x = place()
            for k in ks:
                order[k].sort(key=lambda n: sum(x[m] for m in nbr.get(n, [])) / len(nbr[n]) if nbr.get(n) else x[n])
                x = place()
    x = place()
    pos = {n: (x[n], -float(layer[n])) for n in g}
    routes = {e: [(x[n], -float(layer[n] if n in layer else n[3])) for n in path] for e, path in chains.items()}
    return pos, routes


def _render_matplotlib(g: nx.DiGraph, out: Path, fmt: str) -> Path:
    """Layered drawing with matplotlib, for machines without Graphviz (`layered_layout`)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AuguryError(f"rendering `.{fmt}` needs Graphviz's `dot` or matplotlib",
                          notes=["install Graphviz (apt-get install graphviz) or `pip install augury[plot]`, "
                                 "or write `.dot`"]) from None
    pos, routes = layered_layout(g)
    span = max([abs(p[0]) for p in pos.values()] + [abs(q[0]) for r in routes.values() for q in r] + [1.0])
    depth = max([-p[1] for p in pos.values()] + [0.0])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.7 * (2 * span + 1)), 1.4 * (depth + 2)))
    colors = {"data": "#dddddd", "param": "#cfe3ff", "let": "#fff2c6", "op": "#e6d9ff"}
    labels = {}
    for n, a in g.nodes(data=True):
        d = a.get("dist", "")
        labels[n] = n + ("\n~ " + d.split(" ~ ", 1)[-1][:30] if d and a.get("kind") != "op" else "")
    for route in routes.values():
        xs, ys = zip(*route)
        if len(route) > 2:  # the bends first, the arrow on the last segment
            ax.plot(xs[:-1], ys[:-1], color="black", lw=1, zorder=1)
        ax.annotate("", xy=route[-1], xytext=route[-2], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=1, shrinkA=0 if len(route) > 2 else 26,
                                    shrinkB=28))  # beyond a square box's corner
    for kind, color in list(colors.items()) + [("const", "white"), ("size", "white")]:
        nodes = [n for n, a in g.nodes(data=True) if a.get("kind") == kind]
        if nodes:
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_color=color, edgecolors="black",
                                   node_size=2200, ax=ax, node_shape="s" if kind == "data" else "o")
    nx.draw_networkx_labels(g, pos, labels=labels, font_size=7, ax=ax)
    ax.set_xlim(-span - 0.7, span + 0.7)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, format=fmt)
    plt.close(fig)
    return out
