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
  const badge = $("check");
  if (check.max_relative_error === null) {
    badge.textContent = "check: not available";
    badge.className = "badge warn";
  } else {
    const sign = check.ok ? "✓" : "⚠";
    const error = check.max_relative_error;
    badge.textContent = `${sign} finite differences: ${error === 0 ? "0" : error.toExponential(1)}`;
    badge.className = check.ok ? "badge good" : "badge warn";
  }
  $("check-note").textContent = check.max_relative_error === null
    ? check.note : `Max relative error: ${check.note}.`;

  $("variables").textContent = "Variables: " + Object.entries(answer.variables)
    .map(([name, shape]) => `${name} is ${shape}`).join(", ") + "." +
    (answer.assumptions_text ? ` Note: ${answer.assumptions_text}.` : "");
  $("steps").textContent = answer.steps;
  showSteps(answer);
  $("answer-wrt").textContent = answer.wrt;
  $("answer-layout").textContent = answer.layout === "numerator"
    ? "(numerator layout: a gradient as a row)" : "(shape layout: the shape d.evaluate returns)";
  show("verdict", false);
  $("source").textContent = answer.source;
  $("latex").textContent = answer.latex;
  show("result", true);
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
      if (step.mathml) math.innerHTML = step.mathml;
      else {
        math.classList.add("step-text");
        math.textContent = step.text;
      }
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
  const value = latest && latest[button.dataset.copy];
  if (!value || !navigator.clipboard) return;
  navigator.clipboard.writeText(value).then(() => {
    button.classList.add("done");
    button.textContent = "copied";
    setTimeout(() => { button.classList.remove("done"); button.textContent = "copy"; }, 1200);
  });
}

function useExample(example) {
  fields.expression.value = example.expression;
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
    code.textContent = example.expression;
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
