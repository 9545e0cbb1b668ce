// deploysim view: renders each page from the JSON API. Every piece of recorded text goes into
// the page as a DOM text node (never innerHTML): recorded text is untrusted, and an injected
// <script> in a tool result must show as text.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); }
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function link(path, params, ...text) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const qs = q.toString();
  return h("a", { href: path + (qs ? "?" + qs : "") }, ...text);
}

function pct(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const v = x * 100;
  return v === 0 ? "0%" : (Math.abs(v) >= 0.01 ? v.toPrecision(3) : v.toExponential(1)) + "%";
}

function badge(text, kind) { return h("span", { class: "badge " + (kind || "") }, text); }

function basename(p) { return String(p || "").replace(/\/+$/, "").split("/").pop(); }

const params = new URLSearchParams(location.search);
const app = () => document.getElementById("app");

async function api(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v) q.set(k, v);
  const r = await fetch("/api/" + path + "?" + q.toString());
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

function crumbs(...items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren();
  for (const it of items) append(nav, [h("span", { class: "sep" }, "›"), it]);
}

function show(...nodes) { app().replaceChildren(...nodes.flat()); }

function table(head, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

// ---------------------------------------------------------------- library (/)

async function libraryPage() {
  const lib = await api("library");
  document.title = "deploysim view";
  const runs = lib.runs;
  const sections = [h("p", { class: "muted" }, "Serving: ", lib.roots.join(", "))];
  sections.push(h("h2", {}, "Replay runs"), runs.length ? table(
    ["run", "model", "mode", "profile", "seed", "trajectories"],
    runs.map((r) => h("tr", {},
      h("td", {}, link("/source", { path: r.path }, r.name), h("div", { class: "path" }, r.path)),
      h("td", {}, r.model || "–"), h("td", {}, r.mode || "–"), h("td", {}, r.profile || "none"),
      h("td", {}, r.seed ?? "–"), h("td", { class: "num" }, (r.counts || {}).trajectories ?? "–"))),
    { id: "runs" }) : h("p", { class: "muted" }, "No replay run found."));
  if (runs.length >= 2) {
    const opts = (sel) => runs.map((r, i) => h("option", { value: r.path, selected: i === sel },
      r.name + (r.model ? " (" + r.model + ")" : "")));
    const a = h("select", { id: "cmp-baseline" }, opts(0));
    const b = h("select", { id: "cmp-run" }, opts(1));
    const go = h("a", { class: "button", id: "cmp-go", href: "#" }, "Compare");
    const update = () => {
      go.setAttribute("href", "/compare?" + new URLSearchParams({ baseline: a.value, run: b.value }));
    };
    a.addEventListener("change", update); b.addEventListener("change", update); update();
    sections.push(h("div", { class: "compare-form" }, h("label", {}, "Baseline ", a),
      h("label", {}, "Candidate ", b), go));
  }
  sections.push(h("h2", {}, "Recorded corpora"), lib.corpora.length ? table(
    ["corpus", "cassettes"],
    lib.corpora.map((c) => h("tr", {},
      h("td", {}, link("/source", { path: c.path }, c.name), h("div", { class: "path" }, c.path)),
      h("td", { class: "num" }, c.cassettes)))) : h("p", { class: "muted" }, "No corpus found."));
  sections.push(h("h2", {}, "Gate reports"), lib.reports.length ? table(
    ["report", "decision", "candidate", "baseline"],
    lib.reports.map((r) => h("tr", {},
      h("td", {}, link("/report", { path: r.path }, r.name)),
      h("td", {}, badge(r.decision, r.decision)), h("td", { class: "path" }, r.candidate),
      h("td", { class: "path" }, r.baseline)))) : h("p", { class: "muted" }, "No gate report found."));
  sections.push(h("h2", {}, "Audit logs"), lib.audits.length ? table(
    ["audit log", "decisions", "last"],
    lib.audits.map((a) => h("tr", {},
      h("td", {}, link("/audit", { path: a.path }, a.name), h("div", { class: "path" }, a.path)),
      h("td", { class: "num" }, a.rows), h("td", {}, a.last ? badge(a.last, a.last) : "–"))))
    : h("p", { class: "muted" }, "No audit log found."));
  show(h("h1", {}, "What these folders hold"), sections);
}

// ---------------------------------------------------------------- a corpus or run (/source)

function select(id, label, values, current) {
  return h("label", {}, label + " ",
    h("select", { id }, values.map(([v, text]) => h("option", { value: v, selected: v === current }, text))));
}

async function sourcePage() {
  const src = await api("source", { path: params.get("path") });
  document.title = src.label + " · deploysim view";
  crumbs(h("span", {}, src.label));
  const isRun = src.kind === "run";
  const m = src.manifest || {};
  const facts = h("dl", { class: "facts" });
  const fact = (k, v) => append(facts, [h("dt", {}, k), h("dd", {}, v)]);
  fact("path", src.path);
  if (isRun) {
    fact("model", (m.model || {}).name || "–"); fact("mode", m.mode || "–");
    fact("profile", (m.profile || {}).name || "none"); fact("seed", m.seed);
  }
  fact("verdicts", src.verdict_source);

  let baseline = params.get("baseline") || "";
  const peers = src.peers || [];
  if (isRun && !baseline && peers.length) baseline = peers[0].path;
  const controls = h("div", { class: "filters" },
    select("f-behavior", "Behavior", [["", "any"], ...src.behaviors.map((b) => [b, b])], params.get("behavior") || ""),
    select("f-segment", "Segment", [["", "any"], ...src.segments.map((x) => [x, x])], params.get("segment") || ""),
    select("f-verdict", "Verdict", [["", "any"], ["flagged", "flagged"], ["clean", "clean"], ["error", "detector error"]], params.get("verdict") || ""),
    select("f-provenance", "Stubs", [["", "any"], ["recorded", "recorded"], ["synthetic", "synthetic"], ["perturbed", "perturbed"], ["live", "live"], ["miss", "miss"]], params.get("provenance") || ""),
    h("label", {}, "Session ", h("input", { id: "f-text", type: "search", placeholder: "id contains…", value: params.get("q") || "" })));
  const extra = [];
  let updateCompare = () => {};
  if (isRun) {
    const bsel = h("select", { id: "baseline" }, h("option", { value: "" }, "none"),
      peers.map((p) => h("option", { value: p.path, selected: p.path === baseline }, p.name + (p.model ? " (" + p.model + ")" : ""))));
    const cmp = h("a", { id: "compare-link", class: "button" }, "Compare with baseline");
    extra.push(h("div", { class: "filters" }, h("label", {}, "Baseline run ", bsel), cmp));
    bsel.addEventListener("change", () => { baseline = bsel.value; render(); });
    updateCompare = () => {
      if (baseline) cmp.setAttribute("href", "/compare?" + new URLSearchParams({ baseline, run: src.path }));
      else cmp.removeAttribute("href");
    };
  }
  const counter = h("p", { id: "count", class: "muted" });
  const tbody = h("tbody", { id: "rows" });
  const head = ["session", isRun ? "turn" : "turns", "segment", "flagged", "stubs", "tool calls"];
  const tbl = h("table", { id: "sessions" }, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), tbody);

  function keep(r, f) {
    if (f.segment && r.segment !== f.segment) return false;
    if (f.provenance && !r.provenance.includes(f.provenance)) return false;
    if (f.text && !r.id.includes(f.text)) return false;
    const flagged = f.behavior ? r.flagged.includes(f.behavior) : r.flagged.length > 0;
    const errored = f.behavior ? r.errors.includes(f.behavior) : r.errors.length > 0;
    if (f.verdict === "flagged") return flagged;
    if (f.verdict === "clean") return !flagged && !errored;
    if (f.verdict === "error") return errored;
    return true;
  }
  function render() {
    const val = (id) => document.getElementById(id).value;
    const f = { behavior: val("f-behavior"), segment: val("f-segment"), verdict: val("f-verdict"),
      provenance: val("f-provenance"), text: val("f-text") };
    const q = new URLSearchParams({ path: src.path });
    for (const [k, v] of [["behavior", f.behavior], ["segment", f.segment], ["verdict", f.verdict], ["provenance", f.provenance], ["q", f.text], ["baseline", baseline]]) if (v) q.set(k, v);
    history.replaceState(null, "", "/source?" + q);
    updateCompare();
    const rows = src.rows.filter((r) => keep(r, f));
    tbody.replaceChildren(...rows.map((r) => h("tr", { "data-id": r.id },
      h("td", {}, isRun ? link("/trajectory", { run: src.path, baseline, session: r.session }, r.session)
        : link("/trajectory", { corpus: src.path, session: r.id }, r.id)),
      h("td", { class: "num" }, isRun ? (r.turn ?? "all") + (r.sample ? " @" + r.sample : "") : r.turns),
      h("td", {}, r.segment || "–"),
      h("td", {}, r.flagged.map((b) => badge(b, "flag")), r.errors.map((b) => badge(b + " (error)", "error"))),
      h("td", {}, r.provenance.map((p) => badge(p, "prov-" + p))),
      h("td", { class: "num" }, r.tool_calls))));
    counter.textContent = rows.length + " of " + src.rows.length + (isRun ? " trajectories" : " sessions") + " shown";
  }
  show(h("h1", {}, (isRun ? "Run " : "Corpus ") + src.label), facts, extra, controls, counter, tbl);
  for (const id of ["f-behavior", "f-segment", "f-verdict", "f-provenance"]) document.getElementById(id).addEventListener("change", render);
  document.getElementById("f-text").addEventListener("input", render);
  render();
}

