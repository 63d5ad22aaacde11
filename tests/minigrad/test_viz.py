"""Graph pictures: DOT text checked by parsing it; rendering through Graphviz's `dot`."""

from __future__ import annotations

import re
import shutil

import pytest

import minigrad as mg
from minigrad import viz

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse(dot: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """{node id: (label, other attributes)} and the list of edges of our DOT output."""
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes, edges = {}, []
    for line in dot.splitlines():
        if m := NODE.match(line):
            nodes[m.group(1)] = (m.group(2).replace("\\n", "\n"), m.group(3))
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
    return nodes, edges


def by_label(nodes: dict, label: str) -> str:
    (node_id,) = [k for k, (lab, _) in nodes.items() if lab == label]
    return node_id


@pytest.fixture
def linear_graph():
    """loss = sum(tanh(W @ x + b)): W and b require grad, x is data."""
    W = mg.ones((3, 2), requires_grad=True)
    b = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    x = mg.ones(2)
    loss = (W @ x + b).tanh().sum()
    return loss, W, b, x


def test_ops_and_tensors_are_nodes_with_edges_input_op_output(linear_graph) -> None:
    loss, *_ = linear_graph
    nodes, edges = parse(viz.to_dot(loss))
    ops = sorted(lab for lab, attrs in nodes.values() if "shape=box" in attrs)
    assert ops == ["Add", "MatMul", "Sum", "Tanh"]
    tensors = [k for k, (_, attrs) in nodes.items() if "shape=ellipse" in attrs]
    assert len(tensors) == 7  # W, x, b, W@x, +b, tanh, loss
    assert len(nodes) == 11 and len(edges) == 10
    matmul, add = by_label(nodes, "MatMul"), by_label(nodes, "Add")
    (mid,) = [b for a, b in edges if a == matmul]  # MatMul's output feeds Add
    assert (mid, add) in edges and nodes[mid][0] == "(3,)\nfloat32"
    for a, b in edges:  # bipartite: every edge joins a tensor and an op
        assert ("shape=box" in nodes[a][1]) != ("shape=box" in nodes[b][1])


def test_tensor_labels_give_shape_and_dtype(linear_graph) -> None:
    loss, *_ = linear_graph
    nodes, _ = parse(viz.to_dot(loss))
    labels = {lab for lab, _ in nodes.values()}
    assert {"(3, 2)\nfloat32", "(3,)\nfloat64", "(2,)\nfloat32", "()\nfloat64"} <= labels


def test_only_leaves_requiring_grad_are_filled(linear_graph) -> None:
    loss, W, *_ = linear_graph
    nodes, _ = parse(viz.to_dot(loss, names={"W": W}))
    filled = sorted(lab.split("\n")[0] for lab, attrs in nodes.values() if "style=filled" in attrs)
    assert filled == ["(3,)", "W"]  # b (unnamed) and W; not the data x, not intermediates
    assert f"fillcolor={viz.LEAF_COLOR}" in nodes[by_label(nodes, "W\n(3, 2)\nfloat32")][1]


def test_root_is_bold_and_a_tensor_used_twice_is_one_node() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    nodes, edges = parse(viz.to_dot(y))
    root = [k for k, (_, attrs) in nodes.items() if "penwidth=2" in attrs]
    assert len(root) == 1 and (by_label(nodes, "Mul"), root[0]) in edges
    assert len(nodes) == 3 and len(edges) == 3  # x -> Mul twice, Mul -> y


def test_leaf_alone_is_one_node() -> None:
    nodes, edges = parse(viz.to_dot(mg.tensor([1.0], requires_grad=True)))
    assert len(nodes) == 1 and edges == []


def test_deep_graph_is_walked_without_recursion() -> None:
    x = mg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    nodes, _ = parse(viz.to_dot(y))
    assert sum("shape=box" in attrs for _, attrs in nodes.values()) == 5000


def test_ops_freed_by_backward_are_marked(linear_graph) -> None:
    loss, *_ = linear_graph
    loss.backward()
    nodes, _ = parse(viz.to_dot(loss))
    assert nodes[by_label(nodes, f"Sum\n{viz.FREED_NOTE}")][1].count("style=dashed") == 1


def test_render_without_graphviz_says_how_to_install(linear_graph, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError) as info:
        viz.render(linear_graph[0], tmp_path / "g.svg")
    msg = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in msg
    assert not (tmp_path / "g.svg").exists()


def test_render_rejects_an_unknown_format(linear_graph, tmp_path) -> None:
    with pytest.raises(ValueError, match="image format"):
        viz.render(linear_graph[0], tmp_path / "graph.txt")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("name, fmt, magic", [("g.svg", None, b"<?xml"), ("g.img", "png", b"\x89PNG")])
def test_render_writes_the_image(linear_graph, tmp_path, name, fmt, magic) -> None:
    path = viz.render(linear_graph[0], tmp_path / name, format=fmt)
    assert path.read_bytes().startswith(magic)
