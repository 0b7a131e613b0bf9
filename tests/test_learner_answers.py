"""Learners' answers from the courses' classic mistakes, each with the verdict and the
diagnosis it must get (issue 19): softmax classifier, SVM hinge, logistic regression, the
article's neuron, a two-layer net and batch norm in their programs' own names, attention,
traces and determinants. Every verdict must be right, the slip named (not "different") for
at least 85% of the wrong answers, and every diagnosis says what is asserted here: a
specific diagnosis is shown only when the answer with that one fix equals the derivative."""

from __future__ import annotations

import json

import pytest

import matdiff
from test_passcheck import BN, NET  # the two-layer net and batch norm, as programs

SM = "-sum(sum(Y .* logsoftmax(X*W, 2)))/size(X, 1) + reg*sum(sum(W.^2))"
D_SM = {"Y": "one-hot rows", "reg": "scalar"}
SVM = "sum(max(0, 1 - y.*(X*w)))/numel(y) + lam*w'*w"
D_SVM = {"y": "labels(-1, 1)", "lam": "scalar"}
LOG = "sum(log(1 + exp(-y .* (X*w))))"
LOGR = "sum(log(1 + exp(-y .* (X*w))))/numel(y) + lam*w'*w"
D_L = {"lam": "scalar"}
ATT = "sum(sum(G .* (softmax(Q*K'/sqrt(size(Q, 2)), 2)*V)))"
NEURON = "max(0, w'*x + b)"
D_B = {"b": "scalar"}
NLOSS = "mean((y - max(0, X*w + b)).^2)"
SQ = "(y - relu(w'*x + b))^2"
D_BY = {"b": "scalar", "y": "scalar"}
SQD = {"A": "square matrix"}
BCE = "-sum(y.*log(sigmoid(X*w)) + (1 - y).*log(1 - sigmoid(X*w)))"
LASSO = "norm2(y - X*w)^2 + lam*sum(abs(w))"