// ---------------------------------------------------------------- one session side by side

function messageView(m) {
  const cls = "msg role-" + m.role + (m.flags.length ? " flagged" : "") + (m.origin === "generated" ? " generated" : "");
  const el = h("div", { class: cls },
    h("div", { class: "who" }, m.role + (m.name ? " · " + m.name : ""),
      m.flags.map((b) => badge(b, "flag")),
      m.result ? m.result.classes.map((c) => badge(c, "prov-" + c)) : null,
      m.result && m.result.provenance !== "recorded" ? h("span", { class: "muted small" }, m.result.provenance) : null));
  if (m.thinking) el.appendChild(h("details", { class: "thinking" }, h("summary", {}, "thinking"), h("pre", {}, m.thinking)));
  if (m.text) el.appendChild(h("pre", { class: "text" }, m.text));
  for (const c of m.tool_calls || []) el.appendChild(h("div", { class: "call" }, h("span", { class: "tool" }, c.name), h("pre", {}, c.arguments)));
  if (m.result) el.appendChild(h("pre", { class: "result" + (m.result.is_error ? " is-error" : "") }, m.result.content));
  if (m.error) el.appendChild(h("p", { class: "is-error" }, "error: " + m.error));
  return el;
}

function paneView(p) {
  return h("section", { class: "pane" },
    h("h3", {}, p.label),
    h("div", { class: "pane-flags" }, p.flagged.length ? p.flagged.map((f) => badge(f.behavior, "flag sev-" + f.severity)) : (p.id ? badge("no flag", "clean") : null)),
    p.id ? null : h("p", { class: "muted" }, p.note),
    p.messages.map(messageView));
}

