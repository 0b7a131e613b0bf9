# ruff: noqa: E501  (the expected derivations are printed lines, kept whole)
"""Exact text of the seed notes' derivations: the neuron and the MSE loss, wrt w and b.

Every line is in matdiff's language (and checked by d.check_steps() in
test_step_check.py); these tests pin the words and the order of the steps.
"""

from __future__ import annotations

import pytest

import matdiff
from printed_truth import check_steps

B = {"b": "scalar"}
NEURON = "max(0, w'*x + b)"
LOSS = "mean((y - max(0, X*w + b)).^2)"

NEURON_W = """\
1. Introduce intermediate variables
   u = w ⊙ x
   y = sum(u)
   z = y + b
   f = max(0, z)
2. Local derivatives
   ∂u/∂w = diag(x)   [element-wise binary operator]
      ∂(w ⊙ x)/∂w = diag(x): entry i depends on w_i only
   ∂y/∂u = vector(1, numel(w))'   [vector sum reduction]
      ∂ sum(u)/∂u is a row of ones, vector(1)'
   ∂z/∂y = 1   [sum rule]
      ∂(a + b)/∂a = 1 and ∂(a - b)/∂b = -1
   ∂f/∂z = step(z)   [max(0, z) cases]
      step(z) is 1 where z > 0 and 0 where z ≤ 0: the article's two cases
3. Combine by the chain rules
   ∂y/∂w = ∂y/∂u ∂u/∂w = vector(1)'*diag(x) = x'   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂z/∂w = ∂z/∂y ∂y/∂w = x'   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂f/∂w = ∂f/∂z ∂z/∂w = step(z)*x'   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂f/∂w = vector(0, numel(w))' if z ≤ 0;  x' if z > 0   [max(0, z) cases]
      step(z) is 0 for z ≤ 0 and 1 for z > 0
4. Substitute back
   ∂f/∂w = step(w'*x + b)*x'   [substitute the intermediates back]
      u = w ⊙ x, y = w'*x, z = w'*x + b
5. Result
   ∂f/∂w = step(w'*x + b)*x'   [result]
      in the numerator layout of the steps
6. In matdiff's shape layout
   (∂f/∂w)' = step(w'*x + b)*x   [shape layout]
      the same derivative transposed into matdiff's shape layout (shape(f) + shape(wrt)): what d.evaluate returns
"""

NEURON_B = """\
1. Introduce intermediate variables
   u = w'*x + b
   f = max(0, u)
2. Local derivatives
   ∂u/∂b = 1   [sum rule]
      ∂(a + b)/∂a = 1 and ∂(a - b)/∂b = -1
   ∂f/∂u = step(u)   [max(0, z) cases]
      step(z) is 1 where z > 0 and 0 where z ≤ 0: the article's two cases
3. Combine by the chain rules
   ∂f/∂b = ∂f/∂u ∂u/∂b = step(u)   [single-variable chain rule]
      dy/dx = dy/du du/dx
   ∂f/∂b = 0 if u ≤ 0;  1 if u > 0   [max(0, z) cases]
      step(z) is 0 for z ≤ 0 and 1 for z > 0
4. Substitute back
   ∂f/∂b = step(w'*x + b)   [substitute the intermediates back]
      u = w'*x + b
5. Result
   ∂f/∂b = step(w'*x + b)   [result]
      in matdiff's shape layout: what d.evaluate returns
"""