# (answer, of, wrt, declarations, the mistake (None: right), what the diagnosis says)
ANSWERS = [
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1) + 2*reg*W", SM, 'W', D_SM, None,
     ""),
    ("X'*(softmax(X*W, 2) - Y) + 2*reg*W", SM, 'W', D_SM, 'term factor',
     "the first term, X'*(softmax(X*W, 2) - Y), lacks the factor 1/size(X, 1)"),
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1) + reg*W", SM, 'W', D_SM, 'term factor',
     'the second term, reg*W, lacks the factor 2'),
    ("X'*(Y - softmax(X*W, 2))/size(X, 1) + 2*reg*W", SM, 'W', D_SM, 'term sign',
     "the first term, X'*(Y - softmax(X*W, 2))/size(X, 1), has the wrong sign"),
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1)", SM, 'W', D_SM, 'missing term',
     'the answer leaves out 2*reg*W'),
    ("X'*(softmax(X*W, 2) - Y)/numel(Y) + 2*reg*W", SM, 'W', D_SM, 'term factor',
     "the first term, X'*(softmax(X*W, 2) - Y)/numel(Y), has a factor 1/size(Y, 2) too many"),
    ("(softmax(X*W, 2) - Y)'*X/size(X, 1) + 2*reg*W", SM, 'W', D_SM, 'shape',
     "the answer does not fit the shapes of the expression's variables: '+' needs operands"),
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1) + 2*reg*W + reg", SM, 'W', D_SM, 'extra term',
     'the term reg*matrix(1)'),
    ("X'*softmax(X*W, 2)/size(X, 1) + 2*reg*W", SM, 'W', D_SM, 'missing term',
     "the answer leaves out -X'*Y/size(Y, 1)"),
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1) + reg*W.^2", SM, 'W', D_SM, 'different',
     "the term X'*(softmax(X*W, 2) - Y)/size(X, 1) is a term of the derivative, reg*W.^2 is "
     "not (the derivative's other term: 2*reg*W)"),
    ("X'*(softmax(X*W, 2) - Y)/size(X, 1) + 2*reg*W", SM, 'W', {'reg': 'scalar'}, 'assumption',
     'the answer is right when each row of Y sums to 1 (one-hot or probability rows, as a'),
    ("(softmax(W*x) - y)*x'", "-y'*log(softmax(W*x))", 'W', {'y': 'one-hot vector'}, None,
     ""),
    ("(softmax(W*x) - y)*x'", "-y'*log(softmax(W*x))", 'W', None, 'assumption',
     'the answer is right when the entries of y sum to 1 (a one-hot or probability vector)'),
    ("x*(softmax(W*x) - y)'", "-y'*log(softmax(W*x))", 'W', {'y': 'one-hot vector'}, 'layout',
     'the answer is the transpose of the derivative: the other layout. The derivative of a'),
    ('softmax(W*x) - y', "-y'*log(softmax(W*x))", 'W', {'y': 'one-hot vector'}, 'shape',
     'the answer is a column vector (n)'),
    ("-X'*(y.*step(1 - y.*(X*w)))/numel(y) + 2*lam*w", SVM, 'w', D_SVM, None,
     ""),
    ("-X'*y/numel(y) + 2*lam*w", SVM, 'w', D_SVM, 'chain factor',
     'the answer leaves out one factor of the chain rule: ∂v/∂z = diag(step(1 - y.*(X*w)))'),
    ("-X'*(y.*step(1 - y.*(X*w))) + 2*lam*w", SVM, 'w', D_SVM, 'term factor',
     "the first term, -X'*(y.*step(1 - y.*(X*w))), lacks the factor 1/numel(y)"),
    ("-X'*(y.*step(1 - y.*(X*w)))/numel(y) + lam*w", SVM, 'w', D_SVM, 'term factor',
     'the second term, lam*w, lacks the factor 2'),
    ("X'*(y.*step(1 - y.*(X*w)))/numel(y) + 2*lam*w", SVM, 'w', D_SVM, 'term sign',
     "the first term, X'*(y.*step(1 - y.*(X*w)))/numel(y), has the wrong sign"),
    ("-X'*(y.*step(y.*(X*w) - 1))/numel(y) + 2*lam*w", SVM, 'w', D_SVM, 'sign inside',
     'a sign inside a function: where the answer has step(y.*(X*w) - 1), the derivative has'),
    ("-X'*(y.*sigmoid(-y.*(X*w)))", LOG, 'w', None, None,
     ""),
    ("X'*(sigmoid(X*w) - (y + 1)/2)", LOG, 'w', {'y': 'labels(-1, 1)'}, None,
     ""),
    ("-X'*(y.*sigmoid(y.*(X*w)))", LOG, 'w', None, 'sign inside',
     'a sign inside a function: where the answer has sigmoid(y.*(X*w)), the derivative has'),
    ("-X'*sigmoid(-y.*(X*w))", LOG, 'w', None, 'inner factor',
     'the answer leaves out the inner factor y of the chain rule: where it has'),
    ("X'*(y.*sigmoid(-y.*(X*w)))", LOG, 'w', None, 'sign',
     'the answer is minus the derivative: a sign error'),
    ("-X'*(y.*sigmoid(-y.*(X*w)))/numel(y) + 2*lam*w", LOGR, 'w', D_L, None,
     ""),
    ("-X'*(y.*sigmoid(-y.*(X*w))) + 2*lam*w", LOGR, 'w', D_L, 'term factor',
     "the first term, -X'*(y.*sigmoid(-y.*(X*w))), lacks the factor 1/numel(y)"),
    ("-X'*(y.*sigmoid(-y.*(X*w)))/numel(y) + lam*w", LOGR, 'w', D_L, 'term factor',
     'the second term, lam*w, lacks the factor 2'),
    ("-X'*(y.*sigmoid(-y.*(X*w)))/numel(y)", LOGR, 'w', D_L, 'missing term',
     'the answer leaves out 2*lam*w'),
    ("-(y.*sigmoid(-y.*(X*w)))'*X/numel(y) + 2*lam*w", LOGR, 'w', D_L, 'shape',
     "the answer does not fit the shapes of the expression's variables: '+' needs operands"),
    ("X'*diag(sigmoid(-y.*(X*w)).*(1 - sigmoid(-y.*(X*w))))*X", LOG, 'w', None, 'assumption',
     'the answer is right when y.^2 = 1, that is for labels in {-1, 1}'),
    ("X'*diag(sigmoid(-y.*(X*w)).*(1 - sigmoid(-y.*(X*w))))*X", LOG, 'w',
     {'y': 'labels(-1, 1)'}, None,
     ""),
    ("X'*sigmoid(X*w)", 'sum(log(1 + exp(X*w)))', 'w', None, None,
     ""),
    ("X'*exp(X*w)./(1 + exp(X*w))", 'sum(log(1 + exp(X*w)))', 'w', None, 'shape',
     "the answer does not fit the shapes of the expression's variables: './' needs operands"),
    ("step(w'*x + b)*x", NEURON, 'w', D_B, None,
     ""),
    ('x', NEURON, 'w', D_B, 'chain factor',
     "the answer leaves out one factor of the chain rule: ∂f/∂z = step(w'*x + b)"),
    ('1', NEURON, 'b', D_B, 'chain factor',
     "the answer leaves out one factor of the chain rule: ∂f/∂u = step(w'*x + b)"),
    ("relu(w'*x + b)", NEURON, 'b', D_B, 'factor',
     "the answer has a factor (w'*x + b) too many"),
    ("step(w'*x + b)*w", NEURON, 'w', D_B, 'variable',
     "the answer has w where the derivative has x, in step(w'*x + b)*w"),
    ("step(w'*x + b)*x'", NEURON, 'w', D_B, 'layout',
     'the answer is the right derivative written as a row: the numerator layout (the'),
    ("2*(relu(w'*x + b) - y)*step(w'*x + b)*x", SQ, 'w', D_BY, None,
     ""),
    ("2*(relu(w'*x + b) - y)*x", SQ, 'w', D_BY, 'chain factor',
     "the answer leaves out one factor of the chain rule: ∂s/∂v = step(w'*x + b)"),
    ("2*(y - relu(w'*x + b))*step(w'*x + b)*x", SQ, 'w', D_BY, 'sign',
     'the answer is minus the derivative: a sign error'),
    ("(relu(w'*x + b) - y)*step(w'*x + b)*x", SQ, 'w', D_BY, 'factor',
     'the answer is 1/2 times the derivative'),
    ("2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)", NLOSS, 'w', D_B, None,
     ""),
    ("2*X'*(max(0, X*w + b) - y)/numel(y)", NLOSS, 'w', D_B, 'chain factor',
     'the answer leaves out one factor of the chain rule: ∂v/∂z = diag(step(X*w + b))'),
    ("2*X'*((max(0, X*w + b) - y).*step(X*w + b))", NLOSS, 'w', D_B, 'factor',
     'the answer is the derivative times numel(y)'),
    ("2*X'*(X*w + b - y)/numel(y)", NLOSS, 'w', D_B, 'case split',
     'the answer takes one case of max(0, z) for the whole sum: as if every sample were'),
    ('2*sum((max(0, X*w + b) - y).*step(X*w + b))/numel(y)', NLOSS, 'b', D_B, None,
     ""),
    ("X'*((softmax(S, 2) - Y)*W2'.*step(Z1))/size(X, 1)", NET, 'W1', None, None,
     ""),
    ("X'*((softmax(S, 2) - Y)*W2')/size(X, 1)", NET, 'W1', None, 'inner factor',
     'the answer leaves out the inner factor step(Z1) of the chain rule: where it has'),
    ("X'*((softmax(S, 2) - Y)*W2'.*step(Z1))", NET, 'W1', None, 'factor',
     'the answer lacks the factor 1/size(X, 1)'),
    ("H'*(softmax(S, 2) - Y)/size(X, 1)", NET, 'W2', None, None,
     ""),
    ("H'*(softmax(S, 2) - Y)", NET, 'W2', None, 'factor',
     'the answer lacks the factor 1/size(X, 1)'),
    ("sum(softmax(S, 2) - Y, 1)'/size(X, 1)", NET, 'b2', None, None,
     ""),
    ('sum(softmax(S, 2) - Y, 1)/size(X, 1)', NET, 'b2', None, 'layout',
     'the answer is the right derivative written as a row: the numerator layout (the'),
    ('sum(softmax(S, 2) - Y, 2)/size(X, 1)', NET, 'b2', None, 'shape',
     'the answer is a column vector (n)'),
    ("sum((softmax(S, 2) - Y)*W2'.*step(Z1), 1)'/size(X, 1)", NET, 'b1', None, None,
     ""),
    ("sum((softmax(S, 2) - Y)*W2', 1)'/size(X, 1)", NET, 'b1', None, 'inner factor',
     'the answer leaves out the inner factor step(Z1) of the chain rule: where it has'),
    ("sum(G.*Xh, 1)'", BN, 'gamma', None, None,
     ""),
    ("sum(G, 1)'", BN, 'beta', None, None,
     ""),
    ('sum(G.*Xh, 1)', BN, 'gamma', None, 'layout',
     'the answer is the right derivative written as a row: the numerator layout (the'),
    ("sum(G.*Xh, 1)'/size(X, 1)", BN, 'gamma', None, 'factor',
     'the answer has a factor 1/size(X, 1) too many'),
    ("sum(G.*(X - mu), 1)'", BN, 'gamma', None, 'inner factor',
     'the answer leaves out the inner factor 1./sqrt(v + eps) of the chain rule: where it'),
    ("softmax(Q*K'/sqrt(size(Q, 2)), 2)'*G", ATT, 'V', None, None,
     ""),
    ("softmax(Q*K', 2)'*G", ATT, 'V', None, 'factor inside',
     "inside softmax(Q*K', 2), Q*K' lacks the factor 1/sqrt(size(Q, 2))"),
    ("softmax(Q*K'/sqrt(size(Q, 2)), 2)*G", ATT, 'V', None, 'shape',
     "the answer does not fit the shapes of the expression's variables: '*': the inner"),
    ("G'*softmax(Q*K'/sqrt(size(Q, 2)), 2)", ATT, 'V', None, 'layout',
     'the answer is the transpose of the derivative: the other layout. The derivative of a'),
    ("(1 - tanh(w'*x))*x", "tanh(w'*x)", 'w', None, 'term factor',
     "with the answer's products expanded into terms, the term -tanh(w'*x)*x lacks the "
     "factor tanh(w'*x)"),
    ("(1 + tanh(w'*x)^2)*x", "tanh(w'*x)", 'w', None, 'term sign',
     "the term tanh(w'*x)^2*x has the wrong sign"),
    ("sigmoid(w'*x)*x", "log(sigmoid(w'*x))", 'w', None, 'sign inside',
     "where the answer has sigmoid(w'*x), the derivative has sigmoid(-w'*x)"),
    ("diag(softmax(x))", "softmax(x)", 'x', None, 'missing term',
     "the answer leaves out -softmax(x)*softmax(x)'"),
    ("X'*(y - sigmoid(X*w))", BCE, 'w', None, 'sign', "minus the derivative"),
    ("X'*(sigmoid(X*w) - y)/numel(y)", BCE, 'w', None, 'factor',
     "the derivative divided by numel(y)"),
    ("-2*X'*(y - X*w) + 2*lam*sign(w)", LASSO, 'w', D_L, 'term factor',
     "the second term, 2*lam*sign(w), has a factor 2 too many"),
    ("-2*X'*(y - X*w) + lam", LASSO, 'w', D_L, 'chain factor',
     "∂t/∂w = diag(sign(w)), the derivative of t = abs(w)"),
    ("inv(X)'*A'*inv(X)'", "tr(A*inv(X))", 'X', {'X': 'square matrix'}, 'sign',
     "minus the derivative"),
    ("X*A + A*X", "tr(X*A*X')", 'X', {'A': 'square matrix', 'X': 'square matrix'},
     'different', "the term X*A is a term of the derivative, A*X is not"),
    ("3*x.^3", "sum(x.^3)", 'x', None, 'power',
     "a power is off: where the answer has x.^3, the derivative has x.^2"),
    ("2*x.^2", "sum(x.^2)", 'x', None, 'power',
     "a power is off: where the answer has x.^2, the derivative has x"),
    ("A'*B'", 'tr(A*X*B)', 'X', None, None,
     ""),
    ('B*A', 'tr(A*X*B)', 'X', None, 'layout',
     'the answer is the transpose of the derivative: the other layout. The derivative of a'),
    ('A*B', 'tr(A*X*B)', 'X',
     {'A': 'square matrix', 'B': 'square matrix', 'X': 'square matrix'}, 'symmetric',
     'the answer is right when A, B are symmetric'),
    ("det(X)*inv(X)'", 'det(X)', 'X', {'X': 'square matrix'}, None,
     ""),
    ('det(X)*inv(X)', 'det(X)', 'X', {'X': 'square matrix'}, 'layout',
     'the answer is the transpose of the derivative: the other layout. The derivative of a'),
    ("inv(X)'", 'det(X)', 'X', {'X': 'square matrix'}, 'factor',
     'the answer lacks the factor det(X)'),
    ('inv(S)', 'logdet(S)', 'S', {'S': 'symmetric matrix'}, None,
     ""),
    ('2*inv(S) - diag(diag(inv(S)))', 'logdet(S)', 'S', {'S': 'symmetric matrix'}, 'convention',
     "the answer is the gradient in the other textbook convention for a symmetric S: G + G'"),
    ("(A + A')*X", "tr(X'*A*X)", 'X', SQD, None,
     ""),
    ('2*A*X', "tr(X'*A*X)", 'X', SQD, 'symmetric',
     'the answer is right when A is symmetric'),
    ('A*X', "tr(X'*A*X)", 'X', SQD, 'missing term',
     "the answer leaves out A'*X"),
    ("2*X'", 'tr(X*X)', 'X', {'X': 'square matrix'}, None,
     ""),
    ('2*X', 'tr(X*X)', 'X', {'X': 'square matrix'}, 'layout',
     'the answer is the transpose of the derivative: the other layout. The derivative of a'),
    ('2*A*x', "x'*A*x", 'x', {'A': 'symmetric matrix'}, None,
     ""),
    ('A*x', "x'*A*x", 'x', {'A': 'symmetric matrix'}, 'factor',
     'the answer is 1/2 times the derivative'),
    ("2*X'*(X*w - y)/numel(y)", 'mean((X*w - y).^2)', 'w', None, None,
     ""),
    ("2*X'*(X*w - y)", 'mean((X*w - y).^2)', 'w', None, 'factor',
     'the answer is the derivative times numel(y)'),
    ("X'*(X*w - y)/numel(y) + 2*lam*w", "mean((X*w - y).^2) + lam*w'*w", 'w', D_L, 'term factor',
     "the first term, X'*(X*w - y)/numel(y), lacks the factor 2"),
]


def _order(answer: str) -> int:
    return 2 if "diag(sigmoid" in answer else 1   # the logistic Hessians


@pytest.mark.parametrize(("answer", "of", "wrt", "declare", "mistake", "says"), ANSWERS,
                         ids=[f"{a[4]}:{a[0]}" for a in ANSWERS])
def test_the_verdict_and_the_diagnosis(answer, of, wrt, declare, mistake, says):
    r = matdiff.compare(answer, of=of, wrt=wrt, declare=declare, order=_order(answer))
    assert r.equal == (mistake is None), str(r)
    assert r.mistake == mistake, str(r)
    assert says in r.diagnosis, str(r)
    json.loads(json.dumps(r.to_dict()))


def test_enough_answers_and_the_slip_named_for_most_wrong_ones():
    wrong = [a for a in ANSWERS if a[4] is not None]
    assert len(ANSWERS) >= 60 and len(wrong) >= 50
    named = [a for a in wrong if a[4] != "different"]
    assert len(named) >= 0.85 * len(wrong)
    assert {"term factor", "term sign", "missing term", "extra term", "sign inside",
            "factor inside", "inner factor", "assumption", "convention"} <= {a[4] for a in wrong}