async function trajectoryPage() {
  const q = { run: params.get("run"), baseline: params.get("baseline"), session: params.get("session"), corpus: params.get("corpus") };
  const v = await api("trajectory", q);
  document.title = "Session " + v.session + " · deploysim view";
  crumbs(v.run ? link("/source", { path: v.run, baseline: v.baseline }, basename(v.run)) : (v.corpus ? link("/source", { path: v.corpus }, basename(v.corpus)) : null),
    h("span", {}, "session " + v.session));
  const turns = v.turns.map((t) => {
    const ctx = t.context;
    let lastUser = -1;
    ctx.forEach((m, i) => { if (m.role === "user") lastUser = i; });
    const earlier = lastUser > 0 ? ctx.slice(0, lastUser) : [];
    return h("section", { class: "turn" },
      h("h2", {}, t.turn === null ? "Whole session" : "Turn " + t.turn, t.sample ? " · sample " + t.sample : ""),
      earlier.length ? h("details", { class: "context" }, h("summary", {}, "Conversation before this turn (" + earlier.length + (earlier.length === 1 ? " message)" : " messages)")), earlier.map(messageView)) : null,
      lastUser >= 0 ? messageView(ctx[lastUser]) : null,
      h("div", { class: "panes" }, t.panes.map(paneView)));
  });
  show(h("h1", {}, "Session ", h("code", {}, v.session), v.segment ? badge(v.segment, "segment") : null), turns);
}

