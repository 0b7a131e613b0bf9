// matdiff's local page: read the form, POST /api/diff, show the answer or the error.
// Plain browser JavaScript: no build step, no library, nothing from the network.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form");
const fields = { expression: $("expression"), wrt: $("wrt"), declare: $("declare") };
// Every box an error can be charged to (the JSON error's `field`), each with its message line.
const boxes = { ...fields, order: $("order"), layout: $("layout") };
let latest = null;   // the last answer, for the copy buttons
let pending = null;  // the request in flight, aborted when a newer one starts

function radio(name) {
  return form.querySelector(`input[name="${name}"]:checked`).value;
}

// Check the radio button of that value; false when the form has none (the caller says so).
function setRadio(name, value) {
  const input = [...form.querySelectorAll(`input[name="${name}"]`)].find((i) => i.value === value);
  if (input) input.checked = true;
  return Boolean(input);
}

function readForm() {
  return {
    expression: fields.expression.value,
    wrt: fields.wrt.value.trim(),
    declare: fields.declare.value.trim(),
    order: Number(radio("order")),
    layout: radio("layout"),
  };
}

// The form lives in the address (#expression=...&wrt=...), so a reload or a link keeps it.
function saveHash(request) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(request)) if (value !== "") params.set(key, value);
  history.replaceState(null, "", "#" + params.toString());
}

// The form from the address. An order or layout the form does not offer is refused at
// its box (never silently replaced by the default). Returns "none" (no form in the
// address), "refused" or "ok".
function loadHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (!params.get("expression")) return "none";
  fields.expression.value = params.get("expression");
  fitRows(fields.expression);
  fields.wrt.value = params.get("wrt") || "";
  fields.declare.value = params.get("declare") || "";
  const order = (params.get("order") || "1").trim();
  const layout = (params.get("layout") || "shape").trim();
  if (!setRadio("order", order)) {
    refuse({ field: "order", message: `the address asks for order ${JSON.stringify(order)}; ` +
             "this page derives orders 1 to 4: pick one below" });
    return "refused";
  }
  if (!setRadio("layout", layout)) {
    refuse({ field: "layout", message: `the address asks for layout ${JSON.stringify(layout)}; ` +
             "pick shape, numerator or denominator below" });
    return "refused";
  }
  return "ok";
}

// An error found before asking the server (a bad address), shown like the server's.
function refuse(error) {
  if (pending) pending.abort();
  pending = null;
  $("go").disabled = false;
  showError(error, readForm());
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function clearInvalid() {
  for (const [name, box] of Object.entries(boxes)) {
    box.removeAttribute("aria-invalid");
    const note = $(`${name}-error`);
    note.textContent = "";
    note.hidden = true;
  }
}

async function differentiate() {
  const request = readForm();
  saveHash(request);
  if (pending) pending.abort();
  pending = new AbortController();
  const mine = pending;
  $("go").disabled = true;
  // The previous answer (or error) belongs to the previous form: clear it while we wait.
  latest = null;
  clearInvalid();
  show("result", false);
  show("error", false);
  $("status").textContent = "Differentiating…";
  try {
    const response = await fetch("/api/diff", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
      signal: mine.signal,
    });
    let body;
    try {
      body = await response.json();
    } catch {
      body = { error: { message: `the server answered ${response.status} without JSON` } };
    }
    if (mine !== pending) return;
    if (response.ok) showAnswer(body);
    else showError(body.error || { message: `the server answered ${response.status}` }, request);
  } catch (err) {
    if (err.name === "AbortError") return;
    showError({ message: "cannot reach the matdiff server: is `matdiff serve` still running?" },
              request);
  } finally {
    if (mine === pending) {
      $("go").disabled = false;
      pending = null;
    }
  }
}

