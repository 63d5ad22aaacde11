import minigrad as mg


def test_backward_of_polynomial_matches_hand_derivative(device):
    x = mg.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    (x * x + 2 * x).sum().backward()
    assert x.grad.tolist() == [[4.0, 6.0, 8.0]]