LOSS_W = """\
1. Introduce intermediate variables
   u = X*w
   z = u + b
   v = max(0, z)
   s = y - v
   t = s.^2
   f = mean(t)
2. Local derivatives
   ∂u/∂w = X   [matrix product rule]
      ∂(A*x)/∂x = A: the other factors, held fixed
   ∂z/∂u = eye(numel(y))   [sum rule]
      ∂(a + b)/∂a = eye and ∂(a - b)/∂b = -eye
   ∂v/∂z = diag(step(z))   [max(0, z) cases]
      step(z) is 1 where z > 0 and 0 where z ≤ 0: the article's two cases
   ∂s/∂v = -eye(numel(y))   [sum rule]
      ∂(a + b)/∂a = eye and ∂(a - b)/∂b = -eye
   ∂t/∂s = 2*diag(s)   [power rule]
      ∂ u.^p/∂u = diag(p u.^(p-1))
   ∂f/∂t = vector(1, numel(y))'/numel(y)   [vector sum reduction]
      ∂ sum(u)/∂u is a row of ones, vector(1)'
3. Combine by the chain rules
   ∂z/∂w = ∂z/∂u ∂u/∂w = eye*X = X   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂v/∂w = ∂v/∂z ∂z/∂w = diag(step(z))*X   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂s/∂w = ∂s/∂v ∂v/∂w = -eye*diag(step(z))*X = -diag(step(z))*X   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂t/∂w = ∂t/∂s ∂s/∂w = -2*diag(s)*diag(step(z))*X = -2*diag(s ⊙ step(z))*X   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂f/∂w = ∂f/∂t ∂t/∂w = -2*(vector(1)'/numel(y))*diag(s ⊙ step(z))*X = -2*(s ⊙ step(z))'*X/numel(s)   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
4. Substitute back
   ∂f/∂w = 2*((max(0, X*w + b) - y) ⊙ step(X*w + b))'*X/numel(y)   [substitute the intermediates back]
      u = X*w, z = X*w + b, v = max(0, X*w + b), s = y - max(0, X*w + b), t = (y - max(0, X*w + b)).^2
5. Result
   ∂f/∂w = 2*((max(0, X*w + b) - y).*step(X*w + b))'*X/numel(y)   [result]
      in the numerator layout of the steps
6. In matdiff's shape layout
   (∂f/∂w)' = 2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)   [shape layout]
      the same derivative transposed into matdiff's shape layout (shape(f) + shape(wrt)): what d.evaluate returns; step(X*w + b) is an indicator per entry: the cases z ≤ 0 and z > 0 are taken entry by entry, inside the sum over samples (one indicator per sample), not once for the whole sum
"""

LOSS_B = """\
1. Introduce intermediate variables
   u = b*vector(1, numel(y))
   z = X*w + u
   v = max(0, z)
   s = y - v
   t = s.^2
   f = mean(t)
2. Local derivatives
   ∂u/∂b = vector(1, numel(y))   [scalar expansion]
      ∂(x z)/∂z = x for a scalar z
   ∂z/∂u = eye(numel(y))   [sum rule]
      ∂(a + b)/∂a = eye and ∂(a - b)/∂b = -eye
   ∂v/∂z = diag(step(z))   [max(0, z) cases]
      step(z) is 1 where z > 0 and 0 where z ≤ 0: the article's two cases
   ∂s/∂v = -eye(numel(y))   [sum rule]
      ∂(a + b)/∂a = eye and ∂(a - b)/∂b = -eye
   ∂t/∂s = 2*diag(s)   [power rule]
      ∂ u.^p/∂u = diag(p u.^(p-1))
   ∂f/∂t = vector(1, numel(y))'/numel(y)   [vector sum reduction]
      ∂ sum(u)/∂u is a row of ones, vector(1)'
3. Combine by the chain rules
   ∂z/∂b = ∂z/∂u ∂u/∂b = eye(numel(y))*vector(1) = vector(1, numel(y))   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂v/∂b = ∂v/∂z ∂z/∂b = diag(step(z))*vector(1) = step(z)   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂s/∂b = ∂s/∂v ∂v/∂b = -eye*step(z) = -step(z)   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂t/∂b = ∂t/∂s ∂s/∂b = -2*diag(s)*step(z) = -2*(s ⊙ step(z))   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
   ∂f/∂b = ∂f/∂t ∂t/∂b = -2*(vector(1)'/numel(y))*(s ⊙ step(z)) = -2*s'*step(z)/numel(s)   [vector chain rule]
      the Jacobian of a composition is the product of the Jacobians
4. Substitute back
   ∂f/∂b = 2*(max(0, X*w + b) - y)'*step(X*w + b)/numel(y)   [substitute the intermediates back]
      u = b*vector(1, numel(y)), z = X*w + b, v = max(0, X*w + b), s = y - max(0, X*w + b), t = (y - max(0, X*w + b)).^2
5. Result
   ∂f/∂b = 2*(max(0, X*w + b) - y)'*step(X*w + b)/numel(y)   [result]
      in matdiff's shape layout: what d.evaluate returns; step(X*w + b) is an indicator per entry: the cases z ≤ 0 and z > 0 are taken entry by entry, inside the sum over samples (one indicator per sample), not once for the whole sum
"""


@pytest.mark.parametrize(("text", "wrt", "want"), [
    (NEURON, "w", NEURON_W), (NEURON, "b", NEURON_B), (LOSS, "w", LOSS_W), (LOSS, "b", LOSS_B),
], ids=["neuron-w", "neuron-b", "loss-w", "loss-b"])
def test_seed_derivation_text(text, wrt, want):
    d = matdiff.diff(text, wrt=wrt, declare=B)
    assert d.explain() + "\n" == want
    assert d.check_steps().ok
    check_steps(d)  # every step's text, read on its own, evaluates (printed_truth)