// ---------------------------------------------------------------- two runs compared

async function comparePage() {
  const c = await api("compare", { baseline: params.get("baseline"), run: params.get("run") });
  document.title = "Compare · deploysim view";
  crumbs(h("span", {}, c.baseline.label + " vs " + c.candidate.label));
  const rows = c.behaviors.map((b) => h("tr", { class: b.significant ? "sig-" + b.direction : "" },
    h("td", {}, b.behavior), h("td", { class: "num" }, pct(b.baseline_rate)), h("td", { class: "num" }, pct(b.candidate_rate)),
    h("td", {}, b.change), h("td", { class: "num" }, b.n)));
  const sess = c.sessions.map((x) => h("tr", {},
    h("td", {}, link("/trajectory", { run: c.candidate.path, baseline: c.baseline.path, session: x.session }, x.session)),
    h("td", {}, x.segment || "–"),
    h("td", {}, x.baseline_only.map((b) => badge(b, "flag"))), h("td", {}, x.candidate_only.map((b) => badge(b, "flag")))));
  show(h("h1", {}, "Baseline ", h("code", {}, c.baseline.label), " vs candidate ", h("code", {}, c.candidate.label)),
    h("dl", { class: "facts" }, h("dt", {}, "baseline"), h("dd", {}, c.baseline.path + " — " + c.baseline.verdict_source),
      h("dt", {}, "candidate"), h("dd", {}, c.candidate.path + " — " + c.candidate.verdict_source)),
    h("h2", {}, "Rates per behavior (paired by prefix)"),
    table(["behavior", "baseline", "candidate", "change", "paired units"], rows, { id: "rates" }),
    h("h2", {}, "Sessions that differ (" + c.sessions.length + ")"),
    c.sessions.length ? table(["session", "segment", "flagged only in baseline", "flagged only in candidate"], sess, { id: "differ" })
      : h("p", { class: "muted" }, "No session is flagged differently."));
}

// ---------------------------------------------------------------- the audit log's history

