"""The explorer's page and script, served by `fgen.explore.server` (kept in Python so the wheel
needs no package data). The script writes every value from the API as text (`textContent`); the
only HTML it inserts is the server's escaped evidence (`/api/evidence`, `/api/annotate`)."""

# displaCy's entity colours, one per category.
COLOURS = {"PERTURBING_ACTION": "#7aecec", "CONTEXT": "#bfeeb7", "EFFECT": "#feca74", "PHENOTYPE": "#aa9cfc"}

_STYLE = "\n".join(f"mark.fgen-{c} {{ background: {v}; }} th.fgen-{c} {{ border-bottom: 4px solid {v}; }}" for c, v in COLOURS.items())

PAGE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fgen statements explorer</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
nav button { font-size: 1em; padding: .4em 1em; } nav button.active { font-weight: bold; }
form#search { display: flex; flex-wrap: wrap; gap: .6em; align-items: end; margin: 1em 0; }
form#search label { display: flex; flex-direction: column; font-size: .85em; }
input { padding: .3em; } input#q { width: 22em; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35em .5em; vertical-align: top; }
tbody tr.group { cursor: pointer; border-top: 1px solid #ddd; } tbody tr.group:hover { background: #f6f6f6; }
th.sortable { cursor: pointer; text-decoration: underline dotted; }
.value { color: #777; font-size: .85em; } .target { font-weight: bold; }
tr.evidence td { background: #fafafa; } .sentence { line-height: 2; margin: .3em 0 .8em; }
mark { padding: .1em .3em; border-radius: .3em; } mark::after { content: attr(title); font-size: .6em; margin-left: .3em; opacity: .6; }
#status { color: #555; margin: .5em 0; } #annotated { line-height: 2.2; white-space: pre-wrap; }
textarea { width: 100%; height: 10em; }
""" + _STYLE + """
</style></head>
<body>
<h1>fgen statements explorer</h1>
<nav><button id="tab-search" class="active" type="button">Statements</button>
<button id="tab-annotate" type="button" {{MODEL_TAB}}>Annotate an abstract</button></nav>
<section id="search-view">
<form id="search">
  <label>Any member <input id="q" name="text" type="search" placeholder="e.g. ATG12, autophagy"></label>
  <label>Perturbation <input name="perturbation" list="values-PERTURBING_ACTION"></label>
  <label>Context <input name="context" list="values-CONTEXT"></label>
  <label>Effect <input name="effect" list="values-EFFECT"></label>
  <label>Phenotype <input name="phenotype" list="values-PHENOTYPE"></label>
  <label>Min. abstracts <input name="min_abstracts" type="number" min="1" value="1" style="width:5em"></label>
  <label>Min. score <input name="min_score" type="number" min="0" max="1" step="0.05" style="width:5em"></label>
  <label>Limit <input name="limit" type="number" min="1" value="50" style="width:5em"></label>
  <button type="submit">Search</button> <a id="csv" href="/api/statements.csv">Download CSV</a>
</form>
<datalist id="values-PERTURBING_ACTION"></datalist><datalist id="values-CONTEXT"></datalist>
<datalist id="values-EFFECT"></datalist><datalist id="values-PHENOTYPE"></datalist>
<div id="status"></div>
<table id="results"><thead><tr>
  <th class="sortable" data-sort="abstracts">Abstracts</th><th class="sortable" data-sort="score">Score</th>
  <th class="fgen-PERTURBING_ACTION">Perturbation</th><th class="fgen-CONTEXT">Context</th>
  <th class="fgen-EFFECT">Effect</th><th class="fgen-PHENOTYPE">Phenotype</th>
</tr></thead><tbody></tbody></table>
</section>
<section id="annotate-view" hidden>
<p>Paste an abstract; the pipeline marks its entities and lists its statements.</p>
<textarea id="abstract"></textarea><p><button id="annotate" type="button">Annotate</button></p>
<div id="annotated"></div><table id="live"><tbody></tbody></table>
</section>
<script src="/app.js"></script>
</body></html>
"""

APP_JS = r"""
"use strict";
const ROLES = ["PERTURBING_ACTION", "CONTEXT", "EFFECT", "PHENOTYPE"];
let groups = [];
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; };

function params() {
  const p = new URLSearchParams();
  for (const input of document.querySelectorAll("#search input")) if (input.value.trim()) p.set(input.name, input.value.trim());
  return p;
}

function memberCell(group, role) {
  const td = el("td"); const m = group.members[role];
  if (!m) return td;
  td.appendChild(el("div", m.text));
  if (m.target) td.appendChild(el("div", m.target, "target"));
  td.appendChild(el("div", m.value, "value"));
  return td;
}

async function showEvidence(row, group) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("evidence")) { next.remove(); return; }
  const tr = el("tr", null, "evidence"); const td = el("td"); td.colSpan = 6; tr.appendChild(td);
  row.after(tr);
  for (const item of group.evidence) {
    const q = new URLSearchParams({id: item.id});
    for (const [role, span] of Object.entries(item.spans)) q.set(role, span.join(","));
    const data = await (await fetch("/api/evidence?" + q)).json();
    const head = el("div");
    if (data.pubmed) { const a = el("a", "PMID " + item.id); a.href = data.pubmed; a.target = "_blank"; a.rel = "noopener"; head.appendChild(a); }
    else head.appendChild(el("span", item.id));
    if (item.score !== null) head.appendChild(el("span", "  score " + item.score.toFixed(3), "value"));
    const sentence = el("div", null, "sentence"); sentence.innerHTML = data.html;  // escaped by the server
    td.append(head, sentence);
  }
}