function showAnswer(answer) {
  latest = answer;
  clearInvalid();
  show("error", false);
  $("status").textContent = "";

  if (answer.mathml && answer.function_mathml) {
    // MathML made on our server from matdiff's LaTeX: markup only (the CSP allows no inline script)
    $("function-math").innerHTML = answer.function_mathml;
    $("math").innerHTML = answer.mathml;
    show("function-math", true);
    show("math", true);
    show("math-fallback", false);
  } else {
    show("function-math", false);
    show("math", false);
    $("latex-fallback").textContent = `${answer.function_latex}\n${answer.equation_latex}`;
    $("math-fallback").querySelector(".hint").hidden = answer.mathml_available;
    show("math-fallback", true);
  }
  $("text").textContent = answer.text;

  const what = answer.order === 1 ? "derivative" : "Hessian";
  const evaluated = answer.layout === "shape" ? "shape" : "shape as evaluated";
  $("shape").textContent = `${evaluated}: ${answer.shape_text}`;
  $("shape").title = `the ${what} as evaluated: shape(f) = ${answer.function_shape.join(" x ") || "scalar"}` +
    ` followed by shape(${answer.wrt}) ${answer.order === 1 ? "once" : "twice"}`;

  const check = answer.check;
  checkBadge($("check"), check);
  $("check-note").textContent = check.max_relative_error === null
    ? check.note : `Max relative error: ${check.note}.`;

  $("layout-note").textContent = answer.layout_note || "";
  $("variables").textContent = "Variables: " + Object.entries(answer.variables)
    .map(([name, shape]) => `${name} is ${shape}`).join(", ") + "." +
    (answer.assumptions_text ? ` Note: ${answer.assumptions_text}.` : "");
  $("steps").textContent = answer.steps;
  showSteps(answer);
  showBackward(answer);
  $("answer-of").textContent = answer.function_name || "f";
  $("answer-wrt").textContent = answer.gradients ? answer.gradients[0].wrt : answer.wrt;
  $("answer-layout").textContent = answer.layout === "numerator"
    ? "(numerator layout: a gradient as a row)" : "(shape layout: the shape d.evaluate returns)";
  show("verdict", false);
  $("source").textContent = answer.source;
  showNotations(answer.notations || []);
  show("result", true);
  markScrollers($("result"));
}

// The derivative in every notation the server prints (printing.NOTATIONS), a card each
// with its source to copy: a notation added there appears here with no edit.
function showNotations(notations) {
  const cards = [];
  for (const notation of notations) {
    const card = document.createElement("details");
    card.className = "card notation";
    card.dataset.notation = notation.name;
    const summary = document.createElement("summary");
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = notation.summary;
    summary.append(notation.name, " ", hint);
    const head = document.createElement("div");
    head.className = "code-head";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "copy";
    button.addEventListener("click", () => copyText(button, notation.printed));
    head.append(button);
    const block = document.createElement("pre");
    block.className = "code-block";
    const code = document.createElement("code");
    code.textContent = notation.printed;
    block.append(code);
    card.append(summary, head, block);
    cards.push(card);
  }
  $("notations").replaceChildren(...cards);
}

// A check's badge: ✓ and the error, ⚠ when it is large, "not available" without a number.
function checkBadge(badge, check) {
  if (check.max_relative_error === null) {
    badge.textContent = "check: not available";
    badge.className = "badge warn";
  } else {
    const error = check.max_relative_error;
    badge.textContent = `${check.ok ? "✓" : "⚠"} finite differences: ` +
      (error === 0 ? "0" : error.toExponential(1));
    badge.className = check.ok ? "badge good" : "badge warn";
  }
  badge.title = check.note;
}

// MathML made on our server (markup only), or the text where there is none.
function mathOrText(box, mathml, text) {
  if (mathml) box.innerHTML = mathml;
  else {
    box.classList.add("step-text");
    box.textContent = text;
  }
}