function trendChart(points) {
  const W = 520, H = 150, L = 52, R = 12, T = 12, B = 34;
  const vals = points.flatMap((p) => [p.candidate_rate, p.baseline_rate]).filter((x) => typeof x === "number");
  const top = Math.max(0.01, ...vals) * 1.15;
  const x = (i) => L + (points.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "trend", role: "img" });
  svg.appendChild(s("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }));
  svg.appendChild(s("text", { x: L - 6, y: y(top / 1.15) + 4, class: "tick", "text-anchor": "end" }, pct(top / 1.15)));
  svg.appendChild(s("text", { x: L - 6, y: y(0) + 4, class: "tick", "text-anchor": "end" }, "0%"));
  const line = (key, cls) => {
    const pts = points.map((p, i) => typeof p[key] === "number" ? `${x(i)},${y(p[key])}` : null).filter(Boolean);
    if (pts.length > 1) svg.appendChild(s("polyline", { points: pts.join(" "), class: cls }));
  };
  line("baseline_rate", "line-baseline"); line("candidate_rate", "line-candidate");
  points.forEach((p, i) => {
    if (typeof p.candidate_rate === "number") {
      svg.appendChild(s("circle", { cx: x(i), cy: y(p.candidate_rate), r: 4, class: "pt v-" + p.verdict },
        s("title", {}, `row ${p.row} · ${p.release}: ${pct(p.candidate_rate)} (baseline ${pct(p.baseline_rate)}) · ${p.verdict}`)));
    }
    // the first and last labels hang inwards so they are never cut at the chart's edges
    const anchor = points.length === 1 ? "middle" : i === 0 ? "start" : i === points.length - 1 ? "end" : "middle";
    svg.appendChild(s("text", { x: x(i), y: H - 12, class: "tick", "text-anchor": anchor }, String(p.release).slice(0, 18)));
  });
  return svg;
}

async function auditPage() {
  const a = await api("audit", { path: params.get("path") });
  document.title = "Audit log · deploysim view";
  crumbs(h("span", {}, basename(a.path)));
  const charts = Object.entries(a.behaviors).map(([bid, pts]) => h("div", { class: "chart" },
    h("h3", {}, bid), trendChart(pts)));
  const rows = a.decisions.map((d) => h("tr", {},
    h("td", { class: "num" }, d.id), h("td", {}, String(d.created).slice(0, 19).replace("T", " ")),
    h("td", {}, badge(d.decision, d.decision)), h("td", {}, d.release), h("td", {}, d.baseline_release),
    h("td", {}, d.candidate && d.baseline ? link("/compare", { baseline: d.baseline, run: d.candidate }, "compare") : "–"),
    h("td", { class: "small" }, d.reasons.join("; "))));
  show(h("h1", {}, "Gate decisions in ", h("code", {}, basename(a.path))),
    h("p", { class: a.chain_ok ? "ok" : "is-error", id: "chain" }, a.chain_ok ? "Hash chain intact (" + a.rows + " decisions)." : "The hash chain is broken: " + a.chain_problem + " Run `deploysim audit verify`."),
    h("h2", {}, "Candidate rate per behavior across releases"),
    h("p", { class: "muted small" }, "Dots: the candidate's rate at each decision (green pass, red block, amber inconclusive); dashed: the baseline's."),
    h("div", { class: "charts" }, charts),
    h("h2", {}, "Decisions"),
    table(["row", "time", "decision", "candidate", "baseline", "", "reasons"], rows, { id: "decisions" }));
}

// ---------------------------------------------------------------- a gate report

async function reportPage() {
  const r = await api("report", { path: params.get("path") });
  document.title = "Gate report · deploysim view";
  crumbs(h("span", {}, basename(r.path)));
  const rows = Object.entries(r.behaviors).map(([bid, b]) => h("tr", {},
    h("td", {}, bid), h("td", { class: "num" }, pct(b.baseline_rate)), h("td", { class: "num" }, pct(b.candidate_rate)),
    h("td", {}, b.change || "–"), h("td", {}, badge(b.verdict, b.verdict))));
  const sess = r.sessions.map((x) => h("li", {},
    link("/trajectory", { run: r.candidate, baseline: r.baseline, session: x.session }, x.session),
    " ", x.behaviors.map((b) => badge(b, "flag"))));
  show(h("h1", {}, "Gate decision ", badge(r.decision, r.decision + " big")),
    h("ul", {}, r.reasons.map((x) => h("li", {}, x))),
    h("p", {}, link("/compare", { baseline: r.baseline, run: r.candidate }, "Compare the two runs")),
    table(["behavior", "baseline", "candidate", "change", "verdict"], rows),
    h("h2", {}, "Sessions driving the decision"), sess.length ? h("ul", {}, sess) : h("p", { class: "muted" }, "None."));
}

const PAGES = { "/": libraryPage, "/source": sourcePage, "/trajectory": trajectoryPage,
  "/compare": comparePage, "/audit": auditPage, "/report": reportPage };

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[location.pathname] || libraryPage;
  page().then(() => { document.body.dataset.ready = "1"; }, (e) => {
    show(h("p", { class: "is-error", id: "error" }, e.message));
    document.body.dataset.ready = "error";
  });
});