function render() {
  const body = document.querySelector("#results tbody"); body.replaceChildren();
  for (const g of groups) {
    const tr = el("tr", null, "group");
    tr.append(el("td", g.abstracts), el("td", g.score === null ? "" : g.score.toFixed(3)));
    for (const role of ROLES) tr.appendChild(memberCell(g, role));
    tr.addEventListener("click", () => showEvidence(tr, g));
    body.appendChild(tr);
  }
}

async function search(event) {
  if (event) event.preventDefault();
  const p = params();
  document.getElementById("csv").href = "/api/statements.csv?" + p;
  document.getElementById("status").textContent = "Searching…";
  const response = await fetch("/api/statements?" + p);
  const data = await response.json();
  if (!response.ok) { document.getElementById("status").textContent = data.error; return; }
  groups = data; render();
  document.getElementById("status").textContent = groups.length + " statement group(s); click one for its evidence";
}

async function loadValues() {
  const values = await (await fetch("/api/values")).json();
  for (const role of ROLES) {
    const list = document.getElementById("values-" + role);
    for (const v of values[role] || []) { const o = document.createElement("option"); o.value = v; list.appendChild(o); }
  }
}

function sortBy(key) {
  const desc = !(sortBy.last === key && sortBy.desc); sortBy.last = key; sortBy.desc = desc;
  groups.sort((a, b) => ((a[key] ?? -1) - (b[key] ?? -1)) * (desc ? -1 : 1)); render();
}

async function annotate() {
  const response = await fetch("/api/annotate", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({text: document.getElementById("abstract").value})});
  const data = await response.json();
  const out = document.getElementById("annotated"); const body = document.querySelector("#live tbody"); body.replaceChildren();
  if (!response.ok) { out.textContent = data.error; return; }
  out.innerHTML = data.html;  // escaped by the server
  for (const link of data.links) {
    const tr = el("tr"); tr.appendChild(el("td", link.score === null ? "" : link.score.toFixed(3)));
    for (const role of ROLES) {
      const e = data.entities[link.members[role]]; const td = el("td");
      if (e) { td.appendChild(el("div", e.text)); td.appendChild(el("div", e.value, "value")); }
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function tab(name) {
  document.getElementById("search-view").hidden = name !== "search";
  document.getElementById("annotate-view").hidden = name !== "annotate";
  document.getElementById("tab-search").classList.toggle("active", name === "search");
  document.getElementById("tab-annotate").classList.toggle("active", name === "annotate");
}

document.getElementById("search").addEventListener("submit", search);
for (const th of document.querySelectorAll("th.sortable")) th.addEventListener("click", () => sortBy(th.dataset.sort));
document.getElementById("tab-search").addEventListener("click", () => tab("search"));
document.getElementById("tab-annotate").addEventListener("click", () => tab("annotate"));
document.getElementById("annotate").addEventListener("click", annotate);
loadValues(); search();
"""