// Several names: the backward pass typeset, then each gradient with its own check, and
// the box that checks a learner's backward pass line by line.
function showBackward(answer) {
  const several = Array.isArray(answer.gradients);
  show("backward-card", several);
  show("backward-check", several && Boolean(answer.backward));
  show("backward-verdict", false);
  if (!several) return;
  const math = $("backward-math");
  math.replaceChildren();
  math.classList.remove("step-text");
  if (answer.backward) {
    mathOrText(math, answer.backward_mathml, answer.backward);
    $("backward-text").textContent = answer.backward;
  } else {
    math.textContent = "(a backward pass needs a scalar function and order 1: " +
      "each derivative is below)";
    $("backward-text").textContent = "";
  }
  $("backward-text").parentElement.hidden = !answer.backward;
  const list = $("gradients");
  list.replaceChildren();
  for (const gradient of answer.gradients) {
    const item = document.createElement("li");
    item.className = "gradient";
    const eq = document.createElement("div");
    eq.className = "math gradient-math";
    mathOrText(eq, gradient.mathml, `∂${answer.function_name}/∂${gradient.wrt} = ${gradient.text}`);
    const text = document.createElement("code");
    text.className = "derivative";
    text.textContent = gradient.text;
    const facts = document.createElement("div");
    facts.className = "facts";
    const shape = document.createElement("span");
    shape.className = "badge";
    shape.textContent = `${gradient.wrt}: ${gradient.shape_text}`;
    const badge = document.createElement("span");
    checkBadge(badge, gradient.check);
    facts.append(shape, badge);
    item.append(eq, text, facts);
    list.append(item);
  }
  $("first-name-note").textContent = `The answer above, its steps, its code and "Check my ` +
    `answer" are for ${answer.gradients[0].wrt}, the first name.`;
}

