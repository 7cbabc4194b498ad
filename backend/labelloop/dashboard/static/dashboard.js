// labelloop dashboard: reads /status and /api/projects/{id}/dashboard, draws plain SVG.
// No library, no network beyond labelloop itself. Figures carry data-figure attributes (tests).
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 30000;
  const COLORS = { llm: "#7c3aed", model: "#0e9f9a", human: "#2f6fdf", f1: "#d97706" };

  // --- tiny DOM helpers -------------------------------------------------------------------
  function build(ns, tag, attrs, children) {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "style" && !ns) el.style.cssText = v;
      else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const h = (tag, attrs, ...kids) => build(null, tag, attrs, kids);
  const s = (tag, attrs, ...kids) => build(SVG, tag, attrs, kids);
  const tip = (text) => s("title", { text });

  // --- formatting --------------------------------------------------------------------------
  const none = (v) => v === null || v === undefined || Number.isNaN(v);
  // a least-squares slope of a flat curve comes out as -1e-17: show it as 0.00, never "-0.00"
  const signedFixed = (v, digits) => (Math.abs(v) < 0.5 * 10 ** -digits ? 0 : v).toFixed(digits);
  const pct = (v) => (none(v) ? "–" : `${(100 * v).toFixed(1)} %`);
  const dec = (v, d = 2) => (none(v) ? "–" : v.toFixed(d));
  const int = (v) => (none(v) ? "–" : Math.round(v).toLocaleString("en-US"));
  const usd = (v) => (none(v) ? "–" : `$${v.toFixed(v < 10 ? 4 : 2)}`);
  const ago = (t) => {
    if (none(t)) return "–";
    const d = Date.now() / 1000 - t;
    if (d < 90) return `${Math.max(0, Math.round(d))} s ago`;
    if (d < 5400) return `${Math.round(d / 60)} min ago`;
    if (d < 129600) return `${Math.round(d / 3600)} h ago`;
    return new Date(t * 1000).toISOString().slice(0, 10);
  };

  // --- building blocks ---------------------------------------------------------------------
  const card = (title, sub, ...body) =>
    h("section", { class: "card" }, h("h2", { text: title }), sub ? h("p", { class: "sub", text: sub }) : null, ...body);
  const wide = (...args) => { const c = card(...args); c.classList.add("wide"); return c; };
  const tile = (key, value, figure, hint) =>
    h("div", { class: "tile", title: hint || null }, h("div", { class: "v", "data-figure": figure, text: value }), h("div", { class: "k", text: key }));
  const bar = (v, color) =>
    h("div", { class: "bar" }, h("i", { style: `width:${none(v) ? 0 : Math.max(0, Math.min(1, v)) * 100}%;${color ? `background:${color}` : ""}` }));
  const legend = (items) =>
    h("div", { class: "legend" }, items.map(([name, color]) => h("span", {}, h("i", { style: `background:${color}` }), name)));
  const table = (head, rows, attrs) =>
    h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map(([t, cls]) => h("th", { class: cls || null, text: t })))), h("tbody", {}, rows));

  // A sequential colour for a value in [lo, hi]: red -> amber -> green.
  function heat(v, lo = 0, hi = 1) {
    if (none(v)) return "#f3f4f6";
    const t = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
    const stops = [[214, 69, 69], [245, 192, 80], [31, 157, 85]];
    const [a, b, u] = t < 0.5 ? [stops[0], stops[1], t * 2] : [stops[1], stops[2], (t - 0.5) * 2];
    return `rgb(${a.map((x, i) => Math.round(x + (b[i] - x) * u)).join(",")})`;
  }

  // A single-hue colour (white -> blue) for a share in [0, 1].
  function blues(v) {
    if (none(v)) return "#f3f4f6";
    const t = Math.max(0, Math.min(1, v));
    return `rgb(${[238, 242, 250].map((x, i) => Math.round(x + ([47, 111, 223][i] - x) * t)).join(",")})`;
  }

  // Line chart: series [{name, color, points: [{x, y, label}]}], y in [0, 1].
  function lineChart(series, xLabel) {
    const W = 520, H = 230, L = 40, R = 12, T = 10, B = 34;
    const xs = series.flatMap((se) => se.points.map((p) => p.x)).filter((x) => !none(x));
    const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs);
    const X = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
    const Y = (y) => T + (1 - y) * (H - T - B);
    const g = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "learning curve" });
    for (const y of [0, 0.25, 0.5, 0.75, 1]) {
      g.append(s("line", { class: "grid", x1: L, x2: W - R, y1: Y(y), y2: Y(y) }));
      g.append(s("text", { x: L - 6, y: Y(y) + 4, "text-anchor": "end", text: `${y * 100}%` }));
    }
    g.append(s("line", { class: "axis", x1: L, x2: W - R, y1: Y(0), y2: Y(0) }));
    for (const x of [...new Set(xs)]) g.append(s("text", { x: X(x), y: H - B + 15, "text-anchor": "middle", text: int(x) }));
    g.append(s("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", text: xLabel }));
    for (const se of series) {
      const pts = se.points.filter((p) => !none(p.y) && !none(p.x));
      if (pts.length > 1) g.append(s("polyline", { points: pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(" "), fill: "none", stroke: se.color, "stroke-width": 2 }));
      for (const p of pts) g.append(s("circle", { cx: X(p.x), cy: Y(p.y), r: 3.5, fill: se.color, "data-version": p.label }, tip(`${se.name} ${pct(p.y)} at ${int(p.x)} labels (${p.label})`)));
    }
    return g;
  }

  // Square heatmap of a matrix (rows x cols) with values printed in the cells.
  function heatmap(rowNames, colNames, cell, { lo = 0, hi = 1, fmt = dec, attr = () => ({}), color = heat } = {}) {
    const c = Math.max(26, Math.min(56, 300 / Math.max(1, colNames.length)));
    const L = 70, T = 22, W = L + c * colNames.length + 4, H = T + c * rowNames.length + 4;
    const g = s("svg", { viewBox: `0 0 ${W} ${H}`, style: `max-width:${W}px`, role: "img" });
    colNames.forEach((n, j) => g.append(s("text", { x: L + c * j + c / 2, y: T - 7, "text-anchor": "middle", text: n })));
    rowNames.forEach((n, i) => {
      g.append(s("text", { x: L - 6, y: T + c * i + c / 2 + 4, "text-anchor": "end", text: n }));
      colNames.forEach((m, j) => {
        const { value, label, norm } = cell(i, j);
        g.append(s("rect", { x: L + c * j, y: T + c * i, width: c - 2, height: c - 2, rx: 3, fill: color(norm ?? value, lo, hi), ...attr(i, j) }, tip(label)));
        const dark = color === blues && (norm ?? value) > 0.6;
        if (!none(value)) g.append(s("text", { x: L + c * j + c / 2 - 1, y: T + c * i + c / 2 + 3, "text-anchor": "middle", style: `fill:${dark ? "#fff" : "#111"}`, text: fmt(value) }));
      });
    });
    return g;
  }

  // Reliability diagram: accuracy per confidence bin against the diagonal.
  function reliability(bins, color) {
    const S = 220, P = 30, X = (v) => P + v * (S - P - 6), Y = (v) => S - P - v * (S - P - 6);
    const g = s("svg", { viewBox: `0 0 ${S} ${S}`, style: `max-width:${S + 40}px`, role: "img", "aria-label": "reliability curve" });
    g.append(s("line", { class: "axis", x1: X(0), y1: Y(0), x2: X(1), y2: Y(0) }));
    g.append(s("line", { class: "axis", x1: X(0), y1: Y(0), x2: X(0), y2: Y(1) }));
    g.append(s("line", { x1: X(0), y1: Y(0), x2: X(1), y2: Y(1), stroke: "#9ca3af", "stroke-dasharray": "4 3" }));
    for (const v of [0, 0.5, 1]) {
      g.append(s("text", { x: X(v), y: S - P + 14, "text-anchor": "middle", text: v }));
      g.append(s("text", { x: X(0) - 5, y: Y(v) + 4, "text-anchor": "end", text: v }));
    }
    g.append(s("text", { x: X(0.5), y: S - 2, "text-anchor": "middle", text: "confidence" }));
    for (const b of bins) {
      if (!b.n) continue;
      g.append(s("rect", { x: X(b.lower) + 1, y: Y(b.accuracy), width: X(b.upper) - X(b.lower) - 2, height: Y(0) - Y(b.accuracy), fill: color, opacity: 0.75 }, tip(`${dec(b.lower, 1)}–${dec(b.upper, 1)}: accuracy ${pct(b.accuracy)}, mean confidence ${pct(b.confidence)}, n=${b.n}`)));
    }
    return g;
  }

  // Interval plot: rows [{name, est: {accuracy, low, high, n}}] on a 0..1 axis.
  function intervals(rows) {
    const W = 460, L = 90, R = 70, rowH = 24, T = 8, H = T + rowH * rows.length + 22;
    const X = (v) => L + v * (W - L - R);
    const g = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "audit estimate" });
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      g.append(s("line", { class: "grid", x1: X(v), x2: X(v), y1: T, y2: H - 20 }));
      g.append(s("text", { x: X(v), y: H - 6, "text-anchor": "middle", text: `${v * 100}%` }));
    }
    rows.forEach(({ name, est }, i) => {
      const y = T + rowH * i + rowH / 2;
      g.append(s("text", { x: L - 8, y: y + 4, "text-anchor": "end", text: name }));
      g.append(s("line", { x1: X(est.low ?? 0), x2: X(est.high ?? 1), y1: y, y2: y, stroke: COLORS.llm, "stroke-width": 3, "stroke-linecap": "round", opacity: est.n ? 0.6 : 0.2 }));
      if (!none(est.accuracy)) g.append(s("circle", { cx: X(est.accuracy), cy: y, r: 5, fill: COLORS.llm }, tip(`${name}: ${pct(est.accuracy)} (${pct(est.low)}–${pct(est.high)}), ${est.correct}/${est.n} audited`)));
      g.append(s("text", { x: W - R + 8, y: y + 4, text: est.n ? `n=${est.n}` : "no audit" }));
    });
    return g;
  }

  // --- the cards ---------------------------------------------------------------------------
  function summaryCard(d) {
    const p = d.project, q = d.quality || {};
    return h("section", { class: "card wide" },
      h("h2", { text: p.title || `Project ${p.id}` }),
      h("p", { class: "sub", text: `Label Studio project ${p.id} · queue ${p.published_version || "none published yet"} · last sync ${ago(p.last_synced_at)}${q.computed_at ? ` · quality figures from ${ago(q.computed_at)}${q.refreshing ? " (refreshing)" : ""}` : ""}${p.supported ? "" : ` · not supported: ${p.unsupported_reason}`}` }),
      driftNote(p),
      skippedNote(p),
      servedNote(p),
      h("div", { class: "tiles" },
        tile("tasks", int(p.tasks), "tasks"),
        tile("annotations", int(p.annotations), "annotations"),
        tile("human-labelled tasks", int(q.n_human_labelled), "human-labelled"),
        tile("LLM-labelled tasks", int(q.n_llm_labelled), "llm-labelled"),
        tile("retrained versions", int(d.learning_curve.length), "versions"),
        tile("in the published queue", int(d.queue.size), "queue-size")));
  }

  // Label Studio showing another model version than labelloop published (labelstudio/drift.py)
  function driftNote(p) {
    const d = p.version_drift;
    if (!d) return null;
    const what = `Label Studio shows ${d.shows || "no model version"}, labelloop published ${d.published}`;
    if (!d.active) {
      return h("p", { class: "note", "data-drift": "resolved", text: `Model version drift seen ${ago(d.seen_at)}: ${what}; ${d.action === "restored" ? "switched back" : "resolved"} ${ago(d.resolved_at)}.` });
    }
    const why = {
      follow: "left as the user chose (LABELLOOP_MODEL_VERSION_DRIFT=follow) until the next publish",
      report: "not a version labelloop created: left alone",
      republish: "the published version is gone from Label Studio: a retrain publishes a new one",
      ahead: "a newer publish switched Label Studio but is not recorded yet: its retry finishes it",
    }[d.action] || d.action;
    return h("p", { class: "drift", "data-drift": "active", text: `Model version drift, seen ${ago(d.seen_at)}: ${what} (${why}). Annotators get the pre-labels and queue order of the version Label Studio shows.` });
  }

  // what the project's config holds that labelloop does not serve (yet), and why the LLM does
  // not pre-label it (a media project): the status's "not_served" and "llm_prelabels_off"
  function servedNote(p) {
    const parts = [];
    if (p.supported && (p.not_served || []).length) parts.push(`Not served: ${p.not_served.join("; ")}.`);
    if (p.llm_prelabels_off) parts.push(`No LLM pre-labels: ${p.llm_prelabels_off}.`);
    if (!parts.length) return null;
    return h("p", { class: "note", "data-not-served": String((p.not_served || []).length), text: parts.join(" ") });
  }

  // tasks a job skipped instead of failing on them (text it cannot encode, a value the database
  // refuses, an LLM answer outside the label set): the status's "skipped" (labelloop/skips.py)
  function skippedNote(p) {
    const sk = p.skipped;
    if (!sk || !sk.count) return null;
    const why = sk.reasons.map((r) => `${r.reason} (${r.job}: task${r.tasks === 1 ? "" : "s"} ` +
      `${r.task_ids.join(", ")}${r.tasks > r.task_ids.length ? `, … ${int(r.tasks)} in all` : ""})`);
    return h("p", { class: "skipped", "data-skipped": String(sk.count),
      text: `${int(sk.count)} task${sk.count === 1 ? "" : "s"} skipped: ${why.join("; ")}` });
  }

  function curveCard(d) {
    const pts = d.learning_curve;
    const series = [
      ["cross-validated accuracy", COLORS.model, "cv_accuracy"],
      ["cross-validated macro F1", COLORS.f1, "cv_macro_f1"],
      ["LLM vs human agreement", COLORS.llm, "llm_human_agreement"],
    ].map(([name, color, key]) => ({ name, color, points: pts.map((p) => ({ x: p.n_labeled, y: p[key], label: p.version })) }));
    const last = pts[pts.length - 1];
    return card("Learning curve", "local model, per retrained version, by number of human labels",
      pts.length ? lineChart(series, "human-labelled tasks") : h("p", { class: "muted", text: "No retrained version yet." }),
      legend(series.map((se) => [se.name, se.color])),
      last ? h("p", { class: "note" }, `latest ${last.version}: strategy `, h("b", { text: last.strategy || "–" }), `, ${int(last.n_ranked)} tasks ranked, accuracy `, h("b", { "data-figure": "cv-accuracy", text: pct(last.cv_accuracy) })) : null,
      distillationNote(d.project.llm_distillation));
  }

  // whether the local model also learns from the LLM's labels (quality/distillation.py, issue 16)
  function distillationNote(ld) {
    if (!ld || !ld.llm_distillation) return null;
    return h("p", { class: "note", "data-distillation": String(!!ld.llm_distillation.used), text: ld.message });
  }

  // whether more human labels still pay (quality/stopping.py): the verdict in words, the κ of
  // successive models on the stop set, the learning curve's recent slope, the expected wrong
  // machine labels left
  function stoppingCard(d) {
    const st = d.project.stopping;
    if (!st) return null;
    const last = st.kappas.slice(-6);
    return card("When to stop", "do more human labels still pay? (stabilising predictions, Bloodgood & Vijay-Shanker 2009)",
      h("p", { class: `verdict v-${st.verdict}`, "data-stopping": st.verdict, text: st.message }),
      h("div", { class: "tiles" },
        tile("κ of successive models", dec(st.kappa_window, 3), "stop-kappa", "mean Cohen's κ between successive models' labels of the stop set, last 3 retrains; 0.99 means stable"),
        tile("accuracy per 100 labels", none(st.slope_per_100_labels) ? "–" : `${signedFixed(100 * st.slope_per_100_labels, 2)} pts`, "stop-slope", `least-squares slope over the last ${st.slope_points} retrains`),
        tile("machine labels expected wrong", int(st.expected_wrong), "stop-wrong", `sum of 1 − confidence over ${int(st.n_machine_labelled)} unreviewed machine-labelled tasks`)),
      last.length ? table([["version"], ["labels", "n"], ["κ", "n"], ["tasks", "n"]], last.map((k) => h("tr", { "data-kappa": k.version },
        h("td", { text: k.version }), h("td", { class: "n", text: int(k.n_labeled) }), h("td", { class: "n", text: dec(k.kappa, 3) }), h("td", { class: "n", text: int(k.n_compared) }))), { "data-table": "stop-kappas" }) : null);
  }

  // the production stream (stream/status.py): what was received and selected, what waits for
  // Label Studio, the budget against the realised rate, and drift in plain words; only for a
  // project that has stream items
  function streamCard(d) {
    const st = d.project.stream;
    if (!st || !st.received) return null;
    const dr = st.drift, real = st.realised;
    const state = dr.state.replace(/ /g, "_");
    return card("Production stream", `items posted to /api/projects/${d.project.id}/stream; budget ${st.budget.words}`,
      h("div", { class: "tiles" },
        tile("received", int(st.received), "stream-received"),
        tile("selected", int(st.selected.total), "stream-selected", Object.entries(st.selected.by_reason).map(([r, n]) => `${r}: ${n}`).join(", ")),
        st.deciding ? tile("deciding", int(st.deciding), "stream-deciding", "stored, decided by a job in a few seconds") : null,
        tile("waiting for Label Studio", int(st.pending + st.sending), "stream-waiting", `${int(st.pending)} pending, ${int(st.sending)} being sent`),
        tile("Label Studio tasks created", int(st.created), "stream-created"),
        tile(`selected of the last ${int(real.items)}`, pct(real.rate), "stream-rate", `budget: ${st.budget.words}`)),
      h("div", { class: "chips" }, Object.entries(st.selected.by_reason).map(([r, n]) => h("span", { class: "badge", "data-stream-reason": r }, `${r} ${int(n)}`))),
      h("p", { class: `verdict v-${state}`, "data-stream-drift": state, text: `Drift: ${dr.state}. ${dr.sentence}` }),
      dr.measured_at ? h("p", { class: "note", text: `measured ${ago(dr.measured_at)} against ${int(dr.reference_items)} ${dr.reference_set === "tasks" ? "tasks" : "labelled tasks"}` }) : null);
  }

  function agreementCard(q) {
    const a = q.agreement;
    const ids = a.annotators.map(String);
    const kappa = new Map(a.pairwise_cohen_kappa.map((p) => [`${p.a}|${p.b}`, p]));
    const pair = (i, j) => kappa.get(`${ids[i]}|${ids[j]}`) || kappa.get(`${ids[j]}|${ids[i]}`);
    const rows = a.per_annotator.map((r) => h("tr", { "data-annotator": r.annotator },
      h("td", { text: `#${r.annotator}` }), h("td", { class: "n", text: int(r.n_items) }),
      h("td", { class: "n", text: pct(r.agreement) }), h("td", { class: "n", text: dec(r.kappa) }),
      h("td", {}, bar(r.kappa, heat(r.kappa)))));
    return h("section", { class: "card wide" }, h("h2", { text: "Annotator agreement" }),
      h("p", { class: "sub", text: `${int(a.n_tasks)} tasks with human labels, ${int(a.n_annotations)} annotations; ${int(a.consensus.ties)} tied tasks have no consensus` }),
      h("div", { class: "tiles" },
        tile("percent agreement", pct(a.percent_agreement), "percent-agreement", "share of agreeing annotator pairs"),
        tile("Fleiss' κ", dec(a.fleiss_kappa), "fleiss-kappa", a.fleiss_subset ? `on ${a.fleiss_subset.n_tasks} tasks with ${a.fleiss_subset.n_raters} raters` : null),
        tile("Krippendorff's α", dec(a.krippendorff_alpha), "krippendorff-alpha"),
        tile("tasks with 2+ labels", int(Object.entries(a.annotations_per_task).filter(([n]) => +n >= 2).reduce((t, [, c]) => t + c, 0)), "overlap-tasks")),
      h("div", { class: "row" },
        h("div", {}, h("p", { class: "sub", text: "Each annotator vs the majority of the others" }),
          table([["annotator"], ["labelled", "n"], ["agreement", "n"], ["κ", "n"], [""]], rows, { "data-table": "annotators" })),
        h("div", {}, h("p", { class: "sub", text: "Pairwise Cohen's κ (tasks both labelled)" }),
          ids.length > 1 ? heatmap(ids.map((x) => `#${x}`), ids.map((x) => `#${x}`), (i, j) => {
            const p = i === j ? null : pair(i, j);
            return { value: p ? p.kappa : null, label: p ? `#${ids[i]} vs #${ids[j]}: κ ${dec(p.kappa)} on ${p.n} tasks` : "" };
          }, { attr: (i, j) => ({ "data-pair": `${ids[i]}-${ids[j]}` }) }) : h("p", { class: "muted", text: "Needs two annotators." }))));
  }

  function machinesCard(q) {
    const llm = q.llm, model = q.model;
    const rows = q.labels.map((c) => {
      const a = llm.per_class[c] || {}, b = model.per_class[c] || {};
      return h("tr", { "data-class": c }, h("td", { text: c }), h("td", { class: "n", text: int(a.support) }),
        h("td", { class: "n", text: pct(a.precision) }), h("td", {}, bar(a.precision, COLORS.llm)),
        h("td", { class: "n", text: pct(a.recall) }), h("td", {}, bar(a.recall, COLORS.llm)),
        h("td", { class: "n", text: pct(b.f1) }));
    });
    const conf = llm.confusion;
    return h("section", { class: "card wide" }, h("h2", { text: "LLM and local model vs human consensus" }),
      h("p", { class: "sub", text: `on ${int(llm.n)} tasks with a human majority label; ${int(q.review.total)} first labels disagree with both machines` }),
      h("div", { class: "tiles" },
        tile("LLM accuracy", pct(llm.accuracy), "llm-accuracy"), tile("LLM κ", dec(llm.kappa), "llm-kappa"),
        tile("LLM calibration error (ECE)", llm.calibration ? dec(llm.calibration.ece, 3) : "–", "llm-ece", "expected calibration error of the LLM's confidence"),
        tile("model accuracy", pct(model.accuracy), "model-accuracy"), tile("model κ", dec(model.kappa), "model-kappa")),
      h("div", { class: "row" },
        h("div", { style: "flex:2 1 380px" }, h("p", { class: "sub", text: "LLM by class (precision = share of its labels humans confirm)" }),
          table([["class"], ["human", "n"], ["LLM precision", "n"], [""], ["LLM recall", "n"], [""], ["model F1", "n"]], rows, { "data-table": "classes" })),
        conf && conf.length ? h("div", {}, h("p", { class: "sub", text: "LLM confusion (rows human, columns LLM)" }),
          heatmap(q.labels, q.labels, (i, j) => {
            const tot = conf[i].reduce((t, v) => t + v, 0);
            return { value: conf[i][j], norm: tot ? conf[i][j] / tot : null, label: `human ${q.labels[i]}, LLM ${q.labels[j]}: ${conf[i][j]} of ${tot}` };
          }, { fmt: int, color: blues })) : null,
        llm.calibration ? h("div", {}, h("p", { class: "sub", text: "LLM reliability: accuracy by confidence" }), reliability(llm.calibration.bins, COLORS.llm)) : null));
  }

  function auditCard(q) {
    const a = q.audit;
    if (!a.available) return card("Audit estimate", "LLM accuracy on the tasks nobody reviewed", h("p", { class: "muted", "data-figure": "audit-missing", text: a.reason }));
    const o = a.overall;
    return card("Audit estimate", `LLM accuracy on the ${int(a.unreviewed)} unreviewed tasks, from ${int(a.audited)} uniformly drawn audit tasks humans labelled (95 % interval)`,
      h("div", {}, h("span", { class: "big", "data-figure": "audit-accuracy", text: pct(o.accuracy) }), " ",
        h("span", { class: "muted" }, "(", h("span", { "data-figure": "audit-low", text: pct(o.low) }), " – ", h("span", { "data-figure": "audit-high", text: pct(o.high) }), ")")),
      intervals([{ name: "overall", est: o }, ...Object.entries(a.per_class).map(([name, est]) => ({ name, est }))]),
      h("p", { class: "note", text: "Per class: among tasks the LLM put in the class. Audit tasks are a uniform sample; tasks picked by the active learner are not, and are left out." }));
  }

  // A span project's head task: its text with the pre-label spans marked. The HTML comes from
  // labelloop (dashboard/spans.py): every piece of text and every label escaped there.
  function textCell(e) {
    if (typeof e.highlighted !== "string") return h("td", { class: "text", title: e.text || "", text: e.text || "–" });
    const td = h("td", { class: "text spans", "data-prelabel": e.prelabel || "none" });
    td.innerHTML = e.highlighted;
    return td;
  }

  // An image, video or audio project's head task: labelloop's thumbnail of its picture (the
  // browser asks labelloop, never Label Studio, and gets labelloop's own PNG/JPEG), or a
  // placeholder when it has none (audio) or the thumbnail does not come (a fetch that failed).
  function mediaCell(e) {
    const name = e.name || "–";
    const placeholder = () => h("span", { class: "thumb none", "data-placeholder": e.media, title: e.media === "audio" ? "recording" : "no picture", text: e.media === "audio" ? "♪" : "?" });
    const td = h("td", { class: "media", title: name });
    if (e.thumbnail) {
      const img = h("img", { class: "thumb", src: e.thumbnail, alt: name, "data-thumbnail": e.task_id });
      img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
      td.append(img);
    } else td.append(placeholder());
    td.append(h("span", { class: "name", text: name }));
    return td;
  }

  function spanAgreementCard(q) {
    const a = q.agreement, t = a.tokens;
    const ids = a.annotators.map(String);
    const f1 = new Map(a.pairwise_span_f1.map((p) => [`${p.a}|${p.b}`, p]));
    const pair = (i, j) => f1.get(`${ids[i]}|${ids[j]}`) || f1.get(`${ids[j]}|${ids[i]}`);
    const rows = q.labels.map((l) => {
      const r = a.per_label[l] || {};
      return h("tr", { "data-label": l }, h("td", { text: l }), h("td", { class: "n", text: int(r.n_spans) }),
        h("td", { class: "n", text: dec(r.f1) }), h("td", {}, bar(r.f1, heat(r.f1))),
        h("td", { class: "n", text: dec(r.f1_overlap) }), h("td", { class: "n", text: dec(r.token_krippendorff_alpha) }));
    });
    return h("section", { class: "card wide" }, h("h2", { text: "Annotator agreement on spans" }),
      h("p", { class: "sub", text: `${int(a.n_tasks)} tasks with human spans, ${int(a.n_annotations)} annotations; span F1 pooled over every pair of annotators and the tasks both annotated` }),
      h("div", { class: "tiles" },
        tile("span F1 (exact)", dec(a.span_f1.exact), "span-f1", "same start, end and label"),
        tile("span F1 (overlap)", dec(a.span_f1.overlap), "span-f1-overlap", "same label, any character in common"),
        tile("token Krippendorff's α", dec(t.krippendorff_alpha), "token-alpha", `one label per ${t.unit}, O included`),
        tile("token agreement", pct(t.percent_agreement), "token-agreement")),
      h("div", { class: "row" },
        h("div", { style: "flex:2 1 380px" }, h("p", { class: "sub", text: "Per label (pooled over pairs)" }),
          table([["label"], ["spans", "n"], ["F1", "n"], [""], ["F1 overlap", "n"], ["token α", "n"]], rows, { "data-table": "span-labels" })),
        h("div", {}, h("p", { class: "sub", text: "Pairwise span F1 (exact, tasks both annotated)" }),
          ids.length > 1 ? heatmap(ids.map((x) => `#${x}`), ids.map((x) => `#${x}`), (i, j) => {
            const p = i === j ? null : pair(i, j);
            return { value: p ? p.f1 : null, label: p ? `#${ids[i]} vs #${ids[j]}: span F1 ${dec(p.f1)} on ${p.n} tasks` : "" };
          }, { attr: (i, j) => ({ "data-span-pair": `${ids[i]}-${ids[j]}` }) }) : h("p", { class: "muted", text: "Needs two annotators." }))));
  }

  function spanMachinesCard(q) {
    const llm = q.llm, model = q.model;
    const rows = q.labels.map((l) => {
      const a = llm.per_label[l] || {}, b = model.per_label[l] || {};
      return h("tr", { "data-label": l }, h("td", { text: l }),
        h("td", { class: "n", text: pct(a.precision) }), h("td", { class: "n", text: pct(a.recall) }),
        h("td", { class: "n", text: dec(a.f1) }), h("td", {}, bar(a.f1, COLORS.llm)),
        h("td", { class: "n", text: dec(b.f1) }), h("td", {}, bar(b.f1, COLORS.model)));
    });
    return h("section", { class: "card wide" }, h("h2", { text: "LLM and local model spans vs human consensus" }),
      h("p", { class: "sub", text: `LLM on ${int(llm.n)} tasks, model on ${int(model.n)} tasks with a human consensus; exact match unless said` }),
      h("div", { class: "tiles" },
        tile("LLM span precision", pct(llm.exact.precision), "llm-span-precision"),
        tile("LLM span recall", pct(llm.exact.recall), "llm-span-recall"),
        tile("LLM span F1", dec(llm.exact.f1), "llm-span-f1"),
        tile("LLM span F1 (overlap)", dec(llm.overlap.f1), "llm-span-f1-overlap"),
        tile("model span F1", dec(model.exact.f1), "model-span-f1")),
      table([["label"], ["LLM precision", "n"], ["LLM recall", "n"], ["LLM F1", "n"], [""], ["model F1", "n"], [""]], rows, { "data-table": "span-machines" }));
  }

  function queueCard(d) {
    const qu = d.queue;
    const rows = qu.head.map((e) => h("tr", { "data-task": e.task_id },
      h("td", { class: "n", text: e.rank + 1 }), h("td", { text: e.task_id }),
      h("td", {}, h("span", { class: `badge r-${e.reason}`, text: e.reason })),
      h("td", { class: "n", text: dec(e.score, 3) }), e.media ? mediaCell(e) : textCell(e)));
    const what = (qu.head.find((e) => e.media) || {}).media || "text";
    return h("section", { class: "card wide" }, h("h2", { text: "Queue head" }),
      h("p", { class: "sub", text: qu.version ? `published version ${qu.version}: ${int(qu.size)} tasks, ${int(qu.audit)} audit draws${qu.labelled_since ? `; ${int(qu.labelled_since)} tasks labelled since publishing are skipped` : ""}` : "No queue published yet." }),
      h("div", { class: "chips" }, Object.entries(qu.reasons).map(([r, n]) => h("span", { class: `badge r-${r}`, "data-reason": r }, `${r} ${int(n)}`))),
      rows.length ? table([["#", "n"], ["task"], ["why"], ["score", "n"], [what]], rows, { "data-table": "queue" }) : null);
  }

  function jobsCard(d) {
    const p = d.project;
    const kinds = Object.entries(p.jobs);
    const states = ["queued", "running", "succeeded", "dead"];
    const progress = (j) => {
      const pr = j.progress || {};
      const total = pr.total, done = pr.done ?? pr.n ?? pr.processed;
      if (typeof total === "number" && typeof done === "number" && total > 0)
        return h("div", { title: `${done} / ${total}` }, bar(done / total), h("span", { class: "muted", "data-figure": `job-progress-${j.id}`, text: `${int(done)} / ${int(total)}` }));
      const text = Object.entries(pr).map(([k, v]) => `${k}: ${v}`).join(", ");
      return h("span", { class: "muted", text: text || "" });
    };
    return card("Jobs", "per kind, and the most recent ones",
      table([["kind"], ...states.map((x) => [x, "n"])], kinds.map(([k, c]) => h("tr", {}, h("td", { text: k }), states.map((x) => h("td", { class: "n", text: int(c[x] || 0) }))))),
      h("p", { class: "sub", style: "margin-top:10px", text: "Recent" }),
      table([["id", "n"], ["kind"], ["status"], ["progress"], ["created"]], p.recent_jobs.slice(0, 8).map((j) => h("tr", { "data-job": j.id },
        h("td", { class: "n", text: j.id }), h("td", { text: j.kind }), h("td", {}, h("span", { class: `badge s-${j.status}`, title: j.last_error || "", text: j.status })),
        h("td", {}, progress(j)), h("td", { class: "muted", text: ago(j.created_at) })))));
  }

  function usageCard(d) {
    const u = d.llm_usage;
    return card("LLM tokens and cost", `logged calls, ${u.scope} (cache hits cost nothing and are not counted)`,
      h("div", { class: "tiles" },
        tile("calls", int(u.calls), "llm-calls"), tile("failed calls", int(u.errors), "llm-errors"),
        tile("tokens", int(u.tokens), "llm-tokens", `${int(u.prompt_tokens)} prompt + ${int(u.completion_tokens)} completion`),
        tile("cost", usd(u.cost_usd), "llm-cost")));
  }

  function reviewCard(q) {
    const r = q.review;
    return wide("Review list", `${int(r.total)} tasks whose first human label disagrees with both the LLM and the local model`,
      r.items.length ? table([["task"], ["first label"], ["by"], ["LLM"], ["model"], ["labels", "n"]], r.items.map((x) => h("tr", { "data-review": x.task_id },
        h("td", { text: x.task_id }), h("td", { text: x.first_label }), h("td", { text: `#${x.first_annotator}` }),
        h("td", { text: `${x.llm_label} (${pct(x.llm_confidence)})` }), h("td", { text: x.model_label }), h("td", { class: "n", text: x.n_annotations })))) : h("p", { class: "muted", text: "Nothing to review." }));
  }

  // --- loading -----------------------------------------------------------------------------
  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) throw new Error(`${url}: ${r.status} ${(body && body.message) || r.statusText}`);
    return body;
  }

  function render(d) {
    const q = d.quality;
    const cards = [summaryCard(d), curveCard(d), stoppingCard(d), streamCard(d)].filter(Boolean);
    const spans = q && !q.error && q.task_type === "text_spans";
    if (spans) cards.push(spanAgreementCard(q), spanMachinesCard(q));
    else if (q && !q.error) cards.push(auditCard(q), agreementCard(q), machinesCard(q));
    else cards.push(card("Label quality", null, h("p", { class: "muted", text: q ? q.message : "–" })));
    cards.push(queueCard(d), jobsCard(d), usageCard(d));
    if (q && !q.error && !spans) cards.push(reviewCard(q));
    document.getElementById("main").replaceChildren(...cards);
    document.getElementById("updated").textContent = `updated ${new Date(d.generated_at * 1000).toLocaleTimeString()}`;
  }

  let timer = null;
  async function refresh() {
    const error = document.getElementById("error");
    try {
      const status = await getJSON("status");
      const select = document.getElementById("project");
      const wanted = Number((location.hash.match(/project=(\d+)/) || [])[1]);
      const ids = status.projects.map((p) => p.id);
      const id = ids.includes(wanted) ? wanted : ids[0];
      select.replaceChildren(...status.projects.map((p) => h("option", { value: p.id, selected: p.id === id ? "" : null, text: `${p.id} · ${p.title || "untitled"}` })));
      if (id === undefined) {
        document.getElementById("main").replaceChildren(card("No project yet", null, h("p", { text: "Connect labelloop as a model in a Label Studio project; it appears here after the first /setup or webhook." })));
      } else {
        render(await getJSON(`api/projects/${id}/dashboard`));
      }
      error.hidden = true;
      document.body.dataset.state = "ready";
      window.labelloopRenderedAt = performance.now();
    } catch (e) {
      error.textContent = `Could not load the dashboard: ${e.message}`;
      error.hidden = false;
      document.body.dataset.state = "error";
    }
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
  }

  document.getElementById("project").addEventListener("change", (ev) => { location.hash = `project=${ev.target.value}`; });
  window.addEventListener("hashchange", refresh);
  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
})();