// "Check my backward pass": the learner's lines, judged one by one by matdiff.compare.
async function checkBackward() {
  const request = { ...readForm(), answer: $("backward-answer").value };
  if (!request.answer.trim()) return;
  $("backward-go").disabled = true;
  const verdict = $("backward-verdict");
  const head = $("backward-verdict-head");
  const lines = $("backward-lines");
  const detail = $("backward-verdict-detail");
  lines.replaceChildren();
  detail.hidden = true;
  verdict.className = "verdict";
  try {
    const response = await fetch("/api/check-backward", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await response.json();
    const result = body.comparison;
    if (!response.ok || !result) {
      const error = (body && body.error) || { message: `the server answered ${response.status}` };
      head.textContent = `matdiff cannot check that: ${error.message}`;
      verdict.classList.add("bad");
    } else if (result.error) {
      const where = result.error.line != null ? ` (line ${result.error.line}, column ${result.error.column})` : "";
      head.textContent = `your backward pass cannot be read: ${result.error.message}${where}`;
      const block = result.error.line != null
        ? caretBlock(result.error.text, result.error.line, result.error.column) : null;
      if (block) {
        detail.replaceChildren(...block.childNodes);
        detail.hidden = false;
      }
      verdict.classList.add("bad");
    } else {
      head.textContent = result.equal
        ? "✓ right: every line is the gradient it names"
        : `✗ ${result.first_wrong ? `first wrong line: ${result.first_wrong}` : "not equal"}`;
      for (const line of result.lines || []) {
        const item = document.createElement("li");
        item.className = line.equal ? "good" : "bad";
        const name = document.createElement("code");
        name.textContent = line.name;
        item.append(line.equal ? "✓ " : "✗ ", name);
        if (!line.equal) {
          item.append(line.mistake ? ` (${line.mistake})` : "");
          if (line.expected) {
            const expected = document.createElement("code");
            expected.textContent = line.expected;
            item.append(": expected ", expected);
          }
          if (line.diagnosis) {
            const why = document.createElement("p");
            why.className = "hint";
            why.textContent = line.diagnosis;
            item.append(why);
          }
        }
        lines.append(item);
      }
      if (!result.lines) {
        detail.textContent = result.summary;
        detail.hidden = false;
      }
      verdict.classList.add(result.equal ? "good" : "bad");
    }
  } catch {
    head.textContent = "cannot reach the matdiff server: is `matdiff serve` still running?";
  } finally {
    show("backward-verdict", true);
    $("backward-go").disabled = false;
  }
}

// A box whose mathematics is wider than it scrolls, says so (a shadow at the hidden side)
// and can be scrolled from the keyboard; one that fits (give or take a glyph's overhang)
// neither scrolls nor takes a Tab stop.
function markScrollers(root) {
  for (const box of root.querySelectorAll(".math, .step-math")) {
    box.classList.remove("wide");
    box.removeAttribute("tabindex");
    const wide = box.scrollWidth > box.clientWidth + 6;
    box.classList.toggle("wide", wide);
    if (wide) {
      box.tabIndex = 0;
      box.setAttribute("aria-label", "wide formula: scroll sideways");
    } else {
      box.removeAttribute("aria-label");
    }
  }
}

// The expression box grows with its program (up to a screenful).
function fitRows(box) {
  box.rows = Math.min(Math.max(box.value.split("\n").length, 1), 14);
}

// The derivation typeset: a heading per part, each step's equation as MathML (made on our
// server; the text form where there is none) with the rule's name beside it.
function showSteps(answer) {
  const box = $("steps-typeset");
  box.replaceChildren();
  const sections = answer.steps_typeset;
  if (!sections) {
    show("steps", true);
    return;
  }
  show("steps", false);
  for (const section of sections) {
    const heading = document.createElement("h3");
    heading.textContent = section.heading;
    box.append(heading);
    for (const step of section.steps) {
      const row = document.createElement("div");
      row.className = `step ${step.kind}`;
      const math = document.createElement("div");
      math.className = "step-math";
      mathOrText(math, step.mathml, step.text);
      math.title = step.text;
      row.append(math);
      if (step.rule) {
        const rule = document.createElement("span");
        rule.className = "rule";
        rule.textContent = step.rule;
        row.append(rule);
      }
      if (step.note) {
        const note = document.createElement("p");
        note.className = "note";
        note.textContent = step.note;
        row.append(note);
      }
      box.append(row);
    }
  }
}

// "Check my answer": the same request with the answer; matdiff.compare's verdict below it.
async function checkAnswer() {
  const request = { ...readForm(), answer: $("answer").value };
  if (!request.answer.trim()) return;
  $("answer-go").disabled = true;
  const verdict = $("verdict");
  try {
    const response = await fetch("/api/diff", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await response.json();
    const result = body.comparison;
    verdict.className = "verdict";
    if (!response.ok || !result) {
      const error = (body && body.error) || { message: `the server answered ${response.status}` };
      $("verdict-head").textContent = `matdiff cannot check that: ${error.message}`;
      $("verdict-detail").textContent = "";
      verdict.classList.add("bad");
    } else if (result.error) {
      const where = result.error.line != null ? ` (line ${result.error.line}, column ${result.error.column})` : "";
      $("verdict-head").textContent = `your answer cannot be read: ${result.error.message}${where}`;
      $("verdict-detail").textContent = "";
      verdict.classList.add("bad");
    } else {
      $("verdict-head").textContent = result.equal
        ? "✓ right: your answer is the derivative"
        : `✗ not equal (${result.mistake}): ${result.diagnosis}`;
      // the summary's first line is the head above; the rest: the derivative, the point
      $("verdict-detail").textContent = result.summary.split("\n").slice(1).join("\n");
      verdict.classList.add(result.equal ? "good" : "bad");
    }
    $("verdict-detail").hidden = !$("verdict-detail").textContent;
    show("verdict", true);
  } catch {
    $("verdict-head").textContent = "cannot reach the matdiff server: is `matdiff serve` still running?";
    $("verdict-detail").hidden = true;
    show("verdict", true);
  } finally {
    $("answer-go").disabled = false;
  }
}

// The offending line with the character at the caret marked, and a caret under it.
function caretBlock(text, line, column) {
  const lines = text.split("\n");
  const src = lines[line - 1];
  if (src === undefined || column < 1) return null;
  const pre = document.createElement("pre");
  const at = Math.min(column - 1, src.length);
  pre.append(src.slice(0, at));
  const mark = document.createElement("mark");
  mark.textContent = src.slice(at, at + 1) || " ";
  pre.append(mark, src.slice(at + 1), "\n");
  const pointer = document.createElement("span");
  pointer.className = "pointer";
  pointer.textContent = " ".repeat(at) + "^";
  pre.append(pointer);
  if (lines.length > 1) pre.prepend(`line ${line}:\n`);
  return pre;
}

function showError(error, request) {
  latest = null;
  clearInvalid();
  show("result", false);
  $("status").textContent = "";
  let message = error.message || "something went wrong";
  if (error.line != null && error.column != null) {
    message += ` (line ${error.line}, column ${error.column})`;
  }
  if (error.assumptions_text) message += `. Note: ${error.assumptions_text}.`;
  $("error-message").textContent = message;
  const caret = $("error-caret");
  caret.replaceChildren();
  const text = error.text ?? (error.field === "expression" ? request.expression : null);
  const block = text != null && error.line != null ? caretBlock(text, error.line, error.column) : null;
  if (block) caret.append(...block.childNodes);
  caret.hidden = !block;
  const box = boxes[error.field];
  if (box) {
    box.setAttribute("aria-invalid", "true");
    const note = $(`${error.field}-error`);
    note.textContent = error.message;
    note.hidden = false;
  }
  show("error", true);
}

function copy(button) {
  copyText(button, latest && latest[button.dataset.copy]);
}

function copyText(button, value) {
  if (!value || !navigator.clipboard) return;
  navigator.clipboard.writeText(value).then(() => {
    button.classList.add("done");
    button.textContent = "copied";
    setTimeout(() => { button.classList.remove("done"); button.textContent = "copy"; }, 1200);
  });
}

function useExample(example) {
  fields.expression.value = example.expression;
  fitRows(fields.expression);
  fields.wrt.value = example.wrt;
  fields.declare.value = example.declare || "";
  setRadio("order", String(example.order || 1));
  differentiate();
}

async function loadExamples() {
  const response = await fetch("/api/examples");
  const { examples } = await response.json();
  const box = $("examples");
  for (const example of examples) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    const code = document.createElement("code");
    // a program is named by its title; an expression shows itself
    code.textContent = example.expression.includes("\n") ? example.title : example.expression;
    const what = document.createElement("span");
    what.className = "what";
    const extra = [`wrt ${example.wrt}`];
    if (example.declare) extra.push(example.declare);
    if (example.order > 1) extra.push(`order ${example.order}`);
    what.textContent = extra.join(", ");
    chip.title = example.title;
    chip.append(code, what);
    chip.addEventListener("click", () => useExample(example));
    box.append(chip);
  }
  return examples;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  differentiate();
});
$("answer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  checkAnswer();
});
$("backward-form").addEventListener("submit", (event) => {
  event.preventDefault();
  checkBackward();
});
// In a multi-line box Enter adds a line; Ctrl+Enter (Cmd+Enter) runs it.
fields.expression.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    differentiate();
  }
});
fields.expression.addEventListener("input", () => fitRows(fields.expression));
$("backward-answer").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    checkBackward();
  }
});
window.addEventListener("resize", () => {
  if (!$("result").hidden) markScrollers($("result"));
});
for (const input of form.querySelectorAll('input[type="radio"]')) {
  input.addEventListener("change", () => { if (fields.expression.value.trim()) differentiate(); });
}
for (const button of document.querySelectorAll(".copy")) {
  button.addEventListener("click", () => copy(button));
}

// A link, the back button or an edited address changes only the hash: derive again.
window.addEventListener("hashchange", () => {
  if (loadHash() === "ok") differentiate();
});

loadExamples().then((examples) => {
  const state = loadHash();
  if (state === "ok") differentiate();
  else if (state === "none" && examples.length) useExample(examples[1]);
}).catch(() => {
  if (loadHash() === "ok") differentiate();
});
